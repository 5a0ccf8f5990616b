/**
 * The participant's effect answers that both strategies of the round machine share (issue 13,
 * "both aggregation modes as strategies"): training's result, the signed ParticipantEntry and the
 * local ledger's charge come back as the same events whatever the mode, and are stored the same
 * way. Pure; used by protocol/secure-aggregation/machine/step.ts and ./plaintext-step.ts.
 */
import type { RoundEvent, Trained } from './types.js';
import { StageError } from '../stage-machine.js';

/** What a participant role of either strategy holds for those answers. */
export interface ParticipantAnswerState {
  readonly phase: string;
  readonly outcome?: unknown;
  trainResult?: { readonly ok: Trained } | { readonly error: unknown };
  entrySignature?: Uint8Array;
  charged: boolean;
}

/** The stages that ask for a signature and a charge, in the strategy's own phase names. */
export interface ParticipantAnswerPhases {
  readonly entrySignature: string;
  readonly charge: string;
}

/**
 * An effect's completion is expected in the stage that asked for it (STYLE.md §4: a typed
 * STAGE_UNEXPECTED otherwise, a driver bug); after the role ended it is moot and ignored.
 */
export function expectPhase(strategy: 'secure' | 'plaintext', role: string, current: string, expected: string, event: string): void {
  if (current === expected) return;
  throw new StageError('STAGE_UNEXPECTED', `${strategy} round ${role} got '${event}' in stage ${current}, expected ${expected}`, {
    machine: `${strategy}-round-${role}`,
    current,
    expected: [expected],
    next: current,
  });
}

/**
 * Applies `event` to participant `p` when it is one of the shared answers (`trained`,
 * `train-failed`, `entry-signed`, `charged`); returns whether it was. A training result is kept
 * once; a signature or charge is taken only in the stage that asked for it.
 */
export function applyParticipantAnswer(
  strategy: 'secure' | 'plaintext',
  p: ParticipantAnswerState | undefined,
  event: RoundEvent,
  phases: ParticipantAnswerPhases,
): boolean {
  switch (event.type) {
    case 'trained':
      if (p !== undefined && p.trainResult === undefined) p.trainResult = { ok: event.result };
      return true;
    case 'train-failed':
      if (p !== undefined && p.trainResult === undefined) p.trainResult = { error: event.error };
      return true;
    case 'entry-signed':
      if (p !== undefined && p.outcome === undefined) {
        expectPhase(strategy, 'participant', p.phase, phases.entrySignature, event.type);
        p.entrySignature = event.signature;
      }
      return true;
    case 'charged':
      if (p !== undefined && p.outcome === undefined) {
        expectPhase(strategy, 'participant', p.phase, phases.charge, event.type);
        p.charged = true;
      }
      return true;
    default:
      return false;
  }
}
