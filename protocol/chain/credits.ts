/**
 * The credit rule of FedmeshFederation (docs/credits.md), computable by anyone from the
 * `RoundFinalized` events alone: each carries the signed record and the committee members the
 * round credited.
 *
 * Per finalized round:
 * - each participant earns PARTICIPATION_CREDIT = 1 credit;
 * - each committee member the signed record's service mask names, and that was active at
 *   finalization, earns SERVICE_CREDIT = 4 (the event lists them as `credited`).
 *
 * Nothing depends on what a participant declares about itself: a sample count cannot be
 * verified on chain (and its clear-text bucket leaked the data size), and the service mask is
 * signed by the committee quorum, so whoever submits the record cannot strip credits by
 * resubmitting it with exactly t signatures (audit finding L-3).
 */
import { getAddress } from 'ethers';
import { invalidValue } from './errors.js';

/** Credits per participant of a finalized round (the contract's `PARTICIPATION_CREDIT`). */
export const PARTICIPATION_CREDIT = 1n;

/** Credits per committee member credited by a round (the contract's `SERVICE_CREDIT`). */
export const SERVICE_CREDIT = 4n;

/**
 * Lowest sample count of each of 8 logarithmic buckets: 1, then 64 · 4^(k−1). No longer on
 * chain or in credits; kept for off-chain callers that still report it (to be removed).
 */
export const SAMPLE_COUNT_BUCKET_FLOORS: readonly number[] = Object.freeze([1, 64, 256, 1024, 4096, 16384, 65536, 262144]);

/** The bucket of a sample count (an integer >= 1): the last floor not above it. Not used on chain. */
export function sampleCountBucket(sampleCount: number): number {
  if (!(Number.isSafeInteger(sampleCount) && sampleCount >= 1)) throw invalidValue('sampleCount', sampleCount, 'must be an integer >= 1');
  let bucket = 0;
  while (bucket < SAMPLE_COUNT_BUCKET_FLOORS.length - 1 && sampleCount >= SAMPLE_COUNT_BUCKET_FLOORS[bucket + 1]!) bucket++;
  return bucket;
}

/** A finalized round as an auditor reads it from `RoundFinalized`. */
export interface FinalizedRoundCredits {
  readonly record: { readonly participants: readonly { readonly member: string }[] };
  /** Committee members credited with SERVICE_CREDIT (the event's `credited`). */
  readonly credited: readonly string[];
}

/**
 * Credits minted by each finalized round in `rounds`, summed per checksummed address: what the
 * contract's `creditsOf` holds for each, and whose total is its `totalCredits`.
 */
export function replayCredits(rounds: Iterable<FinalizedRoundCredits>): Map<string, bigint> {
  const credits = new Map<string, bigint>();
  const add = (account: string, amount: bigint) => {
    const a = getAddress(account);
    credits.set(a, (credits.get(a) ?? 0n) + amount);
  };
  for (const round of rounds) {
    for (const p of round.record.participants) add(p.member, PARTICIPATION_CREDIT);
    for (const s of round.credited) add(s, SERVICE_CREDIT);
  }
  return credits;
}
