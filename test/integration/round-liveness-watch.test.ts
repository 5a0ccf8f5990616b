/**
 * The stall watcher (node/services/round-abort.ts) against the in-memory twin of
 * FedmeshFederation, whose block time is an injected clock: nobody aborts before the finalize
 * deadline, the first rank's abortRound lands, later ranks see `aborted` and send nothing, and a
 * round finalized in time is left alone.
 */
import { keccak256, toUtf8Bytes, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { cAlpha, EPSILON_CAP_MAX } from '../../protocol/chain/budget.js';
import { canonicalRoundRecord, type Hex32 } from '../../protocol/chain/record.js';
import { NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { InMemoryFederation } from '../../node/chain/federation-memory.js';
import type { FederationChainClient } from '../../node/chain/federation-types.js';
import { type Clock, systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { watchForStall } from '../../node/services/round-abort.js';

/** Wall clock plus an offset (the twin's block time and the watcher's clock alike). */
class OffsetClock implements Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(ms, signal);
  }
}

const wallet = (i: number) => new Wallet(keccak256(toUtf8Bytes(`fedmesh/abort-watch/${i}`)));
const WINDOW_SEC = 2;

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

async function federation() {
  const clock = new OffsetClock();
  const fed = new InMemoryFederation(
    wallet(99).address,
    {
      initialModelHash: keccak256(toUtf8Bytes('initial')) as Hex32,
      committeeSize: 2,
      threshold: 2,
      inputDurationSec: WINDOW_SEC,
      finalizeDurationSec: WINDOW_SEC,
      cAlpha: cAlpha(1e-5),
    },
    { clock, label: `abort-watch-${Math.random()}` },
  );
  const admin = fed.client(wallet(99));
  for (const i of [0, 1, 2]) {
    await admin.addMember({ account: wallet(i).address, peerId: `peer-${i}`, metadataURI: '', epsilonCap: EPSILON_CAP_MAX });
  }
  return { fed, clock };
}

describe('watchForStall', () => {
  it('aborts once, after the deadline, by the first rank; the others see it and send nothing', async () => {
    const { fed, clock } = await federation();
    const opened = await fed.client(wallet(0)).openRound();
    const calls = [0, 1, 2].map(() => ({ n: 0 }));
    const log = createLogger('silent');
    const fates = await Promise.all(
      [0, 1, 2].map((i) =>
        watchForStall(
          { round: 1, finalizeDeadline: opened.finalizeDeadline, rank: i, staggerMs: 200, pollMs: 50 },
          { fed: counting(fed.client(wallet(i)), calls[i]!), clock, log },
          new AbortController().signal,
        ),
      ),
    );
    expect(fates[0]).toMatchObject({ status: 'aborted', bySelf: true });
    expect(fates[1]).toEqual({ status: 'aborted', bySelf: false });
    expect(fates[2]).toEqual({ status: 'aborted', bySelf: false });
    expect(calls.map((c) => c.n)).toEqual([1, 0, 0]);
    // Not before the deadline (block time is this clock, in whole seconds).
    expect(clock.now()).toBeGreaterThan((opened.finalizeDeadline + 1) * 1000 - 1);
    expect((await fed.client(wallet(2)).getRound(1))?.status).toBe('aborted');
    // The next round opens.
    expect((await fed.client(wallet(1)).openRound()).round).toBe(2);
  }, 20_000);

  it('leaves a round finalized in time alone, and stops on its signal', async () => {
    const { fed, clock } = await federation();
    const opened = await fed.client(wallet(0)).openRound();
    const head = await fed.client(wallet(0)).headModelHash();
    const record = canonicalRoundRecord({
      round: 1,
      prevModelHash: head,
      modelHash: keccak256(toUtf8Bytes('model-1')) as Hex32,
      aggregateHash: keccak256(toUtf8Bytes('aggregate-1')) as Hex32,
      participants: [0, 1, 2].map((i) => ({ member: wallet(i).address, bucket: 0, spend: 0n, dpParams: NO_DP_PARAMS })),
      dropped: [],
    });
    const committee = opened.committee.map((a) => [0, 1, 2].find((i) => wallet(i).address === a)!);
    const signatures = await Promise.all(committee.map((i) => fed.client(wallet(i)).signRecord(record)));
    await fed.client(wallet(committee[0]!)).finalizeRound(record, signatures);

    const calls = { n: 0 };
    const fate = await watchForStall(
      { round: 1, finalizeDeadline: opened.finalizeDeadline, rank: 0, pollMs: 50 },
      { fed: counting(fed.client(wallet(2)), calls), clock, log: createLogger('silent') },
      new AbortController().signal,
    );
    expect(fate).toEqual({ status: 'finalized' });
    expect(calls.n).toBe(0);

    // A watcher whose round is settled elsewhere is stopped by its signal before the deadline.
    const round2 = await fed.client(wallet(1)).openRound();
    const stop = new AbortController();
    const watching = watchForStall(
      { round: 2, finalizeDeadline: round2.finalizeDeadline, rank: 0 },
      { fed: fed.client(wallet(1)), clock, log: createLogger('silent') },
      stop.signal,
    );
    stop.abort(new Error('round finalized'));
    await expect(watching).rejects.toThrow('round finalized');
    expect((await fed.client(wallet(2)).getRound(2))?.status).toBe('open');
  }, 20_000);
});
