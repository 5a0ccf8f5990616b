/**
 * Red team (H-red): low-order X25519 keys in in-round advertisements (round-keys.ts
 * `verifyAdvert` checks the identity signature only). H-prekey refuses low-order keys in prekey
 * bundles (PREKEY_BAD_KEY: "a low-order key would make every participant's sealing to that member
 * fail"); the advertisement path, which every participant still uses for its neighbours' mask
 * keys and for members without a prekey, has no such check.
 *
 * 1. A participant (any member) advertises, under its own valid signature, a low-order mask key
 *    s^PK and shares correctly, so it is held by every member and certified into U_2. Every
 *    other participant agrees a pairwise seed with it when masking (masking.ts), X25519 refuses
 *    the point (SECAGG_BAD_KEY) and the participant sends no input: one member's advert empties
 *    every round it takes part in (with the complete graph, every honest participant).
 * 2. A committee member advertises a low-order encryption key c^PK: every participant's
 *    `shareKeys` throws while sealing to it, so nobody shares and no key set can form — one
 *    member stalls the round, where a member that does not advertise at all is simply skipped.
 * Finding F27 (/work/notes/redteam-findings.md). The safe properties are `it.fails` today.
 */
import { describe, expect, it } from 'vitest';
import { type AdvertiseKeysMsg, advertStatement } from '../../protocol/messages/secagg.js';
import { SecAggParticipant } from '../../protocol/secure-aggregation/index.js';
import { codeOf, config, crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { certifyKeySet, maskInputs, setupRound, TEST_BINDING } from './secagg-round-harness.js';

/** A point of small order on Curve25519 (u = 0): every X25519 result with it is zero. */
const LOW_ORDER = new Uint8Array(32);

function lowOrderAdvert(a: AdvertiseKeysMsg, field: 'maskKey' | 'encryptionKey'): AdvertiseKeysMsg {
  const m = { ...a, [field]: LOW_ORDER.slice() };
  const scope = { binding: TEST_BINDING, federation: a.federation, round: a.round };
  return { ...m, signature: testSign(a.sender)(advertStatement(scope, m.sender, m.encryptionKey, m.maskKey, m.contributes)) };
}

describe('attack: low-order keys in signed advertisements (F27)', () => {
  it.fails('F27: one participant’s low-order mask key does not stop the others from masking', () => {
    const r = setupRound({ n: 10, m: 7, t: 5, config: config(), seed: 'low-order-mask' });
    const bad = 'peer-009';
    const i = r.adverts.findIndex((a) => a.sender === bad);
    r.adverts[i] = lowOrderAdvert(r.adverts[i]!, 'maskKey');
    // Everyone takes the advert (its signature is valid) and shares; members hold every share.
    for (const part of r.participants.values()) for (const a of r.adverts) part.addAdvert(a);
    for (const part of r.participants.values()) r.shares.push(part.shareKeys());
    for (const [id, m] of r.members) {
      for (const a of r.adverts) m.addAdvert(a);
      m.beginShares();
      for (const s of r.shares) if (s.shares.some((x) => x.recipient === id)) m.addShareKeys(s);
    }
    const ks = certifyKeySet(r);
    expect(ks.proposal.shared).toContain(bad); // certified into U_2: nothing refused its advert
    // Measured today: every honest participant's masking throws SECAGG_BAD_KEY.
    const honest = ks.proposal.shared.filter((p) => p !== bad);
    const failed = honest.filter((p) => {
      const code = codeOf(() => maskInputs(r, ks, [p]));
      return code === 'SECAGG_BAD_KEY';
    });
    expect(failed).toEqual([]);
  });

  it.fails('F27: one committee member’s low-order encryption key does not stop participants from sharing with the others', () => {
    const r = setupRound({ n: 10, m: 7, t: 5, config: config(), seed: 'low-order-enc' });
    const bad = r.committee[3]!;
    const i = r.adverts.findIndex((a) => a.sender === bad);
    r.adverts[i] = lowOrderAdvert(r.adverts[i]!, 'encryptionKey');
    const ent = entropies('low-order-enc/fresh');
    const p = new SecAggParticipant(r.ctx, 'peer-008', r.keys.get('peer-008')!, {
      crypto,
      entropy: ent('peer-008'),
      sign: testSign('peer-008'),
      verify: testVerify,
    });
    p.advertise();
    for (const a of r.adverts) p.addAdvert(a);
    // Safe: the participant shares with the six members whose keys are usable (as it does when a
    // member did not advertise). Measured today: shareKeys throws SECAGG_BAD_KEY, nothing is sent.
    const shares = p.shareKeys();
    expect(shares.shares.map((s) => s.recipient)).toEqual(r.committee.filter((c) => c !== bad));
  });
});
