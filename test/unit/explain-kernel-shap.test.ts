/**
 * KernelSHAP (node/ml/kernel-shap.ts; Lundberg & Lee 2017) against exact Shapley values.
 *
 * Tolerances, and why:
 * - Pure float64 functions, every coalition enumerated: the weighted least-squares solution IS
 *   the Shapley value (Lundberg & Lee 2017, Theorem 2), so only rounding separates the two:
 *   1e-9 (values are O(1); the Cholesky solve of an M ≤ 8 system loses a few digits of 1e-16).
 * - A game that is additive (any linear f): v(z) − v(0) = zᵀφ exactly, so the regression has zero
 *   residual for ANY coalition sample and recovers φ to rounding: 1e-9, with sampling.
 * - tfjs models: the outputs are float32 (relative rounding 6e-8 per output), and KernelSHAP and the
 *   enumeration evaluate the same inputs in different batches; differences of v around 1 carry
 *   ~1e-7 error that the solve can amplify by cond(A) (< 30 for M ≤ 6): 1e-5.
 * - Sampled budgets on a non-additive f (8 features, 2^8 − 2 = 254 coalitions, budget 100): over
 *   50 seeds the largest error of any attribution was 0.0143, mean 0.0073 (the largest |φ| is
 *   0.88); the test allows 0.03 on seeds 0–9 (twice the worst seen) and asserts that the error
 *   shrinks as the budget grows (mean 0.0033 at 220).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isFedmeshError } from '../../protocol/errors.js';
import { createRng } from '../../protocol/rng.js';
import { selectBackend } from '../../node/ml/backend.js';
import { isLinearModel, linearShapley, modelValueFunction } from '../../node/ml/explain.js';
import { explainModel, tabularShapley } from '../../node/ml/explain-run.js';
import {
  defaultKernelSamples,
  exactShapley,
  kernelShap,
  planCoalitions,
  shapleyKernel,
  type ValueFunction,
} from '../../node/ml/kernel-shap.js';
import { exportModel } from '../../node/ml/model-card.js';
import { Trainer } from '../../node/ml/trainer.js';

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

/** A float64 function of each row, as a ValueFunction. */
const rowwise =
  (m: number, g: (x: Float32Array) => number): ValueFunction =>
  (rows, count) =>
    Float64Array.from({ length: count }, (_, r) => g(rows.subarray(r * m, (r + 1) * m)));

