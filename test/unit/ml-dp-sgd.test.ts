/**
 * DP-SGD on the wasm backend: the loop-free per-example gradient norms and clipped sums
 * (node/ml/dp-sgd.ts) against a naive one-example-at-a-time loop through the Keras model, the
 * clipping bound, the noise and Poisson-sampling statistics with fixed seeds, the trainer's DP
 * path (determinism, learning, validation, tensor hygiene).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../node/ml/backend.js';
import { seededUniform } from '../../node/ml/dp-randomness.js';
import { PerExampleGradients } from '../../node/ml/dp-sgd.js';
import { createModel, type LabelledData, type ModelSpec, type TrainOptions, Trainer } from '../../node/ml/trainer.js';
import { fillGaussian, poissonSample, stepsPerEpoch } from '../../protocol/privacy/dp-sgd.js';
import { createRng } from '../../protocol/rng.js';

beforeAll(async () => {
  expect((await selectBackend({ prefer: 'wasm' })).name).toBe('wasm');
});

function randomData(n: number, shape: number[], seed: number): LabelledData {
  const rng = createRng(seed, 'test/ml-dp');
  const f = shape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: n * f }, () => rng.next() * 4 - 2);
  const y = Uint8Array.from({ length: n }, () => (rng.next() < 0.5 ? 1 : 0));
  return { x, y, n, featureShape: shape };
}

/** Per-example gradients the slow way: one tf.variableGrads per example through model.apply. */
function naivePerExample(model: tf.LayersModel, vars: readonly tf.Variable[], d: LabelledData): Float32Array[][] {
  const f = d.x.length / d.n;
  const out: Float32Array[][] = [];
  for (let i = 0; i < d.n; i++) {
    const grads = tf.tidy(() => {
      const xi = tf.tensor(d.x.subarray(i * f, (i + 1) * f), [1, ...d.featureShape]);
      const yi = d.y[i]!;
      const { grads: g } = tf.variableGrads(() => {
        const p = model.apply(xi) as tf.Tensor;
        return tf.neg(tf.sum(yi === 1 ? tf.log(p) : tf.log(tf.sub(1, p)))) as tf.Scalar;
      }, vars as tf.Variable[]);
      return vars.map((v) => g[v.name]!);
    });
    out.push(grads.map((g) => g.dataSync() as Float32Array));
    tf.dispose(grads);
  }
  return out;
}

const norm = (gs: Float32Array[]): number => Math.sqrt(gs.reduce((s, g) => s + g.reduce((a, v) => a + v * v, 0), 0));

function checkAgainstNaive(model: tf.LayersModel, d: LabelledData, clipNorm: number): { clippedSome: boolean; unclippedSome: boolean } {
  const pe = new PerExampleGradients(model);
  try {
    const naive = naivePerExample(model, pe.variables, d);
    const naiveNorms = naive.map(norm);
    const res = tf.tidy(() => {
      const r = pe.clippedSum(tf.tensor(d.x, [d.n, ...d.featureShape]), tf.tensor2d(Float32Array.from(d.y), [d.n, 1]), clipNorm);
      return {
        sums: r.sums.map((s) => s.dataSync() as Float32Array),
        norms: r.norms.dataSync() as Float32Array,
        loss: r.lossSum.dataSync()[0]!,
      };
    });
    naiveNorms.forEach((n, i) => {
      expect(Math.abs(res.norms[i]! - n)).toBeLessThan(1e-4 * n + 1e-6);
    });
    // Σ_i min(1, C/‖g_i‖)·g_i, each clipped example of norm exactly C.
    const factors = naiveNorms.map((n) => Math.min(1, clipNorm / n));
    factors.forEach((c, i) => {
      expect(c * naiveNorms[i]!).toBeLessThanOrEqual(clipNorm * (1 + 1e-6));
    });
    res.sums.forEach((sum, k) => {
      let scale = 0;
      sum.forEach((v, j) => {
        const want = naive.reduce((s, g, i) => s + factors[i]! * g[k]![j]!, 0);
        scale = Math.max(scale, Math.abs(want));
        expect(Math.abs(v - want)).toBeLessThan(1e-4 * (Math.abs(want) + 1e-2));
      });
      expect(scale).toBeGreaterThan(0);
    });
    return { clippedSome: factors.some((c) => c < 1), unclippedSome: factors.some((c) => c === 1) };
  } finally {
    pe.dispose();
  }
}

