/**
 * `ChainClient` over ethers v6 and the RoundLedger contract (contracts/RoundLedger.sol).
 *
 * One client acts for one runner: a Signer to record rounds, or a read-only Provider. Every
 * failure reaches the caller as a `ChainError` (see errors.ts) except caller bugs such as a
 * fractional round number, which surface as ethers' INVALID_ARGUMENT.
 */
import { Contract, type ContractRunner, type EventLog, Interface, type Log, type TransactionReceipt, ZeroAddress } from 'ethers';
import { type Clock, systemClock } from '../clock.js';
import { ChainError, classifyChainError } from './errors.js';
import { assertRoundArgument, assertTimeoutArgument, normalizeRoundRecord } from './record.js';
import { ROUND_LEDGER_ABI } from './round-ledger-abi.js';
import type { ChainClient, Hex32, RecordedRound, RoundRecord } from './types.js';

/**
 * How often `waitForRound` polls `getRound`. Hardhat's in-process network mines on demand, so a
 * record is visible as soon as its transaction returns; 200 ms keeps a 64-peer simulation from
 * flooding the provider while adding little latency to a round.
 */
export const DEFAULT_POLL_INTERVAL_MS = 200;

/** Validated polling options shared by the ethers clients: a positive interval and a non-negative start block. */
export function pollingOptions(init: { readonly pollIntervalMs?: number; readonly fromBlock?: number }): {
  pollIntervalMs: number;
  fromBlock: number;
} {
  const pollIntervalMs = init.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  if (!(Number.isFinite(pollIntervalMs) && pollIntervalMs > 0)) {
    throw new RangeError(`pollIntervalMs must be a positive number, got ${pollIntervalMs}`);
  }
  const fromBlock = init.fromBlock ?? 0;
  if (!(Number.isSafeInteger(fromBlock) && fromBlock >= 0)) {
    throw new RangeError(`fromBlock must be a non-negative integer, got ${fromBlock}`);
  }
  return { pollIntervalMs, fromBlock };
}

export interface EthersChainClientInit {
  /** Interval between `getRound` polls in `waitForRound`. Default DEFAULT_POLL_INTERVAL_MS. */
  readonly pollIntervalMs?: number;
  /**
   * First block to search for RoundRecorded logs, normally the ledger's deployment block
   * (`deployRoundLedger` returns it). Default 0; public RPCs may refuse log queries that wide.
   */
  readonly fromBlock?: number;
  /** Time source for `waitForRound`'s deadline and polling. Default the system clock. */
  readonly clock?: Clock;
}

const ROUND_LEDGER_INTERFACE = new Interface(ROUND_LEDGER_ABI);

export class EthersChainClient implements ChainClient {
  readonly address: string;
  readonly #contract: Contract;
  readonly #pollIntervalMs: number;
  readonly #fromBlock: number;
  readonly #clock: Clock;

  constructor(runner: ContractRunner, address: string, init: EthersChainClientInit = {}) {
    const { pollIntervalMs, fromBlock } = pollingOptions(init);
    this.address = address;
    this.#contract = new Contract(address, ROUND_LEDGER_INTERFACE, runner);
    this.#pollIntervalMs = pollIntervalMs;
    this.#fromBlock = fromBlock;
    this.#clock = init.clock ?? systemClock;
  }

