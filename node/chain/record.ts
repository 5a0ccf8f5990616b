/**
 * Argument checks shared by every `ChainClient` implementation, so that the Ethers client and
 * the in-memory twin reject exactly the same inputs with exactly the same errors.
 *
 * Only representability is checked here (a round that is not an integer cannot be a uint64, a
 * string that is not 32 bytes of hex cannot be a bytes32). The ledger's rules (membership,
 * sequence, linkage, non-empty record) belong to the contract and its twin, which apply them in
 * the same order.
 */
import { assertArgument } from 'ethers';
import { invalidRecord } from './errors.js';
import type { Hex32, RoundRecord } from './types.js';

/** uint32 upper bound, the on-chain type of `participantCount`. */
export const MAX_PARTICIPANT_COUNT = 2 ** 32 - 1;

const HEX32 = /^0x[0-9a-fA-F]{64}$/;

/** The all-zero bytes32, which the ledger refuses as a model hash. */
export const ZERO_HASH: Hex32 = `0x${'0'.repeat(64)}`;

export function isHex32(value: unknown): value is Hex32 {
  return typeof value === 'string' && HEX32.test(value);
}

/**
 * Round numbers are uint64 on chain but `number` in the port; above 2^53 - 1 a number cannot
 * name a round exactly, so the safe-integer range is the representable one.
 */
function isRoundNumber(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/**
 * Checks that `record` can be sent to the ledger and returns it with lowercase hashes
 * (the canonical `Hex32` form). Throws ChainError CHAIN_INVALID_RECORD naming the field.
 */
export function normalizeRoundRecord(record: RoundRecord): RoundRecord {
  const { round, prevModelHash, modelHash, participantCount } = record;
  if (!isRoundNumber(round)) {
    throw invalidRecord('round', String(round), 'must be an integer in [0, 2^53 - 1]');
  }
  if (!isHex32(prevModelHash)) {
    throw invalidRecord('prevModelHash', String(prevModelHash), 'must be 0x and 64 hex digits');
  }
  if (!isHex32(modelHash)) {
    throw invalidRecord('modelHash', String(modelHash), 'must be 0x and 64 hex digits');
  }
  if (!Number.isSafeInteger(participantCount) || participantCount < 0 || participantCount > MAX_PARTICIPANT_COUNT) {
    throw invalidRecord('participantCount', String(participantCount), 'must be an integer in [0, 2^32 - 1]');
  }
  return {
    round,
    prevModelHash: prevModelHash.toLowerCase() as Hex32,
    modelHash: modelHash.toLowerCase() as Hex32,
    participantCount,
  };
}

/**
 * Checks a round number passed to `getRound` / `waitForRound`. A bad one is a caller bug, not a
 * ledger condition, so it throws ethers' INVALID_ARGUMENT TypeError like any ethers call would.
 */
export function assertRoundArgument(round: number): void {
  assertArgument(isRoundNumber(round), 'round must be an integer in [0, 2^53 - 1]', 'round', round);
}

export function assertTimeoutArgument(timeoutMs: number): void {
  assertArgument(Number.isFinite(timeoutMs) && timeoutMs >= 0, 'timeoutMs must be a finite number >= 0', 'timeoutMs', timeoutMs);
}
