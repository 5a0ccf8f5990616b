/**
 * Benchmark: the cost of DP-SGD (node/ml/dp-sgd.ts — per-example norms by the dense norm trick
 * and im2col for convs, clipping, noise) relative to plain training, in the same process on the
 * same data and backend. Target (issue 5): DP-SGD epoch time ÷ SGD epoch time ≤ 3 for the MLP and
 * the small CNN; Opacus reports about 1.5–2×.
 *
 * Both arms run through the public `Trainer.train` (same optimizer: Adam; same per-step yield to
 * the event loop). An SGD epoch is ⌈N/B⌉ shuffled batches of B; a DP-SGD epoch is ⌈1/q⌉ Poisson
 * batches at q = B/N (expected size B). Each arm is timed for `EPOCHS` single-epoch runs after one
 * warm-up epoch, alternating arms, and the median is reported.
 *
 * The Keras path of plain training (`model.apply` + `optimizer.minimize`) carries more per-step
 * overhead than the functional forward DP-SGD uses, so the epoch ratio understates the cost of
 * privacy on small models. A second, like-for-like measurement times one batch's gradient through
 * the same functional forward (node/ml/dp-sgd.ts `logits`): the non-private mean gradient
 * (`tf.variableGrads`) against the clipped per-example sum (`clippedSum`), median of many runs.
 *
 * Models and data: the MLP (30 → 16 → 1) on Breast Cancer Wisconsin (569 rows, standardised);
 * the CNN (conv 3×3×8 → pool → conv 3×3×16 → pool → dense 32 → 1) on the PneumoniaMNIST balanced
 * train split (2,428 images, 28×28×1, data/medmnist).
 *
 * Run: npm run bench:dp  (prints a table, writes bench/results/dp-sgd.json)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import '../node/polyfills.js';
import { loadBreastCancer } from '../node/data/breast-cancer.js';
import { loadPneumoniaMnist } from '../node/data/medmnist.js';
import { selectBackend } from '../node/ml/backend.js';
import * as tf from '@tensorflow/tfjs';
import { PerExampleGradients } from '../node/ml/dp-sgd.js';
import { createModel, type LabelledData, type ModelSpec, Trainer, type TrainOptions } from '../node/ml/trainer.js';
import { fitStandardizer, standardize } from '../protocol/data.js';

const EPOCHS = Number(process.env.DP_BENCH_EPOCHS ?? 5);
const TARGET_RATIO = 3;

interface Case {
  name: string;
  spec: ModelSpec;
  data: () => LabelledData;
  batchSize: number;
}

const breastCancer = (): LabelledData => {
  const d = loadBreastCancer();
  return standardize(d, fitStandardizer(d));
};

const CASES: Case[] = [
  { name: 'MLP, breast cancer, B=16', spec: { kind: 'mlp', inputShape: [30] }, data: breastCancer, batchSize: 16 },
  { name: 'MLP, breast cancer, B=64', spec: { kind: 'mlp', inputShape: [30] }, data: breastCancer, batchSize: 64 },
  {
    name: 'CNN, pneumonia 28x28, B=32',
    spec: { kind: 'cnn', inputShape: [28, 28, 1] },
    data: () => loadPneumoniaMnist('train'),
    batchSize: 32,
  },
  {
    name: 'CNN, pneumonia 28x28, B=64',
    spec: { kind: 'cnn', inputShape: [28, 28, 1] },
    data: () => loadPneumoniaMnist('train'),
    batchSize: 64,
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median ms of `fn` (which returns tensors to read back and dispose) over ~1.5 s after warm-up. */
function timeMs(fn: () => tf.Tensor[]): number {
  for (let i = 0; i < 3; i++) {
    const out = fn();
    for (const t of out) t.dataSync();
    tf.dispose(out);
  }
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < 200 && performance.now() - start < 1500) {
    const t0 = performance.now();
    const out = fn();
    for (const t of out) t.dataSync();
    samples.push(performance.now() - t0);
    tf.dispose(out);
  }
  return median(samples);
}

/** One batch of B rows: functional non-private gradient vs clipped per-example sum. */
function stepComparison(c: Case, data: LabelledData): { sgdStepMs: number; dpStepMs: number } {
  const model = createModel(c.spec, 1);
  const pe = new PerExampleGradients(model);
  const f = data.x.length / data.n;
  const xs = tf.tensor(data.x.subarray(0, c.batchSize * f), [c.batchSize, ...c.spec.inputShape]);
  const ys = tf.tensor2d(Float32Array.from(data.y.subarray(0, c.batchSize)), [c.batchSize, 1]);
  try {
    const sgdStepMs = timeMs(() =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const s = pe.logits(xs);
          return tf.mean(tf.sub(tf.softplus(s), tf.mul(ys, s))) as tf.Scalar;
        }, pe.variables as tf.Variable[]);
        return [value, ...Object.values(grads)];
      }),
    );
    const dpStepMs = timeMs(() =>
      tf.tidy(() => {
        const r = pe.clippedSum(xs, ys, 1);
        return [r.lossSum, r.norms, ...r.sums];
      }),
    );
    return { sgdStepMs, dpStepMs };
  } finally {
    tf.dispose([xs, ys]);
    pe.dispose();
    model.dispose();
  }
}

