/**
 * The loss-threshold membership-inference attack and its reference points
 * (protocol/privacy/membership-inference.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  advantageAt,
  dpAdvantageBound,
  heldOutThresholdAdvantage,
  lossThresholdAttack,
  permutationNullAdvantage,
} from '../../protocol/privacy/index.js';
import { createRng } from '../../protocol/rng.js';

describe('lossThresholdAttack', () => {
  it('finds the threshold maximising TPR − FPR (member iff loss ≤ τ), keeping ties together', () => {
    expect(lossThresholdAttack([0.1, 0.2, 0.9], [0.5, 0.6, 1.0])).toEqual({ advantage: 2 / 3, threshold: 0.2, tpr: 2 / 3, fpr: 0 });
    // A tie between a member and a non-member cannot be split.
    expect(lossThresholdAttack([0.3], [0.3, 0.8]).advantage).toBe(0.5);
    expect(lossThresholdAttack([0.1, 0.2], [0.5, 0.6]).advantage).toBe(1);
    expect(lossThresholdAttack([0.9], [0.1]).advantage).toBe(0);
  });

  it('is the maximum of advantageAt over thresholds, in [0, 1], and invariant under monotone maps', () => {
    const losses = fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(losses, losses, (m, n) => {
        const best = lossThresholdAttack(m, n);
        expect(best.advantage).toBeGreaterThanOrEqual(0);
        expect(best.advantage).toBeLessThanOrEqual(1);
        for (const t of [...m, ...n]) expect(advantageAt(m, n, t)).toBeLessThanOrEqual(best.advantage + 1e-12);
        const f = (x: number): number => Math.exp(x / 7) - 3;
        expect(lossThresholdAttack(m.map(f), n.map(f)).advantage).toBeCloseTo(best.advantage, 12);
      }),
    );
  });
});

describe('reference points', () => {
  const rng = createRng(5, 'test/mia');
  const normal = (mu: number): number => mu + Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());

  it('with no leakage the best-threshold advantage sits at the permutation null, the held-out estimate near 0', () => {
    const m = Array.from({ length: 57 }, () => normal(0));
    const n = Array.from({ length: 114 }, () => normal(0));
    const nul = permutationNullAdvantage(m, n, createRng(1, 'perm'), 200);
    expect(nul).toBeGreaterThan(0.05);
    expect(nul).toBeLessThan(0.2);
    expect(Math.abs(heldOutThresholdAdvantage(m, n, createRng(2, 'split'), 100))).toBeLessThan(0.06);
  });

  it('with real leakage both estimates see it (members’ losses shifted down by one standard deviation)', () => {
    // True optimal advantage for N(−1,1) vs N(0,1): 2Φ(0.5) − 1 ≈ 0.383.
    const m = Array.from({ length: 400 }, () => normal(-1));
    const n = Array.from({ length: 400 }, () => normal(0));
    expect(Math.abs(lossThresholdAttack(m, n).advantage - 0.383)).toBeLessThan(0.08);
    expect(Math.abs(heldOutThresholdAdvantage(m, n, createRng(3, 'split'), 50) - 0.383)).toBeLessThan(0.08);
  });

  it('(ε, δ)-DP bounds the advantage by (1 − δ)·tanh(ε/2) + δ', () => {
    expect(dpAdvantageBound(1, 0)).toBeCloseTo((Math.E - 1) / (Math.E + 1), 15);
    expect(dpAdvantageBound(0, 0)).toBe(0);
    expect(dpAdvantageBound(Number.POSITIVE_INFINITY, 1e-5)).toBe(1);
    expect(dpAdvantageBound(1, 1e-5)).toBeGreaterThan(dpAdvantageBound(1, 0));
    expect(() => dpAdvantageBound(-1, 0)).toThrow(/PRIVACY_ARGUMENT_INVALID/);
  });
});
