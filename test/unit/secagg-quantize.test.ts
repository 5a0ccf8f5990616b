/**
 * Fixed-point encoding into Z_{2^64} and the overflow bound (protocol/secure-aggregation/quantize.ts,
 * ring.ts, config.ts). Edges are exact, clipped values never wrap — not even a sum of the maximum
 * number of participants all at the clip edge, the case Flower's SecAgg+ decoded wrongly —
 * and stochastic rounding stays within one step and is unbiased.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clipLevels, effectiveCommittee, SECAGG_DEFAULTS, validateSecAggConfig } from '../../protocol/secure-aggregation/config.js';
import { addVector } from '../../protocol/secure-aggregation/masking.js';
import {
  applyAggregate,
  checkAggregateBounds,
  decodeSum,
  dequantizeAt,
  quantize,
  weightedDelta,
} from '../../protocol/secure-aggregation/quantize.js';
import { ringFromIntegers, ringWords, signedBigAt } from '../../protocol/secure-aggregation/ring.js';
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

describe('quantization into Z_{2^64}', () => {
  it('is exact at ±R and at zero, whatever the rounding draw', () => {
    for (const w of [0, 1, 0x80000000, 0xffffffff]) {
      const q = quantize([R, -R, 0, R / 2, -R / 4], 7, c, constant(5, w));
      expect(q.length).toBe(ringWords(6));
      expect([0, 1, 2, 3, 4].map((k) => signedBigAt(q, k))).toEqual([BigInt(L), -BigInt(L), 0n, BigInt(L / 2), -BigInt(L / 4)]);
      expect(dequantizeAt(q, 0, c.fractionalBits)).toBe(R);
      expect(dequantizeAt(q, 1, c.fractionalBits)).toBe(-R);
      expect(signedBigAt(q, 5)).toBe(7n);
    }
  });

  it('clips beyond the range to exactly ±L, never wrapping', () => {
    const big = [R + 2 ** -20, R * 1.5, 1e30, -R - 2 ** -20, -1e30, Number.MAX_VALUE, -Number.MAX_VALUE];
    for (const w of [0, 0xffffffff]) {
      const q = quantize(big, 1, c, constant(big.length, w));
      expect(big.map((_, k) => signedBigAt(q, k))).toEqual([L, L, L, -L, -L, L, -L].map(BigInt));
    }
  });

  it('a site with n_i = 10^5 is not clipped at |Δ_k| = 1 (the 32-bit ring clipped it above 0.01)', () => {
    const n = 100_000;
    const q = quantize([n * 1, n * -0.5, n * 0.0123], n, c, zeros(3));
    expect(dequantizeAt(q, 0, c.fractionalBits)).toBe(n);
    expect(dequantizeAt(q, 1, c.fractionalBits)).toBe(-n / 2);
    expect(Math.abs(dequantizeAt(q, 2, c.fractionalBits) - n * 0.0123)).toBeLessThanOrEqual(2 ** -c.fractionalBits);
  });

  it('sums maxParticipants inputs all at +R (and all at −R) exactly, with the maximum sample count', () => {
    const n = c.maxParticipants;
    for (const edge of [R, -R]) {
      const acc = new Uint32Array(ringWords(2));
      for (let i = 0; i < n; i++) addVector(acc, quantize([edge], c.maxSampleCount, c, zeros(1)));
      expect(signedBigAt(acc, 0)).toBe(BigInt(n) * BigInt(Math.sign(edge) * L));
      const { values, totalSamples } = decodeSum(acc, n, c);
      expect(values[0]).toBe(n * edge);
      expect(totalSamples).toBe(n * c.maxSampleCount);
    }
  });

  it('at the largest valid configuration (N·L = 1023·2^53, just under 2^63) the edge sums are still exact', () => {
    const big = config({ clipRange: 2 ** 29, fractionalBits: 24, maxParticipants: 1023 });
    expect(validateSecAggConfig(big)).toBe(big);
    const Lb = clipLevels(big);
    expect(Lb).toBe(2 ** 53);
    for (const sign of [1, -1]) {
      const acc = new Uint32Array(ringWords(2));
      const q = quantize([sign * big.clipRange], 1, big, zeros(1));
      for (let i = 0; i < big.maxParticipants; i++) addVector(acc, q);
      expect(signedBigAt(acc, 0)).toBe(BigInt(sign) * 1023n * 2n ** 53n);
      expect(checkAggregateBounds(acc, big.maxParticipants, big).totalSamples).toBe(1023);
      // One more level anywhere is out of range: a sum no honest inputs produce.
      addVector(acc, ringFromIntegers([sign, 0]));
      expect(codeOf(() => checkAggregateBounds(acc, big.maxParticipants, big))).toBe('SECAGG_OUT_OF_RANGE');
    }
  });

  it('rounds each coordinate to one of its two neighbouring grid points, mean-unbiased', () => {
    fc.assert(
      fc.property(fc.double({ min: -2 * R, max: 2 * R, noNaN: true }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (x, u) => {
        const q = Number(signedBigAt(quantize([x], 1, c, u), 0));
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
    for (let i = 0; i < n; i++) sum += Number(signedBigAt(quantize([x], 1, c, constant(1, Math.floor((i / n) * 2 ** 32))), 0));
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
    const NL = BigInt(SECAGG_DEFAULTS.maxParticipants) * BigInt(clipLevels(SECAGG_DEFAULTS));
    expect(NL).toBe(2n ** 58n); // 2^5 below 2^63
    expect(NL <= 2n ** 63n - 1n).toBe(true);
    expect(SECAGG_DEFAULTS.maxParticipants * SECAGG_DEFAULTS.maxSampleCount).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
  });

  it('names the field, value and rule of a quantization violation', () => {
    const err = (over: Partial<typeof SECAGG_DEFAULTS>) => {
      try {
        validateSecAggConfig(config(over));
      } catch (e) {
        const f = (e as { code: string; fields: { field: string; value: unknown; rule: string } }).fields;
        expect((e as { code: string }).code).toBe('SECAGG_BAD_CONFIG');
        expect(f.value).toBe(config(over)[f.field as keyof typeof SECAGG_DEFAULTS]);
        return `${f.field}: ${f.rule}`;
      }
      return 'none';
    };
    // N·L = 1024 · 2^53 = 2^63 > 2^63 − 1: the overflow bound, named.
    expect(err({ clipRange: 2 ** 29 })).toMatch(/^clipRange: overflow bound: .* = 9223372036854775808 must be ≤ 2\^63 − 1/);
    expect(err({ clipRange: 2 ** 29, maxParticipants: 1023 })).toBe('none');
    expect(err({ clipRange: 2 ** 30 })).toMatch(/^clipRange: .*\[1, 2\^53\]/); // L = 2^54 is not exact in float64
    expect(err({ fractionalBits: 53 })).toMatch(/^fractionalBits: /);
    expect(err({ clipRange: 0.3, fractionalBits: 0 })).toMatch(/^clipRange: /); // 0.3 is not an integer number of levels
    expect(err({ maxSampleCount: 2 ** 44 })).toMatch(/^maxSampleCount: maxParticipants · maxSampleCount must be ≤ 2\^53 − 1/);
    expect(err({ maxSampleCount: 2 ** 43 - 1 })).toBe('none');
    expect(err({ minSurvivors: 1 })).toMatch(/^minSurvivors: /);
  });

  it('caps the committee by the member count with the smallest t that tolerates one malicious member', () => {
    // config.ts effectiveCommittee: t = ⌈(m + c + 1)/2⌉ with c = maliciousMembers = 1, capped at m.
    expect(effectiveCommittee(SECAGG_DEFAULTS, 9)).toEqual({ committeeSize: 7, threshold: 5 });
    expect(effectiveCommittee(SECAGG_DEFAULTS, 7)).toEqual({ committeeSize: 7, threshold: 5 });
    expect(effectiveCommittee(SECAGG_DEFAULTS, 6)).toEqual({ committeeSize: 6, threshold: 4 });
    expect(effectiveCommittee(SECAGG_DEFAULTS, 5)).toEqual({ committeeSize: 5, threshold: 4 });
    expect(effectiveCommittee(SECAGG_DEFAULTS, 4)).toEqual({ committeeSize: 4, threshold: 3 });
    expect(effectiveCommittee(SECAGG_DEFAULTS, 3)).toEqual({ committeeSize: 3, threshold: 3 });
    expect(effectiveCommittee(SECAGG_DEFAULTS, 2)).toEqual({ committeeSize: 2, threshold: 2 });
  });
});
