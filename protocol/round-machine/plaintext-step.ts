/**
 * The plaintext FedAvg strategy of the round machine: `stepPlain(state, event) → {state,
 * effects}` for both roles of a peer (participant and committee member, either or both in one
 * round). Issue 13, "The shape: one round core, pure": the same events, effects and clock model
 * as the secure strategy (protocol/secure-aggregation/machine/step.ts) — time arrives as events'
 * `now`, the machine asks for a tick with `wake`, and what needs the outside world (train, sign
 * the entry, charge, admit, publish, record, announce) is an effect whose result comes back as an
 * event. The stage functions are in ./plaintext-participant.ts and ./plaintext-committee.ts.
 *
 * Pure in the secure machine's sense: no I/O, no clock, no randomness; the same configuration
 * and event sequence give the same effects, byte for byte (test/unit/plain-round-machine.test.ts).
 * Not immutable: `step` mutates the state in place and returns it, so a state is used once.
 */
import { applyParticipantAnswer, expectPhase } from './participant-answers.js';
import type { RoundEffect, RoundEvent } from './types.js';
import {
  advancePlainCommittee,
  collectClosed,
  failPlainCommittee,
  onPlainAdmitted,
  onPlainRecorded,
  PlainCommitteePhase,
  type PlainCommitteeState,
  plainCommitteeRole,
} from './plaintext-committee.js';
import {
  advancePlainParticipant,
  failPlainParticipant,
  PlainParticipantPhase,
  type PlainParticipantState,
  plainParticipantRole,
  startPlainParticipant,
} from './plaintext-participant.js';
import { PlainEmit, type PlainRoundConfig, type PlainStageContext, PlainUpdateStore } from './plaintext-types.js';

export interface PlainRoundState {
  readonly cfg: PlainRoundConfig;
  readonly store: PlainUpdateStore;
  readonly participant?: PlainParticipantState;
  readonly committee?: PlainCommitteeState;
  /** The clock reading of the last event. */
  now: number;
  started: boolean;
  /** The last `wake` asked for (undefined: none). */
  wake?: number;
}

/** A plaintext round's initial state for the roles asked for; `step` it with `{type: 'start'}` first. */
export function createPlainRoundState(
  cfg: PlainRoundConfig,
  roles: { readonly participant?: boolean; readonly committee?: boolean },
): PlainRoundState {
  return {
    cfg,
    store: new PlainUpdateStore(),
    ...(roles.participant === true ? { participant: plainParticipantRole() } : {}),
    ...(roles.committee === true && cfg.position >= 0 ? { committee: plainCommitteeRole(cfg.plan.round) } : {}),
    now: Number.NEGATIVE_INFINITY,
    started: false,
  };
}

/** Whether every role this state holds has ended. */
export function plainRoundDone(s: PlainRoundState): boolean {
  return (
    (s.participant === undefined || s.participant.outcome !== undefined) && (s.committee === undefined || s.committee.outcome !== undefined)
  );
}

export function stepPlain(state: PlainRoundState, event: RoundEvent): { state: PlainRoundState; effects: RoundEffect[] } {
  const { cfg, store } = state;
  const out = new PlainEmit(cfg.plan.round, cfg.self, store);
  state.now = event.now;
  const c: PlainStageContext = { cfg, store, now: event.now, out };
  const p = state.participant;
  const m = state.committee;
  switch (event.type) {
    case 'start':
      if (state.started) break;
      state.started = true;
      if (p !== undefined) startPlainParticipant(p, c);
      break;
    case 'received':
      for (const u of event.updates ?? []) {
        // After collecting closed, an update is late: the aggregate is already fixed.
        if (m !== undefined && collectClosed(m) && !store.updates.has(u.sender)) {
          out.count('ROUND_LATE_UPDATE', { sender: u.sender, deadline: cfg.plan.collectDeadline, now: event.now });
          out.log('debug', { participant: u.sender }, 'update after the collect deadline: not aggregated');
          continue;
        }
        store.add(u, out);
      }
      break;
    case 'tick':
      state.wake = undefined;
      break;
    case 'trained':
    case 'train-failed':
    case 'entry-signed':
    case 'charged':
      applyParticipantAnswer('plaintext', p, event, {
        entrySignature: PlainParticipantPhase.EntrySignature,
        charge: PlainParticipantPhase.Charge,
      });
      break;
    case 'admitted':
      if (m !== undefined && m.outcome === undefined) {
        expectPhase('plaintext', 'committee', m.phase, PlainCommitteePhase.Admission, event.type);
        onPlainAdmitted(m, c, event.participant, event.refusal);
      }
      break;
    case 'recorded':
      if (m !== undefined && m.outcome === undefined) {
        expectPhase('plaintext', 'committee', m.phase, PlainCommitteePhase.Recording, event.type);
        onPlainRecorded(m, c, event.recorded, event.modelHash);
      }
      break;
    case 'failed':
      if (p !== undefined && p.outcome === undefined && (event.role ?? 'participant') === 'participant')
        failPlainParticipant(p, event.error);
      if (m !== undefined && m.outcome === undefined && (event.role ?? 'committee') === 'committee') failPlainCommittee(m, event.error);
      break;
    // Secure-only events (`lock-charged`) never reach a plaintext round.
    default:
      break;
  }
  if (state.started) advance(state, c);
  return { state, effects: out.effects };
}

/**
 * Run both roles as far as they go. The participant runs first: its publish is stored at once
 * (as the inbox stores what it publishes), so a member that also trains counts its own update.
 */
function advance(state: PlainRoundState, c: PlainStageContext): void {
  const p = state.participant;
  const m = state.committee;
  let wake: number | undefined;
  if (p !== undefined && p.outcome === undefined) {
    try {
      wake = advancePlainParticipant(p, c);
    } catch (e) {
      failPlainParticipant(p, e);
    }
  }
  if (m !== undefined && m.outcome === undefined) {
    try {
      const w = advancePlainCommittee(m, c);
      if (w !== undefined) wake = wake === undefined ? w : Math.min(wake, w);
    } catch (e) {
      // ROUND_NO_UPDATES, a server optimizer without w_{t−1}, a FedAvg error: this member signs nothing.
      failPlainCommittee(m, e);
    }
  }
  if (wake !== undefined && wake !== state.wake) c.out.push({ type: 'wake', at: wake });
  state.wake = wake;
}
