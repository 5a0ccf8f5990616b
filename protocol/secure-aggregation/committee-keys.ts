/**
 * Committee members' share-encryption keys, known before the round (issue 13, item 4): each
 * member's X25519 key is derived from its long-term libp2p Ed25519 identity, whose public key
 * is its peer id (registered on chain). Participants encrypt their shares of b_i and s_i^SK to
 * these keys as soon as they have advertised, so no participant waits on a committee member's
 * in-round advertisement.
 *
 * The map is the birational equivalence between edwards25519 and curve25519 (RFC 7748 §4.1;
 * the same conversion libsodium's crypto_sign_ed25519_pk_to_curve25519 and
 * _sk_to_curve25519 make): public u = (1 + y)/(1 − y); secret = the clamped first half of
 * SHA-512(seed), i.e. the Ed25519 signing scalar. Implemented by audited @noble/curves
 * (`ed25519.utils.toMontgomery`, `toMontgomerySecret`).
 *
 * Trade-off (docs/secure-aggregation.md, "Committee keys"): the sender side of every share
 * stays ephemeral (the participant's fresh c_i), but the recipient side is long-term, so shares
 * lose forward secrecy against a later compromise of the member's identity key: whoever obtains
 * t members' identity keys and the recorded gossip of a past round can decrypt t shares of every
 * b_i and s_i^SK of that round and unmask every input (red team F13). Used by the simulator only,
 * whose secrets derive from its seed anyway; the daemon uses signed per-round prekeys instead
 * (./prekeys.ts: known before the round like these, erased after it, so forward secret per round).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { SecAggError } from './errors.js';

/** The X25519 public key a participant encrypts `member`'s shares to, or undefined if unknown. */
export type CommitteeKeyOf = (member: string) => Uint8Array | undefined;

/** X25519 public key of an Ed25519 identity public key (32 bytes). Throws SECAGG_BAD_KEY for a non-point. */
export function committeeEncryptionPublicKey(ed25519PublicKey: Uint8Array): Uint8Array {
  try {
    return ed25519.utils.toMontgomery(ed25519PublicKey);
  } catch (e) {
    throw new SecAggError('SECAGG_BAD_KEY', 'identity key is not an Ed25519 point', { reason: String(e) });
  }
}

/** X25519 secret key of an Ed25519 identity seed (32 bytes): the clamped signing scalar. */
export function committeeEncryptionSecretKey(ed25519Seed: Uint8Array): Uint8Array {
  if (ed25519Seed.length !== 32)
    throw new SecAggError('SECAGG_BAD_KEY', `Ed25519 seed of ${ed25519Seed.length} bytes`, { length: ed25519Seed.length });
  return ed25519.utils.toMontgomerySecret(ed25519Seed);
}
