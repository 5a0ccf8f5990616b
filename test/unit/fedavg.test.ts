import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFedmeshError } from '../../protocol/errors.js';
import { type Contribution, fedAvg, fedAvgCoefficients } from '../../protocol/fedavg.js';
import { modelHash } from '../../protocol/weights-codec.js';

const model = (vals: number[]) => ({ tensors: [{ shape: [vals.length], data: Float32Array.from(vals) }] });

const contributionsArb = fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 20 }).chain((counts) =>
  fc
    .array(fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: 4, maxLength: 4 }), {
      minLength: counts.length,
      maxLength: counts.length,
    })
    .map((vals) => counts.map((n, i): Contribution => ({ participant: `p${i}`, sampleCount: n, weights: model(vals[i]!) }))),
);

describe('FedAvg', () => {
  it('coefficients n_i/n are positive and sum to 1 for any sample counts', () => {
    fc.assert(
      fc.property(contributionsArb, (cs) => {
        const coefs = fedAvgCoefficients(cs);
        expect(coefs.every((c) => c.coefficient > 0)).toBe(true);
        expect(coefs.reduce((s, c) => s + c.coefficient, 0)).toBeCloseTo(1, 12);
      }),
      { numRuns: 300 },
    );
  });

  it('equals the sample-weighted mean, coordinate by coordinate', () => {
    const out = fedAvg([
      { participant: 'a', sampleCount: 1, weights: model([0, 10, -4]) },
      { participant: 'b', sampleCount: 3, weights: model([4, 2, 4]) },
    ]);
    expect(Array.from(out.tensors[0]!.data)).toEqual([3, 4, 2]);
  });

  it('is the identity when every site holds the same model', () => {
    fc.assert(
      fc.property(contributionsArb, (cs) => {
        const same = cs.map((c) => ({ ...c, weights: cs[0]!.weights }));
        // +0 and −0 are equal weights; the float64 accumulator starts at +0.
        const norm = (a: ArrayLike<number>) => Array.from(a, (x) => (x === 0 ? 0 : x));
        expect(norm(fedAvg(same).tensors[0]!.data)).toEqual(norm(cs[0]!.weights.tensors[0]!.data));
      }),
      { numRuns: 100 },
    );
  });

  it('is bit-identical under any arrival order (canonical ordering)', () => {
    fc.assert(
      fc.property(contributionsArb, fc.integer(), (cs, salt) => {
        const shuffled = [...cs].sort((a, b) => ((a.participant.length * 31 + salt) % 7) - ((b.participant.length * 17 + salt) % 5));
        expect(modelHash(fedAvg(shuffled))).toEqual(modelHash(fedAvg([...cs].reverse())));
      }),
      { numRuns: 100 },
    );
  });

  it('stays within the convex hull of the inputs', () => {
    fc.assert(
      fc.property(contributionsArb, (cs) => {
        const out = fedAvg(cs).tensors[0]!.data;
        for (let k = 0; k < out.length; k++) {
          const col = cs.map((c) => c.weights.tensors[0]!.data[k]!);
          expect(out[k]!).toBeGreaterThanOrEqual(Math.min(...col) - 1e-5);
          expect(out[k]!).toBeLessThanOrEqual(Math.max(...col) + 1e-5);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('rejects empty input, bad counts, duplicates and shape mismatches with codes', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isFedmeshError(e) ? e.code : 'untyped';
      }
      return 'none';
    };
    expect(code(() => fedAvg([]))).toBe('FEDAVG_EMPTY');
    expect(code(() => fedAvg([{ participant: 'a', sampleCount: 0, weights: model([1]) }]))).toBe('FEDAVG_BAD_SAMPLE_COUNT');
    expect(code(() => fedAvg([{ participant: 'a', sampleCount: 1.5, weights: model([1]) }]))).toBe('FEDAVG_BAD_SAMPLE_COUNT');
    expect(
      code(() =>
        fedAvg([
          { participant: 'a', sampleCount: 1, weights: model([1]) },
          { participant: 'a', sampleCount: 2, weights: model([1]) },
        ]),
      ),
    ).toBe('FEDAVG_DUPLICATE');
    expect(
      code(() =>
        fedAvg([
          { participant: 'a', sampleCount: 1, weights: model([1]) },
          { participant: 'b', sampleCount: 2, weights: model([1, 2]) },
        ]),
      ),
    ).toBe('FEDAVG_SHAPE_MISMATCH');
  });
});
