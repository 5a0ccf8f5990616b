/**
 * Red team (H-red), open item 2: a peer-scoring claim no test showed. docs/threat-model.md, "Peer
 * scoring": `retainScore` 1 h — "a penalised peer cannot reset its score by reconnecting". On real
 * libp2p over 127.0.0.1: a member B delivers 80 invalid messages to A in one RPC (P4: invalid
 * deliveries, −4 × count²), so A graylists it; B hangs up and dials A again, as a misbehaving
 * node would to start afresh, after A's score refresh ran while it was away (a record that is not
 * retained is deleted there). A must still score it below the graylist threshold and drop a valid
 * message B publishes after reconnecting before validation. Power: with retainScore 0 (scratch
 * mutation) the score is back to 0 after the reconnect and the test fails.
 * (P4 decays 5 % a second: 80 deliveries stay below the graylist threshold for ~56 s, far longer
 * than a reconnect takes even at load 20.)
 */
import type { RPC } from '@libp2p/gossipsub/message';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHost, dialAll, type Host, Libp2pGossip } from '../../node/net/libp2p-host.js';
import { FEDMESH_SCORE_THRESHOLDS } from '../../node/net/peer-scoring.js';

const TOPIC = '/fedmesh/attack-reconnect/secagg/1';

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface PubsubInternals {
  sendRpc(peer: string, rpc: { subscriptions: never[]; messages: RPC.Message[] }): boolean;
  /** gossipsub's per-RPC graylist check (false: the RPC is dropped before validation). */
  acceptFrom(peer: string): boolean;
  handleReceivedRpc(from: { toString(): string }, rpc: { messages: RPC.Message[] }): Promise<void>;
}

describe('attack: reconnecting to shed a bad gossipsub score (retainScore)', () => {
  let a: Host;
  let b: Host;
  let ga: Libp2pGossip;
  let gb: Libp2pGossip;
  const delivered: string[] = [];
  /** A's graylist decision on each RPC of B that carried a message, with the messages' texts. */
  const rpcsFromB: { accepted: boolean; texts: string[] }[] = [];

  beforeAll(async () => {
    [a, b] = await Promise.all([createHost(), createHost()]);
    [ga, gb] = [new Libp2pGossip(a), new Libp2pGossip(b)];
    const pa = a.services.pubsub as unknown as PubsubInternals;
    const handle = pa.handleReceivedRpc.bind(pa);
    pa.handleReceivedRpc = async (from, rpc) => {
      if (from.toString() === b.peerId.toString() && rpc.messages.length > 0)
        rpcsFromB.push({ accepted: pa.acceptFrom(from.toString()), texts: rpc.messages.map((m) => new TextDecoder().decode(m.data)) });
      await handle(from, rpc);
    };
    const members = new Set([ga.self, gb.self]);
    for (const g of [ga, gb]) g.setMembership((p) => members.has(p));
    ga.subscribe(
      TOPIC,
      () => ({ action: 'accept', code: 'OK' }),
      (m) => delivered.push(new TextDecoder().decode(m.data)),
    );
    gb.subscribe(
      TOPIC,
      () => ({ action: 'accept', code: 'OK' }),
      () => {},
    );
    await dialAll(b, a.getMultiaddrs().map(String).slice(0, 1));
    await until('B sees A subscribed', () => gb.subscribers(TOPIC).includes(ga.self));
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a, b].filter((h) => h !== undefined).map((h) => h.stop()));
  });

  it('a graylisted member that hangs up and dials again is still graylisted', async () => {
    // Control first: a valid message from B is delivered while its score is clean.
    await gb.publish(TOPIC, new TextEncoder().encode('before'));
    await until('A delivers B’s first message', () => delivered.includes('before'));

    const from = b.peerId.toMultihash().bytes;
    const bad: RPC.Message[] = Array.from({ length: 80 }, (_, i) => {
      const seqno = new Uint8Array(8);
      new DataView(seqno.buffer).setBigUint64(0, BigInt(1000 + i), false);
      return { from, data: new TextEncoder().encode(`junk-${i}`), seqno, topic: TOPIC, signature: new Uint8Array(64).fill(1) };
    });
    expect((b.services.pubsub as unknown as PubsubInternals).sendRpc(ga.self, { subscriptions: [], messages: bad })).toBe(true);
    await until('A graylists B', () => ga.score(gb.self) < FEDMESH_SCORE_THRESHOLDS.graylistThreshold);

    // B hangs up and comes back.
    await b.hangUp(a.peerId);
    await until('A sees B gone', () => a.getConnections(b.peerId).length === 0);
    // Let A's score refresh (every decayInterval = 1 s) run at least once while B is away: it
    // decays a retained record, and would delete one that is not retained (score back to 0).
    const away = ga.score(gb.self);
    await until('A refreshed its scores while B was away', () => ga.score(gb.self) !== away);
    await dialAll(b, a.getMultiaddrs().map(String).slice(0, 1));
    await until('B sees A subscribed again', () => gb.subscribers(TOPIC).includes(ga.self));
    expect(ga.score(gb.self)).toBeLessThan(FEDMESH_SCORE_THRESHOLDS.graylistThreshold);

    // A valid message from B after the reconnect is dropped before validation (graylisted RPC).
    await gb.publish(TOPIC, new TextEncoder().encode('after'));
    await until('A received B’s message after the reconnect', () => rpcsFromB.some((r) => r.texts.includes('after')));
    expect(rpcsFromB.filter((r) => r.texts.includes('after')).map((r) => r.accepted)).toEqual([false]);
    expect(rpcsFromB.filter((r) => r.texts.includes('before')).map((r) => r.accepted)).toEqual([true]);
    expect(delivered).not.toContain('after');
  }, 120_000);
});
