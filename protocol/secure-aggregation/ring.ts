/**
 * Vectors over the ring Z_{2^64}, the arithmetic of secure aggregation (Bonawitz et al., CCS
 * 2017, §3 work over Z_R for any R; R = 2^64 here).
 *
 * Why 2^64 and not 2^32. The encoded coordinate is n_i·Δ_k (the FedAvg weight is folded in
 * before masking, so only Σ n_i·Δ_i and Σ n_i are revealed), clipped to ±R and scaled by 2^f.
 * The sum over N participants must not wrap: N·R·2^f ≤ 2^63 − 1. In a 32-bit ring that leaves
 * R·2^f ≤ 2^21 for N = 1024, so a hospital with n_i = 10^5 samples is clipped as soon as
 * |Δ_k| > 0.01 (R = 1024, f = 10) — silently biasing FedAvg against large sites. 64 bits give
 * 2^32 times the room: R = 2^24, f = 24 leaves a 2^5 margin with N = 1024 (config.ts).
 * Alternatives considered: a prime field near 2^61 (no native reduction in JS: per-element
 * BigInt or float tricks, slower and harder to test), or several 32-bit rings via CRT (k
 * vectors, k times the PRG). A power-of-two ring keeps the PRG output usable as is (64-bit
 * little-endian words of AES-CTR keystream) and reduction free.
 *
 * Representation: a `Uint32Array` with two words per element, the low half first — the
 * exact bytes of a little-endian u64 array, so a keystream or a wire payload is read as
 * ring elements without conversion. Addition is a carry-add on the halves with a branch-free
 * int32 carry (`addWords`); there is no BigInt in any loop over a vector. Subtraction borrows
 * the same way.
 */
import { SecAggError } from './errors.js';

/** 32-bit words per ring element. */
export const WORDS_PER_ELEMENT = 2;
const TWO_32 = 4294967296;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Words of a ring vector with `elements` elements. */
export function ringWords(elements: number): number {
  return WORDS_PER_ELEMENT * elements;
}

/** Elements of a ring vector of `words` words (throws on an odd count). */
export function ringElements(v: Uint32Array): number {
  if (v.length % WORDS_PER_ELEMENT !== 0) {
    throw new SecAggError('SECAGG_BAD_INPUT', `ring vector of ${v.length} words (must be even)`, { got: v.length, expected: 'even' });
  }
  return v.length / WORDS_PER_ELEMENT;
}

function sameLength(acc: Uint32Array, v: Uint32Array): void {
  if (v.length !== acc.length)
    throw new SecAggError('SECAGG_BAD_INPUT', `vector of ${v.length} words, expected ${acc.length}`, {
      got: v.length,
      expected: acc.length,
    });
  ringElements(acc);
}

/** `acc += v` in Z_{2^64}, element-wise. */
export function addRing(acc: Uint32Array, v: Uint32Array): void {
  sameLength(acc, v);
  addWords(acc, v, 1);
}

/** `acc −= v` in Z_{2^64}, element-wise. */
export function subRing(acc: Uint32Array, v: Uint32Array): void {
  sameLength(acc, v);
  addWords(acc, v, -1);
}

/**
 * The hot loop: `acc ± w` over (lo, hi) pairs; `w` has at least `acc.length` words. The carry
 * of a + b mod 2^32 is the top bit of (a ∧ b) ∨ ((a ∨ b) ∧ ¬s), the borrow of a − b the top bit
 * of (¬a ∧ b) ∨ (¬(a ⊕ b) ∧ d) (Warren, Hacker's Delight, 2nd ed., §2-16): branch-free int32
 * operations that V8 keeps in registers — as fast here as a plain 32-bit add (~4.6 GB/s), where
 * a float64 carry test ran at ~1 GB/s.
 */
