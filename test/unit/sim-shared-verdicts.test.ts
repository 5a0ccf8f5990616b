/**
 * The simulator's shared signature verdicts (simulations/shared-verdicts.ts): a cached verdict is
 * the one the check computes, and the cache key holds every input — a changed key, message or
 * signature is checked afresh, never answered from another entry.
 */
import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { recoverAddress, SigningKey, verifyTypedData, Wallet } from 'ethers';
import { beforeAll, describe, expect, it } from 'vitest';
import { createIdentityVerifier, identitySigner } from '../../node/services/secagg-crypto.js';
import {
  ed25519VerdictKey,
  installSharedSignatureVerdicts,
  type SharedVerdictStats,
  sharedIdentityVerifier,
} from '../../simulations/shared-verdicts.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('shared signature verdicts', () => {
  let stats: ReturnType<typeof installSharedSignatureVerdicts>;
  beforeAll(() => {
    stats = installSharedSignatureVerdicts();
  });

  it('is installed once', () => {
    expect(installSharedSignatureVerdicts()).toBe(stats);
  });

  it('Ed25519: repeats are served from the cache with the same verdict; any changed input is checked afresh', async () => {
    const a = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(1));
    const b = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(2));
    const msg = bytes('gossip message');
    const sig = await a.sign(msg);
    const before = { ...stats.ed25519 };
    expect(await a.publicKey.verify(msg, sig)).toBe(true);
    // A fresh key object with the same bytes (as each receiving peer decodes its own): a hit.
    expect(await publicKeyFromRaw(a.publicKey.raw).verify(msg, sig)).toBe(true);
    expect(stats.ed25519.hits - before.hits).toBe(1);
    // Other message, other key, flipped signature bit: each misses and is refused.
    expect(await a.publicKey.verify(bytes('gossip messagE'), sig)).toBe(false);
    expect(await b.publicKey.verify(msg, sig)).toBe(false);
    const flipped = Uint8Array.from(sig);
    flipped[10]! ^= 1;
    expect(await a.publicKey.verify(msg, flipped)).toBe(false);
    expect(stats.ed25519.hits - before.hits).toBe(1);
    // The refusals are cached as refusals.
    expect(await b.publicKey.verify(msg, sig)).toBe(false);
    expect(stats.ed25519.hits - before.hits).toBe(2);
  });

  it('Ed25519 key encoding is length-prefixed: shifting bytes between fields changes the key', () => {
    const k = new Uint8Array(32).fill(7);
    const m = bytes('abc');
    const s = new Uint8Array(64).fill(9);
    expect(ed25519VerdictKey(k, m, s)).not.toBe(ed25519VerdictKey(k, new Uint8Array([...s.subarray(63), ...m]), s.subarray(0, 63)));
  });

  it('secp256k1: a recovered address is the signer, repeats hit, another digest or signature recovers afresh', async () => {
    const w = new Wallet(`0x${'11'.repeat(32)}`);
    const domain = { name: 'fedmesh-test', version: '1', chainId: 31337 };
    const types = { Entry: [{ name: 'round', type: 'uint64' }] };
    const sig1 = await w.signTypedData(domain, types, { round: 1 });
    const before = { ...stats.secp256k1 };
    expect(verifyTypedData(domain, types, { round: 1 }, sig1)).toBe(w.address);
    expect(verifyTypedData(domain, types, { round: 1 }, sig1)).toBe(w.address);
    expect(stats.secp256k1.hits - before.hits).toBe(1);
    // The same signature over another value recovers some other address (computed, not cached).
    expect(verifyTypedData(domain, types, { round: 2 }, sig1)).not.toBe(w.address);
    expect(stats.secp256k1.hits - before.hits).toBe(1);
    // Same digest, the other recovery bit: a different key, computed afresh.
    const digest = `0x${'ab'.repeat(32)}`;
    const sig = w.signingKey.sign(digest);
    const other = { r: sig.r, s: sig.s, yParity: (1 - sig.yParity) as 0 | 1 };
    const mine = recoverAddress(digest, sig);
    expect(mine).toBe(w.address);
    let theirs: string | undefined;
    try {
      theirs = recoverAddress(digest, other);
    } catch {
      theirs = undefined; // no point for that bit: also not the signer
    }
    expect(theirs).not.toBe(w.address);
    expect(SigningKey.recoverPublicKey(digest, sig)).toBe(w.signingKey.publicKey);
    // A malformed signature still throws (failures are not cached).
    expect(() => recoverAddress(digest, '0x1234')).toThrow();
    expect(() => recoverAddress(digest, '0x1234')).toThrow();
  });

  it('identity verifier: one verdict per (peer, message, signature), shared by its users', async () => {
    const ka = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(3));
    const kb = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(4));
    const a = peerIdFromPrivateKey(ka).toString();
    const b = peerIdFromPrivateKey(kb).toString();
    let calls = 0;
    const inner = createIdentityVerifier();
    const counted = (p: string, m: Uint8Array, s: Uint8Array): boolean => {
      calls++;
      return inner(p, m, s);
    };
    const st: SharedVerdictStats = { hits: 0, misses: 0 };
    const verify = sharedIdentityVerifier(counted, st);
    const msg = bytes('advert');
    const sig = identitySigner(ka)(msg);
    expect(verify(a, msg, sig)).toBe(true);
    expect(verify(a, msg, sig)).toBe(true);
    expect(calls).toBe(1);
    expect(verify(b, msg, sig)).toBe(false);
    expect(verify(a, bytes('advert!'), sig)).toBe(false);
    const flipped = Uint8Array.from(sig);
    flipped[0]! ^= 1;
    expect(verify(a, msg, flipped)).toBe(false);
    expect(calls).toBe(4);
    expect(st).toEqual({ hits: 1, misses: 4 });
  });
});
