/**
 * Benchmark: the custom wasm `Conv2DBackpropFilter` (node/ml/kernels/conv2d-backprop-filter.ts)
 * against the cpu backend's native kernel, the only other implementation available here
 * (tfjs-node cannot be installed). Baseline and candidate run in the same process on the same
 * inputs; each result is also checked against the baseline. The wasm forward `Conv2D` is timed
 * too, as a yardstick for what a native wasm kernel of the same size costs.
 *
 * Shapes are the project's small CNN (trainer.ts, batch 32, 28x28x1) plus a 'same'-padded and a
 * strided layer that exercise the other code paths.
 *
 * Run: npm run bench:kernels  (prints a table, writes bench/results/conv-backprop-filter.json)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../node/ml/backend.js';
import { CONV2D_BACKPROP_FILTER, type Conv2DBackpropFilterAttrs, conv2dBackpropFilter } from '../node/ml/kernels/conv2d-backprop-filter.js';

type Shape4 = [number, number, number, number];

interface Case {
  name: string;
  x: Shape4;
  filter: Shape4;
  stride: number;
  pad: 'same' | 'valid';
}

const CASES: Case[] = [
  { name: 'cnn conv1 28x28x1 -> 8, valid', x: [32, 28, 28, 1], filter: [3, 3, 1, 8], stride: 1, pad: 'valid' },
  { name: 'cnn conv2 13x13x8 -> 16, valid', x: [32, 13, 13, 8], filter: [3, 3, 8, 16], stride: 1, pad: 'valid' },
  { name: '14x14x8 -> 16, same', x: [32, 14, 14, 8], filter: [3, 3, 8, 16], stride: 1, pad: 'same' },
  { name: '28x28x8 -> 16, same, stride 2', x: [32, 28, 28, 8], filter: [3, 3, 8, 16], stride: 2, pad: 'same' },
];

/** Stop repeating a measurement after this many runs or this much time, whichever first. */
const MAX_RUNS = 50;
const MAX_MS = 1500;
const WARMUP_RUNS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fill(n: number, phase: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.731 + phase);
  return a;
}

/** Median wall time of `fn` (ms); `fn` returns a tensor that is read back and disposed. */
function time(fn: () => tf.Tensor): { ms: number; runs: number; out: Float32Array } {
  let out: Float32Array = new Float32Array(0);
  for (let i = 0; i < WARMUP_RUNS; i++) {
    const t = fn();
    out = t.dataSync() as Float32Array;
    t.dispose();
  }
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < MAX_RUNS && performance.now() - start < MAX_MS) {
    const t0 = performance.now();
    const t = fn();
    t.dataSync();
    samples.push(performance.now() - t0);
    t.dispose();
  }
  return { ms: median(samples), runs: samples.length, out };
}

async function runCase(c: Case) {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.stride, 1, c.pad);
  const dyShape: Shape4 = [c.x[0], info.outHeight, info.outWidth, c.filter[3]];
  const xv = fill(
    c.x.reduce((a, b) => a * b),
    0.1,
  );
  const dyv = fill(
    dyShape.reduce((a, b) => a * b),
    0.7,
  );
  const wv = fill(
    c.filter.reduce((a, b) => a * b),
    1.3,
  );
  const attrs: Conv2DBackpropFilterAttrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter };

  const measure = async (backend: string) => {
    await tf.setBackend(backend);
    const x = tf.tensor4d(xv, c.x);
    const dy = tf.tensor4d(dyv, dyShape);
    const w = tf.tensor4d(wv, c.filter);
    const grad = time(() => tf.engine().runKernel(CONV2D_BACKPROP_FILTER, { x, dy }, { ...attrs }) as tf.Tensor);
    const fwd = time(() => tf.conv2d(x, w, c.stride, c.pad));
    // The fallback method, only meaningful on wasm (on cpu the registered kernel is native).
    const im2col = backend === 'wasm' ? time(() => conv2dBackpropFilter(x, dy, attrs, 'im2col')) : undefined;
    tf.dispose([x, dy, w]);
    return { grad, fwd, im2col };
  };
  const cpu = await measure('cpu');
  const wasm = await measure('wasm');

  let maxAbsDiff = 0;
  let scale = 0;
  cpu.grad.out.forEach((v, i) => {
    scale = Math.max(scale, Math.abs(v));
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v - wasm.grad.out[i]!));
  });
  return {
    case: c.name,
    x: c.x,
    filter: c.filter,
    dy: dyShape,
    stride: c.stride,
    pad: c.pad,
    cpuNativeMs: cpu.grad.ms,
    wasmCustomMs: wasm.grad.ms,
    wasmIm2colMs: wasm.im2col?.ms ?? Number.NaN,
    speedup: cpu.grad.ms / wasm.grad.ms,
    wasmForwardConvMs: wasm.fwd.ms,
    cpuForwardConvMs: cpu.fwd.ms,
    runs: { cpu: cpu.grad.runs, wasm: wasm.grad.runs },
    maxRelDiff: maxAbsDiff / Math.max(scale, 1e-12),
  };
}

async function main(): Promise<void> {
  await selectBackend({ prefer: 'wasm', log: (m) => console.log(m) });
  const results = [];
  for (const c of CASES) results.push(await runCase(c));

  const pad = (s: string, n: number) => s.padEnd(n);
  const num = (v: number, d = 2) => v.toFixed(d).padStart(9);
  console.log(
    `\n${pad('case', 34)}${'cpu ms'.padStart(9)}${'wasm ms'.padStart(9)}${'speedup'.padStart(10)}${'im2col'.padStart(9)}${'fwd wasm'.padStart(9)}${'fwd cpu'.padStart(9)}  max rel diff`,
  );
  for (const r of results) {
    console.log(
      `${pad(r.case, 34)}${num(r.cpuNativeMs)}${num(r.wasmCustomMs)}${num(r.speedup, 1)}x${num(r.wasmIm2colMs)}${num(r.wasmForwardConvMs)}${num(r.cpuForwardConvMs)}  ${r.maxRelDiff.toExponential(1)}`,
    );
  }
  console.log('\n"cpu ms": cpu backend native Conv2DBackpropFilter; "wasm ms": fedmesh kernel on wasm (auto method);');
  console.log('"im2col": the fallback method forced on wasm; "fwd": Conv2D forward, native on both backends.');
  console.log('All times are medians of repeated runs, in ms.');

  const here = path.dirname(fileURLToPath(import.meta.url));
  const outDir = path.join(here, 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'conv-backprop-filter.json');
  const report = {
    bench: 'conv-backprop-filter',
    date: new Date().toISOString(),
    node: process.version,
    tfjs: tf.version_core,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    wasmSimd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    wasmThreads: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
    method: { warmupRuns: WARMUP_RUNS, maxRuns: MAX_RUNS, maxMsPerMeasurement: MAX_MS, statistic: 'median' },
    results,
  };
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

await main();
