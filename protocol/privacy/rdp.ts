/**
 * Rényi differential privacy of the Poisson-subsampled Gaussian mechanism (the DP-SGD step:
 * each record joins the batch with probability q, the summed clipped gradients get N(0, σ²C²)).
 *
 * Mironov, Talwar & Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism",
 * §3: for sensitivity 1 and noise σ, the mechanism is (α, ε_α)-RDP with ε_α = log(A_α)/(α − 1),
 *
 *   A_α = E_{z∼N(0,σ²)} [ ((1 − q) + q·e^{(2z − 1)/(2σ²)})^α ].
 *
 * - Integer α (§3.3): expanding the binomial and using E[e^{iz/σ²}] gives the finite sum
 *     A_α = Σ_{i=0..α} C(α,i) (1 − q)^{α−i} q^i e^{(i² − i)/(2σ²)}.
 * - Fractional α (§3.3, eq. for A_α with z₀ = σ² log(1/q − 1) + ½): split the integral at z₀, where
 *   the two summands cross, expand each side in a convergent binomial series and integrate each
 *   term against the Gaussian, which yields erfc factors:
 *     A_α = Σ_i C(α,i) [ (1−q)^{α−i} q^i e^{(i²−i)/2σ²} · ½ erfc((i − z₀)/(√2σ))
 *                      + q^{α−i} (1−q)^i e^{((α−i)² − (α−i))/2σ²} · ½ erfc((z₀ − (α−i))/(√2σ)) ].
 *   For non-integer α the coefficients C(α,i) change sign once i > α, so positive and negative
 *   terms are accumulated separately in log space. The series stops when both new terms fall
 *   below e^{−SERIES_LOG_CUTOFF}; A_α ≥ 1, so the truncation is far below double precision.
 *
 * This is the computation of TF-privacy's `rdp_accountant._compute_log_a_int/_frac` and Opacus's
 * `analysis/rdp.py`, written from the paper. Special cases: q = 0 → 0; q = 1 → α/(2σ²) (no
 * subsampling: the plain Gaussian, Mironov 2017 Prop. 7); α = ∞ → ∞.
 *
 * Composition (Mironov 2017, Prop. 1): RDP at a fixed order adds up over mechanisms, so T steps
 * cost T·ε_α and rounds add their step totals (./accountant.ts).
 */
import { invalidArgument, PrivacyError } from './errors.js';
import { logAdd, logErfc, logSub } from './log-math.js';

/** One DP-SGD configuration run for `steps` steps: sampling rate q, noise multiplier σ. */
export interface SubsampledGaussian {
  /** Poisson sampling rate q ∈ (0, 1]. */
  readonly sampleRate: number;
  /** σ: the noise standard deviation divided by the clipping norm (sensitivity). σ > 0. */
  readonly noiseMultiplier: number;
  /** Number of steps (non-negative integer). */
  readonly steps: number;
}

/** Terms below e^{−40} ≈ 4e-18 are dropped (A_α ≥ 1, so that is below double precision). */
const SERIES_LOG_CUTOFF = 40;
/** Safety bound on the fractional series; it converges long before this for any sane input. */
const SERIES_MAX_TERMS = 1_000_000;

/** log A_α for integer α ≥ 2 by the finite binomial sum. */
function logAInt(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigma2 = 2 * sigma * sigma;
  let logA = Number.NEGATIVE_INFINITY;
  let logCoef = 0; // log C(α, 0)
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logCoef += Math.log(alpha - i + 1) - Math.log(i);
    logA = logAdd(logA, logCoef + i * logQ + (alpha - i) * log1mQ + (i * i - i) / twoSigma2);
  }
  return logA;
}

