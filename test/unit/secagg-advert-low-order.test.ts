/**
 * Small-order keys in signed advertisements are refused (red team F27; round-keys.ts
 * `verifyAdvert`, `isSmallOrderKey`): the blocklist agrees with the X25519 port on every entry (each
 * makes an agreement throw SECAGG_BAD_KEY) and passes ordinary keys; the gossip pipeline REJECTs
 * such an advert with SECAGG_BAD_KEY (scored), participants and members refuse it; and the F27
 * round — one participant advertising s^PK = 0 under a valid signature — goes on without it: it is
 * not in U_1, so not in U_2, and every other participant masks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AdvertiseKeysMsg, advertStatement, encodeSecAgg } from '../../protocol/messages/secagg.js';
import { isSmallOrderKey, verifyAdvert } from '../../protocol/secure-aggregation/round-keys.js';
import { validateSecAggMessage } from '../../protocol/validate.js';
import { codeOf, config, crypto, testSign, testVerify } from './secagg-helpers.js';
import { certifyKeySet, maskInputs, setupRound, TEST_BINDING } from './secagg-round-harness.js';

const P = 2n ** 255n - 19n;
const le = (x: bigint): Uint8Array => {
  const b = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
};
const ORDER8_A = 325606250916557431795983626356110631294008115727848805560023387167927233504n;
const ORDER8_B = 39382357235489614581723060781553021112529911719440698176882885853963445705823n;
/** libsodium's seven encodings, and the same with the (masked) top bit set. */
const SMALL = [0n, 1n, ORDER8_A, ORDER8_B, P - 1n, P, P + 1n];

function withKey(a: AdvertiseKeysMsg, field: 'maskKey' | 'encryptionKey', key: Uint8Array): AdvertiseKeysMsg {
  const m = { ...a, [field]: key };
  const scope = { binding: TEST_BINDING, federation: a.federation, round: a.round };
  return { ...m, signature: testSign(a.sender)(advertStatement(scope, m.sender, m.encryptionKey, m.maskKey, m.contributes)) };
}

describe('small-order X25519 keys (F27)', () => {
  it('the blocklist is exactly what the X25519 port refuses, top bit masked', () => {
    const probe = crypto.x25519.importSecret(new Uint8Array(32).fill(0x33));
    for (const u of SMALL) {
      for (const key of [le(u), le(u | (1n << 255n))]) {
        expect(isSmallOrderKey(key)).toBe(true);
        expect(codeOf(() => probe.agree(key))).toBe('SECAGG_BAD_KEY');
      }
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (sk) => {
        const pk = crypto.x25519.publicKey(sk);
        expect(isSmallOrderKey(pk)).toBe(false);
        expect(codeOf(() => probe.agree(pk))).toBe('none');
      }),
      { numRuns: 100 },
    );
    probe.dispose();
  });

  it('a validly signed advert with a small-order key is refused by verifyAdvert and REJECTed by the gossip pipeline', () => {
    const r = setupRound({
      n: 4,
      m: 3,
      t: 2,
      config: config({ committeeSize: 3, threshold: 2, maliciousMembers: 0 }),
      seed: 'f27-verdict',
    });
    const good = r.adverts[3]!;
    expect(codeOf(() => verifyAdvert(TEST_BINDING, good, testVerify))).toBe('none');
    for (const field of ['maskKey', 'encryptionKey'] as const) {
      const bad = withKey(good, field, new Uint8Array(32));
      let err: unknown;
      try {
        verifyAdvert(TEST_BINDING, bad, testVerify);
      } catch (e) {
        err = e;
      }
      expect((err as { code: string; fields: unknown }).code).toBe('SECAGG_BAD_KEY');
      expect((err as { fields: unknown }).fields).toEqual({ sender: good.sender, field });
      const v = validateSecAggMessage(encodeSecAgg(bad), bad.sender, {
        binding: TEST_BINDING,
        federation: 'fed',
        currentRound: bad.round,
        isMember: () => true,
        committee: () => r.committee,
        verify: testVerify,
      });
      expect(v.verdict).toEqual({ action: 'reject', code: 'SECAGG_BAD_KEY' });
      // A bad signature is still reported as such first.
      expect(codeOf(() => verifyAdvert(TEST_BINDING, { ...bad, signature: new Uint8Array(64) }, testVerify))).toBe('SECAGG_BAD_SIGNATURE');
    }
  });

  it('the F27 round: one participant’s s^PK = 0 is refused everywhere and every other participant masks', () => {
    const r = setupRound({ n: 10, m: 7, t: 5, config: config(), seed: 'f27-round' });
    const bad = 'peer-009';
    const i = r.adverts.findIndex((a) => a.sender === bad);
    r.adverts[i] = withKey(r.adverts[i]!, 'maskKey', new Uint8Array(32));
    const refused = new Set<string>();
    const offer = (add: (a: AdvertiseKeysMsg) => void, a: AdvertiseKeysMsg): void => {
      const code = codeOf(() => add(a));
      if (code === 'SECAGG_BAD_KEY') refused.add(a.sender);
      else expect(['none', 'SECAGG_DUPLICATE']).toContain(code);
    };
    for (const [id, part] of r.participants) if (id !== bad) for (const a of r.adverts) offer((x) => part.addAdvert(x), a);
    for (const [id, part] of r.participants) if (id !== bad) r.shares.push(part.shareKeys());
    for (const [id, m] of r.members) {
      for (const a of r.adverts) offer((x) => m.addAdvert(x), a);
      m.beginShares();
      for (const s of r.shares) if (s.shares.some((x) => x.recipient === id)) m.addShareKeys(s);
    }
    expect([...refused]).toEqual([bad]);
    const ks = certifyKeySet(r);
    expect(ks.proposal.shared).not.toContain(bad);
    const honest = ks.proposal.shared;
    expect(honest).toHaveLength(9);
    expect(codeOf(() => maskInputs(r, ks, honest))).toBe('none');
  });
});
