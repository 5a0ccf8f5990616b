/**
 * Empirical privacy: the loss-threshold membership-inference attack (Yeom, Giacomelli,
 * Fredrikson & Jha 2018, "Privacy Risk in Machine Learning", Adversary 1 with a threshold) and
 * the bound differential privacy puts on any such attack.
 *
 * The attacker sees a record's loss under the released model and guesses "member" when the loss
 * is at most a threshold τ. Its membership advantage is TPR − FPR (Yeom et al. Def. 4). The
 * best-threshold advantage max_τ (TPR(τ) − FPR(τ)) computed on the same records is what the issue
 * asks for, but on small samples it is biased upward: even with no leakage at all it equals the
 * one-sided two-sample Kolmogorov–Smirnov statistic, ≈ 0.1 for 57 members against 114
 * non-members. Two companions make the number readable:
 * - `permutationNullAdvantage`: the same statistic with the member/non-member labels shuffled —
 *   what a no-information attack scores on samples of these sizes;
 * - `heldOutThresholdAdvantage`: τ is picked on a random half and TPR − FPR measured on the other
 *   half, averaged over splits — an estimate without the selection bias (≈ 0 when nothing leaks).
 *
 * For an (ε, δ)-DP mechanism no test can beat TPR ≤ e^ε·FPR + δ and 1 − FPR ≤ e^ε·(1 − TPR) + δ
 * (Kairouz, Oh & Viswanath 2015), so TPR − FPR ≤ (1 − δ)(e^ε − 1)/(e^ε + 1) + δ (`dpAdvantageBound`).
 * Pure: randomness enters as an Rng.
 */
import { invalidArgument } from './errors.js';
import type { Rng } from '../rng.js';
import { shuffleInPlace } from '../rng.js';

export interface ThresholdAttack {
  /** max over τ of TPR − FPR (0 when no threshold helps). */
  readonly advantage: number;
  /** The loss threshold attaining it (guess "member" when loss ≤ threshold). */
  readonly threshold: number;
  readonly tpr: number;
  readonly fpr: number;
}

function checkLosses(members: readonly number[], nonMembers: readonly number[]): void {
  if (members.length === 0) throw invalidArgument('members', 0, 'at least one member loss');
  if (nonMembers.length === 0) throw invalidArgument('nonMembers', 0, 'at least one non-member loss');
  for (const [name, xs] of [
    ['members', members],
    ['nonMembers', nonMembers],
  ] as const) {
    xs.forEach((v, i) => {
      if (Number.isNaN(v)) throw invalidArgument(`${name}[${i}]`, v, 'losses are numbers');
    });
  }
}

/** The best loss threshold and its advantage, by one sweep over the sorted losses (ties together). */
export function lossThresholdAttack(members: readonly number[], nonMembers: readonly number[]): ThresholdAttack {
  checkLosses(members, nonMembers);
  const all = [...members.map((l) => ({ l, m: true })), ...nonMembers.map((l) => ({ l, m: false }))].sort((a, b) => a.l - b.l);
  let tp = 0;
  let fp = 0;
  let best: ThresholdAttack = { advantage: 0, threshold: Number.NEGATIVE_INFINITY, tpr: 0, fpr: 0 };
  for (let i = 0; i < all.length; i++) {
    if (all[i]!.m) tp++;
    else fp++;
    if (i + 1 < all.length && all[i + 1]!.l === all[i]!.l) continue; // a threshold cannot split ties
    const tpr = tp / members.length;
    const fpr = fp / nonMembers.length;
    if (tpr - fpr > best.advantage) best = { advantage: tpr - fpr, threshold: all[i]!.l, tpr, fpr };
  }
  return best;
}

/** TPR − FPR of the fixed rule "member iff loss ≤ threshold". */
export function advantageAt(members: readonly number[], nonMembers: readonly number[], threshold: number): number {
  checkLosses(members, nonMembers);
  const tpr = members.filter((l) => l <= threshold).length / members.length;
  const fpr = nonMembers.filter((l) => l <= threshold).length / nonMembers.length;
  return tpr - fpr;
}

/** Splits `xs` into two random halves (sizes ⌈n/2⌉ and ⌊n/2⌋). */
function halves(xs: readonly number[], rng: Rng): [number[], number[]] {
  const s = shuffleInPlace([...xs], rng);
  const cut = Math.ceil(s.length / 2);
  return [s.slice(0, cut), s.slice(cut)];
}

/**
 * Mean over `splits` random half/half splits of the advantage on one half at the threshold chosen
 * on the other (both directions per split). Needs at least 2 members and 2 non-members.
 */
export function heldOutThresholdAdvantage(members: readonly number[], nonMembers: readonly number[], rng: Rng, splits = 100): number {
  checkLosses(members, nonMembers);
  if (members.length < 2 || nonMembers.length < 2) throw invalidArgument('members', members.length, 'at least 2 members and 2 non-members');
  if (!(Number.isSafeInteger(splits) && splits > 0)) throw invalidArgument('splits', splits, 'positive integer');
  let sum = 0;
  for (let s = 0; s < splits; s++) {
    const [m1, m2] = halves(members, rng);
    const [n1, n2] = halves(nonMembers, rng);
    sum += advantageAt(m2, n2, lossThresholdAttack(m1, n1).threshold);
    sum += advantageAt(m1, n1, lossThresholdAttack(m2, n2).threshold);
  }
  return sum / (2 * splits);
}

/** Mean best-threshold advantage over `permutations` shufflings of the member/non-member labels. */
export function permutationNullAdvantage(members: readonly number[], nonMembers: readonly number[], rng: Rng, permutations = 200): number {
  checkLosses(members, nonMembers);
  if (!(Number.isSafeInteger(permutations) && permutations > 0)) throw invalidArgument('permutations', permutations, 'positive integer');
  const pooled = [...members, ...nonMembers];
  let sum = 0;
  for (let p = 0; p < permutations; p++) {
    shuffleInPlace(pooled, rng);
    sum += lossThresholdAttack(pooled.slice(0, members.length), pooled.slice(members.length)).advantage;
  }
  return sum / permutations;
}

/** The largest TPR − FPR any membership test can have against an (ε, δ)-DP mechanism. */
export function dpAdvantageBound(epsilon: number, delta: number): number {
  if (!(epsilon >= 0)) throw invalidArgument('epsilon', epsilon, 'epsilon >= 0');
  if (!(delta >= 0 && delta < 1)) throw invalidArgument('delta', delta, 'delta in [0, 1)');
  if (epsilon === Number.POSITIVE_INFINITY) return 1;
  return Math.min(1, (1 - delta) * Math.tanh(epsilon / 2) + delta);
}
