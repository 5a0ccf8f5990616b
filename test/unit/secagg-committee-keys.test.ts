/**
 * Committee keys known before the round (protocol/secure-aggregation/committee-keys.ts,
 * node/services/secagg-committee-keys.ts): a member's X25519 key derived from its real libp2p
 * Ed25519 identity, its public half recomputed from the peer id alone; a participant that
 * holds no advertisement from the committee still shares to it, and the member decrypts.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import {
  committeeEncryptionPublicKey,
  generateRoundKeys,
  SecAggCommitteeMember,
  SecAggParticipant,
} from '../../protocol/secure-aggregation/index.js';
import { committeeKeyOfPeer, identityCommitteeKeys } from '../../node/services/secagg-committee-keys.js';
import { codeOf, config, crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

describe('committee keys from libp2p identities', () => {
  it('the X25519 public key from the peer id matches the one from the identity secret', async () => {
    for (let i = 0; i < 3; i++) {
      const sk = await generateKeyPair('Ed25519');
      const id = peerIdFromPrivateKey(sk).toString();
      const keys = identityCommitteeKeys(sk);
      expect(toHex0x(committeeKeyOfPeer(id)!)).toBe(toHex0x(crypto.x25519.publicKey(keys.own)));
    }
    expect(committeeKeyOfPeer('not-a-peer-id')).toBeUndefined();
    expect(codeOf(() => committeeEncryptionPublicKey(new Uint8Array(32).fill(0xff)))).toBe('SECAGG_BAD_KEY');
  });

  it('a participant shares to members it has no advertisement from; each member decrypts its share', async () => {
    const sks = await Promise.all([0, 1, 2].map(() => generateKeyPair('Ed25519')));
    const committee = sks.map((k) => peerIdFromPrivateKey(k).toString());
    const ctx = {
      binding: TEST_BINDING,
      federation: 'f',
      round: 3,
      committee,
      threshold: 2,
      config: config({ committeeSize: 3, threshold: 2, maliciousMembers: 0 }),
    };
    const ent = entropies('committee-keys');
    const p = new SecAggParticipant(ctx, 'alice', generateRoundKeys(crypto, ent('alice-keys')), {
      crypto,
      entropy: ent('alice'),
      sign: testSign('alice'),
      verify: testVerify,
      committeeKey: committeeKeyOfPeer,
    });
    const advert = p.advertise();
    const shares = p.shareKeys(); // no member advertisement held: keys come from the peer ids
    expect(shares.shares.map((s) => s.recipient).sort()).toEqual([...committee].sort());
    committee.forEach((id, i) => {
      const m = new SecAggCommitteeMember(ctx, id, identityCommitteeKeys(sks[i]!).own, { crypto, sign: testSign(id), verify: testVerify });
      m.addAdvert(advert);
      m.beginShares();
      m.addShareKeys(shares);
      expect(m.shareHolders).toEqual(['alice']);
    });
    // Without the identity keys (and no advertisements) the participant cannot reach the committee.
    const q = new SecAggParticipant(ctx, 'bob', generateRoundKeys(crypto, ent('bob-keys')), {
      crypto,
      entropy: ent('bob'),
      sign: testSign('bob'),
      verify: testVerify,
    });
    q.advertise();
    expect(codeOf(() => q.shareKeys())).toBe('SECAGG_TOO_FEW_COMMITTEE');
  });
});
