/**
 * Typed errors of the secure-aggregation protocol (STYLE.md §10). Every failure a peer can
 * cause — a bad signature, a tampered share, a duplicate, a request to reveal both kinds of
 * share — has its own stable code, so the node counts it as a metric label and tests assert
 * the code, never the message. Stage violations use the shared `StageError`
 * (`STAGE_UNEXPECTED`, naming the current and expected stages).
 */
import { FedmeshError } from '../errors.js';

export type SecAggErrorCode =
  /** A configuration value breaks a rule (field, value and rule in `fields`). */
  | 'SECAGG_BAD_CONFIG'
  /** A message for another federation or round than the machine's. */
  | 'SECAGG_WRONG_ROUND'
  /** The same sender sent the same kind of message twice. */
  | 'SECAGG_DUPLICATE'
  /** A message refers to a participant whose keys were not advertised (or not to us). */
  | 'SECAGG_UNKNOWN_KEY'
  /** An Ed25519 signature (advertisement, view, result) does not verify. */
  | 'SECAGG_BAD_SIGNATURE'
  /** AEAD decryption of an encrypted share failed: tampered, misaddressed or replayed. */
  | 'SECAGG_DECRYPT_FAILED'
  /**
   * The share addressed to this member names a recipient key other than the one it holds for the
   * round (`fields.named`, `fields.held`: SHA-256 digests; `fields.complained`): a prekey of a lost
   * state, or a participant's lie (committee-member.ts `addShareKeys`).
   */
  | 'SECAGG_WRONG_RECIPIENT_KEY'
  /** A role-restricted message (view, proposal, reveal) from a peer outside the committee. */
  | 'SECAGG_NOT_COMMITTEE'
  /** Asked to reveal the self-mask share and the key share of the same participant. */
  | 'SECAGG_BOTH_KINDS'
  /** A second, different unmask proposal after this member already acted on one. */
  | 'SECAGG_CONFLICTING_PROPOSAL'
  /** A proposal that does not follow from its signed views or is otherwise malformed. */
  | 'SECAGG_BAD_PROPOSAL'
  /**
   * A valid proposal this member cannot check or unmask (it lists a participant whose
   * commitment or advertised keys this member never received): it refuses before revealing
   * anything and signs no result (`fields.reason`, `fields.participants`).
   */
  | 'SECAGG_CANNOT_FOLLOW'
  /** Fewer committee members than the threshold can take part. */
  | 'SECAGG_TOO_FEW_COMMITTEE'
  /**
   * Fewer views than the threshold to propose from, or (`fields.reason` 'omission-by-one-view',
   * F26) no t of them whose lock leaves out only inputs that ≥ 2 of them lack.
   */
  | 'SECAGG_TOO_FEW_VIEWS'
  /** Fewer shares than the threshold, or no subset of them reconstructs a committed secret. */
  | 'SECAGG_TOO_FEW_SHARES'
  /** Fewer survivors than the minimum: unmasking would reveal an individual update. */
  | 'SECAGG_TOO_FEW_SURVIVORS'
  /** More participants than the overflow bound was computed for. */
  | 'SECAGG_TOO_MANY_PARTICIPANTS'
  /** A masked vector of the wrong length, or an input that is not a finite number. */
  | 'SECAGG_BAD_INPUT'
  /** A sample count outside [1, maxSampleCount]. */
  | 'SECAGG_BAD_SAMPLE_COUNT'
  /** X25519 produced the all-zero shared secret (a low-order public key). */
  | 'SECAGG_BAD_KEY'
  /**
   * A survivor set breaks a floor the committee enforces before locking (floors.ts):
   * `fields.rule` is 'survivor-fraction', 'min-survivors', 'neighbours' or 'connected', with the
   * numbers that broke it ('shared-fraction' on the key set: |U_2| < ⌈α·|U_1|⌉). The round aborts
   * before any reveal.
   */
  | 'SECAGG_FLOOR'
  /** A proposal from a member that is not the leader of the turn it names (`fields.turn`, `fields.leader`). */
  | 'SECAGG_NOT_LEADER'
  /** A proposal for a turn this member's clock has not reached yet (`fields.turn`, `fields.startsAt`). */
  | 'SECAGG_EARLY_PROPOSAL'
  /**
   * A member signed two different statements of one kind (a view cited in a proposal that differs
   * from the View it published): both are kept as evidence in `fields`.
   */
  | 'SECAGG_EQUIVOCATION'
  /** An action that needs a t-of-m certificate (key set, lock) before it has one. */
  | 'SECAGG_NOT_CERTIFIED'
  /** The certified key set leaves this participant fewer than k neighbours, or excludes it. */
  | 'SECAGG_TOO_FEW_NEIGHBOURS'
  /** Σ n_i or a coordinate of the unmasked sum outside its bound: the round aborts before recording. */
  | 'SECAGG_OUT_OF_RANGE'
  /**
   * The ledger has not charged exactly the certified lock's U_3 (red team F18): the charge
   * reverted (`fields.reason`: the chain's error code, e.g. a participant over its cap), the
   * chain charged other participants, or nothing landed by the deadline (`fields.deadline`).
   * The member never reveals: the reveals are what release the inputs.
   */
  | 'SECAGG_NOT_CHARGED';

export class SecAggError extends FedmeshError<SecAggErrorCode> {}
