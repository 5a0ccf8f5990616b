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
 * Key schedule, v2 (all HKDF-SHA256, RFC 5869; salt = a versioned label, info = the context).
 * Every derivation is bound to the scope σ = deployment ‖ federation ‖ round, where the
 * deployment is `deploymentBindingBytes` (32-byte chain id ‖ 20-byte contract,
 * protocol/chain/deployment-binding.ts): a key derived for one deployment, federation or round
 * is unrelated to any other, so nothing replays across deployments that share a name.
 *   pairwise mask key  s_ij = HKDF(X25519(s_i, s_j), "fedmesh/secagg/pairwise/v2",
 *                                  σ ‖ lo ‖ s_lo^PK ‖ hi ‖ s_hi^PK)[0:16]     lo < hi: the ids ordered
 *   self-mask key           = HKDF(b_i, "fedmesh/secagg/self-mask/v2", σ ‖ i)[0:16]
 *   rounding key            = HKDF(ρ_i, "fedmesh/secagg/rounding/v2", σ ‖ i)[0:16]
 *   share AEAD key          = HKDF(X25519(c_i, c_k), "fedmesh/secagg/share-key/v2", AD)[0:32]
 *                             AD = "fedmesh/secagg/share/v2" ‖ σ ‖ i ‖ c_i^PK ‖ k ‖ c_k^PK
 *   commitment to b_i       = SHA-256("fedmesh/secagg/b-commit/v2" ‖ σ ‖ i ‖ b_i)
 * Why both public keys: X25519 alone does not bind the parties' keys — with a low-order
 * component or a key an attacker chose, two different key pairs can give one shared secret — so
 * the transcript (who, with which advertised key) goes into the KDF, as in TLS 1.3's transcript
 * hash and the Noise handshake hash (Noise §5.2; also RFC 7748 §7's advice to hash the public keys
 * with the shared secret). Ids and keys are length-prefixed or fixed-length, so the encoding is
 * injective. test/vectors/secagg-kdf.json pins every derivation.
 * Every AES-CTR key expands exactly one stream per round, from counter block 0.
 */
import { ctr, gcm } from '@noble/ciphers/aes.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ByteWriter, hash256, type Sha256, utf8, wipe } from '../bytes.js';
import { DEPLOYMENT_BINDING_BYTES } from '../chain/deployment-binding.js';
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
  /**
   * SHA-256 for bulk payloads: the hash of each masked input (8·(d + 1) bytes) that views cite
   * and inboxes key on. Absent: the pure-JS `hash256`. The node injects node:crypto's (native,
   * ~11× faster on 800 kB), held byte-equal to `hash256` by test/unit/secagg-crypto.test.ts.
   * Small hashes (HKDF, commitments, statement digests) stay on `hash256`: not worth a port.
   */
  readonly sha256?: Sha256;
}