function data(m: number, n: number, nb: number, seed: number): { x: Float32Array; bg: Float32Array } {
  const rng = createRng(seed, 'test/kernel-shap');
  return {
    x: Float32Array.from({ length: n * m }, () => rng.next() * 2 - 1),
    bg: Float32Array.from({ length: nb * m }, () => rng.next() * 2 - 1),
  };
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

const rowSums = (v: ArrayLike<number>, n: number, m: number): number[] =>
  Array.from({ length: n }, (_, r) => {
    let s = 0;
    for (let j = 0; j < m; j++) s += v[r * m + j]!;
    return s;
  });

// Interactions of order 2 and 3, a kink and a periodic term: not additive.
const M8 = 8;
const nonLinear8 = rowwise(
  M8,
  (x) => x[0]! * x[1]! + Math.sin(3 * x[2]!) + x[3]! ** 2 + Math.max(x[4]!, x[5]!) + 0.5 * x[6]! * x[7]! * x[0]!,
);

describe('KernelSHAP', () => {
  it('the Shapley kernel: π(s) = (M − 1) / (C(M, s) s (M − s)); every size pair carries kernel mass (M − 1)/(s(M − s))', () => {
    expect(shapleyKernel(4, 1)).toBeCloseTo(3 / (4 * 1 * 3), 15);
    expect(shapleyKernel(4, 2)).toBeCloseTo(3 / (6 * 2 * 2), 15);
    // Budget 2M + 2 = 18 for M = 8: the 16 coalitions of sizes 1 and 7 enumerated with their exact weights, one pair drawn.
    const plan = planCoalitions(8, 18, createRng(1));
    expect(plan.exact).toBe(false);
    expect(plan.samples).toBe(18);
    const singles = plan.masks.filter((z) => z.reduce((a, b) => a + b, 0) === 1);
    expect(singles).toHaveLength(8);
    expect(plan.masks.filter((z) => z.reduce((a, b) => a + b, 0) === 7)).toHaveLength(8);
    // The drawn pair's weights carry the kernel mass of sizes 2..6, split over its 2 draws.
    const drawnMass = [2, 3, 4, 5, 6].reduce((a, s) => a + 7 / (s * (8 - s)), 0);
    const drawn = plan.weights.slice(16);
    expect(drawn.reduce((a, b) => a + b, 0)).toBeCloseTo(drawnMass, 12);
    // With the whole budget every coalition is enumerated once.
    const all = planCoalitions(5, 1000, createRng(1));
    expect(all.exact).toBe(true);
    expect(new Set(all.masks.map((z) => z.join(''))).size).toBe(30);
  });

  it('equals exact Shapley values on a linear function, even with a sampled budget (the game is additive)', () => {
    const m = 6;
    const w = [0.7, -1.3, 0.2, 2.1, -0.4, 0];
    const fn = rowwise(m, (x) => 0.3 + w.reduce((s, wj, j) => s + wj * x[j]!, 0));
    const { x, bg } = data(m, 4, 7, 1);
    const res = kernelShap(fn, x, 4, bg, 7, { samples: 2 * m + 2, seed: 3 });
    expect(res.exact).toBe(false);
    for (let r = 0; r < 4; r++)
      for (let j = 0; j < m; j++) {
        const meanB = Array.from({ length: 7 }, (_, b) => bg[b * m + j]!).reduce((a, b) => a + b, 0) / 7;
        expect(Math.abs(res.values[r * m + j]! - w[j]! * (x[r * m + j]! - meanB))).toBeLessThan(1e-9);
      }
    // The null feature (w = 0) gets exactly nothing (dummy).
    for (let r = 0; r < 4; r++) expect(Math.abs(res.values[r * m + 5]!)).toBeLessThan(1e-12);
  });

  it('equals exact enumeration on a small non-linear function (4 features: every coalition fits the default budget)', () => {
    const m = 4;
    const fn = rowwise(m, (x) => 2 * x[0]! * x[1]! * x[2]! + Math.sin(3 * x[2]!) + x[3]! ** 2 + Math.max(x[0]!, x[3]!, x[1]!));
    const { x, bg } = data(m, 5, 9, 2);
    expect(defaultKernelSamples(m)).toBe(14);
    const k = kernelShap(fn, x, 5, bg, 9);
    const e = exactShapley(fn, x, 5, bg, 9);
    expect(k.exact).toBe(true);
    expect(maxAbsDiff(k.values, e.values)).toBeLessThan(1e-9);
    expect(maxAbsDiff(k.base, e.base)).toBe(0);
    expect(maxAbsDiff(k.prediction, e.prediction)).toBe(0);
    // Not a trivial agreement: with interactions of order 3 only the Shapley kernel's weights give
    // these values (uniform weights give others; pairwise interactions alone split evenly under any
    // symmetric weighting).
    expect(Math.max(...e.values.map(Math.abs))).toBeGreaterThan(0.1);
  });

  it('with a sampled budget on 8 non-additive features: close to exact, and closer with more samples', () => {
    const { x, bg } = data(M8, 3, 10, 3);
    const exact = exactShapley(nonLinear8, x, 3, bg, 10);
    const err = (samples: number, seed: number): number =>
      maxAbsDiff(kernelShap(nonLinear8, x, 3, bg, 10, { samples, seed }).values, exact.values);
    const at100 = Array.from({ length: 10 }, (_, s) => err(100, s));
    for (const e of at100) expect(e).toBeLessThan(0.03);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(Array.from({ length: 10 }, (_, s) => err(220, s)))).toBeLessThan(mean(at100));
    expect(err(254, 0)).toBeLessThan(1e-9); // the whole budget: exact
  });

  it('efficiency: attributions sum to f(x) − E f(background) for every row, with any budget', () => {
    const { x, bg } = data(M8, 4, 6, 4);
    for (const samples of [18, 60, 254]) {
      const res = kernelShap(nonLinear8, x, 4, bg, 6, { samples, seed: 9 });
      const fx = nonLinear8(x, 4);
      const fb = nonLinear8(bg, 6);
      const meanFb = Array.from(fb).reduce((a, b) => a + b, 0) / 6;
      rowSums(res.values, 4, M8).forEach((s, r) => {
        expect(Math.abs(s - (fx[r]! - meanFb))).toBeLessThan(1e-9);
        expect(res.prediction[r]).toBeCloseTo(fx[r]!, 12);
        expect(res.base[r]).toBeCloseTo(meanFb, 12);
      });
    }
  });

  it('symmetry and dummy: interchangeable features get equal values, an ignored feature gets 0', () => {
    const m = 5;
    // Symmetric in x0 and x1; x4 is never read.
    const fn = rowwise(m, (x) => Math.tanh(x[0]! + x[1]!) * x[2]! + x[0]! * x[1]! + Math.exp(0.5 * x[3]!));
    const { x, bg } = data(m, 3, 8, 5);
    // Make features 0 and 1 interchangeable in the rows and in every background row.
    for (const a of [x, bg]) for (let r = 0; r < a.length / m; r++) a[r * m + 1] = a[r * m]!;
    const res = kernelShap(fn, x, 3, bg, 8); // 30 coalitions: all enumerated
    expect(res.exact).toBe(true);
    for (let r = 0; r < 3; r++) {
      expect(Math.abs(res.values[r * m]! - res.values[r * m + 1]!)).toBeLessThan(1e-9);
      expect(Math.abs(res.values[r * m + 4]!)).toBeLessThan(1e-9);
      expect(Math.abs(res.values[r * m]!)).toBeGreaterThan(1e-3);
    }
    // A sampled budget keeps the dummy near 0 (not exactly: the sampled regression has noise).
    const nine = rowwise(9, (z) => fn(z.subarray(0, 5), 1)[0]!);
    const d9 = data(9, 2, 6, 6);
    const sampled = kernelShap(nine, d9.x, 2, d9.bg, 6, { samples: 120, seed: 1 });
    for (let r = 0; r < 2; r++) for (let j = 4; j < 9; j++) expect(Math.abs(sampled.values[r * 9 + j]!)).toBeLessThan(0.02);
  });

  it('is deterministic for a seed and differs across seeds when it samples', () => {
    const { x, bg } = data(M8, 2, 5, 7);
    const a = kernelShap(nonLinear8, x, 2, bg, 5, { samples: 60, seed: 11 });
    const b = kernelShap(nonLinear8, x, 2, bg, 5, { samples: 60, seed: 11 });
    const c = kernelShap(nonLinear8, x, 2, bg, 5, { samples: 60, seed: 12 });
    expect(Buffer.from(a.values.buffer).equals(Buffer.from(b.values.buffer))).toBe(true);
    expect(maxAbsDiff(a.values, c.values)).toBeGreaterThan(0);
  });

  it('refuses a budget that cannot determine the regression, naming the field', () => {
    const { x, bg } = data(M8, 1, 2, 8);
    try {
      kernelShap(nonLinear8, x, 1, bg, 2, { samples: 16 });
      expect.unreachable();
    } catch (e) {
      expect(isFedmeshError(e, 'TRAINER_SPEC_INVALID')).toBe(true);
      expect((e as { fields: { field: string } }).fields.field).toBe('samples');
    }
    expect(() =>
      exactShapley(
        rowwise(13, () => 0),
        new Float32Array(13),
        1,
        new Float32Array(13),
        1,
      ),
    ).toThrow(/at most 12 features/);
  });
});

