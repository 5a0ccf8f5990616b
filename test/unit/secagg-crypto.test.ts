/**
 * The secure-aggregation crypto ports: the native node:crypto implementations must be
 * bit-equal to the pure reference (the spec), both must match published known answers
 * (AES-128 with the zero key — NIST GCM spec test cases 1–2; X25519 — RFC 7748 §6.1), the
 * share AEAD must reject any tampering, and identity signatures must verify only against the
 * signer's libp2p peer id.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual, fromHex0x, hash256, toHex0x, utf8 } from '../../protocol/bytes.js';
import { Reassembler, splitPayload } from '../../protocol/chunking.js';
import { PayloadType } from '../../protocol/messages/chunk.js';
import {
  agreeAll,
  openShare,
  pairwiseMaskKey,
  payloadSha256,
  referenceCrypto,
  roundingKey,
  type SecAggCrypto,
  sealShare,
  selfMaskCommitment,
  selfMaskKey,
  shareAssociatedData,
} from '../../protocol/secure-aggregation/crypto.js';
import { deploymentBindingBytes } from '../../protocol/chain/deployment-binding.js';
import {
  createIdentityVerifier,
  identitySigner,
  nodeSecAggCrypto,
  nodeSha256,
  seededEntropy,
  systemEntropy,
} from '../../node/services/secagg-crypto.js';
import { codeOf } from './secagg-helpers.js';

const CONTRACT = `0x${'ab'.repeat(20)}`;
const SCOPE = { binding: deploymentBindingBytes({ chainId: 31337n, contract: CONTRACT }), federation: 'f', round: 3 };

const impls: [string, SecAggCrypto][] = [
  ['reference (noble)', referenceCrypto],
  ['native (node:crypto)', nodeSecAggCrypto],
];

describe.each(impls)('%s', (_name, c) => {
  it('PRG is AES-128-CTR from counter block 0 (known answer, zero key)', () => {
    const ks = c.prg.keystream(new Uint8Array(16), 48);
    expect(toHex0x(ks)).toBe('0x66e94bd4ef8a2c3b884cfa59ca342b2e58e2fccefa7e3061367f1d57a4e7455a0388dace60b6a392f328c2b971b2fe78');
  });

  it('X25519 matches RFC 7748 §6.1', () => {
    const a = fromHex0x('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const b = fromHex0x('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    expect(toHex0x(c.x25519.publicKey(a))).toBe('0x8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(toHex0x(c.x25519.publicKey(b))).toBe('0xde9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const shared = '0x4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(toHex0x(agreeAll(c.x25519, a, [c.x25519.publicKey(b)])[0]!)).toBe(shared);
    expect(toHex0x(agreeAll(c.x25519, b, [c.x25519.publicKey(a)])[0]!)).toBe(shared);
  });

  it('payload SHA-256 matches FIPS 180-4 known answers (incl. 10^6 bytes)', () => {
    const h = payloadSha256(c);
    // FIPS 180-2 appendix B.1–B.3 (one block, two blocks, one million 'a').
    expect(toHex0x(h(new Uint8Array(0)))).toBe('0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(toHex0x(h(utf8('abc')))).toBe('0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(toHex0x(h(utf8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '0x248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
    expect(toHex0x(h(new Uint8Array(1_000_000).fill(0x61)))).toBe('0xcdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('refuses low-order public keys (all-zero shared secret)', () => {
    const sk = new Uint8Array(32).fill(7);
    expect(codeOf(() => agreeAll(c.x25519, sk, [new Uint8Array(32)]))).toBe('SECAGG_BAD_KEY');
    expect(codeOf(() => agreeAll(c.x25519, sk, [Uint8Array.from([1, ...new Uint8Array(31)])]))).toBe('SECAGG_BAD_KEY');
  });
});

describe('native vs reference', () => {
  it('PRG streams are bit-equal for random keys and lengths', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 5000 }), (key, len) => {
        expect(bytesEqual(nodeSecAggCrypto.prg.keystream(key, len), referenceCrypto.prg.keystream(key, len))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('X25519 agrees for random keys, and the pairwise mask keys derived natively and by the reference are equal and symmetric', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, b) => {
        const A = referenceCrypto.x25519.publicKey(a);
        const B = nodeSecAggCrypto.x25519.publicKey(b);
        expect(bytesEqual(A, nodeSecAggCrypto.x25519.publicKey(a))).toBe(true);
        expect(bytesEqual(B, referenceCrypto.x25519.publicKey(b))).toBe(true);
        const ab = agreeAll(nodeSecAggCrypto.x25519, a, [B])[0]!;
        const ba = agreeAll(referenceCrypto.x25519, b, [A])[0]!;
        expect(bytesEqual(ab, ba)).toBe(true);
        const alice = { id: 'alice', publicKey: A };
        const bob = { id: 'bob', publicKey: B };
        expect(bytesEqual(pairwiseMaskKey(ab, SCOPE, alice, bob), pairwiseMaskKey(ba, SCOPE, bob, alice))).toBe(true);
        expect(bytesEqual(pairwiseMaskKey(ab, SCOPE, alice, bob), pairwiseMaskKey(ab, { ...SCOPE, round: 4 }, alice, bob))).toBe(false);
      }),
      { numRuns: 30 },
    );
  });
});

describe('native SHA-256 (node:crypto) vs the pure-JS hash256 (noble): the same bytes everywhere', () => {
  it('the native port is injected; the reference crypto falls back to hash256', () => {
    expect(nodeSecAggCrypto.sha256).toBe(nodeSha256);
    expect(referenceCrypto.sha256).toBeUndefined();
    expect(payloadSha256(referenceCrypto)).toBe(hash256);
  });

  it('equal on random inputs of every length around the block and padding boundaries, and on views into larger buffers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(16), fc.nat(16), (bytes, head, tail) => {
        expect(bytesEqual(nodeSha256(bytes), hash256(bytes))).toBe(true);
        // A subarray at an odd offset of a larger buffer hashes only its own bytes.
        const big = new Uint8Array(head + bytes.length + tail).fill(0xa5);
        big.set(bytes, head);
        const view = big.subarray(head, head + bytes.length);
        expect(bytesEqual(nodeSha256(view), hash256(bytes))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('equal on masked-input-sized payloads: 8·(10^5 + 1) and 8·(10^6 + 1) bytes, and the input is not changed', () => {
    for (const d of [100_000, 1_000_000]) {
      const payload = seededEntropy(`sha256/${d}`)(8 * (d + 1));
      const copy = payload.slice();
      const native = nodeSha256(payload);
      expect(native).toBeInstanceOf(Uint8Array);
      expect(native).toHaveLength(32);
      expect(toHex0x(native)).toBe(toHex0x(hash256(payload)));
      expect(bytesEqual(payload, copy)).toBe(true);
    }
  });

  it('gossip chunks are byte-identical whichever hash split them, and either reassembler accepts them', () => {
    const payload = seededEntropy('sha256/chunks')(8 * 20_001);
    const header = { type: PayloadType.MaskedInput, federation: 'f', round: 3, sender: 'peer-a' };
    const native = splitPayload(payload, header, 4096, nodeSha256);
    expect(native).toEqual(splitPayload(payload, header, 4096));
    for (const r of [new Reassembler(), new Reassembler(undefined, nodeSha256)]) {
      const results = native.map((c) => r.add(c));
      const done = results.at(-1)!;
      expect(done.status).toBe('complete');
      if (done.status === 'complete') {
        expect(bytesEqual(done.payload, payload)).toBe(true);
        expect(bytesEqual(done.payloadHash, hash256(payload))).toBe(true);
      }
    }
    // A tampered chunk still fails the native check.
    const bad = native.map((c, i) => (i === 3 ? { ...c, data: c.data.map((b, k) => (k === 0 ? b ^ 1 : b)) } : c));
    const r = new Reassembler(undefined, nodeSha256);
    expect(() => {
      for (const c of bad) r.add(c);
    }).toThrow(expect.objectContaining({ code: 'MSG_HASH_MISMATCH' }));
  });
});

describe('key derivations are bound to the deployment, the round and both parties (issue 13 item 6)', () => {
  const shared = new Uint8Array(32).fill(9);
  const A = { id: 'alice', publicKey: new Uint8Array(32).fill(1) };
  const B = { id: 'bob', publicKey: new Uint8Array(32).fill(2) };
  const otherChain = { ...SCOPE, binding: deploymentBindingBytes({ chainId: 1n, contract: CONTRACT }) };
  const otherContract = { ...SCOPE, binding: deploymentBindingBytes({ chainId: 31337n, contract: `0x${'cd'.repeat(20)}` }) };
  const contexts = [
    ['another chain id', otherChain],
    ['another contract', otherContract],
    ['another round', { ...SCOPE, round: 4 }],
    ['another federation name', { ...SCOPE, federation: 'g' }],
  ] as const;

  it('pairwise mask key: any change of deployment, round, federation, id or either public key gives another key', () => {
    const k = toHex0x(pairwiseMaskKey(shared, SCOPE, A, B));
    for (const [, scope] of contexts) expect(toHex0x(pairwiseMaskKey(shared, scope, A, B))).not.toBe(k);
    // Key substitution: the same shared secret with either advertised key replaced.
    expect(toHex0x(pairwiseMaskKey(shared, SCOPE, { ...A, publicKey: new Uint8Array(32).fill(3) }, B))).not.toBe(k);
    expect(toHex0x(pairwiseMaskKey(shared, SCOPE, A, { ...B, publicKey: new Uint8Array(32).fill(3) }))).not.toBe(k);
    // Swapping which id holds which key is another transcript.
    expect(toHex0x(pairwiseMaskKey(shared, SCOPE, { ...A, publicKey: B.publicKey }, { ...B, publicKey: A.publicKey }))).not.toBe(k);
    expect(toHex0x(pairwiseMaskKey(shared, SCOPE, { ...A, id: 'carol' }, B))).not.toBe(k);
    expect(codeOf(() => pairwiseMaskKey(shared, SCOPE, A, { ...A }))).toBe('SECAGG_BAD_INPUT');
    expect(codeOf(() => pairwiseMaskKey(shared, SCOPE, A, { ...B, publicKey: new Uint8Array(31) }))).toBe('SECAGG_BAD_KEY');
    expect(codeOf(() => pairwiseMaskKey(shared, { ...SCOPE, binding: new Uint8Array(51) }, A, B))).toBe('SECAGG_BAD_CONFIG');
  });

  it('self-mask key, rounding key and commitment: bound to deployment, round, federation and participant', () => {
    const b = new Uint8Array(32).fill(5);
    for (const f of [selfMaskKey, roundingKey, selfMaskCommitment]) {
      const k = toHex0x(f(b, SCOPE, 'alice'));
      for (const [, scope] of contexts) expect(toHex0x(f(b, scope, 'alice'))).not.toBe(k);
      expect(toHex0x(f(b, SCOPE, 'bob'))).not.toBe(k);
    }
    // Distinct labels: the same seed never gives the same key for two purposes.
    expect(toHex0x(selfMaskKey(b, SCOPE, 'alice'))).not.toBe(toHex0x(roundingKey(b, SCOPE, 'alice')));
  });
});

describe('share encryption (X25519 + HKDF-SHA256 + AES-256-GCM)', () => {
  const c = nodeSecAggCrypto;
  const ent = seededEntropy('aead');
  const alice = ent(32);
  const bob = ent(32);
  const Alice = c.x25519.publicKey(alice);
  const Bob = c.x25519.publicKey(bob);
  const party = (id: string, publicKey: Uint8Array) => ({ id, publicKey });
  const ad = shareAssociatedData(SCOPE, party('alice', Alice), party('bob', Bob));
  const pt = Uint8Array.from({ length: 65 }, (_, i) => i);
  const h = c.x25519.importSecret(alice);
  const sealed = sealShare(h, Bob, ad, pt, ent);
  const hb = c.x25519.importSecret(bob);

  it('round-trips for the addressed recipient', () => {
    expect(bytesEqual(openShare(hb, Alice, ad, sealed.nonce, sealed.ciphertext), pt)).toBe(true);
  });

  it('rejects a flipped ciphertext or tag bit, a wrong nonce, and another context', () => {
    for (const i of [0, 30, sealed.ciphertext.length - 1]) {
      const ct = sealed.ciphertext.slice();
      ct[i]! ^= 0x01;
      expect(codeOf(() => openShare(hb, Alice, ad, sealed.nonce, ct))).toBe('SECAGG_DECRYPT_FAILED');
    }
    const nonce = sealed.nonce.slice();
    nonce[0]! ^= 1;
    expect(codeOf(() => openShare(hb, Alice, ad, nonce, sealed.ciphertext))).toBe('SECAGG_DECRYPT_FAILED');
    const carolKey = c.x25519.publicKey(ent(32));
    for (const other of [
      shareAssociatedData({ ...SCOPE, round: 4 }, party('alice', Alice), party('bob', Bob)), // a past round
      shareAssociatedData(SCOPE, party('alice', Alice), party('carol', Bob)), // another recipient
      shareAssociatedData(SCOPE, party('mallory', Alice), party('bob', Bob)), // another sender
      shareAssociatedData({ ...SCOPE, federation: 'gef' }, party('alice', Alice), party('bob', Bob)), // another federation
      shareAssociatedData(
        { ...SCOPE, binding: deploymentBindingBytes({ chainId: 1n, contract: CONTRACT }) },
        party('alice', Alice),
        party('bob', Bob),
      ), // another deployment with the same federation name
      shareAssociatedData(SCOPE, party('alice', carolKey), party('bob', Bob)), // another sender key
      shareAssociatedData(SCOPE, party('alice', Alice), party('bob', carolKey)), // another recipient key
    ]) {
      expect(codeOf(() => openShare(hb, Alice, other, sealed.nonce, sealed.ciphertext))).toBe('SECAGG_DECRYPT_FAILED');
    }
    // A third party's key cannot open it.
    const carol = c.x25519.importSecret(ent(32));
    expect(codeOf(() => openShare(carol, Alice, ad, sealed.nonce, sealed.ciphertext))).toBe('SECAGG_DECRYPT_FAILED');
  });
});

describe('entropy and identity', () => {
  it('seeded entropy replays; system entropy does not', () => {
    const a = seededEntropy('s');
    const b = seededEntropy('s');
    expect(toHex0x(a(40))).toBe(toHex0x(b(40)));
    expect(toHex0x(a(8))).toBe(toHex0x(b(8)));
    expect(toHex0x(seededEntropy('t')(16))).not.toBe(toHex0x(seededEntropy('s')(16)));
    expect(toHex0x(systemEntropy(16))).not.toBe(toHex0x(systemEntropy(16)));
  });

  it('signs with the libp2p identity and verifies only against its peer id', async () => {
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(1));
    const other = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(2));
    const id = peerIdFromPrivateKey(key).toString();
    const otherId = peerIdFromPrivateKey(other).toString();
    const msg = new TextEncoder().encode('advertise');
    const sig = identitySigner(key)(msg);
    const verify = createIdentityVerifier();
    expect(verify(id, msg, sig)).toBe(true);
    expect(await key.publicKey.verify(msg, sig)).toBe(true); // the same Ed25519 libp2p uses
    expect(verify(otherId, msg, sig)).toBe(false);
    expect(verify(id, new TextEncoder().encode('advertisE'), sig)).toBe(false);
    expect(verify('not-a-peer-id', msg, sig)).toBe(false);
    expect(verify(id, msg, sig.subarray(0, 63))).toBe(false);
  });
});
