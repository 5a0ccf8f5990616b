/**
 * protocol/audit/privacy-constants.ts (red team F10): the δ a deployment's c_α must be for, as
 * the contract stores it (1e-18 units, nearest), and the lane-by-lane comparison with
 * protocol/chain/budget.ts `cAlpha`. Property: whatever δ a deployer passes, the constants it
 * computes are accepted against the stored δ (no false alarm from the 1e-18 rounding); the
 * δ → 1 floor constants and those of another δ are not.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkCAlpha, deltaForConstants, deltaOfUnits, deltaUnits } from '../../protocol/audit/privacy-constants.js';
import { cAlpha, ONCHAIN_RDP_ORDERS } from '../../protocol/chain/budget.js';

describe('c_α bound to δ', () => {
  it('property: cAlpha(δ) checks clean against the δ the contract stores for it, for δ over 1e-30 … 0.5', () => {
    fc.assert(
      fc.property(fc.double({ min: -30, max: Math.log10(0.5), noNaN: true }), (e) => {
        const delta = 10 ** e;
        const stored = deltaUnits(delta)!;
        if (stored === 0n) return; // below the contract's unit: the constructor refuses δ = 0
        const d = deltaForConstants(delta, stored);
        expect(d).toBe(delta);
        expect(checkCAlpha(d, cAlpha(delta)).mismatches).toEqual([]);
      }),
      { numRuns: 300, seed: 10 },
    );
  });

  it('a δ that does not round to the stored value is replaced by the stored one', () => {
    expect(deltaForConstants(1e-6, 10n ** 13n)).toBe(1e-5);
    expect(deltaOfUnits(10n ** 13n)).toBe(1e-5);
    expect(deltaUnits(Number.NaN)).toBeUndefined();
    // 1/3000 is not a multiple of 1e-18: the stored value decodes to another float, the claimed δ is kept.
    const third = 1 / 3000;
    expect(deltaOfUnits(deltaUnits(third)!)).not.toBe(third);
    expect(deltaForConstants(third, deltaUnits(third)!)).toBe(third);
  });

  it('names each lane whose constant is not δ’s: the δ → 1 floor, another δ, a short list', () => {
    const floor = [-2_502_007n, -1_121_684n, -749_778n, -478_467n, -312_910n, -208_962n, -143_545n, -81_761n];
    const r = checkCAlpha(1e-5, floor);
    expect(r.expected).toEqual(cAlpha(1e-5));
    expect(r.mismatches.map((m) => [m.lane, m.order, m.expected, m.actual])).toEqual(
      ONCHAIN_RDP_ORDERS.map((order, lane) => [lane, order, cAlpha(1e-5)[lane], floor[lane]]),
    );
    const one = cAlpha(1e-5).map((c, i) => (i === 3 ? c - 1n : c));
    expect(checkCAlpha(1e-5, one).mismatches.map((m) => m.lane)).toEqual([3]);
    expect(checkCAlpha(1e-5, cAlpha(1e-5).slice(0, 7)).mismatches).toEqual([
      { lane: 7, order: 64, expected: cAlpha(1e-5)[7], actual: undefined },
    ]);
    // δ with no int32 constants: every lane is a mismatch with no expected value.
    expect(checkCAlpha(1e-300, cAlpha(1e-5)).expected).toBeUndefined();
    expect(checkCAlpha(1e-300, cAlpha(1e-5)).mismatches).toHaveLength(8);
  });
});