  async initialModelHash(): Promise<Hex32> {
    return (await this.#call('initialModelHash')) as Hex32;
  }

  async latestRound(): Promise<number> {
    return Number(await this.#call('latestRound'));
  }

  async headModelHash(): Promise<Hex32> {
    return (await this.#call('headModelHash')) as Hex32;
  }

  async getRound(round: number): Promise<RecordedRound | undefined> {
    assertRoundArgument(round);
    const stored = (await this.#call('getRound', round)) as {
      prevModelHash: Hex32;
      modelHash: Hex32;
      participantCount: bigint;
      recorder: string;
    };
    if (stored.recorder === ZeroAddress) return undefined;
    // The contract keeps the record but not where it was mined; the RoundRecorded log (indexed
    // by round, so the query is a topic match) supplies the transaction and block.
    const log = await this.#roundRecordedLog(round);
    return {
      round,
      prevModelHash: stored.prevModelHash,
      modelHash: stored.modelHash,
      participantCount: Number(stored.participantCount),
      recorder: stored.recorder,
      txHash: log.transactionHash as Hex32,
      blockNumber: log.blockNumber,
    };
  }

  async recordRound(record: RoundRecord): Promise<RecordedRound> {
    const r = normalizeRoundRecord(record);
    const args = [r.round, r.prevModelHash, r.modelHash, r.participantCount] as const;
    const method = this.#contract.getFunction('recordRound');
    let receipt: TransactionReceipt | null;
    try {
      // ethers estimates gas first, so most reverts surface here with their revert data.
      const tx = await method.send(...args);
      receipt = await tx.wait();
    } catch (e) {
      throw await this.#classifyRecordFailure(e, args);
    }
    if (receipt === null) {
      // Only possible with wait(0); kept as a guard because the types allow it.
      throw new Error('recordRound: transaction has no receipt');
    }
    return this.#recordedFromReceipt(receipt);
  }

  /**
   * Polls `getRound` every `pollIntervalMs` until the deadline. An RPC failure while polling
   * rejects at once with its ChainError (CHAIN_UNAVAILABLE) instead of being retried until the
   * deadline: a dead endpoint is not a late round, and the caller decides whether to retry.
   */
  async waitForRound(round: number, timeoutMs: number): Promise<RecordedRound> {
    assertRoundArgument(round);
    assertTimeoutArgument(timeoutMs);
    const deadline = this.#clock.now() + timeoutMs;
    for (;;) {
      const recorded = await this.getRound(round);
      if (recorded !== undefined) return recorded;
      const remaining = deadline - this.#clock.now();
      if (remaining <= 0) {
        throw new ChainError('CHAIN_TIMEOUT', `round ${round} not recorded within ${timeoutMs} ms`, {
          round,
          timeoutMs,
        });
      }
      await this.#clock.sleep(Math.min(this.#pollIntervalMs, remaining));
    }
  }

  /** A view call with its failures classified. */
  async #call(name: string, ...args: unknown[]): Promise<unknown> {
    try {
      return await this.#contract.getFunction(name).staticCall(...args);
    } catch (e) {
      throw classifyChainError(e, ROUND_LEDGER_INTERFACE, name);
    }
  }

  /**
   * A receipt with status 0 carries no revert data, so ethers' wait() throws a CALL_EXCEPTION
   * the ABI cannot decode. That happens when another member's transaction for the same round
   * was mined first. Replaying the call against the state that block left recovers the custom
   * error (CHAIN_UNEXPECTED_ROUND in that race); if the replay succeeds, CHAIN_REVERTED it is.
   */
  async #classifyRecordFailure(e: unknown, args: readonly unknown[]): Promise<unknown> {
    const classified = classifyChainError(e, ROUND_LEDGER_INTERFACE, 'recordRound');
    const receipt = (e as { receipt?: TransactionReceipt | null }).receipt;
    if (!(classified instanceof ChainError && classified.code === 'CHAIN_REVERTED') || !receipt) {
      return classified;
    }
    try {
      await this.#contract.getFunction('recordRound').staticCall(...args, { blockTag: receipt.blockNumber });
    } catch (replayError) {
      const replayed = classifyChainError(replayError, ROUND_LEDGER_INTERFACE, 'recordRound');
      if (replayed instanceof ChainError && replayed.code !== 'CHAIN_REVERTED') return replayed;
    }
    return new ChainError(
      'CHAIN_REVERTED',
      `recordRound transaction ${receipt.hash} reverted`,
      { operation: 'recordRound', txHash: receipt.hash },
      { cause: e },
    );
  }

  #recordedFromReceipt(receipt: TransactionReceipt): RecordedRound {
    for (const log of receipt.logs) {
      const parsed = this.#parseRoundRecorded(log);
      if (parsed === undefined) continue;
      return {
        round: Number(parsed.args.round),
        prevModelHash: parsed.args.prevModelHash,
        modelHash: parsed.args.modelHash,
        participantCount: Number(parsed.args.participantCount),
        recorder: parsed.args.recorder,
        txHash: receipt.hash as Hex32,
        blockNumber: receipt.blockNumber,
      };
    }
    // A successful recordRound always emits RoundRecorded; its absence means the address is not
    // a RoundLedger (or the ABI drifted), which no retry can fix.
    throw new Error(`recordRound: receipt ${receipt.hash} has no RoundRecorded log from ${this.address}`);
  }

  #parseRoundRecorded(log: Log) {
    if (log.address.toLowerCase() !== this.address.toLowerCase()) return undefined;
    const parsed = ROUND_LEDGER_INTERFACE.parseLog(log);
    return parsed?.name === 'RoundRecorded' ? parsed : undefined;
  }

  async #roundRecordedLog(round: number): Promise<EventLog | Log> {
    let logs: (EventLog | Log)[];
    try {
      const filter = this.#contract.getEvent('RoundRecorded')(round);
      logs = await this.#contract.queryFilter(filter, this.#fromBlock);
    } catch (e) {
      throw classifyChainError(e, ROUND_LEDGER_INTERFACE, 'getRound');
    }
    const log = logs[0];
    if (log === undefined) {
      // getRound saw the record, so its log exists unless fromBlock is past the deployment.
      throw new Error(`getRound: no RoundRecorded log for round ${round} from block ${this.#fromBlock}`);
    }
    return log;
  }
}
