/**
 * Defence (a), norm clipping (protocol/secure-aggregation/quantize.ts): an update longer than
 * the federation's bound B is scaled to norm exactly B (up to float64 rounding) and keeps its
 * direction; one within the bound is untouched, bit for bit; the weighted, clipped update is
 * what enters quantization, so a scaled attacker adds at most n·B to the masked sum.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ModelWeights } from '../../protocol/model.js';
import { SECAGG_DEFAULTS } from '../../protocol/secure-aggregation/config.js';
import {
  clipModelUpdate,
  clipToNorm,
  decodeSum,
  l2Norm,
  modelDelta,
  quantize,
  weightedDelta,
} from '../../protocol/secure-aggregation/quantize.js';
import { addRing } from '../../protocol/secure-aggregation/ring.js';
import { RoundError } from '../../protocol/round.js';
import { validateDefence } from '../../node/services/round-driver.js';

const finite = fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true });

function weights(...tensors: number[][]): ModelWeights {
  return { tensors: tensors.map((t) => ({ shape: [t.length], data: Float32Array.from(t) })) };
}

describe('clipToNorm', () => {
  it('scales a long vector to norm exactly B and keeps its direction', () => {
    const { values, norm, clipped } = clipToNorm([3, 4], 1);
    expect(norm).toBe(5);
    expect(clipped).toBe(true);
    expect(values[0]).toBeCloseTo(0.6, 15);
    expect(values[1]).toBeCloseTo(0.8, 15);
    expect(Math.abs(l2Norm(values) - 1)).toBeLessThanOrEqual(1e-15);
  });

  it('leaves a vector within the bound untouched (norm = B included)', () => {
    const v = [0.3, -0.4];
    const out = clipToNorm(v, 0.5);
    expect(out.clipped).toBe(false);
    expect([...out.values]).toEqual(v);
    expect(clipToNorm([], 1).values).toHaveLength(0);
  });

  it('property: the result has norm min(‖v‖, B) and the same direction', () => {
    fc.assert(
      fc.property(fc.array(finite, { minLength: 1, maxLength: 64 }), fc.double({ min: 1e-6, max: 1e4, noNaN: true }), (v, bound) => {
        const before = l2Norm(v);
        const { values, clipped } = clipToNorm(v, bound);
        const after = l2Norm(values);
        if (before <= bound) {
          expect(clipped).toBe(false);
          v.forEach((x, k) => {
            expect(values[k] === x).toBe(true);
          }); // bit for bit (±0 alike)
        } else {
          expect(clipped).toBe(true);
          expect(Math.abs(after - bound)).toBeLessThanOrEqual(bound * 1e-12);
          // Same direction: every coordinate scaled by one positive factor.
          const f = bound / before;
          v.forEach((x, k) => {
            expect(Math.abs(values[k]! - x * f)).toBeLessThanOrEqual(Math.abs(x * f) * 1e-15 + 1e-300);
          });
        }
      }),
      { numRuns: 500 },
    );
  });

  it('computes the norm without overflow or underflow', () => {
    expect(l2Norm([1e200, 1e200])).toBeCloseTo(Math.SQRT2 * 1e200, -185);
    expect(l2Norm([3e-200, 4e-200])).toBeCloseTo(5e-200, 210);
  });

  it('refuses a bad bound or a non-finite coordinate with a typed error', () => {
    for (const b of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => clipToNorm([1], b)).toThrow(
        expect.objectContaining({ code: 'SECAGG_BAD_CONFIG', fields: expect.objectContaining({ field: 'updateNormBound' }) }),
      );
    }
    expect(() => clipToNorm([1, Number.NaN], 1)).toThrow(expect.objectContaining({ code: 'SECAGG_BAD_INPUT' }));
  });
});

describe('weightedDelta with a norm bound', () => {
  const global = weights([0, 0], [1]);

  it('is unchanged without a bound and n·clip_B(Δ) with one', () => {
    const local = weights([3, 4], [1]);
    expect([...weightedDelta(local, global, 10)]).toEqual([30, 40, 0]);
    const clipped = weightedDelta(local, global, 10, 1);
    [6, 8, 0].forEach((x, k) => {
      expect(clipped[k]).toBeCloseTo(x, 12);
    });
    expect(Math.abs(l2Norm(clipped) - 10)).toBeLessThanOrEqual(1e-12);
    expect([...weightedDelta(local, global, 10, 100)]).toEqual([30, 40, 0]);
  });

  it('bounds what a scaled attacker adds to the decoded secure sum', () => {
    // An honest update and the same update scaled ×1000 (a "scaled:1000" attacker).
    const honest = weights([0.01, -0.02], [1.005]);
    const attacker = weights([10, -20], [1 + 5]);
    const bound = 0.05;
    const n = 50;
    const sum = (xs: Float64Array[]) => xs.reduce((acc, x) => acc.map((v, k) => v + x[k]!), new Float64Array(3));
    const zeros = new Uint8Array(4 * 3);
    const enc = (v: Float64Array) => quantize(v, n, SECAGG_DEFAULTS, zeros);
    const sumRing = (a: Uint32Array, b: Uint32Array) => {
      addRing(a, b);
      return a;
    };
    const plain = sum([weightedDelta(honest, global, n, bound), weightedDelta(attacker, global, n, bound)]);
    const decoded = decodeSum(
      sumRing(enc(weightedDelta(honest, global, n, bound)), enc(weightedDelta(attacker, global, n, bound))),
      2,
      SECAGG_DEFAULTS,
    );
    // The attacker's contribution to the sum is at most n·B in norm.
    expect(l2Norm(weightedDelta(attacker, global, n, bound))).toBeLessThanOrEqual(n * bound * (1 + 1e-12));
    expect(l2Norm(modelDelta(attacker, global))).toBeGreaterThan(100 * bound);
    decoded.values.forEach((v, k) => {
      expect(Math.abs(v - plain[k]!)).toBeLessThanOrEqual(2 * 2 ** -SECAGG_DEFAULTS.fractionalBits);
    });
  });
});

describe('clipModelUpdate (plaintext committee)', () => {
  it('returns the weights themselves within the bound, global + clipped Δ beyond it', () => {
    const global = weights([1, 1]);
    const near = weights([1.3, 1.4]);
    expect(clipModelUpdate(near, global, 1).weights).toBe(near);
    const far = weights([4, 5]);
    const { weights: w, norm, clipped } = clipModelUpdate(far, global, 1);
    expect([norm, clipped]).toEqual([5, true]);
    expect([...w.tensors[0]!.data]).toEqual([...Float32Array.from([1.6, 1.8])]);
  });
});

describe('defence options', () => {
  it('refuse a bad bound or margin with ROUND_BAD_CONFIG naming the field', () => {
    expect(validateDefence({ updateNormBound: 2, validationMargin: 0 })).toEqual({ updateNormBound: 2, validationMargin: 0 });
    expect(() => validateDefence({ updateNormBound: 0 })).toThrow(RoundError);
    expect(() => validateDefence({ validationMargin: -0.1 })).toThrow(
      expect.objectContaining({ code: 'ROUND_BAD_CONFIG', fields: expect.objectContaining({ field: 'defence.validationMargin' }) }),
    );
  });
});
