/**
 * The wasm `Conv2DBackpropFilter` kernel (node/ml/kernels/conv2d-backprop-filter.ts) against
 * (a) the cpu backend's native kernel, through `tf.grad` of conv2d w.r.t. the filter, and
 * (b) a float64 reference written from the definition, for attributes tf.grad cannot reach
 * (dilations: tfjs-core's conv2d gradient asserts dilation 1).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../node/ml/backend.js';
import {
  CONV2D_BACKPROP_FILTER,
  type Conv2DBackpropFilterAttrs,
  conv2dBackpropFilter,
} from '../../node/ml/kernels/conv2d-backprop-filter.js';
import { isFedmeshError } from '../../protocol/errors.js';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

/** Relative tolerance against the tensor's scale: float32 sums of up to a few thousand terms. */
const RTOL = 1e-4;

/** Deterministic, well-conditioned test values (no PRNG needed). */
function values(n: number, phase: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(i * 0.731 + phase) + 0.25 * Math.cos(i * 0.177);
  return out;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function expectClose(got: Float32Array, want: ArrayLike<number>, label: string): void {
  expect(got.length, label).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  expect(worst, `${label}: max |diff| ${worst} vs scale ${scale}`).toBeLessThanOrEqual(RTOL * Math.max(scale, 1e-3));
}

/** dW of sum(conv2d(x, w) * r) on `backend`: tf.grad routes through Conv2DBackpropFilter with dy = r. */
async function filterGrad(
  backend: string,
  xShape: Shape4,
  wShape: Shape4,
  stride: number,
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): Promise<Float32Array> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const x = tf.tensor4d(values(size(xShape), 0.3), xShape);
    const w = tf.tensor4d(values(size(wShape), 1.7), wShape);
    const yShape = tf.conv2d(x, w, stride, pad, 'NHWC', 1, dimRoundingMode).shape;
    const r = tf.tensor4d(values(size(yShape), 2.9), yShape);
    const g = tf.grad((wt: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, wt as tf.Tensor4D, stride, pad, 'NHWC', 1, dimRoundingMode), r)))(w);
    return g.dataSync() as Float32Array;
  });
}

/** The kernel called directly with dy = values(…, 2.9), as `filterGrad` uses: the registered
 *  kernel on `backend`, or `conv2dBackpropFilter` with a forced method on wasm. */
async function direct(
  backend: string,
  xShape: Shape4,
  wShape: Shape4,
  stride: number,
  pad: Pad,
  method?: 'conv' | 'im2col',
): Promise<Float32Array> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(xShape, wShape, stride, 1, pad);
    const dyShape: Shape4 = [xShape[0], info.outHeight, info.outWidth, wShape[3]];
    const x = tf.tensor4d(values(size(xShape), 0.3), xShape);
    const dy = tf.tensor4d(values(size(dyShape), 2.9), dyShape);
    const attrs: Conv2DBackpropFilterAttrs = { strides: stride, pad, dataFormat: 'NHWC', filterShape: wShape };
    const out =
      method === undefined
        ? (tf.engine().runKernel(CONV2D_BACKPROP_FILTER, { x, dy }, { ...attrs }) as tf.Tensor)
        : conv2dBackpropFilter(x, dy, attrs, method);
    return out.dataSync() as Float32Array;
  });
}

/** Float64 dW from the definition (NHWC). Reads outside x are zeros; 'same' pads as TF does
 *  (the odd pixel goes at the end, tensorflow/core/framework/kernel_shape_util.cc). */
function referenceGrad(
  x: Float32Array,
  xShape: Shape4,
  dy: Float32Array,
  dyShape: Shape4,
  filterShape: Shape4,
  stride: number,
  dilation: number,
  pad: 'same' | 'valid' | number,
): Float64Array {
  const [n, h, w, ci] = xShape;
  const [, oh, ow, co] = dyShape;
  const [kh, kw] = filterShape;
  let top = 0;
  let left = 0;
  if (typeof pad === 'number') {
    top = pad;
    left = pad;
  } else if (pad === 'same') {
    top = Math.floor(Math.max((oh - 1) * stride + (kh - 1) * dilation + 1 - h, 0) / 2);
    left = Math.floor(Math.max((ow - 1) * stride + (kw - 1) * dilation + 1 - w, 0) / 2);
  }
  const out = new Float64Array(kh * kw * ci * co);
  for (let a = 0; a < kh; a++)
    for (let b = 0; b < kw; b++)
      for (let c = 0; c < ci; c++)
        for (let d = 0; d < co; d++) {
          let s = 0;
          for (let i = 0; i < n; i++)
            for (let p = 0; p < oh; p++)
              for (let q = 0; q < ow; q++) {
                const r = p * stride + a * dilation - top;
                const col = q * stride + b * dilation - left;
                if (r < 0 || r >= h || col < 0 || col >= w) continue;
                s += x[((i * h + r) * w + col) * ci + c]! * dy[((i * oh + p) * ow + q) * co + d]!;
              }
          out[((a * kw + b) * ci + c) * co + d] = s;
        }
  return out;
}

