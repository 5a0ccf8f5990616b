/**
 * RoundDriver: runs one peer's side of each round, as two explicit state machines
 * (protocol/round.ts) — the participant's and, when this peer sits on the round's committee,
 * the committee member's.
 *
 * Data path of round r (docs/architecture.md):
 *   train locally from the head model → publish update (chunked gossip) → committee collects
 *   until all members reported or the deadline → each member computes FedAvg → member 0
 *   records (r, prevHash, modelHash, n) on chain (member k steps in after k grace periods) →
 *   members whose aggregate matches the record announce it → every peer adopts the aggregate
 *   whose hash equals the chain's record.
 *
 * The chain is the synchroniser: round r may start only when the ledger's latest round is
 * r − 1 and our model's hash equals the ledger's head hash.
 */
import { bytesEqual, fromHex0x, toHex0x } from '../../protocol/bytes.js';
import type { LabelledData } from '../../protocol/data.js';
import { fedAvg } from '../../protocol/fedavg.js';
import { encodeAggregate, encodeUpdate, type ParticipantEntry } from '../../protocol/messages/update.js';
import type { ModelWeights } from '../../protocol/model.js';
import { sortParticipants } from '../../protocol/record.js';
import { createRng } from '../../protocol/rng.js';
import {
  CommitteeStage,
  committeeMachine,
  ParticipantStage,
  participantMachine,
  planRound,
  type RoundPlan,
  RoundError,
  type RoundTiming,
  recordTurn,
} from '../../protocol/round.js';
import { modelHash } from '../../protocol/weights-codec.js';
import type { ChainClient, Hex32, RecordedRound } from '../chain/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { RoundInbox } from './round-inbox.js';

export interface TrainOptions {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
}

/** What the driver needs from the local trainer (node/ml/trainer.ts implements it). */
export interface LocalTrainer {
  getWeights(): ModelWeights;
  setWeights(w: ModelWeights): void;
  train(data: LabelledData, opts: TrainOptions): Promise<{ loss: number; steps: number; seconds: number }>;
}

export interface RoundDriverInit {
  readonly federation: string;
  /** Member peer ids (libp2p peer id strings). */
  readonly members: readonly string[];
  readonly committeeSize: number;
  readonly timing: RoundTiming;
  readonly training: Omit<TrainOptions, 'seed'> & { readonly seed: number };
  /** Whether this peer trains and contributes (false: observer that only adopts). */
  readonly participate?: boolean;
  /** Extra time beyond the committee's last recording turn to wait for the record (ms). */
  readonly resultSlackMs?: number;
}

export interface RoundDriverComponents {
  readonly self: string;
  readonly inbox: RoundInbox;
  readonly chain: ChainClient;
  readonly trainer: LocalTrainer;
  readonly data: LabelledData;
  readonly clock: Clock;
  readonly log: Logger;
}

export interface RoundOutcome {
  readonly round: number;
  readonly committee: readonly string[];
  readonly record: RecordedRound;
  /** Set when this peer sent the recording transaction. */
  readonly recordedBySelf: boolean;
  readonly participants: number;
  readonly trainLoss?: number;
  readonly participantPath: readonly ParticipantStage[];
  readonly committeePath?: readonly CommitteeStage[];
}

const DEFAULT_RESULT_SLACK_MS = 30_000;

export class RoundDriver {
  private readonly memberSet: Set<string>;

  constructor(
    private readonly init: RoundDriverInit,
    private readonly c: RoundDriverComponents,
  ) {
    this.memberSet = new Set(init.members);
  }

  isMember(peer: string): boolean {
    return this.memberSet.has(peer);
  }

  plan(round: number, openedAt: number): RoundPlan {
    return planRound(
      { federation: this.init.federation, committeeSize: this.init.committeeSize, timing: this.init.timing },
      round,
      this.init.members,
      openedAt,
    );
  }

