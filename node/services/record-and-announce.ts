/**
 * The committee's last two steps, shared by plaintext and secure rounds: record the
 * aggregate's hash on chain (position 0 first; position k only if nothing is recorded by its
 * turn), then announce the aggregate if the recorded hash is ours.
 */
import { CommitteeStage } from '../../protocol/round.js';
import type { StageMachine } from '../../protocol/stage-machine.js';
import type { ChainClient, Hex32, RecordedRound } from '../chain/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';

export interface RecordStep {
  readonly round: number;
  readonly position: number;
  /** Absolute time (ms) at which this position may record if nobody has. */
  readonly turnAt: number;
  readonly prevModelHash: Hex32;
  readonly modelHash: Hex32;
  readonly participantCount: number;
  /** Publishes the aggregate payload. */
  readonly announce: () => Promise<void>;
}

export async function recordAndAnnounce(
  step: RecordStep,
  machine: StageMachine<CommitteeStage>,
  c: { chain: ChainClient; clock: Clock; log: Logger },
  signal: AbortSignal,
): Promise<{ record: RecordedRound; recorded: boolean }> {
  const { chain, clock, log } = c;
  let recorded = false;
  let record = await chain.getRound(step.round);
  if (record === undefined && step.position > 0) {
    const wait = step.turnAt - clock.now();
    record = await chain.waitForRound(step.round, Math.max(1, wait)).catch(() => undefined);
    if (signal.aborted) throw signal.reason;
  }
  if (record === undefined) {
    machine.to(CommitteeStage.Recording);
    try {
      record = await chain.recordRound({
        round: step.round,
        prevModelHash: step.prevModelHash,
        modelHash: step.modelHash,
        participantCount: step.participantCount,
      });
      recorded = true;
      log.info({ round: step.round, modelHash: step.modelHash, tx: record.txHash, participants: step.participantCount }, 'round recorded');
    } catch (e) {
      // Another member recorded first (race at the turn boundary): read its record.
      record = await chain.getRound(step.round);
      if (record === undefined) throw e;
    }
  }
  if (record.modelHash === step.modelHash) {
    machine.to(CommitteeStage.Announcing);
    await step.announce();
  } else {
    log.warn(
      { round: step.round, ours: step.modelHash, recorded: record.modelHash },
      'recorded aggregate differs from ours (different update set)',
    );
  }
  machine.to(CommitteeStage.Done);
  return { record, recorded };
}
