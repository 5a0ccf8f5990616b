/**
 * `fedmesh audit` as a separate OS process on a real 3-round federation (4 libp2p peers on
 * 127.0.0.1, secure aggregation, DP-SGD, FedmeshFederation on Hardhat served over HTTP
 * JSON-RPC): prints `ok` and exits 0; `--json` is one document of the documented shape whose
 * budgets and credits equal the contract's views; `--html` writes a self-contained report;
 * artifacts verify from a folder and over libp2p; `--test-data` re-evaluates each model; a
 * flipped byte exits 1 with ARTIFACT_HASH_MISMATCH; an unreachable endpoint exits 2.
 *
 * The audit time per round is measured from the CLI process's wall time and printed.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { serveArtifacts } from '../../node/artifacts/artifact-service.js';
import { runAudit } from '../../node/audit/run.js';
import { createHost, type Host } from '../../node/net/libp2p-host.js';
import { toHex0x } from '../../protocol/bytes.js';
import { type AuditedFederation, startAuditedFederation } from './audit-fixture.js';

const BIN = join(import.meta.dirname, '../../bin/fedmesh.mjs');
const ROUNDS = 3;

function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string; seconds: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    // Asynchronous: this process serves the JSON-RPC endpoint the CLI reads.
    execFile('node', [BIN, ...args], { timeout: 120_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000 });
    });
  });
}

const ReportSchema = z.object({
  ok: z.boolean(),
  rounds: z.array(
    z.object({
      round: z.number().int(),
      status: z.enum(['open', 'finalized', 'aborted']),
      committee: z.array(z.string()),
      signers: z.array(z.string()),
      modelHash: z.string().optional(),
      findings: z.array(z.string()),
    }),
  ),
  members: z.array(z.object({ address: z.string(), peerId: z.string(), status: z.string() })),
  findings: z.array(
    z.object({
      round: z.number().int().nullable(),
      code: z.string(),
      severity: z.enum(['error', 'warning', 'info']),
      message: z.string(),
      evidence: z.record(z.string(), z.unknown()),
    }),
  ),
  budgets: z.array(z.object({ member: z.string(), epsilonSpent: z.number(), cap: z.number() })),
  credits: z.array(z.object({ member: z.string(), expected: z.string(), onChain: z.string() })),
});

describe('fedmesh audit (CLI process) on a 3-round federation', () => {
  let af: AuditedFederation;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fedmesh-audit-cli-'));
    af = await startAuditedFederation(dir);
    for (let r = 1; r <= ROUNDS; r++) await af.runRound();
  }, 300_000);

  afterAll(async () => {
    await af?.stop();
  });

  it('prints one line per round and `ok`, exits 0; reports the audit time per round', async () => {
    const res = await cli(['audit', '--rpc', af.node.url, '--deployment', af.deploymentPath, '--artifacts', af.artifactsDir]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('ok');
    const roundLines = lines.filter((l) => /^round\s+\d+/.test(l));
    expect(roundLines).toHaveLength(ROUNDS);
    for (const l of roundLines) expect(l).toMatch(/finalized .*signers [23] \(verified\).*artifact verified\s+ok$/);
    // Measured: the CLI process's wall time, including tsx start-up and the libp2p-free replay.
    console.log(
      `audit CLI: ${res.seconds.toFixed(2)} s for ${ROUNDS} rounds (${(res.seconds / ROUNDS).toFixed(2)} s per round, process start included)`,
    );
  });

  it('the same audit in-process (no process start-up): ok, timed per round', async () => {
    const started = performance.now();
    const report = await runAudit({ rpc: af.node.url, deployment: af.deploymentPath, artifacts: af.artifactsDir });
    const seconds = (performance.now() - started) / 1000;
    expect(report.ok).toBe(true);
    expect(report.rounds).toHaveLength(ROUNDS);
    console.log(`audit in-process: ${seconds.toFixed(3)} s for ${ROUNDS} rounds (${((seconds / ROUNDS) * 1000).toFixed(0)} ms per round)`);
  });

  it('--json is one document of the documented shape; budgets and credits equal the chain views', async () => {
    const res = await cli(['audit', '--rpc', af.node.url, '--deployment', af.deploymentPath, '--json']);
    expect(res.code).toBe(0);
    const report = ReportSchema.parse(JSON.parse(res.stdout));
    expect(report.ok).toBe(true);
    expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(report.rounds.map((r) => [r.round, r.status])).toEqual([
      [1, 'finalized'],
      [2, 'finalized'],
      [3, 'finalized'],
    ]);
    expect(report.rounds.at(-1)!.modelHash).toBe(
      toHex0x((await import('../../protocol/weights-codec.js')).modelHash(af.fed.peers[0]!.weights)),
    );
    expect(report.members).toHaveLength(4);
    const client = af.fed.federationClients![0]!;
    for (const b of report.budgets) {
      const onChain = await client.budgetOf(b.member);
      expect(b.epsilonSpent).toBe(Number(onChain.epsilonSpent) / 1e6);
      expect(b.epsilonSpent).toBeGreaterThan(0);
    }
    for (const c of report.credits) expect(c.onChain).toBe(String(await client.creditsOf(c.member)));
    for (const c of report.credits) expect(c.expected).toBe(c.onChain);
  });

  it('--html writes a self-contained report with the tables and SVG charts', async () => {
    const out = join(dir, 'report.html');
    const res = await cli(['audit', '--rpc', af.node.url, '--deployment', af.deploymentPath, '--html', out]);
    expect(res.code).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/<table>/);
    expect(html.match(/data-testid="round-row"/g)).toHaveLength(ROUNDS);
    expect(html).toMatch(/<svg[^>]*class="marks"/);
    expect(html).not.toMatch(/<script/);
  });

  it('fetches the models over libp2p (--fetch-from) and re-evaluates them (--test-data)', async () => {
    const models = new Map(readdirSync(af.artifactsDir).map((f) => [f.slice(0, 64), readFileSync(join(af.artifactsDir, f))]));
    const host: Host = await createHost();
    try {
      await serveArtifacts(host, 'itest-audit', (h) => {
        const b = models.get(Buffer.from(h).toString('hex'));
        return b === undefined ? undefined : new Uint8Array(b);
      });
      const testData = join(dir, 'test-data.json');
      writeFileSync(testData, JSON.stringify(af.testData));
      const addr = host.getMultiaddrs()[0]!.toString();
      const res = await cli([
        'audit',
        '--rpc',
        af.node.url,
        '--deployment',
        af.deploymentPath,
        '--fetch-from',
        addr,
        '--federation',
        'itest-audit',
        '--test-data',
        testData,
        '--json',
      ]);
      expect(res.code).toBe(0);
      const report = JSON.parse(res.stdout);
      for (const r of report.rounds) {
        expect(r.artifact).toBe('verified');
        expect(r.evaluation.n).toBe(af.testData.y.length);
        expect(r.evaluation.accuracy).toBeGreaterThan(0.5);
      }
    } finally {
      await host.stop();
    }
  });

  it('a peer that does not serve the models: warnings (ARTIFACT_UNAVAILABLE), not errors; exit 0', async () => {
    const silent: Host = await createHost();
    try {
      const res = await cli([
        'audit',
        '--rpc',
        af.node.url,
        '--deployment',
        af.deploymentPath,
        '--fetch-from',
        silent.getMultiaddrs()[0]!.toString(),
        '--federation',
        'itest-audit',
        '--json',
      ]);
      expect(res.code).toBe(0);
      const report = JSON.parse(res.stdout);
      expect(report.rounds.map((r: { artifact: string }) => r.artifact)).toEqual(['unavailable', 'unavailable', 'unavailable']);
      expect(new Set(report.findings.map((f: { code: string; severity: string }) => `${f.code}:${f.severity}`))).toEqual(
        new Set(['ARTIFACT_UNAVAILABLE:warning']),
      );
    } finally {
      await silent.stop();
    }
  });

  it('a model file with one flipped byte: exit 1 and ARTIFACT_HASH_MISMATCH for that round', async () => {
    const tampered = join(dir, 'tampered');
    cpSync(af.artifactsDir, tampered, { recursive: true });
    const report0 = JSON.parse((await cli(['audit', '--rpc', af.node.url, '--deployment', af.deploymentPath, '--json'])).stdout);
    const target = report0.rounds[1].modelHash.slice(2);
    const file = join(tampered, `${target}.fmwt`);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1]! ^= 0x01;
    writeFileSync(file, bytes);
    const res = await cli(['audit', '--rpc', af.node.url, '--deployment', af.deploymentPath, '--artifacts', tampered, '--json']);
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout);
    expect(report.ok).toBe(false);
    expect(report.findings.map((f: { round: number; code: string }) => [f.round, f.code])).toEqual([[2, 'ARTIFACT_HASH_MISMATCH']]);
    expect(res.stderr).toMatch(/AUDIT_FAILED/);
  });

  it('exit 2 on a connection error (not a finding) and on usage errors', async () => {
    const down = await cli(['audit', '--rpc', 'http://127.0.0.1:1', '--deployment', af.deploymentPath, '--json']);
    expect(down.code).toBe(2);
    expect(down.stdout).toBe('');
    expect(down.stderr).toMatch(/AUDIT_CONNECTION/);
    expect((await cli(['audit', '--rpc', af.node.url])).code).toBe(2);
    expect((await cli(['audit', '--rpc', af.node.url, '--deployment', af.deploymentPath, '--from-round', 'x'])).code).toBe(2);
  });
});
