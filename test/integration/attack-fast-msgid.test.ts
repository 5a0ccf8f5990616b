/**
 * Red team (H-red), open item: gossipsub's `fastMsgIdFn` (node/net/libp2p-host.ts) as a
 * censorship tool, on real libp2p over 127.0.0.1.
 *
 * The fast id is SHA-256(raw `from` ‖ `data`) read from the RPC before the author's Ed25519
 * signature is checked; a copy whose fast id is cached is dropped as a duplicate without
 * verification. The comment in createHost claims that (a) equal fast ids mean equal msgIds,
 * so a copy dropped by the fast id is one the seen-cache would have dropped after verifying it,
 * and (b) a forged copy that arrives first fails verification and caches nothing.
 *
 * Attack: a member X (the network, or a mesh neighbour that saw the author's message on another
 * path first) sends the victim V, before the honest author A's message reaches it, copies with
 * A's `from` and the exact `data` but every field the signature binds broken: a random
 * signature, X's own signature, X's key in the `key` field, A's genuine signature with another
 * seqno or another topic, a short seqno, no signature. If any of them put the fast id in V's
 * cache, A's real message would then be dropped as a "duplicate" at V (censorship of A by X).
 * The test asserts the honest message is still delivered, once, and that every forged copy was
 * judged invalid (not a duplicate), so it fails if the fast id ever caches before verification.
 */
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys';
import { RPC } from '@libp2p/gossipsub/message';
import type { PrivateKey } from '@libp2p/interface';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHost, dialAll, type Host, Libp2pGossip } from '../../node/net/libp2p-host.js';

const TOPIC = '/fedmesh/attack-fastid/secagg/1';
const OTHER_TOPIC = '/fedmesh/attack-fastid/finalize/1';
/** libp2p pubsub signs "libp2p-pubsub:" ‖ protobuf(Message without signature and key). */
const SIGN_PREFIX = new TextEncoder().encode('libp2p-pubsub:');

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The wire form of one pubsub message (RPC.Message), as an attacker writes it. */
interface RawMessage {
  from?: Uint8Array;
  data?: Uint8Array;
  seqno?: Uint8Array;
  topic: string;
  signature?: Uint8Array;
  key?: Uint8Array;
}

async function sign(key: PrivateKey, m: RawMessage): Promise<Uint8Array> {
  const body = RPC.Message.encode({ from: m.from, data: m.data, seqno: m.seqno, topic: m.topic });
  const bytes = new Uint8Array(SIGN_PREFIX.length + body.length);
  bytes.set(SIGN_PREFIX);
  bytes.set(body, SIGN_PREFIX.length);
  return key.sign(bytes);
}

const seqno = (n: number): Uint8Array => {
  const s = new Uint8Array(8);
  new DataView(s.buffer).setBigUint64(0, BigInt(n), false);
  return s;
};

/** gossipsub internals the attack and the observation use (present at runtime, not in the types). */
interface PubsubInternals {
  sendRpc(peer: string, rpc: { subscriptions: never[]; messages: RawMessage[] }): boolean;
  validateReceivedMessage(source: { toString(): string }, rpc: RawMessage): Promise<{ code: string }>;
}

