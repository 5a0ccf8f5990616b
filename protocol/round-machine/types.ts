/**
 * The round machine's vocabulary (issue 13, "The shape: one round core, pure"): the events,
 * effects and outcomes that both aggregation strategies speak — secure aggregation
 * (protocol/secure-aggregation/machine/, Bonawitz et al. 2017 §4) and plaintext FedAvg
 * (./plaintext-step.ts, McMahan et al. 2017) — so one node driver loop
 * (node/services/round-drive.ts `driveRound`) feeds either and runs its effects the same way.
 * Each strategy keeps its own configuration (the secure RoundMachineConfig in
 * protocol/secure-aggregation/machine/types.ts, ./plaintext-types.ts PlainRoundConfig).
 *
 * Events are what the node observed — the round opened (`start`), messages its inboxes accepted
 * (`received`), a clock reading (`tick`), and the completion of an effect it was asked to run
 * (`trained`, `entry-signed`, `charged`, `admitted`, `lock-charged`, `recorded`, `failed`). Every
 * event carries the node clock's reading `now` (ms): the machine never reads a clock (STYLE.md §1).
 *
 * Effects are what the machine asks the node to do, in order: publish on the secagg topic,
 * publish the masked input, the plaintext update or the aggregate, train, sign the participant
 * entry, charge the local privacy ledger, check admission, charge the certified lock's U_3 on
 * chain before any reveal (`charge-lock`, secure only, red team F18), record on chain, log, count
 * an error, and `wake` — "deliver a tick at time `at`" (each wake replaces the previous one;
 * Lodestar's clock, a timer behind a port, is the model). Effects whose result the machine needs
 * answer with an event. A strategy never asks for another strategy's effects (`publish`,
 * `publish-input`, `admit`, `charge-lock` are secure; `publish-update`, `admit-update` plaintext).
 */
import type { ContributionDeclaration, Hex32 } from '../chain/record.js';
import type { MaskedInputPayload } from '../messages/masked-input.js';
import type { SecAggMessage } from '../messages/secagg.js';
import type { UpdatePayload } from '../messages/update.js';
import type { ModelWeights } from '../model.js';

/** Where a simulated dropout leaves the round (simulations only). */
export type DropoutPoint = 'after-keys' | 'after-input';

export type LogLevel = 'debug' | 'info' | 'warn';

/** A masked input the round inbox accepted (node/services/round-inbox.ts ReceivedMaskedInput). */
export interface ReceivedInput {
  readonly sender: string;
  /** SHA-256 of the encoded payload: what committee views sign. */
  readonly payloadHash: Uint8Array;
  readonly input: MaskedInputPayload;
}

/**
 * A plaintext update the round inbox accepted (node/services/round-inbox.ts ReceivedUpdate), for
 * the plaintext strategy (./plaintext-step.ts).
 */
export interface ReceivedPlainUpdate {
  readonly sender: string;
  /** SHA-256 of the encoded payload: the record's updateHash. */
  readonly payloadHash: Uint8Array;
  readonly update: UpdatePayload;
}

/** What training returned: loss, the trained weights (read when masking) and the DP-SGD parameters run. */
export interface Trained {
  readonly loss: number;
  readonly weights: () => ModelWeights;
  readonly dpParams?: bigint;
}

export type RoundEvent =
  /** The round opened on chain and this peer took it up (round-driver's open). */
  | { readonly type: 'start'; readonly now: number }
  /** Messages the inboxes accepted since the last event, each kind in arrival order. */
  | {
      readonly type: 'received';
      readonly now: number;
      readonly messages: readonly SecAggMessage[];
      readonly inputs: readonly ReceivedInput[];
      /** Plaintext updates (the plaintext strategy; absent in secure rounds). */
      readonly updates?: readonly ReceivedPlainUpdate[];
    }
  /** A clock reading (a `wake` came due). */
  | { readonly type: 'tick'; readonly now: number }
  | { readonly type: 'trained'; readonly now: number; readonly result: Trained }
  | { readonly type: 'train-failed'; readonly now: number; readonly error: unknown }
  | { readonly type: 'entry-signed'; readonly now: number; readonly signature: Uint8Array }
  | { readonly type: 'charged'; readonly now: number }
  /** Admission of one input: `refusal` undefined = admitted, else why the contract would refuse its line. */
  | { readonly type: 'admitted'; readonly now: number; readonly participant: string; readonly refusal: string | undefined }
  /**
   * The answer to `charge-lock`: the chain holds a charge of exactly lock `lock`'s U_3 (the node
   * compared the charged participants hash with the one it built for that lock), or `refusal`:
   * why it never will (the charge reverted, another charge landed, the wait ran out).
   */
  | {
      readonly type: 'lock-charged';
      readonly now: number;
      readonly lock: Hex32;
      readonly refusal?: { readonly code: string; readonly message: string };
    }
  /** The round record landed (ours or another member's): its model hash and whether we sent it. */
  | { readonly type: 'recorded'; readonly now: number; readonly recorded: boolean; readonly modelHash: Hex32 }
  /**
   * An effect failed or the round was stopped (`stopped`: the node's abort signal fired). `role`:
   * the role whose effect failed; absent: every role still running.
   */
  | {
      readonly type: 'failed';
      readonly now: number;
      readonly error: unknown;
      readonly stopped: boolean;
      readonly role?: 'participant' | 'committee';
    };

