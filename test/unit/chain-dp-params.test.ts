import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDpParams, declaredSpend, encodeDpParams, NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { decodePacked, encodeRdp, ONCHAIN_RDP_ORDERS } from '../../protocol/chain/budget.js';
import { computeRdp } from '../../protocol/privacy/rdp.js';
import { OnChainError } from '../../protocol/chain/errors.js';

describe('declared DP parameters (protocol/chain/dp-params.ts)', () => {
  it('round-trips within the documented precision, never lowering q or raising σ', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-6, max: 1, noNaN: true }),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        fc.integer({ min: 1, max: 100_000 }),
        (q, sigma, c, steps) => {
          const d = decodeDpParams(encodeDpParams({ sampleRate: q, noiseMultiplier: sigma, clipNorm: c, steps }))!;
          expect(d.steps).toBe(steps);
          expect(d.sampleRate).toBeGreaterThanOrEqual(q * (1 - 1e-12));
          expect(d.sampleRate - q).toBeLessThanOrEqual(2e-15);
          expect(d.noiseMultiplier).toBeLessThanOrEqual(sigma * (1 + 1e-12));
          expect(sigma - d.noiseMultiplier).toBeLessThanOrEqual(1.01e-6);
          expect(Math.abs(d.clipNorm - c)).toBeLessThanOrEqual(0.51e-6 + c * 1e-12);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('declaredSpend is the rounded-up RDP of the decoded parameters, and 0 without DP', () => {
    const word = encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 1.1, clipNorm: 1, steps: 20 });
    const expected = encodeRdp(computeRdp({ sampleRate: 0.05, noiseMultiplier: 1.1, steps: 20 }, ONCHAIN_RDP_ORDERS));
    expect(declaredSpend(word)).toBe(expected);
    expect(decodePacked(expected).every((lane) => lane > 0n)).toBe(true);
    expect(declaredSpend(NO_DP_PARAMS)).toBe(0n);
    expect(decodeDpParams(NO_DP_PARAMS)).toBeUndefined();
  });

  it('rejects parameters and words that do not fit, naming the field', () => {
    expect(() => encodeDpParams({ sampleRate: 0, noiseMultiplier: 1, clipNorm: 1, steps: 1 })).toThrow(/sampleRate/);
    expect(() => encodeDpParams({ sampleRate: 0.1, noiseMultiplier: 0, clipNorm: 1, steps: 1 })).toThrow(/noiseMultiplier/);
    expect(() => encodeDpParams({ sampleRate: 0.1, noiseMultiplier: 1, clipNorm: -1, steps: 1 })).toThrow(/clipNorm/);
    expect(() => encodeDpParams({ sampleRate: 0.1, noiseMultiplier: 1, clipNorm: 1, steps: 1.5 })).toThrow(/steps/);
    expect(() => decodeDpParams(1n << 200n)).toThrow(OnChainError);
    expect(() => decodeDpParams(1n << 64n)).toThrow(/sampleRate/);
    expect(() => decodeDpParams((1n << 128n) | (1n << 96n) | 5n)).toThrow(/noiseMultiplier/);
  });
});
