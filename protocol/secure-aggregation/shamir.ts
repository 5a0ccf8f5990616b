/**
 * Shamir secret sharing (Shamir, "How to Share a Secret", CACM 1979) over GF(2^8), byte-wise.
 *
 * Field: GF(2^8) with the AES reduction polynomial x^8 + x^4 + x^3 + x + 1 (0x11b, FIPS-197
 * §4.2). A secret of L bytes is L independent sharings: byte k is the constant term of a
 * random polynomial of degree ≤ t − 1, and share x holds that polynomial's value at x for
 * every byte. x ranges over 1..255, so at most 255 shares. Any t shares interpolate the
 * secret at 0 (Lagrange); t − 1 shares are independent of it (perfect secrecy).
 *
 * Why GF(2^8) rather than a prime field: shares are plain byte strings the length of the
 * secret, every intermediate value lives in a Uint8Array that is wiped after use (bigints
 * cannot be zeroed), and multiplication is branch- and table-free, so timing does not depend
 * on secret bytes. The same construction is used by HashiCorp Vault and SLIP-0039.
 *
 * Randomness: `split` takes (t − 1)·L bytes from `entropy`; byte k's coefficients a_1..a_{t−1}
 * are bytes k·(t−1) .. k·(t−1)+t−2 of that draw (the known-answer vectors rely on this order).
 */
import { wipe } from '../bytes.js';
import type { Entropy } from './crypto.js';
import { SecAggError } from './errors.js';

export interface Share {
  /** Evaluation point, 1..255. */
  readonly x: number;
  /** The polynomials' values at x, one byte per secret byte. */
  readonly y: Uint8Array;
}

/** Multiplication in GF(2^8) mod 0x11b, constant time (shift-and-add with masks). */
export function gfMul(a: number, b: number): number {
  let p = 0;
  for (let i = 0; i < 8; i++) {
    p ^= -(b & 1) & a;
    const carry = -((a >> 7) & 1);
    a = ((a << 1) ^ (carry & 0x1b)) & 0xff;
    b >>= 1;
  }
  return p & 0xff;
}

/** Multiplicative inverse a^254 (a^255 = 1 for a ≠ 0); 0 maps to 0. Fixed exponent: constant time. */
export function gfInv(a: number): number {
  let result = 1;
  let base = a;
  for (let e = 254; e > 0; e >>= 1) {
    if (e & 1) result = gfMul(result, base);
    base = gfMul(base, base);
  }
  return result;
}

/** Split `secret` into `count` shares (x = 1..count), any `threshold` of which reconstruct it. */
export function split(secret: Uint8Array, count: number, threshold: number, entropy: Entropy): Share[] {
  if (!Number.isInteger(count) || count < 1 || count > 255) throw new RangeError(`share count ${count} not in [1, 255]`);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > count) {
    throw new RangeError(`threshold ${threshold} not in [1, ${count}]`);
  }
  const deg = threshold - 1;
  const coeffs = deg > 0 ? entropy(deg * secret.length) : new Uint8Array(0);
  if (coeffs.length !== deg * secret.length) throw new RangeError('entropy returned the wrong number of bytes');
  const shares: Share[] = [];
  for (let x = 1; x <= count; x++) {
    const y = new Uint8Array(secret.length);
    for (let k = 0; k < secret.length; k++) {
      // Horner: ((a_{t−1}·x + a_{t−2})·x + … + a_1)·x + secret_k
      let acc = 0;
      for (let j = deg - 1; j >= 0; j--) acc = gfMul(acc, x) ^ coeffs[k * deg + j]!;
      y[k] = deg > 0 ? gfMul(acc, x) ^ secret[k]! : secret[k]!;
    }
    shares.push({ x, y });
  }
  wipe(coeffs);
  return shares;
}

/**
 * Evaluate the polynomials through `shares` (distinct x) at `x`: Lagrange interpolation,
 * l_j(x) = Π_{m≠j} (x − x_m) / (x_j − x_m), subtraction being XOR in GF(2^8). At x = 0 this is
 * the secret; at another share's x it is what that share must be if it lies on the same
 * polynomials.
 */
