/**
 * Seeded pseudo-random numbers for protocol/ and simulations (STYLE.md §1: randomness
 * enters as seed bytes; no Math.random). Not for secrets: masks and keys use a CSPRNG.
 *
 * Generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, PractRand-tested),
 * seeded from SHA-256(domain || seed) so independent streams come from one user seed.
 */
import { hash256, utf8, concatBytes } from './bytes.js';

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

export function createRng(seed: number | string | Uint8Array, domain = 'fedmesh/rng/v1'): Rng {
  const seedBytes = typeof seed === 'number' ? utf8(String(seed)) : typeof seed === 'string' ? utf8(seed) : seed;
  const h = hash256(concatBytes([utf8(domain), new Uint8Array([0]), seedBytes]));
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  let a = v.getUint32(0, true);
  let b = v.getUint32(4, true);
  let c = v.getUint32(8, true);
  let d = v.getUint32(12, true);
  const u32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32(); // warm up, as the sfc32 reference does
  return {
    next: () => u32() / 4294967296,
    int: (n: number) => {
      if (!Number.isInteger(n) || n <= 0) throw new RangeError(`int(n) needs a positive integer, got ${n}`);
      // Rejection sampling avoids modulo bias.
      const limit = 4294967296 - (4294967296 % n);
      let x = u32();
      while (x >= limit) x = u32();
      return x % n;
    },
  };
}

/** Fisher–Yates shuffle in place with the given rng. */
export function shuffleInPlace<T>(arr: T[], rng: Rng): T[] {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = arr[i]!;
    arr[i] = arr[j]!;
    arr[j] = tmp;
  }
  return arr;
}
