/**
 * Types the node shares across its chain port (`FederationChainClient`,
 * ./federation-types.ts) and the round driver.
 *
 * Hashes are 0x-prefixed lowercase 32-byte hex strings (bytes32 on chain).
 */
import type { Hex32 } from '../../protocol/chain/record.js';

export type { Hex32 };

/**
 * A round as the round driver sees it once the federation finalized it: the model hash chain
 * link and where the finalizing transaction landed (./federation-ledger-view.ts
 * `recordedFromFinalized` builds it from a `FinalizedRound`).
 */
export interface RecordedRound {
  /** 1-based round number. Round 1's prevModelHash is the deployed initial model hash. */
  readonly round: number;
  readonly prevModelHash: Hex32;
  readonly modelHash: Hex32;
  /** Participants in the finalized record. */
  readonly participantCount: number;
  /** Transaction that finalized the round. */
  readonly txHash: Hex32;
  readonly blockNumber: number;
  /** The record's first committee signer. */
  readonly recorder: string;
}
