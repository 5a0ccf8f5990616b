/**
 * One peer's side of a plaintext FedAvg round, as a thin driver of the round machine's plaintext
 * strategy (protocol/round-machine/: `stepPlain(state, event) → {state, effects}`), the way
 * ./secure-round.ts drives the secure one. The machine decides *what* to do and *when*; this
 * driver only
 *   - feeds events: the round opening (`start`), the updates the round inbox accepted
 *     (`received`), clock ticks the machine asked for with `wake` (through the Clock port, so a
 *     simulation on a manual clock replays), and the completions of the effects below;
 *   - executes effects, in order: train (beside the loop), sign the ParticipantEntry, charge the
 *     local privacy ledger, publish the update, check an update's admission, record on chain
 *     (keeping the average payload for the auditor under a server optimizer), announce the
 *     aggregate, log, count.
 *
 * Round r (t = 0 when this peer opened it):
 *   participant  train │ sign its entry │ charge its ledger │ publish its update
 *   committee    collect until every member's update or the collect deadline │ admit each │
 *                FedAvg (then the server optimizer) │ record at its turn │ announce if recorded
 */
import type { ModelWeights } from '../../protocol/model.js';
import {
  createPlainRoundState,
  type PlainRoundConfig,
  type PlainRoundState,
  plainRoundDone,
  stepRound,
} from '../../protocol/round-machine/index.js';
import type { CommitteeStage } from '../../protocol/round.js';
import type { RoundEffect, RoundEvent, Trained } from '../../protocol/secure-aggregation/machine/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { ChangeNotifier } from './change-notifier.js';
import { waitForChangeOrTime } from './deadline.js';
import type { RoundInbox } from './round-inbox.js';
import type { RoundRecorder } from './round-recorder.js';

export interface PlainRoundEnv {
  readonly cfg: PlainRoundConfig;
  readonly inbox: RoundInbox;
  readonly recorder: RoundRecorder;
  readonly clock: Clock;
  readonly log: Logger;
  /** The participant's EIP-712 ParticipantEntry signature (65 bytes) for its declaration; required when cfg.signsEntry. */
  readonly signEntry?: (dpParams: bigint) => Promise<Uint8Array>;
  /** Charges the release to the node's own privacy ledger, durably, right before the update leaves (H8 F8). */
  readonly beforePublish?: (dpParams: bigint) => Promise<void> | void;
  /** Why the contract would refuse this update's record line (undefined: it would accept it); required when cfg.admits. */
  readonly admit?: (participant: string, dpParams: bigint, entrySignature: Uint8Array | undefined) => Promise<string | undefined>;
  /** Keeps the round's average payload (under a server optimizer) for the auditor. */
  readonly keepArtifact?: (bytes: Uint8Array) => void;
}

/** An event whose clock reading is taken when it is stepped. */
type Pending = RoundEvent extends infer E ? (E extends { now: number } ? Omit<E, 'now'> : never) : never;

/**
 * Run `state` to its end: feed every new update, tick at each requested wake, execute effects in
 * order and feed their completions back.
 */