describe('per-example gradient norms and clipped sums (no per-example loop) match the naive loop', () => {
  it('MLP with two hidden layers: ‖g_i‖² = Σ_layers (‖a_i‖² + 1)·‖δ_i‖²', () => {
    const model = createModel({ kind: 'mlp', inputShape: [7], hidden: [12, 5] }, 3);
    const d = randomData(24, [7], 1);
    const seen = checkAgainstNaive(model, d, 1.5);
    expect(seen.clippedSome && seen.unclippedSome).toBe(true);
    model.dispose();
  });

  it('the trainer’s CNN (im2col for the convs, dense head)', () => {
    const model = createModel({ kind: 'cnn', inputShape: [14, 14, 1], hidden: [6] }, 5);
    const d = randomData(6, [14, 14, 1], 2);
    checkAgainstNaive(model, d, 0.8);
    model.dispose();
  });

  it("a conv with 'same' padding, stride 2 and two input channels (the unfold filter's general case)", () => {
    const rng = createRng(9, 'test/ml-dp/conv');
    const init = () => tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: rng.int(2 ** 31) });
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [7, 7, 2],
          filters: 3,
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: init(),
        }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init() }),
      ],
    });
    checkAgainstNaive(model, randomData(5, [7, 7, 2], 3), 0.3);
    model.dispose();
  });

  it('the functional forward equals model.predict (sigmoid of the logit)', () => {
    const model = createModel({ kind: 'cnn', inputShape: [12, 12, 1] }, 2);
    const d = randomData(4, [12, 12, 1], 4);
    const pe = new PerExampleGradients(model);
    const [ours, keras] = tf.tidy(() => {
      const xs = tf.tensor(d.x, [4, 12, 12, 1]);
      return [tf.sigmoid(pe.logits(xs)).dataSync(), (model.predict(xs) as tf.Tensor).dataSync()];
    });
    expect(Array.from(ours!)).toEqual(Array.from(keras!));
    pe.dispose();
    model.dispose();
  });

  it('refuses a layer it cannot handle with TRAINER_SPEC_INVALID', () => {
    const model = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [3], units: 2, activation: 'tanh' }), tf.layers.dense({ units: 1, activation: 'sigmoid' })],
    });
    expect(() => new PerExampleGradients(model)).toThrow(/TRAINER_SPEC_INVALID/);
    model.dispose();
  });
});

describe('sampling and noise statistics (fixed seeds)', () => {
  it('Poisson sampling: batch sizes have mean qN and variance qN(1 − q); same seed, same batches', () => {
    const u = seededUniform(7, 'test/poisson');
    const sizes: number[] = [];
    for (let s = 0; s < 4000; s++) sizes.push(poissonSample(500, 0.04, u).length);
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    const variance = sizes.reduce((a, b) => a + (b - mean) ** 2, 0) / (sizes.length - 1);
    expect(Math.abs(mean - 20)).toBeLessThan(0.3); // sd of the mean ≈ 0.07
    expect(Math.abs(variance / 19.2 - 1)).toBeLessThan(0.1);
    const a = seededUniform(3, 'x');
    const b = seededUniform(3, 'x');
    expect(poissonSample(100, 0.3, a)).toEqual(poissonSample(100, 0.3, b));
  });

  it('Gaussian noise: mean 0, standard deviation σC, N(0,1) tail mass', () => {
    const z = new Float64Array(200_000);
    fillGaussian(z, 2.5, seededUniform(11, 'test/noise'));
    const mean = z.reduce((a, b) => a + b, 0) / z.length;
    const sd = Math.sqrt(z.reduce((a, b) => a + (b - mean) ** 2, 0) / (z.length - 1));
    expect(Math.abs(mean)).toBeLessThan(0.02); // sd of the mean ≈ 0.0056
    expect(Math.abs(sd / 2.5 - 1)).toBeLessThan(0.01);
    const beyond2 = z.filter((v) => Math.abs(v) > 5).length / z.length; // P(|Z| > 2) = 0.0455
    expect(Math.abs(beyond2 - 0.0455)).toBeLessThan(0.003);
  });

  it('one DP-SGD step adds N(0, σ²C²) to the clipped sum and divides by qN (recovered from the update)', async () => {
    // q = 1: one step per epoch over every row, so the clipped sum is known exactly.
    const spec: ModelSpec = { kind: 'mlp', inputShape: [10], hidden: [64] };
    const d = randomData(40, [10], 5);
    const trainer = new Trainer(spec, 1);
    const model = createModel(spec, 1);
    const pe = new PerExampleGradients(model);
    const sums = tf.tidy(() =>
      pe.clippedSum(tf.tensor(d.x, [d.n, 10]), tf.tensor2d(Float32Array.from(d.y), [d.n, 1]), 1).sums.map((s) => s.dataSync()),
    );
    const before = trainer.getWeights();
    const sigma = 0.7;
    const res = await trainer.train(d, {
      epochs: 1,
      batchSize: 1,
      learningRate: 1,
      seed: 3,
      optimizer: 'sgd',
      dp: { noiseMultiplier: sigma, clipNorm: 1, sampleRate: 1, randomness: 'seeded' },
    });
    expect(res.steps).toBe(1);
    expect(res.dp!.meanBatchSize).toBe(40);
    const after = trainer.getWeights();
    // w' = w − lr·(S + Z)/(q·N)  ⇒  Z = −q·N·(w' − w) − S
    const z: number[] = [];
    after.tensors.forEach((t, k) => {
      t.data.forEach((v, j) => {
        z.push(-40 * (v - before.tensors[k]!.data[j]!) - sums[k]![j]!);
      });
    });
    const mean = z.reduce((a, b) => a + b, 0) / z.length;
    const sd = Math.sqrt(z.reduce((a, b) => a + (b - mean) ** 2, 0) / (z.length - 1));
    expect(z.length).toBe(10 * 64 + 64 + 64 + 1);
    expect(Math.abs(mean)).toBeLessThan(0.06); // sd of the mean ≈ 0.015
    expect(Math.abs(sd / sigma - 1)).toBeLessThan(0.06); // sd of the estimate ≈ 1.6 %
    pe.dispose();
    model.dispose();
    trainer.dispose();
  });
});

