/**
 * Fixed-point encoding of a participant's weighted update into Z_{2^32}, and back.
 *
 * Encode (Bonawitz et al. 2017 §3 work over Z_R; here R = 2^32 so vector arithmetic is native
 * 32-bit wrap-around):
 *   1. x_k = clip(n_i · Δ_k, −R, R)                       R = clipRange
 *   2. y_k = x_k · 2^f                                     exact: a power-of-two scale
 *   3. q_k = ⌊y_k⌋ + [u_k < y_k − ⌊y_k⌋]                  stochastic rounding, u_k ∈ [0, 1)
 *      from the participant's own PRG stream, so E[q_k] = y_k (unbiased)
 *   4. q_k ∈ [−L, L] (L = R·2^f) is stored as q_k mod 2^32 (two's complement)
 *   5. the sample count n_i is appended as the last word, unscaled
 *
 * At the edge, y_k = ±L exactly, its fractional part is 0, and q_k = ±L with no rounding;
 * anything beyond the clip range was already clipped in step 1 and cannot reach the next
 * integer. q_k is clamped to [−L, L] once more before storage, so no input — not even one
 * that rounds up in float — can wrap. (Flower's SecAgg+ mis-decoded aggregated values above
 * its clip range; the config check `N·L ≤ 2^31 − 1` in config.ts is what rules that out here.)
 *
 * Decode: the sum over ≤ N participants lies in [−N·L, N·L] ⊂ [−2^31, 2^31), so reading each
 * word as a signed int32 and dividing by 2^f gives Σ x_k exactly (int32 and /2^f are exact
 * in float64). The last word, read unsigned, is Σ n_i.
 */
import type { ModelWeights } from '../model.js';
import { clipLevels, type SecAggConfig } from './config.js';
import { SecAggError } from './errors.js';

const TWO_POW_32 = 4294967296;

/**
 * n_i · clip_B(local − global), flattened in tensor order, in float64.
 *
 * With `normBound` B (the federation's `updateNormBound`), the update Δ_i = local − global is
 * first scaled down to L2 norm B when it is longer (`clipToNorm`), as DP-SGD clips per-example
 * gradients (Abadi et al. 2016, §3.1) and as norm bounding against model replacement does
 * (Sun et al. 2019, "Can you really backdoor federated learning?"). This happens before
 * quantization and masking, so a participant whose trainer produced a scaled update adds at
 * most n_i·B to the masked sum. Without a bound, Δ_i is used as is.
 */
export function weightedDelta(local: ModelWeights, global: ModelWeights, sampleCount: number, normBound?: number): Float64Array {
  const delta = modelDelta(local, global);
  const clipped = normBound === undefined ? delta : clipToNorm(delta, normBound).values;
  for (let k = 0; k < clipped.length; k++) clipped[k] = sampleCount * clipped[k]!;
  return clipped;
}

/** local − global, flattened in tensor order, in float64 (a fresh array). */
export function modelDelta(local: ModelWeights, global: ModelWeights): Float64Array {
  let d = 0;
  for (const t of global.tensors) d += t.data.length;
  if (local.tensors.length !== global.tensors.length) {
    throw new SecAggError('SECAGG_BAD_INPUT', `model has ${local.tensors.length} tensors, the global model ${global.tensors.length}`, {
      tensor: local.tensors.length,
    });
  }
  const out = new Float64Array(d);
  let o = 0;
  global.tensors.forEach((g, ti) => {
    const l = local.tensors[ti]?.data;
    if (l === undefined || l.length !== g.data.length) {
      throw new SecAggError('SECAGG_BAD_INPUT', `tensor ${ti} differs in size from the global model`, { tensor: ti });
    }
    for (let k = 0; k < g.data.length; k++) out[o++] = l[k]! - g.data[k]!;
  });
  return out;
}

/** The Euclidean norm, accumulated in float64 with scaling so that huge or tiny entries neither overflow nor underflow. */
export function l2Norm(values: ArrayLike<number>): number {
  let scale = 0;
  let ssq = 1;
  for (let k = 0; k < values.length; k++) {
    const a = Math.abs(values[k]!);
    if (a === 0) continue;
    if (scale < a) {
      ssq = 1 + ssq * (scale / a) ** 2;
      scale = a;
    } else {
      ssq += (a / scale) ** 2;
    }
  }
  return scale * Math.sqrt(ssq);
}

/**
 * Norm clipping: `values` when ‖values‖₂ ≤ bound (copied, untouched), else `values · bound/‖values‖₂`,
 * whose norm is `bound` up to float64 rounding. The bound must be a positive finite number and
 * every value finite (SECAGG_BAD_INPUT otherwise: a NaN must not pass as "short").
 */
export function clipToNorm(values: ArrayLike<number>, bound: number): { values: Float64Array; norm: number; clipped: boolean } {
  if (!(Number.isFinite(bound) && bound > 0)) {
    throw new SecAggError('SECAGG_BAD_CONFIG', `updateNormBound=${bound}: a finite number > 0`, {
      field: 'updateNormBound',
      value: bound,
      rule: 'a finite number > 0',
    });
  }
  const out = Float64Array.from(values);
  for (let k = 0; k < out.length; k++) {
    if (!Number.isFinite(out[k]!))
      throw new SecAggError('SECAGG_BAD_INPUT', `coordinate ${k} is ${out[k]}`, { index: k, value: String(out[k]) });
  }
  const norm = l2Norm(out);
  if (norm <= bound) return { values: out, norm, clipped: false };
  const f = bound / norm;
  for (let k = 0; k < out.length; k++) out[k] = out[k]! * f;
  return { values: out, norm, clipped: true };
}

