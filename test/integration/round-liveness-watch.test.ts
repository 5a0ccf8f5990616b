/**
 * The stall watcher (node/services/round-abort.ts) against FedmeshFederation's bytecode on the
 * in-process Hardhat network. Block time jumps with `evm_increaseTime` and the watchers' clock
 * jumps with it (OffsetClock): nobody aborts before the finalize deadline, the first rank's
 * abortRound lands, later ranks see `aborted` and send nothing, and a round finalized in time is
 * left alone.
 */
import { keccak256, toUtf8Bytes } from 'ethers';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Hex32 } from '../../protocol/chain/record.js';
import type { FederationChainClient } from '../../node/chain/federation-types.js';
import { createLogger } from '../../node/logger.js';
import { watchForStall } from '../../node/services/round-abort.js';
import { type FederationHarness, OffsetClock, plainRecord, startFederation } from '../contracts/federation-harness.js';

const WINDOW_SEC = 60;
const MEMBERS = [1, 2, 3];

/** Counts abortRound calls that reached the chain (successful or not). */
function counting(inner: FederationChainClient, calls: { n: number }): FederationChainClient {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'abortRound') {
        return () => {
          calls.n++;
          return target.abortRound();
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

let h: FederationHarness;
beforeAll(async () => {
  h = await startFederation(
    keccak256(toUtf8Bytes('initial')) as Hex32,
    MEMBERS.map((signer) => ({ signer, peerId: `peer-${signer}` })),
    { params: { committeeSize: 2, threshold: 2, inputDurationSec: WINDOW_SEC, finalizeDurationSec: WINDOW_SEC } },
  );
});
beforeEach(async () => {
  await h.reset();
});
afterAll(async () => {
  await h?.reset();
});

/**
 * The clock the watchers read: wall time plus the chain's lead over it (Hardhat stamps blocks
 * mined within a second a second apart, so block time can run ahead), kept in step with block
 * time by `jump` and `jumpTo`.
 */
async function clockOnChain(): Promise<{
  clock: OffsetClock;
  jump: (seconds: number) => Promise<void>;
  jumpTo: (ms: number) => Promise<void>;
}> {
  const clock = new OffsetClock();
  clock.offsetMs = Math.max(0, (await h.latestTimestamp()) * 1000 - Date.now());
  return {
    clock,
    jump: async (seconds) => {
      await h.advance(seconds);
      clock.jump(seconds * 1000);
    },
    jumpTo: async (ms) => {
      // Block time to the second after `ms` (the contract needs a block past the deadline),
      // the watchers' clock to `ms` exactly.
      await h.advanceTo(Math.max((await h.latestTimestamp()) + 1, Math.ceil(ms / 1000)));
      clock.jump(Math.max(0, ms - clock.now()));
    },
  };
}

describe('watchForStall', () => {
  it('aborts once, after the deadline, by the first rank; the others see it and send nothing', async () => {
    const opened = await h.client(1).openRound();
    const { clock, jumpTo } = await clockOnChain();
    const calls = MEMBERS.map(() => ({ n: 0 }));
    const log = createLogger('silent');
    const watching = Promise.all(
      MEMBERS.map((signer, rank) =>
        watchForStall(
          // A wide stagger: rank 0's abort lands well before rank 1's turn even on a loaded machine.
          { round: 1, finalizeDeadline: opened.finalizeDeadline, rank, staggerMs: 1_000, pollMs: 50 },
          { fed: counting(h.client(signer, clock), calls[rank]!), clock, log },
          new AbortController().signal,
        ),
      ),
    );
    // Nothing happens before the deadline: the round stays open while the watchers sleep.
    await new Promise((r) => setTimeout(r, 300));
    expect((await h.client(3).getRound(1))?.status).toBe('open');
    expect(calls.map((c) => c.n)).toEqual([0, 0, 0]);
    // The watchers' clock moves to rank 0's turn exactly (deadline + 1 s; later ranks are still
    // due in 1 and 2 s of wall time) and block time past the deadline with it.
    await jumpTo((opened.finalizeDeadline + 1) * 1000);
    const fates = await watching;
    expect(fates[0]).toMatchObject({ status: 'aborted', bySelf: true });
    expect(fates[1]).toEqual({ status: 'aborted', bySelf: false });
    expect(fates[2]).toEqual({ status: 'aborted', bySelf: false });
    expect(calls.map((c) => c.n)).toEqual([1, 0, 0]);
    expect((await h.client(3).getRound(1))?.status).toBe('aborted');
    // The next round opens.
    expect((await h.client(2).openRound()).round).toBe(2);
  }, 30_000);

  it('leaves a round finalized in time alone, and stops on its signal', async () => {
    const opened = await h.client(1).openRound();
    const { clock, jump } = await clockOnChain();
    const head = await h.client(1).headModelHash();
    const { record, entrySignatures } = await plainRecord(h, 1, head, keccak256(toUtf8Bytes('model-1')) as Hex32, MEMBERS);
    const signerOf = (a: string) => MEMBERS.find((i) => h.account(i) === a)!;
    const signatures = await Promise.all(opened.committee.map((a) => h.client(signerOf(a)).signRecord(record)));
    await h.client(signerOf(opened.committee[0]!)).finalizeRound(record, entrySignatures, signatures);
    await jump(2 * WINDOW_SEC);

    const calls = { n: 0 };
    const fate = await watchForStall(
      { round: 1, finalizeDeadline: opened.finalizeDeadline, rank: 0, pollMs: 50 },
      { fed: counting(h.client(3, clock), calls), clock, log: createLogger('silent') },
      new AbortController().signal,
    );
    expect(fate).toEqual({ status: 'finalized' });
    expect(calls.n).toBe(0);

    // A watcher whose round is settled elsewhere is stopped by its signal before the deadline.
    const round2 = await h.client(2).openRound();
    const stop = new AbortController();
    const watching = watchForStall(
      { round: 2, finalizeDeadline: round2.finalizeDeadline, rank: 0 },
      { fed: h.client(2, clock), clock, log: createLogger('silent') },
      stop.signal,
    );
    stop.abort(new Error('round finalized'));
    await expect(watching).rejects.toThrow('round finalized');
    expect((await h.client(3).getRound(2))?.status).toBe('open');
  }, 30_000);
});
