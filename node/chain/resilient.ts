/**
 * A FederationChainClient that a long-running node can lean on: it wraps any client (the
 * ethers one in production) and adds what a daemon needs and a test twin does not.
 *
 * - **Retry with exponential backoff** (full jitter, AWS Architecture Blog "Exponential
 *   Backoff and Jitter", 2015) while the RPC is unavailable: errors are classified by
 *   node/chain/errors.ts `classifyChainError`, which uses ethers' `isError` (NETWORK_ERROR,
 *   SERVER_ERROR, TIMEOUT) and the socket codes below it. Only CHAIN_UNAVAILABLE is retried;
 *   a revert is an answer, not an outage, and is rethrown at once.
 * - **One in-flight transaction queue per signer**: transactions are sent one at a time, in
 *   call order, so nonces never race. Pair it with ethers' `NonceManager` (see
 *   `resilientSigner`) so a nonce is not re-read from a lagging node between sends; on any
 *   send failure the manager is reset and the next send re-reads the pending nonce.
 * - **Confirmations**: a write resolves only once its block has `confirmations` blocks on top
 *   (1 = mined). With Hardhat's automine, blocks appear only with transactions: keep 1 there.
 * - **Never a duplicate finalize**: before each attempt (first or retried) the round's status
 *   is read; a finalized round returns the chain's record instead of sending, and concurrent
 *   finalize calls for one round share one attempt.
 */
import type { RoundCharge } from '../../protocol/chain/charge.js';
import type { ParticipantEntry } from '../../protocol/chain/participant-entry.js';
import { isError, NonceManager, type Provider, type Signer, type TransactionRequest, type TransactionResponse } from 'ethers';
import type { Hex32, OnChainRoundRecord } from '../../protocol/chain/record.js';
import { FedmeshError } from '../../protocol/errors.js';
import { type Clock, systemClock } from '../clock.js';
import type { Logger } from '../logger.js';
import { isChainError } from './errors.js';
import type {
  AbortedRound,
  FederationChainClient,
  FederationInfo,
  ChargedRound,
  FinalizedRound,
  MemberInfo,
  NewMember,
  OpenedRound,
  PrivacyBudget,
  RoundState,
  TxInfo,
} from './federation-types.js';

export interface BackoffOptions {
  /** First delay (ms). */
  readonly initialMs: number;
  /** Cap on one delay (ms). */
  readonly maxMs: number;
  /** Multiplier per attempt. */
  readonly factor: number;
  /** Give up after this long in total (ms); Infinity: never (a daemon waits for its RPC). */
  readonly maxElapsedMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 10_000, factor: 2, maxElapsedMs: Number.POSITIVE_INFINITY };

export class RetryError extends FedmeshError<'CHAIN_RETRY_EXHAUSTED', { operation: string; attempts: number; elapsedMs: number }> {}

/** True for failures that mean "the RPC is down or flaky", worth retrying. */
export function isTransient(e: unknown): boolean {
  if (isChainError(e, 'CHAIN_UNAVAILABLE')) return true;
  return isError(e, 'NETWORK_ERROR') || isError(e, 'SERVER_ERROR') || isError(e, 'TIMEOUT');
}

export interface RetryContext {
  readonly backoff: BackoffOptions;
  readonly clock: Clock;
  readonly log?: Logger;
  /** Called on each transient failure (metrics). */
  readonly onRetry?: (operation: string, attempt: number, error: unknown) => void;
  /** Stops retrying (shutdown): the last error is thrown. */
  readonly signal?: AbortSignal;
  /** Random source for jitter in [0, 1); default Math.random (this is I/O scheduling, not protocol). */
  readonly random?: () => number;
}

/** Runs `fn` until it succeeds or fails with a non-transient error. */
export async function withRetry<T>(operation: string, fn: () => Promise<T>, ctx: RetryContext): Promise<T> {
  const { backoff, clock } = ctx;
  const started = clock.now();
  let delay = backoff.initialMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isTransient(e)) throw e;
      const elapsedMs = clock.now() - started;
      if (ctx.signal?.aborted === true) throw e;
      if (elapsedMs >= backoff.maxElapsedMs) {
        throw new RetryError(
          'CHAIN_RETRY_EXHAUSTED',
          `${operation}: RPC still unavailable after ${attempt} attempts`,
          { operation, attempts: attempt, elapsedMs },
          { cause: e },
        );
      }
      ctx.onRetry?.(operation, attempt, e);
      const wait = Math.max(1, Math.round(delay * (0.5 + 0.5 * (ctx.random ?? Math.random)())));
      ctx.log?.warn(
        { operation, attempt, waitMs: wait, error: e instanceof Error ? e.message : String(e) },
        'chain RPC unavailable; retrying',
      );
      await clock.sleep(wait);
      delay = Math.min(backoff.maxMs, delay * backoff.factor);
    }
  }
}

