/**
 * The pure arithmetic of DP-SGD (Abadi et al. 2016, Algorithm 1, with Poisson sampling as
 * analysed by Mironov, Talwar & Zhang 2019): shared by the trainer (node/ml/dp-sgd.ts), the
 * simulator's planning and the accountant, so all three count the same steps.
 *
 * One step: every record joins the batch independently with probability q; each example's
 * gradient is clipped to L2 norm C (g_i · min(1, C/‖g_i‖)); the clipped gradients are summed and
 * N(0, σ²C²) is added to every coordinate; the result is divided by the EXPECTED batch size q·N
 * (not the realised one: the realised size depends on the data set's membership, so dividing by
 * it would leak through the step size).
 */
import { invalidArgument } from './errors.js';
import { validateNoiseMultiplier, validateSampleRate } from './rdp.js';

export interface DpSgdParams {
  /** σ: noise standard deviation in units of the clipping norm. */
  readonly noiseMultiplier: number;
  /** C: per-example L2 clipping norm. */
  readonly clipNorm: number;
  /** q: Poisson sampling rate per step. */
  readonly sampleRate: number;
}

export function validateDpSgdParams(p: DpSgdParams, prefix = ''): void {
  validateNoiseMultiplier(p.noiseMultiplier, `${prefix}noiseMultiplier`);
  validateSampleRate(p.sampleRate, `${prefix}sampleRate`);
  if (!(typeof p.clipNorm === 'number' && p.clipNorm > 0 && Number.isFinite(p.clipNorm))) {
    throw invalidArgument(`${prefix}clipNorm`, p.clipNorm, 'clipping norm C must be a finite number > 0');
  }
}

/**
 * Steps per local epoch: ⌈1/q⌉, so an epoch visits N records in expectation; with q = B/N this
 * is the ⌈N/B⌉ batches of non-private training. (1/q is nudged down by 1e-9 first so that
 * q = 0.1 gives 10 steps even if 1/q rounds to 10.000000000000002.)
 */
export function stepsPerEpoch(sampleRate: number): number {
  validateSampleRate(sampleRate);
  return Math.max(1, Math.ceil(1 / sampleRate - 1e-9));
}

/** Total DP-SGD steps of `epochs` local epochs at rate q. */
export function dpSgdSteps(epochs: number, sampleRate: number): number {
  if (!(Number.isSafeInteger(epochs) && epochs >= 0)) throw invalidArgument('epochs', epochs, 'non-negative integer');
  return epochs * stepsPerEpoch(sampleRate);
}

/** min(1, C/‖g‖) — the factor that clips a gradient of norm `norm` to `clipNorm`. */
export function clipFactor(norm: number, clipNorm: number): number {
  return norm > clipNorm ? clipNorm / norm : 1;
}

/**
 * Poisson sampling: the indices i ∈ [0, n) with u_i < q, in increasing order, drawing exactly n
 * uniforms from `uniform` (so the stream's position does not depend on the outcome).
 */
export function poissonSample(n: number, q: number, uniform: () => number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (uniform() < q) out.push(i);
  return out;
}

/**
 * Fills `out` with N(0, std²) draws by the Box–Muller transform from 53-bit uniforms in [0, 1).
 * Uses 1 − u for the radius so log never sees 0.
 */
export function fillGaussian(out: Float32Array | Float64Array, std: number, uniform: () => number): void {
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - uniform()));
    const t = 2 * Math.PI * uniform();
    out[i] = std * r * Math.cos(t);
    if (i + 1 < out.length) out[i + 1] = std * r * Math.sin(t);
  }
}
