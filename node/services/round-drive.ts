/**
 * The one driver loop of the round machine (issue 13, "The shape: one round core, pure"; review
 * D2): runs a round state of either strategy (protocol/round-machine/ `stepRound`: secure
 * aggregation or plaintext FedAvg) to its end. The machine decides *what* to do and *when*; this
 * loop only
 *   - feeds events: the round opening (`start`), what the inboxes accepted (`received`, as one
 *     batch, from the strategy's `RoundInboxFeed`), clock ticks the machine asked for with `wake`
 *     (through the Clock port, so a simulation on a manual clock replays), and the completions of
 *     the effects below;
 *   - executes effects, in order: publish (secagg topic, masked input, update, aggregate), train
 *     (beside the loop), sign the ParticipantEntry, charge the local ledger, check admission,
 *     charge the certified lock on chain before any reveal (secure, red team F18; beside the loop
 *     like training), record on chain (keeping the average payload for the auditor), log, count.
 *
 * Each effect runs on the port the strategy's driver hands in (node/services/secure-round.ts,
 * node/services/plain-round.ts); those drivers keep only what differs: the roles in the state,
 * what their inboxes deliver, how an error is counted, and the role objects' clean-up when a
 * finished role's last effect fails.
 */
import type { MaskedInputPayload } from '../../protocol/messages/masked-input.js';
import type { SecAggMessage } from '../../protocol/messages/secagg.js';
import {
  type AnyRoundState,
  type CommitteeOutcome,
  type RoundEffect,
  type RoundEvent,
  roundEnded,
  stepRound,
  type Trained,
  type UnstampedRoundEvent,
} from '../../protocol/round-machine/index.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { ChangeNotifier } from './change-notifier.js';
import { waitForChangeOrTime } from './deadline.js';
import type { RoundInbox } from './round-inbox.js';
import type { RoundRecorder } from './round-recorder.js';

/**
 * The node's ports for the effects both strategies ask for: the shared part of the secure and
 * plaintext round environments (SecureRoundEnv, PlainRoundEnv extend it and are passed as they are).
 */
export interface RoundEffectPorts {
  readonly clock: Clock;
  readonly log: Logger;
  /** `publish-input`, `publish-update`, `announce`: the round's topics. */
  readonly inbox: RoundInbox;
  /** `record`, and the secure `charge-lock` (red team F18): the chain. */
  readonly recorder: RoundRecorder;
  /**
   * `sign-entry`: the participant's EIP-712 ParticipantEntry signature for this round's
   * declaration (protocol/chain/participant-entry.ts `signParticipantEntry`), 65 bytes; required
   * whenever the machine asks (plaintext: cfg.signsEntry; secure: absent, the masked input
   * carries 65 zero bytes, unsigned).
   */
  readonly signEntry?: (dpParams: bigint) => Promise<Uint8Array>;
  /**
   * `charge`: charges the release to the node's own privacy ledger (issue 14 item 3; H8 F8), right
   * before the contribution is published (secure: only once a key set is certified), durable when
   * it returns, so a contribution that never leaves is never charged and one that leaves always is.
   */
  readonly beforePublish?: (dpParams: bigint) => Promise<void> | void;
  /** Keeps the round's average payload (SecureRecordRequest.averagePayload, under a server optimizer) for the auditor. */
  readonly keepArtifact?: (bytes: Uint8Array) => void;
}

/**
 * What differs between the strategies: the ports for their own effects (a strategy gives the
 * ports of the effects it asks for; the others are absent), how an error is counted, and what
 * the inboxes deliver.
 */
export interface RoundStrategyPorts {
  /** `count`: a protocol error caused by another peer's message (or this peer's own failure), by code. */
  readonly count: (code: string, detail: Record<string, unknown>) => void;
  /** `publish` (secure): a message on the secagg topic. */
  readonly publish?: (message: SecAggMessage) => Promise<void>;
  /** `admit` (secure): why the contract would refuse this masked input's record line (undefined: admitted). */
  readonly admitInput?: (participant: string, input: MaskedInputPayload) => Promise<string | undefined>;
  /** `admit-update` (plaintext): the same for an update's declared DP parameters and entry signature. */
  readonly admitUpdate?: (participant: string, dpParams: bigint, entrySignature: Uint8Array | undefined) => Promise<string | undefined>;
  /** What the strategy's inboxes hold for this round and the machine has not been given yet. */
  readonly feed: RoundInboxFeed;
  /**
   * The role had ended when an effect of its last step failed (publishing the input, update,
   * aggregate or result): called before that failure is rethrown (the secure roles wipe their
   * secrets).
   */
  readonly onFailedAfterEnd?: () => void;
}

/** The strategy's inboxes, as the loop reads them. */
export interface RoundInboxFeed {
  /** Fires when the inboxes store something. */
  readonly notifier: ChangeNotifier;
  /** Everything new since the last call as one `received` event, taken as delivered; undefined: nothing new. */
  next(): UnstampedRoundEvent | undefined;
  /** Whether the inboxes hold something `next` has not delivered yet (the loop's wait ends on it). */
  arrived(): boolean;
}

