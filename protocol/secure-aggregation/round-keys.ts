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

/** Throws SECAGG_BAD_SIGNATURE unless the sender's identity signed these keys for this round. */
export function verifyAdvert(binding: Uint8Array, m: AdvertiseKeysMsg, verify: IdentityVerify): void {
  const scope = { binding, federation: m.federation, round: m.round };
  if (!verify(m.sender, advertStatement(scope, m.sender, m.encryptionKey, m.maskKey, m.contributes), m.signature)) {
    throw new SecAggError('SECAGG_BAD_SIGNATURE', `advertisement of ${m.sender} is not signed by its identity`, { sender: m.sender });
  }
}
