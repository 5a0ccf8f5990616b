/**
 * The round machine (issue 13, "The shape: one round core, pure"): one `step(state, event) →
 * {state, effects}` with the aggregation mode as its strategy, chosen by the manifest's
 * aggregation mode when the round opens —
 *   - secure aggregation (Bonawitz et al. 2017 §4): protocol/secure-aggregation/machine/;
 *   - plaintext FedAvg (McMahan et al. 2017): ./plaintext-step.ts.
 * Both speak the same events (start, received, tick, effect completions, failed) and effects
 * (train, sign-entry, charge, admit, publish, record, announce, log, count, wake), declared in
 * ./types.ts, so one node driver loop (node/services/round-drive.ts `driveRound`) steps either
 * through `stepRound` and runs its effects; node/services/secure-round.ts and plain-round.ts
 * add only what differs (the state's roles, what the inboxes deliver, the error counter).
 */
import { type RoundState, roundDone, step as stepSecure } from '../secure-aggregation/machine/step.js';
import { type PlainRoundState, plainRoundDone, stepPlain } from './plaintext-step.js';
import type { RoundEffect, RoundEvent } from './types.js';

export * from './plaintext-committee.js';
export * from './plaintext-participant.js';
export * from './plaintext-step.js';
export * from './plaintext-types.js';
export type * from './types.js';

/** A round's state under either strategy. */
export type AnyRoundState = RoundState | PlainRoundState;

const isPlain = (s: AnyRoundState): s is PlainRoundState => s.cfg.mode === 'plaintext';

/** One step of the round machine, whichever strategy the state was created with. */
export function stepRound<S extends AnyRoundState>(state: S, event: RoundEvent): { state: S; effects: RoundEffect[] } {
  const { effects } = isPlain(state) ? stepPlain(state, event) : stepSecure(state as RoundState, event);
  return { state, effects };
}

/** Whether every role the state holds has ended, whichever strategy it was created with. */
export function roundEnded(state: AnyRoundState): boolean {
  return isPlain(state) ? plainRoundDone(state) : roundDone(state as RoundState);
}
