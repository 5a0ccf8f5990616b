/**
 * Class-balanced resampling in local training (node/ml/resample.ts, issue 16 item 4): class
 * proportions after over- and undersampling, determinism from the seed, the trainer's hook
 * (steps follow the resampled epoch; a minority class the plain model ignores gets predicted),
 * and refusal with DP-SGD at every edge: the trainer (TRAINER_OPTIONS_INVALID `resample`), the
 * manifest (MANIFEST_INVALID `imbalance.resample`) and the simulator (CONFIG_INVALID `resample`).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isFedmeshError } from '../../protocol/errors.js';
import { manifestHash, parseManifest } from '../../protocol/manifest.js';
import { binaryTaskMetrics } from '../../protocol/metrics.js';
import { createRng } from '../../protocol/rng.js';
import { selectBackend } from '../../node/ml/backend.js';
import { resampleIndices } from '../../node/ml/resample.js';
import { Trainer } from '../../node/ml/trainer.js';
import { ConfigError, parseSimulationOptions } from '../../simulations/options.js';

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

/** Labels with `counts[c]` rows of class c, interleaved so classes are not in blocks. */
function labels(counts: readonly number[], seed = 1): Uint8Array {
  const y = counts.flatMap((n, c) => Array.from({ length: n }, () => c));
  const rng = createRng(seed, 'test/resample-labels');
  for (let i = y.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [y[i], y[j]] = [y[j]!, y[i]!];
  }
  return Uint8Array.from(y);
}

const countsOf = (y: Uint8Array, idx: Uint32Array, k: number): number[] => {
  const c = new Array<number>(k).fill(0);
  for (const i of idx) c[y[i]!]!++;
  return c;
};

