/**
 * The round driver's read side of the ledger (`ChainClient`, ./types.ts) over a
 * FedmeshFederation (`FederationChainClient`): "recorded" means finalized by quorum. latestRound
 * is the last finalized round, getRound maps the finalized record, waitForRound waits for
 * `RoundFinalized`. Recording goes through the federation recorder
 * (node/services/federation-recorder.ts), so `recordRound` refuses.
 */
import { ChainError } from './errors.js';
import type { FederationChainClient, FinalizedRound } from './federation-types.js';
import type { ChainClient, Hex32, RecordedRound, RoundRecord } from './types.js';

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

export class FederationLedgerView implements ChainClient {
  constructor(private readonly fed: FederationChainClient) {}

  async initialModelHash(): Promise<Hex32> {
    return (await this.fed.info()).initialModelHash;
  }

  latestRound(): Promise<number> {
    return this.fed.lastFinalizedRound();
  }

  headModelHash(): Promise<Hex32> {
    return this.fed.headModelHash();
  }

  async getRound(round: number): Promise<RecordedRound | undefined> {
    const f = await this.fed.getFinalizedRound(round);
    return f === undefined ? undefined : recordedFromFinalized(f);
  }

  recordRound(record: RoundRecord): Promise<RecordedRound> {
    return Promise.reject(
      new ChainError('CHAIN_REVERTED', `round ${record.round}: a federation round is finalized by quorum, not recorded by one member`, {
        operation: 'recordRound',
      }),
    );
  }

  async waitForRound(round: number, timeoutMs: number): Promise<RecordedRound> {
    return recordedFromFinalized(await this.fed.waitForRoundFinalized(round, timeoutMs));
  }
}
