/**
 * `Conv2DBackpropFilter` for the tfjs wasm backend.
 *
 * Why this exists: @tensorflow/tfjs-backend-wasm 4.22.0 ships `Conv2D`, `Conv2DBackpropInput`,
 * `MaxPoolGrad` and `AvgPoolGrad` but no `Conv2DBackpropFilter`, so `tf.grad` of any conv2d
 * w.r.t. its filter (i.e. every CNN training step) throws "Kernel 'Conv2DBackpropFilter' not
 * registered for backend 'wasm'". The cpu backend has the kernel, but it is ~130x slower than
 * this one on the project's CNN shapes (bench/conv-backprop-filter.bench.ts), and switching
 * backends for one op would copy every tensor across; so we fill the single gap instead.
 *
 * Maths: TensorFlow defines conv2d (tf.nn.conv2d docs; tfjs follows it) as
 *   y[n, oh, ow, co] = Σ_{kh, kw, ci} x_pad[n, oh·sH + kh·dH, ow·sW + kw·dW, ci] · W[kh, kw, ci, co]
 * with x_pad the input zero-padded by the forward pass's padding. Differentiating by W:
 *
 *   dW[kh, kw, ci, co] = Σ_{n, oh, ow} x_pad[n, oh·sH + kh·dH, ow·sW + kw·dW, ci] · dy[n, oh, ow, co]
 *
 * Two implementations, both made only of kernels the wasm backend registers:
 *
 *  - `conv` (default): the sum above is itself a 'valid' convolution with batch and channels
 *    swapped. Input x_pad transposed to [CI, H, W, N] (CI as batch, N as channels), filter dy
 *    transposed to [OH, OW, N, CO]; the forward stride s becomes the filter's dilation and the
 *    forward dilation d becomes the stride, giving [CI, KH, KW, CO], transposed to dW. (Read the
 *    sum above with n as the contracted channel axis and (oh, ow) as filter taps.) It runs on
 *    wasm's native (XNNPACK) Conv2D and is 2-10x faster than `im2col` on the bench shapes.
 *    tfjs's conv2d refuses strides > 1 together with dilations > 1, so that one combination
 *    falls back to `im2col`.
 *  - `im2col` (Chellapilla et al. 2006, "High performance convolutional neural networks for
 *    document processing"): for each filter tap a slice of x_pad gives the [N·OH·OW, CI] patch
 *    matrix; one batched `matMul(patches, dy, transposeA)` gives dW[tap, ci, co]. Strides are
 *    handled by a polyphase split (one Transpose) so every slice has unit stride and copies
 *    contiguous runs; wasm's StridedSlice is about 10x slower than its Slice.
 *
 * Rejected alternative: viewing the problem as a depth-1 3-D convolution and calling wasm's
 * native `Conv3DBackpropFilterV2`. It is slower than `conv`, and in tfjs-backend-wasm 4.22.0 it
 * returns wrong values whenever the height or width stride is > 1 (checked against the cpu
 * backend's kernel).
 *
 * x is first zero-padded by the forward pass's padding and padded/cropped to the extent the
 * forward pass could read, which turns every padding mode ('same', 'valid', numeric with any
 * dimRoundingMode, explicit) into a 'valid' problem.
 *
 * Other training gaps in wasm 4.22 (kernels the cpu backend has and wasm lacks):
 * DepthwiseConv2dNativeBackpropFilter/Input (depthwiseConv2d/separableConv2d layers) and
 * UnsortedSegmentSum (the gradient of gather, i.e. embedding layers). trainer.ts uses only dense,
 * conv2d, maxPooling2d and flatten, whose other gradients (Conv2DBackpropInput, MaxPoolGrad, Step
 * for relu, ...) wasm has natively; tests compare a whole CNN's gradients against cpu.
 *
 * The kernel runs ordinary tfjs ops. A kernelFunc receives backend TensorInfos, not Tensors, and
 * must return a TensorInfo whose backend buffer the engine will own; see `kernelFunc` below for
 * how references are balanced so `tf.memory().numTensors` stays flat.
 */
import * as tf from '@tensorflow/tfjs';
import { FedmeshError } from '../../../protocol/errors.js';

export const CONV2D_BACKPROP_FILTER = 'Conv2DBackpropFilter';

type Shape4 = [number, number, number, number];

/** Attributes tfjs-core's `conv2DBackpropFilter` op passes (kernel_names.d.ts), plus TF's `dilations`. */
export interface Conv2DBackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
  /** Not sent by tfjs-core 4.22 (its conv2d gradient rejects dilation > 1) but part of TF's op. */
  dilations?: [number, number] | number;
}

export type KernelErrorCode = 'KERNEL_SHAPE_MISMATCH' | 'KERNEL_DTYPE_UNSUPPORTED' | 'KERNEL_UNSUPPORTED_ATTRS';

export type Conv2DBackpropFilterMethod = 'auto' | 'conv' | 'im2col';

/**
 * Computes dW with tfjs ops on whatever backend is current (exported so tests and the bench can
 * run it on the cpu backend too, and force a method). 'auto' uses `conv` unless both strides and
 * dilations exceed 1. Caller owns the result; intermediates are disposed.
 */
