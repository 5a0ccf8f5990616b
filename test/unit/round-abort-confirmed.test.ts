/**
 * The stall watcher (node/services/round-abort.ts `watchForStall`) ends a member's round only on
 * an abort or a finalization seen at the confirmed depth (`getRoundConfirmed`, red team F30): an
 * abort in the head block that a shallow reorg swaps for the lock's charge must not cut a member
 * that would then reveal for that charge. The chain client is scripted: each poll answers one
 * (head, confirmed) pair, as a chain with `chain.confirmations` > 1 would during such a reorg.
 */
import { describe, expect, it } from 'vitest';
import type { FederationChainClient, RoundState } from '../../node/chain/federation-types.js';
import { systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { watchForStall } from '../../node/services/round-abort.js';

type Status = RoundState['status'];

/** A client whose n-th poll reads `script[n]` (the last entry repeats); counts abortRound calls. */
function scripted(script: readonly { readonly head: Status; readonly confirmed: Status }[]) {
  let reads = 0;
  const state = (status: Status): RoundState => ({ round: 1, status }) as RoundState;
  const at = () => script[Math.min(reads, script.length - 1)]!;
  const calls = { abort: 0 };
  const fed = {
    getRound: async () => state(at().head),
    getRoundConfirmed: async () => {
      const s = state(at().confirmed);
      reads++;
      return s;
    },
    abortRound: async () => {
      calls.abort++;
      return { round: 1, txHash: `0x${'ab'.repeat(32)}`, blockNumber: 9 };
    },
  } as unknown as FederationChainClient;
  return { fed, calls, reads: () => reads };
}

const watch = (fed: FederationChainClient) =>
  watchForStall(
    // The deadline is long past: the watcher reads at once, every 5 ms.
    { round: 1, finalizeDeadline: 0, rank: 0, pollMs: 5 },
    { fed, clock: systemClock, log: createLogger('silent') },
    new AbortController().signal,
  );

describe('watchForStall counts a fate only at the confirmed depth (F30)', () => {
  it('an abort seen only at the head, then reorged away and the round finalized: the fate is finalized, never aborted', async () => {
    const c = scripted([
      { head: 'aborted', confirmed: 'open' },
      { head: 'aborted', confirmed: 'open' },
      { head: 'finalized', confirmed: 'open' },
      { head: 'finalized', confirmed: 'finalized' },
    ]);
    expect(await watch(c.fed)).toEqual({ status: 'finalized' });
    expect(c.reads()).toBe(4);
    // The head never showed the round open: this member sent no abort of its own.
    expect(c.calls.abort).toBe(0);
  });

  it('control: an abort the confirmed view shows ends the round at once (another member aborted it)', async () => {
    const c = scripted([{ head: 'aborted', confirmed: 'aborted' }]);
    expect(await watch(c.fed)).toEqual({ status: 'aborted', bySelf: false });
    expect(c.calls.abort).toBe(0);
  });

  it('its own abort counts once confirmed, and says so (bySelf with the transaction)', async () => {
    const c = scripted([
      { head: 'open', confirmed: 'open' },
      { head: 'aborted', confirmed: 'open' },
      { head: 'aborted', confirmed: 'aborted' },
    ]);
    expect(await watch(c.fed)).toMatchObject({ status: 'aborted', bySelf: true, txHash: `0x${'ab'.repeat(32)}` });
    expect(c.calls.abort).toBe(1);
  });
});
