/**
 * The prekey service (node/services/secagg-prekeys.ts) over the in-memory gossip twin: members
 * publish signed bundles W rounds ahead and learn each other's; bad bundles get typed verdicts
 * (wrong deployment, non-member, another member's bundle, equivocation — the first key stands and
 * evidence is kept — stale); secrets are durable before they are published, leave the store when
 * their round opens, and are erased when rounds end; a restart never re-keys a published round;
 * late subscribers get the bundle again. The file store (node/services/secagg-prekey-store.ts)
 * is encrypted under the identity-derived key and holds exactly the unerased secrets.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gcm } from '@noble/ciphers/aes.js';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { seededEntropy } from '../../node/services/secagg-crypto.js';
import { FilePrekeyStore, MemoryPrekeyStore, prekeyStoreKey } from '../../node/services/secagg-prekey-store.js';
import { SecAggPrekeys } from '../../node/services/secagg-prekeys.js';
import { encodePrekeyBundle, prekeyTopic, signPrekeyBundle } from '../../protocol/secure-aggregation/prekeys.js';
import { codeOf, crypto, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const FED = 'fed';
const MEMBERS = ['peer-a', 'peer-b', 'peer-c'];

function federation(opts: { window?: number; binding?: (id: string) => Uint8Array } = {}) {
  const hub = new MemoryGossipHub();
  const stores = new Map<string, MemoryPrekeyStore>();
  const make = (id: string, store = new MemoryPrekeyStore()) => {
    stores.set(id, store);
    return new SecAggPrekeys(
      { federation: FED, binding: opts.binding?.(id) ?? TEST_BINDING, window: opts.window ?? 4, republishMs: 0 },
      {
        gossip: hub.join(id),
        crypto,
        entropy: seededEntropy(`prekey-service/${id}`),
        sign: testSign(id),
        verify: testVerify,
        isMember: (p) => MEMBERS.includes(p),
        store,
      },
    );
  };
  const peers = MEMBERS.map((id) => make(id));
  for (const p of peers) p.start();
  return { hub, peers, stores, make };
}

describe('prekey service: publish and learn', () => {
  it('every member learns every other member’s keys for its window; the keys match the secrets it keeps', async () => {
    const { hub, peers, stores } = federation();
    await Promise.all(peers.map((p) => p.topUp(1)));
    await hub.settle();
    for (const p of peers) {
      expect(p.heldRounds()).toEqual([1, 2, 3, 4]);
      for (const q of peers) {
        for (let r = 1; r <= 4; r++) {
          const secret = stores.get(q.self)!.load().secrets.get(r)!;
          expect(p.keyFor(q.self, r)).toEqual(crypto.x25519.publicKey(secret));
        }
        expect(p.keyFor(q.self, 5)).toBeUndefined();
      }
      expect(p.verdicts.get('accept:OK')).toBe(2);
    }
  });

  it('a round that opens takes its pair out of the store, erases every earlier round, and tops the window up', async () => {
    const { hub, peers, stores } = federation();
    await Promise.all(peers.map((p) => p.topUp(1)));
    await hub.settle();
    const [a, b] = peers as [SecAggPrekeys, SecAggPrekeys];
    const published = b.keyFor('peer-a', 3)!;
    const pair = await a.roundOpened(3);
    await hub.settle();
    expect(pair!.publicKey).toEqual(published);
    expect(crypto.x25519.publicKey(pair!.secretKey)).toEqual(published);
    // Round 3's secret and rounds 1–2 are gone from the member and its store; 4–7 (W = 4) are there.
    expect(a.heldRounds()).toEqual([4, 5, 6, 7]);
    expect([...stores.get('peer-a')!.load().secrets.keys()].sort()).toEqual([4, 5, 6, 7]);
    // The others learned the extension (rounds 5–7) with the same key for 4.
    expect(b.keyFor('peer-a', 7)).toEqual(a.keyFor('peer-a', 7));
    expect(b.verdicts.get('reject:PREKEY_EQUIVOCATION')).toBeUndefined();
    await expect(a.roundOpened(3)).resolves.toBeUndefined();
    a.endedThrough(5);
    expect(a.heldRounds()).toEqual([6, 7]);
    expect([...stores.get('peer-a')!.load().secrets.keys()].sort()).toEqual([6, 7]);
    b.endedThrough(5);
    expect(b.keyFor('peer-a', 5)).toBeUndefined();
  });

  it('a restarted member never generates a second key for a round it published (no self-equivocation)', async () => {
    const { hub, peers, stores, make } = federation();
    await Promise.all(peers.map((p) => p.topUp(1)));
    await hub.settle();
    const a = peers[0]!;
    const first = peers[1]!.keyFor('peer-a', 2);
    await a.roundOpened(2); // round 2's secret leaves the store
    a.stop();
    hub.leave('peer-a');
    const again = make('peer-a', stores.get('peer-a'));
    again.start();
    await again.topUp(1); // a confused caller asks from round 1 again
    await hub.settle();
    expect(again.heldRounds()).toEqual([3, 4, 5, 6]);
    expect(peers[1]!.keyFor('peer-a', 2)).toEqual(first);
    expect(peers[1]!.evidence).toEqual([]);
    expect([...peers[1]!.verdicts.keys()].filter((k) => k.startsWith('reject'))).toEqual([]);
  });

  it('a member whose store is behind the chain (lost, an old backup) starts a new key generation: receivers replace its keys, no equivocation (F25)', async () => {
    const { hub, peers, stores, make } = federation();
    await Promise.all(peers.map((p) => p.topUp(1))); // rounds 1–4 published, generation 0
    await hub.settle();
    const old3 = peers[1]!.keyFor('peer-a', 3);
    for (const p of peers) p.endedThrough(2);
    const oldBundle = encodePrekeyBundle(peers[0]!.bundle()!); // generation 0, rounds 3–4, signed by peer-a
    peers[0]!.stop();
    hub.leave('peer-a');
    const rebuilt = make('peer-a'); // same identity, empty store
    rebuilt.start();
    await rebuilt.topUp(3);
    await hub.settle();
    // Generation 2 (round 2 had closed), W = 4 keys from round 3: nothing skipped.
    expect(rebuilt.generation).toBe(2);
    expect(rebuilt.heldRounds()).toEqual([3, 4, 5, 6]);
    expect(stores.get('peer-a')!.load()).toMatchObject({ generatedThrough: 6, epoch: 2 });
    expect(peers[1]!.verdicts.get('reject:PREKEY_EQUIVOCATION')).toBeUndefined();
    expect(peers[1]!.directory.epochOf('peer-a')).toBe(2);
    expect(peers[1]!.keyFor('peer-a', 3)).not.toEqual(old3);
    for (const r of [3, 4, 5, 6]) expect(peers[1]!.keyFor('peer-a', r)).toEqual(rebuilt.keyFor('peer-a', r));
    // Round 3 opens: the member holds the key participants now seal to.
    const pair = await rebuilt.roundOpened(3);
    expect(pair?.publicKey).toEqual(peers[2]!.keyFor('peer-a', 3));
    expect(rebuilt.heldRounds()).toEqual([4, 5, 6, 7]);
    // The old generation's bundle, replayed by anyone, is IGNOREd and brings no lost key back.
    const replayed = peers[1]!.validate({ topic: rebuilt.topic, from: 'peer-a', data: oldBundle });
    expect(replayed).toMatchObject({ action: 'ignore', code: 'PREKEY_SUPERSEDED' });
    expect(peers[1]!.keyFor('peer-a', 4)).toEqual(rebuilt.keyFor('peer-a', 4));
    // Rounds the old generation may have keyed are remembered (≤ 2 + MAX_PREKEY_WINDOW + 1).
    expect(rebuilt.mayHoldStaleKey(4)).toBe(true);
    expect(rebuilt.mayHoldStaleKey(11)).toBe(true);
    expect(rebuilt.mayHoldStaleKey(12)).toBe(false);
  });

  it('a node that was away (store intact, behind the chain) re-keys but keeps the keys it still holds: shares sealed to them still open', async () => {
    const { hub, peers, stores, make } = federation();
    await peers[0]!.topUp(1); // rounds 1–4, generation 0
    await hub.settle();
    const held4 = peers[1]!.keyFor('peer-a', 4)!;
    peers[0]!.stop();
    hub.leave('peer-a');
    for (const p of peers.slice(1)) p.endedThrough(3); // rounds 1–3 closed while it was away
    const back = make('peer-a', stores.get('peer-a'));
    back.start();
    const pair = await back.roundOpened(4);
    await hub.settle();
    expect(back.generation).toBe(3);
    expect(pair?.publicKey).toEqual(held4); // the secret it held for round 4 is the one participants sealed to
    expect(peers[1]!.directory.epochOf('peer-a')).toBe(3);
    expect(peers[1]!.verdicts.get('reject:PREKEY_EQUIVOCATION')).toBeUndefined();
    expect(back.heldRounds()).toEqual([5, 6, 7, 8]);
    for (const r of [5, 6, 7, 8]) expect(peers[2]!.keyFor('peer-a', r)).toEqual(back.keyFor('peer-a', r));
  });

  it('a store in use restarted between rounds does not skip', async () => {
    const { hub, peers, stores, make } = federation();
    await peers[0]!.topUp(1);
    await peers[0]!.roundOpened(1);
    await peers[0]!.roundOpened(2); // keys 3–6 held
    peers[0]!.stop();
    hub.leave('peer-a');
    const again = make('peer-a', stores.get('peer-a'));
    again.start();
    expect((await again.roundOpened(3))?.publicKey).toBeDefined();
    expect(again.heldRounds()).toEqual([4, 5, 6, 7]);
  });

  it('publishes again for a subscriber that joined after the bundle went out', async () => {
    const { hub, peers, make } = federation();
    await peers[0]!.topUp(1);
    await hub.settle();
    MEMBERS.push('peer-d');
    try {
      const late = make('peer-d');
      late.start();
      expect(late.keyFor('peer-a', 1)).toBeUndefined();
      await peers[0]!.announceToNewSubscribers();
      await hub.settle();
      expect(late.keyFor('peer-a', 1)).toEqual(peers[1]!.keyFor('peer-a', 1));
      // Nothing new for the others: IGNORE, no penalty.
      expect(peers[1]!.verdicts.get('ignore:PREKEY_DUPLICATE')).toBe(1);
    } finally {
      MEMBERS.pop();
    }
  });
});

describe('prekey service: verdicts on bad bundles', () => {
  it('another deployment’s bundle is REJECTed PREKEY_BAD_SIGNATURE and stores nothing', async () => {
    const other = TEST_BINDING.slice();
    other[0] = 9;
    const { hub, peers } = federation({ binding: (id) => (id === 'peer-a' ? other : TEST_BINDING) });
    await peers[0]!.topUp(1);
    await hub.settle();
    expect(peers[1]!.verdicts.get('reject:PREKEY_BAD_SIGNATURE')).toBe(1);
    expect(peers[1]!.keyFor('peer-a', 1)).toBeUndefined();
  });

  it('a non-member, a bundle sent by another member, and garbage are REJECTed with their codes', async () => {
    const { hub, peers } = federation();
    const outsider = hub.join('outsider');
    const topic = prekeyTopic(FED);
    const b = signPrekeyBundle(
      TEST_BINDING,
      FED,
      'outsider',
      1,
      [crypto.x25519.publicKey(new Uint8Array(32).fill(3))],
      testSign('outsider'),
    );
    await outsider.publish(topic, encodePrekeyBundle(b));
    const relayed = signPrekeyBundle(
      TEST_BINDING,
      FED,
      'peer-a',
      1,
      [crypto.x25519.publicKey(new Uint8Array(32).fill(4))],
      testSign('peer-a'),
    );
    await peerGossip(hub, 'outsider').publish(topic, encodePrekeyBundle(relayed));
    await outsider.publish(topic, new Uint8Array([1, 2, 3]));
    await outsider.publish(topic, new Uint8Array(1024 * 1024 + 1));
    await hub.settle();
    expect(Object.fromEntries([...peers[1]!.verdicts].filter(([k]) => k.startsWith('reject')))).toEqual({
      'reject:PEER_NOT_MEMBER': 1,
      'reject:PREKEY_NOT_AUTHOR': 1,
      'reject:PREKEY_MALFORMED': 1,
      'reject:PREKEY_TOO_LARGE': 1,
    });
    expect(peers[1]!.keyFor('peer-a', 1)).toBeUndefined();
  });

  it('a second, different key for a round is REJECTed PREKEY_EQUIVOCATION: the first stands, evidence names both', async () => {
    const { hub, peers } = federation();
    await peers[0]!.topUp(1);
    await hub.settle();
    const first = peers[1]!.keyFor('peer-a', 2)!;
    const forged = signPrekeyBundle(
      TEST_BINDING,
      FED,
      'peer-a',
      2,
      [crypto.x25519.publicKey(new Uint8Array(32).fill(7))],
      testSign('peer-a'),
    );
    await peerGossip(hub, 'peer-a').publish(prekeyTopic(FED), encodePrekeyBundle(forged));
    await hub.settle();
    expect(peers[1]!.verdicts.get('reject:PREKEY_EQUIVOCATION')).toBe(1);
    expect(peers[1]!.keyFor('peer-a', 2)).toEqual(first);
    expect(peers[1]!.evidence).toHaveLength(1);
    expect(peers[1]!.evidence[0]).toMatchObject({ member: 'peer-a', round: 2 });
    expect(peers[1]!.evidence[0]!.first).not.toBe(peers[1]!.evidence[0]!.second);
  });

  it('a member’s bundle with a low-order key is REJECTed PREKEY_BAD_KEY and stores nothing', async () => {
    const { hub, peers } = federation();
    const u1 = new Uint8Array(32);
    u1[0] = 1;
    const b = signPrekeyBundle(
      TEST_BINDING,
      FED,
      'peer-a',
      1,
      [crypto.x25519.publicKey(new Uint8Array(32).fill(5)), u1],
      testSign('peer-a'),
    );
    await peerGossip(hub, 'peer-a').publish(prekeyTopic(FED), encodePrekeyBundle(b));
    await hub.settle();
    expect(peers[1]!.verdicts.get('reject:PREKEY_BAD_KEY')).toBe(1);
    expect(peers[1]!.keyFor('peer-a', 1)).toBeUndefined();
  });

  it('a bundle for ended rounds is IGNOREd PREKEY_STALE', async () => {
    const { hub, peers } = federation();
    peers[1]!.endedThrough(10);
    await peers[0]!.topUp(1);
    await hub.settle();
    expect(peers[1]!.verdicts.get('ignore:PREKEY_STALE')).toBe(1);
  });

  it('the window is validated at the edge', () => {
    const hub = new MemoryGossipHub();
    const components = {
      gossip: hub.join('x'),
      crypto,
      entropy: seededEntropy('w'),
      sign: testSign('x'),
      verify: testVerify,
      isMember: () => true,
      store: new MemoryPrekeyStore(),
    };
    expect(() => new SecAggPrekeys({ federation: FED, binding: TEST_BINDING, window: 0 }, components)).toThrow(RangeError);
    expect(() => new SecAggPrekeys({ federation: FED, binding: TEST_BINDING, window: 17 }, components)).toThrow(RangeError);
  });
});

/** The hub's gossip handle of an already joined peer (a member publishing by hand). */
function peerGossip(hub: MemoryGossipHub, id: string) {
  return { publish: (topic: string, data: Uint8Array) => hub.deliver(id, topic, data) };
}

