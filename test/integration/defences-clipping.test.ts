/**
 * Defence (a), norm clipping, end to end: real libp2p peers, the in-process Hardhat chain and
 * FedmeshFederation, secure aggregation. Two of six participants scale their update by −1000;
 * with `updateNormBound` B every update is clipped to norm B before it is quantized and masked,
 * so the finalized model moves from the head by at most B (FedAvg of vectors of norm ≤ B, up to
 * fixed-point and float32 rounding), while each attacker's unclipped update is hundreds of times
 * longer than B.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabelledData } from '../../protocol/data.js';
import type { ModelWeights } from '../../protocol/model.js';
import { createRng } from '../../protocol/rng.js';
import { SECAGG_DEFAULTS } from '../../protocol/secure-aggregation/config.js';
import { l2Norm, modelDelta } from '../../protocol/secure-aggregation/quantize.js';
import { loadBreastCancer } from '../../node/data/breast-cancer.js';
import { createLogger } from '../../node/logger.js';
import { selectBackend } from '../../node/ml/backend.js';
import type { LocalTrainer, TrainOptions } from '../../node/services/round-driver.js';
import { poisonWeights } from '../../simulations/attackers.js';
import { type LocalFederation, startLocalFederation } from '../../simulations/local-federation.js';
import { prepareSites } from '../../simulations/sites.js';

const ATTACKERS = [2, 5];
const BOUND = 0.2;
const FACTOR = -1000;

/** Trains honestly, then scales its update by `factor`, remembering the unclipped norm. */
class ScaledAttacker implements LocalTrainer {
  lastNorm = 0;
  constructor(
    private readonly inner: LocalTrainer,
    private readonly factor: number,
  ) {}
  getWeights(): ModelWeights {
    return this.inner.getWeights();
  }
  setWeights(w: ModelWeights): void {
    this.inner.setWeights(w);
  }
  async train(data: LabelledData, opts: TrainOptions): Promise<{ loss: number; steps: number; seconds: number }> {
    const global = this.inner.getWeights();
    const res = await this.inner.train(data, opts);
    const poisoned = poisonWeights({ kind: 'scaled', factor: this.factor }, global, this.inner.getWeights(), createRng(1));
    this.lastNorm = l2Norm(modelDelta(poisoned, global));
    this.inner.setWeights(poisoned);
    return res;
  }
}

describe('norm clipping (defence a) on FedmeshFederation', () => {
  let fed: LocalFederation;
  const attackers: ScaledAttacker[] = [];

  beforeAll(async () => {
    await selectBackend();
    const all = loadBreastCancer();
    const { siteData } = prepareSites(all, { testFraction: 0.2, peers: 6, splitRng: createRng(41), partitionRng: createRng(42) });
    fed = await startLocalFederation({
      federation: 'itest-clipping',
      seed: 43,
      model: { kind: 'mlp', inputShape: [30], hidden: [8] },
      siteData,
      committeeSize: 3,
      // Generous timers: a fault-free round waits on none of them (each wait ends when what it waits for
      // has arrived), and under load 20 on 2 cores an honest input can take longer than 6 s.
      timing: { collectMs: 15_000, recordGraceMs: 1_500 },
      training: { epochs: 1, batchSize: 16, learningRate: 0.01 },
      log: createLogger('error'),
      secureAggregation: { config: { ...SECAGG_DEFAULTS, committeeSize: 3, threshold: 2 }, keysMs: 7_500 },
      defence: { updateNormBound: BOUND },
      wrapTrainer: (i, trainer) => {
        if (!ATTACKERS.includes(i)) return trainer;
        const a = new ScaledAttacker(trainer, FACTOR);
        attackers.push(a);
        return a;
      },
    });
  }, 60_000);

  afterAll(async () => {
    await fed?.stop();
  });

  it('bounds the model step by B although the attackers scale their updates by 1000', async () => {
    const head = fed.trainers[0]!.getWeights();
    const outcomes = await fed.runRound(1);
    expect(outcomes.map((o) => o.status)).toEqual(fed.peers.map(() => 'finalized'));
    for (const a of attackers) expect(a.lastNorm).toBeGreaterThan(100 * BOUND);
    const step = l2Norm(modelDelta(fed.trainers[0]!.getWeights(), head));
    expect(step).toBeGreaterThan(0);
    // Quantization (2^-10 per coordinate and participant, over Σ n_i) and float32 rounding add
    // far less than 1e-3.
    expect(step).toBeLessThanOrEqual(BOUND + 1e-3);
  }, 90_000);
});