export function interpolateAt(shares: readonly Share[], x: number): Uint8Array {
  if (shares.length === 0) throw new RangeError('no shares');
  const len = shares[0]!.y.length;
  const xs = shares.map((s) => s.x);
  for (const s of shares) {
    if (!Number.isInteger(s.x) || s.x < 1 || s.x > 255) throw new RangeError(`share x ${s.x} not in [1, 255]`);
    if (s.y.length !== len) throw new RangeError('shares of different lengths');
  }
  if (new Set(xs).size !== xs.length) throw new RangeError('duplicate share x');
  const basis = xs.map((xj, j) => {
    let num = 1;
    let den = 1;
    xs.forEach((xm, m) => {
      if (m === j) return;
      num = gfMul(num, x ^ xm);
      den = gfMul(den, xj ^ xm);
    });
    return gfMul(num, gfInv(den));
  });
  const out = new Uint8Array(len);
  for (let k = 0; k < len; k++) {
    let acc = 0;
    for (let j = 0; j < shares.length; j++) acc ^= gfMul(basis[j]!, shares[j]!.y[k]!);
    out[k] = acc;
  }
  return out;
}

/**
 * Interpolate the polynomials through `shares` at 0. With fewer than the sharing's
 * threshold the result is unrelated to the secret; `combine` enforces the threshold.
 */
export function interpolateAtZero(shares: readonly Share[]): Uint8Array {
  return interpolateAt(shares, 0);
}

/** Reconstruct from at least `threshold` shares (uses the first `threshold` given). */
export function combine(shares: readonly Share[], threshold: number): Uint8Array {
  if (shares.length < threshold) {
    throw new SecAggError('SECAGG_TOO_FEW_SHARES', `${shares.length} shares, threshold ${threshold}`, {
      have: shares.length,
      threshold,
    });
  }
  return interpolateAtZero(shares.slice(0, threshold));
}

/**
 * Reconstruct one secret that must satisfy `check` (a commitment): tries `threshold`-subsets
 * in colex order (all subsets of the first t + 1 shares before any that uses share t + 2, …),
 * so with e wrong shares among the first t + e a verified subset is found within C(t + e, t)
 * tries. Throws SECAGG_TOO_FEW_SHARES when no subset verifies. For many secrets use
 * `reconstructAll`, which stops paying this search once a liar is known.
 */
export function combineVerified(shares: readonly Share[], threshold: number, check: (secret: Uint8Array) => boolean): Uint8Array {
  if (shares.length < threshold) return combine(shares, threshold);
  const found = searchVerified(shares, threshold, check, () => false);
  if (found !== undefined) return found.secret;
  throw new SecAggError('SECAGG_TOO_FEW_SHARES', `no ${threshold} of ${shares.length} shares reconstruct the committed secret`, {
    have: shares.length,
    threshold,
  });
}

/** One secret for `reconstructAll`: its shares (any order) and its public check (commitment). */
export interface SecretShares {
  readonly id: string;
  readonly shares: readonly Share[];
  readonly check: (secret: Uint8Array) => boolean;
}

export interface Reconstruction {
  /** Every secret, by id (the caller wipes them). */
  readonly secrets: Map<string, Uint8Array>;
  /**
   * Share holders (x) whose share of some secret disagreed with that secret's verified
   * polynomials, sorted. One liar, or liars that do not coordinate, are exactly the members
   * that sent a wrong share. Not proof of misbehaviour: two members that coordinate their lies
   * inside one t-subset can make its polynomials verify at 0 while honest shares disagree —
   * so suspects only order the search, and every secret is still checked against its commitment.
   */
  readonly suspects: number[];
  /** t-subsets interpolated and checked, over all secrets (the cost the tests bound). */
  readonly attempts: number;
}

