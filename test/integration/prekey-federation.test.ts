/**
 * Signed committee prekeys end to end (node/services/secagg-prekeys.ts; issue 13 item 4, red
 * team F13): 6 real libp2p peers on TCP 127.0.0.1 and FedmeshFederation on the in-process Hardhat
 * chain run two secure rounds with prekeys instead of identity-derived committee keys. Before
 * round 1 every member publishes its bundle; the test waits (on the condition, not a timer) until
 * every peer holds every member's prekey for rounds 1 and 2. Then:
 *  - every participant of both rounds sealed its shares to prekeys of the whole committee: its
 *    machine left COMMITTEE_KEYS with every member pre-keyed (the `preKeyed` log of
 *    participant-stages.ts), so it waited for no member's in-round advertisement;
 *  - each round unmasks the exact sum: the adopted model is the FedAvg of the deterministic updates,
 *    up to stochastic rounding (< |U|·2^-f / Σ n_i per coordinate);
 *  - after round 2 no peer's prekey store holds a secret of round 1 or 2 (erased), and nothing on
 *    any topic was REJECTed.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabelledData } from '../../protocol/data.js';
import type { ModelWeights } from '../../protocol/model.js';
import { createRng } from '../../protocol/rng.js';
import { SECAGG_DEFAULTS } from '../../protocol/secure-aggregation/config.js';
import { loadBreastCancer } from '../../node/data/breast-cancer.js';
import { createLogger } from '../../node/logger.js';
import { selectBackend } from '../../node/ml/backend.js';
import type { LocalTrainer, TrainOptions } from '../../node/services/round-driver.js';
import { assertSimFinalized, type LocalFederation, startLocalFederation } from '../../simulations/local-federation.js';
import { prepareSites } from '../../simulations/sites.js';

const PEERS = 6;
const CONFIG = { ...SECAGG_DEFAULTS, committeeSize: 3, threshold: 2 };

/** Training moves every weight by (peer + 1) · 2^-7 · (±1 by coordinate parity); remembers n_i. */
class StepTrainer implements LocalTrainer {
  n = 0;
  constructor(
    private readonly inner: LocalTrainer,
    private readonly peer: number,
  ) {}
  getWeights(): ModelWeights {
    return this.inner.getWeights();
  }
  setWeights(w: ModelWeights): void {
    this.inner.setWeights(w);
  }
  async train(data: LabelledData, _opts: TrainOptions): Promise<{ loss: number; steps: number; seconds: number }> {
    this.n = data.n;
    this.inner.setWeights(step(this.inner.getWeights(), this.peer));
    return { loss: 0.1, steps: 1, seconds: 0 };
  }
}

const step = (w: ModelWeights, peer: number): ModelWeights => ({
  tensors: w.tensors.map((t) => ({ shape: [...t.shape], data: t.data.map((v, k) => v + (peer + 1) * 2 ** -7 * (k % 2 ? -1 : 1)) })),
});

/** The model the round must adopt: FedAvg of the stepped models, in float64. */
function expected(global: ModelWeights, trainers: readonly StepTrainer[], peers: readonly number[]): Float64Array[] {
  const total = peers.reduce((a, i) => a + trainers[i]!.n, 0);
  return global.tensors.map((t, ti) =>
    Float64Array.from(t.data, (_, k) => peers.reduce((a, i) => a + (trainers[i]!.n / total) * step(global, i).tensors[ti]!.data[k]!, 0)),
  );
}

