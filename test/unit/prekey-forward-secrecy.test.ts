/**
 * Forward secrecy of signed committee prekeys (red team F13's property, for the scheme that
 * replaces identity-derived committee keys: node/services/secagg-prekeys.ts). An honest (3, 2)
 * round 11 in which participants seal every share to the members' prekeys for round 11, learned
 * from gossip before the round (the real service over the memory gossip twin). After the round, a
 * thief takes two members' libp2p identity keys AND their whole prekey state (store and service),
 * plus the public recording of the round, and tries every X25519 secret it can derive or find.
 *  - real service: round 11's secrets were erased when the round opened (the members' handles
 *    dropped at their view), so no share opens — the safe property;
 *  - control, a store that never forgets a secret (what the node would be without erasure): the same
 *    thief recovers the victim's exact input, so the first test fails if erasure is skipped;
 *  - what is not protected: a thief of a live node's state before round 11 opens holds its
 *    secret of round 11 (docs/threat-model.md, "Not protected").
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { committeeKeyOfPeer, identityCommitteeKeys } from '../../node/services/secagg-committee-keys.js';
import { MemoryPrekeyStore, type PrekeySecretStore, type PrekeyState } from '../../node/services/secagg-prekey-store.js';
import { SecAggPrekeys } from '../../node/services/secagg-prekeys.js';
import type { AdvertiseKeysMsg, EndorseMsg, ShareKeysMsg } from '../../protocol/messages/secagg.js';
import { openShare, SECRET_BYTES, shareAssociatedData } from '../../protocol/secure-aggregation/crypto.js';
import {
  createAdvert,
  generateRoundKeys,
  SecAggCommitteeMember,
  SecAggParticipant,
  type SecAggRoundContext,
} from '../../protocol/secure-aggregation/index.js';
import { maskInPlace } from '../../protocol/secure-aggregation/masking.js';
import { scopeOf } from '../../protocol/secure-aggregation/participant.js';
import { ringWords, signedAt, subRing } from '../../protocol/secure-aggregation/ring.js';
import { combine, type Share } from '../../protocol/secure-aggregation/shamir.js';
import { config, crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const ROUND = 11;
const PARTICIPANTS = ['alice', 'bob', 'carol', 'victim'];
const D = 4;
const intsOf = (i: number) => Array.from({ length: D }, (_, k) => (((i + 5) * 37 + k * 31) % 500) - 250);

/** A store that keeps every secret it was ever given: the node without erasure (control only). */
class NeverForgets implements PrekeySecretStore {
  private readonly all = new Map<number, Uint8Array>();
  private generated = 0;
  load(): PrekeyState {
    return { secrets: new Map([...this.all].map(([r, s]) => [r, s.slice()])), generatedThrough: this.generated };
  }
  save(state: PrekeyState): void {
    for (const [r, s] of state.secrets) this.all.set(r, s.slice());
    this.generated = state.generatedThrough;
  }
}

interface Recorded {
  readonly ctx: SecAggRoundContext;
  readonly adverts: Map<string, AdvertiseKeysMsg>;
  readonly shares: Map<string, ShareKeysMsg>;
  readonly masked: Map<string, Uint32Array>;
  readonly truth: number[];
  /** Each member's prekey state, as a thief would find it after the round. */
  readonly stores: readonly PrekeySecretStore[];
  readonly services: readonly SecAggPrekeys[];
}

async function members(sks: readonly PrivateKey[], storeOf: () => PrekeySecretStore, seed: string) {
  const hub = new MemoryGossipHub();
  const ids = sks.map((k) => peerIdFromPrivateKey(k).toString());
  const all = [...ids, 'observer'];
  const stores = ids.map(() => storeOf());
  const ent = entropies(seed);
  const make = (id: string, store: PrekeySecretStore) =>
    new SecAggPrekeys(
      { federation: 'fs', binding: TEST_BINDING, window: 4, republishMs: 0 },
      {
        gossip: hub.join(id),
        crypto,
        entropy: ent(`prekeys/${id}`),
        sign: testSign(id),
        verify: testVerify,
        isMember: (p) => all.includes(p),
        store,
      },
    );
  const services = ids.map((id, i) => make(id, stores[i]!));
  const observer = make('observer', new MemoryPrekeyStore());
  for (const s of [...services, observer]) s.start();
  // The federation's life so far: keys published from round 1, rounds 1–10 opened and closed
  // (each open tops the window up), so round 11's keys went out well before it.
  await Promise.all(services.map((s) => s.topUp(1)));
  for (let r = 1; r < ROUND; r++) await Promise.all(services.map((s) => s.roundOpened(r)));
  await hub.settle();
  return { ids, stores, services, observer };
}