export function conv2dBackpropFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  attrs: Conv2DBackpropFilterAttrs,
  method: Conv2DBackpropFilterMethod = 'auto',
): tf.Tensor4D {
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new FedmeshError<KernelErrorCode, { kernel: string; x: string; dy: string }>(
      'KERNEL_DTYPE_UNSUPPORTED',
      `${CONV2D_BACKPROP_FILTER} needs float32 inputs`,
      { kernel: CONV2D_BACKPROP_FILTER, x: x.dtype, dy: dy.dtype },
    );
  }
  const dataFormat = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC');
  const info = forwardInfo(x.shape, dy.shape, attrs, dataFormat);
  const convOk = (info.strideHeight === 1 && info.strideWidth === 1) || (info.dilationHeight === 1 && info.dilationWidth === 1);
  if (method === 'conv' && !convOk) {
    throw new FedmeshError<KernelErrorCode, { kernel: string; strides: number[]; dilations: number[] }>(
      'KERNEL_UNSUPPORTED_ATTRS',
      `${CONV2D_BACKPROP_FILTER}: method 'conv' cannot combine strides > 1 with dilations > 1`,
      {
        kernel: CONV2D_BACKPROP_FILTER,
        strides: [info.strideHeight, info.strideWidth],
        dilations: [info.dilationHeight, info.dilationWidth],
      },
    );
  }
  return tf.tidy(() => {
    // Work in NHWC; NCHW inputs are transposed once (rare path, the trainer never uses NCHW).
    const xh = dataFormat === 'channelsLast' ? x : (tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D);
    const dyh = dataFormat === 'channelsLast' ? dy : (tf.transpose(dy, [0, 2, 3, 1]) as tf.Tensor4D);
    return method === 'im2col' || !convOk ? viaIm2col(xh, dyh, info) : viaConv(xh, dyh, info);
  });
}

/** dW as a 'valid' convolution of x^T [CI, H, W, N] with dy^T [OH, OW, N, CO] (see header). */
function viaConv(x: tf.Tensor4D, dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  // Exactly the rows the forward pass read: the last tap of the last output row.
  const needH = (oh - 1) * sh + (kh - 1) * dh + 1;
  const needW = (ow - 1) * sw + (kw - 1) * dw + 1;
  const xPad = padOrCrop(x, info.padInfo.top, info.padInfo.left, needH, needW);
  const xT = tf.transpose(xPad, [3, 1, 2, 0]) as tf.Tensor4D;
  const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
  const g = tf.conv2d(xT, dyT, [dh, dw], 'valid', 'NHWC', [sh, sw]); // [CI, KH, KW, CO]
  return tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D;
}

/** dW by im2col + one batched matMul (see header); any stride/dilation combination. */
function viaIm2col(x: tf.Tensor4D, dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { batchSize: n, outHeight: oh, outWidth: ow, inChannels: ci, outChannels: co } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  // Polyphase split (one native Transpose): for stride s, row r of x_pad is row ⌊r/s⌋ of phase
  // image r mod s, so every filter tap becomes a unit-stride, contiguous slice of one phase image.
  const hph = Math.floor(((kh - 1) * dh) / sh) + oh;
  const wph = Math.floor(((kw - 1) * dw) / sw) + ow;
  const xFull = padOrCrop(x, info.padInfo.top, info.padInfo.left, hph * sh, wph * sw);
  const phases =
    sh === 1 && sw === 1
      ? tf.reshape(xFull, [n, hph, wph * ci])
      : tf.reshape(tf.transpose(tf.reshape(xFull, [n, hph, sh, wph, sw, ci]), [2, 4, 0, 1, 3, 5]), [sh * sw * n, hph, wph * ci]);
  const patches: tf.Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const r = i * dh;
      const c = j * dw;
      const phase = (r % sh) * sw + (c % sw);
      // [N, OH, OW·CI]: contiguous runs of OW·CI floats inside the phase image.
      patches.push(tf.slice(phases, [phase * n, Math.floor(r / sh), Math.floor(c / sw) * ci], [n, oh, ow * ci]));
    }
  }
  const m = n * oh * ow;
  // dW[tap, ci, co] = Σ_m cols[tap, m, ci] · dy[m, co]; dy broadcast over the tap axis.
  const cols = tf.reshape(tf.stack(patches, 0), [kh * kw, m, ci]);
  const grad = tf.matMul(cols, tf.reshape(dy, [1, m, co]), true, false);
  return tf.reshape(grad, [kh, kw, ci, co]) as tf.Tensor4D;
}

/**
 * The forward pass's geometry, checked against dy.
 *
 * tfjs-core 4.22's conv2d gradient (gradients/Conv2D_grad.js) does not forward `dimRoundingMode`
 * to conv2DBackpropFilter, so with a numeric pad and 'ceil'/'round' the attrs describe a
 * different output size than dy has. dy is the ground truth for the forward output, so for a
 * numeric pad we accept whichever rounding mode reproduces dy's shape (the padding itself does
 * not depend on the mode). Anything else that disagrees with dy is a caller bug.
 */