/** log A_α for fractional α > 1 by the erfc series. */
function logAFrac(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigma2 = 2 * sigma * sigma;
  const sqrt2Sigma = Math.SQRT2 * sigma;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  // Positive and negative parts of the two half-integrals, as logs.
  let pos0 = Number.NEGATIVE_INFINITY;
  let pos1 = Number.NEGATIVE_INFINITY;
  let neg0 = Number.NEGATIVE_INFINITY;
  let neg1 = Number.NEGATIVE_INFINITY;
  let logCoef = 0; // log |C(α, i)|, updated as C(α, i+1) = C(α, i)·(α − i)/(i + 1)
  let sign = 1;
  for (let i = 0; i < SERIES_MAX_TERMS; i++) {
    if (i > 0) {
      const f = alpha - i + 1;
      logCoef += Math.log(Math.abs(f)) - Math.log(i);
      if (f < 0) sign = -sign;
    }
    const j = alpha - i;
    const s0 = logCoef + i * logQ + j * log1mQ + (i * i - i) / twoSigma2 + Math.log(0.5) + logErfc((i - z0) / sqrt2Sigma);
    const s1 = logCoef + j * logQ + i * log1mQ + (j * j - j) / twoSigma2 + Math.log(0.5) + logErfc((z0 - j) / sqrt2Sigma);
    if (sign > 0) {
      pos0 = logAdd(pos0, s0);
      pos1 = logAdd(pos1, s1);
    } else {
      neg0 = logAdd(neg0, s0);
      neg1 = logAdd(neg1, s1);
    }
    if (Math.max(s0, s1) < -SERIES_LOG_CUTOFF) break;
  }
  const a0 = logSub(pos0, neg0);
  const a1 = logSub(pos1, neg1);
  if (a0 === undefined || a1 === undefined) {
    throw new PrivacyError('PRIVACY_NUMERIC', `A_alpha series went negative at q=${q}, sigma=${sigma}, alpha=${alpha}`, {
      sampleRate: q,
      noiseMultiplier: sigma,
      order: alpha,
    });
  }
  return logAdd(a0, a1);
}

/**
 * ε_α of ONE step of the Poisson-subsampled Gaussian at order α (no validation; see `computeRdp`).
 */
export function rdpPerStep(q: number, sigma: number, alpha: number): number {
  if (q === 0) return 0;
  if (alpha === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  if (q === 1) return alpha / (2 * sigma * sigma);
  const logA = Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha);
  // A_α ≥ 1 in exact arithmetic; a rounding residue below zero is zero privacy loss.
  return Math.max(0, logA) / (alpha - 1);
}

export function validateSampleRate(q: unknown, field = 'sampleRate'): asserts q is number {
  if (!(typeof q === 'number' && q > 0 && q <= 1)) throw invalidArgument(field, q, 'sample rate q must be in (0, 1]');
}

export function validateNoiseMultiplier(sigma: unknown, field = 'noiseMultiplier'): asserts sigma is number {
  if (!(typeof sigma === 'number' && sigma > 0 && Number.isFinite(sigma))) {
    throw invalidArgument(field, sigma, 'noise multiplier sigma must be a finite number > 0');
  }
}

export function validateSteps(steps: unknown, field = 'steps'): asserts steps is number {
  if (!(typeof steps === 'number' && Number.isSafeInteger(steps) && steps >= 0)) {
    throw invalidArgument(field, steps, 'steps must be a non-negative integer');
  }
}

export function validateOrders(orders: unknown, field = 'orders'): asserts orders is readonly number[] {
  if (!Array.isArray(orders) || orders.length === 0) throw invalidArgument(field, orders, 'a non-empty list of orders');
  orders.forEach((a, i) => {
    if (!(typeof a === 'number' && a > 1)) throw invalidArgument(`${field}[${i}]`, a, 'every order alpha must be > 1');
  });
}

/**
 * RDP of `m.steps` steps at each of `orders` (composition: steps × per-step RDP).
 * @throws PrivacyError PRIVACY_ARGUMENT_INVALID naming the parameter.
 */
export function computeRdp(m: SubsampledGaussian, orders: readonly number[]): number[] {
  validateSampleRate(m.sampleRate);
  validateNoiseMultiplier(m.noiseMultiplier);
  validateSteps(m.steps);
  validateOrders(orders);
  if (m.steps === 0) return orders.map(() => 0);
  return orders.map((a) => m.steps * rdpPerStep(m.sampleRate, m.noiseMultiplier, a));
}

/** Element-wise sum of RDP vectors over the same orders (sequential composition). */
export function composeRdp(...vectors: readonly (readonly number[])[]): number[] {
  const first = vectors[0];
  if (first === undefined) throw invalidArgument('vectors', 0, 'at least one RDP vector');
  vectors.forEach((v, k) => {
    if (v.length !== first.length) throw invalidArgument(`vectors[${k}].length`, v.length, `must equal ${first.length}`);
  });
  return first.map((_, i) => vectors.reduce((s, v) => s + v[i]!, 0));
}
