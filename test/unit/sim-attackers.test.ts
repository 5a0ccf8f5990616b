/**
 * Simulated attackers, FedProx and stragglers (simulations/attackers.ts, node/ml/trainer.ts
 * proximalMu, simulations/probe.ts) on the real tfjs Trainer.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { LabelledData } from '../../protocol/data.js';
import type { ModelWeights } from '../../protocol/model.js';
import { createRng } from '../../protocol/rng.js';
import { selectBackend } from '../../node/ml/backend.js';
import { Trainer, type TrainOptions } from '../../node/ml/trainer.js';
import { AttackingTrainer, chooseAttackers, flipLabels, parseAttackKind, poisonWeights } from '../../simulations/attackers.js';
import { loadSimulationData } from '../../simulations/datasets.js';
import { parseSimulationOptions } from '../../simulations/options.js';
import { parseStragglers, ProbedTrainer, spread, stragglerDelayMs, type TrainTiming } from '../../simulations/probe.js';

const SPEC = { kind: 'mlp' as const, inputShape: [30], hidden: [8] };
const OPTS = { epochs: 1, batchSize: 16, learningRate: 0.01, seed: 3 };

let site: LabelledData;
beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
  site = loadSimulationData(parseSimulationOptions({ peers: 4 })).siteData[0]!;
});

const flat = (w: ModelWeights): number[] => w.tensors.flatMap((t) => [...t.data]);
const l2 = (a: number[], b: number[]): number => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0));

/** Train a fresh model from the seed-0 initial weights through `wrap`, returning (global, result). */
async function trainOnce(
  wrap: (t: Trainer) => { train: Trainer['train']; getWeights(): ModelWeights },
  data = site,
  opts: TrainOptions = OPTS,
) {
  const t = new Trainer(SPEC, 0);
  try {
    const global = t.getWeights();
    const w = wrap(t);
    await w.train(data, opts);
    return { global: flat(global), trained: flat(w.getWeights()) };
  } finally {
    t.dispose();
  }
}

describe('attackers', () => {
  it('chooses round(fraction × peers) attackers from the seed, reproducibly', () => {
    expect(chooseAttackers(10, 0.2, 1)).toHaveLength(2);
    expect(chooseAttackers(10, 0.2, 1)).toEqual(chooseAttackers(10, 0.2, 1));
    expect(chooseAttackers(8, 0, 1)).toEqual([]);
    const picks = new Set(Array.from({ length: 20 }, (_, s) => chooseAttackers(10, 0.1, s)[0]));
    expect(picks.size).toBeGreaterThan(3); // depends on the seed
  });

  it('sign-flip sends w − Δ and scaled:k sends w + kΔ, exactly', () => {
    const g: ModelWeights = { tensors: [{ shape: [3], data: Float32Array.from([1, 2, 3]) }] };
    const t: ModelWeights = { tensors: [{ shape: [3], data: Float32Array.from([1.5, 1, 3]) }] };
    const rng = createRng(1);
    expect([...poisonWeights(parseAttackKind('sign-flip'), g, t, rng).tensors[0]!.data]).toEqual([0.5, 3, 3]);
    expect([...poisonWeights(parseAttackKind('scaled:10'), g, t, rng).tensors[0]!.data]).toEqual([6, -8, 3]);
    const noisy = poisonWeights(parseAttackKind('noise:2'), g, t, rng).tensors[0]!.data;
    expect([...noisy].some((x, i) => Math.abs(x - g.tensors[0]!.data[i]!) > 0)).toBe(true);
  });

  it('a sign-flipping trainer returns the mirror image of the honest update', async () => {
    const honest = await trainOnce((t) => t);
    const flipped = await trainOnce((t) => new AttackingTrainer(t, parseAttackKind('sign-flip'), 's'));
    expect(flipped.global).toEqual(honest.global);
    const delta = honest.trained.map((x, i) => x - honest.global[i]!);
    expect(
      l2(
        delta,
        delta.map(() => 0),
      ),
    ).toBeGreaterThan(0.01);
    flipped.trained.forEach((x, i) => {
      expect(x).toBeCloseTo(honest.global[i]! - delta[i]!, 5);
    });
  });

  it('label-flip trains on flipped labels: the update equals honest training on 1 − y', async () => {
    const viaAttacker = await trainOnce((t) => new AttackingTrainer(t, parseAttackKind('label-flip'), 's'));
    const direct = await trainOnce((t) => t, flipLabels(site));
    expect(viaAttacker.trained).toEqual(direct.trained);
    const honest = await trainOnce((t) => t);
    expect(viaAttacker.trained).not.toEqual(honest.trained);
  });
});

