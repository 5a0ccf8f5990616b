/**
 * Red team (H10, finding F10): the ε a member's cap is checked against is min over orders of
 * rdp_α + c_α, with the c_α constants passed to the constructor. The contract only checks each
 * c_α against its δ → 1 floor (FedmeshFederation `C_ALPHA_FLOOR`), never against the δ it stores,
 * and neither the auditor (protocol/audit/audit.ts compares the deployment file's c_α with the
 * contract's, both written by the deployer) nor the node (privacy guard: `info.cAlpha` from the
 * chain) recomputes c_α from δ. A deployment at δ = 1e-5 with the floor constants reports ε = 0
 * after rounds whose true ε at δ = 1e-5 is 1.49 and more: every cap is void, and the audit finds
 * nothing.
 *
 * The first test shows what the contract accepts (it still does: the constructor is unchanged).
 * The last two assert the safe behaviour (F10 in /work/notes/redteam-findings.md, fixed): the
 * auditor recomputes c_α from the contract's δ (protocol/audit/privacy-constants.ts), reports
 * each lane (C_ALPHA_MISMATCH) and replays ε with the right constants; the node refuses such a
 * deployment at start-up (test/unit/daemon-privacy-constants.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../node/audit/run.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { addPacked, cAlpha, encodeEpsilonCap, epsilonFromPacked } from '../../protocol/chain/budget.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import {
  DELTA,
  DELTA_E18,
  DP_PARAMS,
  deployFed,
  type Fed,
  finalizeWith,
  INITIAL,
  openNext,
  recordFor,
  signerOf,
  view,
} from './federation-fixture.js';

/** The contract's C_ALPHA_FLOOR lanes plus 6 units (the δ → 1 limit; the constructor accepts them). */
const FLOOR_C_ALPHA = [-2_502_007n, -1_121_684n, -749_778n, -478_467n, -312_910n, -208_962n, -143_545n, -81_761n];
const CAP = 1;
const MEMBERS = [1, 2, 3, 4, 5];

let chain: InProcessChain;
let node: LocalChainNode;
let fed: Fed;
let deploymentPath: string;

describe('c_α constants not bound to the stored δ (F10)', () => {
  beforeAll(async () => {
    chain = await startInProcessChain();
    node = await startLocalChainNode(0);
    // δ = 1e-5 on chain and in the deployment file; c_α for δ → 1.
    fed = await deployFed(chain, { members: MEMBERS, cap: CAP, delta: DELTA_E18, cAlpha: FLOOR_C_ALPHA });
    deploymentPath = join(mkdtempSync(join(tmpdir(), 'fedmesh-attack-calpha-')), 'deployment.json');
    writeFileSync(
      deploymentPath,
      JSON.stringify({
        version: 1,
        contract: 'FedmeshFederation',
        chainId: node.chainId.toString(),
        addresses: { FedmeshFederation: fed.address },
        deployBlock: fed.blockNumber,
        initialModelHash: INITIAL,
        delta: DELTA,
        cAlpha: FLOOR_C_ALPHA.map(String),
        m: 3,
        t: 2,
      }),
    );
    // Three rounds, every member charged the same DP-SGD run each time.
    let head = INITIAL;
    for (let i = 0; i < 3; i++) {
      const { round, committee } = await openNext(chain, fed);
      const record = recordFor(chain, round, head, MEMBERS);
      await finalizeWith(chain, fed, record, committee.slice(0, 2));
      head = record.modelHash;
    }
  }, 180_000);

  afterAll(async () => {
    await node?.close();
  });

  it('the contract charged three rounds of true ε ≥ 1.49 each (δ = 1e-5) under cap 1 and reports ε = 0', async () => {
    const spend = declaredSpend(DP_PARAMS);
    const threeRounds = addPacked(addPacked(spend, spend), spend);
    // What the charges mean at the δ the contract stores.
    expect(epsilonFromPacked(spend, cAlpha(1e-5))).toBeGreaterThan(encodeEpsilonCap(CAP));
    expect(epsilonFromPacked(threeRounds, cAlpha(1e-5))).toBeGreaterThan(encodeEpsilonCap(1.5));
    for (const i of MEMBERS) {
      const a = signerOf(chain, i).address;
      expect(await view<bigint>(fed.contract, 'rdpOf', a)).toBe(threeRounds);
      const b = await view<{ epsilonSpent: bigint; epsilonCap: bigint }>(fed.contract, 'privacyBudgetOf', a);
      expect(b.epsilonSpent).toBe(0n);
      expect(b.epsilonCap).toBe(encodeEpsilonCap(CAP));
    }
    expect(await view<bigint>(fed.contract, 'delta')).toBe(DELTA_E18);
  }, 60_000);

  it('the audit replays ε at the contract’s δ: the contract says 0, the report the true ε, over the cap from round 1', async () => {
    const report = await runAudit({ rpc: node.url, deployment: deploymentPath });
    const threeRounds = epsilonFromPacked(
      addPacked(addPacked(declaredSpend(DP_PARAMS), declaredSpend(DP_PARAMS)), declaredSpend(DP_PARAMS)),
      cAlpha(1e-5),
    );
    expect(report.budgets.map((b) => b.chainEpsilonSpent)).toEqual(MEMBERS.map(() => 0));
    expect(report.budgets.map((b) => b.epsilonSpent)).toEqual(MEMBERS.map(() => Number(threeRounds) / 1e6));
    const over = report.findings.filter((f) => f.code === 'PRIVACY_CAP_EXCEEDED');
    expect(new Set(over.map((f) => f.round))).toEqual(new Set([1, 2, 3]));
  }, 60_000);

  // F10 (fixed): the auditor recomputes c_α from the contract's δ.
  it('the auditor refuses c_α that are not the constants of the contract’s δ', async () => {
    const report = await runAudit({ rpc: node.url, deployment: deploymentPath });
    // deployFed registers placeholder peer proofs; those findings are not what this test is about.
    const errors = report.findings.filter((f) => f.severity === 'error' && f.code !== 'PEER_PROOF_INVALID');
    expect(errors.length).toBeGreaterThan(0);
    expect(report.ok).toBe(false);
    const lanes = errors.filter((f) => f.code === 'C_ALPHA_MISMATCH');
    expect(lanes.map((f) => [f.evidence.lane, f.evidence.expected, f.evidence.actual])).toEqual(
      cAlpha(1e-5).map((c, lane) => [lane, c.toString(), FLOOR_C_ALPHA[lane]!.toString()]),
    );
  }, 60_000);
});