describe('KernelSHAP on tfjs models', () => {
  it('a logistic model: KernelSHAP of the margin equals the exact linear SHAP values; the auto method picks linear', () => {
    const f = 5;
    const t = new Trainer({ kind: 'logreg', inputShape: [f] }, 4);
    try {
      expect(isLinearModel(t.layersModel)).toBe(true);
      const { x, bg } = data(f, 4, 6, 9);
      const lin = linearShapley(t.layersModel, x, 4, bg, 6);
      const ker = kernelShap(modelValueFunction(t.layersModel, 0, 'margin'), x, 4, bg, 6, { samples: 12, seed: 1 });
      expect(ker.exact).toBe(false);
      expect(maxAbsDiff(ker.values, lin.values)).toBeLessThan(1e-5);
      expect(maxAbsDiff(ker.prediction, lin.prediction)).toBeLessThan(1e-5);
      // The margin's sigmoid is the model's probability.
      const p = t.predict(x, 4);
      for (let r = 0; r < 4; r++) expect(1 / (1 + Math.exp(-lin.prediction[r]!))).toBeCloseTo(p[r]!, 5);
      expect(tabularShapley(t.layersModel, { kind: 'binary' }, x, 4, bg, 6).method).toBe('shapley-linear');
    } finally {
      t.dispose();
    }
  });

  it('an MLP (not linear): KernelSHAP with every coalition equals exact enumeration of the model; efficiency in probability', () => {
    const f = 5;
    const t = new Trainer({ kind: 'mlp', inputShape: [f], hidden: [8] }, 5);
    try {
      expect(isLinearModel(t.layersModel)).toBe(false);
      const { x, bg } = data(f, 3, 7, 10);
      const fn = modelValueFunction(t.layersModel, 0, 'output');
      const k = kernelShap(fn, x, 3, bg, 7);
      const e = exactShapley(fn, x, 3, bg, 7);
      expect(k.exact).toBe(true);
      expect(maxAbsDiff(k.values, e.values)).toBeLessThan(1e-5);
      const auto = tabularShapley(t.layersModel, { kind: 'binary' }, x, 3, bg, 7);
      expect(auto.method).toBe('kernel-shap');
      expect(auto.explained).toBe('P(y = 1)');
      const p = t.predict(x, 3);
      rowSums(auto.res.values, 3, f).forEach((s, r) => {
        expect(auto.res.prediction[r]).toBeCloseTo(p[r]!, 5);
        expect(s).toBeCloseTo(auto.res.prediction[r]! - auto.res.base[r]!, 9);
      });
    } finally {
      t.dispose();
    }
  });

  it('multiclass: the explained output is a class probability; regression: attributions in original units', () => {
    const f = 4;
    const mc = new Trainer({ kind: 'mlp', inputShape: [f], hidden: [6], task: { kind: 'multiclass', classes: ['a', 'b', 'c'] } }, 6);
    const rg = new Trainer({ kind: 'mlp', inputShape: [f], hidden: [6], task: { kind: 'regression', mean: 100, std: 20 } }, 7);
    try {
      const { x, bg } = data(f, 3, 5, 11);
      const c2 = tabularShapley(mc.layersModel, mc.task, x, 3, bg, 5, { output: 2 });
      expect(c2.explained).toBe('P(class c)');
      const probs = mc.predict(x, 3);
      for (let r = 0; r < 3; r++) expect(c2.res.prediction[r]).toBeCloseTo(probs[r * 3 + 2]!, 5);
      const model = tabularShapley(rg.layersModel, undefined, x, 3, bg, 5);
      const orig = tabularShapley(rg.layersModel, rg.task, x, 3, bg, 5);
      expect(orig.explained).toBe('the predicted value (original units)');
      for (let i = 0; i < 3 * f; i++) expect(orig.res.values[i]).toBeCloseTo(model.res.values[i]! * 20, 9);
      for (let r = 0; r < 3; r++) {
        expect(orig.res.prediction[r]).toBeCloseTo(model.res.prediction[r]! * 20 + 100, 6);
        expect(rowSums(orig.res.values, 3, f)[r]).toBeCloseTo(orig.res.prediction[r]! - orig.res.base[r]!, 6);
      }
    } finally {
      mc.dispose();
      rg.dispose();
    }
  });

  it('fedmesh explain: auto is KernelSHAP for an MLP (with its sample count) and exact linear for a logistic model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-kshap-'));
    const card = (features: string[]) => ({
      task: { kind: 'binary' as const },
      featureShape: [features.length],
      features,
      rounds: 1,
      metrics: {},
    });
    const names = ['age', 'bp', 'chol', 'hr', 'bmi', 'glu'];
    const mlp = new Trainer({ kind: 'mlp', inputShape: [6], hidden: [4] }, 2);
    await exportModel(mlp.layersModel, join(dir, 'mlp'), card(names));
    mlp.dispose();
    const lr = new Trainer({ kind: 'logreg', inputShape: [6] }, 3);
    await exportModel(lr.layersModel, join(dir, 'lr'), card(names));
    lr.dispose();
    const rng = createRng(1, 'test/kshap-csv');
    const csv = (rows: number) =>
      `${names.join(',')}\n${Array.from({ length: rows }, () => names.map(() => (rng.next() * 4 - 2).toFixed(3)).join(',')).join('\n')}\n`;
    writeFileSync(join(dir, 'rows.csv'), csv(5));
    writeFileSync(join(dir, 'bg.csv'), csv(8));
    const bin = new URL('../../bin/fedmesh.mjs', import.meta.url).pathname;
    const run = (model: string, extra: string[] = []) =>
      execFileSync(
        process.execPath,
        [
          bin,
          'explain',
          '--model',
          join(dir, model),
          '--data',
          join(dir, 'rows.csv'),
          '--background',
          join(dir, 'bg.csv'),
          '--out',
          join(dir, `out-${model}`),
          ...extra,
        ],
        { encoding: 'utf8' },
      );
    expect(run('mlp', ['--samples', '40', '--seed', '2'])).toMatch(/^kernel-shap: 5 row\(s\), 40 samples per row, explaining P\(y = 1\)/);
    const rows = readFileSync(join(dir, 'out-mlp', 'shapley.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(rows[0]).toBe(`row,prediction,base,${names.join(',')}`);
    for (const line of rows.slice(1)) {
      const [, pred, base, ...phi] = line.split(',').map(Number);
      expect(phi.reduce((a, b) => a + b, 0)).toBeCloseTo(pred! - base!, 6);
    }
    expect(run('lr')).toMatch(/^shapley-linear: 5 row\(s\), 0 samples per row, explaining the log-odds of y = 1/);
    // Asked for by name, on the same file: every coalition of 6 features (62) is enumerated.
    const s = await explainModel({
      modelDir: join(dir, 'mlp'),
      data: join(dir, 'rows.csv'),
      out: join(dir, 'o2'),
      method: 'kernel',
      samples: 100,
    });
    expect(s).toMatchObject({ method: 'kernel-shap', samples: 62, exact: true });
    await expect(
      explainModel({ modelDir: join(dir, 'mlp'), data: join(dir, 'rows.csv'), out: join(dir, 'o3'), method: 'linear' }),
    ).rejects.toThrow(/one Dense layer/);
  });
});