describe('FedProx (Li et al. 2020)', () => {
  it('the proximal term keeps the local model closer to the global one as μ grows; μ = 0 is plain training', async () => {
    const opts = { ...OPTS, epochs: 3 };
    const plain = await trainOnce((t) => t, site, opts);
    const mu0 = await trainOnce((t) => t, site, { ...opts, proximalMu: 0 });
    expect(mu0.trained).toEqual(plain.trained);
    const drift = async (mu: number) => {
      const r = await trainOnce((t) => t, site, { ...opts, proximalMu: mu });
      return l2(r.trained, r.global);
    };
    const d0 = l2(plain.trained, plain.global);
    const d1 = await drift(1);
    const d10 = await drift(10);
    expect(d1).toBeLessThan(d0);
    expect(d10).toBeLessThan(d1);
  });

  it('rejects a negative μ with a typed error naming the field', async () => {
    const t = new Trainer(SPEC, 0);
    try {
      await expect(t.train(site, { ...OPTS, proximalMu: -1 })).rejects.toMatchObject({
        code: 'TRAINER_OPTIONS_INVALID',
        fields: { field: 'proximalMu', value: -1 },
      });
    } finally {
      t.dispose();
    }
  });
});

describe('stragglers and probes', () => {
  it('draws seeded delays from the distribution', () => {
    const u = parseStragglers('uniform:100-300');
    const ds = Array.from({ length: 200 }, (_, i) => stragglerDelayMs(u, 1, 1 + (i % 5), i));
    expect(Math.min(...ds)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...ds)).toBeLessThanOrEqual(300);
    expect(stragglerDelayMs(u, 1, 2, 3)).toBe(stragglerDelayMs(u, 1, 2, 3));
    expect(stragglerDelayMs(u, 2, 2, 3)).not.toBe(stragglerDelayMs(u, 1, 2, 3));
    const e = parseStragglers('exponential:50');
    const es = Array.from({ length: 2000 }, (_, i) => stragglerDelayMs(e, 1, 1, i));
    expect(es.reduce((a, b) => a + b, 0) / es.length).toBeGreaterThan(40);
    expect(es.reduce((a, b) => a + b, 0) / es.length).toBeLessThan(60);
    expect(stragglerDelayMs(parseStragglers('none'), 1, 1, 1)).toBe(0);
  });

  it('ProbedTrainer waits the delay, then trains, and records the timing for the round', async () => {
    const timings = new Map<number, Map<number, TrainTiming>>();
    const adoptedAt = new Map<number, number>();
    const t = new Trainer(SPEC, 0);
    try {
      const p = new ProbedTrainer(t, 2, { seed: 1, stragglers: parseStragglers('uniform:200-200'), round: () => 7, timings, adoptedAt });
      await p.train(site, OPTS);
      const rec = timings.get(7)!.get(2)!;
      expect(rec.delayMs).toBe(200);
      expect(rec.endMs - rec.startMs).toBeGreaterThanOrEqual(200);
      p.setWeights(t.getWeights());
      expect(adoptedAt.has(7)).toBe(true);
    } finally {
      t.dispose();
    }
  });

  it('spread gives min, median and max', () => {
    expect(spread([5, 1, 3])).toEqual({ min: 1, median: 3, max: 5 });
    expect(spread([4, 1, 3, 2])).toEqual({ min: 1, median: 2.5, max: 4 });
  });
});