  /** Run round `round` to adoption. Throws RoundError if the chain is not at round − 1. */
  async runRound(round: number): Promise<RoundOutcome> {
    const { chain, trainer, inbox, clock, log, self } = this.c;
    const latest = await chain.latestRound();
    if (latest !== round - 1) {
      throw new RoundError(latest >= round ? 'ROUND_STALE' : 'ROUND_FUTURE', `ledger is at round ${latest}, cannot run round ${round}`, {
        round,
        current: latest,
      });
    }
    const head = await chain.headModelHash();
    const global = trainer.getWeights();
    const localHash = modelHash(global);
    if (!bytesEqual(localHash, fromHex0x(head))) {
      throw new RoundError('ROUND_HASH_MISMATCH', `local model ${toHex0x(localHash)} is not the ledger head ${head}`, {
        round,
        local: toHex0x(localHash),
        head,
      });
    }
    inbox.setRound(round);
    const plan = this.plan(round, clock.now());
    const position = plan.committee.indexOf(self);
    const participant = participantMachine(round);
    const abort = new AbortController();

    const committeeTask = position >= 0 ? this.runCommittee(plan, position, head, global, abort.signal) : Promise.resolve(undefined);
    // Surface committee failures without an unhandled rejection while we train.
    committeeTask.catch(() => {});

    let trainLoss: number | undefined;
    try {
      if (this.init.participate !== false) {
        participant.to(ParticipantStage.Training);
        const seed = createRng(`${this.init.training.seed}/${self}/${round}`, 'fedmesh/train-seed/v1').int(0x7fffffff);
        const res = await trainer.train(this.c.data, { ...this.init.training, seed });
        trainLoss = res.loss;
        participant.to(ParticipantStage.Publishing);
        const payload = encodeUpdate({ baseModelHash: fromHex0x(head), sampleCount: this.c.data.n, weights: trainer.getWeights() });
        await inbox.publishUpdate(round, payload);
        log.debug({ round, loss: res.loss, seconds: res.seconds }, 'update published');
      }
      participant.to(ParticipantStage.AwaitingResult);

      const waitMs =
        recordTurn(plan, plan.committee.length, this.init.timing) - clock.now() + (this.init.resultSlackMs ?? DEFAULT_RESULT_SLACK_MS);
      const record = await chain.waitForRound(round, Math.max(1, waitMs));
      const recorded = fromHex0x(record.modelHash);
      const slack = this.init.resultSlackMs ?? DEFAULT_RESULT_SLACK_MS;
      await withDeadline(clock, slack, abort.signal, (s) =>
        inbox.waitUntil(() => inbox.aggregateFor(round, recorded) !== undefined, s),
      ).catch((e) => {
        throw new RoundError(
          'ROUND_NO_AGGREGATE',
          `round ${round} recorded ${record.modelHash} but no matching aggregate arrived in ${slack} ms`,
          {
            round,
            modelHash: record.modelHash,
            cause: String(e),
          },
        );
      });
      const agg = inbox.aggregateFor(round, recorded)!;
      trainer.setWeights(agg.aggregate.weights);
      const adopted = modelHash(trainer.getWeights());
      if (!bytesEqual(adopted, recorded)) {
        throw new RoundError('ROUND_HASH_MISMATCH', `adopted model ${toHex0x(adopted)} differs from the record ${record.modelHash}`, {
          round,
          local: toHex0x(adopted),
          head: record.modelHash,
        });
      }
      participant.to(ParticipantStage.Adopted);
      const committee = await committeeTask;
      return {
        round,
        committee: plan.committee,
        record,
        recordedBySelf: committee?.recorded === true,
        participants: record.participantCount,
        ...(trainLoss !== undefined ? { trainLoss } : {}),
        participantPath: participant.path,
        ...(committee !== undefined ? { committeePath: committee.path } : {}),
      };
    } catch (e) {
      if (!participant.is(ParticipantStage.Adopted, ParticipantStage.Failed)) participant.to(ParticipantStage.Failed);
      abort.abort(e);
      throw e;
    }
  }

