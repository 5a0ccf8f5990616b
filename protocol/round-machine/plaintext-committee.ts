/**
 * The committee member's stages of a plaintext FedAvg round (McMahan et al., AISTATS 2017,
 * Alg. 1, the server; the committee is a quorum of servers whose records FedmeshFederation
 * finalizes with t signatures), one function per stage as in the secure strategy:
 *
 *   COLLECTING  until every member's update arrived, or the collect deadline (a `wake`); the
 *               updates held then are the round's — a later one is left out (`ROUND_LATE_UPDATE`)
 *   ADMISSION   the node checks each held update's record line (effects `admit-update`, issue 14
 *               item 3, H8 F1: protocol/chain/declaration.ts `checkAdmission`); a refused one is
 *               treated as dropped, never a reason to lose the round
 *   AGGREGATE   FedAvg of the admitted updates, each clipped to the bound (defence (a): the
 *               committee sees plaintext and clips whatever the sender ran), then the server
 *               optimizer; the record binds the average (protocol/audit/server-step.ts)
 *   RECORDING   effect `record` (member k records at collectDeadline + k·grace, protocol/round.ts
 *               `recordTurn`); once the chain holds a record: announce the aggregate if the
 *               record names our model hash, else log the difference → DONE
 *
 * A simulated dropout collects like everyone (the old driver's behaviour) and then ends `failed`
 * without signing anything.
 */
import { fromHex0x, hash256, toHex0x } from '../bytes.js';
import type { Hex32 } from '../chain/record.js';
import { NO_DP_PARAMS } from '../chain/dp-params.js';
import { fedAvg } from '../fedavg.js';
import { encodeAggregate, type ParticipantEntry } from '../messages/update.js';
import { sortParticipants } from '../record.js';
import { CommitteeStage, committeeMachine, RoundError, recordTurn } from '../round.js';
import { clipModelUpdate } from '../secure-aggregation/quantize.js';
import type { CommitteeOutcome, ReceivedPlainUpdate } from './types.js';
import type { StageMachine } from '../stage-machine.js';
import { modelHash } from '../weights-codec.js';
import type { PlainStageContext } from './plaintext-types.js';

export enum PlainCommitteePhase {
  Collecting = 'collecting',
  Admission = 'admission',
  Aggregate = 'aggregate',
  Recording = 'recording',
  Done = 'done',
}

export interface PlainCommitteeState {
  /** The node-level committee path (collecting → aggregating → recording → announcing → done). */
  readonly stages: StageMachine<CommitteeStage>;
  phase: PlainCommitteePhase;
  /** The round's updates, fixed when collecting ends (arrival order). */
  collected?: readonly ReceivedPlainUpdate[];
  /** Admission answers still outstanding, and the refused senders. */
  readonly pending: Set<string>;
  readonly refused: Set<string>;
  /** Our aggregate's hash and the payload announced once the record names it. */
  aggregate?: { readonly modelHash: Hex32; readonly payload: Uint8Array };
  outcome?: CommitteeOutcome;
}

export function plainCommitteeRole(round: number): PlainCommitteeState {
  return {
    stages: committeeMachine(round),
    phase: PlainCommitteePhase.Collecting,
    pending: new Set(),
    refused: new Set(),
  };
}

/** Whether collecting has ended (updates received from now on are late). */
export const collectClosed = (s: PlainCommitteeState): boolean => s.collected !== undefined;

/** COLLECTING: every member's update, or the deadline. */
function collecting(s: PlainCommitteeState, c: PlainStageContext): number | undefined | 'next' {
  const { cfg, store, out } = c;
  const deadline = cfg.plan.collectDeadline;
  if (store.updates.size < cfg.members.length && c.now < deadline) return deadline;
  s.collected = [...store.updates.values()];
  if (cfg.dropout !== undefined) {
    s.stages.to(CommitteeStage.Failed);
    out.log('debug', { dropout: cfg.dropout }, 'simulated dropout: committee member silent');
    s.phase = PlainCommitteePhase.Done;
    s.outcome = { kind: 'done', recorded: false };
    return undefined;
  }
  s.stages.to(CommitteeStage.Aggregating);
  if (cfg.admits) {
    for (const u of s.collected) {
      s.pending.add(u.sender);
      out.push({
        type: 'admit-update',
        participant: u.sender,
        dpParams: u.update.dpParams ?? NO_DP_PARAMS,
        entrySignature: u.update.entrySignature,
      });
    }
    s.phase = PlainCommitteePhase.Admission;
  } else s.phase = PlainCommitteePhase.Aggregate;
  return 'next';
}

/** The answer to one `admit-update`: `refusal` undefined = admitted. */
export function onPlainAdmitted(s: PlainCommitteeState, c: PlainStageContext, participant: string, refusal: string | undefined): void {
  if (!s.pending.delete(participant)) return;
  if (refusal === undefined) return;
  s.refused.add(participant);
  c.out.log('warn', { participant, reason: refusal }, 'update refused: its record line would not be recorded');
}

