/**
 * How many rounds a study can afford under an ε budget (`fedmesh privacy plan`, issue 17): at a
 * given noise multiplier σ, each round costs every participating institution `localEpochs ·
 * ⌈1/q⌉` Poisson-subsampled Gaussian steps (Mironov et al. 2019, "Rényi Differential Privacy of
 * the Sampled Gaussian Mechanism"), composed in RDP and converted to (ε, δ) as the accountant
 * does (protocol/privacy/planning.ts). The answer is the largest R with ε(R) ≤ the budget. Pure.
 *
 * Studies on one budget (contracts/IFedmeshStudy.sol): a member's privacy loss in earlier
 * studies carries into the next, so `spentRdp` (its RDP so far, at `orders`) is added to every
 * R's: ε(R) = ε(spent + R · round), still increasing in R.
 */
import { stepsPerEpoch } from './dp-sgd.js';
import { epsilonFromRdp, validateDelta } from './epsilon.js';
import { invalidArgument } from './errors.js';
import { DEFAULT_RDP_ORDERS } from './orders.js';
import { computeRdp } from './rdp.js';

/** Rounds tried before answering "at least this many": a study of 10^4 rounds is already far beyond any federation's. */
export const MAX_PLANNED_ROUNDS = 10_000;

export interface AffordableRoundsQuery {
  /** The ε budget left (a member's cap, or what remains of it). */
  readonly epsilon: number;
  readonly delta: number;
  readonly sampleRate: number;
  readonly noiseMultiplier: number;
  readonly localEpochs: number;
  readonly orders?: readonly number[];
  /**
   * RDP already spent at `orders` (e.g. carried from earlier studies: protocol/chain/budget.ts
   * `rdpFromPacked` of `carriedBudgetOf`), +∞ for an unbounded order. Default none.
   */
  readonly spentRdp?: readonly number[];
}

export interface AffordableRounds {
  /** The largest R with ε(R) ≤ epsilon (0 when even one round exceeds it). */
  readonly rounds: number;
  /** ε after `rounds` rounds (with `spentRdp` included; 0 when rounds = 0 and nothing was spent). */
  readonly epsilonSpent: number;
  /** ε after one more round: the first that would exceed the budget. */
  readonly epsilonNext: number;
  /** True when MAX_PLANNED_ROUNDS were affordable and the search stopped there. */
  readonly capped: boolean;
  readonly stepsPerRound: number;
}

export function affordableRounds(p: AffordableRoundsQuery): AffordableRounds {
  if (!(p.epsilon > 0 && Number.isFinite(p.epsilon))) throw invalidArgument('epsilon', p.epsilon, 'epsilon must be a finite number > 0');
  if (!(p.noiseMultiplier > 0 && Number.isFinite(p.noiseMultiplier))) {
    throw invalidArgument('noiseMultiplier', p.noiseMultiplier, 'noiseMultiplier must be a finite number > 0');
  }
  if (!(Number.isSafeInteger(p.localEpochs) && p.localEpochs > 0))
    throw invalidArgument('localEpochs', p.localEpochs, 'localEpochs must be a positive integer');
  validateDelta(p.delta);
  const stepsPerRound = p.localEpochs * stepsPerEpoch(p.sampleRate);
  const orders = p.orders ?? DEFAULT_RDP_ORDERS;
  // RDP composes additively: R rounds are R times one round's vector, and ε(R) is increasing in
  // R, so the largest affordable R is found by bisection.
  const perRound = computeRdp({ sampleRate: p.sampleRate, noiseMultiplier: p.noiseMultiplier, steps: stepsPerRound }, orders);
  const spent = p.spentRdp;
  if (spent !== undefined) {
    if (spent.length !== orders.length) throw invalidArgument('spentRdp', spent.length, `must have one value per order (${orders.length})`);
    spent.forEach((v, i) => {
      if (!(typeof v === 'number' && v >= 0)) throw invalidArgument(`spentRdp[${i}]`, v, 'RDP values are >= 0');
    });
  }
  const eps = (r: number): number =>
    r === 0 && spent === undefined
      ? 0
      : epsilonFromRdp(
          orders,
          perRound.map((v, i) => v * r + (spent?.[i] ?? 0)),
          p.delta,
        ).epsilon;
  if (eps(0) > p.epsilon) return { rounds: 0, epsilonSpent: eps(0), epsilonNext: eps(1), capped: false, stepsPerRound };
  if (eps(MAX_PLANNED_ROUNDS) <= p.epsilon) {
    return { rounds: MAX_PLANNED_ROUNDS, epsilonSpent: eps(MAX_PLANNED_ROUNDS), epsilonNext: Number.NaN, capped: true, stepsPerRound };
  }
  let lo = 0; // affordable
  let hi = MAX_PLANNED_ROUNDS; // not affordable
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (eps(mid) <= p.epsilon) lo = mid;
    else hi = mid;
  }
  return { rounds: lo, epsilonSpent: eps(lo), epsilonNext: eps(hi), capped: false, stepsPerRound };
}
