/**
 * Argument checks and polling options of the chain client (`EthersFederationClient`,
 * ./federation-ethers.ts): a caller bug (a round that cannot be a uint64, a negative timeout, a
 * bad poll interval) fails here with ethers' INVALID_ARGUMENT or a RangeError before any RPC.
 *
 * Only representability is checked here. The ledger's rules (membership, sequence, linkage,
 * quorum, budgets) belong to the contract and are tested on its bytecode
 * (test/contracts/federation*.test.ts).
 */
import { assertArgument } from 'ethers';
import type { Hex32 } from './types.js';

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
 * Checks a round number passed to `getRound` / `waitFor…`. A bad one is a caller bug, not a
 * ledger condition, so it throws ethers' INVALID_ARGUMENT TypeError like any ethers call would.
 */
export function assertRoundArgument(round: number): void {
  assertArgument(isRoundNumber(round), 'round must be an integer in [0, 2^53 - 1]', 'round', round);
}

export function assertTimeoutArgument(timeoutMs: number): void {
  assertArgument(Number.isFinite(timeoutMs) && timeoutMs >= 0, 'timeoutMs must be a finite number >= 0', 'timeoutMs', timeoutMs);
}

/**
 * How often the ethers client's `waitFor…` methods poll. Hardhat's in-process network mines on
 * demand, so a transaction's effect is visible as soon as it returns; 200 ms keeps a 64-peer
 * simulation from flooding the provider while adding little latency to a round.
 */
export const DEFAULT_POLL_INTERVAL_MS = 200;

/** Validated polling options of the ethers client: a positive interval and a non-negative start block. */
export function pollingOptions(init: { readonly pollIntervalMs?: number; readonly fromBlock?: number }): {
  pollIntervalMs: number;
  fromBlock: number;
} {
  const pollIntervalMs = init.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  if (!(Number.isFinite(pollIntervalMs) && pollIntervalMs > 0)) {
    throw new RangeError(`pollIntervalMs must be a positive number, got ${pollIntervalMs}`);
  }
  const fromBlock = init.fromBlock ?? 0;
  if (!(Number.isSafeInteger(fromBlock) && fromBlock >= 0)) {
    throw new RangeError(`fromBlock must be a non-negative integer, got ${fromBlock}`);
  }
  return { pollIntervalMs, fromBlock };
}
