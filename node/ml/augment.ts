/**
 * Seeded image augmentation for local training only (issue 16, class imbalance): each example of
 * a batch gets a random horizontal flip, a small rotation, a small shift and pixel noise, drawn
 * from a protocol/rng.ts stream so a run replays bit for bit. The standard light augmentations
 * for small medical images (Perez & Wang 2017; the MedMNIST v2 baselines train with none, so the
 * settings stay mild): no crop that could remove a lesion, no colour change.
 *
 * Rotation and shift are one inverse affine map with nearest-neighbour sampling about the image
 * centre; pixels mapped from outside the image are 0 (black, as the MedMNIST borders are).
 * Evaluation never augments.
 */
import type { Rng } from '../../protocol/rng.js';

export interface AugmentOptions {
  /** Probability of a left–right flip. Default 0.5. */
  readonly flipProbability?: number;
  /** Largest rotation, degrees (uniform in ±). Default 10. */
  readonly maxRotationDegrees?: number;
  /** Largest shift, pixels per axis (uniform integer in ±). Default 2. */
  readonly maxShift?: number;
  /** Standard deviation of additive Gaussian pixel noise. Default 0.02. */
  readonly noiseStd?: number;
}

export const AUGMENT_DEFAULTS: Required<AugmentOptions> = {
  flipProbability: 0.5,
  maxRotationDegrees: 10,
  maxShift: 2,
  noiseStd: 0.02,
};

/**
 * Augments `m` images of shape [h, w, c] stored row-major in `x`, in place. Inputs that are not
 * images (shape of length ≠ 3) are left unchanged.
 */
export function augmentBatch(x: Float32Array, m: number, shape: readonly number[], rng: Rng, opts: AugmentOptions = {}): void {
  if (shape.length !== 3) return;
  const o = { ...AUGMENT_DEFAULTS, ...opts };
  const [h, w, c] = shape as [number, number, number];
  const size = h * w * c;
  const src = new Float32Array(size);
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  for (let e = 0; e < m; e++) {
    const img = x.subarray(e * size, (e + 1) * size);
    src.set(img);
    const flip = rng.next() < o.flipProbability;
    const theta = ((rng.next() * 2 - 1) * o.maxRotationDegrees * Math.PI) / 180;
    const dy = rng.int(2 * o.maxShift + 1) - o.maxShift;
    const dx = rng.int(2 * o.maxShift + 1) - o.maxShift;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        // Output pixel (i, j) samples the source at the inverse transform: undo the shift, then rotate back.
        const yi = i - dy - cy;
        const xj = j - dx - cx;
        const sy = Math.round(cos * yi + sin * xj + cy);
        let sx = Math.round(-sin * yi + cos * xj + cx);
        if (flip) sx = w - 1 - sx;
        const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        for (let k = 0; k < c; k++) img[(i * w + j) * c + k] = inside ? src[(sy * w + sx) * c + k]! : 0;
      }
    }
    if (o.noiseStd > 0) {
      for (let p = 0; p < size; p++) img[p] = img[p]! + o.noiseStd * gaussian(rng);
    }
  }
}

/** Standard normal by Box–Muller. */
function gaussian(rng: Rng): number {
  const u = 1 - rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}