async function drive(env: PlainRoundEnv, state: PlainRoundState, signal: AbortSignal, train?: () => Promise<Trained>): Promise<void> {
  const { clock, inbox } = env;
  const round = env.cfg.plan.round;
  const queue: Pending[] = [];
  /** Wakes the wait when an effect completes out of line (training). */
  const completed = new ChangeNotifier();
  const delivered = new Set<string>();
  let wakeAt: number | undefined;

  const newlyReceived = (): Pending | undefined => {
    // Only the committee reads others' updates.
    if (state.committee === undefined) return undefined;
    const updates = [];
    for (const u of inbox.updatesFor(round).values()) {
      if (delivered.has(u.sender)) continue;
      delivered.add(u.sender);
      updates.push({ sender: u.sender, payloadHash: u.payloadHash, update: u.update });
    }
    return updates.length > 0 ? { type: 'received', messages: [], inputs: [], updates } : undefined;
  };

  const complete = (e: Pending): void => {
    queue.push(e);
    completed.notify();
  };

  const execute = async (effects: readonly RoundEffect[]): Promise<void> => {
    for (const e of effects) {
      switch (e.type) {
        case 'train': {
          const training = train?.();
          if (training === undefined) break;
          training.then(
            (result) => complete({ type: 'trained', result }),
            (error: unknown) => complete({ type: 'train-failed', error }),
          );
          break;
        }
        case 'sign-entry':
          complete({ type: 'entry-signed', signature: await env.signEntry!(e.dpParams) });
          break;
        case 'charge':
          await env.beforePublish?.(e.dpParams);
          complete({ type: 'charged' });
          break;
        case 'publish-update':
          await inbox.publishUpdate(round, e.payload);
          break;
        case 'admit-update':
          complete({
            type: 'admitted',
            participant: e.participant,
            refusal: await env.admit!(e.participant, e.dpParams, e.entrySignature),
          });
          break;
        case 'record': {
          const { turnDelayMs, averagePayload, ...request } = e.request;
          if (averagePayload !== undefined) env.keepArtifact?.(averagePayload);
          const { record, recorded } = await env.recorder.record({ ...request, turnAt: clock.now() + turnDelayMs }, signal);
          complete({ type: 'recorded', recorded, modelHash: record.modelHash });
          break;
        }
        case 'announce':
          await inbox.publishAggregate(round, e.payload);
          break;
        case 'log':
          env.log[e.level](e.fields, e.msg);
          break;
        case 'count':
          env.log.debug({ round, code: e.code, ...e.detail }, 'plaintext round: message refused');
          break;
        case 'wake':
          wakeAt = e.at;
          break;
        // Secure-only effects never come from the plaintext strategy.
        default:
          break;
      }
    }
  };

  const feed = async (e: Pending): Promise<void> => {
    await execute(stepRound(state, { ...e, now: clock.now() } as RoundEvent).effects);
  };

  try {
    await feed({ type: 'start' });
    while (!plainRoundDone(state)) {
      const received = newlyReceived();
      if (received !== undefined) {
        await feed(received);
        continue;
      }
      const next = queue.shift();
      if (next !== undefined) {
        await feed(next);
        continue;
      }
      if (wakeAt !== undefined && wakeAt <= clock.now()) {
        wakeAt = undefined;
        await feed({ type: 'tick' });
        continue;
      }
      const seen = delivered.size;
      await waitForChangeOrTime(
        clock,
        wakeAt,
        signal,
        [inbox.notifier, completed],
        () => (state.committee !== undefined && inbox.updatesFor(round).size !== seen) || queue.length > 0,
      );
    }
  } catch (e) {
    // An effect of the role's last step failed (publishing the update or the aggregate): the
    // role had ended, but the failure is the caller's, as it always was.
    if (plainRoundDone(state)) throw e;
    // An effect failed or the round was stopped: the machine ends the role.
    const { effects } = stepRound(state, { type: 'failed', now: clock.now(), error: e, stopped: signal.aborted });
    for (const x of effects) if (x.type === 'log') env.log[x.level](x.fields, x.msg);
  }
}

/**
 * The participant: train, sign its entry, charge its ledger, publish its update. `train` runs
 * local training (not called when the peer drops before sending anything); a failure of any
 * step rejects, as the round's failure.
 */
export async function runPlainParticipant(
  env: PlainRoundEnv,
  train: () => Promise<{ loss: number; weights: () => ModelWeights; dpParams?: bigint }>,
  signal: AbortSignal,
): Promise<{ trainLoss?: number }> {
  const state = createPlainRoundState(env.cfg, { participant: true });
  await drive(env, state, signal, train);
  const outcome = state.participant!.outcome!;
  if (outcome.kind === 'thrown') throw outcome.error;
  return outcome.trainLoss !== undefined ? { trainLoss: outcome.trainLoss } : {};
}

/** The committee member: collect, admit, aggregate, record, announce. */
export async function runPlainCommittee(
  env: PlainRoundEnv,
  signal: AbortSignal,
): Promise<{ path: readonly CommitteeStage[]; recorded: boolean }> {
  const state = createPlainRoundState(env.cfg, { committee: true });
  await drive(env, state, signal);
  const role = state.committee!;
  const outcome = role.outcome!;
  if (outcome.kind === 'thrown') throw outcome.error;
  return { path: role.stages.path, recorded: outcome.recorded };
}
