/**
 * Per-round key material of one peer and its signed advertisement (Bonawitz et al., CCS
 * 2017, §4, round 0 "AdvertiseKeys"): two fresh X25519 key pairs, c for encrypting shares
 * and s for pairwise masks, signed with the peer's long-term libp2p identity key and bound
 * to (deployment, federation, round) so they cannot be replayed in another deployment, round or federation.
 */
import { wipe } from '../bytes.js';
import { type AdvertiseKeysMsg, advertStatement, SecAggKind, type SecAggScope } from '../messages/secagg.js';
import { type Entropy, generateKeyPair, type IdentitySign, type IdentityVerify, type SecAggCrypto } from './crypto.js';
import { SecAggError } from './errors.js';

export interface KeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface RoundKeys {
  /** c_i: share encryption. */
  readonly encryption: KeyPair;
  /** s_i: pairwise masks. */
  readonly mask: KeyPair;
}

export function generateRoundKeys(crypto: SecAggCrypto, entropy: Entropy): RoundKeys {
  return { encryption: generateKeyPair(crypto, entropy), mask: generateKeyPair(crypto, entropy) };
}

export function wipeRoundKeys(k: RoundKeys): void {
  wipe(k.encryption.secretKey);
  wipe(k.mask.secretKey);
}

/** The signed advertisement; `contributes` is false for a committee member that sends no input. */
export function createAdvert(scope: SecAggScope, self: string, keys: RoundKeys, sign: IdentitySign, contributes = true): AdvertiseKeysMsg {
  const encryptionKey = keys.encryption.publicKey;
  const maskKey = keys.mask.publicKey;
  return {
    kind: SecAggKind.AdvertiseKeys,
    federation: scope.federation,
    round: scope.round,
    sender: self,
    encryptionKey,
    maskKey,
    contributes,
    signature: sign(advertStatement(scope, self, encryptionKey, maskKey, contributes)),
  };
}

const P25519 = 2n ** 255n - 19n;
/**
 * u-coordinates (mod p) of the Curve25519 and twist points whose order divides 8 — libsodium's
 * small-order blocklist (crypto_scalarmult/curve25519, `has_small_order`): 0, 1, two points of
 * order 8, and p − 1 (p and p + 1 are 0 and 1 again after reduction). X25519 with a clamped scalar
 * (a multiple of 8) maps each to zero (RFC 7748 §6.1).
 */
const SMALL_ORDER_U = new Set([
  0n,
  1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
  P25519 - 1n,
]);

/** Whether an X25519 public key (32 bytes, little-endian u, top bit masked per RFC 7748 §5) has small order. */
export function isSmallOrderKey(key: Uint8Array): boolean {
  let u = 0n;
  for (let i = 31; i >= 0; i--) u = (u << 8n) | BigInt(key[i] ?? 0);
  u &= (1n << 255n) - 1n;
  return SMALL_ORDER_U.has(u % P25519);
}

/**
 * Throws SECAGG_BAD_SIGNATURE unless the sender's identity signed these keys for this round, and
 * SECAGG_BAD_KEY for a small-order key (red team F27): every agreement with it is zero, so a
 * neighbour's mask seed or a member's share key could not be derived — one signed advert would
 * make every other participant's masking (or sharing to that member) throw, every round.
 */
export function verifyAdvert(binding: Uint8Array, m: AdvertiseKeysMsg, verify: IdentityVerify): void {
  const scope = { binding, federation: m.federation, round: m.round };
  if (!verify(m.sender, advertStatement(scope, m.sender, m.encryptionKey, m.maskKey, m.contributes), m.signature)) {
    throw new SecAggError('SECAGG_BAD_SIGNATURE', `advertisement of ${m.sender} is not signed by its identity`, { sender: m.sender });
  }
  for (const [field, key] of [
    ['encryptionKey', m.encryptionKey],
    ['maskKey', m.maskKey],
  ] as const) {
    if (isSmallOrderKey(key)) {
      throw new SecAggError('SECAGG_BAD_KEY', `advertisement of ${m.sender}: ${field} has small order`, { sender: m.sender, field });
    }
  }
}
