/**
 * Round start cost (issue #13): how many *sequential* chain round trips a peer pays in
 * `RoundOpener.open` before it can advertise its keys. Under load every round trip waits behind
 * the whole event loop (64 peers on 2 cores: seconds each), so the count of dependent reads, not
 * their number, sets how late a peer starts. Counted on FedmeshFederation's bytecode (in-process
 * Hardhat) by wrapping the provider every client talks through: a "wave" starts when an
 * `eth_call` is sent after another `eth_call` has answered; calls sent before any answer (one
 * `Promise.all`) share a wave.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import type { ModelWeights } from '../../protocol/model.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { createLogger } from '../../node/logger.js';
import { RoundOpener } from '../../node/services/round-opener.js';
import { type FederationHarness, openRoundAsPeers, startFederation } from '../contracts/federation-harness.js';

const WINDOW_SEC = 60;
const MEMBERS = 8;
const peerId = (i: number) => `peer-${i}`;
const template: ModelWeights = { tensors: [{ shape: [2], data: new Float32Array([0.5, -0.5]) }] };

interface Sender {
  send(method: string, params?: unknown[]): Promise<unknown>;
}

/** Counts eth_call waves (see the header) and every request sent, until `stop()`. */
function countWaves(provider: Sender): { readonly waves: () => number; readonly calls: () => number; stop(): void } {
  const original = provider.send;
  let waves = 0;
  let calls = 0;
  let answeredSinceWave = true;
  provider.send = function (this: Sender, method: string, params?: unknown[]) {
    const p = original.call(this, method, params);
    if (method === 'eth_call') {
      calls++;
      if (answeredSinceWave) {
        waves++;
        answeredSinceWave = false;
      }
      const answered = (): void => {
        answeredSinceWave = true;
      };
      p.then(answered, answered);
    }
    return p;
  };
  return {
    waves: () => waves,
    calls: () => calls,
    stop: () => {
      provider.send = original;
    },
  };
}

let h: FederationHarness;
beforeAll(async () => {
  h = await startFederation(
    toHex0x(modelHash(template)),
    Array.from({ length: MEMBERS }, (_, i) => ({ signer: i + 1, peerId: peerId(i + 1) })),
    { params: { inputDurationSec: WINDOW_SEC, finalizeDurationSec: WINDOW_SEC } },
  );
});
beforeEach(async () => {
  await h.reset();
});
afterAll(async () => {
  await h?.reset();
});

const hardhatProvider = (): Sender => h.chain.hre.network.provider as unknown as Sender;

describe('round start reads (RoundOpener.open)', () => {
  it('a peer joining a round another member opened pays 2 dependent round trips (13 before for 8 members), a returning peer 2 (5 before)', async () => {
    const committee1 = await openRoundAsPeers(h);
    const fed = h.client(2);
    const opener = new RoundOpener(fed, createLogger('silent'));
    // The lens address is read once per client (cached): not part of a round's cost.
    await fed.registryLens();
    const first = countWaves(hardhatProvider());
    try {
      expect(await opener.open(1)).toEqual(committee1);
    } finally {
      first.stop();
    }
    // Round state, registry version, active list in one wave; the snapshot's active list and every
    // unknown member's registration in the next. Before: currentRound, getRound, memberInfoVersion,
    // activeMembers, one getMember per member, activeMembersAt, one after the other (5 + n).
    expect(first.calls()).toBeGreaterThanOrEqual(3 + MEMBERS);
    expect(first.waves()).toBeLessThanOrEqual(2);

    // Round 2, nothing changed in the registry: peer ids come from the cache (memberInfoVersion).
    await h.advance(2 * WINDOW_SEC + 1);
    await h.client(1).abortRound();
    const committee2 = await openRoundAsPeers(h);
    const second = countWaves(hardhatProvider());
    try {
      expect(await opener.open(2)).toEqual(committee2);
    } finally {
      second.stop();
    }
    expect(second.calls()).toBeLessThanOrEqual(4);
    expect(second.waves()).toBeLessThanOrEqual(2);
  });
});