/** The bulk-payload hash of `crypto`: its injected `sha256`, else the pure-JS reference. */
export function payloadSha256(crypto: Pick<SecAggCrypto, 'sha256'>): Sha256 {
  return crypto.sha256 ?? hash256;
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

/**
 * What every key derivation is bound to: the deployment, the federation name and the round.
 * Structurally the same as messages/secagg.ts `SecAggScope` (the signed statements' scope).
 */
export interface KdfScope {
  /** `deploymentBindingBytes(b)`: 32-byte chain id ‖ 20-byte contract address. */
  readonly binding: Uint8Array;
  readonly federation: string;
  readonly round: number;
}

/** A party of a pairwise derivation: its id and its advertised X25519 public key. */
export interface KdfParty {
  readonly id: string;
  readonly publicKey: Uint8Array;
}

export const X25519_KEY_BYTES = 32;

/** σ ‖ ids…: binding (52) ‖ federation (len16) ‖ round (u64) ‖ each id (len16). */
function scopeInfo(w: ByteWriter, scope: KdfScope): ByteWriter {
  if (scope.binding.length !== DEPLOYMENT_BINDING_BYTES) {
    throw new SecAggError('SECAGG_BAD_CONFIG', `deployment binding of ${scope.binding.length} bytes`, {
      field: 'binding',
      value: scope.binding.length,
      rule: `${DEPLOYMENT_BINDING_BYTES} bytes (chain id ‖ contract)`,
    });
  }
  if (!Number.isSafeInteger(scope.round) || scope.round < 0) {
    throw new SecAggError('SECAGG_BAD_CONFIG', `round ${scope.round}`, { field: 'round', value: scope.round, rule: 'a safe integer ≥ 0' });
  }
  return w.bytes(scope.binding).varBytes16(utf8(scope.federation)).u64(scope.round);
}

function partyInfo(w: ByteWriter, p: KdfParty): ByteWriter {
  if (p.publicKey.length !== X25519_KEY_BYTES) {
    throw new SecAggError('SECAGG_BAD_KEY', `public key of ${p.id} has ${p.publicKey.length} bytes`, { length: p.publicKey.length });
  }
  return w.varBytes16(utf8(p.id)).bytes(p.publicKey);
}

function idInfo(scope: KdfScope, id: string): Uint8Array {
  return scopeInfo(new ByteWriter(256), scope).varBytes16(utf8(id)).finish();
}

const SALT_PAIRWISE = utf8('fedmesh/secagg/pairwise/v2');
const SALT_SELF = utf8('fedmesh/secagg/self-mask/v2');
const SALT_ROUNDING = utf8('fedmesh/secagg/rounding/v2');
const SALT_SHARE = utf8('fedmesh/secagg/share-key/v2');
const TAG_COMMIT = utf8('fedmesh/secagg/b-commit/v2');
const TAG_SHARE_AD = utf8('fedmesh/secagg/share/v2');

/**
 * Pairwise mask key s_ij from the X25519 shared secret, bound to the scope and to both
 * parties' ids and mask public keys, ordered by id: symmetric in (a, b).
 */
export function pairwiseMaskKey(shared: Uint8Array, scope: KdfScope, a: KdfParty, b: KdfParty): Uint8Array {
  if (a.id === b.id) throw new SecAggError('SECAGG_BAD_INPUT', `pairwise key of ${a.id} with itself`, { participant: a.id });
  const [lo, hi] = a.id < b.id ? [a, b] : [b, a];
  const info = partyInfo(partyInfo(scopeInfo(new ByteWriter(384), scope), lo), hi).finish();
  return hkdf(sha256, shared, SALT_PAIRWISE, info, AES128_KEY_BYTES);
}

export function selfMaskKey(b: Uint8Array, scope: KdfScope, participant: string): Uint8Array {
  return hkdf(sha256, b, SALT_SELF, idInfo(scope, participant), AES128_KEY_BYTES);
}

export function roundingKey(seed: Uint8Array, scope: KdfScope, participant: string): Uint8Array {
  return hkdf(sha256, seed, SALT_ROUNDING, idInfo(scope, participant), AES128_KEY_BYTES);
}

/** Public commitment to the self-mask seed, so a reconstructed b_i can be checked. */
export function selfMaskCommitment(b: Uint8Array, scope: KdfScope, participant: string): Uint8Array {
  return sha256(new ByteWriter(384).bytes(TAG_COMMIT).bytes(idInfo(scope, participant)).bytes(b).finish());
}

/**
 * Associated data of an encrypted share, also the share key's HKDF info: binds it to the
 * scope, the sender and the recipient, and both parties' advertised encryption keys.
 */
export function shareAssociatedData(scope: KdfScope, sender: KdfParty, recipient: KdfParty): Uint8Array {
  return partyInfo(partyInfo(scopeInfo(new ByteWriter(384).bytes(TAG_SHARE_AD), scope), sender), recipient).finish();
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
