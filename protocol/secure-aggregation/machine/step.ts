/**
 * The secure round as one state machine: `step(state, event) → {state, effects}` for both
 * roles of a peer (participant and committee member, either or both in one round). Issue 13,
 * "The shape: one round core, pure"; Flower's SecAgg+ workflow gives the staging (one function
 * per stage: ./participant-stages.ts, ./committee-stages.ts), Lodestar's clock the time model
 * (time arrives as events; the machine asks for a tick with a `wake` effect).
 *
 * What "pure" means here, honestly:
 *   - no I/O, no clock and no randomness of its own: every time is an event's `now`, every
 *     random byte comes from the `Entropy` injected into the role objects, every signature from
 *     the injected identity key (deterministic Ed25519 in the node), and nothing is awaited —
 *     what needs the outside world (publish, train, sign the entry, charge, admit, record) is an
 *     effect whose result comes back as an event;
 *   - the same configuration, role objects built from the same seeds, and the same event
 *     sequence give the same effects, byte for byte (test/unit/secagg-machine-sim.test.ts);
 *   - but it is not immutable: the state holds the role objects (SecAggParticipant,
 *     SecAggCommitteeMember) and its own bookkeeping, and `step` mutates them in place and
 *     returns the same object. A state is therefore used once: never step an old state again,
 *     never share one between two drivers. (The role objects also wipe secrets in place, which an
 *     immutable copy could not do without leaving copies behind.)
 *
 * The node's driver (node/services/secure-round.ts, on the loop both strategies share,
 * node/services/round-drive.ts) feeds inbox contents, clock ticks and effect completions as
 * events and executes the effects in order; the simulation (./simulation.ts)
 * does the same over an in-memory queue and a manual clock.
 */
import type { AdvertiseKeysMsg } from '../../messages/secagg.js';
import { applyParticipantAnswer, expectPhase } from '../../round-machine/participant-answers.js';
import type { SecAggCommitteeMember } from '../committee-member.js';
import type { SecAggParticipant } from '../participant.js';
import {
  advanceCommittee,
  type CommitteeRoleState,
  committeeRole,
  failCommittee,
  onAdmitted,
  onLockCharged,
  onRecorded,
  startCommittee,
} from './committee-stages.js';
import { Emit } from './emit.js';
import {
  advanceParticipant,
  failParticipant,
  ParticipantPhase,
  type ParticipantRoleState,
  participantRole,
  type StageContext,
  startParticipant,
} from './participant-stages.js';
import { ReceivedStore } from './store.js';
import type { RoundEffect, RoundEvent, RoundMachineConfig } from './types.js';
import { CommitteePhase } from './committee-stages.js';

export interface RoundState {
  readonly cfg: RoundMachineConfig;
  readonly store: ReceivedStore;
  readonly participant?: ParticipantRoleState;
  readonly committee?: CommitteeRoleState;
  /** An advertisement to publish when the round starts (absent: the node published it already). */
  readonly advert?: AdvertiseKeysMsg;
  /** The clock reading of the last event. */
  now: number;
  started: boolean;
  /** The last `wake` asked for (undefined: none). */
  wake?: number;
}

export interface RoundRoles {
  readonly participant?: SecAggParticipant;
  readonly member?: SecAggCommitteeMember;
  readonly advert?: AdvertiseKeysMsg;
}

/** A round's initial state for this peer's roles; `step` it with `{type: 'start'}` first. */
export function createRoundState(cfg: RoundMachineConfig, roles: RoundRoles): RoundState {
  const store = new ReceivedStore(cfg.threshold);
  return {
    cfg,
    store,
    ...(roles.participant !== undefined ? { participant: participantRole(roles.participant, store) } : {}),
    ...(roles.member !== undefined ? { committee: committeeRole(roles.member, store) } : {}),
    ...(roles.advert !== undefined ? { advert: roles.advert } : {}),
    now: Number.NEGATIVE_INFINITY,
    started: false,
  };
}

/** Whether every role this state holds has ended. */
export function roundDone(s: RoundState): boolean {
  return (
    (s.participant === undefined || s.participant.outcome !== undefined) && (s.committee === undefined || s.committee.outcome !== undefined)
  );
}

export function step(state: RoundState, event: RoundEvent): { state: RoundState; effects: RoundEffect[] } {
  const out = new Emit(state.cfg.round, state.cfg.self, state.store);
  state.now = event.now;
  const c: StageContext = { cfg: state.cfg, store: state.store, now: event.now, out };
  const p = state.participant;
  const m = state.committee;
  switch (event.type) {
    case 'start':
      if (state.started) break;
      state.started = true;
      if (state.advert !== undefined) out.publish(state.advert);
      if (m !== undefined) startCommittee(m, c);
      if (p !== undefined) startParticipant(p, c);
      break;
    case 'received':
      for (const x of event.messages) state.store.add(x);
      for (const x of event.inputs) state.store.addInput(x);
      break;
    case 'tick':
      // A tick is the answer to the last wake: whatever the machine waits for next is asked anew.
      state.wake = undefined;
      break;
    case 'trained':
    case 'train-failed':
    case 'entry-signed':
    case 'charged':
      applyParticipantAnswer('secure', p, event, { entrySignature: ParticipantPhase.EntrySignature, charge: ParticipantPhase.Charge });
      break;
    case 'admitted':
      if (m !== undefined && m.outcome === undefined) {
        expectPhase('secure', 'committee', m.phase, CommitteePhase.Admission, event.type);
        onAdmitted(m, c, event.participant, event.refusal);
      }
      break;
    case 'lock-charged':
      if (m !== undefined && m.outcome === undefined) {
        expectPhase('secure', 'committee', m.phase, CommitteePhase.Lock, event.type);
        onLockCharged(m, event.lock, event.refusal);
      }
      break;
    case 'recorded':
      if (m !== undefined && m.outcome === undefined) {
        expectPhase('secure', 'committee', m.phase, CommitteePhase.Recording, event.type);
        onRecorded(m, c, event.recorded, event.modelHash);
      }
      break;
    case 'failed':
      if (p !== undefined && p.outcome === undefined && (event.role ?? 'participant') === 'participant') failParticipant(p, event.error);
      if (m !== undefined && m.outcome === undefined && (event.role ?? 'committee') === 'committee')
        failCommittee(m, c, event.error, event.stopped);
      break;
  }
  if (state.started) advance(state, c);
  return { state, effects: out.effects };
}

/**
 * Run both roles as far as they go. A peer in both roles is re-run while one role's publish
 * (stored at once, as the node's inbox stores what it publishes) may unblock the other.
 */
function advance(state: RoundState, c: StageContext): void {
  const p = state.participant;
  const m = state.committee;
  let wake: number | undefined;
  for (let pass = 0; pass < 8; pass++) {
    const before = c.out.effects.length;
    wake = undefined;
    if (p !== undefined && p.outcome === undefined) {
      try {
        wake = minDefined(wake, advanceParticipant(p, c));
      } catch (e) {
        failParticipant(p, e);
      }
    }
    if (m !== undefined && m.outcome === undefined && m.phase !== CommitteePhase.Done) wake = minDefined(wake, advanceCommittee(m, c));
    if (p === undefined || m === undefined || c.out.effects.length === before) break;
  }
  if (wake !== undefined && wake !== state.wake) c.out.push({ type: 'wake', at: wake });
  state.wake = wake;
}

const minDefined = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b);