describe('Trainer with dp', () => {
  const DP: TrainOptions = {
    epochs: 2,
    batchSize: 16,
    learningRate: 0.05,
    seed: 4,
    dp: { noiseMultiplier: 0.8, clipNorm: 1, sampleRate: 0.1, randomness: 'seeded' },
  };

  it("is deterministic with randomness 'seeded', and takes ⌈1/q⌉ steps per epoch even when batches are empty", async () => {
    const d = randomData(60, [5], 6);
    const a = new Trainer({ kind: 'mlp', inputShape: [5] }, 2);
    const b = new Trainer({ kind: 'mlp', inputShape: [5] }, 2);
    const ra = await a.train(d, DP);
    await b.train(d, DP);
    expect(ra.steps).toBe(2 * stepsPerEpoch(0.1));
    expect(a.getWeights()).toEqual(b.getWeights());
    // Default randomness is the OS CSPRNG: two runs differ.
    const c = new Trainer({ kind: 'mlp', inputShape: [5] }, 2);
    const e = new Trainer({ kind: 'mlp', inputShape: [5] }, 2);
    const secure = { ...DP, dp: { noiseMultiplier: 0.8, clipNorm: 1, sampleRate: 0.1 } };
    await c.train(d, secure);
    await e.train(d, secure);
    expect(c.getWeights().tensors[0]!.data).not.toEqual(e.getWeights().tensors[0]!.data);
    // Tiny q: most Poisson batches are empty, each still a (noise-only) step.
    const tiny = await c.train(randomData(5, [5], 1), { ...DP, epochs: 1, dp: { ...DP.dp!, sampleRate: 0.02 } });
    expect(tiny.steps).toBe(50);
    expect(tiny.dp!.meanBatchSize).toBeLessThan(0.5);
    for (const t of [a, b, c, e]) t.dispose();
  });

  it('learns a separable problem with moderate noise, and leaves tf.memory() flat', async () => {
    const rng = createRng(1, 'test/sep');
    const n = 400;
    const x = new Float32Array(n * 5);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < 5; j++) {
        const v = rng.next() * 2 - 1;
        x[i * 5 + j] = v;
        s += v * [1.5, -2, 0.5, 1, -0.75][j]!;
      }
      y[i] = s > 0 ? 1 : 0;
    }
    const d: LabelledData = { x, y, n, featureShape: [5] };
    const t = new Trainer({ kind: 'logreg', inputShape: [5] }, 3);
    await t.train(d, { ...DP, epochs: 1 });
    const base = tf.memory().numTensors;
    const res = await t.train(d, { ...DP, epochs: 6 });
    expect(tf.memory().numTensors).toBe(base);
    const p = t.predict(x, n);
    let ok = 0;
    for (let i = 0; i < n; i++) if ((p[i]! > 0.5 ? 1 : 0) === y[i]) ok++;
    expect(ok / n).toBeGreaterThan(0.85);
    expect(res.dp!.clippedFraction).toBeGreaterThanOrEqual(0);
    t.dispose();
  });

  it('rejects bad DP options with TRAINER_OPTIONS_INVALID naming the field', async () => {
    const t = new Trainer({ kind: 'logreg', inputShape: [5] }, 1);
    const d = randomData(10, [5], 1);
    const field = async (dp: unknown): Promise<unknown> => {
      try {
        await t.train(d, { ...DP, dp: dp as TrainOptions['dp'] });
      } catch (e) {
        return [(e as { code: string }).code, (e as { fields: { field: string } }).fields.field];
      }
      return undefined;
    };
    expect(await field({ noiseMultiplier: 1, clipNorm: 1, sampleRate: 0 })).toEqual(['TRAINER_OPTIONS_INVALID', 'dp.sampleRate']);
    expect(await field({ noiseMultiplier: 0, clipNorm: 1, sampleRate: 0.1 })).toEqual(['TRAINER_OPTIONS_INVALID', 'dp.noiseMultiplier']);
    expect(await field({ noiseMultiplier: 1, clipNorm: -1, sampleRate: 0.1 })).toEqual(['TRAINER_OPTIONS_INVALID', 'dp.clipNorm']);
    expect(await field({ noiseMultiplier: 1, clipNorm: 1, sampleRate: 0.1, randomness: 'math' })).toEqual([
      'TRAINER_OPTIONS_INVALID',
      'dp.randomness',
    ]);
    t.dispose();
  });
});
