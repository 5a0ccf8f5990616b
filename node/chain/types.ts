/**
 * The chain port. Everything in node/ talks to the ledger through `ChainClient`, never
 * to ethers or a contract directly, so the contracts issue can swap the minimal
 * RoundLedger for the full federation contracts, and tests can use the in-memory twin.
 *
 * Hashes are 0x-prefixed lowercase 32-byte hex strings (bytes32 on chain).
 */
export type Hex32 = `0x${string}`;

export interface RoundRecord {
  /** 1-based round number. Round 1's prevModelHash is the deployed initial model hash. */
  readonly round: number;
  readonly prevModelHash: Hex32;
  readonly modelHash: Hex32;
  readonly participantCount: number;
}

export interface RecordedRound extends RoundRecord {
  /** Transaction that recorded the round (for the in-memory twin, a synthetic id). */
  readonly txHash: Hex32;
  readonly blockNumber: number;
  /** Address (or twin identity) that recorded it. */
  readonly recorder: string;
}

export interface ChainClient {
  /** Hash of the agreed initial model, fixed at deployment. */
  initialModelHash(): Promise<Hex32>;
  /** Number of the last recorded round; 0 before any. */
  latestRound(): Promise<number>;
  /** Model hash of the last recorded round, or the initial hash when none. */
  headModelHash(): Promise<Hex32>;
  /** The record of `round`, or undefined when not recorded yet. */
  getRound(round: number): Promise<RecordedRound | undefined>;
  /**
   * Record a round. Throws ChainError with a stable code on revert:
   * CHAIN_UNEXPECTED_ROUND, CHAIN_PREV_HASH_MISMATCH, CHAIN_NOT_MEMBER, CHAIN_INVALID_RECORD,
   * or CHAIN_UNAVAILABLE when the RPC cannot be reached.
   */
  recordRound(record: RoundRecord): Promise<RecordedRound>;
  /** Wait until `round` is recorded (polling or events), or reject after `timeoutMs`. */
  waitForRound(round: number, timeoutMs: number): Promise<RecordedRound>;
}