/** Resolve once `cond` holds; the test's own timeout bounds the wait. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 50));
}

describe('signed committee prekeys: 6 libp2p peers + Hardhat, 2 secure rounds', () => {
  let fed: LocalFederation;
  const trainers: StepTrainer[] = [];
  /** Per peer: the `preKeyed` log records of its participant machine, in order. */
  const sealed: { preKeyed: number; committee: number }[][] = Array.from({ length: PEERS }, () => []);
  const models: { global: ModelWeights; adopted: ModelWeights; participants: number[] }[] = [];

  beforeAll(async () => {
    await selectBackend();
    const all = loadBreastCancer();
    const { siteData } = prepareSites(all, { testFraction: 0.2, peers: PEERS, splitRng: createRng(51), partitionRng: createRng(52) });
    const capture = (i: number) =>
      new Writable({
        write(chunk, _enc, done) {
          for (const line of String(chunk).split('\n')) {
            if (!line.includes('sealed to prekeys')) continue;
            const rec = JSON.parse(line) as { preKeyed: number; committee: number };
            sealed[i]!.push({ preKeyed: rec.preKeyed, committee: rec.committee });
          }
          done();
        },
      });
    fed = await startLocalFederation({
      federation: 'itest-prekeys',
      seed: 53,
      model: { kind: 'mlp', inputShape: [30], hidden: [8] },
      siteData,
      committeeSize: 3,
      // Generous timers (load 20 on 2 cores): a fault-free round waits on none of them.
      timing: { collectMs: 60_000, recordGraceMs: 5_000 },
      training: { epochs: 1, batchSize: 16, learningRate: 0.01 },
      log: createLogger('error'),
      peerLog: (i) => createLogger('debug', { peer: i }, capture(i)),
      secureAggregation: { config: CONFIG, keysMs: 20_000 },
      prekeys: { window: 4, republishMs: 500 },
      wrapTrainer: (i, trainer) => {
        const t = new StepTrainer(trainer, i);
        trainers[i] = t;
        return t;
      },
    });
    // Every member publishes rounds 1–4 now; wait until every peer holds every member's key for
    // rounds 1 and 2 (republication reaches peers whose subscription arrived late).
    await Promise.all(fed.peers.map((p) => p.prekeys!.topUp(1)));
    await until(() => fed.peers.every((p) => fed.peers.every((q) => p.prekeys!.keyFor(q.id, 1) && p.prekeys!.keyFor(q.id, 2))));
    for (let r = 1; r <= 2; r++) {
      const global = fed.peers[0]!.weights;
      const out = (await fed.runRound(r)).map(assertSimFinalized);
      const participants = Array.from({ length: PEERS }, (_, i) => i);
      expect(out[0]!.record.participantCount).toBe(PEERS);
      models.push({ global, adopted: fed.peers[0]!.weights, participants });
    }
  }, 600_000);

  afterAll(async () => {
    await fed?.stop();
  });

  it('every participant sealed its shares to the whole committee’s prekeys: no wait for a member advert', () => {
    for (let i = 0; i < PEERS; i++) {
      expect(sealed[i]).toEqual([
        { preKeyed: 3, committee: 3 },
        { preKeyed: 3, committee: 3 },
      ]);
    }
  });

  it('each round unmasks the exact sum: the adopted model is the FedAvg of the updates (up to stochastic rounding)', () => {
    for (const { global, adopted, participants } of models) {
      const want = expected(global, trainers, participants);
      const total = participants.reduce((a, i) => a + trainers[i]!.n, 0);
      const tol = (participants.length * 2 ** -CONFIG.fractionalBits) / total + 1e-6;
      adopted.tensors.forEach((t, ti) => {
        t.data.forEach((v, k) => {
          expect(Math.abs(v - want[ti]![k]!)).toBeLessThanOrEqual(tol);
        });
      });
      // A real step, not the head: the sum was unmasked, not dropped.
      expect(adopted.tensors[0]!.data[0]).not.toBe(global.tensors[0]!.data[0]);
    }
    for (const p of fed.peers) expect(p.weights).toEqual(fed.peers[0]!.weights);
  });

  it('after round 2 no store holds a secret of round 1 or 2; later rounds’ keys are there', () => {
    for (const store of fed.prekeyStores) {
      const rounds = [...store.load().secrets.keys()].sort((a, b) => a - b);
      expect(rounds.filter((r) => r <= 2)).toEqual([]);
      expect(rounds).toContain(3);
    }
  });

  it('nothing was REJECTed on any topic, prekeys included', () => {
    for (const p of fed.peers) {
      const rejected = [...(p.components.gossip.verdicts as Map<string, number>).keys()].filter((k) => k.startsWith('reject'));
      expect(rejected).toEqual([]);
      expect(p.prekeys!.evidence).toEqual([]);
    }
  });
});
