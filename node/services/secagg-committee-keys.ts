/**
 * Committee members' share-encryption keys from their libp2p Ed25519 identities
 * (protocol/secure-aggregation/committee-keys.ts): this peer's own X25519 secret from its
 * identity key, and any member's X25519 public key from its peer id (which embeds the Ed25519
 * public key). Known before the round, so participants never wait on members' advertisements,
 * but with no forward secrecy (F13): the simulator's choice; the daemon's is ./secagg-prekeys.ts.
 */
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import {
  type CommitteeKeyOf,
  committeeEncryptionPublicKey,
  committeeEncryptionSecretKey,
} from '../../protocol/secure-aggregation/committee-keys.js';

export interface CommitteeKeys {
  /** This peer's X25519 secret (decrypts shares addressed to it as a committee member). */
  readonly own: Uint8Array;
  /** Any member's X25519 public key, from its peer id; undefined for a non-Ed25519 id. */
  readonly of: CommitteeKeyOf;
}

/** Bounded: one entry per federation member is all a peer ever needs. */
const CACHE_SIZE = 4096;
const cache = new Map<string, Uint8Array | undefined>();

/** X25519 public key of `peer`'s identity (cached). */
export const committeeKeyOfPeer: CommitteeKeyOf = (peer) => {
  if (cache.has(peer)) return cache.get(peer);
  let key: Uint8Array | undefined;
  try {
    const pk = peerIdFromString(peer).publicKey;
    key = pk?.type === 'Ed25519' ? committeeEncryptionPublicKey(pk.raw) : undefined;
  } catch {
    key = undefined;
  }
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(peer, key);
  return key;
};

/** This peer's committee keys from its libp2p identity (Ed25519 only). */
export function identityCommitteeKeys(privateKey: PrivateKey): CommitteeKeys {
  if (privateKey.type !== 'Ed25519') throw new TypeError(`identity key type ${privateKey.type}: secure aggregation needs Ed25519`);
  return { own: committeeEncryptionSecretKey(privateKey.raw.subarray(0, 32)), of: committeeKeyOfPeer };
}
