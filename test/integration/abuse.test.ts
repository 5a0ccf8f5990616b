/**
 * Abuse resistance over real libp2p on loopback (issue #9 §6; docs/threat-model.md):
 * - a non-member that connects and publishes on federation topics has no effect: a node that
 *   knows the member list graylists it from the start (P5), a node that does not yet know it
 *   REJECTs its messages (PEER_NOT_MEMBER) and scores it down through P4;
 * - oversized messages are dropped before decoding: just over the message limit they reach
 *   the validator and are REJECTed for size (not for the garbage they contain); over the RPC
 *   frame limit gossipsub's stream decoder drops them before protobuf decoding;
 * - a member that sends a second, different masked input for a round is REJECTed
 *   (UPDATE_EQUIVOCATION), scored down, and both payloads' digests are logged as evidence.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hash256, toHex0x } from '../../protocol/bytes.js';
import { encodeChunk, PayloadType } from '../../protocol/messages/chunk.js';
import { MAX_GOSSIP_MESSAGE_BYTES } from '../../protocol/messages/limits.js';
import { encodeMaskedInput } from '../../protocol/messages/masked-input.js';
import type { ModelWeights } from '../../protocol/model.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { createLogger } from '../../node/logger.js';
import { createHost, dialAll, type Host, Libp2pGossip } from '../../node/net/libp2p-host.js';
import { FEDMESH_SCORE_THRESHOLDS } from '../../node/net/peer-scoring.js';
import { RoundInbox } from '../../node/services/round-inbox.js';

const FEDERATION = 'abuse';
const template: ModelWeights = { tensors: [{ shape: [3], data: new Float32Array(3) }] };
const base = hash256(new Uint8Array([1]));

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const maskedInput = (first: number): Uint8Array =>
  encodeMaskedInput({ baseModelHash: base, neighbours: [], masked: Uint32Array.from([first, 0, 2, 0, 3, 0, 4, 0]) }); // 3 params + n, Z_{2^64}

describe('abuse resistance over libp2p', () => {
  // a: honest member that tells scoring the member list; c: honest member whose scoring does
  // not know it (yet); b: a member that misbehaves; m: a non-member.
  let hosts: Record<'a' | 'b' | 'c' | 'm', Host>;
  let g: Record<'a' | 'b' | 'c' | 'm', Libp2pGossip>;
  let inboxA: RoundInbox;
  let inboxC: RoundInbox;
  const logLines: string[] = [];

  beforeAll(async () => {
    const [a, b, c, m] = await Promise.all([createHost(), createHost(), createHost(), createHost()]);
    hosts = { a: a!, b: b!, c: c!, m: m! };
    g = { a: new Libp2pGossip(a!), b: new Libp2pGossip(b!), c: new Libp2pGossip(c!), m: new Libp2pGossip(m!) };
    const members = new Set([g.a.self, g.b.self, g.c.self]);
    const isMember = (p: string): boolean => members.has(p);
    g.a.setMembership(isMember);
    const log = createLogger('info', { node: 'a' }, { write: (s: string) => logLines.push(s) } as unknown as NodeJS.WritableStream);
    const inboxInit = {
      federation: FEDERATION,
      isMember,
      isCommittee: () => true,
      template,
      expectedBase: () => base,
      modelHash,
    };
    inboxA = new RoundInbox(g.a, { ...inboxInit, log });
    inboxC = new RoundInbox(g.c, inboxInit);
    inboxA.start();
    inboxC.start();
    // b and m only publish; they subscribe so that the topic mesh includes them.
    for (const x of [g.b, g.m])
      x.subscribe(
        inboxA.updateTopic,
        () => ({ action: 'accept', code: 'OK' }),
        () => {},
      );
    const addr = (h: Host): string[] => h.getMultiaddrs().map(String).slice(0, 1);
    await dialAll(hosts.b, [...addr(hosts.a), ...addr(hosts.c)]);
    await dialAll(hosts.m, [...addr(hosts.a), ...addr(hosts.c)]);
    await until('b and m see a and c subscribed', () =>
      [g.b, g.m].every((x) => x.subscribers(inboxA.updateTopic).includes(g.a.self) && x.subscribers(inboxA.updateTopic).includes(g.c.self)),
    );
  });

  afterAll(async () => {
    inboxA?.stop();
    inboxC?.stop();
    await Promise.all(Object.values(hosts ?? {}).map((h) => h.stop()));
  });

  const chunkOf = (sender: string, payload: Uint8Array, federation = FEDERATION): Uint8Array =>
    encodeChunk({
      type: PayloadType.MaskedInput,
      federation,
      round: 1,
      sender,
      payloadHash: hash256(payload),
      payloadLength: payload.length,
      chunkIndex: 0,
      chunkCount: 1,
      data: payload,
    });

  it('a non-member publishing on federation topics has no effect and is scored down', async () => {
    // a knows the member list: m starts below the graylist threshold, so its RPCs are dropped
    // before validation.
    await until('a scores m at the graylist', () => g.a.score(g.m.self) <= FEDMESH_SCORE_THRESHOLDS.graylistThreshold);
    for (let i = 0; i < 3; i++) await g.m.publish(inboxA.updateTopic, chunkOf(g.m.self, maskedInput(100 + i)));
    // c does not know the member list for scoring: it validates, REJECTs, and P4 scores m down.
    await until('c rejects m three times', () => g.c.verdicts.get('reject:PEER_NOT_MEMBER') === 3);
    await until('c scores m below 0', () => g.c.score(g.m.self) < 0);
    expect(inboxC.maskedInputsFor(1).size).toBe(0);
    expect(inboxA.maskedInputsFor(1).size).toBe(0);
    // a never ran its validator on m's messages (graylisted before validation).
    expect(g.a.verdicts.get('reject:PEER_NOT_MEMBER')).toBeUndefined();
    expect(g.a.score(g.m.self)).toBeLessThanOrEqual(FEDMESH_SCORE_THRESHOLDS.graylistThreshold);
  });

  it('a member’s second, different masked input is rejected, scored down and logged as evidence', async () => {
    const first = maskedInput(7);
    const second = maskedInput(8);
    await g.b.publish(inboxA.updateTopic, chunkOf(g.b.self, first));
    await until('a holds b’s first input', () => inboxA.maskedInputsFor(1).has(g.b.self));
    expect(g.a.score(g.b.self)).toBeGreaterThanOrEqual(0);
    await g.b.publish(inboxA.updateTopic, chunkOf(g.b.self, second));
    await until('a rejects the second input', () => g.a.verdicts.get('reject:UPDATE_EQUIVOCATION') === 1);
    // The first input stands.
    expect(inboxA.maskedInputsFor(1).get(g.b.self)?.payloadHash).toEqual(hash256(first));
    await until('a scores b below 0', () => g.a.score(g.b.self) < 0);

    const records = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.event === 'equivocation');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      level: 40,
      node: 'a',
      kind: 'masked-input',
      round: 1,
      sender: g.b.self,
      first: { sha256: toHex0x(hash256(first)).slice(2), bytes: first.length },
      second: { sha256: toHex0x(hash256(second)).slice(2), bytes: second.length },
    });
    expect(inboxA.evidence).toHaveLength(1);
  });

  it('an oversized message is rejected for its size, before decoding, and its sender scored down', async () => {
    const before = g.c.score(g.b.self);
    // Just over the message limit, and garbage: the verdict names the size, not a decoding error.
    const big = new Uint8Array(MAX_GOSSIP_MESSAGE_BYTES + 1).fill(0xee);
    await g.b.publish(inboxA.updateTopic, big);
    await until(
      'a and c reject it for size',
      () => g.a.verdicts.get('reject:MSG_TOO_LARGE') === 1 && g.c.verdicts.get('reject:MSG_TOO_LARGE') === 1,
    );
    await until('c scores b down', () => g.c.score(g.b.self) < Math.min(0, before));
    expect([...g.a.verdicts.keys()].some((k) => k.startsWith('reject:MSG_TRUNCATED') || k.startsWith('reject:MSG_BAD_TYPE'))).toBe(false);
  });

  it('a message over the RPC frame limit never reaches a validator', async () => {
    const counts = (): number => [...g.c.verdicts.values()].reduce((s, n) => s + n, 0);
    const seen = counts();
    // 2 MiB: over gossipsub's maxInboundDataLength (1 MiB + 64 KiB), so c's stream decoder drops
    // the frame before protobuf decoding. b's publish itself may fail once c drops the stream.
    await g.b.publish(inboxA.updateTopic, new Uint8Array(2 * MAX_GOSSIP_MESSAGE_BYTES).fill(1)).catch(() => {});
    // A small message from m (a non-member, REJECTed by c) after it shows c is still validating.
    await g.m.publish(inboxA.updateTopic, chunkOf(g.m.self, maskedInput(200))).catch(() => {});
    await until('c validates m’s next message', () => g.c.verdicts.get('reject:PEER_NOT_MEMBER') === 4);
    expect(counts()).toBe(seen + 1);
    expect(g.c.verdicts.get('reject:MSG_TOO_LARGE')).toBe(1);
  });
});
