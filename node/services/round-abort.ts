/**
 * Abort on stall (issue #9 §4; contracts/IFedmeshRounds.sol `abortRound`). A round whose
 * committee cannot gather t signatures — too many members crashed, or they refused to sign —
 * would hold the federation forever: `openRound` refuses while a round is open. The contract
 * lets anyone abort it once its finalize deadline has passed; every active member watches its
 * rounds and does so.
 *
 * To keep the chain from receiving one abort per member, turns are staggered like the
 * committee's recording turns: the peer of rank k tries k·staggerMs after the deadline, and
 * first re-reads the round, so whoever goes first wins and the others see `aborted` and stay
 * quiet. A losing abort (two in one block, or a block time that lags the wall clock so the
 * contract still says "not yet") is retried or dropped at debug level, never an error.
 *
 * `abortRound()` takes no round number: it aborts whatever round is open. The watcher sends it
 * only after reading *this* round as open and past its deadline, and a newer round cannot be
 * past its own deadline yet, so it can never abort the wrong round.
 */
import type { FederationChainClient } from '../chain/federation-types.js';
import type { Hex32 } from '../chain/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';

/** Default gap between two peers' abort turns (ms). */
export const DEFAULT_ABORT_STAGGER_MS = 250;
/** Default interval between re-reads of the round once past its deadline (ms). */
export const DEFAULT_ABORT_POLL_MS = 500;

export interface AbortWatch {
  readonly round: number;
  /** The round's finalize deadline: block time in seconds, as RoundOpened set it. */
  readonly finalizeDeadline: number;
  /** This peer's turn (0 first). */
  readonly rank: number;
  readonly staggerMs?: number;
  readonly pollMs?: number;
}

/** How a round ended on chain, as this peer learnt it. */
export type RoundFate =
  | { readonly status: 'finalized' }
  | { readonly status: 'aborted'; readonly bySelf: boolean; readonly txHash?: Hex32 };

/**
 * Resolves with the round's fate once it is known after its finalize deadline: `finalized`
 * (nothing to do), or `aborted` (by this peer's transaction or another's). Before the deadline
 * it only sleeps; `signal` stops it (the round finalized, or the peer stops).
 */
export async function watchForStall(
  w: AbortWatch,
  c: { readonly fed: FederationChainClient; readonly clock: Clock; readonly log: Logger },
  signal: AbortSignal,
): Promise<RoundFate> {
  const { fed, clock, log } = c;
  const stagger = w.staggerMs ?? DEFAULT_ABORT_STAGGER_MS;
  const poll = w.pollMs ?? DEFAULT_ABORT_POLL_MS;
  // The contract needs block.timestamp > finalizeDeadline, i.e. a block at deadline + 1 s.
  const firstTry = (w.finalizeDeadline + 1) * 1000 + w.rank * stagger;
  await clock.sleep(Math.max(0, firstTry - clock.now()), signal);
  /** This peer's own abort transaction, once sent and mined. */
  let mine: Hex32 | undefined;
  for (;;) {
    try {
      const head = await fed.getRound(w.round);
      if (head?.status === 'open') {
        const aborted = await fed.abortRound();
        if (aborted.round === w.round) {
          mine = aborted.txHash;
          log.info({ round: w.round, tx: aborted.txHash }, 'round aborted: finalize deadline passed without a quorum');
        } else {
          // Unreachable by the argument in the header; say so loudly if the chain disagrees.
          log.warn({ round: w.round, aborted: aborted.round }, 'abortRound aborted another round');
        }
      }
      // The fate counts once it is confirmed (chain.confirmations; red team F30): a shallow reorg
      // at the deadline can swap an abort for a charge that lands on the winning branch, and a
      // member cut on the swapped-out abort would never reveal for that charge.
      const sure = fed.getRoundConfirmed === undefined ? await fed.getRound(w.round) : await fed.getRoundConfirmed(w.round);
      if (sure?.status === 'finalized') return { status: 'finalized' };
      if (sure?.status === 'aborted') {
        if (mine === undefined) log.debug({ round: w.round }, 'round aborted by another member');
        return mine === undefined ? { status: 'aborted', bySelf: false } : { status: 'aborted', bySelf: true, txHash: mine };
      }
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      // Another member's abort landed first, the block time still lags, or the RPC is down:
      // re-read after a poll.
      log.debug({ round: w.round, err: errorCode(e) }, 'abortRound not taken; re-reading the round');
    }
    await clock.sleep(poll, signal);
  }
}

function errorCode(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'code' in e) return String((e as { code: unknown }).code);
  return String(e);
}
