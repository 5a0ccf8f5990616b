/**
 * Shamir over GF(2^8): known answers from an independent implementation
 * (test/vectors/secagg-shamir-gf256.py) and FIPS-197's worked products, the threshold
 * (exactly t shares reconstruct, t − 1 do not), and a property over random secrets.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual, fromHex0x, toHex0x } from '../../protocol/bytes.js';
import { combine, combineVerified, gfInv, gfMul, interpolateAtZero, split } from '../../protocol/secure-aggregation/shamir.js';
import { codeOf } from './secagg-helpers.js';

interface Vectors {
  multiplications: { a: number; b: number; product: number }[];
  inverses: { a: number; inverse: number }[];
  sharings: { secret: string; shares: number; threshold: number; coefficients: string; expected: { x: number; y: string }[] }[];
}
const vectors = JSON.parse(readFileSync(join(import.meta.dirname, '../vectors/secagg-shamir-gf256.json'), 'utf8')) as Vectors;

/** Entropy that replays fixed bytes (the vectors' coefficient draw). */
const fixed = (hex: string) => (n: number) => {
  const b = fromHex0x(hex);
  if (b.length !== n) throw new Error(`vector has ${b.length} coefficient bytes, split asked ${n}`);
  return b;
};

describe('GF(2^8) arithmetic (AES field, FIPS-197 §4.2)', () => {
  it('matches the known products and inverses', () => {
    for (const v of vectors.multiplications) expect(gfMul(v.a, v.b)).toBe(v.product);
    for (const v of vectors.inverses) expect(gfInv(v.a)).toBe(v.inverse);
    expect(gfMul(0x57, 0x83)).toBe(0xc1);
    expect(gfMul(0x57, 0x13)).toBe(0xfe);
  });

  it('is a field: every non-zero element has an inverse, multiplication commutes', () => {
    for (let a = 1; a < 256; a++) {
      expect(gfMul(a, gfInv(a))).toBe(1);
      expect(gfMul(a, 0x1d)).toBe(gfMul(0x1d, a));
    }
  });
});

describe('Shamir secret sharing', () => {
  it('reproduces the known-answer sharings and reconstructs from any t of them', () => {
    for (const v of vectors.sharings) {
      const secret = fromHex0x(v.secret);
      const shares = split(secret, v.shares, v.threshold, fixed(v.coefficients));
      expect(shares.map((s) => ({ x: s.x, y: toHex0x(s.y).slice(2) }))).toEqual(v.expected);
      expect(toHex0x(combine(shares, v.threshold))).toBe(toHex0x(secret));
      expect(toHex0x(combine([...shares].reverse(), v.threshold))).toBe(toHex0x(secret));
    }
  });

  it('reconstructs with exactly t shares and not with t − 1', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 2, max: 9 }),
        fc.integer({ min: 0, max: 6 }),
        fc.uint8Array({ minLength: 8 * 32, maxLength: 8 * 32 }),
        (secret, t, extra, coefficients) => {
          const m = t + extra;
          const shares = split(secret, m, t, (n) => coefficients.slice(0, n));
          // Any t shares (here: the last t) reconstruct.
          expect(bytesEqual(combine(shares.slice(m - t), t), secret)).toBe(true);
          // t − 1 shares: the API refuses, and raw interpolation does not give the secret.
          expect(codeOf(() => combine(shares.slice(0, t - 1), t))).toBe('SECAGG_TOO_FEW_SHARES');
          expect(bytesEqual(interpolateAtZero(shares.slice(0, t - 1)), secret)).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('t − 1 shares are consistent with every secret (perfect secrecy, checked exhaustively for one byte)', () => {
    // For t = 2 and the share (x = 1, y), every secret s has exactly one line through (1, y):
    // the slope a = y ⊕ s. So one share rules out nothing.
    const y = 0x5a;
    const secrets = new Set<number>();
    for (let a = 0; a < 256; a++) {
      const [share] = split(new Uint8Array([y ^ a]), 2, 2, () => new Uint8Array([a]));
      if (share!.y[0] === y) secrets.add(y ^ a);
    }
    expect(secrets.size).toBe(256);
  });

  it('routes around a wrong share when a commitment identifies the secret', () => {
    const secret = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    const shares = split(secret, 5, 3, (n) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff));
    const bad = shares.map((s, i) => (i === 0 ? { x: s.x, y: s.y.map((b) => b ^ 1) } : s));
    const check = (s: Uint8Array) => bytesEqual(s, secret);
    expect(bytesEqual(combineVerified(bad, 3, check), secret)).toBe(true);
    expect(codeOf(() => combineVerified(bad.slice(0, 3), 3, check))).toBe('SECAGG_TOO_FEW_SHARES');
  });

  it('rejects malformed input', () => {
    expect(() => split(new Uint8Array(4), 256, 2, () => new Uint8Array(4))).toThrow(RangeError);
    expect(() => split(new Uint8Array(4), 3, 4, () => new Uint8Array(12))).toThrow(RangeError);
    expect(() =>
      interpolateAtZero([
        { x: 1, y: new Uint8Array(2) },
        { x: 1, y: new Uint8Array(2) },
      ]),
    ).toThrow(RangeError);
  });
});
