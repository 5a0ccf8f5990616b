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
 * Interpolate the polynomials through `shares` at 0. With fewer than the sharing's
 * threshold the result is unrelated to the secret; `combine` enforces the threshold.
 */
export function interpolateAtZero(shares: readonly Share[]): Uint8Array {
  if (shares.length === 0) throw new RangeError('no shares');
  const len = shares[0]!.y.length;
  const xs = shares.map((s) => s.x);
  for (const s of shares) {
    if (!Number.isInteger(s.x) || s.x < 1 || s.x > 255) throw new RangeError(`share x ${s.x} not in [1, 255]`);
    if (s.y.length !== len) throw new RangeError('shares of different lengths');
  }
  if (new Set(xs).size !== xs.length) throw new RangeError('duplicate share x');
  // Lagrange basis at 0: l_j(0) = Π_{m≠j} x_m / (x_m − x_j); subtraction is XOR in GF(2^8).
  const basis = xs.map((xj, j) => {
    let num = 1;
    let den = 1;
    xs.forEach((xm, m) => {
      if (m === j) return;
      num = gfMul(num, xm);
      den = gfMul(den, xm ^ xj);
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
 * Reconstruct a secret that must satisfy `check` (a commitment): tries the first `threshold`
 * shares, then other `threshold`-subsets, so up to (count − threshold) wrong shares from
 * faulty members are routed around. Throws SECAGG_TOO_FEW_SHARES when no subset verifies.
 */
export function combineVerified(shares: readonly Share[], threshold: number, check: (secret: Uint8Array) => boolean): Uint8Array {
  if (shares.length < threshold) return combine(shares, threshold);
  for (const subset of subsets(shares.length, threshold)) {
    const secret = interpolateAtZero(subset.map((i) => shares[i]!));
    if (check(secret)) return secret;
    wipe(secret);
  }
  throw new SecAggError('SECAGG_TOO_FEW_SHARES', `no ${threshold} of ${shares.length} shares reconstruct the committed secret`, {
    have: shares.length,
    threshold,
  });
}

/** k-subsets of {0..n−1} in lexicographic order. */
function* subsets(n: number, k: number): Generator<number[]> {
  const idx = Array.from({ length: k }, (_, i) => i);
  while (true) {
    yield [...idx];
    let i = k - 1;
    while (i >= 0 && idx[i] === n - k + i) i--;
    if (i < 0) return;
    idx[i]!++;
    for (let j = i + 1; j < k; j++) idx[j] = idx[j - 1]! + 1;
  }
}