beforeAll(async () => {
  const sel = await selectBackend({ prefer: 'wasm' });
  expect(sel.name).toBe('wasm');
});

describe('wasm Conv2DBackpropFilter vs cpu backend (tf.grad of conv2d w.r.t. filter)', () => {
  const cases: { xShape: Shape4; k: number; co: number; stride: number; pad: 'same' | 'valid' }[] = [];
  for (const stride of [1, 2])
    for (const pad of ['same', 'valid'] as const)
      for (const k of [3, 5])
        for (const ci of [1, 3])
          for (const batch of [1, 4]) {
            // Non-square, and odd/even mixes so 'same' needs asymmetric padding with stride 2.
            const xShape: Shape4 = batch === 1 ? [1, 9, 7, ci] : [4, 8, 11, ci];
            cases.push({ xShape, k, co: 2 + ci, stride, pad });
          }

  it.each(cases)('x=$xShape k=$k co=$co stride=$stride pad=$pad', async ({ xShape, k, co, stride, pad }) => {
    const wShape: Shape4 = [k, k, xShape[3], co];
    const cpu = await filterGrad('cpu', xShape, wShape, stride, pad);
    const wasm = await filterGrad('wasm', xShape, wShape, stride, pad);
    expectClose(wasm, cpu, 'wasm vs cpu');
    // The fallback path, forced, on the same problem (dy = the r used inside filterGrad).
    const im2col = await direct('wasm', xShape, wShape, stride, pad, 'im2col');
    expectClose(im2col, cpu, 'wasm im2col vs cpu');
  });

  it.each([
    {
      name: 'explicit asymmetric padding',
      pad: [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ] as Pad,
      stride: 2,
    },
    { name: 'numeric pad, dimRoundingMode floor', pad: 2 as Pad, stride: 3, mode: 'floor' as const },
    { name: 'stride 3, valid', pad: 'valid' as Pad, stride: 3 },
  ])('$name', async ({ pad, stride, mode }) => {
    const xShape: Shape4 = [2, 10, 9, 2];
    const wShape: Shape4 = [3, 3, 2, 3];
    const cpu = await filterGrad('cpu', xShape, wShape, stride, pad, mode);
    const wasm = await filterGrad('wasm', xShape, wShape, stride, pad, mode);
    expectClose(wasm, cpu, 'wasm vs cpu');
  });

  it('a larger batch (32 x 28x28x1, 3x3x1x8) matches within tolerance', async () => {
    const cpu = await filterGrad('cpu', [32, 28, 28, 1], [3, 3, 1, 8], 1, 'valid');
    const wasm = await filterGrad('wasm', [32, 28, 28, 1], [3, 3, 1, 8], 1, 'valid');
    expectClose(wasm, cpu, 'wasm vs cpu');
  });
});