/**
 * A signer whose nonces are tracked locally (ethers NonceManager). The daemon gives it to the
 * ethers client and the same object to `ResilientFederationClient` so a failed send resets it.
 */
export function resilientSigner(signer: Signer): NonceManager {
  return signer instanceof NonceManager ? signer : new SafeNonceManager(signer);
}

/**
 * ethers' NonceManager with one fix: its `sendTransaction` starts `getNonce('pending')`, then
 * awaits `populateTransaction` first; when the RPC is down both reject and the nonce promise's
 * rejection is never observed — an unhandled rejection, which ends a Node process (found by
 * test/e2e/faults-rpc.test.ts: a node crashed opening a round during an RPC outage). Here the
 * nonce promise is always observed; the error the caller sees is unchanged.
 */
export class SafeNonceManager extends NonceManager {
  override async sendTransaction(tx: TransactionRequest): Promise<TransactionResponse> {
    const noncePromise = this.getNonce('pending');
    noncePromise.catch(() => {}); // observed here; awaited (and rethrown) below
    this.increment();
    const populated = await this.signer.populateTransaction(tx);
    populated.nonce = await noncePromise;
    return await this.signer.sendTransaction(populated);
  }
}

export interface ResilientInit {
  readonly backoff?: Partial<BackoffOptions>;
  /** Blocks a write waits for (1: mined). Default 1. */
  readonly confirmations?: number;
  /** Needed for confirmations > 1: where to read the block number. */
  readonly provider?: Provider;
  /** Reset after a failed send, so the next nonce is re-read. */
  readonly nonceManager?: NonceManager;
  readonly clock?: Clock;
  readonly log?: Logger;
  readonly onRetry?: RetryContext['onRetry'];
  /** Interval for confirmation polling (ms). Default 250. */
  readonly pollIntervalMs?: number;
}

export class ResilientFederationClient implements FederationChainClient {
  readonly #inner: FederationChainClient;
  readonly #ctx: RetryContext;
  readonly #abort = new AbortController();
  readonly #confirmations: number;
  readonly #provider: Provider | undefined;
  readonly #nonces: NonceManager | undefined;
  readonly #clock: Clock;
  readonly #pollMs: number;
  /** The tail of this signer's transaction queue. */
  #queue: Promise<unknown> = Promise.resolve();
  /** In-flight finalize attempts by round: a second call joins the first. */
  readonly #finalizing = new Map<number, Promise<FinalizedRound>>();
  readonly #charging = new Map<number, Promise<ChargedRound>>();