describe('attack: forged copies of a message arriving before it (gossipsub fastMsgIdFn)', () => {
  let v: Host;
  let x: Host;
  let a: Host;
  let aKey: PrivateKey;
  let xKey: PrivateKey;
  let gv: Libp2pGossip;
  let gx: Libp2pGossip;
  let ga: Libp2pGossip;
  /** What V's gossipsub decided for every message it processed, by propagation source. */
  const judged: { source: string; code: string }[] = [];
  const delivered: { from: string; data: Uint8Array }[] = [];

  beforeAll(async () => {
    [aKey, xKey] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')]);
    [v, x, a] = await Promise.all([createHost(), createHost({ privateKey: xKey }), createHost({ privateKey: aKey })]);
    [gv, gx, ga] = [new Libp2pGossip(v), new Libp2pGossip(x), new Libp2pGossip(a)];
    // All three are members: the attacker is a member (a network attacker's copies would come
    // through a member's connection), so V's scoring does not graylist it up front.
    const members = new Set([gv.self, gx.self, ga.self]);
    for (const g of [gv, gx, ga]) g.setMembership((p) => members.has(p));
    const pv = v.services.pubsub as unknown as PubsubInternals;
    const validate = pv.validateReceivedMessage.bind(pv);
    pv.validateReceivedMessage = async (source, rpc) => {
      const r = await validate(source, rpc);
      judged.push({ source: source.toString(), code: String(r.code) });
      return r;
    };
    gv.subscribe(
      TOPIC,
      () => ({ action: 'accept', code: 'OK' }),
      (m) => delivered.push({ from: m.from, data: m.data }),
    );
    for (const g of [gx, ga])
      g.subscribe(
        TOPIC,
        () => ({ action: 'accept', code: 'OK' }),
        () => {},
      );
    // Only X is connected to V at first: its copies certainly arrive before A's message.
    await dialAll(x, v.getMultiaddrs().map(String).slice(0, 1));
    await until('X sees V subscribed', () => gx.subscribers(TOPIC).includes(gv.self));
  }, 120_000);

  afterAll(async () => {
    await Promise.all([v, x, a].filter((h) => h !== undefined).map((h) => h.stop()));
  });

  it('the honest message is delivered after forged copies with its from and data', async () => {
    const from = a.peerId.toMultihash().bytes;
    const data = new TextEncoder().encode('an honest secure-aggregation message of member A');
    const genuine: RawMessage = { from, data, seqno: seqno(1), topic: TOPIC };
    const genuineSig = await sign(aKey, genuine);
    const otherTopic: RawMessage = { from, data, seqno: seqno(2), topic: OTHER_TOPIC };
    const otherTopicSig = await sign(aKey, otherTopic);
    const xSig = await sign(xKey, genuine);
    const forged: RawMessage[] = [
      { ...genuine, signature: new Uint8Array(64).fill(7) }, // random signature
      { ...genuine, signature: xSig }, // the attacker's own signature over A's fields
      { ...genuine, signature: xSig, key: publicKeyToProtobuf(xKey.publicKey) }, // attacker's key in `key`
      { ...genuine, seqno: seqno(99), signature: genuineSig }, // A's signature, another seqno
      { ...otherTopic, topic: TOPIC, signature: otherTopicSig }, // A's signature for another topic
      { ...genuine, seqno: new Uint8Array(7), signature: genuineSig }, // malformed seqno
      { from, data, seqno: seqno(1), topic: TOPIC }, // no signature
    ];
    const pxInternals = x.services.pubsub as unknown as PubsubInternals;
    // One RPC: V checks the graylist once per RPC, so every copy is processed.
    expect(pxInternals.sendRpc(gv.self, { subscriptions: [], messages: forged })).toBe(true);
    await until('V judged every forged copy', () => judged.filter((j) => j.source === gx.self).length === forged.length);
    // Each forged copy failed verification on its own: none was taken for a duplicate of an
    // earlier one (which would mean the first one's fast id had been cached).
    expect(judged.filter((j) => j.source === gx.self).map((j) => j.code)).toEqual(forged.map(() => 'invalid'));
    expect(delivered).toHaveLength(0);

    // Now A's honest message arrives (A publishes as any node does; new seqno, same from and data).
    await dialAll(a, v.getMultiaddrs().map(String).slice(0, 1));
    await until('A sees V subscribed', () => ga.subscribers(TOPIC).includes(gv.self));
    await ga.publish(TOPIC, data);
    await until('V delivers A’s message', () => delivered.length > 0);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.from).toBe(ga.self);
    expect(new Uint8Array(delivered[0]!.data)).toEqual(data);
    expect(judged.filter((j) => j.source === ga.self).map((j) => j.code)).toEqual(['valid']);
  }, 120_000);

  it('a copy of the validated message is then dropped by the fast id (the optimisation still works)', async () => {
    // Control: the genuine message, replayed byte for byte by A (a second mesh path), is a
    // duplicate at V and is not delivered again.
    const from = a.peerId.toMultihash().bytes;
    const data = new TextEncoder().encode('an honest secure-aggregation message of member A');
    const replay: RawMessage = { from, data, seqno: seqno(5), topic: TOPIC };
    replay.signature = await sign(aKey, replay);
    const before = judged.filter((j) => j.source === ga.self).length;
    const pa = a.services.pubsub as unknown as PubsubInternals;
    expect(pa.sendRpc(gv.self, { subscriptions: [], messages: [replay] })).toBe(true);
    await until('V judged the replay', () => judged.filter((j) => j.source === ga.self).length === before + 1);
    expect(judged.filter((j) => j.source === ga.self).at(-1)!.code).toBe('duplicate');
    expect(delivered).toHaveLength(1);
  }, 120_000);
});
