/**
 * Fixed-point encoding of a participant's weighted update into Z_{2^64} (ring.ts), and back.
 *
 * Encode (Bonawitz et al. 2017 §3 work over Z_R; here R = 2^64, see ring.ts for why):
 *   1. x_k = clip(n_i · Δ_k, −R, R)                       R = clipRange
 *   2. y_k = x_k · 2^f                                     exact: a power-of-two scale
 *   3. q_k = ⌊y_k⌋ + [u_k < y_k − ⌊y_k⌋]                  stochastic rounding, u_k ∈ [0, 1)
 *      from the participant's own PRG stream, so E[q_k] = y_k (unbiased)
 *   4. q_k ∈ [−L, L] (L = R·2^f ≤ 2^53) is stored as q_k mod 2^64 (two's complement)
 *   5. the sample count n_i is appended as the last element, unscaled
 *
 * At the edge, y_k = ±L exactly, its fractional part is 0, and q_k = ±L with no rounding;
 * anything beyond the clip range was already clipped in step 1 and cannot reach the next
 * integer. q_k is clamped to [−L, L] once more before storage, so no input — not even one
 * that rounds up in float — can wrap. (Flower's SecAgg+ mis-decoded aggregated values above
 * its clip range; the config check `N·L ≤ 2^63 − 1` in config.ts is what rules that out here.)
 *
 * Decode: the sum over ≤ N participants lies in [−N·L, N·L] ⊂ [−2^63, 2^63), so reading each
 * element as a signed 64-bit integer gives Σ q_k exactly; `checkAggregateBounds` then
 * refuses any sum that honest inputs cannot produce before anything is decoded. The last
 * element, read unsigned, is Σ n_i.
 */
import type { ModelWeights } from '../model.js';
import { clipLevels, type SecAggConfig } from './config.js';
import { SecAggError } from './errors.js';
import { ringElements, ringWords, setIntAt, signedAt, signedBigAt, unsignedBigAt } from './ring.js';

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
 * Quantize `values` (n_i·Δ_i) and append `sampleCount`: a ring vector of d + 1 elements
 * (ring.ts: 2(d + 1) words). `rounding` supplies ≥ 4·values.length bytes of the participant's
 * PRG stream (one little-endian u32 per coordinate: the rounding draw u_k = word / 2^32, so
 * P[round up] is the fractional part to within 2^−32 of a step).
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
  // L ≤ 2^53 (config.ts): every y, ⌊y⌋ and y − ⌊y⌋ below is an exact float64 operation.
  const L = clipLevels(config);
  const u = roundingWords(rounding, d);
  const out = new Uint32Array(ringWords(d + 1));
  for (let k = 0; k < d; k++) {
    const v = values[k]!;
    if (!Number.isFinite(v)) throw new SecAggError('SECAGG_BAD_INPUT', `coordinate ${k} is ${v}`, { index: k, value: String(v) });
    const y = Math.min(R, Math.max(-R, v)) * scale;
    const fl = Math.floor(y);
    let q = fl + (u[k]! / TWO_POW_32 < y - fl ? 1 : 0);
    if (q > L) q = L;
    else if (q < -L) q = -L;
    setIntAt(out, k, q); // two's complement mod 2^64
  }
  setIntAt(out, d, sampleCount);
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The rounding stream as little-endian u32 words (a view when the host allows it). */
function roundingWords(b: Uint8Array, d: number): Uint32Array {
  if (LITTLE_ENDIAN && b.byteOffset % 4 === 0) return new Uint32Array(b.buffer, b.byteOffset, d);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Uint32Array.from({ length: d }, (_, k) => v.getUint32(4 * k, true));
}

/** Where an unmasked sum broke the bounds that honest inputs always satisfy. */
export type AggregateBoundsCheck = 'survivors' | 'coordinate' | 'sampleCount';

