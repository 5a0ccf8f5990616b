/**
 * Noise planning: the smallest noise multiplier σ whose ε after `steps` Poisson-subsampled
 * Gaussian steps at rate q is at most a target, at δ. ε is decreasing in σ (the RDP of every
 * step is), so bisection applies; the search is on log σ and returns the upper end of the final
 * bracket, so the returned σ always meets the target.
 *
 * A target below the accountant's floor cannot be met by any σ: even with zero RDP the
 * conversion (./epsilon.ts) charges min_α [−(log δ + log α)/(α − 1) + log(1 − 1/α)], e.g. ≈ 0.10
 * at δ = 1e-5 over the default orders (whose largest is 63). That is reported as
 * PRIVACY_TARGET_UNREACHABLE, not looped on.
 */
import { conversionFloor, epsilonFromRdp, type PrivacySpent, validateDelta } from './epsilon.js';
import { invalidArgument, PrivacyError } from './errors.js';
import { RdpAccountant } from './accountant.js';
import { stepsPerEpoch } from './dp-sgd.js';
import { DEFAULT_RDP_ORDERS } from './orders.js';
import { computeRdp, type SubsampledGaussian, validateOrders, validateSampleRate, validateSteps } from './rdp.js';

/** Relative width of the final σ bracket. */
export const DEFAULT_PLANNING_TOLERANCE = 1e-9;
/** σ beyond this is not searched: a plan needing more noise is refused as unreachable. */
export const MAX_NOISE_MULTIPLIER = 1e6;
/** σ below this is not searched: the target is met by (almost) no noise. */
export const MIN_NOISE_MULTIPLIER = 1e-6;

export interface EpsilonQuery extends SubsampledGaussian {
  readonly delta: number;
  /** Default DEFAULT_RDP_ORDERS. */
  readonly orders?: readonly number[];
}

/** ε and the optimal order for one DP-SGD configuration. Validates every argument. */
export function computeEpsilon(q: EpsilonQuery): PrivacySpent {
  validateDelta(q.delta);
  const orders = q.orders ?? DEFAULT_RDP_ORDERS;
  return epsilonFromRdp(orders, computeRdp(q, orders), q.delta);
}

export interface NoisePlanQuery {
  readonly targetEpsilon: number;
  readonly delta: number;
  readonly sampleRate: number;
  /** Total steps the budget must cover (≥ 1), e.g. rounds × local steps per round. */
  readonly steps: number;
  readonly orders?: readonly number[];
  /** Relative width of the final bracket; default DEFAULT_PLANNING_TOLERANCE. */
  readonly tolerance?: number;
}

export interface NoisePlan extends PrivacySpent {
  /** The smallest σ (to `tolerance`) with ε(σ) ≤ targetEpsilon. */
  readonly noiseMultiplier: number;
}

/**
 * @throws PrivacyError PRIVACY_ARGUMENT_INVALID naming the parameter;
 *         PRIVACY_TARGET_UNREACHABLE when no σ ≤ MAX_NOISE_MULTIPLIER meets the target.
 */
export function planNoiseMultiplier(p: NoisePlanQuery): NoisePlan {
  if (!(typeof p.targetEpsilon === 'number' && p.targetEpsilon > 0 && Number.isFinite(p.targetEpsilon))) {
    throw invalidArgument('targetEpsilon', p.targetEpsilon, 'target epsilon must be a finite number > 0');
  }
  validateDelta(p.delta);
  validateSampleRate(p.sampleRate);
  validateSteps(p.steps);
  if (p.steps < 1) throw invalidArgument('steps', p.steps, 'steps must be a positive integer');
  const orders = p.orders ?? DEFAULT_RDP_ORDERS;
  validateOrders(orders);
  const tolerance = p.tolerance ?? DEFAULT_PLANNING_TOLERANCE;
  if (!(tolerance > 0 && tolerance < 1)) throw invalidArgument('tolerance', tolerance, 'must be in (0, 1)');

  const spent = (sigma: number): PrivacySpent =>
    epsilonFromRdp(orders, computeRdp({ sampleRate: p.sampleRate, noiseMultiplier: sigma, steps: p.steps }, orders), p.delta);
  const floor = conversionFloor(orders, p.delta);
  const unreachable = (why: string): PrivacyError =>
    new PrivacyError('PRIVACY_TARGET_UNREACHABLE', `target epsilon ${p.targetEpsilon} at delta ${p.delta}: ${why}`, {
      targetEpsilon: p.targetEpsilon,
      delta: p.delta,
      sampleRate: p.sampleRate,
      steps: p.steps,
      floor,
    });
  if (p.targetEpsilon <= floor) {
    throw unreachable(`below the accountant's floor ${floor} for these orders and delta (no amount of noise reaches it)`);
  }

  // Bracket [lo, hi] with ε(lo) > target ≥ ε(hi).
  let hi = 1;
  let atHi = spent(hi);
  while (atHi.epsilon > p.targetEpsilon) {
    hi *= 2;
    if (hi > MAX_NOISE_MULTIPLIER) throw unreachable(`needs a noise multiplier above ${MAX_NOISE_MULTIPLIER}`);
    atHi = spent(hi);
  }
  let lo = hi / 2;
  while (spent(lo).epsilon <= p.targetEpsilon) {
    hi = lo;
    if (hi < MIN_NOISE_MULTIPLIER) return { ...spent(hi), noiseMultiplier: hi };
    lo = hi / 2;
  }
  atHi = spent(hi);
  while (hi / lo - 1 > tolerance) {
    const mid = Math.sqrt(lo * hi);
    const atMid = spent(mid);
    if (atMid.epsilon <= p.targetEpsilon) {
      hi = mid;
      atHi = atMid;
    } else {
      lo = mid;
    }
  }
  return { ...atHi, noiseMultiplier: hi };
}

