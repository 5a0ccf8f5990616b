/**
 * The round, as explicit state machines (STYLE.md §4).
 *
 * One round r, seen from one peer:
 *
 *   participant:  idle ─▶ training ─▶ publishing ─▶ awaiting-result ─▶ adopted
 *                   └───────────────────────────────▲ (not participating this round)
 *   committee:    collecting ─▶ aggregating ─▶ recording ─▶ announcing ─▶ done
 *                                   ├──────────────────────▲ (another member recorded our aggregate)
 *                                   └─────────────────────────────────▲ (recorded aggregate differs)
 *
 * Every non-terminal stage may go to `failed`. Timing enters as arguments (the node's clock
 * supplies `now`); nothing here reads a clock.
 */
import { selectCommittee } from './committee.js';
import { FedmeshError } from './errors.js';
import { StageMachine } from './stage-machine.js';

export enum ParticipantStage {
  Idle = 'idle',
  Training = 'training',
  Publishing = 'publishing',
  AwaitingResult = 'awaiting-result',
  Adopted = 'adopted',
  Failed = 'failed',
}

export enum CommitteeStage {
  Collecting = 'collecting',
  Aggregating = 'aggregating',
  Recording = 'recording',
  Announcing = 'announcing',
  Done = 'done',
  Failed = 'failed',
}

const P = ParticipantStage;
const C = CommitteeStage;

export function participantMachine(round: number): StageMachine<ParticipantStage> {
  return new StageMachine<ParticipantStage>(`participant[r=${round}]`, P.Idle, {
    [P.Idle]: [P.Training, P.AwaitingResult, P.Failed],
    [P.Training]: [P.Publishing, P.Failed],
    [P.Publishing]: [P.AwaitingResult, P.Failed],
    [P.AwaitingResult]: [P.Adopted, P.Failed],
    [P.Adopted]: [],
    [P.Failed]: [],
  });
}

export function committeeMachine(round: number): StageMachine<CommitteeStage> {
  return new StageMachine<CommitteeStage>(`committee[r=${round}]`, C.Collecting, {
    [C.Collecting]: [C.Aggregating, C.Failed],
    [C.Aggregating]: [C.Recording, C.Announcing, C.Done, C.Failed],
    [C.Recording]: [C.Announcing, C.Done, C.Failed],
    [C.Announcing]: [C.Done, C.Failed],
    [C.Done]: [],
    [C.Failed]: [],
  });
}

export type RoundErrorCode =
  | 'ROUND_STALE'
  | 'ROUND_FUTURE'
  | 'ROUND_BAD_CONFIG'
  | 'ROUND_NO_UPDATES'
  | 'ROUND_NO_AGGREGATE'
  | 'ROUND_HASH_MISMATCH'
  | 'ROUND_COMMITTEE_MISMATCH'
  /** The round ended on chain without a record (aborted after its finalize deadline). */
  | 'ROUND_ABORTED'
  /**
   * The chain finalized the round while this peer was still waiting in it (it missed the
   * messages it needed): it left the round, published nothing more, and catches up instead.
   */
  | 'ROUND_LEFT';

export class RoundError extends FedmeshError<RoundErrorCode> {}

export interface RoundTiming {
  /** How long the committee waits for updates after the round opens, in ms. */
  readonly collectMs: number;
  /** How long committee member k (k ≥ 1) waits for member k−1 to record before stepping in. */
  readonly recordGraceMs: number;
}

export interface RoundPlan {
  readonly round: number;
  /** Committee in recording order: position 0 records first. */
  readonly committee: readonly string[];
  /** Absolute time (ms) after which updates for this round are late. */
  readonly collectDeadline: number;
}

export interface RoundParams {
  readonly federation: string;
  readonly committeeSize: number;
  readonly timing: RoundTiming;
}

/** The plan for round `round` opened at `openedAt` (ms) with the given member list. */
export function planRound(params: RoundParams, round: number, members: readonly string[], openedAt: number): RoundPlan {
  if (!Number.isInteger(round) || round < 1) throw new RoundError('ROUND_BAD_CONFIG', `round ${round}`, { field: 'round', value: round });
  return {
    round,
    committee: selectCommittee(params.federation, round, members, Math.min(params.committeeSize, members.length)),
    collectDeadline: openedAt + params.timing.collectMs,
  };
}

/** When committee member at `position` may record if nobody before it has. */
export function recordTurn(plan: RoundPlan, position: number, timing: RoundTiming): number {
  return plan.collectDeadline + position * timing.recordGraceMs;
}

/**
 * Which rounds' updates a peer working on `current` accepts: the current round and the next
 * (a fast peer may adopt r and publish r+1 before we have adopted r). Older: stale; further: future.
 */
export function classifyRound(msgRound: number, current: number): 'current' | 'next' | 'stale' | 'future' {
  if (msgRound === current) return 'current';
  if (msgRound === current + 1) return 'next';
  return msgRound < current ? 'stale' : 'future';
}

/** A committee member's decision on signing a round record (defence (b), docs/threat-model.md). */
export interface ValidationVerdict {
  readonly sign: boolean;
  /** Loss of the round's base (head) model on this member's validation split. */
  readonly baseLoss: number;
  /** Loss of the candidate aggregate on the same split. */
  readonly candidateLoss: number;
  readonly margin: number;
}

/**
 * The validation gate before signing: sign iff the candidate's loss is at most the base model's
 * plus `margin` (loss units, e.g. nats of binary cross-entropy). A non-finite candidate loss —
 * a NaN from a blown-up model — is refused; a non-finite base loss (nothing to compare with)
 * lets the candidate through only when its own loss is finite. Pure: the losses are computed
 * by the caller on its own data.
 */
export function validationGate(baseLoss: number, candidateLoss: number, margin: number): ValidationVerdict {
  if (!(Number.isFinite(margin) && margin >= 0)) {
    throw new RoundError('ROUND_BAD_CONFIG', `validationMargin=${margin}: a finite number >= 0`, {
      field: 'validationMargin',
      value: margin,
      rule: 'a finite number >= 0',
    });
  }
  const sign = Number.isFinite(candidateLoss) && (!Number.isFinite(baseLoss) || candidateLoss <= baseLoss + margin);
  return { sign, baseLoss, candidateLoss, margin };
}
