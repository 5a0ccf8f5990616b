/**
 * Bounded inputs after unmasking (issue 13 item 5; protocol/secure-aggregation/quantize.ts
 * `checkAggregateBounds`, `decodeSum`). Each attack is a participant that deviates after
 * honest encoding — it adds any value to its masked vector, or claims a sample count that
 * makes Σ n_i 0 or 1 — and the committee's check must refuse the sum with
 * SECAGG_OUT_OF_RANGE before anything is decoded or applied. Masks are real AES-CTR streams:
 * an additive deviation survives masking and unmasking unchanged, which is why it can only be
 * caught on the sum.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clipLevels } from '../../protocol/secure-aggregation/config.js';
import { isFedmeshError } from '../../protocol/errors.js';
import { addPrg, addVector } from '../../protocol/secure-aggregation/masking.js';
import { applyAggregate, checkAggregateBounds, decodeSum, quantize } from '../../protocol/secure-aggregation/quantize.js';
import { ringFromIntegers, ringWords, signedBigAt } from '../../protocol/secure-aggregation/ring.js';
import { codeOf, config, crypto } from './secagg-helpers.js';

const c = config();
const R = c.clipRange;
const L = clipLevels(c);
const D = 6;

/**
 * A round of `inputs.length` participants with pairwise masks (key k_ij, + for i < j, − for
 * i > j) and self masks, unmasked by subtracting the self masks: returns Σ q_i + Σ tamper_i.
 */
function maskedRound(inputs: Uint32Array[], tamper: (i: number, y: Uint32Array) => void): Uint32Array {
  const key = (a: number, b: number) => new Uint8Array(16).fill(1 + a * 31 + b);
  const ys = inputs.map((q, i) => {
    const y = q.slice();
    addPrg(crypto, y, key(i, i), 1);
    inputs.forEach((_, j) => {
      if (j !== i) addPrg(crypto, y, key(Math.min(i, j), Math.max(i, j)), i < j ? 1 : -1);
    });
    tamper(i, y);
    return y;
  });
  const sum = new Uint32Array(ys[0]!.length);
  for (const y of ys) addVector(sum, y);
  for (let i = 0; i < inputs.length; i++) addPrg(crypto, sum, key(i, i), -1);
  return sum;
}

const honest = (n: number, x: number) => quantize(new Array(D).fill(x), n, c, new Uint8Array(4 * D));

function outOfRange(f: () => unknown): Record<string, unknown> {
  try {
    f();
  } catch (e) {
    if (isFedmeshError(e) && e.code === 'SECAGG_OUT_OF_RANGE') return e.fields as Record<string, unknown>;
    throw e;
  }
  throw new Error('accepted');
}

describe('checkAggregateBounds: the unmasked sum must be one that honest inputs produce', () => {
  it('accepts honest sums, edges included, and decodes them exactly', () => {
    const inputs = [honest(5, R), honest(7, -R), honest(1, 0.5)];
    const sum = maskedRound(inputs, () => {});
    expect(checkAggregateBounds(sum, 3, c).totalSamples).toBe(13);
    const { values, totalSamples } = decodeSum(sum, 3, c);
    expect(totalSamples).toBe(13);
    expect(values[0]).toBe(0.5);
  });

  it('catches a value added after masking, whatever its size (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: D - 1 }), fc.bigInt({ min: 1n, max: (1n << 63n) - 1n }), fc.boolean(), (k, extra, negative) => {
        // Three survivors at the +R edge on coordinate k: the sum is exactly 3L, so any positive
        // addition leaves the range; a negative addition of more than 6L also does.
        const inputs = [honest(3, R), honest(3, R), honest(3, R)];
        const add = negative ? -(extra + 6n * BigInt(L)) : extra;
        const sum = maskedRound(inputs, (i, y) => {
          if (i !== 1) return;
          const t = new Uint32Array(y.length);
          const u = BigInt.asUintN(64, add);
          t[2 * k] = Number(u & 0xffffffffn);
          t[2 * k + 1] = Number(u >> 32n);
          addVector(y, t);
        });
        expect(signedBigAt(sum, k)).toBe(BigInt.asIntN(64, 3n * BigInt(L) + add));
        const f = outOfRange(() => checkAggregateBounds(sum, 3, c));
        expect(f).toMatchObject({ check: 'coordinate', index: k });
      }),
      { numRuns: 300 },
    );
  });

  it('catches the classic wrap-around: an input of 2^63 on one coordinate', () => {
    const sum = maskedRound([honest(2, 0.25), honest(2, -0.25)], (i, y) => {
      if (i === 0) y[1] = y[1]! + 0x80000000; // + 2^63 on coordinate 0
    });
    expect(outOfRange(() => decodeSum(sum, 2, c))).toMatchObject({ check: 'coordinate', index: 0 });
  });

  it('catches Σ n_i = 0 and Σ n_i = 1 claimed by a malicious survivor; applyAggregate is never reached', () => {
    for (const target of [0, 1, 2]) {
      // Survivors 0 and 1 are honest (n = 40, 60); survivor 2 adds target − 100 − 1 to its
      // sample-count element after masking, so Σ n_i = target.
      const sum = maskedRound([honest(40, 0.1), honest(60, 0.1), honest(1, 0.1)], (i, y) => {
        if (i === 2) addVector(y, ringFromIntegers([...new Array(D).fill(0), target - 101]));
      });
      expect(outOfRange(() => decodeSum(sum, 3, c))).toMatchObject({ check: 'sampleCount', index: D });
      let applied = false;
      expect(
        codeOf(() => {
          const { values, totalSamples } = decodeSum(sum, 3, c);
          applied = true;
          return applyAggregate({ tensors: [{ shape: [D], data: new Float32Array(D) }] }, values, totalSamples);
        }),
      ).toBe('SECAGG_OUT_OF_RANGE');
      expect(applied).toBe(false);
    }
  });

  it('catches a sample count that wraps past |U|·maxSampleCount', () => {
    const sum = maskedRound([honest(1, 0), honest(1, 0)], (i, y) => {
      if (i === 0) addVector(y, ringFromIntegers([...new Array(D).fill(0), 2 * c.maxSampleCount]));
    });
    expect(outOfRange(() => checkAggregateBounds(sum, 2, c))).toMatchObject({ check: 'sampleCount' });
    const wrap = maskedRound([honest(1, 0), honest(1, 0)], (i, y) => {
      if (i === 0) addVector(y, ringFromIntegers([...new Array(D).fill(0), -3])); // Σ n_i = 2^64 − 1
    });
    expect(outOfRange(() => checkAggregateBounds(wrap, 2, c))).toMatchObject({ check: 'sampleCount' });
  });

  it('refuses |U| < 1 and names the bound in its fields', () => {
    const sum = new Uint32Array(ringWords(D + 1));
    expect(outOfRange(() => checkAggregateBounds(sum, 0, c))).toMatchObject({ check: 'survivors' });
    expect(outOfRange(() => checkAggregateBounds(ringFromIntegers([L + 1, 0, 0, 0, 0, 0, 1]), 1, c))).toMatchObject({
      check: 'coordinate',
      index: 0,
      value: String(L + 1),
      bound: String(L),
      survivors: 1,
      rule: '|Σ q_k| ≤ |U|·clipRange·2^fractionalBits',
    });
  });
});
