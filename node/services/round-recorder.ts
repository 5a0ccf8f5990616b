/**
 * The recorder seam: how a committee member gets its round's result onto the ledger. The round
 * driver only asks "record this aggregate at my turn and tell me what the chain holds";
 * `FederationRecorder` (./federation-recorder.ts) does it with t committee signatures and
 * `finalizeRound` on FedmeshFederation (position 0 submits first, position k after k grace
 * periods). Tests may give the driver a recorder that records calls.
 */
import type { ContributionDeclaration } from '../../protocol/chain/record.js';
import type { ModelWeights } from '../../protocol/model.js';
import type { LockChargeRequest } from '../../protocol/round-machine/types.js';
import type { Hex32, RecordedRound } from '../chain/types.js';

export interface RecordRequest {
  readonly round: number;
  /**
   * The candidate model the record's `modelHash` names, for a signing gate (the validation
   * gate of node/services/validation-gate.ts); absent: nothing to check.
   */
  readonly candidate?: ModelWeights;
  /** This member's committee position. */
  readonly position: number;
  /** Absolute time (ms) at which this position may record if nobody has. */
  readonly turnAt: number;
  readonly prevModelHash: Hex32;
  readonly modelHash: Hex32;
  /** Hash of the aggregate payload this member computed (identical across honest members). */
  readonly aggregateHash: Hex32;
  /** Peer ids whose inputs the aggregate contains. */
  readonly contributors: readonly string[];
  /** Declared sample count of each contributor, when the mode reveals it (plaintext FedAvg). */
  readonly sampleCounts?: ReadonlyMap<string, number>;
  /**
   * What each contributor declared in its signed submission: sample-count bucket and DP-SGD
   * parameters (protocol/chain/record.ts `ContributionDeclaration`). The federation recorder
   * puts them, and the spend they imply, into the round record.
   */
  readonly declarations?: ReadonlyMap<string, ContributionDeclaration>;
}

export interface RecordResult {
  /** What the chain holds for the round (ours or another member's). */
  readonly record: RecordedRound;
  /** Whether this member sent the recording/finalizing transaction. */
  readonly recorded: boolean;
}

/**
 * A secure round's certified lock to charge on chain before any reveal (red team F18): the
 * machine's `charge-lock` request (protocol/round-machine/types.ts `LockChargeRequest`: round,
 * position, `until` — after which the member has given up, +∞ by default: it waits for the
 * chain, F21 — the lock digest, U_3 and their declarations) with its turn as an absolute time.
 */
export type SecureChargeRequest = Omit<LockChargeRequest, 'turnDelayMs'> & {
  /** Absolute time (ms) from which this position submits the charge itself. */
  readonly turnAt: number;
};

/** The chain charged exactly the lock's U_3 (`charged`), or why it never will (`refusal`). */
export type LockChargeResult =
  | { readonly charged: true; readonly lock: Hex32; readonly participantsHash: Hex32; readonly submitted: boolean }
  | { readonly charged: false; readonly lock: Hex32; readonly refusal: { readonly code: string; readonly message: string } };

export interface RoundRecorder {
  /** Records (or sees recorded) `req.round`; rejects when `signal` aborts. */
  record(req: RecordRequest, signal: AbortSignal): Promise<RecordResult>;
  /**
   * Charges a secure round's certified lock on chain before any reveal (F18). A recorder without
   * a ledger has none, and its members reveal once the lock is certified.
   */
  charge?(req: SecureChargeRequest, signal: AbortSignal): Promise<LockChargeResult>;
}
