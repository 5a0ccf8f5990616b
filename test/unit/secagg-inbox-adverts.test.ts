/**
 * The secagg inbox against red team F27 (low-order keys in signed advertisements): an
 * AdvertiseKeys whose X25519 mask key or encryption key is of small order is REJECTed on the
 * gossip topic (`SECAGG_BAD_KEY`, from round-keys.ts `verifyAdvert`, so the forwarder is scored)
 * and never stored, so no participant masks with it and no member holds it; the same advert with
 * usable keys is ACCEPTed. Every small-order encoding is a separate message (the inbox keeps one
 * advert per sender).
 */
import { describe, expect, it } from 'vitest';
import { type AdvertiseKeysMsg, advertStatement, encodeSecAgg, SecAggKind } from '../../protocol/messages/secagg.js';
import { topicFor } from '../../protocol/messages/topics.js';
import { createAdvert, generateRoundKeys } from '../../protocol/secure-aggregation/index.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { SecAggInbox } from '../../node/services/secagg-inbox.js';
import { crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const P = 2n ** 255n - 19n;
const le32 = (x: bigint): Uint8Array => {
  const b = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
};
/** u = 0, 1, p − 1, the two points of order 8, and non-canonical / top-bit forms (RFC 7748 §6.1). */
const LOW_ORDER = [
  0n,
  1n,
  P - 1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
  P,
  P + 1n,
  2n ** 255n,
].map(le32);

const scope = { binding: TEST_BINDING, federation: 'demo', round: 4 };

function resigned(a: AdvertiseKeysMsg, change: Partial<AdvertiseKeysMsg>): AdvertiseKeysMsg {
  const m = { ...a, ...change };
  return { ...m, signature: testSign(m.sender)(advertStatement(scope, m.sender, m.encryptionKey, m.maskKey, m.contributes)) };
}

describe('secagg inbox: adverts with small-order X25519 keys (F27)', () => {
  it('REJECTs every small-order mask or encryption key with SECAGG_BAD_KEY and stores none; a usable advert is ACCEPTed', async () => {
    const hub = new MemoryGossipHub();
    const bob = hub.join('bob');
    const senders = Array.from({ length: 2 * LOW_ORDER.length + 1 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    const gossips = new Map(senders.map((id) => [id, hub.join(id)]));
    const inbox = new SecAggInbox(bob, {
      binding: TEST_BINDING,
      federation: 'demo',
      isMember: () => true,
      committee: () => ['bob'],
      verify: testVerify,
    });
    inbox.start();
    inbox.setRound(4);
    const topic = topicFor('demo', 'secagg');
    const ent = entropies('inbox-adverts');
    const advertOf = (id: string) => createAdvert(scope, id, generateRoundKeys(crypto, ent(id)), testSign(id));
    let k = 0;
    for (const key of LOW_ORDER) {
      for (const field of ['maskKey', 'encryptionKey'] as const) {
        const id = senders[k++]!;
        await gossips.get(id)!.publish(topic, encodeSecAgg(resigned(advertOf(id), { [field]: key })));
      }
    }
    const honest = senders[k]!;
    await gossips.get(honest)!.publish(topic, encodeSecAgg(advertOf(honest)));
    await hub.settle();
    expect(Object.fromEntries(bob.verdicts)).toEqual({ 'reject:SECAGG_BAD_KEY': 2 * LOW_ORDER.length, 'accept:OK': 1 });
    expect(inbox.messages(4, SecAggKind.AdvertiseKeys).map((a) => a.sender)).toEqual([honest]);
  });
});