function addWords(acc: Uint32Array, w: Uint32Array, sign: 1 | -1): void {
  const n = acc.length;
  if (sign === 1) {
    for (let k = 0; k < n; k += 2) {
      const a = acc[k]!;
      const b = w[k]!;
      const s = (a + b) | 0;
      acc[k] = s;
      acc[k + 1] = acc[k + 1]! + w[k + 1]! + (((a & b) | ((a | b) & ~s)) >>> 31);
    }
  } else {
    for (let k = 0; k < n; k += 2) {
      const a = acc[k]!;
      const b = w[k]!;
      const d = (a - b) | 0;
      acc[k] = d;
      acc[k + 1] = acc[k + 1]! - w[k + 1]! - (((~a & b) | (~(a ^ b) & d)) >>> 31);
    }
  }
}

/**
 * `target ± keystream` in Z_{2^64}: the keystream is read as little-endian u64 words, so
 * PRG(key) is a uniformly random ring vector (AES-CTR output is indistinguishable from
 * uniform bytes; any fixed-width reading of uniform bytes is uniform).
 */
export function addStream64(target: Uint32Array, keystream: Uint8Array, sign: 1 | -1): void {
  const n = target.length;
  ringElements(target);
  if (keystream.length < 4 * n) throw new RangeError(`keystream has ${keystream.length} bytes, need ${4 * n}`);
  if (LITTLE_ENDIAN && keystream.byteOffset % 4 === 0) {
    addWords(target, new Uint32Array(keystream.buffer, keystream.byteOffset, n), sign);
    return;
  }
  // Unaligned or big-endian host: copy to aligned little-endian words first.
  const v = new DataView(keystream.buffer, keystream.byteOffset, keystream.byteLength);
  const w = Uint32Array.from({ length: n }, (_, k) => v.getUint32(4 * k, true));
  addWords(target, w, sign);
  w.fill(0);
}

/**
 * Element k as a signed 64-bit integer in float64: exact when |value| ≤ 2^53, otherwise
 * correctly rounded once (hi·2^32 is exact; the one addition rounds), so every reader gets
 * the same bits.
 */
export function signedAt(v: Uint32Array, k: number): number {
  return (v[2 * k + 1]! | 0) * TWO_32 + v[2 * k]!;
}

/** Element k as an unsigned 64-bit integer in float64 (exact below 2^53, else rounded once). */
export function unsignedAt(v: Uint32Array, k: number): number {
  return v[2 * k + 1]! * TWO_32 + v[2 * k]!;
}

/** Element k as an exact signed bigint (diagnostics, tests, the rare slow path). */
export function signedBigAt(v: Uint32Array, k: number): bigint {
  return BigInt.asIntN(64, (BigInt(v[2 * k + 1]!) << 32n) | BigInt(v[2 * k]!));
}

/** Element k as an exact unsigned bigint. */
export function unsignedBigAt(v: Uint32Array, k: number): bigint {
  return (BigInt(v[2 * k + 1]!) << 32n) | BigInt(v[2 * k]!);
}

/**
 * Store the integer `q` (|q| ≤ 2^53, an exact float64 integer) at element k, two's
 * complement mod 2^64: hi = ⌊q / 2^32⌋ and lo = q − hi·2^32 are exact, lo ∈ [0, 2^32).
 */
export function setIntAt(v: Uint32Array, k: number, q: number): void {
  const hi = Math.floor(q / TWO_32);
  v[2 * k] = q - hi * TWO_32;
  v[2 * k + 1] = hi; // ToUint32: two's complement of a negative high half
}

/** A ring vector holding the integers `ints` (each |x| ≤ 2^53, exact), two's complement. */
export function ringFromIntegers(ints: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(ringWords(ints.length));
  for (let k = 0; k < ints.length; k++) {
    const x = ints[k]!;
    if (!Number.isSafeInteger(x) && Math.abs(x) !== 2 ** 53) throw new RangeError(`element ${k} = ${x} is not an integer within ±2^53`);
    setIntAt(out, k, x);
  }
  return out;
}
