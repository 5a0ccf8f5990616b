/**
 * Cryptographic ports of secure aggregation and their pure reference implementation.
 *
 * protocol/ stays pure (STYLE.md §1): randomness and the two bulk primitives enter as
 * arguments. The *specification* of each primitive is the reference implementation here,
 * built on audited pure-JS code (@noble/ciphers AES-CTR, @noble/curves X25519). The node
 * injects a native implementation (node/services/secagg-crypto.ts: node:crypto's OpenSSL
 * AES-128-CTR and X25519, ~15× and ~9× faster here) that a unit test holds bit-equal to this
 * one. Small primitives run here directly: HKDF-SHA256 (RFC 5869), AES-256-GCM (NIST SP
 * 800-38D) for shares, SHA-256 commitments.
 *
 * Key schedule (all HKDF-SHA256, salt = a versioned domain tag):
 *   pairwise mask key  s_ij = HKDF(X25519(s_i, s_j), "…/pairwise/v1", fed‖round‖min(i,j)‖max(i,j))[0:16]
 *   self-mask key           = HKDF(b_i, "…/self-mask/v1", fed‖round‖i)[0:16]
 *   rounding key            = HKDF(ρ_i, "…/rounding/v1", fed‖round‖i)[0:16]
 *   share AEAD key          = HKDF(X25519(c_i, c_k), "…/share-key/v1", AD)[0:32], AD = fed‖round‖i‖k
 * Every AES-CTR key expands exactly one stream per round, from counter block 0.
 */
import { ctr, gcm } from '@noble/ciphers/aes.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ByteWriter, utf8, wipe } from '../bytes.js';
import { SecAggError } from './errors.js';

/** Pseudo-random generator: AES-128-CTR keystream from counter block 0. */
export interface Prg {
  /** `length` bytes of AES-128-CTR keystream under `key` (16 bytes), IV = 0^128. */
  keystream(key: Uint8Array, length: number): Uint8Array;
}

/** X25519 key agreement (RFC 7748). */
export interface KeyAgreement {
  publicKey(secretKey: Uint8Array): Uint8Array;
  /**
   * Import a secret key for several agreements (a native implementation parses it once).
   * The handle copies what it needs; `dispose()` forgets it.
   */
  importSecret(secretKey: Uint8Array): SecretKeyHandle;
}

export interface SecretKeyHandle {
  /** X25519(secret, publicKey); throws SecAggError SECAGG_BAD_KEY on an all-zero result. */
  agree(publicKey: Uint8Array): Uint8Array;
  dispose(): void;
}

/** X25519(secretKey, pk) for each pk, in order. */
export function agreeAll(ka: KeyAgreement, secretKey: Uint8Array, publicKeys: readonly Uint8Array[]): Uint8Array[] {
  const h = ka.importSecret(secretKey);
  try {
    return publicKeys.map((pk) => h.agree(pk));
  } finally {
    h.dispose();
  }
}

export interface SecAggCrypto {
  readonly prg: Prg;
  readonly x25519: KeyAgreement;
}

/** Source of secret randomness: n fresh uniformly random bytes (a CSPRNG in production). */
export type Entropy = (n: number) => Uint8Array;

/** Ed25519 signature by this peer's long-term identity key (the libp2p peer key). */
export type IdentitySign = (message: Uint8Array) => Uint8Array;
/** Verify `signature` on `message` by the identity behind peer id `peer`. */
export type IdentityVerify = (peer: string, message: Uint8Array, signature: Uint8Array) => boolean;

export const AES128_KEY_BYTES = 16;
export const SECRET_BYTES = 32;
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;
const ZERO_IV = new Uint8Array(16);

/** Pure-JS reference PRG (@noble/ciphers AES-CTR). Slow (~90 MB/s); the spec for tests. */
export const referencePrg: Prg = {
  keystream: (key, length) => {
    if (key.length !== AES128_KEY_BYTES) throw new RangeError(`PRG key must be 16 bytes, got ${key.length}`);
    return ctr(key, ZERO_IV).encrypt(new Uint8Array(length));
  },
};

export const referenceKeyAgreement: KeyAgreement = {
  publicKey: (sk) => x25519.getPublicKey(sk),
  importSecret: (secretKey) => {
    const sk = secretKey.slice();
    return {
      agree: (pk) => {
        try {
          return x25519.getSharedSecret(sk, pk);
        } catch (e) {
          throw new SecAggError('SECAGG_BAD_KEY', 'X25519 rejected the public key', { cause: String(e) });
        }
      },
      dispose: () => wipe(sk),
    };
  },
};

