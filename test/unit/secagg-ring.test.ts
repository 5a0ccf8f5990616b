/**
 * Z_{2^64} vector arithmetic (protocol/secure-aggregation/ring.ts) against an exact BigInt
 * model: carry and borrow across the 32-bit halves, keystreams read as little-endian u64, and
 * the conversions used by quantization and decoding.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addRing,
  addStream64,
  ringFromIntegers,
  ringWords,
  setIntAt,
  signedAt,
  signedBigAt,
  subRing,
  unsignedBigAt,
} from '../../protocol/secure-aggregation/ring.js';
import { codeOf } from './secagg-helpers.js';

const M = 1n << 64n;
const u64 = fc.bigInt({ min: 0n, max: M - 1n });
const fromBig = (xs: bigint[]): Uint32Array => {
  const v = new Uint32Array(ringWords(xs.length));
  xs.forEach((x, k) => {
    const u = BigInt.asUintN(64, x);
    v[2 * k] = Number(u & 0xffffffffn);
    v[2 * k + 1] = Number(u >> 32n);
  });
  return v;
};
const toBig = (v: Uint32Array): bigint[] => Array.from({ length: v.length / 2 }, (_, k) => unsignedBigAt(v, k));

describe('Z_{2^64} vectors', () => {
  it('addRing and subRing equal BigInt arithmetic mod 2^64, carries and borrows included', () => {
    // Edge values that carry or borrow across the halves, plus random ones.
    const edges = [0n, 1n, 0xffffffffn, 0x100000000n, M - 1n, M - 0x100000000n, 1n << 63n, (1n << 63n) - 1n];
    const arb = fc.oneof(fc.constantFrom(...edges), u64);
    fc.assert(
      fc.property(fc.array(fc.tuple(arb, arb), { minLength: 1, maxLength: 16 }), (pairs) => {
        const a = fromBig(pairs.map((p) => p[0]));
        const b = fromBig(pairs.map((p) => p[1]));
        const s = a.slice();
        addRing(s, b);
        expect(toBig(s)).toEqual(pairs.map(([x, y]) => (x + y) % M));
        const d = a.slice();
        subRing(d, b);
        expect(toBig(d)).toEqual(pairs.map(([x, y]) => (((x - y) % M) + M) % M));
        subRing(s, b);
        expect([...s]).toEqual([...a]);
      }),
      { numRuns: 500 },
    );
  });

  it('a keystream is read as little-endian u64 words, at any byte offset', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 8 * 5 + 3, maxLength: 8 * 5 + 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        (bytes, off, plus) => {
          const ks = bytes.subarray(off, off + 40);
          const words = Array.from({ length: 5 }, (_, k) => {
            let x = 0n;
            for (let i = 7; i >= 0; i--) x = (x << 8n) | BigInt(ks[8 * k + i]!);
            return x;
          });
          const t = fromBig([1n, M - 1n, 0n, 1n << 63n, 12345n]);
          const before = toBig(t);
          addStream64(t, ks, plus ? 1 : -1);
          expect(toBig(t)).toEqual(before.map((x, k) => (((plus ? x + words[k]! : x - words[k]!) % M) + M) % M));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('setIntAt stores two’s complement; signedAt reads back exactly within ±2^53', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 53), max: 2 ** 53 }), (x) => {
        const v = new Uint32Array(2);
        setIntAt(v, 0, x);
        expect(signedBigAt(v, 0)).toBe(BigInt(x));
        expect(signedAt(v, 0)).toBe(x);
      }),
      { numRuns: 2000 },
    );
    expect(toBig(ringFromIntegers([-1, 2 ** 53, -(2 ** 53)]))).toEqual([M - 1n, 1n << 53n, M - (1n << 53n)]);
    expect(() => ringFromIntegers([0.5])).toThrow(RangeError);
  });

  it('refuses vectors of different lengths or an odd number of words', () => {
    expect(codeOf(() => addRing(new Uint32Array(4), new Uint32Array(2)))).toBe('SECAGG_BAD_INPUT');
    expect(codeOf(() => addRing(new Uint32Array(3), new Uint32Array(3)))).toBe('SECAGG_BAD_INPUT');
  });
});