/** One honest round sealed to prekeys; returns only what was public, and the members' state after it. */
async function honestRound(sks: readonly PrivateKey[], storeOf: () => PrekeySecretStore, seed: string): Promise<Recorded> {
  const { ids: committee, stores, services, observer } = await members(sks, storeOf, seed);
  const ctx: SecAggRoundContext = {
    binding: TEST_BINDING,
    federation: 'fs',
    round: ROUND,
    committee,
    threshold: 2,
    config: config({ committeeSize: 3, threshold: 2, maliciousMembers: 0 }),
  };
  const ent = entropies(seed);
  // The round opens at each member: earlier rounds erased, round 11's pair taken out of the store.
  const pairs = await Promise.all(services.map((s) => s.roundOpened(ROUND)));
  const roundKeys = committee.map((id, i) => ({ encryption: pairs[i]!, mask: generateRoundKeys(crypto, ent(`member-mask/${id}`)).mask }));
  const memberObjs = committee.map(
    (id, i) => new SecAggCommitteeMember(ctx, id, roundKeys[i]!.encryption.secretKey, { crypto, sign: testSign(id), verify: testVerify }),
  );
  // Members advertise their prekey as c_k (observers, contributes = 0), as round-driver.ts does.
  const memberAdverts = committee.map((id, i) => createAdvert(scopeOf(ctx), id, roundKeys[i]!, testSign(id), false));
  const parts = PARTICIPANTS.map(
    (p) =>
      new SecAggParticipant(ctx, p, generateRoundKeys(crypto, ent(`keys/${p}`)), {
        crypto,
        entropy: ent(p),
        sign: testSign(p),
        verify: testVerify,
        committeeKey: (m) => observer.keyFor(m, ROUND),
      }),
  );
  const adverts = parts.map((p) => p.advertise());
  // Participants seal before any member advert reached them: the prekeys alone suffice.
  const shares = parts.map((p) => {
    for (const a of adverts) if (a.sender !== p.self) p.addAdvert(a);
    return p.shareKeys();
  });
  const all = [...adverts, ...memberAdverts];
  for (const m of memberObjs) {
    for (const a of all) m.addAdvert(a);
    m.beginShares();
    for (const s of shares) m.addShareKeys(s);
  }
  const proposal = memberObjs[0]!.proposeKeySet(0);
  const endorsements: EndorseMsg[] = memberObjs.map((m) => m.onKeySetProposal(proposal, { now: 0, turnStart: () => 0 })!);
  const masked = new Map<string, Uint32Array>();
  const f = 2 ** ctx.config.fractionalBits;
  for (const p of parts) {
    for (const a of memberAdverts) p.addAdvert(a);
    const i = PARTICIPANTS.indexOf(p.self);
    masked.set(
      p.self,
      p.maskInput(
        Float64Array.from(intsOf(i), (x) => x / f),
        10 + i,
        new Uint8Array(32),
        { proposal, endorsements },
      ).masked,
    );
  }
  // The round ended on chain: members drop their handles; the node erases through round 11.
  for (const m of memberObjs) m.dispose();
  for (const k of roundKeys) k.encryption.secretKey.fill(0);
  for (const s of services) s.endedThrough(ROUND);
  return {
    ctx,
    adverts: new Map(all.map((a) => [a.sender, a])),
    shares: new Map(shares.map((s) => [s.sender, s])),
    masked,
    truth: intsOf(PARTICIPANTS.indexOf('victim')),
    stores,
    services,
  };
}