export const referenceCrypto: SecAggCrypto = { prg: referencePrg, x25519: referenceKeyAgreement };

function ctxInfo(federation: string, round: number, ...ids: string[]): Uint8Array {
  const w = new ByteWriter(128).varBytes16(utf8(federation)).u64(round);
  for (const id of ids) w.varBytes16(utf8(id));
  return w.finish();
}

const SALT_PAIRWISE = utf8('fedmesh/secagg/pairwise/v1');
const SALT_SELF = utf8('fedmesh/secagg/self-mask/v1');
const SALT_ROUNDING = utf8('fedmesh/secagg/rounding/v1');
const SALT_SHARE = utf8('fedmesh/secagg/share-key/v1');
const TAG_COMMIT = utf8('fedmesh/secagg/b-commit/v1');
const TAG_SHARE_AD = utf8('fedmesh/secagg/share/v1');

/** Pairwise mask key s_ij from the X25519 shared secret; symmetric in (i, j). */
export function pairwiseMaskKey(shared: Uint8Array, federation: string, round: number, i: string, j: string): Uint8Array {
  const [lo, hi] = i < j ? [i, j] : [j, i];
  return hkdf(sha256, shared, SALT_PAIRWISE, ctxInfo(federation, round, lo, hi), AES128_KEY_BYTES);
}

export function selfMaskKey(b: Uint8Array, federation: string, round: number, participant: string): Uint8Array {
  return hkdf(sha256, b, SALT_SELF, ctxInfo(federation, round, participant), AES128_KEY_BYTES);
}

export function roundingKey(seed: Uint8Array, federation: string, round: number, participant: string): Uint8Array {
  return hkdf(sha256, seed, SALT_ROUNDING, ctxInfo(federation, round, participant), AES128_KEY_BYTES);
}

/** Public commitment to the self-mask seed, so a reconstructed b_i can be checked. */
export function selfMaskCommitment(b: Uint8Array, federation: string, round: number, participant: string): Uint8Array {
  return sha256(
    new ByteWriter(128)
      .bytes(TAG_COMMIT)
      .bytes(ctxInfo(federation, round, participant))
      .bytes(b)
      .finish(),
  );
}

/** Associated data of an encrypted share: binds it to (federation, round, sender, recipient). */
export function shareAssociatedData(federation: string, round: number, sender: string, recipient: string): Uint8Array {
  return new ByteWriter(160)
    .bytes(TAG_SHARE_AD)
    .bytes(ctxInfo(federation, round, sender, recipient))
    .finish();
}

/**
 * AES-256-GCM encryption of `plaintext` under the key agreed between `ownSecret` and
 * `peerPublic`, with `ad` as associated data. The nonce is fresh randomness (the key is
 * already unique per round and pair; the random nonce removes that reasoning from safety).
 */
export function sealShare(
  ownSecret: SecretKeyHandle,
  peerPublic: Uint8Array,
  ad: Uint8Array,
  plaintext: Uint8Array,
  entropy: Entropy,
): { nonce: Uint8Array; ciphertext: Uint8Array } {
  const key = shareKey(ownSecret, peerPublic, ad);
  const nonce = entropy(GCM_NONCE_BYTES);
  try {
    return { nonce, ciphertext: gcm(key, nonce, ad).encrypt(plaintext) };
  } finally {
    wipe(key);
  }
}

/** Inverse of `sealShare`; throws SECAGG_DECRYPT_FAILED on any authentication failure. */
export function openShare(
  ownSecret: SecretKeyHandle,
  peerPublic: Uint8Array,
  ad: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  const key = shareKey(ownSecret, peerPublic, ad);
  try {
    return gcm(key, nonce, ad).decrypt(ciphertext);
  } catch (e) {
    throw new SecAggError('SECAGG_DECRYPT_FAILED', 'encrypted share does not authenticate', { cause: String(e) });
  } finally {
    wipe(key);
  }
}

function shareKey(ownSecret: SecretKeyHandle, peerPublic: Uint8Array, ad: Uint8Array): Uint8Array {
  const shared = ownSecret.agree(peerPublic);
  try {
    return hkdf(sha256, shared, SALT_SHARE, ad, 32);
  } finally {
    wipe(shared);
  }
}

/** A fresh X25519 key pair from the entropy source. */
export function generateKeyPair(crypto: SecAggCrypto, entropy: Entropy): { secretKey: Uint8Array; publicKey: Uint8Array } {
  const secretKey = entropy(SECRET_BYTES);
  return { secretKey, publicKey: crypto.x25519.publicKey(secretKey) };
}