/**
 * The record request (node/services/round-recorder.ts RecordRequest, secure mode), with the
 * recording turn as a delay: the node adds it to its clock when it starts recording.
 */
export interface SecureRecordRequest {
  readonly round: number;
  readonly position: number;
  readonly turnDelayMs: number;
  readonly prevModelHash: Hex32;
  readonly modelHash: Hex32;
  readonly candidate: ModelWeights;
  readonly aggregateHash: Hex32;
  /** Under a server optimizer: the aggregate message carrying the plain average, which aggregateHash binds. */
  readonly averagePayload?: Uint8Array;
  readonly contributors: readonly string[];
  readonly declarations: ReadonlyMap<string, ContributionDeclaration>;
  /** Each contributor's declared sample count, when the mode reveals it (plaintext FedAvg). */
  readonly sampleCounts?: ReadonlyMap<string, number>;
}

/**
 * What the node charges on chain before this member reveals (red team F18): the certified lock
 * and U_3 with each survivor's signed declaration (from its masked input, whose hash the lock
 * certified). `until`: the absolute time after which the member gives up; +∞ (the default): it
 * waits for the chain's answer (F21).
 */
export interface LockChargeRequest {
  readonly round: number;
  readonly position: number;
  /** This position's submitting turn, as a delay from when the node starts (position × grace). */
  readonly turnDelayMs: number;
  readonly until: number;
  /** The lock digest (protocol/messages/secagg.ts `lockDigest`) as bytes32. */
  readonly lock: Hex32;
  readonly contributors: readonly string[];
  readonly declarations: ReadonlyMap<string, ContributionDeclaration>;
}

export type RoundEffect =
  | { readonly type: 'publish'; readonly message: SecAggMessage }
  | { readonly type: 'publish-input'; readonly payload: Uint8Array }
  /** The plaintext strategy: this participant's UpdatePayload leaves on the update topic. */
  | { readonly type: 'publish-update'; readonly payload: Uint8Array }
  | { readonly type: 'announce'; readonly payload: Uint8Array }
  | { readonly type: 'train' }
  | { readonly type: 'sign-entry'; readonly dpParams: bigint }
  | { readonly type: 'charge'; readonly dpParams: bigint }
  | { readonly type: 'admit'; readonly participant: string; readonly input: MaskedInputPayload }
  /** The plaintext strategy's admission check of one update's record line (answered by `admitted`). */
  | {
      readonly type: 'admit-update';
      readonly participant: string;
      readonly dpParams: bigint;
      readonly entrySignature: Uint8Array | undefined;
    }
  | { readonly type: 'charge-lock'; readonly request: LockChargeRequest }
  | { readonly type: 'record'; readonly request: SecureRecordRequest }
  | { readonly type: 'log'; readonly level: LogLevel; readonly fields: Record<string, unknown>; readonly msg: string }
  /** A protocol error caused by another peer's message (or this peer's own failure), by code: a metric. */
  | { readonly type: 'count'; readonly code: string; readonly detail: Record<string, unknown> }
  | { readonly type: 'wake'; readonly at: number };

/** How the participant role ended. `thrown`: the node rethrows `error` (the old driver's throw). */
export type ParticipantOutcome =
  | { readonly kind: 'done'; readonly trainLoss?: number }
  | { readonly kind: 'thrown'; readonly error: unknown };

/** How the committee role ended. */
export type CommitteeOutcome =
  | {
      readonly kind: 'done';
      readonly recorded: boolean;
      readonly survivors?: number;
      readonly dropped?: number;
      /** The SecAggError code that made this member abstain (it signed nothing). */
      readonly abstained?: string;
    }
  | { readonly kind: 'thrown'; readonly error: unknown };

/** An event as a driver queues it, before it is stamped with the clock reading it is stepped at (`now`). */
export type UnstampedRoundEvent = RoundEvent extends infer E ? (E extends { now: number } ? Omit<E, 'now'> : never) : never;
