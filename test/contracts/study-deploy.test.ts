/**
 * Studies on one budget end to end (issue 17 item 7): `fedmesh chain deploy --continues` over
 * HTTP JSON-RPC closes study 1 naming study 2 and makes study 2 inherit before its members are
 * registered; `fedmesh study show` and `study close`; `fedmesh privacy plan --deployment` starts
 * from the member's carried spend; and the auditor follows `predecessor`, replays each member
 * from study 1's records and reports the spend per study and in total. The chain checks the
 * auditor makes (code, links both ways, the file's list) are also run on constructed streams.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Contract, getAddress, JsonRpcProvider, Network } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReportHtml } from '../../node/audit/html.js';
import { formatReportText } from '../../node/audit/report.js';
import { runAudit } from '../../node/audit/run.js';
import { type DeploymentFile, deployFederationToRpc, parseDeployOptions } from '../../node/chain/deployment.js';
import { FEDMESH_REGISTRY_LENS_ABI } from '../../node/chain/federation-abi.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { closeStudyAt, readStudyChain } from '../../node/chain/study.js';
import { carriedInto, checkStudyChain, type StudyStream, studySpendOf } from '../../protocol/audit/privacy.js';
import type { AuditEvent } from '../../protocol/audit/types.js';
import { addPacked, epsilonFromPacked, fixedToNumber } from '../../protocol/chain/budget.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import { isFedmeshError } from '../../protocol/errors.js';
import { affordableRounds } from '../../protocol/privacy/affordable-rounds.js';
import { rdpOrderSet } from '../../protocol/privacy/orders.js';
import {
  C_ALPHA,
  DP_PARAMS,
  deployFed,
  type Fed,
  FED_IFACE,
  finalizeWith,
  openNext,
  recordFor,
  signerOf,
  view,
  writeAuditDeployment,
} from './federation-fixture.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/fedmesh.mjs');
const dir = mkdtempSync(join(tmpdir(), 'fedmesh-studies-'));
const SPEND = declaredSpend(DP_PARAMS);

let chain: InProcessChain;
let node: LocalChainNode;
let study1: Fed;
let study2: Fed;
let file2: string;
let deployment2: DeploymentFile;
const A = (i: number) => signerOf(chain, i).address;

async function round(fed: Fed, participants: readonly number[]): Promise<void> {
  const { round: r, committee } = await openNext(chain, fed);
  const head = (await view<Hex32>(fed.contract, 'headModelHash')) as Hex32;
  await finalizeWith(chain, fed, recordFor(chain, r, head, participants), committee.slice(0, fed.t));
}

beforeAll(async () => {
  chain = await startInProcessChain();
  node = await startLocalChainNode(0);
  // Study 1: members 1..4, cap 10; members 1 and 2 spend one round.
  study1 = await deployFed(chain, { members: [1, 2, 3, 4], cap: 10 });
  await round(study1, [1, 2]);
  const file1 = writeAuditDeployment(study1, node.chainId);
  // Study 2 continues it; member 1 asks for a higher cap, member 5 is new.
  const members = join(dir, 'members.json');
  writeFileSync(
    members,
    JSON.stringify({
      members: [1, 2, 3, 5].map((i) => ({ address: A(i), peerId: `peer-${i}`, epsilonCap: i === 1 ? 50 : 10 })),
    }),
  );
  file2 = join(dir, 'study2.json');
  deployment2 = await deployFederationToRpc(
    parseDeployOptions({ rpc: node.url, members, out: file2, initialModelHash: `0x${'22'.repeat(32)}`, continues: file1, fundWei: 0n }),
  );
  const address = deployment2.addresses.FedmeshFederation;
  const contract = new Contract(address, FED_IFACE, chain.provider);
  const lens = new Contract((await view<string>(contract, 'registryLens')) as string, FEDMESH_REGISTRY_LENS_ABI, chain.provider);
  study2 = { contract, lens, address, blockNumber: deployment2.deployBlock, m: 3, t: 2 };
  await round(study2, [1, 3]);
}, 180_000);

afterAll(async () => {
  await node?.close();
});

describe('fedmesh chain deploy --continues', () => {
  it('closes study 1 naming study 2, inherits before registering, and lists study 1 in the deployment file', async () => {
    expect(deployment2.studies).toEqual([{ address: study1.address, deployBlock: study1.blockNumber }]);
    expect(JSON.parse(readFileSync(file2, 'utf8')).studies).toEqual(deployment2.studies);
    const provider = new JsonRpcProvider(node.url, Network.from(node.chainId), { staticNetwork: true });
    try {
      const links = await readStudyChain(provider, study2.address);
      expect(links).toEqual([
        { address: study1.address, successor: study2.address, closed: true },
        { address: study2.address, predecessor: study1.address, closed: false },
      ]);
    } finally {
      provider.destroy();
    }
    // Member 1 spent in both studies; its cap stayed study 1's 10 although the file asked for 50.
    expect(await view(study2.contract, 'rdpOf', A(1))).toBe(addPacked(SPEND, SPEND));
    expect(await view(study2.contract, 'rdpOf', A(2))).toBe(SPEND);
    expect(await view(study2.contract, 'epsilonCapAt', A(1), 2)).toBe(10_000_000n);
    expect(await view(study2.contract, 'rdpOf', A(5))).toBe(0n);
  });

  it('fedmesh study show prints the chain; study close ends it once, with a typed error the second time', async () => {
    const { stdout } = await run('node', [BIN, 'study', 'show', '--rpc', node.url, '--deployment', file2, '--json'], { timeout: 60_000 });
    const shown = JSON.parse(stdout) as { studies: { address: string; closed: boolean }[] };
    expect(shown.studies.map((s) => [s.address, s.closed])).toEqual([
      [study1.address, true],
      [study2.address, false],
    ]);
    // A throwaway study, so the audited one stays open.
    const spare = await deployFed(chain, { members: [] });
    await closeStudyAt({ rpc: node.url, chainId: node.chainId, address: spare.address });
    const e = await closeStudyAt({ rpc: node.url, chainId: node.chainId, address: spare.address }).catch((err: unknown) => err);
    expect(isFedmeshError(e, 'CHAIN_STUDY_CLOSED'), String(e)).toBe(true);
  });
});

describe('fedmesh privacy plan --deployment', () => {
  it('starts from the member’s spend carried into the study: fewer rounds than for a member with none', async () => {
    const args = ['--noise-multiplier', '1.1', '--sample-rate', '0.01', '--local-epochs', '1', '--rpc', node.url, '--deployment', file2];
    const { stdout } = await run('node', [BIN, 'privacy', 'plan', ...args, '--member', A(1), '--json'], { timeout: 60_000 });
    const plan = JSON.parse(stdout) as { rounds: number; epsilonCarried: number; epsilonSpent: number };
    const carried = fixedToNumber(epsilonFromPacked(addPacked(SPEND, SPEND), C_ALPHA));
    expect(plan.epsilonCarried).toBe(carried);
    const fresh = affordableRounds({
      epsilon: 10,
      delta: 1e-5,
      sampleRate: 0.01,
      noiseMultiplier: 1.1,
      localEpochs: 1,
      orders: rdpOrderSet('chain'),
    });
    expect(plan.rounds).toBeGreaterThan(0);
    expect(plan.rounds).toBeLessThan(fresh.rounds);
    expect(plan.epsilonSpent).toBeLessThanOrEqual(10);
  }, 60_000);
});

describe('the auditor follows the chain', () => {
  it('replays each member from study 1’s records and reports the spend per study and in total', async () => {
    const report = await runAudit({ rpc: node.url, deployment: file2 });
    const codes = report.findings.map((f) => f.code);
    for (const c of [
      'PRIVACY_LEDGER_MISMATCH',
      'PRIVACY_CAP_EXCEEDED',
      'STUDY_NOT_FEDERATION',
      'STUDY_CHAIN_BROKEN',
      'STUDY_CHAIN_MISMATCH',
    ])
      expect(codes, JSON.stringify(report.findings)).not.toContain(c);
    const eps = (rdp: bigint) => fixedToNumber(epsilonFromPacked(rdp, C_ALPHA));
    expect(report.studies?.map((s) => [s.address, s.rounds])).toEqual([
      [study1.address, 1],
      [study2.address, 1],
    ]);
    expect(report.studies?.[0]?.members.find((m) => m.member === A(2))).toEqual({
      member: A(2),
      rdp: SPEND.toString(),
      epsilon: eps(SPEND),
    });
    const row = report.budgets.find((b) => b.member === A(1))!;
    expect(row).toMatchObject({ epsilonCarried: eps(SPEND), epsilonThisStudy: eps(SPEND), epsilonSpent: eps(addPacked(SPEND, SPEND)) });
    expect(report.budgets.find((b) => b.member === A(5))).toMatchObject({ epsilonCarried: 0, epsilonThisStudy: 0 });
    // The text report and the dashboard show both: per study, and carried / this study / total.
    const text = formatReportText(report);
    expect(text).toContain(`study 1 ${study1.address}, 1 rounds`);
    const f4 = (x: number) => x.toFixed(4);
    expect(text).toContain(`${f4(eps(SPEND))} / ${f4(eps(SPEND))} / ${f4(eps(addPacked(SPEND, SPEND)))}`);
    const html = await renderReportHtml(report);
    expect(html.match(/data-testid="study-spend-row"/g)?.length).toBe(4);
    expect(html).toContain(`data-testid="study-total-row" data-member="${A(1)}"`);
  }, 120_000);
});

describe('chain checks on constructed streams', () => {
  const S1 = getAddress(`0x${'a1'.repeat(20)}`);
  const S2 = getAddress(`0x${'a2'.repeat(20)}`);
  const S3 = getAddress(`0x${'a3'.repeat(20)}`);
  const M = getAddress(`0x${'b1'.repeat(20)}`);
  const N = getAddress(`0x${'b2'.repeat(20)}`);
  const at = { block: 1, logIndex: 0, txHash: `0x${'00'.repeat(32)}` as Hex32 };
  const added = (account: string): AuditEvent => ({ kind: 'MemberAdded', at, account, peerId: 'p', epsilonCap: 1n });
  const finalized = (members: string[]): AuditEvent => ({
    kind: 'RoundFinalized',
    at,
    round: 1,
    recordHash: `0x${'00'.repeat(32)}` as Hex32,
    record: {
      round: 1,
      prevModelHash: `0x${'00'.repeat(32)}` as Hex32,
      modelHash: `0x${'01'.repeat(32)}` as Hex32,
      aggregateHash: `0x${'02'.repeat(32)}` as Hex32,
      serviceMask: 0n,
      participants: members.map((member) => ({ member, dpParams: DP_PARAMS, spend: SPEND })),
    },
    signers: [],
    credited: [],
    call: { kind: 'unavailable', reason: 'test' },
  });

  it('carriedInto: a study that skips a member passes on what it carried; one that registered it adds its spend once', () => {
    const s1 = studySpendOf(S1, [added(M), added(N), finalized([M, N])]);
    const s2 = studySpendOf(S2, [added(M), finalized([M])]); // N skips study 2
    const carried = carriedInto([s1, s2]);
    expect(carried.get(M)).toBe(addPacked(SPEND, SPEND));
    expect(carried.get(N)).toBe(SPEND);
    expect(carriedInto([]).size).toBe(0);
  });

  it('checkStudyChain: a look-alike predecessor, a predecessor naming another, an unlisted study, a successor that does not continue', () => {
    const link = (l: StudyStream['link']) => l;
    const chain = (p: Partial<StudyStream>[], genuine = [true, true]): StudyStream[] =>
      p.map((x, i) => ({ address: [S1, S2][i]!, events: [], genuine: genuine[i]!, link: link({ closed: false }), ...x }));
    const ok = chain([{ link: { successor: S2, closed: true } }, { link: { predecessor: S1, closed: false } }]);
    expect(checkStudyChain(ok, [S1])).toEqual([]);
    expect(
      checkStudyChain(chain([{ link: { successor: S2, closed: true } }, { link: { predecessor: S1, closed: false } }], [false, true]), [
        S1,
      ]).map((f) => f.code),
    ).toEqual(['STUDY_NOT_FEDERATION']);
    expect(
      checkStudyChain(chain([{ link: { successor: S3, closed: true } }, { link: { predecessor: S1, closed: false } }]), [S1]).map(
        (f) => f.code,
      ),
    ).toEqual(['STUDY_CHAIN_BROKEN']);
    expect(checkStudyChain(ok, []).map((f) => f.code)).toEqual(['STUDY_CHAIN_MISMATCH']);
    expect(checkStudyChain(ok, [S1], { address: S3, genuine: true }).map((f) => f.code)).toEqual(['STUDY_SUCCESSOR_NOT_CONTINUING']);
    expect(checkStudyChain(ok, [S1], { address: S3, genuine: false }).map((f) => f.code)).toEqual(['STUDY_NOT_FEDERATION']);
    expect(checkStudyChain(ok, [S1], { address: S3, genuine: true, predecessor: S2 })).toEqual([]);
  });
});