describe('wasm Conv2DBackpropFilter vs float64 reference (direct kernel call)', () => {
  it.each(
    [
      { stride: 1, dilation: 1, pad: 'same' as const },
      { stride: 2, dilation: 1, pad: 'same' as const },
      { stride: 1, dilation: 2, pad: 'same' as const },
      { stride: 1, dilation: 2, pad: 'valid' as const },
      { stride: 3, dilation: 1, pad: 'valid' as const },
      { stride: 2, dilation: 2, pad: 'valid' as const }, // conv path cannot: auto = im2col
    ].flatMap((c) => [
      { ...c, method: 'auto' as const },
      { ...c, method: 'im2col' as const },
    ]),
  )('stride=$stride dilation=$dilation pad=$pad method=$method', async ({ stride, dilation, pad, method }) => {
    await tf.setBackend('wasm');
    const xShape: Shape4 = [3, 11, 9, 2];
    const filterShape: Shape4 = [3, 3, 2, 4];
    const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, stride, dilation, pad);
    const dyShape: Shape4 = [3, info.outHeight, info.outWidth, 4];
    const xv = values(size(xShape), 0.1);
    const dyv = values(size(dyShape), 0.9);
    const attrs: Conv2DBackpropFilterAttrs = { strides: stride, pad, dataFormat: 'NHWC', filterShape, dilations: dilation };
    const got = tf.tidy(() => {
      const x = tf.tensor4d(xv, xShape);
      const dy = tf.tensor4d(dyv, dyShape);
      const out =
        method === 'auto'
          ? (tf.engine().runKernel(CONV2D_BACKPROP_FILTER, { x, dy }, { ...attrs }) as tf.Tensor)
          : conv2dBackpropFilter(x, dy, attrs, method);
      return out.dataSync() as Float32Array;
    });
    const want = referenceGrad(xv, xShape, dyv, dyShape, filterShape, stride, dilation, pad);
    expectClose(got, want, 'wasm vs reference');
  });

  // tfjs-core's conv2d gradient drops dimRoundingMode, so the cpu backend's kernel sizes dy by
  // 'floor' and ignores its last row: only the reference can judge this case.
  it('numeric pad with dimRoundingMode ceil through tf.grad (dy sized by ceil)', async () => {
    await tf.setBackend('wasm');
    const xShape: Shape4 = [2, 10, 9, 2];
    const filterShape: Shape4 = [3, 3, 2, 3];
    const xv = values(size(xShape), 0.3);
    const { got, dyShape, dyv } = tf.tidy(() => {
      const x = tf.tensor4d(xv, xShape);
      const w = tf.tensor4d(values(size(filterShape), 1.7), filterShape);
      const yShape = tf.conv2d(x, w, 2, 1, 'NHWC', 1, 'ceil').shape as Shape4;
      const dyv = values(size(yShape), 2.9);
      const r = tf.tensor4d(dyv, yShape);
      const g = tf.grad((wt: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, wt as tf.Tensor4D, 2, 1, 'NHWC', 1, 'ceil'), r)))(w);
      return { got: g.dataSync() as Float32Array, dyShape: yShape, dyv };
    });
    expect(dyShape).toEqual([2, 6, 5, 3]);
    expectClose(got, referenceGrad(xv, xShape, dyv, dyShape, filterShape, 2, 1, 1), 'wasm vs reference');
  });

  it('NCHW inputs give the NHWC answer', async () => {
    await tf.setBackend('wasm');
    const xShape: Shape4 = [2, 7, 6, 3];
    const filterShape: Shape4 = [3, 3, 3, 2];
    const dyShape: Shape4 = [2, 4, 3, 2];
    const xv = values(size(xShape), 0.2);
    const dyv = values(size(dyShape), 0.4);
    const [nhwc, nchw] = tf.tidy(() => {
      const x = tf.tensor4d(xv, xShape);
      const dy = tf.tensor4d(dyv, dyShape);
      const attrs = { strides: 2, pad: 'same', filterShape };
      const a = tf.engine().runKernel(CONV2D_BACKPROP_FILTER, { x, dy }, { ...attrs, dataFormat: 'NHWC' }) as tf.Tensor;
      const b = tf
        .engine()
        .runKernel(
          CONV2D_BACKPROP_FILTER,
          { x: tf.transpose(x, [0, 3, 1, 2]), dy: tf.transpose(dy, [0, 3, 1, 2]) },
          { ...attrs, dataFormat: 'NCHW' },
        ) as tf.Tensor;
      return [a.dataSync() as Float32Array, b.dataSync() as Float32Array];
    });
    expectClose(nchw, nhwc, 'NCHW vs NHWC');
  });

  it("method 'conv' refuses strides > 1 with dilations > 1 (KERNEL_UNSUPPORTED_ATTRS)", async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 9, 9, 1]) as tf.Tensor4D;
    const dy = tf.zeros([1, 3, 3, 1]) as tf.Tensor4D;
    let caught: unknown;
    try {
      conv2dBackpropFilter(x, dy, { strides: 2, dilations: 2, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 1, 1] }, 'conv');
    } catch (e) {
      caught = e;
    }
    tf.dispose([x, dy]);
    expect(isFedmeshError(caught, 'KERNEL_UNSUPPORTED_ATTRS')).toBe(true);
  });

  it('rejects a dy whose shape does not match the forward output, with a typed error', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 5, 5, 1]);
    const dy = tf.zeros([1, 4, 4, 2]);
    let caught: unknown;
    try {
      tf.engine().runKernel(CONV2D_BACKPROP_FILTER, { x, dy }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 1, 2] });
    } catch (e) {
      caught = e;
    }
    tf.dispose([x, dy]);
    expect(isFedmeshError(caught, 'KERNEL_SHAPE_MISMATCH')).toBe(true);
  });
});