  private async runCommittee(
    plan: RoundPlan,
    position: number,
    head: Hex32,
    _global: ModelWeights,
    signal: AbortSignal,
  ): Promise<{ path: readonly CommitteeStage[]; recorded: boolean }> {
    const { inbox, chain, clock, log } = this.c;
    const m = committeeMachine(plan.round);
    let recorded = false;
    try {
      // Collecting: until every member has reported, or the deadline.
      await withDeadline(clock, plan.collectDeadline - clock.now(), signal, (s) =>
        inbox.waitUntil(() => inbox.updatesFor(plan.round).size >= this.init.members.length, s),
      ).catch(() => {});
      if (signal.aborted) throw signal.reason;

      m.to(CommitteeStage.Aggregating);
      const received = [...inbox.updatesFor(plan.round).values()];
      if (received.length === 0) throw new RoundError('ROUND_NO_UPDATES', `no updates for round ${plan.round}`, { round: plan.round });
      const aggregate = fedAvg(
        received.map((u) => ({ participant: u.sender, sampleCount: u.update.sampleCount, weights: u.update.weights })),
      );
      const hash = toHex0x(modelHash(aggregate));
      const participants: ParticipantEntry[] = sortParticipants(
        received.map((u) => ({ participant: u.sender, sampleCount: u.update.sampleCount, updateHash: u.payloadHash })),
      );
      const payload = encodeAggregate({ prevModelHash: fromHex0x(head), participants, weights: aggregate });

      // Recording: member 0 records as soon as it has aggregated; member k ≥ 1 steps in only
      // if nothing is recorded by the deadline plus k grace periods.
      let record = await chain.getRound(plan.round);
      if (record === undefined && position > 0) {
        const wait = recordTurn(plan, position, this.init.timing) - clock.now();
        record = await chain.waitForRound(plan.round, Math.max(1, wait)).catch(() => undefined);
        if (signal.aborted) throw signal.reason;
      }
      if (record === undefined) {
        m.to(CommitteeStage.Recording);
        try {
          record = await chain.recordRound({
            round: plan.round,
            prevModelHash: head,
            modelHash: hash,
            participantCount: participants.length,
          });
          recorded = true;
          log.info({ round: plan.round, modelHash: hash, tx: record.txHash, participants: participants.length }, 'round recorded');
        } catch (e) {
          // Another member recorded first (race at the turn boundary): read its record.
          record = await chain.getRound(plan.round);
          if (record === undefined) throw e;
        }
      }
      if (record.modelHash === hash) {
        m.to(CommitteeStage.Announcing);
        await inbox.publishAggregate(plan.round, payload);
      } else {
        log.warn(
          { round: plan.round, ours: hash, recorded: record.modelHash },
          'recorded aggregate differs from ours (different update set)',
        );
      }
      m.to(CommitteeStage.Done);
      return { path: m.path, recorded };
    } catch (e) {
      if (!m.is(CommitteeStage.Done, CommitteeStage.Failed)) m.to(CommitteeStage.Failed);
      throw e;
    }
  }
}

/**
 * Run `fn` with a signal that aborts after `ms` (by `clock`) or when `parent` aborts; the
 * timer is cancelled as soon as `fn` settles so no timer outlives the wait.
 */
async function withDeadline<T>(clock: Clock, ms: number, parent: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const stopTimer = new AbortController();
  const onParent = (): void => ac.abort(parent.reason);
  parent.addEventListener('abort', onParent, { once: true });
  clock.sleep(ms, stopTimer.signal).then(
    () => ac.abort(new Error(`deadline of ${ms} ms passed`)),
    () => {},
  );
  try {
    return await fn(ac.signal);
  } finally {
    stopTimer.abort();
    parent.removeEventListener('abort', onParent);
  }
}
