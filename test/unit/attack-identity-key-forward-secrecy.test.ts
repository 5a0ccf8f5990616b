/**
 * Red team (H10, finding F13, documentation of a trade-off that becomes live when the node enables
 * identity-derived committee keys: node/services/round-driver.ts passes `secagg.committeeKeys` when
 * set). With per-round member keys, a member decrypts its shares with a fresh c_k that it drops at
 * its view; the participant wipes b_i and s_i^SK after masking. With committee keys derived from the
 * member's long-term libp2p Ed25519 identity (protocol/secure-aggregation/committee-keys.ts) the
 * recipient side of every share is long-term: t members' identity keys obtained at ANY later time
 * (a stolen backup, a decommissioned server, or t former members colluding after they left the
 * federation) plus the recorded public gossip of a past round (adverts, ShareKeys, masked inputs —
 * all gossip) give b_i and s_i^SK of every participant of that round, hence every individual input,
 * with no reveal and no lock. The documented coalition bound (< t members) then has to hold
 * forever, not during the round.
 *
 * The round below is honest and complete at (3, 2). The thief gets two members' Ed25519 identities
 * after every party has wiped its round state, and only public messages.
 *  - per-round member keys: the shares do not open (passes; regression test);
 *  - identity keys: the victim's exact input is recovered (first `it.fails` test asserts the safe
 *    behaviour and fails today);
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import { committeeKeyOfPeer, identityCommitteeKeys } from '../../node/services/secagg-committee-keys.js';
import type { AdvertiseKeysMsg, EndorseMsg, ShareKeysMsg } from '../../protocol/messages/secagg.js';
import {
  createAdvert,
  generateRoundKeys,
  SecAggCommitteeMember,
  SecAggParticipant,
  type SecAggRoundContext,
} from '../../protocol/secure-aggregation/index.js';
import { openShare, SECRET_BYTES } from '../../protocol/secure-aggregation/crypto.js';
import { maskInPlace } from '../../protocol/secure-aggregation/masking.js';
import { scopeOf } from '../../protocol/secure-aggregation/participant.js';
import { ringWords, signedAt, subRing } from '../../protocol/secure-aggregation/ring.js';
import { combine, type Share } from '../../protocol/secure-aggregation/shamir.js';
import { shareAssociatedData } from '../../protocol/secure-aggregation/crypto.js';
import { config, crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const PARTICIPANTS = ['alice', 'bob', 'carol', 'victim'];
const D = 4;
const intsOf = (i: number) => Array.from({ length: D }, (_, k) => (((i + 3) * 53 + k * 29) % 500) - 250);

interface Recorded {
  readonly ctx: SecAggRoundContext;
  readonly adverts: Map<string, AdvertiseKeysMsg>;
  readonly shares: Map<string, ShareKeysMsg>;
  readonly masked: Map<string, Uint32Array>;
  readonly truth: number[];
}

/** One honest round; returns only what was public (gossip). Every party's round state is wiped at the end. */
function honestRound(sks: readonly PrivateKey[], identityKeys: boolean, seed: string): Recorded {
  const committee = sks.map((k) => peerIdFromPrivateKey(k).toString());
  const ctx: SecAggRoundContext = {
    binding: TEST_BINDING,
    federation: 'fs',
    round: 11,
    committee,
    threshold: 2,
    config: config({ committeeSize: 3, threshold: 2, maliciousMembers: 0 }),
  };
  const ent = entropies(seed);
  // Members: per-round key pairs (advertised, observers) or identity-derived X25519 keys.
  const memberKeys = committee.map((id) => generateRoundKeys(crypto, ent(`member-keys/${id}`)));
  const members = committee.map(
    (id, i) =>
      new SecAggCommitteeMember(ctx, id, identityKeys ? identityCommitteeKeys(sks[i]!).own : memberKeys[i]!.encryption.secretKey, {
        crypto,
        sign: testSign(id),
        verify: testVerify,
      }),
  );
  // Per-round member keys are advertised by members as observers (contributes = 0).
  const memberAdverts = identityKeys ? [] : committee.map((id, i) => createAdvert(scopeOf(ctx), id, memberKeys[i]!, testSign(id), false));
  const parts = PARTICIPANTS.map(
    (p) =>
      new SecAggParticipant(ctx, p, generateRoundKeys(crypto, ent(`keys/${p}`)), {
        crypto,
        entropy: ent(p),
        sign: testSign(p),
        verify: testVerify,
        ...(identityKeys ? { committeeKey: committeeKeyOfPeer } : {}),
      }),
  );
  const adverts = parts.map((p) => p.advertise());
  const all = [...adverts, ...memberAdverts];
  const shares = parts.map((p) => {
    for (const a of all) if (a.sender !== p.self) p.addAdvert(a);
    return p.shareKeys();
  });
  for (const m of members) {
    for (const a of all) m.addAdvert(a);
    m.beginShares();
    for (const s of shares) m.addShareKeys(s);
  }
  const proposal = members[0]!.proposeKeySet(0);
  const endorsements: EndorseMsg[] = members.map((m) => m.onKeySetProposal(proposal, { now: 0, turnStart: () => 0 })!);
  const masked = new Map<string, Uint32Array>();
  const f = 2 ** ctx.config.fractionalBits;
  parts.forEach((p, i) => {
    const values = Float64Array.from(intsOf(i), (x) => x / f);
    masked.set(p.self, p.maskInput(values, 10 + i, new Uint8Array(32), { proposal, endorsements }).masked);
  });
  // The round is over: participants wiped their secrets in maskInput; members wipe theirs.
  for (const m of members) m.dispose();
  return {
    ctx,
    adverts: new Map(all.map((a) => [a.sender, a])),
    shares: new Map(shares.map((s) => [s.sender, s])),
    masked,
    truth: intsOf(PARTICIPANTS.indexOf('victim')),
  };
}