function forwardInfo(
  xShape: Shape4,
  dyShape: Shape4,
  attrs: Conv2DBackpropFilterAttrs,
  dataFormat: 'channelsFirst' | 'channelsLast',
): tf.backend_util.Conv2DInfo {
  const modes: Conv2DBackpropFilterAttrs['dimRoundingMode'][] =
    typeof attrs.pad === 'number' ? [attrs.dimRoundingMode, 'floor', 'round', 'ceil'] : [attrs.dimRoundingMode];
  let expected: number[] = [];
  for (const mode of modes) {
    const info = tf.backend_util.computeConv2DInfo(
      xShape,
      attrs.filterShape,
      attrs.strides,
      attrs.dilations ?? 1,
      attrs.pad,
      mode,
      false,
      dataFormat,
    );
    const { batchSize: n, outHeight: oh, outWidth: ow, outChannels: co } = info;
    const want = dataFormat === 'channelsLast' ? [n, oh, ow, co] : [n, co, oh, ow];
    if (shapesEqual(dyShape, want)) return info;
    if (expected.length === 0) expected = want;
  }
  throw new FedmeshError<KernelErrorCode, { kernel: string; expected: number[]; got: number[] }>(
    'KERNEL_SHAPE_MISMATCH',
    `${CONV2D_BACKPROP_FILTER}: dy shape [${dyShape}] does not match forward output [${expected}]`,
    { kernel: CONV2D_BACKPROP_FILTER, expected, got: [...dyShape] },
  );
}

/** Zero-pads `x` by (top, left) and pads or crops bottom/right so rows = h, cols = w. */
function padOrCrop(x: tf.Tensor4D, top: number, left: number, h: number, w: number): tf.Tensor4D {
  const [, xh, xw] = x.shape;
  const bottom = h - xh - top;
  const right = w - xw - left;
  let out = x;
  if (top > 0 || left > 0 || bottom > 0 || right > 0) {
    out = tf.pad(out, [
      [0, 0],
      [top, Math.max(0, bottom)],
      [left, Math.max(0, right)],
      [0, 0],
    ]);
  }
  if (bottom < 0 || right < 0) {
    out = tf.slice(out, [0, 0, 0, 0], [-1, h, w, -1]);
  }
  return out;
}

function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Kernel entry point. Reference counting (tfjs-core 4.22 engine.js): `makeTensorFromTensorInfo`
 * tracks a new Tensor on an existing dataId *without* bumping the backend's refcount, and
 * disposing a Tensor decrements it. So (1) each input wrapper gets a `backend.incRef` before use
 * and is disposed after, leaving the caller's buffers untouched; (2) the result's buffer gets an
 * `incRef` and its Tensor is disposed, handing the engine a TensorInfo with refcount 1, exactly
 * like a native kernel's `backend.makeOutput`. Ops called here do not reach the gradient tape:
 * the engine turns the tape off while `kernelDepth > 0`.
 */
const kernelFunc: tf.KernelFunc = ({ inputs, backend: backendAny, attrs }) => {
  const engine = tf.engine();
  // KernelFunc types the backend as `{}`; every tfjs backend is a KernelBackend.
  const backend = backendAny as tf.KernelBackend;
  const xInfo = inputs.x;
  const dyInfo = inputs.dy;
  if (xInfo === undefined || dyInfo === undefined) {
    throw new FedmeshError<KernelErrorCode, { kernel: string; expected: string[]; got: string[] }>(
      'KERNEL_SHAPE_MISMATCH',
      `${CONV2D_BACKPROP_FILTER} needs inputs x and dy`,
      { kernel: CONV2D_BACKPROP_FILTER, expected: ['x', 'dy'], got: Object.keys(inputs) },
    );
  }
  const wrap = (info: tf.TensorInfo): tf.Tensor4D => {
    backend.incRef(info.dataId);
    return engine.makeTensorFromTensorInfo(info) as tf.Tensor4D;
  };
  const x = wrap(xInfo);
  const dy = wrap(dyInfo);
  let result: tf.Tensor4D;
  try {
    result = conv2dBackpropFilter(x, dy, attrs as unknown as Conv2DBackpropFilterAttrs);
  } finally {
    x.dispose();
    dy.dispose();
  }
  const out: tf.TensorInfo = { dataId: result.dataId, shape: result.shape, dtype: result.dtype };
  backend.incRef(result.dataId);
  result.dispose();
  return out;
};

/**
 * Registers the kernel for `backendName` (default 'wasm') unless one is already registered.
 * Idempotent: tfjs warns on duplicate registration, and a native kernel, if a future
 * tfjs-backend-wasm ships one, must win.
 * @returns true when this call registered it.
 */
export function registerConv2DBackpropFilter(backendName = 'wasm'): boolean {
  if (tf.getKernel(CONV2D_BACKPROP_FILTER, backendName) !== undefined) return false;
  tf.registerKernel({ kernelName: CONV2D_BACKPROP_FILTER, backendName, kernelFunc });
  return true;
}
