/**
 * Declared DP parameters and the on-chain privacy budget, end to end: five real libp2p peers on
 * TCP 127.0.0.1, the in-process Hardhat chain with FedmeshFederation, secure aggregation and
 * DP-SGD training (issues #4 and #5).
 *
 * Every member's cap admits exactly two rounds of the federation's DP-SGD (computed with the
 * contract's own arithmetic from the parameters the peers will declare). Then:
 * - rounds 1 and 2 finalize; each record carries, per participant, the sample-count bucket and
 *   the DP-SGD parameters it declared in its signed masked input, and the spend the committee
 *   recomputed from them: an auditor's `declaredSpend(p.dpParams) === p.spend` holds for all;
 * - before round 3 every peer reads its budget from the chain, sees that one more round would
 *   pass its cap and abstains: no training, no masked input, only an observer's key
 *   advertisement; the round does not finalize, and no finalizeRound reverts for overspend;
 * - the contract's budget view equals the sum of the recorded spends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPacked, cAlpha, epsilonFromPacked, fixedToNumber } from '../../protocol/chain/budget.js';
import { plannedDpParams } from '../../protocol/chain/declaration.js';
import { declaredSpend, decodeDpParams } from '../../protocol/chain/dp-params.js';
import type { OnChainRoundRecord } from '../../protocol/chain/record.js';
import { SecAggKind } from '../../protocol/messages/secagg.js';
import { createRng } from '../../protocol/rng.js';
import { SECAGG_DEFAULTS } from '../../protocol/secure-aggregation/config.js';
import { loadBreastCancer } from '../../node/data/breast-cancer.js';
import { createLogger } from '../../node/logger.js';
import { selectBackend } from '../../node/ml/backend.js';
import type { RoundOutcome } from '../../node/services/round-driver.js';
import { type LocalFederation, SIM_FEDERATION_DELTA, startLocalFederation } from '../../simulations/local-federation.js';
import { prepareSites } from '../../simulations/sites.js';

const PEERS = 5;
const EPOCHS = 1;
const DP = { sampleRate: 0.1, noiseMultiplier: 1.2, clipNorm: 1, randomness: 'seeded' as const };
const KEYS_MS = 3000;

describe('declared DP parameters and the on-chain privacy budget (5 peers, secure aggregation, DP-SGD)', () => {
  let fed: LocalFederation;
  let accounts: string[];
  let _sizes: number[];
  const records: OnChainRoundRecord[] = [];
  const outcomes: RoundOutcome[][] = [];
  /** Each peer's trainer.train calls, per round (instrumentation only: training itself is real). */
  const trainCalls: number[] = new Array(PEERS).fill(0);
  const perRound = declaredSpend(plannedDpParams(DP, EPOCHS));
  const c = cAlpha(SIM_FEDERATION_DELTA);
  const eps2 = epsilonFromPacked(addPacked(perRound, perRound), c);
  const eps3 = epsilonFromPacked(addPacked(addPacked(perRound, perRound), perRound), c);
  /** A cap between ε after two rounds and ε after three. */
  const cap = fixedToNumber((eps2 + eps3) / 2n);

  beforeAll(async () => {
    await selectBackend();
    const { siteData } = prepareSites(loadBreastCancer(), {
      testFraction: 0.2,
      peers: PEERS,
      splitRng: createRng(21),
      partitionRng: createRng(22),
    });
    _sizes = siteData.map((d) => d.n);
    fed = await startLocalFederation({
      federation: 'itest-budget',
      seed: 21,
      model: { kind: 'mlp', inputShape: [30], hidden: [8] },
      siteData,
      committeeSize: 3,
      timing: { collectMs: 6000, recordGraceMs: 1000 },
      training: { epochs: EPOCHS, batchSize: 16, learningRate: 0.05, dp: DP },
      log: createLogger('error'),
      secureAggregation: { config: { ...SECAGG_DEFAULTS, committeeSize: 3, threshold: 2 }, keysMs: KEYS_MS },
      epsilonCap: cap,
    });
    accounts = await Promise.all(fed.federationClients!.map((f) => f.account()));
    fed.trainers.forEach((t, i) => {
      const train = t.train.bind(t);
      t.train = (...args: Parameters<typeof t.train>) => {
        trainCalls[i]!++;
        return train(...args);
      };
    });
    for (const round of [1, 2]) {
      outcomes.push((await fed.runRound(round)) as RoundOutcome[]);
      const finalized = await fed.federationClients![0]!.getFinalizedRound(round);
      records.push(finalized!.record);
    }
  }, 240_000);

  afterAll(async () => {
    await fed?.stop();
  });

  it('the cap admits two rounds and not three (by the contract arithmetic the nodes use)', async () => {
    const member = await fed.federationClients![0]!.getMember(accounts[0]!);
    expect(fixedToNumber(member.epsilonCap)).toBeGreaterThan(fixedToNumber(eps2));
    expect(fixedToNumber(member.epsilonCap)).toBeLessThan(fixedToNumber(eps3));
  });

  it('each finalized record carries every participant’s declared DP parameters and the spend they imply (no bucket, no dropped list)', () => {
    const planned = plannedDpParams(DP, EPOCHS);
    expect(decodeDpParams(planned)).toMatchObject({ sampleRate: 0.1, noiseMultiplier: 1.2, clipNorm: 1, steps: 10 });
    for (const record of records) {
      expect(record.participants).toHaveLength(PEERS);
      for (const p of record.participants) {
        const i = accounts.indexOf(p.member);
        expect(i).toBeGreaterThanOrEqual(0);
        // Declared after training: the steps it actually ran, which are the planned ones.
        expect(p.dpParams).toBe(planned);
        expect(p.spend).toBe(perRound);
        expect(p.spend).not.toBe(0n);
      }
    }
  });

  it('an auditor recomputes every recorded spend from the declared parameters alone', () => {
    const checked = records.flatMap((r) => r.participants.map((p) => declaredSpend(p.dpParams) === p.spend));
    expect(checked).toHaveLength(2 * PEERS);
    expect(checked.every(Boolean)).toBe(true);
  });

  it('every peer trained in rounds 1 and 2, and the budget view equals the sum of recorded spends', async () => {
    expect(trainCalls).toEqual(new Array(PEERS).fill(2));
    for (const o of outcomes.flat()) expect(o.trainLoss).toBeDefined();
    for (const [i, a] of accounts.entries()) {
      const spends = records.flatMap((r) => r.participants.filter((p) => p.member === a).map((p) => p.spend));
      const sum = spends.reduce(addPacked, 0n);
      const budget = await fed.federationClients![0]!.budgetOf(a);
      expect([i, budget.rdp]).toEqual([i, sum]);
      expect(budget.epsilonSpent).toBe(eps2);
    }
  });

  it('round 3: every peer abstains (no training, no input; observer adverts only), the round does not finalize, nothing reverts', async () => {
    const round3 = fed.runRound(3);
    round3.catch(() => {});
    const deadline = Date.now() + 60_000;
    // Wait until every peer advertised for round 3 and the input window (2 · keysMs) has closed.
    const advertised = () => fed.peers.every((p) => p.secaggInbox!.messages(3, SecAggKind.AdvertiseKeys).length === PEERS);
    while (!advertised() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(advertised()).toBe(true);
    await new Promise((r) => setTimeout(r, 2 * KEYS_MS + 1000));

    for (const p of fed.peers) {
      expect(p.privacy()).toMatchObject({ round: 3, exhausted: true, epsilonSpent: fixedToNumber(eps2) });
      expect(p.privacy()!.epsilonCap).toBeCloseTo(cap, 5);
      expect(p.privacy()!.epsilonAfterRound).toBeGreaterThan(cap);
      expect(p.secaggInbox!.messages(3, SecAggKind.AdvertiseKeys).every((a) => !a.contributes)).toBe(true);
      expect(p.inbox.maskedInputsFor(3).size).toBe(0);
    }
    expect(trainCalls).toEqual(new Array(PEERS).fill(2));
    const state = await fed.federationClients![0]!.getRound(3);
    expect(state?.status).toBe('open');
    expect(await fed.federationClients![0]!.getFinalizedRound(3)).toBeUndefined();
    expect(await fed.federationClients![0]!.lastFinalizedRound()).toBe(2);
    for (const a of accounts) expect((await fed.federationClients![0]!.budgetOf(a)).epsilonSpent).toBe(eps2);
  }, 90_000);
});