/** What a thief holding `stolen` identity keys recovers of the victim's input from the recording; undefined if no share opens. */
function thief(rec: Recorded, stolen: readonly PrivateKey[]): number[] | undefined {
  const scope = scopeOf(rec.ctx);
  const victim = rec.adverts.get('victim')!;
  const bShares: Share[] = [];
  const sShares: Share[] = [];
  for (const sk of stolen) {
    const id = peerIdFromPrivateKey(sk).toString();
    const enc = rec.shares.get('victim')!.shares.find((s) => s.recipient === id)!;
    const own = crypto.x25519.importSecret(identityCommitteeKeys(sk).own);
    const ad = shareAssociatedData(scope, { id: 'victim', publicKey: victim.encryptionKey }, { id, publicKey: committeeKeyOfPeer(id)! });
    let pt: Uint8Array;
    try {
      pt = openShare(own, victim.encryptionKey, ad, enc.nonce, enc.ciphertext);
    } catch {
      return undefined;
    } finally {
      own.dispose();
    }
    bShares.push({ x: pt[0]!, y: pt.slice(1, 1 + SECRET_BYTES) });
    sShares.push({ x: pt[0]!, y: pt.slice(1 + SECRET_BYTES, 1 + 2 * SECRET_BYTES) });
  }
  const b = combine(bShares, rec.ctx.threshold);
  const s = combine(sShares, rec.ctx.threshold);
  const y = rec.masked.get('victim')!.slice();
  const mask = new Uint32Array(y.length);
  const neighbours = PARTICIPANTS.filter((p) => p !== 'victim');
  maskInPlace(mask, {
    crypto,
    scope,
    self: 'victim',
    maskPublicKey: victim.maskKey,
    selfMaskSeed: b,
    maskSecretKey: s,
    neighbours: new Map(neighbours.map((j) => [j, rec.adverts.get(j)!.maskKey])),
  });
  subRing(y, mask);
  expect(y.length).toBe(ringWords(D + 1));
  return Array.from({ length: D }, (_, k) => signedAt(y, k));
}

describe('committee keys from identities and forward secrecy (F13)', () => {
  it('per-round member keys: two identity keys stolen after the round open no share', async () => {
    const sks = await Promise.all([0, 1, 2].map(() => generateKeyPair('Ed25519')));
    const rec = honestRound(sks, false, 'fs-per-round');
    expect(thief(rec, sks.slice(0, 2))).toBeUndefined();
  });

  it('identity keys: today the thief recovers the victim’s exact input (what F13 documents)', async () => {
    const sks = await Promise.all([0, 1, 2].map(() => generateKeyPair('Ed25519')));
    const rec = honestRound(sks, true, 'fs-identity');
    expect(thief(rec, sks.slice(0, 2))).toEqual(rec.truth);
  });

  // F13: fails as long as identity-derived committee keys have no forward secrecy.
  it.fails('identity keys: identity keys stolen after the round reveal no individual input', async () => {
    const sks = await Promise.all([0, 1, 2].map(() => generateKeyPair('Ed25519')));
    const rec = honestRound(sks, true, 'fs-identity-safe');
    expect(thief(rec, sks.slice(0, 2))).not.toEqual(rec.truth);
  });
});
