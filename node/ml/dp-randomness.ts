/**
 * Where DP-SGD's randomness comes from: the Poisson sample of each step and the Gaussian noise.
 *
 * The privacy guarantee assumes both are secret. Noise that an adversary can regenerate can be
 * subtracted; a sample it can predict removes the amplification by subsampling. So the default is
 * 'secure': 53-bit uniforms from the operating system's CSPRNG (node:crypto `randomFillSync`).
 * 'seeded' derives both streams from the training seed (protocol/rng.ts sfc32, one domain per
 * stream) so simulations and tests replay bit for bit (STYLE.md §1); it must never be used where
 * the seed is known to anyone else — in a federation the training seed is derived from public
 * values (federation seed, peer id, round).
 *
 * Gaussian draws are Box–Muller over doubles, then rounded to float32. Floating-point sampling
 * is not a perfect Gaussian (Mironov 2012 showed the analogous flaw for Laplace); docs/privacy.md
 * lists this under what is not protected.
 */
import { randomFillSync } from 'node:crypto';
import { createRng } from '../../protocol/rng.js';

export type DpRandomness = 'secure' | 'seeded';

const TWO_POW_26 = 67_108_864;
const TWO_POW_27 = 134_217_728;
const TWO_POW_53 = 9_007_199_254_740_992;

/** Uniform doubles in [0, 1) with 53 random bits, from the OS CSPRNG, buffered. */
export function secureUniform(bufferWords = 4096): () => number {
  const buf = new Uint32Array(bufferWords - (bufferWords % 2));
  let at = buf.length;
  return () => {
    if (at >= buf.length) {
      randomFillSync(buf);
      at = 0;
    }
    const hi = buf[at++]! >>> 6; // 26 bits
    const lo = buf[at++]! >>> 5; // 27 bits
    return (hi * TWO_POW_27 + lo) / TWO_POW_53;
  };
}

/** Uniform doubles in [0, 1) with 53 bits from the seeded generator of protocol/rng.ts. */
export function seededUniform(seed: number | string, domain: string): () => number {
  const rng = createRng(seed, domain);
  return () => {
    const hi = Math.floor(rng.next() * TWO_POW_26);
    const lo = Math.floor(rng.next() * TWO_POW_27);
    return (hi * TWO_POW_27 + lo) / TWO_POW_53;
  };
}

/** The uniform source for one stream (`domain`) of a training run. */
export function dpUniform(randomness: DpRandomness, seed: number, domain: string): () => number {
  return randomness === 'seeded' ? seededUniform(seed, domain) : secureUniform();
}
