/**
 * Secure-aggregation parameters, their defaults and their validation (STYLE.md §11).
 *
 * Committee. Each round's committee of m members plays the server of Bonawitz et al.
 * ("Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017, §4): it
 * holds t-of-m Shamir shares of every participant's secrets and unmasks only the sum.
 * `t > m/2` is enforced because it is what turns each honest member's "never reveal both
 * kinds of share for one participant" rule into a committee-wide guarantee: two reveal
 * quorums of size t always overlap (docs/secure-aggregation.md, "Why t > m/2").
 * When the federation has fewer members than m, the committee is every member and
 * t = ⌊m/2⌋ + 1 (`effectiveCommittee`).
 *
 * Quantization. Each coordinate of n_i·Δ_i is clipped to [−R, R] and scaled by 2^f, so it
 * becomes an integer in [−L, L] with L = R·2^f, stored mod 2^32. The sum over at most N
 * participants lies in [−N·L, N·L] and decodes without wrap-around iff
 *
 *     N · L ≤ 2^31 − 1                                   (the overflow bound)
 *
 * and the appended sample-count coordinate Σ n_i fits an unsigned word iff
 * N · maxSampleCount ≤ 2^32 − 1. Both are checked here, once, before any round runs.
 * Defaults (R = 2^10, f = 10, N = 1024): L = 2^20 and N·L = 2^30, half the signed range.
 */
import { MAX_COMMITTEE_SIZE, MAX_PARTICIPANTS } from '../messages/limits.js';
import { SecAggError } from './errors.js';

export { MAX_COMMITTEE_SIZE };
/** 2^31 − 1: the largest |sum| a signed 32-bit word decodes. */
export const MAX_SIGNED_SUM = 0x7fffffff;
/** 2^32 − 1: the largest unsigned 32-bit word (the Σ n_i coordinate). */
export const MAX_UNSIGNED_SUM = 0xffffffff;

export interface SecAggConfig {
  /** Committee size m (shares per secret). */
  readonly committeeSize: number;
  /** Reconstruction threshold t, m/2 < t ≤ m. */
  readonly threshold: number;
  /** Clip range R: every coordinate of n_i·Δ_i is clipped to [−R, R]. */
  readonly clipRange: number;
  /** Fixed-point fractional bits f: a coordinate is stored as round(x · 2^f). */
  readonly fractionalBits: number;
  /** Largest number of participants whose inputs are summed (N in the overflow bound). */
  readonly maxParticipants: number;
  /** Largest sample count n_i a participant may claim. */
  readonly maxSampleCount: number;
  /** The committee refuses to unmask fewer survivors than this (a sum of one is the input). */
  readonly minSurvivors: number;
}

export const SECAGG_DEFAULTS: SecAggConfig = {
  committeeSize: 5,
  threshold: 3,
  clipRange: 1024,
  fractionalBits: 10,
  maxParticipants: MAX_PARTICIPANTS,
  /** 2^22 − 1: with N = 1024, Σ n_i ≤ 2^32 − 1. */
  maxSampleCount: (1 << 22) - 1,
  minSurvivors: 2,
};

function bad(field: string, value: unknown, rule: string): SecAggError {
  return new SecAggError('SECAGG_BAD_CONFIG', `${field}=${JSON.stringify(value)}: ${rule}`, { field, value, rule });
}

/** Validate every rule, naming the field, the value and the rule of the first that fails. */
export function validateSecAggConfig(c: SecAggConfig): SecAggConfig {
  const int = (field: keyof SecAggConfig, min: number, max: number): void => {
    const v = c[field];
    if (!Number.isInteger(v) || v < min || v > max) throw bad(field, v, `integer in [${min}, ${max}]`);
  };
  int('committeeSize', 1, MAX_COMMITTEE_SIZE);
  int('threshold', 1, c.committeeSize);
  if (2 * c.threshold <= c.committeeSize) throw bad('threshold', c.threshold, `must exceed committeeSize/2 = ${c.committeeSize / 2}`);
  int('fractionalBits', 0, 30);
  int('maxParticipants', 2, MAX_PARTICIPANTS);
  int('maxSampleCount', 1, MAX_UNSIGNED_SUM);
  int('minSurvivors', 2, c.maxParticipants);
  if (!(Number.isFinite(c.clipRange) && c.clipRange > 0)) throw bad('clipRange', c.clipRange, 'a finite number > 0');
  const levels = clipLevels(c);
  if (!Number.isSafeInteger(levels) || levels < 1) {
    throw bad('clipRange', c.clipRange, `clipRange · 2^fractionalBits must be a positive integer, got ${levels}`);
  }
  if (c.maxParticipants * levels > MAX_SIGNED_SUM) {
    throw bad(
      'clipRange',
      c.clipRange,
      `overflow bound: maxParticipants · clipRange · 2^fractionalBits = ${c.maxParticipants * levels} must be ≤ 2^31 − 1`,
    );
  }
  if (c.maxParticipants * c.maxSampleCount > MAX_UNSIGNED_SUM) {
    throw bad('maxSampleCount', c.maxSampleCount, `maxParticipants · maxSampleCount must be ≤ 2^32 − 1`);
  }
  return c;
}

/** L = R · 2^f: the integer a coordinate at the clip edge quantizes to. */
export function clipLevels(c: Pick<SecAggConfig, 'clipRange' | 'fractionalBits'>): number {
  return c.clipRange * 2 ** c.fractionalBits;
}

export interface EffectiveCommittee {
  readonly committeeSize: number;
  readonly threshold: number;
}

/**
 * The committee a round actually uses with `members` federation members: the configured
 * (m, t) when there are at least m members, else every member with t = ⌊m/2⌋ + 1.
 */
export function effectiveCommittee(c: Pick<SecAggConfig, 'committeeSize' | 'threshold'>, members: number): EffectiveCommittee {
  if (members >= c.committeeSize) return { committeeSize: c.committeeSize, threshold: c.threshold };
  return { committeeSize: members, threshold: Math.floor(members / 2) + 1 };
}