async function runCase(c: Case) {
  const data = c.data();
  const q = c.batchSize / data.n;
  const sgd: TrainOptions = { epochs: 1, batchSize: c.batchSize, learningRate: 0.001, seed: 1 };
  const dp: TrainOptions = { ...sgd, dp: { noiseMultiplier: 1, clipNorm: 1, sampleRate: q, randomness: 'seeded' } };
  const trainers = { sgd: new Trainer(c.spec, 1), dp: new Trainer(c.spec, 1) };
  const times: { sgd: number[]; dp: number[] } = { sgd: [], dp: [] };
  let dpInfo: { steps: number; meanBatchSize: number; clippedFraction: number } | undefined;
  let sgdSteps = 0;
  try {
    await trainers.sgd.train(data, sgd); // warm-up: kernels, allocations
    await trainers.dp.train(data, dp);
    for (let e = 0; e < EPOCHS; e++) {
      const order = e % 2 === 0 ? (['sgd', 'dp'] as const) : (['dp', 'sgd'] as const);
      for (const arm of order) {
        const res = await trainers[arm].train(data, { ...(arm === 'sgd' ? sgd : dp), seed: 100 + e });
        times[arm].push(res.seconds);
        if (arm === 'sgd') sgdSteps = res.steps;
        else dpInfo = { steps: res.steps, meanBatchSize: res.dp!.meanBatchSize, clippedFraction: res.dp!.clippedFraction };
      }
    }
  } finally {
    trainers.sgd.dispose();
    trainers.dp.dispose();
  }
  const sgdS = median(times.sgd);
  const dpS = median(times.dp);
  const step = stepComparison(c, data);
  return {
    case: c.name,
    model: c.spec.kind,
    rows: data.n,
    batchSize: c.batchSize,
    sampleRate: q,
    sgdEpochSeconds: sgdS,
    dpEpochSeconds: dpS,
    ratio: dpS / sgdS,
    functionalSgdStepMs: step.sgdStepMs,
    dpClippedSumStepMs: step.dpStepMs,
    stepRatio: step.dpStepMs / step.sgdStepMs,
    sgdStepsPerEpoch: sgdSteps,
    dpStepsPerEpoch: dpInfo?.steps ?? 0,
    dpMeanBatchSize: dpInfo?.meanBatchSize ?? 0,
    dpClippedFraction: dpInfo?.clippedFraction ?? 0,
    sgdSamples: times.sgd,
    dpSamples: times.dp,
  };
}

async function main(): Promise<void> {
  const backend = await selectBackend({ log: (m) => process.stdout.write(`${m}\n`) });
  const results = [];
  for (const c of CASES) results.push(await runCase(c));

  const pad = (s: string, n: number): string => s.padEnd(n);
  process.stdout.write(`\nDP-SGD vs SGD epoch time (median of ${EPOCHS}, backend ${backend.name}; target ratio <= ${TARGET_RATIO})\n`);
  process.stdout.write(
    `${pad('case', 30)}${pad('rows', 7)}${pad('SGD s/epoch', 13)}${pad('DP s/epoch', 12)}${pad('ratio', 8)}${pad('grad ms', 9)}${pad('DP grad ms', 12)}step ratio\n`,
  );
  for (const r of results) {
    process.stdout.write(
      `${pad(r.case, 30)}${pad(String(r.rows), 7)}${pad(r.sgdEpochSeconds.toFixed(3), 13)}${pad(r.dpEpochSeconds.toFixed(3), 12)}${pad(r.ratio.toFixed(2), 8)}${pad(r.functionalSgdStepMs.toFixed(2), 9)}${pad(r.dpClippedSumStepMs.toFixed(2), 12)}${r.stepRatio.toFixed(2)}${r.ratio <= TARGET_RATIO ? '' : '  (epoch ratio over target)'}\n`,
    );
  }
  process.stdout.write('ratio: epoch through Trainer.train; step ratio: one batch, functional forward, gradient only (no optimizer)\n');
  const out = {
    benchmark: 'dp-sgd',
    date: new Date().toISOString(),
    backend: backend.name,
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    epochsTimed: EPOCHS,
    targetRatio: TARGET_RATIO,
    results,
  };
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'dp-sgd.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`wrote ${file}\n`);
}

await main();
