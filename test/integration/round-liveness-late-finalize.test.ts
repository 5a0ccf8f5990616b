/**
 * A late second finalize (issue #9 §4, "a late finalize transaction from a second committee
 * member after the first succeeded is handled without error noise"), with the federation
 * recorder over the in-memory gossip and the in-memory twin of FedmeshFederation.
 *
 * Position 0 finalizes as soon as it holds t = 2 signatures. Position 1's view of the chain
 * lags (its RPC node reports RoundFinalized 8 s late), so at its turn it still believes the round
 * open and sends its own finalizeRound, which the contract refuses (the round is no longer
 * open). Position 1 must then read the winner's record, return it as not recorded by itself, and
 * log nothing above debug.
 */
import { keccak256, toUtf8Bytes, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { cAlpha, EPSILON_CAP_MAX } from '../../protocol/chain/budget.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import { InMemoryFederation } from '../../node/chain/federation-memory.js';
import type { FederationChainClient, FinalizedRound } from '../../node/chain/federation-types.js';
import { systemClock } from '../../node/clock.js';
import type { Logger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { FederationRecorder } from '../../node/services/federation-recorder.js';
import { RoundOpener } from '../../node/services/round-opener.js';

interface Entry {
  readonly level: string;
  readonly msg: string;
  readonly obj: Record<string, unknown>;
}

function recordingLogger(entries: Entry[], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: string) =>
    (obj: Record<string, unknown>, msg: string): void => {
      entries.push({ level, msg, obj: { ...bindings, ...obj } });
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (b) => recordingLogger(entries, { ...bindings, ...b }),
  };
}

const hash = (s: string) => keccak256(toUtf8Bytes(s)) as Hex32;
const wallet = (i: number) => new Wallet(keccak256(toUtf8Bytes(`fedmesh/late-finalize/${i}`)));
const LAG_MS = 8000;

/** The same client, but its RPC node learns of RoundFinalized `lagMs` late. */
function lagging(inner: FederationChainClient, lagMs: number): FederationChainClient {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'waitForRoundFinalized') {
        return async (round: number, timeoutMs: number): Promise<FinalizedRound> => {
          await systemClock.sleep(lagMs);
          return target.waitForRoundFinalized(round, timeoutMs);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('a late second finalizeRound', () => {
  it('is refused by the contract and handled by the late member without error noise', async () => {
    const initial = hash('initial');
    const federation = new InMemoryFederation(
      wallet(99).address,
      { initialModelHash: initial, committeeSize: 3, threshold: 2, inputDurationSec: 60, finalizeDurationSec: 60, cAlpha: cAlpha(1e-5) },
      { label: 'late-finalize' },
    );
    const admin = federation.client(wallet(99));
    const peerId = (i: number) => `peer-${i}`;
    for (const i of [0, 1, 2]) {
      await admin.addMember({ account: wallet(i).address, peerId: peerId(i), metadataURI: '', epsilonCap: EPSILON_CAP_MAX });
    }
    await federation.client(wallet(0)).openRound();

    const logs: Entry[] = [];
    const hub = new MemoryGossipHub();
    const members = [0, 1, 2].map(peerId);
    const recorders = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const client = federation.client(wallet(i));
        const opener = new RoundOpener(client, recordingLogger(logs, { peer: i }));
        const committee = await opener.open(1);
        const position = committee.indexOf(peerId(i));
        // Position 1 is the member whose chain view lags.
        const fed = position === 1 ? lagging(client, LAG_MS) : client;
        const recorder = new FederationRecorder(
          { federation: 'late-finalize', members, threshold: 2 },
          {
            self: peerId(i),
            gossip: hub.join(peerId(i)),
            fed,
            committeeOf: (r) => opener.committeeOf(r),
            addressOf: (p) => opener.addressOf(p),
            clock: systemClock,
            log: recordingLogger(logs, { peer: i }),
          },
        );
        recorder.start();
        return { recorder, position };
      }),
    );
    const byPosition = (k: number) => recorders.find((r) => r.position === k)!;

    const now = Date.now();
    const request = (position: number) => ({
      round: 1,
      position,
      // Position 1's turn comes 1.5 s in: well after position 0's finalize, well before its
      // lagging view reports it.
      turnAt: now + position * 1500,
      prevModelHash: initial,
      modelHash: hash('model-1'),
      aggregateHash: hash('aggregate-1'),
      contributors: members,
    });
    const signal = new AbortController().signal;
    const [first, late] = await Promise.all([
      byPosition(0).recorder.record(request(0), signal),
      byPosition(1).recorder.record(request(1), signal),
    ]);

    expect(first.recorded).toBe(true);
    expect(late.recorded).toBe(false);
    expect(late.record).toEqual(first.record);
    const onChain = await federation.client(wallet(2)).getFinalizedRound(1);
    expect(onChain?.txHash).toBe(first.record.txHash);
    // The late member did send its transaction (it lost), and said so only at debug level.
    expect(logs.some((e) => e.level === 'debug' && e.msg === 'finalizeRound lost the race')).toBe(true);
    expect(logs.filter((e) => e.level === 'warn' || e.level === 'error')).toEqual([]);
    for (const r of recorders) r.recorder.stop();
  }, 20_000);
});