export interface FederatedDpQuery {
  /** Exactly one of `targetEpsilon` (σ is planned) and `noiseMultiplier` (σ is given). */
  readonly targetEpsilon?: number;
  readonly noiseMultiplier?: number;
  readonly delta: number;
  /** Poisson rate q of each local step. */
  readonly sampleRate: number;
  /** Federated rounds the budget must cover; every round the institution trains `localEpochs`. */
  readonly rounds: number;
  readonly localEpochs: number;
  readonly orders?: readonly number[];
}

export interface FederatedDpPlan {
  readonly noiseMultiplier: number;
  readonly sampleRate: number;
  readonly delta: number;
  /** DP-SGD steps per round: localEpochs × ⌈1/q⌉. */
  readonly stepsPerRound: number;
  readonly totalSteps: number;
  /** ε after all `rounds` at δ, and its optimal order. */
  readonly epsilon: number;
  readonly order: number | null;
  /** ε after each round 1..rounds (cumulative, per institution). */
  readonly epsilonByRound: readonly number[];
}

/**
 * The DP-SGD parameters of a federation in which every institution trains `localEpochs` local
 * epochs of DP-SGD per round for `rounds` rounds: given a target ε, the σ that meets it over all
 * rounds × local steps; given σ, the ε it spends. Accounting is per institution (each one's
 * records are only ever touched by its own DP-SGD steps; FedAvg and everything after it are
 * post-processing).
 */
export function planFederatedDpSgd(p: FederatedDpQuery): FederatedDpPlan {
  if ((p.targetEpsilon === undefined) === (p.noiseMultiplier === undefined)) {
    throw invalidArgument('targetEpsilon', p.targetEpsilon ?? null, 'give exactly one of targetEpsilon and noiseMultiplier');
  }
  validateDelta(p.delta);
  validateSampleRate(p.sampleRate);
  for (const [field, v] of [
    ['rounds', p.rounds],
    ['localEpochs', p.localEpochs],
  ] as const) {
    if (!(Number.isSafeInteger(v) && v > 0)) throw invalidArgument(field, v, `${field} must be a positive integer`);
  }
  const orders = p.orders ?? DEFAULT_RDP_ORDERS;
  const stepsPerRound = p.localEpochs * stepsPerEpoch(p.sampleRate);
  const totalSteps = p.rounds * stepsPerRound;
  const noiseMultiplier =
    p.noiseMultiplier ??
    planNoiseMultiplier({ targetEpsilon: p.targetEpsilon!, delta: p.delta, sampleRate: p.sampleRate, steps: totalSteps, orders })
      .noiseMultiplier;
  const accountant = new RdpAccountant(orders);
  const epsilonByRound: number[] = [];
  let last: PrivacySpent = { epsilon: 0, order: null, optimalOrderAtEdge: false };
  for (let r = 0; r < p.rounds; r++) {
    accountant.compose({ sampleRate: p.sampleRate, noiseMultiplier, steps: stepsPerRound });
    last = accountant.epsilon(p.delta);
    epsilonByRound.push(last.epsilon);
  }
  return {
    noiseMultiplier,
    sampleRate: p.sampleRate,
    delta: p.delta,
    stepsPerRound,
    totalSteps,
    epsilon: last.epsilon,
    order: last.order,
    epsilonByRound,
  };
}
