/**
 * The round driver's view of a finalized FedmeshFederation round: "recorded" means finalized by
 * quorum (node/services/federation-recorder.ts).
 */
import type { FinalizedRound } from './federation-types.js';
import type { RecordedRound } from './types.js';

/** A finalized federation round as the driver's `RecordedRound`; the recorder is its first signer. */
export function recordedFromFinalized(f: FinalizedRound): RecordedRound {
  return {
    round: f.round,
    prevModelHash: f.record.prevModelHash,
    modelHash: f.record.modelHash,
    participantCount: f.record.participants.length,
    txHash: f.txHash,
    blockNumber: f.blockNumber,
    recorder: f.signers[0] ?? '',
  };
}
