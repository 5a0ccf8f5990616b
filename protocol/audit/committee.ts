/**
 * Question 1 of the audit: was each round's committee the one the chain selected?
 *
 * The committee is recomputed with the same function the nodes use
 * (protocol/chain/committee.ts `selectCommitteeOnChain`) from the seed the `RoundOpened` event
 * announced and the active list at the round's snapshot block (or, when that was not read,
 * replayed from registry events up to the opening). When the seed block's hash is known (the
 * `prevrandao` input, kept under its old name), the seed itself is recomputed too:
 * seed = keccak256(abi.encode(blockhash(seedBlock), prevRecordHash, round)) (IFedmeshRounds.openRound).
 */
import { getAddress } from 'ethers';
import { roundSeed, selectCommitteeOnChain } from '../chain/committee.js';
import type { Hex32 } from '../chain/record.js';
import { finding, type LocalFinding } from './findings.js';

export interface CommitteeCheck {
  readonly recomputed: readonly string[] | undefined;
  readonly findings: LocalFinding[];
}

export function checkCommittee(input: {
  readonly round: number;
  readonly seed: Hex32;
  readonly announced: readonly string[];
  readonly active: readonly string[];
  readonly m: number;
  readonly prevRecordHash: Hex32;
  readonly prevrandao?: bigint;
}): CommitteeCheck {
  const findings: LocalFinding[] = [];
  if (input.prevrandao !== undefined) {
    const expected = roundSeed(input.prevrandao, input.prevRecordHash, input.round);
    if (expected.toLowerCase() !== input.seed.toLowerCase()) {
      findings.push(
        finding(
          'COMMITTEE_SEED_MISMATCH',
          'error',
          `round ${input.round}'s seed is not keccak256(blockhash(seedBlock), prevRecordHash, round)`,
          {
            announced: input.seed,
            expected,
            prevrandao: input.prevrandao,
            prevRecordHash: input.prevRecordHash,
          },
        ),
      );
    }
  }
  let recomputed: string[] | undefined;
  try {
    recomputed = selectCommitteeOnChain(input.seed, input.active, input.m);
  } catch (e) {
    findings.push(
      finding('COMMITTEE_MISMATCH', 'error', `round ${input.round}'s committee cannot be drawn: ${(e as Error).message}`, {
        activeMembers: input.active,
        m: input.m,
      }),
    );
    return { recomputed: undefined, findings };
  }
  const announced = input.announced.map((a) => getAddress(a));
  if (announced.length !== recomputed.length || announced.some((a, i) => a !== recomputed![i])) {
    findings.push(
      finding('COMMITTEE_MISMATCH', 'error', `round ${input.round}'s announced committee differs from the one recomputed from its seed`, {
        announced,
        recomputed,
        seed: input.seed,
        activeMembers: input.active,
      }),
    );
  }
  return { recomputed, findings };
}