describe('prekey file store (encrypted at rest)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedmesh-prekeys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips under the identity-derived key, holds no plaintext secret, and refuses another identity', () => {
    const path = join(dir, 'prekeys.bin');
    const key = prekeyStoreKey(new Uint8Array(32).fill(1));
    const store = new FilePrekeyStore(path, key, seededEntropy('file-store'));
    const secrets = new Map([
      [5, new Uint8Array(32).fill(0xab)],
      [6, new Uint8Array(32).fill(0xcd)],
    ]);
    store.save({ secrets, generatedThrough: 6 });
    const back = store.load();
    expect(back.generatedThrough).toBe(6);
    expect([...back.secrets]).toEqual([...secrets]);
    const raw = new Uint8Array(readFileSync(path));
    expect(Buffer.from(raw).includes(Buffer.from(new Uint8Array(32).fill(0xab)))).toBe(false);
    const wrong = new FilePrekeyStore(path, prekeyStoreKey(new Uint8Array(32).fill(2)), seededEntropy('x'));
    expect(codeOf(() => wrong.load())).toBe('PREKEY_STORE_CORRUPT');
    // Erasure: after a save without round 5, the file no longer opens to it.
    store.save({ secrets: new Map([[6, secrets.get(6)!]]), generatedThrough: 6 });
    expect([...store.load().secrets.keys()]).toEqual([6]);
  });

  it('keeps the key generation (file v2) and still reads a v1 file as generation 0', () => {
    const path = join(dir, 'prekeys-v2.bin');
    const key = prekeyStoreKey(new Uint8Array(32).fill(3));
    const store = new FilePrekeyStore(path, key, seededEntropy('file-store-v2'));
    store.save({ secrets: new Map([[9, new Uint8Array(32).fill(7)]]), generatedThrough: 9, unknownThrough: 8, epoch: 5 });
    expect(store.load()).toMatchObject({ generatedThrough: 9, unknownThrough: 8, epoch: 5 });
    // A v1 file, as the node wrote it before: generatedThrough | unknownThrough | count | (round, secret)*.
    const plain = new Uint8Array(8 + 8 + 2 + 8 + 32);
    const view = new DataView(plain.buffer);
    view.setBigUint64(0, 4n, true);
    view.setBigUint64(8, 0n, true);
    view.setUint16(16, 1, true);
    view.setBigUint64(18, 4n, true);
    plain.fill(9, 26);
    const nonce = new Uint8Array(12).fill(1);
    const sealed = gcm(key, nonce, new TextEncoder().encode('fedmesh/prekey-store/v1')).encrypt(plain);
    writeFileSync(path, Uint8Array.from([1, ...nonce, ...sealed]));
    const v1 = store.load();
    expect(v1).toMatchObject({ generatedThrough: 4, unknownThrough: 0, epoch: 0 });
    expect([...v1.secrets.entries()]).toEqual([[4, new Uint8Array(32).fill(9)]]);
  });
});