/**
 * Bounded inputs after unmasking (issue 13 item 5; Bonawitz et al. have no such check — a
 * participant there can add any vector after masking). Honest inputs satisfy, for |U| = `survivors`:
 *
 *   every coordinate of Σ q_i, read as a signed 64-bit integer, lies in [−|U|·L, |U|·L]
 *   |U| ≤ Σ n_i ≤ |U|·maxSampleCount      (each n_i ∈ [1, maxSampleCount]; read unsigned)
 *
 * A committee member calls this on the unmasked sum before it signs or records anything; a
 * violation proves that some survivor sent a vector no honest encoder produces (a value added
 * after masking, a claimed n_i of 0, or a sample count that wraps), and the round aborts with
 * `SECAGG_OUT_OF_RANGE` — it never reaches `applyAggregate` (so Σ n_i = 0 cannot
 * make it divide by zero). Without range proofs a malicious participant can still move the sum
 * anywhere inside these bounds (docs/secure-aggregation.md, "Not protected"); what the check
 * removes is the unbounded step (a Σ n_i of 1 against |U| inputs, or a coordinate wrapped to
 * 2^63). Pure, O(d), no BigInt except for a coordinate beyond 2^53 (already out of any sane range).
 */
export function checkAggregateBounds(
  sum: Uint32Array,
  survivors: number,
  config: Pick<SecAggConfig, 'clipRange' | 'fractionalBits' | 'maxSampleCount'>,
): { totalSamples: number } {
  const elements = ringElements(sum);
  const d = elements - 1;
  if (d < 0) throw new SecAggError('SECAGG_BAD_INPUT', 'empty sum', { length: sum.length });
  const fail = (check: AggregateBoundsCheck, index: number, value: string, bound: string, rule: string): SecAggError =>
    new SecAggError('SECAGG_OUT_OF_RANGE', `unmasked sum breaks ${rule}: element ${index} = ${value}`, {
      check,
      index,
      value,
      bound,
      survivors,
      rule,
    });
  if (!Number.isSafeInteger(survivors) || survivors < 1) throw fail('survivors', -1, String(survivors), '1', '|U| ≥ 1');
  const L = clipLevels(config);
  const bound = BigInt(survivors) * BigInt(L);
  // Fast path: |hi| < 2^21 ⇒ |value| < 2^53 is exact in float64; if the bound is ≥ 2^53 it holds.
  const boundExact = bound <= 2n ** 53n;
  const boundF = Number(bound);
  for (let k = 0; k < d; k++) {
    const hi = sum[2 * k + 1]! | 0;
    if (hi >= -0x200000 && hi < 0x200000) {
      const v = hi * TWO_POW_32 + sum[2 * k]!;
      if (!boundExact || Math.abs(v) <= boundF) continue;
      throw fail('coordinate', k, String(v), String(bound), '|Σ q_k| ≤ |U|·clipRange·2^fractionalBits');
    }
    const v = signedBigAt(sum, k);
    if (v > bound || v < -bound) throw fail('coordinate', k, String(v), String(bound), '|Σ q_k| ≤ |U|·clipRange·2^fractionalBits');
  }
  const n = unsignedBigAt(sum, d);
  const max = BigInt(survivors) * BigInt(config.maxSampleCount);
  if (n < BigInt(survivors) || n > max) {
    throw fail('sampleCount', d, String(n), `[${survivors}, ${max}]`, '|U| ≤ Σ n_i ≤ |U|·maxSampleCount');
  }
  return { totalSamples: Number(n) }; // ≤ maxParticipants·maxSampleCount ≤ 2^53 − 1 (config.ts): exact
}

/**
 * Decode an unmasked sum of `survivors` inputs: Σ x_k per coordinate (float64) and Σ n_i,
 * after `checkAggregateBounds` (so a sum no honest survivors produce is never decoded).
 * Σ q_k is an exact integer; it converts to float64 exactly when |Σ q_k| ≤ 2^53 and is
 * otherwise rounded once, deterministically; ·2^−f is exact.
 */
export function decodeSum(
  sum: Uint32Array,
  survivors: number,
  config: Pick<SecAggConfig, 'clipRange' | 'fractionalBits' | 'maxSampleCount'>,
): { values: Float64Array; totalSamples: number } {
  const { totalSamples } = checkAggregateBounds(sum, survivors, config);
  const d = ringElements(sum) - 1;
  const inv = 2 ** -config.fractionalBits;
  const values = new Float64Array(d);
  for (let k = 0; k < d; k++) values[k] = signedAt(sum, k) * inv;
  return { values, totalSamples };
}

/** The dequantized value of element k of a ring vector (tests, diagnostics). */
export function dequantizeAt(v: Uint32Array, k: number, fractionalBits: number): number {
  return signedAt(v, k) * 2 ** -fractionalBits;
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
