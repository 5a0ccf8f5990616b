/**
 * The committee's last two steps, shared by plaintext and secure rounds: get the aggregate's
 * hash onto the ledger through the round recorder (./round-recorder.ts: finalized on
 * FedmeshFederation by a quorum of committee signatures), then announce the aggregate if the
 * recorded hash is ours.
 */
import { CommitteeStage } from '../../protocol/round.js';
import type { StageMachine } from '../../protocol/stage-machine.js';
import type { RecordedRound } from '../chain/types.js';
import type { Logger } from '../logger.js';
import type { RecordRequest, RoundRecorder } from './round-recorder.js';

export interface RecordStep extends RecordRequest {
  /** Publishes the aggregate payload. */
  readonly announce: () => Promise<void>;
}

export async function recordAndAnnounce(
  step: RecordStep,
  machine: StageMachine<CommitteeStage>,
  c: { recorder: RoundRecorder; log: Logger },
  signal: AbortSignal,
): Promise<{ record: RecordedRound; recorded: boolean }> {
  const { announce, ...req } = step;
  const { record, recorded } = await c.recorder.record(req, signal);
  // The path shows Recording only for the member whose transaction landed, as before the seam.
  if (recorded) machine.to(CommitteeStage.Recording);
  if (record.modelHash === step.modelHash) {
    machine.to(CommitteeStage.Announcing);
    await announce();
  } else {
    c.log.warn(
      { round: step.round, ours: step.modelHash, recorded: record.modelHash },
      'recorded aggregate differs from ours (different update set)',
    );
  }
  machine.to(CommitteeStage.Done);
  return { record, recorded };
}
