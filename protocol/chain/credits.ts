/**
 * The credit rule of FedmeshFederation (docs/credits.md), computable by anyone from the
 * `RoundFinalized` events alone: each carries the signed record and the signers the finalizing
 * transaction carried.
 *
 * Per finalized round:
 * - each participant earns `participationCredit(bucket) = bucket + 1` credits, where `bucket`
 *   is its declared sample-count bucket (`sampleCountBucket`);
 * - each signer whose signature the transaction carried earns `SERVICE_CREDIT` = 4.
 *
 * Buckets are logarithmic (powers of 4 from 64 samples) so that credit grows with the data a
 * site contributes but sub-linearly: a declared count is not verifiable on chain, and
 * over-declaring from 1,000 to 100,000 samples gains 3 credits, not 100×.
 */
import { getAddress } from 'ethers';
import { invalidValue } from './errors.js';
import { MAX_BUCKET } from './record.js';

/** Lowest sample count of each bucket 0 … 7: 1, then 64 · 4^(k−1). */
export const SAMPLE_COUNT_BUCKET_FLOORS: readonly number[] = Object.freeze([1, 64, 256, 1024, 4096, 16384, 65536, 262144]);

/** Credits per counted committee signature (the contract's `SERVICE_CREDIT`). */
export const SERVICE_CREDIT = 4n;

/** The bucket of a declared sample count (an integer >= 1): the last floor not above it. */
export function sampleCountBucket(sampleCount: number): number {
  if (!(Number.isSafeInteger(sampleCount) && sampleCount >= 1)) throw invalidValue('sampleCount', sampleCount, 'must be an integer >= 1');
  let bucket = 0;
  while (bucket < MAX_BUCKET && sampleCount >= SAMPLE_COUNT_BUCKET_FLOORS[bucket + 1]!) bucket++;
  return bucket;
}

/** Participation credit for `bucket` (the contract's `participationCredit`). */
export function participationCredit(bucket: number): bigint {
  if (!(Number.isInteger(bucket) && bucket >= 0 && bucket <= MAX_BUCKET))
    throw invalidValue('bucket', bucket, `must be in [0, ${MAX_BUCKET}]`);
  return BigInt(bucket) + 1n;
}

/** A finalized round as an auditor reads it from `RoundFinalized`. */
export interface FinalizedRoundCredits {
  readonly record: { readonly participants: readonly { readonly member: string; readonly bucket: number }[] };
  readonly signers: readonly string[];
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
    for (const p of round.record.participants) add(p.member, participationCredit(p.bucket));
    for (const s of round.signers) add(s, SERVICE_CREDIT);
  }
  return credits;
}
