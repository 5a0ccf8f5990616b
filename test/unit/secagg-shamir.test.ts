/**
 * Shamir over GF(2^8): known answers from an independent implementation
 * (test/vectors/secagg-shamir-gf256.py) and FIPS-197's worked products, the threshold
 * (exactly t shares reconstruct, t − 1 do not), a property over random secrets, and
 * reconstruction of many secrets with lying holders at a cost linear in the secrets
 * (issue 13 item 7).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual, fromHex0x, toHex0x } from '../../protocol/bytes.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  combine,
  combineVerified,
  gfInv,
  gfMul,
  interpolateAt,
  interpolateAtZero,
  reconstructAll,
  type SecretShares,
  type Share,
  split,
  subsetsColex,
} from '../../protocol/secure-aggregation/shamir.js';
import { seededEntropy } from '../../node/services/secagg-crypto.js';
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

/** `count` secrets of 32 bytes, each split m ways with threshold t, checked by a SHA-256 commitment. */
function sharings(count: number, m: number, t: number, seed: string) {
  const ent = seededEntropy(seed);
  return Array.from({ length: count }, (_, i) => {
    const secret = ent(32);
    const commitment = sha256(secret);
    return { id: `p${i}`, secret, commitment, shares: split(secret, m, t, ent) };
  });
}

/** Holder x lies: its share of every secret (or of those `lies` selects) has random bytes flipped. */
function withLiars(
  all: ReturnType<typeof sharings>,
  liars: ReadonlySet<number>,
  lies: (i: number) => boolean = () => true,
): SecretShares[] {
  const ent = seededEntropy('lies');
  return all.map((s, i) => ({
    id: s.id,
    shares: s.shares.map((sh): Share => {
      if (!liars.has(sh.x) || !lies(i)) return sh;
      const flip = ent(32);
      flip[0] = flip[0]! | 1; // never the identity
      return { x: sh.x, y: sh.y.map((b, k) => b ^ flip[k]!) };
    }),
    check: (v: Uint8Array) => bytesEqual(sha256(v), s.commitment),
  }));
}

const binomial = (n: number, k: number): number => (k === 0 ? 1 : (binomial(n - 1, k - 1) * n) / k);

describe('reconstructAll: liars cost one search, not one per secret', () => {
  const m = 7;
  const t = 5;
  const S = 40;

  it('colex order visits every t-subset once, subsets of the first j shares first', () => {
    const all = [...subsetsColex(7, 3)];
    expect(all.length).toBe(binomial(7, 3));
    expect(new Set(all.map((c) => c.join())).size).toBe(all.length);
    expect(all.slice(0, 4).map((c) => c.join())).toEqual(['0,1,2', '0,1,3', '0,2,3', '1,2,3']);
    for (let i = 1; i < all.length; i++) expect(Math.max(...all[i]!)).toBeGreaterThanOrEqual(Math.max(...all[i - 1]!));
  });

  it('interpolateAt: every share lies on the polynomials through any t others', () => {
    const [s] = sharings(1, m, t, 'poly');
    for (const share of s!.shares) {
      const others = s!.shares.filter((o) => o.x !== share.x).slice(0, t);
      expect(toHex0x(interpolateAt(others, share.x))).toBe(toHex0x(share.y));
    }
  });

  it('no liar: one attempt per secret, no suspects', () => {
    const all = sharings(S, m, t, 'honest');
    const r = reconstructAll(withLiars(all, new Set()), t);
    expect(r.attempts).toBe(S);
    expect(r.suspects).toEqual([]);
    for (const s of all) expect(toHex0x(r.secrets.get(s.id)!)).toBe(toHex0x(s.secret));
  });

  it('one liar (holder x = 1, in the first subset): identified on the first secret, then one attempt per secret', () => {
    const all = sharings(S, m, t, 'one');
    const r = reconstructAll(withLiars(all, new Set([1])), t);
    for (const s of all) expect(toHex0x(r.secrets.get(s.id)!)).toBe(toHex0x(s.secret));
    expect(r.suspects).toEqual([1]);
    expect(r.attempts).toBeLessThanOrEqual(binomial(t + 1, t) + (S - 1));
    // The old per-secret search (lexicographic, no memory) paid up to C(m − 1, t − 1) per secret.
    expect(r.attempts).toBeLessThan(S * 2);
  });

  it('m − t liars (the most that still leaves t honest): all identified, cost C(m, t) + (secrets − 1) at worst', () => {
    const all = sharings(S, m, t, 'many');
    const liars = new Set([1, 2]); // m − t = 2, both in the first subset
    const r = reconstructAll(withLiars(all, liars), t);
    for (const s of all) expect(toHex0x(r.secrets.get(s.id)!)).toBe(toHex0x(s.secret));
    expect(r.suspects).toEqual([1, 2]);
    expect(r.attempts).toBeLessThanOrEqual(binomial(m, t) + (S - 1));
    expect(r.attempts).toBeLessThan(binomial(m, t) + 2 * S);
  });

  it('a liar that lies only from the 10th secret on is caught there, once', () => {
    const all = sharings(S, m, t, 'late');
    const r = reconstructAll(
      withLiars(all, new Set([3]), (i) => i >= 9),
      t,
    );
    for (const s of all) expect(toHex0x(r.secrets.get(s.id)!)).toBe(toHex0x(s.secret));
    expect(r.suspects).toEqual([3]);
    expect(r.attempts).toBeLessThanOrEqual(9 + binomial(t + 1, t) + (S - 10));
  });

  it('two coordinated liars can frame honest holders, yet every secret is still right and reconstructed', () => {
    // t = 3, m = 5. Holders 1 and 2 shift their shares of secret 0 so that the subset {1, 2, 3}
    // interpolates the right secret through the wrong polynomials: δ1·l1(0) ⊕ δ2·l2(0) = 0.
    const all = sharings(6, 5, 3, 'frame');
    const l = (j: number, xs: number[]) => xs.filter((x) => x !== j).reduce((acc, xm) => gfMul(acc, gfMul(xm, gfInv(xm ^ j))), 1);
    const l1 = l(1, [1, 2, 3]);
    const l2 = l(2, [1, 2, 3]);
    const d1 = 0x5a;
    const d2 = gfMul(gfMul(d1, l1), gfInv(l2));
    const items = withLiars(all, new Set([1, 2]), (i) => i > 0);
    items[0] = {
      ...items[0]!,
      shares: items[0]!.shares.map((sh) =>
        sh.x === 1 ? { x: 1, y: sh.y.map((b) => b ^ d1) } : sh.x === 2 ? { x: 2, y: sh.y.map((b) => b ^ d2) } : sh,
      ),
    };
    const r = reconstructAll(items, 3);
    for (const s of all) expect(toHex0x(r.secrets.get(s.id)!)).toBe(toHex0x(s.secret));
    // Framed on secret 0 (4 and 5 disagreed with the forged polynomials), the liars on secret 1.
    expect(r.suspects).toEqual([1, 2, 4, 5]);
  });

  it('fails with the secret named when fewer than t shares agree with the commitment', () => {
    const all = sharings(3, m, t, 'fail');
    const items = withLiars(all, new Set([1, 2, 3]), (i) => i === 2);
    let fields: Record<string, unknown> = {};
    try {
      reconstructAll(items, t);
    } catch (e) {
      fields = (e as { code: string; fields: Record<string, unknown> }).fields;
      expect((e as { code: string }).code).toBe('SECAGG_TOO_FEW_SHARES');
    }
    expect(fields).toMatchObject({ secret: 'p2', have: m, threshold: t });
  });
});