/**
 * The plaintext path's clip: `global + clip_B(local − global)` as float32 weights. The committee
 * applies it to every received update before FedAvg (it sees them in the clear), so there the
 * bound holds whatever the sender's software did. Returns `local` itself when within the bound.
 */
export function clipModelUpdate(
  local: ModelWeights,
  global: ModelWeights,
  bound: number,
): { weights: ModelWeights; norm: number; clipped: boolean } {
  const { values, norm, clipped } = clipToNorm(modelDelta(local, global), bound);
  if (!clipped) return { weights: local, norm, clipped };
  let o = 0;
  const tensors = global.tensors.map((g) => {
    const data = new Float32Array(g.data.length);
    for (let k = 0; k < data.length; k++) data[k] = g.data[k]! + values[o++]!;
    return { shape: [...g.shape], data };
  });
  return { weights: { tensors }, norm, clipped };
}

/**
 * Quantize `values` (n_i·Δ_i) and append `sampleCount`. `rounding` supplies ≥ 4·values.length
 * bytes of the participant's PRG stream (one little-endian u32 per coordinate).
 */
export function quantize(
  values: ArrayLike<number>,
  sampleCount: number,
  config: Pick<SecAggConfig, 'clipRange' | 'fractionalBits' | 'maxSampleCount'>,
  rounding: Uint8Array,
): Uint32Array {
  if (!Number.isInteger(sampleCount) || sampleCount < 1 || sampleCount > config.maxSampleCount) {
    throw new SecAggError('SECAGG_BAD_SAMPLE_COUNT', `sample count ${sampleCount}`, {
      sampleCount,
      min: 1,
      max: config.maxSampleCount,
    });
  }
  const d = values.length;
  if (rounding.length < 4 * d) throw new RangeError(`rounding stream has ${rounding.length} bytes, need ${4 * d}`);
  const R = config.clipRange;
  const scale = 2 ** config.fractionalBits;
  const L = clipLevels(config);
  const u = roundingWords(rounding, d);
  const out = new Uint32Array(d + 1);
  for (let k = 0; k < d; k++) {
    const v = values[k]!;
    if (!Number.isFinite(v)) throw new SecAggError('SECAGG_BAD_INPUT', `coordinate ${k} is ${v}`, { index: k, value: String(v) });
    const y = Math.min(R, Math.max(-R, v)) * scale;
    const fl = Math.floor(y);
    let q = fl + (u[k]! / TWO_POW_32 < y - fl ? 1 : 0);
    if (q > L) q = L;
    else if (q < -L) q = -L;
    out[k] = q; // ToUint32: two's complement for negatives
  }
  out[d] = sampleCount;
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The rounding stream as little-endian u32 words (a view when the host allows it). */
function roundingWords(b: Uint8Array, d: number): Uint32Array {
  if (LITTLE_ENDIAN && b.byteOffset % 4 === 0) return new Uint32Array(b.buffer, b.byteOffset, d);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Uint32Array.from({ length: d }, (_, k) => v.getUint32(4 * k, true));
}

/** Decode an unmasked sum: Σ x_k per coordinate (float64, exact) and Σ n_i. */
export function decodeSum(sum: Uint32Array, config: Pick<SecAggConfig, 'fractionalBits'>): { values: Float64Array; totalSamples: number } {
  const d = sum.length - 1;
  if (d < 0) throw new SecAggError('SECAGG_BAD_INPUT', 'empty sum', { length: sum.length });
  const inv = 2 ** -config.fractionalBits;
  const values = new Float64Array(d);
  for (let k = 0; k < d; k++) values[k] = (sum[k]! | 0) * inv;
  return { values, totalSamples: sum[d]! };
}

/** The dequantized value of one stored word (tests, diagnostics). */
export function dequantizeWord(word: number, fractionalBits: number): number {
  return (word | 0) * 2 ** -fractionalBits;
}

/**
 * The new global model w + (Σ n_i·Δ_i) / Σ n_i — FedAvg (McMahan et al. 2017) written over
 * deltas — computed in float64 and rounded to float32 once, so every member gets the same bits.
 */
export function applyAggregate(global: ModelWeights, sum: Float64Array, totalSamples: number): ModelWeights {
  if (!(totalSamples > 0)) throw new SecAggError('SECAGG_BAD_SAMPLE_COUNT', `total samples ${totalSamples}`, { totalSamples });
  let o = 0;
  const tensors = global.tensors.map((t) => {
    const data = new Float32Array(t.data.length);
    for (let k = 0; k < data.length; k++) data[k] = t.data[k]! + sum[o++]! / totalSamples;
    return { shape: [...t.shape], data };
  });
  if (o !== sum.length)
    throw new SecAggError('SECAGG_BAD_INPUT', `sum has ${sum.length} coordinates, model ${o}`, { sum: sum.length, model: o });
  return { tensors };
}
