/**
 * The auditor's edges (node/audit): the deployment file is validated and a bad field named;
 * artifacts are read from a node store's `models/` folder by their `<sha256>.fmwt` names; the
 * terminal report ends in `ok` or `FAILED`, the JSON one round-trips, and the HTML escapes
 * whatever it shows (evidence comes from files and peers).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDeployment } from '../../node/audit/deployment.js';
import { loadArtifactDir } from '../../node/audit/artifacts.js';
import { renderReportHtml } from '../../node/audit/html.js';
import { formatReportJson, formatReportText } from '../../node/audit/report.js';
import { validateAuditOptions } from '../../node/audit/run.js';
import type { AuditReport } from '../../protocol/audit/types.js';
import { hash256, toHex0x } from '../../protocol/bytes.js';

const DEPLOYMENT = {
  chainId: '31337',
  addresses: { FedmeshFederation: '0x5fbdb2315678afecb367f032d93f642f64180aa3' },
  deployBlock: 1,
  initialModelHash: `0x${'c0'.repeat(32)}`,
  delta: 1e-5,
  cAlpha: ['1', '2', '3', '4', '5', '6', '7', '8'],
  m: 3,
  t: 2,
};

const REPORT: AuditReport = {
  ok: false,
  federation: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  chainId: '31337',
  block: 42,
  initialModelHash: `0x${'c0'.repeat(32)}`,
  m: 3,
  t: 2,
  rounds: [
    {
      round: 1,
      status: 'finalized',
      openedBlock: 10,
      closedBlock: 11,
      committee: ['0x70997970C51812dc3A010C7d01b50e0d17dc79C8'],
      signers: ['0x70997970C51812dc3A010C7d01b50e0d17dc79C8'],
      signaturesVerified: true,
      prevModelHash: `0x${'c0'.repeat(32)}`,
      modelHash: `0x${'01'.repeat(32)}`,
      participants: [],
      dropped: [],
      artifact: 'mismatch',
      findings: ['ARTIFACT_HASH_MISMATCH'],
    },
  ],
  members: [{ address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', peerId: 'p', status: 'active' }],
  findings: [
    {
      round: 1,
      code: 'ARTIFACT_HASH_MISMATCH',
      severity: 'error',
      message: '/tmp/<script>alert(1)</script>.fmwt does not hash to round 1’s recorded hash',
      evidence: { source: '<img src=x onerror=alert(1)>' },
    },
  ],
  budgets: [{ member: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', epsilonSpent: 1.5, cap: 8, chainEpsilonSpent: 1.5, rdp: '7' }],
  credits: [{ member: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', expected: '9', onChain: '9' }],
  totalCredits: { expected: '9', onChain: '9' },
};

describe('node/audit edges', () => {
  it('parses a deployment file and names a bad field', () => {
    const d = parseDeployment(DEPLOYMENT);
    expect(d).toMatchObject({ chainId: 31337n, address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', m: 3, t: 2 });
    expect(d.cAlpha).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
    expect(() => parseDeployment({ ...DEPLOYMENT, cAlpha: ['1'] })).toThrow(/cAlpha/);
    expect(() => parseDeployment({ ...DEPLOYMENT, addresses: { FedmeshFederation: '0x12' } })).toThrow(/addresses\.FedmeshFederation/);
    try {
      parseDeployment({ ...DEPLOYMENT, initialModelHash: 'x' });
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: 'AUDIT_USAGE' });
    }
  });

  it('validates flag combinations', () => {
    const base = { rpc: 'http://127.0.0.1:8545', deployment: 'd.json' };
    expect(() => validateAuditOptions({ ...base, fromRound: 0 })).toThrow(/--from-round/);
    expect(() => validateAuditOptions({ ...base, artifacts: 'a', fetchFrom: ['/ip4/1.2.3.4/tcp/1'] })).toThrow(/either/);
    expect(() => validateAuditOptions({ ...base, fetchFrom: ['/ip4/1.2.3.4/tcp/1'] })).toThrow(/--federation/);
    expect(() => validateAuditOptions({ ...base, testData: 't.json' })).toThrow(/--test-data/);
    expect(() => validateAuditOptions({ ...base, fromRound: 2, toRound: 5 })).not.toThrow();
  });

  it('reads <sha256>.fmwt files from a store folder (models/ first) and ignores other files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-audit-art-'));
    mkdirSync(join(dir, 'models'));
    const a = new Uint8Array([1, 2, 3]);
    const ha = toHex0x(hash256(a));
    writeFileSync(join(dir, 'models', `${ha.slice(2)}.fmwt`), a);
    writeFileSync(join(dir, 'models', 'head.json'), '{}');
    writeFileSync(join(dir, `0x${'AB'.repeat(32)}.fmwt`), new Uint8Array([9]));
    const found = await loadArtifactDir(dir);
    expect([...found.keys()].sort()).toEqual([ha, `0x${'ab'.repeat(32)}`].sort());
    expect(found.get(ha)).toMatchObject({ bytes: a });
    await expect(loadArtifactDir(join(dir, 'nope'))).rejects.toMatchObject({ code: 'AUDIT_USAGE' });
  });

  it('the text report has a line per round, findings by severity, and ends in FAILED; JSON round-trips', () => {
    const text = formatReportText(REPORT);
    const lines = text.trim().split('\n');
    expect(lines.at(-1)).toBe('FAILED: 1 error finding');
    expect(lines.filter((l) => /^round\s+1\s+finalized/.test(l))).toHaveLength(1);
    expect(text).toMatch(/errors \(1\):\n {2}\[ARTIFACT_HASH_MISMATCH\] round 1:/);
    expect(
      formatReportText({ ...REPORT, ok: true, findings: [] })
        .trim()
        .split('\n')
        .at(-1),
    ).toBe('ok');
    expect(JSON.parse(formatReportJson(REPORT))).toEqual(REPORT);
  });

  it('the HTML report is self-contained, escapes what it shows, and labels its numbers', async () => {
    const html = await renderReportHtml(REPORT);
    expect(html).not.toMatch(/<script/);
    expect(html).not.toMatch(/<img/);
    expect(html).toContain('&lt;script&gt;');
    expect(html).toMatch(/data-testid="budget-bar"[^>]*data-spent="1.5"[^>]*data-cap="8"/);
    expect(html).toMatch(/aria-label="ε spent 1\.500000 of cap 8\.000000"/);
    expect(html).toMatch(/<html lang="en">/);
  });
});
