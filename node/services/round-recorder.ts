/**
 * The recorder seam: how a committee member gets its round's result onto the ledger. The round
 * driver only asks "record this aggregate at my turn and tell me what the chain holds";
 * `ledgerRecorder` does it with one `recordRound` transaction on the minimal RoundLedger
 * (position 0 first, position k after k grace periods), `FederationRecorder`
 * (./federation-recorder.ts) with t committee signatures and `finalizeRound` on
 * FedmeshFederation.
 */
import type { ContributionDeclaration } from '../../protocol/chain/record.js';
import type { ModelWeights } from '../../protocol/model.js';
import type { ChainClient, Hex32, RecordedRound } from '../chain/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';

export interface RecordRequest {
  readonly round: number;
  /**
   * The candidate model the record's `modelHash` names, for a signing gate (the validation
   * gate of node/services/validation-gate.ts); absent: nothing to check.
   */
  readonly candidate?: ModelWeights;
  /** This member's committee position. */
  readonly position: number;
  /** Absolute time (ms) at which this position may record if nobody has. */
  readonly turnAt: number;
  readonly prevModelHash: Hex32;
  readonly modelHash: Hex32;
  /** Hash of the aggregate payload this member computed (identical across honest members). */
  readonly aggregateHash: Hex32;
  /** Peer ids whose inputs the aggregate contains. */
  readonly contributors: readonly string[];
  /** Declared sample count of each contributor, when the mode reveals it (plaintext FedAvg). */
  readonly sampleCounts?: ReadonlyMap<string, number>;
  /**
   * What each contributor declared in its signed submission: sample-count bucket and DP-SGD
   * parameters (protocol/chain/record.ts `ContributionDeclaration`). The federation recorder
   * puts them, and the spend they imply, into the round record.
   */
  readonly declarations?: ReadonlyMap<string, ContributionDeclaration>;
}

export interface RecordResult {
  /** What the chain holds for the round (ours or another member's). */
  readonly record: RecordedRound;
  /** Whether this member sent the recording/finalizing transaction. */
  readonly recorded: boolean;
}

export interface RoundRecorder {
  /** Records (or sees recorded) `req.round`; rejects when `signal` aborts. */
  record(req: RecordRequest, signal: AbortSignal): Promise<RecordResult>;
}

/** The RoundLedger behaviour: one `recordRound` transaction, by turn. */
export function ledgerRecorder(c: { chain: ChainClient; clock: Clock; log: Logger }): RoundRecorder {
  const { chain, clock, log } = c;
  return {
    async record(req, signal) {
      let recorded = false;
      let record = await chain.getRound(req.round);
      if (record === undefined && req.position > 0) {
        const wait = req.turnAt - clock.now();
        record = await chain.waitForRound(req.round, Math.max(1, wait)).catch(() => undefined);
        if (signal.aborted) throw signal.reason;
      }
      if (record === undefined) {
        try {
          record = await chain.recordRound({
            round: req.round,
            prevModelHash: req.prevModelHash,
            modelHash: req.modelHash,
            participantCount: req.contributors.length,
          });
          recorded = true;
          log.info(
            { round: req.round, modelHash: req.modelHash, tx: record.txHash, participants: req.contributors.length },
            'round recorded',
          );
        } catch (e) {
          // Another member recorded first (race at the turn boundary): read its record.
          record = await chain.getRound(req.round);
          if (record === undefined) throw e;
        }
      }
      return { record, recorded };
    },
  };
}