  constructor(inner: FederationChainClient, init: ResilientInit = {}) {
    const confirmations = init.confirmations ?? 1;
    if (!Number.isInteger(confirmations) || confirmations < 1 || confirmations > 64) {
      throw new RangeError(`confirmations must be an integer in 1–64, got ${confirmations}`);
    }
    if (confirmations > 1 && init.provider === undefined) throw new TypeError('confirmations > 1 needs a provider');
    this.#inner = inner;
    this.#clock = init.clock ?? systemClock;
    this.#ctx = {
      backoff: { ...DEFAULT_BACKOFF, ...init.backoff },
      clock: this.#clock,
      signal: this.#abort.signal,
      ...(init.log !== undefined ? { log: init.log } : {}),
      ...(init.onRetry !== undefined ? { onRetry: init.onRetry } : {}),
    };
    this.#confirmations = confirmations;
    this.#provider = init.provider;
    this.#nonces = init.nonceManager;
    this.#pollMs = init.pollIntervalMs ?? 250;
  }

  /** Stop retrying (shutdown): pending calls fail with their last error. */
  close(): void {
    this.#abort.abort();
  }

  // ───────────── reads: retried ─────────────

  #read<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(op, fn, this.#ctx);
  }

  account(): Promise<string> {
    return this.#read('account', () => this.#inner.account());
  }
  info(): Promise<FederationInfo> {
    return this.#read('info', () => this.#inner.info());
  }
  getMember(account: string): Promise<MemberInfo> {
    return this.#read('getMember', () => this.#inner.getMember(account));
  }
  activeMembersAt(blockNumber: number): Promise<string[]> {
    return this.#read('activeMembersAt', () => this.#inner.activeMembersAt(blockNumber));
  }
  memberInfoVersion(): Promise<bigint> {
    return this.#read('memberInfoVersion', () => this.#inner.memberInfoVersion());
  }
  epsilonCapAt(account: string, round: number): Promise<bigint> {
    return this.#read('epsilonCapAt', () => this.#inner.epsilonCapAt(account, round));
  }
  budgetAfter(account: string, round: number, spend: bigint): Promise<{ epsilonAfter: bigint; cap: bigint; fits: boolean }> {
    return this.#read('budgetAfter', () => this.#inner.budgetAfter(account, round, spend));
  }
  signParticipantEntry(entry: ParticipantEntry): Promise<string> {
    return this.#read('signParticipantEntry', () => this.#inner.signParticipantEntry(entry));
  }
  activeMembers(): Promise<string[]> {
    return this.#read('activeMembers', () => this.#inner.activeMembers());
  }
  currentRound(): Promise<number> {
    return this.#read('currentRound', () => this.#inner.currentRound());
  }
  lastFinalizedRound(): Promise<number> {
    return this.#read('lastFinalizedRound', () => this.#inner.lastFinalizedRound());
  }
  headModelHash(): Promise<Hex32> {
    return this.#read('headModelHash', () => this.#inner.headModelHash());
  }
  manifestHash(): Promise<Hex32> {
    return this.#read('manifestHash', () => this.#inner.manifestHash());
  }
  getRound(round: number, atBlock?: number): Promise<RoundState | undefined> {
    return this.#read('getRound', () => this.#inner.getRound(round, atBlock));
  }
  getFinalizedRound(round: number): Promise<FinalizedRound | undefined> {
    return this.#read('getFinalizedRound', () => this.#inner.getFinalizedRound(round));
  }
  budgetOf(account: string): Promise<PrivacyBudget> {
    return this.#read('budgetOf', () => this.#inner.budgetOf(account));
  }
  creditsOf(account: string): Promise<bigint> {
    return this.#read('creditsOf', () => this.#inner.creditsOf(account));
  }
  totalCredits(): Promise<bigint> {
    return this.#read('totalCredits', () => this.#inner.totalCredits());
  }
  signRecord(record: OnChainRoundRecord): Promise<string> {
    return this.#read('signRecord', () => this.#inner.signRecord(record));
  }

  signRoundCharge(charge: RoundCharge): Promise<string> {
    return this.#read('signRoundCharge', () => this.#inner.signRoundCharge(charge));
  }

  getChargedRound(round: number): Promise<ChargedRound | undefined> {
    return this.#read('getChargedRound', () => this.#inner.getChargedRound(round));
  }

  /**
   * The round as of block head − (confirmations − 1): the depth this client's own writes wait
   * for (#confirm), offered to reads that gate something that cannot be undone. A member reveals
   * its shares only on a charge seen here (red team F29), and gives up on a charge only on an
   * abort seen here (F30: a shallow reorg at the finalize deadline can swap the abort for the
   * charge).
   */
  async getRoundConfirmed(round: number): Promise<RoundState | undefined> {
    if (this.#confirmations <= 1 || this.#provider === undefined) return this.getRound(round);
    const provider = this.#provider;
    const head = await withRetry('getBlockNumber', () => provider.getBlockNumber(), this.#ctx);
    return this.getRound(round, Math.max(0, head - (this.#confirmations - 1)));
  }

  /**
   * Waits poll the chain; an outage in the middle is retried by re-entering the wait with the
   * time that is left (the inner client rejects at once on a dead RPC by design).
   */
  waitForRoundOpened(round: number, timeoutMs: number): Promise<RoundState> {
    return this.#wait('waitForRoundOpened', timeoutMs, (left) => this.#inner.waitForRoundOpened(round, left));
  }
  waitForRoundFinalized(round: number, timeoutMs: number): Promise<FinalizedRound> {
    return this.#wait('waitForRoundFinalized', timeoutMs, (left) => this.#inner.waitForRoundFinalized(round, left));
  }

  async #wait<T>(op: string, timeoutMs: number, fn: (leftMs: number) => Promise<T>): Promise<T> {
    const deadline = this.#clock.now() + timeoutMs;
    return withRetry(op, () => fn(Math.max(1, deadline - this.#clock.now())), this.#ctx);
  }

  // ───────────── writes: queued, retried, confirmed ─────────────

  /** Runs `send` after every earlier transaction of this signer settled. */
  #enqueue<T>(op: string, send: () => Promise<T>, blockOf: (r: T) => number): Promise<T> {
    const run = async (): Promise<T> => {
      const result = await withRetry(
        op,
        async () => {
          try {
            return await send();
          } catch (e) {
            // Whatever happened, the next attempt re-reads the pending nonce from the node.
            this.#nonces?.reset();
            throw e;
          }
        },
        this.#ctx,
      );
      await this.#confirm(blockOf(result));
      return result;
    };
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #confirm(blockNumber: number): Promise<void> {
    if (this.#confirmations <= 1 || this.#provider === undefined) return;
    const want = blockNumber + this.#confirmations - 1;
    const provider = this.#provider;
    for (;;) {
      const head = await withRetry('getBlockNumber', () => provider.getBlockNumber(), this.#ctx);
      if (head >= want) return;
      await this.#clock.sleep(this.#pollMs);
    }
  }

  #tx(op: string, send: () => Promise<TxInfo>): Promise<TxInfo> {
    return this.#enqueue(op, send, (r) => r.blockNumber);
  }

  addMember(member: NewMember): Promise<TxInfo> {
    return this.#tx('addMember', () => this.#inner.addMember(member));
  }
  suspendMember(account: string): Promise<TxInfo> {
    return this.#tx('suspendMember', () => this.#inner.suspendMember(account));
  }
  reinstateMember(account: string): Promise<TxInfo> {
    return this.#tx('reinstateMember', () => this.#inner.reinstateMember(account));
  }
  removeMember(account: string): Promise<TxInfo> {
    return this.#tx('removeMember', () => this.#inner.removeMember(account));
  }
  lowerEpsilonCap(newCap: bigint): Promise<TxInfo> {
    return this.#tx('lowerEpsilonCap', () => this.#inner.lowerEpsilonCap(newCap));
  }
  setPeerId(account: string, peerId: string, peerProof: string): Promise<TxInfo> {
    return this.#tx('setPeerId', () => this.#inner.setPeerId(account, peerId, peerProof));
  }
  updateMetadataURI(metadataURI: string): Promise<TxInfo> {
    return this.#tx('updateMetadataURI', () => this.#inner.updateMetadataURI(metadataURI));
  }

  /**
   * Opening is idempotent in effect: a retry after an outage whose first attempt did land
   * fails with a revert (the round is open), which the opener already treats as "read it".
   */
  openRound(): Promise<OpenedRound> {
    return this.#enqueue(
      'openRound',
      () => this.#inner.openRound(),
      (r) => r.blockNumber,
    );
  }

  abortRound(): Promise<AbortedRound> {
    return this.#enqueue(
      'abortRound',
      () => this.#inner.abortRound(),
      (r) => r.blockNumber,
    );
  }

  /** Never sends a second charge for a round that is charged, or one already in flight here. */
  chargeRound(charge: RoundCharge, entrySignatures: readonly string[], signatures: readonly string[]): Promise<ChargedRound> {
    const round = charge.round;
    const inflight = this.#charging.get(round);
    if (inflight !== undefined) return inflight;
    const attempt = this.#enqueue(
      'chargeRound',
      async () => {
        const done = await this.#inner.getChargedRound(round);
        if (done !== undefined) return done;
        return this.#inner.chargeRound(charge, entrySignatures, signatures);
      },
      (r) => r.blockNumber,
    ).finally(() => this.#charging.delete(round));
    this.#charging.set(round, attempt);
    return attempt;
  }

  /** Never sends a second finalize for a round that is finalized, or one already in flight here. */
  finalizeRound(record: OnChainRoundRecord, entrySignatures: readonly string[], signatures: readonly string[]): Promise<FinalizedRound> {
    const round = record.round;
    const inflight = this.#finalizing.get(round);
    if (inflight !== undefined) return inflight;
    const attempt = this.#enqueue(
      'finalizeRound',
      async () => {
        const done = await this.#inner.getFinalizedRound(round);
        if (done !== undefined) return done;
        return this.#inner.finalizeRound(record, entrySignatures, signatures);
      },
      (r) => r.blockNumber,
    ).finally(() => this.#finalizing.delete(round));
    this.#finalizing.set(round, attempt);
    return attempt;
  }
}