export interface DriveRoundInit<S extends AnyRoundState> {
  readonly round: number;
  /** One or both roles of this peer in round `round` (used once: the machine mutates it). */
  readonly state: S;
  readonly ports: RoundEffectPorts;
  readonly strategy: RoundStrategyPorts;
  readonly signal: AbortSignal;
  /** Local training (`train`); absent: a role that never trains. */
  readonly train?: () => Promise<Trained>;
}

/**
 * Run the state to its end: feed every new inbox message, tick at each requested wake, execute
 * effects in order and feed their completions back. When an effect fails or the round is stopped,
 * the machine ends the role (`failed`: it logs and counts); a failure of an ended role's last
 * effect is rethrown, the caller's as it always was.
 */
export async function driveRound<S extends AnyRoundState>(init: DriveRoundInit<S>): Promise<void> {
  const { round, state, ports, strategy, signal, train } = init;
  const { clock, inbox } = ports;
  const queue: UnstampedRoundEvent[] = [];
  /** Wakes the wait when an effect completes out of line (training, the lock charge). */
  const completed = new ChangeNotifier();
  let wakeAt: number | undefined;

  const complete = (e: UnstampedRoundEvent): void => {
    queue.push(e);
    completed.notify();
  };

  const execute = async (effects: readonly RoundEffect[]): Promise<void> => {
    for (const e of effects) {
      switch (e.type) {
        case 'publish':
          await strategy.publish!(e.message);
          break;
        case 'publish-input':
          await inbox.publishMaskedInput(round, e.payload);
          break;
        case 'publish-update':
          await inbox.publishUpdate(round, e.payload);
          break;
        case 'announce':
          await inbox.publishAggregate(round, e.payload);
          break;
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
          complete({ type: 'entry-signed', signature: await ports.signEntry!(e.dpParams) });
          break;
        case 'charge':
          await ports.beforePublish?.(e.dpParams);
          complete({ type: 'charged' });
          break;
        case 'admit':
          complete({ type: 'admitted', participant: e.participant, refusal: await strategy.admitInput!(e.participant, e.input) });
          break;
        case 'admit-update':
          complete({
            type: 'admitted',
            participant: e.participant,
            refusal: await strategy.admitUpdate!(e.participant, e.dpParams, e.entrySignature),
          });
          break;
        case 'charge-lock': {
          // Beside the loop (the wait is for other members' signatures and the chain): the machine
          // keeps its deadline, and reveals only on the answer. Any failure is a refusal.
          const { turnDelayMs, ...request } = e.request;
          const lock = request.lock;
          ports.recorder.charge!({ ...request, turnAt: clock.now() + turnDelayMs }, signal).then(
            (r) => complete(r.charged ? { type: 'lock-charged', lock } : { type: 'lock-charged', lock, refusal: r.refusal }),
            (error: unknown) => {
              if (!signal.aborted) complete({ type: 'lock-charged', lock, refusal: { code: 'CHARGE_FAILED', message: String(error) } });
            },
          );
          break;
        }
        case 'record': {
          const { turnDelayMs, averagePayload, ...request } = e.request;
          if (averagePayload !== undefined) ports.keepArtifact?.(averagePayload);
          const { record, recorded } = await ports.recorder.record({ ...request, turnAt: clock.now() + turnDelayMs }, signal);
          complete({ type: 'recorded', recorded, modelHash: record.modelHash });
          break;
        }
        case 'log':
          ports.log[e.level](e.fields, e.msg);
          break;
        case 'count':
          strategy.count(e.code, e.detail);
          break;
        case 'wake':
          wakeAt = e.at;
          break;
      }
    }
  };

  const feed = async (e: UnstampedRoundEvent): Promise<void> => {
    await execute(stepRound(state, { ...e, now: clock.now() } as RoundEvent).effects);
  };

  try {
    await feed({ type: 'start' });
    while (!roundEnded(state)) {
      const received = strategy.feed.next();
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
      await waitForChangeOrTime(
        clock,
        wakeAt,
        signal,
        [strategy.feed.notifier, completed],
        () => strategy.feed.arrived() || queue.length > 0,
      );
    }
  } catch (e) {
    // An effect of the role's last step failed (publishing the input, the update, the aggregate
    // or the result): the role had ended, but the failure is the caller's, as it always was.
    if (roundEnded(state)) {
      strategy.onFailedAfterEnd?.();
      throw e;
    }
    // An effect failed or the round was stopped: the machine ends the role (logs, counts).
    const { effects } = stepRound(state, { type: 'failed', now: clock.now(), error: e, stopped: signal.aborted });
    for (const x of effects) {
      if (x.type === 'log') ports.log[x.level](x.fields, x.msg);
      else if (x.type === 'count') strategy.count(x.code, x.detail);
    }
  }
}

/** The participant role's result once `driveRound` returned: its training loss, or the error it ended with, thrown. */
export function participantResult(state: AnyRoundState): { trainLoss?: number } {
  const outcome = state.participant!.outcome!;
  if (outcome.kind === 'thrown') throw outcome.error;
  return outcome.trainLoss !== undefined ? { trainLoss: outcome.trainLoss } : {};
}

/** The committee role's outcome once `driveRound` returned, or the error it ended with, thrown. */
export function committeeResult(state: AnyRoundState): Extract<CommitteeOutcome, { kind: 'done' }> {
  const outcome = state.committee!.outcome!;
  if (outcome.kind === 'thrown') throw outcome.error;
  return outcome;
}
