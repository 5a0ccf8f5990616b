/**
 * The secure strategy's configuration (issue 13, "The shape: one round core, pure").
 * `step(state, event) → {state, effects}` lives in ./step.ts; the stage functions in
 * ./participant-stages.ts and ./committee-stages.ts. The events, effects and outcomes are the
 * round machine's vocabulary, shared with its plaintext FedAvg strategy: they live in
 * protocol/round-machine/types.ts and are re-exported here, so the secure stage files and their
 * callers keep importing them from ./types.js.
 */
import type { Hex32 } from '../../chain/record.js';
import type { ModelWeights } from '../../model.js';
import type { DropoutPoint } from '../../round-machine/types.js';
import type { SecAggConfig } from '../config.js';
import type { IdentitySign, IdentityVerify } from '../crypto.js';

export type {
  CommitteeOutcome,
  DropoutPoint,
  LockChargeRequest,
  LogLevel,
  ParticipantOutcome,
  ReceivedInput,
  ReceivedPlainUpdate,
  RoundEffect,
  RoundEvent,
  SecureRecordRequest,
  Trained,
} from '../../round-machine/types.js';

/** Everything the machine needs to know about the round and this peer, fixed when it opens. */
export interface RoundMachineConfig {
  /** The aggregation strategy (protocol/round-machine/: 'plaintext' is PlainRoundConfig). */
  readonly mode?: 'secure';
  readonly round: number;
  readonly self: string;
  /** The round's committee in position order (RoundPlan.committee). */
  readonly committee: readonly string[];
  /** Every member of the federation this round (an advert from each ends the key wait early). */
  readonly members: readonly string[];
  readonly threshold: number;
  /** This peer's committee position (−1: not on the committee). */
  readonly position: number;
  /** When this peer opened the round (its own clock, ms). */
  readonly openedAt: number;
  /** Time from open to collect every member's advertisement (SecureAggregationInit.keysMs). */
  readonly keysMs: number;
  /** Absolute input deadline (RoundPlan.collectDeadline). */
  readonly collectDeadline: number;
  /**
   * Until when (node clock, ms) this peer keeps following a round whose key set is late: the last
   * moment the chain can still accept a record for it (the node passes the round's on-chain
   * finalize deadline; it stops the round earlier when the round closes on chain). A member with
   * no certified key set keeps collecting, proposing in its turns and endorsing until then; a
   * participant keeps waiting for a certified key set to mask with. Absent, or before
   * `collectDeadline`: `collectDeadline` (the behaviour before; the in-memory simulations).
   * Issue #13 liveness under load: giving up for good at the local input deadline lost rounds
   * the chain would still have recorded (the rule that fixed F21: never give up for good at a
   * local deadline while the chain can still act).
   */
  readonly followUntil?: number;
  /** One leader turn, and one recording turn (RoundTiming.recordGraceMs). */
  readonly recordGraceMs: number;
  readonly config: SecAggConfig;
  /** The ledger head this round builds on. */
  readonly head: Hex32;
  readonly global: ModelWeights;
  /**
   * The federation's server optimizer (protocol/server-optimizer.ts `serverStep`, bound to this
   * round's w_{t−1} and head): the unmasked average → the next model. Absent: FedAvg.
   */
  readonly serverStep?: (aggregate: ModelWeights) => ModelWeights;
  /** n_i this participant declares (masked, never in the clear). */
  readonly sampleCount: number;
  /** The federation's L2 bound on each update (defence.updateNormBound); undefined: none. */
  readonly updateNormBound?: number;
  readonly dropout: DropoutPoint | undefined;
  /** Committee keys are derived from identities: participants never wait for members' adverts. */
  readonly committeeKeysKnown: boolean;
  /**
   * Committee members whose signed prekey for this round the participant held when the round
   * opened (../prekeys.ts): it never waits for their adverts. Absent: none.
   */
  readonly preKeyed?: readonly string[];
  /** The node signs a ParticipantEntry for its input (`sign-entry` effect); false: 65 zero bytes. */
  readonly signsEntry: boolean;
  /** The node charges its privacy ledger right before the input leaves (`charge` effect). */
  readonly charges: boolean;
  /** The node checks each input's admission before the view (`admit` effects). */
  readonly admits: boolean;
  /**
   * The node charges the certified lock's U_3 on chain before this member reveals (`charge-lock`
   * effect, answered by `lock-charged`; red team F18). Absent or false: no ledger to charge
   * (in-memory simulations), and the member reveals once the lock is certified.
   */
  readonly chargesLock?: boolean;
  /** The identity key (deterministic Ed25519 in the node): signs the result statement. */
  readonly sign: IdentitySign;
  readonly verify: IdentityVerify;
}
