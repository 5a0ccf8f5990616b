/**
 * A late second finalize (issue #9 §4, "a late finalize transaction from a second committee
 * member after the first succeeded is handled without error noise"), with the federation
 * recorder over the in-memory gossip and FedmeshFederation's bytecode on the in-process Hardhat
 * network.
 *
 * Position 0 finalizes as soon as it holds t = 2 signatures. Position 1's view of the chain
 * lags (its RPC node reports RoundFinalized 8 s late), so at its turn it still believes the round
 * open and sends its own finalizeRound, which the contract refuses (the round is no longer
 * open). Position 1 must then read the winner's record, return it as not recorded by itself, and
 * log nothing above debug.
 */
import { keccak256, toUtf8Bytes } from 'ethers';
import { afterAll, describe, expect, it } from 'vitest';
import { NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { participantEntry } from '../../protocol/chain/participant-entry.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import type { FederationChainClient, FinalizedRound } from '../../node/chain/federation-types.js';
import { systemClock } from '../../node/clock.js';
import type { Logger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { FederationRecorder } from '../../node/services/federation-recorder.js';
import { RoundOpener } from '../../node/services/round-opener.js';
import { type FederationHarness, startFederation } from '../contracts/federation-harness.js';

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
const LAG_MS = 8000;
const SIGNERS = [1, 2, 3];

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

let h: FederationHarness | undefined;
afterAll(async () => {
  await h?.reset();
});

describe('a late second finalizeRound', () => {
  it('is refused by the contract and handled by the late member without error noise', async () => {
    const initial = hash('initial');
    const peerId = (i: number) => `peer-${i}`;
    const fed = await startFederation(
      initial,
      SIGNERS.map((signer) => ({ signer, peerId: peerId(signer) })),
    );
    h = fed;
    await fed.client(1).openRound();

    const logs: Entry[] = [];
    const hub = new MemoryGossipHub();
    const members = SIGNERS.map(peerId);
    const recorders = await Promise.all(
      SIGNERS.map(async (i) => {
        const client = fed.client(i);
        const opener = new RoundOpener(client, recordingLogger(logs, { peer: i }));
        const committee = await opener.open(1);
        const position = committee.indexOf(peerId(i));
        // Position 1 is the member whose chain view lags.
        const chain = position === 1 ? lagging(client, LAG_MS) : client;
        const recorder = new FederationRecorder(
          { federation: 'late-finalize', members, threshold: 2 },
          {
            self: peerId(i),
            gossip: hub.join(peerId(i)),
            fed: chain,
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

    // Every contributor signed its own participant entry (no DP: no spend), as in its submission.
    const declarations = new Map(
      await Promise.all(
        SIGNERS.map(async (i) => {
          const entry = participantEntry(1, fed.account(i), NO_DP_PARAMS);
          return [peerId(i), { dpParams: NO_DP_PARAMS, entrySignature: await fed.client(i).signParticipantEntry(entry) }] as const;
        }),
      ),
    );
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
      declarations,
    });
    const signal = new AbortController().signal;
    const [first, late] = await Promise.all([
      byPosition(0).recorder.record(request(0), signal),
      byPosition(1).recorder.record(request(1), signal),
    ]);

    expect(first.recorded).toBe(true);
    expect(late.recorded).toBe(false);
    expect(late.record).toEqual(first.record);
    const onChain = await fed.client(3).getFinalizedRound(1);
    expect(onChain?.txHash).toBe(first.record.txHash);
    // The late member did send its transaction (it lost), and said so only at debug level.
    expect(logs.some((e) => e.level === 'debug' && e.msg === 'finalizeRound lost the race')).toBe(true);
    expect(logs.filter((e) => e.level === 'warn' || e.level === 'error')).toEqual([]);
    for (const r of recorders) r.recorder.stop();
  }, 30_000);
});
