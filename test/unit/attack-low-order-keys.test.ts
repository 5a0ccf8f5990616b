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
 * Finding F27 (/work/notes/redteam-findings.md): the safe properties failed on c5c6ed3 and hold
 * since 9cc4130 (`verifyAdvert` refuses small-order keys, SECAGG_BAD_KEY).
 */
import { describe, expect, it } from 'vitest';
import { type AdvertiseKeysMsg, advertStatement } from '../../protocol/messages/secagg.js';
import { SecAggParticipant } from '../../protocol/secure-aggregation/index.js';
import { codeOf, config, crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { certifyKeySet, maskInputs, setupRound, TEST_BINDING } from './secagg-round-harness.js';

const P = 2n ** 255n - 19n;
const le32 = (x: bigint): Uint8Array => {
  const b = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
};
/**
 * Encodings X25519 turns into an all-zero result (RFC 7748 §6.1's check): the small-order
 * u-coordinates 0, 1, p − 1 and the two of order 8, their non-canonical forms u + p, and forms
 * with the ignored top bit set. A fix that lists points rather than probing must catch them all.
 */
const LOW_ORDER_ENCODINGS: readonly (readonly [string, Uint8Array])[] = [
  ['0', 0n],
  ['1', 1n],
  ['p − 1', P - 1n],
  ['order 8 (a)', 325606250916557431795983626356110631294008115727848805560023387167927233504n],
  ['order 8 (b)', 39382357235489614581723060781553021112529911719440698176882885853963445705823n],
  ['p (0 + p)', P],
  ['p + 1 (1 + p)', P + 1n],
  ['top bit | 0', 2n ** 255n],
  ['top bit | 1', 2n ** 255n + 1n],
].map(([name, u]) => [name as string, le32(u as bigint)] as const);
const LOW_ORDER = LOW_ORDER_ENCODINGS[0]![1];

function lowOrderAdvert(a: AdvertiseKeysMsg, field: 'maskKey' | 'encryptionKey', key: Uint8Array = LOW_ORDER): AdvertiseKeysMsg {
  const m = { ...a, [field]: key.slice() };
  const scope = { binding: TEST_BINDING, federation: a.federation, round: a.round };
  return { ...m, signature: testSign(a.sender)(advertStatement(scope, m.sender, m.encryptionKey, m.maskKey, m.contributes)) };
}

describe('attack: low-order keys in signed advertisements (F27)', () => {
  it('F27 (fixed in 9cc4130): one participant’s low-order mask key does not stop the others from masking (every small-order encoding)', () => {
    const failedBy = new Map<string, number>();
    const refused: string[] = [];
    for (const [name, key] of LOW_ORDER_ENCODINGS) {
      const r = setupRound({ n: 10, m: 7, t: 5, config: config(), seed: 'low-order-mask' });
      const bad = 'peer-009';
      const i = r.adverts.findIndex((a) => a.sender === bad);
      r.adverts[i] = lowOrderAdvert(r.adverts[i]!, 'maskKey', key);
      // Everyone takes the advert (its signature is valid) and shares; members hold every share.
      // (A fix may refuse the advert instead: then the participant is simply not in U_1.)
      const refusedAdvert = codeOf(() => r.participants.get('peer-000')!.addAdvert(r.adverts[i]!)) === 'SECAGG_BAD_KEY';
      if (refusedAdvert) {
        // The fix (9cc4130): refused by participants and members alike, so it never enters U_1.
        expect(codeOf(() => r.members.get('peer-001')!.addAdvert(r.adverts[i]!))).toBe('SECAGG_BAD_KEY');
        refused.push(name);
        continue;
      }
      for (const [id, part] of r.participants) for (const a of r.adverts) if (!(id === 'peer-000' && a.sender === bad)) part.addAdvert(a);
      for (const part of r.participants.values()) r.shares.push(part.shareKeys());
      for (const [id, m] of r.members) {
        for (const a of r.adverts) m.addAdvert(a);
        m.beginShares();
        for (const s of r.shares) if (s.shares.some((x) => x.recipient === id)) m.addShareKeys(s);
      }
      const ks = certifyKeySet(r);
      // Measured today: certified into U_2, and every honest participant's masking throws.
      const honest = ks.proposal.shared.filter((p) => p !== bad);
      failedBy.set(name, honest.filter((p) => codeOf(() => maskInputs(r, ks, [p])) === 'SECAGG_BAD_KEY').length);
    }
    expect([...failedBy].filter(([, n]) => n > 0)).toEqual([]);
    expect(refused.length + failedBy.size).toBe(LOW_ORDER_ENCODINGS.length);
  });

  it('F27 (fixed in 9cc4130): one committee member’s low-order encryption key does not stop participants from sharing with the others', () => {
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
    for (const a of r.adverts) {
      // A fix may refuse the advert (SECAGG_BAD_KEY): the member then counts as not advertised.
      const code = codeOf(() => p.addAdvert(a));
      if (code !== 'none') expect([a.sender, code]).toEqual([bad, 'SECAGG_BAD_KEY']);
    }
    // Safe: the participant shares with the six members whose keys are usable (as it does when a
    // member did not advertise). Measured today: shareKeys throws SECAGG_BAD_KEY, nothing is sent.
    const shares = p.shareKeys();
    expect(shares.shares.map((s) => s.recipient)).toEqual(r.committee.filter((c) => c !== bad));
  });
});
