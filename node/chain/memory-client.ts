/**
 * In-memory twin of the RoundLedger contract (STYLE.md §3): the simulator and unit tests run
 * the unchanged node code against it instead of a chain.
 *
 * `InMemoryLedger` holds the state that contracts/RoundLedger.sol holds on chain; each
 * `InMemoryChainClient` acts for one identity, as each `EthersChainClient` acts for one signer.
 * The rules, their order and the error codes are the contract's; the shared compliance suite
 * (test/contracts/chain-client.compliance.ts) runs against both implementations to keep it so.
 *
 * Block numbers and transaction hashes are synthetic but deterministic (one block per recorded
 * round, a hash of the record), so a seeded simulation replays identically.
 */
import { assertArgument, getAddress, isAddress, solidityPackedKeccak256 } from 'ethers';
import { type Clock, systemClock } from '../clock.js';
import { ChainError, chainErrorFromRevert } from './errors.js';
import { assertRoundArgument, assertTimeoutArgument, isHex32, normalizeRoundRecord, ZERO_HASH } from './record.js';
import type { ChainClient, Hex32, RecordedRound, RoundRecord } from './types.js';

/** Domain separator of the synthetic transaction hashes. */
const TX_HASH_DOMAIN = 'fedmesh/in-memory-ledger/tx/1';

/**
 * Identities that are addresses compare case-insensitively and are reported checksummed, as
 * on chain; any other string (e.g. a peer id in the simulator) is used as is.
 */
function canonicalIdentity(identity: string): string {
  return isAddress(identity) ? getAddress(identity) : identity;
}

export class InMemoryLedger {
  readonly initialModelHash: Hex32;
  readonly #members: ReadonlySet<string>;
  readonly #rounds: RecordedRound[] = [];
  /** Resolvers of pending `waitForRound` calls, keyed by round. */
  readonly #waiters = new Map<number, Set<(r: RecordedRound) => void>>();
  /** Block 0 plays the deployment; every recorded round then takes the next block. */
  #blockNumber = 0;

  constructor(initialModelHash: Hex32, members: Iterable<string>) {
    assertArgument(isHex32(initialModelHash), 'initialModelHash must be 0x and 64 hex digits', 'initialModelHash', initialModelHash);
    this.initialModelHash = initialModelHash.toLowerCase() as Hex32;
    this.#members = new Set([...members].map(canonicalIdentity));
  }

  /**
   * A client that records rounds as `identity` (a member or not). `clock` times
   * `waitForRound`'s timeout; default the system clock.
   */
  client(identity: string, clock: Clock = systemClock): InMemoryChainClient {
    return new InMemoryChainClient(this, identity, clock);
  }

  isMember(identity: string): boolean {
    return this.#members.has(canonicalIdentity(identity));
  }

  get latestRound(): number {
    return this.#rounds.length;
  }

  get headModelHash(): Hex32 {
    return this.#rounds.at(-1)?.modelHash ?? this.initialModelHash;
  }

  getRound(round: number): RecordedRound | undefined {
    return round >= 1 ? this.#rounds[round - 1] : undefined;
  }

  /**
   * `RoundLedger.recordRound` as `identity`: the same checks in the same order, each failing
   * with the ChainError that the contract's custom error maps to.
   */
  record(identity: string, record: RoundRecord): RecordedRound {
    const recorder = canonicalIdentity(identity);
    const r = normalizeRoundRecord(record);
    if (!this.#members.has(recorder)) {
      throw revert('RoundLedgerNotMember', [recorder]);
    }
    const expected = this.latestRound + 1;
    if (r.round !== expected) {
      throw revert('RoundLedgerUnexpectedRound', [BigInt(expected), BigInt(r.round)]);
    }
    const head = this.headModelHash;
    if (r.prevModelHash !== head) {
      throw revert('RoundLedgerPrevHashMismatch', [head, r.prevModelHash]);
    }
    if (r.modelHash === ZERO_HASH || r.participantCount === 0) {
      throw revert('RoundLedgerInvalidRecord', [r.modelHash, BigInt(r.participantCount)]);
    }
    const recorded: RecordedRound = {
      ...r,
      recorder,
      blockNumber: ++this.#blockNumber,
      txHash: solidityPackedKeccak256(
        ['string', 'bytes32', 'uint64', 'bytes32', 'bytes32', 'uint32', 'string'],
        [TX_HASH_DOMAIN, this.initialModelHash, r.round, r.prevModelHash, r.modelHash, r.participantCount, recorder],
      ) as Hex32,
    };
    this.#rounds.push(recorded);
    this.#notify(recorded);
    return recorded;
  }

  /** Calls `listener` once when `round` is recorded; returns a function that cancels it. */
  onRecorded(round: number, listener: (r: RecordedRound) => void): () => void {
    let set = this.#waiters.get(round);
    if (set === undefined) {
      set = new Set();
      this.#waiters.set(round, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#waiters.get(round) === set) this.#waiters.delete(round);
    };
  }

  #notify(recorded: RecordedRound): void {
    const set = this.#waiters.get(recorded.round);
    if (set === undefined) return;
    this.#waiters.delete(recorded.round);
    for (const listener of set) listener(recorded);
  }
}

/** Builds the ChainError for a contract custom error, through the same mapping as reverts. */
function revert(errorName: string, args: readonly unknown[]): ChainError {
  const e = chainErrorFromRevert(errorName, args);
  // Unreachable unless errors.ts and this file disagree on the error names.
  if (e === undefined) throw new Error(`no ChainError mapping for ${errorName}`);
  return e;
}

export class InMemoryChainClient implements ChainClient {
  readonly ledger: InMemoryLedger;
  readonly identity: string;
  readonly #clock: Clock;

  constructor(ledger: InMemoryLedger, identity: string, clock: Clock = systemClock) {
    this.ledger = ledger;
    this.identity = identity;
    this.#clock = clock;
  }

  async initialModelHash(): Promise<Hex32> {
    return this.ledger.initialModelHash;
  }

  async latestRound(): Promise<number> {
    return this.ledger.latestRound;
  }

  async headModelHash(): Promise<Hex32> {
    return this.ledger.headModelHash;
  }

  async getRound(round: number): Promise<RecordedRound | undefined> {
    assertRoundArgument(round);
    return this.ledger.getRound(round);
  }

  async recordRound(record: RoundRecord): Promise<RecordedRound> {
    return this.ledger.record(this.identity, record);
  }

  /** Event-driven rather than polled: the ledger calls back when the round is recorded. */
  waitForRound(round: number, timeoutMs: number): Promise<RecordedRound> {
    try {
      assertRoundArgument(round);
      assertTimeoutArgument(timeoutMs);
    } catch (e) {
      return Promise.reject(e);
    }
    const recorded = this.ledger.getRound(round);
    if (recorded !== undefined) return Promise.resolve(recorded);
    return new Promise((resolve, reject) => {
      const stopTimer = new AbortController();
      const stopListening = this.ledger.onRecorded(round, (r) => {
        stopTimer.abort();
        resolve(r);
      });
      this.#clock.sleep(timeoutMs, stopTimer.signal).then(
        () => {
          stopListening();
          reject(
            new ChainError('CHAIN_TIMEOUT', `round ${round} not recorded within ${timeoutMs} ms`, {
              round,
              timeoutMs,
            }),
          );
        },
        // Rejected only by the abort above: the round was recorded and the promise resolved.
        () => {},
      );
    });
  }
}