describe('resampleIndices', () => {
  const y = labels([50, 10, 0, 5]);

  it('oversample: every class present reaches the largest count; every original row is kept; an absent class stays absent', () => {
    const idx = resampleIndices(y, 4, 'oversample', createRng(1));
    expect(countsOf(y, idx, 4)).toEqual([50, 50, 0, 50]);
    const seen = new Set(idx);
    for (let i = 0; i < y.length; i++) expect(seen.has(i)).toBe(true);
    // The extra rows are copies of minority rows, drawn with replacement.
    expect(idx.length - seen.size).toBe(40 + 45);
  });

  it('undersample: every class present is cut to the smallest count, without repeats, a fresh subset each draw', () => {
    const rng = createRng(2);
    const a = resampleIndices(y, 4, 'undersample', rng);
    expect(countsOf(y, a, 4)).toEqual([5, 5, 0, 5]);
    expect(new Set(a).size).toBe(a.length);
    const b = resampleIndices(y, 4, 'undersample', rng);
    expect(countsOf(y, b, 4)).toEqual([5, 5, 0, 5]);
    expect([...a].sort()).not.toEqual([...b].sort());
  });

  it('none is every row once; the same seed gives the same rows, another seed others', () => {
    expect([...resampleIndices(y, 4, 'none', createRng(1))]).toEqual(Array.from({ length: y.length }, (_, i) => i));
    const draw = (seed: number) => [...resampleIndices(y, 4, 'oversample', createRng(seed))];
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('refuses a label outside the classes', () => {
    expect(() => resampleIndices(Uint8Array.of(0, 3), 2, 'oversample', createRng(1))).toThrow(/y\[1\] = 3/);
  });
});

describe('the trainer with resample', () => {
  // 2 features; the positive class (8 %) sits at x0 > 1.
  const n = 300;
  const rng = createRng(5, 'test/resample-data');
  const x = new Float32Array(n * 2);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const pos = i % 12 === 0;
    y[i] = pos ? 1 : 0;
    x[2 * i] = (pos ? 1.6 : 0) + rng.next() - 0.5;
    x[2 * i + 1] = rng.next() - 0.5;
  }
  const data = { x, y, n, featureShape: [2] };
  const opts = { epochs: 3, batchSize: 25, learningRate: 0.05, seed: 4, optimizer: 'sgd' as const };

  it('an epoch runs over the resampled rows; replays bit for bit; lifts sensitivity on the minority class', async () => {
    const positives = y.reduce((a, b) => a + b, 0);
    const train = async (resample?: 'oversample' | 'undersample') => {
      const t = new Trainer({ kind: 'logreg', inputShape: [2] }, 3);
      try {
        const r = await t.train(data, { ...opts, ...(resample !== undefined ? { resample } : {}) });
        return { steps: r.steps, w: t.getWeights().tensors.map((q) => Array.from(q.data)), m: binaryTaskMetrics(y, t.predict(x, n)) };
      } finally {
        t.dispose();
      }
    };
    const plain = await train();
    const over = await train('oversample');
    const under = await train('undersample');
    expect(plain.steps).toBe(3 * Math.ceil(n / 25));
    expect(over.steps).toBe(3 * Math.ceil((2 * (n - positives)) / 25));
    expect(under.steps).toBe(3 * Math.ceil((2 * positives) / 25));
    expect(await train('oversample')).toEqual(over);
    expect(over.w).not.toEqual(plain.w);
    // With plain SGD at this rate the model barely leaves "always negative"; balanced epochs do.
    expect(over.m.sensitivity!).toBeGreaterThan(plain.m.sensitivity! + 0.3);
    expect(over.m.balancedAccuracy!).toBeGreaterThan(plain.m.balancedAccuracy!);
  });

  it('is refused with DP-SGD, for a regression task, and for an unknown mode, naming the field', async () => {
    const field = async (t: Trainer, o: object, d: typeof data & { targets?: Float32Array } = data): Promise<string> => {
      try {
        await t.train(d, { ...opts, ...o });
      } catch (e) {
        expect(isFedmeshError(e, 'TRAINER_OPTIONS_INVALID')).toBe(true);
        return `${(e as { fields: { field: string } }).fields.field}: ${(e as Error).message}`;
      } finally {
        t.dispose();
      }
      throw new Error('expected a refusal');
    };
    const dp = { noiseMultiplier: 1, clipNorm: 1, sampleRate: 0.1, randomness: 'seeded' as const };
    expect(await field(new Trainer({ kind: 'logreg', inputShape: [2] }, 1), { resample: 'oversample', dp })).toMatch(
      /^resample: .*not with DP-SGD/,
    );
    expect(await field(new Trainer({ kind: 'logreg', inputShape: [2] }, 1), { resample: 'undersample', dp })).toMatch(/^resample: /);
    expect(await field(new Trainer({ kind: 'logreg', inputShape: [2] }, 1), { resample: 'smote' })).toMatch(
      /^resample: .*none \| oversample/,
    );
    const reg = new Trainer({ kind: 'logreg', inputShape: [2], task: { kind: 'regression', mean: 0, std: 1 } }, 1);
    expect(await field(reg, { resample: 'oversample' }, { ...data, targets: Float32Array.from(y) })).toMatch(
      /^resample: .*binary and multiclass/,
    );
  });
});

describe('imbalance.resample in the manifest', () => {
  const base = {
    version: 1,
    federation: 'imb',
    seed: 1,
    model: { kind: 'mlp' },
    features: [{ name: 'age', kind: 'numeric' }],
    label: { name: 'y', positive: '1', negatives: ['0'] },
    rounds: 2,
    training: { localEpochs: 1, batchSize: 8, learningRate: 0.1 },
    committee: { size: 3, threshold: 2 },
  };
  const issues = (m: unknown): { field: string; rule: string }[] => {
    try {
      parseManifest(m);
    } catch (e) {
      expect(isFedmeshError(e, 'MANIFEST_INVALID')).toBe(true);
      return (e as { fields: { issues: { field: string; rule: string }[] } }).fields.issues;
    }
    return [];
  };

  it('absent keeps the hash of existing manifests; oversample and undersample parse and change it', () => {
    const h = manifestHash(parseManifest(base));
    expect(manifestHash(parseManifest({ ...base }))).toBe(h);
    const over = parseManifest({ ...base, imbalance: { resample: 'oversample' } });
    expect(over.imbalance).toEqual({ resample: 'oversample' });
    expect(manifestHash(over)).not.toBe(h);
    expect(issues({ ...base, imbalance: { resample: 'undersample' } })).toEqual([]);
  });

  it('refused with dp, for a regression task, and for an unknown value, naming imbalance.resample', () => {
    const stats = { features: { age: { min: 0, max: 110, center: 50, scale: 20, fill: 45 } } };
    const dp = { epsilon: 1, delta: 1e-5, clipNorm: 1, sampleRate: 0.05 };
    expect(issues({ ...base, dp, publicStatistics: stats, imbalance: { resample: 'oversample' } })).toEqual([
      { field: 'imbalance.resample', rule: expect.stringMatching(/not allowed with dp/) },
    ]);
    // 'none' is allowed with dp.
    expect(issues({ ...base, dp, publicStatistics: stats, imbalance: { resample: 'none' } })).toEqual([]);
    expect(issues({ ...base, task: { kind: 'regression', mean: 0, std: 1 }, imbalance: { resample: 'undersample' } })).toEqual([
      { field: 'imbalance.resample', rule: expect.stringMatching(/binary and multiclass/) },
    ]);
    expect(issues({ ...base, imbalance: { resample: 'smote' } }).map((i) => i.field)).toEqual(['imbalance.resample']);
  });
});

describe('resample in simulation options', () => {
  const csv = { dataset: 'x.csv', columns: { label: 'y', positive: '1' } };
  it('defaults to none; refused with DP and for a regression task, naming resample', () => {
    expect(parseSimulationOptions(csv).resample).toBe('none');
    expect(parseSimulationOptions({ ...csv, resample: 'undersample' }).resample).toBe('undersample');
    const fields = (o: object): string[] => {
      try {
        parseSimulationOptions({ ...csv, ...o });
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).fields.issues.map((i) => `${i.field}: ${i.rule}`);
      }
      return [];
    };
    expect(fields({ resample: 'oversample', dpEpsilon: 4 })).toEqual([expect.stringMatching(/^resample: not with DP-SGD/)]);
    expect(fields({ resample: 'oversample', task: 'regression', columns: { label: 'y' } })).toEqual([
      expect.stringMatching(/^resample: only for binary and multiclass/),
    ]);
  });
});
