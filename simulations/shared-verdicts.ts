/**
 * Signature verdicts shared by the simulator's in-process peers.
 *
 * A deployment runs one peer per process, and each peer verifies what it receives. The simulator
 * runs every peer in one process, so the same pure check runs once per peer on the same bytes: in a
 * 64-peer, 3-round run (node --cpu-prof, 2026-12-07) each gossip message's Ed25519 signature was
 * verified by every receiver (6.3 s of node:crypto verify plus ~3 s importing the key as a JWK per
 * call, @libp2p/crypto `hashAndVerify`), each EIP-712 signature (participant entries, finalize and
 * charge signatures) was recovered by every member with pure-JS secp256k1 in ethers (~16 s), and
 * each secure-aggregation signature (adverts, certificates, views) by every peer.
 *
 * Each cache here keeps the result of a pure function under a key made of everything that function
 * reads, so a peer gets exactly the answer it would have computed itself; only the repeat
 * computation by the other 63 peers is saved. Failures (exceptions) are never cached. The caches
 * are installed by the simulator only (local-federation.ts): a node process never has them.
 * Bounded: the oldest entry goes when full.
 */
import { createHash } from 'node:crypto';
import { publicKeyFromRaw } from '@libp2p/crypto/keys';
import { getBytes, hexlify, Signature, SigningKey } from 'ethers';
import type { IdentityVerify } from '../protocol/secure-aggregation/crypto.js';

/** Entries per cache. */
export const SHARED_VERDICTS_MAX = 32_768;

export interface SharedVerdictStats {
  /** Verdicts served from a cache. */
  hits: number;
  /** Verdicts computed (and then cached). */
  misses: number;
}

class BoundedMap<V> {
  private readonly m = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    return this.m.get(k);
  }
  set(k: string, v: V): void {
    if (this.m.size >= this.max) this.m.delete(this.m.keys().next().value!);
    this.m.set(k, v);
  }
  get size(): number {
    return this.m.size;
  }
}

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

/**
 * Key of an Ed25519 verification: SHA-256 over the public key, the signature and the message, each
 * length-prefixed (so no two different triples share an encoding). SHA-256's collision resistance
 * makes equal keys equal inputs.
 */
export function ed25519VerdictKey(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): string {
  return createHash('sha256')
    .update(u32(publicKey.length))
    .update(publicKey)
    .update(u32(signature.length))
    .update(signature)
    .update(u32(message.length))
    .update(message)
    .digest('base64');
}

/**
 * An IdentityVerify (secure-aggregation signatures) whose verdicts are shared by every peer that
 * uses the returned function: the simulator gives one to all its peers.
 */
export function sharedIdentityVerifier(inner: IdentityVerify, stats?: SharedVerdictStats): IdentityVerify {
  const verdicts = new BoundedMap<boolean>(SHARED_VERDICTS_MAX);
  return (peer, message, signature) => {
    // The peer id string is what the inner verifier reads the key from (case-sensitive base58).
    const key = `${peer}/${ed25519VerdictKey(new Uint8Array(0), message, signature)}`;
    const hit = verdicts.get(key);
    if (hit !== undefined) {
      if (stats !== undefined) stats.hits++;
      return hit;
    }
    const ok = inner(peer, message, signature);
    if (stats !== undefined) stats.misses++;
    verdicts.set(key, ok);
    return ok;
  };
}

type Verify = (this: { raw: Uint8Array }, data: Uint8Array | { subarray(): Uint8Array }, sig: Uint8Array, options?: unknown) => unknown;
type RecoverPublicKey = (
  digest: Parameters<typeof SigningKey.recoverPublicKey>[0],
  signature: Parameters<typeof SigningKey.recoverPublicKey>[1],
) => string;

let installed: { readonly ed25519: SharedVerdictStats; readonly secp256k1: SharedVerdictStats } | undefined;

/**
 * Share, across the process, (1) libp2p's Ed25519 signature checks (`Ed25519PublicKey.verify`:
 * gossipsub's StrictSign check of every message, Noise handshakes, peer records) and (2) ethers'
 * secp256k1 public-key recovery (`SigningKey.recoverPublicKey`, under every `recoverAddress` and
 * `verifyTypedData`). Idempotent; returns the hit counts. Simulator only (see the file comment).
 */
export function installSharedSignatureVerdicts(): { readonly ed25519: SharedVerdictStats; readonly secp256k1: SharedVerdictStats } {
  if (installed !== undefined) return installed;
  const ed25519: SharedVerdictStats = { hits: 0, misses: 0 };
  const secp256k1: SharedVerdictStats = { hits: 0, misses: 0 };

  // libp2p's Ed25519PublicKey class is not exported; every Ed25519 public key is one.
  const proto = Object.getPrototypeOf(publicKeyFromRaw(new Uint8Array(32))) as { verify: Verify };
  const verify = proto.verify;
  const edVerdicts = new BoundedMap<boolean>(SHARED_VERDICTS_MAX);
  proto.verify = function (data, sig, options) {
    const bytes = data instanceof Uint8Array ? data : data.subarray();
    // The verdict reads the key (this.raw), the signature and the message: all in the key.
    const key = ed25519VerdictKey(this.raw, bytes, sig);
    const hit = edVerdicts.get(key);
    if (hit !== undefined) {
      ed25519.hits++;
      return hit;
    }
    const result = verify.call(this, data, sig, options);
    ed25519.misses++;
    if (typeof result === 'boolean') edVerdicts.set(key, result);
    else if (result instanceof Promise)
      return result.then((ok: unknown) => {
        if (typeof ok === 'boolean') edVerdicts.set(key, ok);
        return ok;
      });
    return result;
  };

  // recoverPublicKey reads the digest and (r, s, yParity) of Signature.from(signature): the key.
  const recover = SigningKey.recoverPublicKey.bind(SigningKey) as RecoverPublicKey;
  const recovered = new BoundedMap<string>(SHARED_VERDICTS_MAX);
  (SigningKey as unknown as { recoverPublicKey: RecoverPublicKey }).recoverPublicKey = (digest, signature) => {
    let key: string | undefined;
    try {
      const sig = Signature.from(signature);
      key = `${hexlify(getBytes(digest))}/${sig.r}/${sig.s}/${sig.yParity}`;
    } catch {
      // Malformed input: let ethers throw its own error.
    }
    const hit = key !== undefined ? recovered.get(key) : undefined;
    if (hit !== undefined) {
      secp256k1.hits++;
      return hit;
    }
    const pub = recover(digest, signature);
    secp256k1.misses++;
    if (key !== undefined) recovered.set(key, pub);
    return pub;
  };
  installed = { ed25519, secp256k1 };
  return installed;
}