/** AGGREGATE: FedAvg (then the server optimizer) over the admitted updates; ask for the record. */
function aggregate(s: PlainCommitteeState, c: PlainStageContext): undefined {
  const { cfg, out } = c;
  const round = cfg.plan.round;
  const received = s.collected!.filter((u) => !s.refused.has(u.sender));
  if (received.length === 0) throw new RoundError('ROUND_NO_UPDATES', `no updates for round ${round}`, { round });
  const bound = cfg.updateNormBound;
  const average = fedAvg(
    received.map((u) => ({
      participant: u.sender,
      sampleCount: u.update.sampleCount,
      weights: bound === undefined ? u.update.weights : clipModelUpdate(u.update.weights, cfg.global, bound).weights,
    })),
  );
  const next = cfg.serverStep === undefined ? average : cfg.serverStep(average);
  const hash = toHex0x(modelHash(next));
  const participants: ParticipantEntry[] = sortParticipants(
    received.map((u) => ({ participant: u.sender, sampleCount: u.update.sampleCount, updateHash: u.payloadHash })),
  );
  const prevModelHash = fromHex0x(cfg.head);
  const payload = encodeAggregate({ prevModelHash, participants, weights: next });
  // The record binds the round's average (the same message carrying ā): under a server optimizer
  // that is not the announced model, so it goes with the request for the auditor's replay
  // (protocol/audit/server-step.ts). Under FedAvg both are the same bytes.
  const averagePayload = cfg.serverStep === undefined ? payload : encodeAggregate({ prevModelHash, participants, weights: average });
  s.aggregate = { modelHash: hash, payload };
  out.push({
    type: 'record',
    request: {
      round,
      position: cfg.position,
      // Member 0 records as soon as it has aggregated; member k ≥ 1 steps in only if nothing is
      // recorded by the deadline plus k grace periods.
      turnDelayMs: recordTurn(cfg.plan, cfg.position, cfg.timing) - c.now,
      prevModelHash: cfg.head,
      modelHash: hash,
      candidate: next,
      aggregateHash: toHex0x(hash256(averagePayload)),
      ...(cfg.serverStep !== undefined ? { averagePayload } : {}),
      contributors: participants.map((p) => p.participant),
      sampleCounts: new Map(participants.map((p) => [p.participant, p.sampleCount])),
      // What each update declared and signed (protocol/messages/update.ts).
      declarations: new Map(
        received.map((u) => [
          u.sender,
          { dpParams: u.update.dpParams ?? NO_DP_PARAMS, entrySignature: toHex0x(u.update.entrySignature ?? new Uint8Array(65)) },
        ]),
      ),
    },
  });
  s.phase = PlainCommitteePhase.Recording;
  return undefined;
}

/** The chain holds the round's record (ours or another member's): announce ours if it is the one recorded. */
export function onPlainRecorded(s: PlainCommitteeState, c: PlainStageContext, recorded: boolean, recordedHash: Hex32): void {
  const a = s.aggregate!;
  // The path shows Recording only for the member whose transaction landed.
  if (recorded) s.stages.to(CommitteeStage.Recording);
  if (recordedHash === a.modelHash) {
    s.stages.to(CommitteeStage.Announcing);
    c.out.push({ type: 'announce', payload: a.payload });
  } else {
    c.out.log('warn', { ours: a.modelHash, recorded: recordedHash }, 'recorded aggregate differs from ours (different update set)');
  }
  s.stages.to(CommitteeStage.Done);
  s.phase = PlainCommitteePhase.Done;
  s.outcome = { kind: 'done', recorded };
}

/** Run the committee's stages as far as what it holds allows; returns the time it wants a tick at. */
export function advancePlainCommittee(s: PlainCommitteeState, c: PlainStageContext): number | undefined {
  for (;;) {
    let r: number | undefined | 'next';
    switch (s.phase) {
      case PlainCommitteePhase.Collecting:
        r = collecting(s, c);
        break;
      case PlainCommitteePhase.Admission:
        if (s.pending.size > 0) return undefined;
        s.phase = PlainCommitteePhase.Aggregate;
        r = 'next';
        break;
      case PlainCommitteePhase.Aggregate:
        r = aggregate(s, c);
        break;
      case PlainCommitteePhase.Recording:
      case PlainCommitteePhase.Done:
        return undefined;
    }
    if (r !== 'next') return r;
  }
}

/** End the role on an error (a stage's throw, a failed effect, or the round being stopped). */
export function failPlainCommittee(s: PlainCommitteeState, error: unknown): void {
  if (!s.stages.is(CommitteeStage.Done, CommitteeStage.Failed)) s.stages.to(CommitteeStage.Failed);
  s.phase = PlainCommitteePhase.Done;
  s.outcome = { kind: 'thrown', error };
}