/**
 * Reconstruct many secrets shared by the same holders, at a cost linear in their number
 * (issue 13 item 7). Before, one lying holder made every secret try up to C(m − 1, t) subsets.
 * Here, after a secret verifies against its commitment, every other holder's share of it is
 * checked against the verified polynomials (`interpolateAt`); a holder whose share disagrees
 * becomes a suspect and its shares of every later secret are left out of the search. Suspects'
 * shares are used again only if the others cannot reconstruct a secret (so framed honest holders
 * never cost liveness). With e liars that lie on every secret the total is at most
 * C(t + e, t) + (secrets − 1) attempts; with no liar, exactly one attempt per secret.
 * Throws SECAGG_TOO_FEW_SHARES (with `fields.secret`) after wiping what it reconstructed.
 */
export function reconstructAll(items: readonly SecretShares[], threshold: number): Reconstruction {
  const secrets = new Map<string, Uint8Array>();
  const suspects = new Set<number>();
  let attempts = 0;
  try {
    for (const item of items) {
      if (item.shares.length < threshold) {
        throw new SecAggError('SECAGG_TOO_FEW_SHARES', `${item.shares.length} shares of ${item.id}, threshold ${threshold}`, {
          secret: item.id,
          have: item.shares.length,
          threshold,
        });
      }
      const trusted = item.shares.filter((s) => !suspects.has(s.x));
      let found = trusted.length >= threshold ? searchVerified(trusted, threshold, item.check, () => false) : undefined;
      if (found !== undefined) attempts += found.attempts;
      else {
        if (trusted.length >= threshold) attempts += binomial(trusted.length, threshold);
        // Fall back to every share, skipping subsets of trusted shares (already tried).
        const all = item.shares;
        found = searchVerified(all, threshold, item.check, (subset) => subset.every((i) => !suspects.has(all[i]!.x)));
        if (found !== undefined) attempts += found.attempts;
      }
      if (found === undefined) {
        throw new SecAggError('SECAGG_TOO_FEW_SHARES', `no ${threshold} of ${item.shares.length} shares reconstruct ${item.id}`, {
          secret: item.id,
          have: item.shares.length,
          threshold,
        });
      }
      secrets.set(item.id, found.secret);
      // Check every share outside the verified subset against its polynomials.
      const basis = found.subset;
      for (const s of item.shares) {
        if (basis.some((b) => b.x === s.x)) continue;
        const expected = interpolateAt(basis, s.x);
        if (!bytesEqualCt(expected, s.y)) suspects.add(s.x);
        wipe(expected);
      }
    }
  } catch (e) {
    for (const v of secrets.values()) wipe(v);
    throw e;
  }
  return { secrets, suspects: [...suspects].sort((a, b) => a - b), attempts };
}

/** The first t-subset (colex order) whose secret passes `check`, skipping those `skip` says. */
function searchVerified(
  shares: readonly Share[],
  threshold: number,
  check: (secret: Uint8Array) => boolean,
  skip: (subset: readonly number[]) => boolean,
): { secret: Uint8Array; subset: Share[]; attempts: number } | undefined {
  let attempts = 0;
  for (const idx of subsetsColex(shares.length, threshold)) {
    if (skip(idx)) continue;
    attempts++;
    const subset = idx.map((i) => shares[i]!);
    const secret = interpolateAtZero(subset);
    if (check(secret)) return { secret, subset, attempts };
    wipe(secret);
  }
  return undefined;
}

/** Equal length and bytes, without an early exit on the first difference. */
function bytesEqualCt(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

/**
 * k-subsets of {0..n−1} in colexicographic order: ordered by largest element first, so every
 * subset of {0..j} comes before any subset containing j + 1 (Knuth, TAOCP 7.2.1.3, Algorithm L).
 */
export function* subsetsColex(n: number, k: number): Generator<number[]> {
  if (k < 1 || k > n) return;
  const c = Array.from({ length: k }, (_, i) => i);
  while (true) {
    yield [...c];
    let j = 0;
    while (j < k && c[j]! + 1 === (j + 1 < k ? c[j + 1]! : n)) j++;
    if (j === k) return;
    c[j]!++;
    for (let i = 0; i < j; i++) c[i] = i;
  }
}