/** Every X25519 secret a thief holding `sk` and the member's prekey state can try. */
function candidateSecrets(sk: PrivateKey, store: PrekeySecretStore): Uint8Array[] {
  return [identityCommitteeKeys(sk).own, ...store.load().secrets.values()];
}

/** The victim's input as a thief with members `stolen` (indices) recovers it from the recording; undefined if no share opens. */
function thief(rec: Recorded, sks: readonly PrivateKey[], stolen: readonly number[]): number[] | undefined {
  const scope = scopeOf(rec.ctx);
  const victim = rec.adverts.get('victim')!;
  const bShares: Share[] = [];
  const sShares: Share[] = [];
  for (const i of stolen) {
    const id = rec.ctx.committee[i]!;
    const enc = rec.shares.get('victim')!.shares.find((s) => s.recipient === id)!;
    const memberKey = rec.adverts.get(id)!.encryptionKey;
    const ad = shareAssociatedData(scope, { id: 'victim', publicKey: victim.encryptionKey }, { id, publicKey: memberKey });
    let pt: Uint8Array | undefined;
    for (const secret of candidateSecrets(sks[i]!, rec.stores[i]!)) {
      const own = crypto.x25519.importSecret(secret);
      try {
        pt = openShare(own, victim.encryptionKey, ad, enc.nonce, enc.ciphertext);
        break;
      } catch {
        // not this key
      } finally {
        own.dispose();
      }
    }
    if (pt === undefined) return undefined;
    bShares.push({ x: pt[0]!, y: pt.slice(1, 1 + SECRET_BYTES) });
    sShares.push({ x: pt[0]!, y: pt.slice(1 + SECRET_BYTES, 1 + 2 * SECRET_BYTES) });
  }
  const b = combine(bShares, rec.ctx.threshold);
  const s = combine(sShares, rec.ctx.threshold);
  const y = rec.masked.get('victim')!.slice();
  const mask = new Uint32Array(y.length);
  maskInPlace(mask, {
    crypto,
    scope,
    self: 'victim',
    maskPublicKey: victim.maskKey,
    selfMaskSeed: b,
    maskSecretKey: s,
    neighbours: new Map(PARTICIPANTS.filter((p) => p !== 'victim').map((j) => [j, rec.adverts.get(j)!.maskKey])),
  });
  subRing(y, mask);
  expect(y.length).toBe(ringWords(D + 1));
  return Array.from({ length: D }, (_, k) => signedAt(y, k));
}

const identities = () => Promise.all([0, 1, 2].map(() => generateKeyPair('Ed25519')));

describe('signed committee prekeys: forward secrecy per round (F13)', () => {
  it('two members’ identity keys and whole prekey state, stolen after the round, open no share', async () => {
    const sks = await identities();
    const rec = await honestRound(sks, () => new MemoryPrekeyStore(), 'fs-prekeys');
    // The shares were sealed to the prekeys (the members' adverts carry them), not to identities.
    for (const id of rec.ctx.committee) expect(rec.adverts.get(id)!.encryptionKey).not.toEqual(committeeKeyOfPeer(id));
    // What the thief finds: only rounds that have not opened (12 …), never 11.
    for (const s of rec.services) expect(s.heldRounds().every((r) => r > ROUND)).toBe(true);
    expect(thief(rec, sks, [0, 1])).toBeUndefined();
    expect(thief(rec, sks, [1, 2])).toBeUndefined();
  });

  it('control: without erasure (a store that keeps every secret) the same thief recovers the victim’s exact input', async () => {
    const sks = await identities();
    const rec = await honestRound(sks, () => new NeverForgets(), 'fs-prekeys-leaky');
    expect(thief(rec, sks, [0, 1])).toEqual(rec.truth);
  });

  it('not protected: a live member’s state stolen before round 11 opens holds its round-11 secret', async () => {
    const sks = await identities();
    const { stores, services } = await members(sks, () => new MemoryPrekeyStore(), 'fs-prekeys-live');
    const stolen = stores[0]!.load().secrets.get(ROUND);
    expect(stolen).toBeDefined();
    expect(services[1]!.keyFor(services[0]!.self, ROUND)).toEqual(crypto.x25519.publicKey(stolen!));
  });
});
