/**
 * Fixed-point encoding and the overflow bound (protocol/secure-aggregation/quantize.ts,
 * config.ts). Edges are exact, clipped values never wrap — not even a sum of the maximum
 * number of participants all at the clip edge, the case Flower's SecAgg+ decoded wrongly —
 * and stochastic rounding stays within one step and is unbiased.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clipLevels, effectiveCommittee, SECAGG_DEFAULTS, validateSecAggConfig } from '../../protocol/secure-aggregation/config.js';
import { addVector } from '../../protocol/secure-aggregation/masking.js';
import { applyAggregate, decodeSum, dequantizeWord, quantize, weightedDelta } from '../../protocol/secure-aggregation/quantize.js';
import { codeOf, config } from './secagg-helpers.js';

const c = config();
const R = c.clipRange;
const L = clipLevels(c);
const zeros = (n: number) => new Uint8Array(4 * n);
/** A rounding stream whose every word is `w` (u = w / 2^32). */
const constant = (n: number, w: number) => {
  const b = new Uint8Array(4 * n);
  const v = new DataView(b.buffer);
  for (let i = 0; i < n; i++) v.setUint32(4 * i, w, true);
  return b;
};

describe('quantization', () => {
  it('is exact at ±R and at zero, whatever the rounding draw', () => {
    for (const w of [0, 1, 0x80000000, 0xffffffff]) {
      const q = quantize([R, -R, 0, R / 2, -R / 4], 7, c, constant(5, w));
      expect([...q.subarray(0, 5)].map((x) => x | 0)).toEqual([L, -L, 0, L / 2, -L / 4]);
      expect(dequantizeWord(q[0]!, c.fractionalBits)).toBe(R);
      expect(dequantizeWord(q[1]!, c.fractionalBits)).toBe(-R);
      expect(q[5]).toBe(7);
    }
  });

  it('clips beyond the range to exactly ±L, never wrapping', () => {
    const big = [R + 2 ** -20, R * 1.5, 1e30, -R - 2 ** -20, -1e30, Number.MAX_VALUE, -Number.MAX_VALUE];
    for (const w of [0, 0xffffffff]) {
      const q = quantize(big, 1, c, constant(big.length, w));
      expect([...q.subarray(0, big.length)].map((x) => x | 0)).toEqual([L, L, L, -L, -L, L, -L]);
    }
  });

  it('sums maxParticipants inputs at the clip edge without overflow (the bound is tight enough)', () => {
    const n = c.maxParticipants;
    for (const edge of [R, -R]) {
      const acc = new Uint32Array(2);
      for (let i = 0; i < n; i++) addVector(acc, quantize([edge], c.maxSampleCount, c, zeros(1)));
      const { values, totalSamples } = decodeSum(acc, c);
      expect(values[0]).toBe(n * edge);
      expect(totalSamples).toBe(n * c.maxSampleCount);
      expect(totalSamples).toBeLessThanOrEqual(0xffffffff);
    }
  });

  it('rounds each coordinate to one of its two neighbouring grid points, mean-unbiased', () => {
    fc.assert(
      fc.property(fc.double({ min: -2 * R, max: 2 * R, noNaN: true }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (x, u) => {
        const q = quantize([x], 1, c, u)[0]! | 0;
        const y = Math.min(R, Math.max(-R, x)) * 2 ** c.fractionalBits;
        expect(q).toBeGreaterThanOrEqual(Math.floor(y));
        expect(q).toBeLessThanOrEqual(Math.ceil(y));
        expect(Math.abs(q)).toBeLessThanOrEqual(L);
      }),
      { numRuns: 2000 },
    );
    // x = 0.25 grid steps rounds up with probability 1/4: over a uniform draw of u, the mean is exact.
    const n = 4096;
    const x = 0.25 * 2 ** -c.fractionalBits;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += quantize([x], 1, c, constant(1, Math.floor((i / n) * 2 ** 32)))[0]!;
    expect(sum / n).toBe(0.25);
  });

  it('refuses non-finite values and bad sample counts', () => {
    expect(codeOf(() => quantize([Number.NaN], 1, c, zeros(1)))).toBe('SECAGG_BAD_INPUT');
    expect(codeOf(() => quantize([Number.POSITIVE_INFINITY], 1, c, zeros(1)))).toBe('SECAGG_BAD_INPUT');
    expect(codeOf(() => quantize([0], 0, c, zeros(1)))).toBe('SECAGG_BAD_SAMPLE_COUNT');
    expect(codeOf(() => quantize([0], c.maxSampleCount + 1, c, zeros(1)))).toBe('SECAGG_BAD_SAMPLE_COUNT');
  });

  it('FedAvg over deltas: w + Σ n_i Δ_i / Σ n_i', () => {
    const global = { tensors: [{ shape: [3], data: Float32Array.from([1, 2, 3]) }] };
    const a = { tensors: [{ shape: [3], data: Float32Array.from([2, 2, 2]) }] };
    const b = { tensors: [{ shape: [3], data: Float32Array.from([0, 4, 3]) }] };
    const da = weightedDelta(a, global, 1);
    const db = weightedDelta(b, global, 3);
    const sum = Float64Array.from(da, (v, i) => v + db[i]!);
    expect([...applyAggregate(global, sum, 4).tensors[0]!.data]).toEqual([0.5, 3.5, 2.75]); // (1·a + 3·b) / 4
  });
});

describe('secure-aggregation configuration', () => {
  it('accepts the defaults and states the bound they satisfy', () => {
    expect(validateSecAggConfig(SECAGG_DEFAULTS)).toBe(SECAGG_DEFAULTS);
    expect(SECAGG_DEFAULTS.maxParticipants * clipLevels(SECAGG_DEFAULTS)).toBeLessThanOrEqual(2 ** 31 - 1);
  });

  it('names the field, value and rule of a violation', () => {
    const err = (over: Partial<typeof SECAGG_DEFAULTS>) => {
      try {
        validateSecAggConfig(config(over));
      } catch (e) {
        return (e as { code: string; fields: { field: string } }).fields.field;
      }
      return 'none';
    };
    expect(codeOf(() => validateSecAggConfig(config({ threshold: 2 })))).toBe('SECAGG_BAD_CONFIG');
    expect(err({ threshold: 2 })).toBe('threshold'); // t ≤ m/2
    expect(err({ threshold: 6 })).toBe('threshold'); // t > m
    expect(err({ committeeSize: 17, threshold: 9 })).toBe('committeeSize');
    expect(err({ clipRange: 2048 })).toBe('clipRange'); // 1024 · 2048 · 2^10 = 2^31 > 2^31 − 1
    expect(err({ fractionalBits: 11 })).toBe('clipRange');
    expect(err({ clipRange: 0.3 })).toBe('clipRange'); // 0.3 · 2^10 is not an integer
    expect(err({ maxSampleCount: 2 ** 22 })).toBe('maxSampleCount');
    expect(err({ minSurvivors: 1 })).toBe('minSurvivors');
    expect(err({ clipRange: 2048, maxParticipants: 512 })).toBe('none');
  });

  it('caps the committee by the member count with t = ⌊m/2⌋ + 1', () => {
    expect(effectiveCommittee(SECAGG_DEFAULTS, 8)).toEqual({ committeeSize: 5, threshold: 3 });
    expect(effectiveCommittee(SECAGG_DEFAULTS, 5)).toEqual({ committeeSize: 5, threshold: 3 });
    expect(effectiveCommittee(SECAGG_DEFAULTS, 4)).toEqual({ committeeSize: 4, threshold: 3 });
    expect(effectiveCommittee(SECAGG_DEFAULTS, 3)).toEqual({ committeeSize: 3, threshold: 2 });
    expect(effectiveCommittee(SECAGG_DEFAULTS, 2)).toEqual({ committeeSize: 2, threshold: 2 });
    expect(effectiveCommittee({ committeeSize: 7, threshold: 6 }, 9)).toEqual({ committeeSize: 7, threshold: 6 });
  });
});
