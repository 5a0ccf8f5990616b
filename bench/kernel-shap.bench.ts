/**
 * KernelSHAP against permutation sampling at equal cost, and KernelSHAP's time per row (issue 16).
 *
 *   npx tsx bench/kernel-shap.bench.ts [--seeds 1,2,3,4,5]
 *
 * Accuracy: an MLP [16] trained on a synthetic 10-feature binary task with order-2 and order-3
 * interactions; 20 rows explained against 32 background rows; the reference is exact enumeration
 * of all 2^10 coalitions (node/ml/kernel-shap.ts `exactShapley`). Each estimator gets the same
 * number of model evaluations per row: KernelSHAP with K coalitions costs (K + 2)·|B|; antithetic
 * permutation sampling with s samples costs s·(M + 1) (node/ml/explain.ts `shapley`). The error is
 * the RMS difference from the exact values over all rows and features, relative to the RMS of the
 * exact values; mean ± sd over seeds (the estimators' seeds; the model and data are fixed).
 *
 * Time: KernelSHAP at its default budget (2M + 2048 coalitions) with 64 background rows for an
 * MLP [16] on 30 features (the breast-cancer width), seconds per explained row.
 *
 * Output: a table on stdout and bench/results/kernel-shap.json with the load average.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createRng } from '../protocol/rng.js';
import { selectBackend } from '../node/ml/backend.js';
import { modelValueFunction, shapley } from '../node/ml/explain.js';
import { defaultKernelSamples, exactShapley, kernelShap } from '../node/ml/kernel-shap.js';
import { Trainer } from '../node/ml/trainer.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const seeds = arg('seeds', '1,2,3,4,5').split(',').map(Number);
const load0 = loadavg();

await selectBackend({ prefer: 'wasm', log: () => {} });

const M = 10;
const rng = createRng(1, 'bench/kernel-shap');
const rows = (n: number, m: number) => Float32Array.from({ length: n * m }, () => rng.next() * 2 - 1);
const n = 2000;
const x = rows(n, M);
const y = Uint8Array.from({ length: n }, (_, i) => {
  const r = x.subarray(i * M, (i + 1) * M);
  const z = 1.5 * r[0]! * r[1]! + 2 * Math.sign(r[2]! * r[3]! * r[4]!) * 0.5 + r[5]! - 0.5 * r[6]! + 0.8 * Math.max(r[7]!, r[8]!);
  return z > 0.2 ? 1 : 0;
});
const t = new Trainer({ kind: 'mlp', inputShape: [M], hidden: [16] }, 1);
await t.train({ x, y, n, featureShape: [M] }, { epochs: 30, batchSize: 64, learningRate: 0.01, seed: 1 });
const fn = modelValueFunction(t.layersModel, 0, 'output');
const explained = rows(20, M);
const bg = rows(32, M);
const exact = exactShapley(fn, explained, 20, bg, 32);
const rms = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((a, b) => a + b * b, 0) / v.length);
const scale = rms(exact.values);
const relErr = (v: ArrayLike<number>) => rms(Array.from(v, (a, i) => a - exact.values[i]!)) / scale;
const stats = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, sd: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1)) };
};

const accuracy: {
  coalitions: number;
  evaluations: number;
  kernel: { mean: number; sd: number };
  permutation: { mean: number; sd: number };
  permSamples: number;
}[] = [];
console.log(
  `accuracy: MLP [16] on ${M} features, 20 rows, |B| = 32, exact = all ${2 ** M - 2} coalitions; relative RMS error, mean ± sd over seeds ${seeds.join(',')}`,
);
console.log('coalitions  evaluations/row  KernelSHAP         permutation (samples)');
for (const k of [24, 64, 128, 256, 512]) {
  const evaluations = (k + 2) * 32;
  const permSamples = 2 * Math.max(1, Math.round(evaluations / (M + 1) / 2));
  const ker = stats(seeds.map((s) => relErr(kernelShap(fn, explained, 20, bg, 32, { samples: k, seed: s }).values)));
  const perm = stats(seeds.map((s) => relErr(shapley(t.layersModel, explained, 20, bg, 32, { samples: permSamples, seed: s }).values)));
  accuracy.push({ coalitions: k, evaluations, kernel: ker, permutation: perm, permSamples });
  console.log(
    `${String(k).padStart(10)}  ${String(evaluations).padStart(15)}  ${ker.mean.toFixed(4)} ± ${ker.sd.toFixed(4)}    ${perm.mean.toFixed(4)} ± ${perm.sd.toFixed(4)} (${permSamples})`,
  );
}
t.dispose();

const W = 30;
const wide = new Trainer({ kind: 'mlp', inputShape: [W], hidden: [16] }, 2);
const budget = defaultKernelSamples(W);
const wfn = modelValueFunction(wide.layersModel, 0, 'output');
const wx = rows(4, W);
const wbg = rows(64, W);
const started = performance.now();
kernelShap(wfn, wx, 4, wbg, 64, { samples: budget, seed: 1 });
const perRow = (performance.now() - started) / 1000 / 4;
wide.dispose();
console.log(`time: KernelSHAP, MLP [16] on ${W} features, ${budget} coalitions × 64 background rows: ${perRow.toFixed(2)} s per row`);

const out = {
  date: new Date().toISOString(),
  loadavg: { start: load0, end: loadavg() },
  accuracy,
  time: { features: W, coalitions: budget, background: 64, secondsPerRow: perRow },
};
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(join(import.meta.dirname, 'results', 'kernel-shap.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(
  `load average ${load0.map((l) => l.toFixed(2)).join(' ')} → ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