describe('memory', () => {
  it('repeated kernel calls and gradients leave tf.memory().numTensors flat', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(values(4 * 8 * 8 * 3, 0), [4, 8, 8, 3]);
    const w = tf.tensor4d(values(3 * 3 * 3 * 5, 1), [3, 3, 3, 5]);
    const dy = tf.tensor4d(values(4 * 4 * 4 * 5, 2), [4, 4, 4, 5]);
    const dy2 = tf.tensor4d(values(4 * 2 * 2 * 5, 3), [4, 2, 2, 5]);
    const run = () => {
      const out = tf
        .engine()
        .runKernel(
          CONV2D_BACKPROP_FILTER,
          { x, dy },
          { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 3, 5] },
        ) as tf.Tensor;
      out.dataSync();
      out.dispose();
      // Strides and dilations > 1 together: the im2col path.
      const out2 = tf
        .engine()
        .runKernel(
          CONV2D_BACKPROP_FILTER,
          { x, dy: dy2 },
          { strides: 2, dilations: 2, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 3, 5] },
        ) as tf.Tensor;
      out2.dispose();
      const g = tf.grad((wt: tf.Tensor) => tf.sum(tf.conv2d(x, wt as tf.Tensor4D, 1, 'same')))(w);
      g.dispose();
    };
    run(); // warm-up: first calls may allocate lazily
    const before = tf.memory();
    for (let i = 0; i < 10; i++) run();
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    expect(after.numBytes).toBe(before.numBytes);
    tf.dispose([x, w, dy, dy2]);
  });
});

describe('CNN training on wasm', () => {
  /** conv(4,3x3)+relu → maxpool 2 → conv(6,3x3)+relu → maxpool 2 → flatten → dense(1) as raw ops,
   *  so the test does not depend on the trainer module. */
  function makeParams(): tf.Variable[] {
    // tidy disposes the initial-value tensors; variables are never tidied.
    return tf.tidy(() => [
      tf.variable(tf.tensor4d(values(3 * 3 * 1 * 4, 0.5), [3, 3, 1, 4]).mul(0.4)),
      tf.variable(tf.zeros([4])),
      tf.variable(tf.tensor4d(values(3 * 3 * 4 * 6, 1.5), [3, 3, 4, 6]).mul(0.25)),
      tf.variable(tf.zeros([6])),
      tf.variable(tf.tensor2d(values(2 * 2 * 6, 2.5), [2 * 2 * 6, 1]).mul(0.3)),
      tf.variable(tf.zeros([1])),
    ]);
  }
  function forward(p: tf.Variable[], x: tf.Tensor4D): tf.Tensor {
    const [w1, b1, w2, b2, w3, b3] = p as [tf.Variable, tf.Variable, tf.Variable, tf.Variable, tf.Variable, tf.Variable];
    let h = tf.relu(tf.add(tf.conv2d(x, w1 as tf.Tensor4D, 1, 'valid'), b1)) as tf.Tensor4D;
    h = tf.maxPool(h, 2, 2, 'valid');
    h = tf.relu(tf.add(tf.conv2d(h, w2 as tf.Tensor4D, 1, 'valid'), b2)) as tf.Tensor4D;
    h = tf.maxPool(h, 2, 2, 'valid');
    return tf.add(tf.matMul(tf.reshape(h, [x.shape[0], -1]), w3 as tf.Tensor2D), b3);
  }
  /** 14x14 images: label 1 when the bright bar is vertical, 0 when horizontal. */
  function bars(n: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
    const xv = new Float32Array(n * 14 * 14);
    const yv = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const vertical = i % 2 === 0;
      const at = 2 + ((i * 5) % 10);
      for (let t = 0; t < 14; t++) {
        const idx = vertical ? t * 14 + at : at * 14 + t;
        xv[i * 196 + idx] = 1;
      }
      yv[i] = vertical ? 1 : 0;
    }
    return { x: tf.tensor4d(xv, [n, 14, 14, 1]), y: tf.tensor2d(yv, [n, 1]) };
  }

  it('full-network gradients (Conv2DBackpropFilter/Input, MaxPoolGrad) match the cpu backend', async () => {
    const grads: Float32Array[][] = [];
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      const p = makeParams();
      const { x, y } = bars(6);
      const { grads: g } = tf.variableGrads(() => tf.losses.sigmoidCrossEntropy(y, forward(p, x)) as tf.Scalar, p);
      grads.push(p.map((v) => g[v.name]!.dataSync() as Float32Array));
      tf.dispose([...Object.values(g), x, y, ...p]);
    }
    grads[0]!.forEach((cpu, i) => {
      expectClose(grads[1]![i]!, cpu, `param ${i}`);
    });
  });

  it('a tiny CNN trains for a few steps and the loss decreases', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const p = makeParams();
    const { x, y } = bars(16);
    const opt = tf.train.adam(0.02);
    const losses: number[] = [];
    for (let step = 0; step < 15; step++) {
      const loss = opt.minimize(() => tf.losses.sigmoidCrossEntropy(y, forward(p, x)) as tf.Scalar, true, p)!;
      losses.push(loss.dataSync()[0]!);
      loss.dispose();
    }
    opt.dispose();
    tf.dispose([x, y, ...p]);
    expect(tf.memory().numTensors).toBe(before);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.7);
  });
});
