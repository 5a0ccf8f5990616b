/**
 * FinalizeSignature v1: one committee member's EIP-712 signature of a round record, gossiped on
 * `/fedmesh/<federation>/finalize/1` so the submitting member can gather t of them for
 * FedmeshFederation `finalizeRound` (contracts/IFedmeshRounds.sol; protocol/chain/record.ts).
 *
 *     u8     version (= 1)
 *     u16+   federation (utf8, ≤ MAX_FEDERATION_ID_BYTES)
 *     u64    round
 *     u16+   author peer id (utf8, ≤ MAX_PEER_ID_BYTES)
 *     32     record digest (EIP-712 `roundRecordDigest`)
 *     65     signature (r ‖ s ‖ v)
 *
 * Only the digest travels: every committee member builds the same canonical record from the
 * same aggregate, so a signature is useful exactly when its digest equals the receiver's own.
 */
import { ByteReader, ByteWriter, fromUtf8, utf8 } from '../bytes.js';
import { MessageError, truncated } from './errors.js';
import { MAX_FEDERATION_ID_BYTES, MAX_PEER_ID_BYTES } from './limits.js';

export const FINALIZE_SIGNATURE_VERSION = 1;
/** Length of a secp256k1 signature as ethers serialises it: r (32) ‖ s (32) ‖ v (1). */
export const RECORD_SIGNATURE_BYTES = 65;
/**
 * Largest FinalizeSignature accepted, checked before decoding: the fixed fields (1 + 8 + 32 +
 * 65), two u16 length prefixes and the longest federation id and peer id, rounded up.
 */
export const MAX_FINALIZE_MESSAGE_BYTES = 512;

export interface FinalizeSignature {
  readonly federation: string;
  readonly round: number;
  /** libp2p peer id of the signing committee member; must equal the gossip author. */
  readonly author: string;
  /** EIP-712 digest of the signed record (32 bytes). */
  readonly digest: Uint8Array;
  /** 65-byte signature of `digest` by the author's registered address. */
  readonly signature: Uint8Array;
}

export function encodeFinalizeSignature(m: FinalizeSignature): Uint8Array {
  if (m.digest.length !== 32)
    throw new MessageError('MSG_BAD_FIELD', 'digest must be 32 bytes', { field: 'digest', value: m.digest.length });
  if (m.signature.length !== RECORD_SIGNATURE_BYTES) {
    throw new MessageError('MSG_BAD_FIELD', `signature must be ${RECORD_SIGNATURE_BYTES} bytes`, {
      field: 'signature',
      value: m.signature.length,
    });
  }
  const federation = utf8(m.federation);
  const author = utf8(m.author);
  if (federation.length > MAX_FEDERATION_ID_BYTES) {
    throw new MessageError('MSG_BAD_FIELD', 'federation id too long', { field: 'federation', value: federation.length });
  }
  if (author.length > MAX_PEER_ID_BYTES)
    throw new MessageError('MSG_BAD_FIELD', 'author too long', { field: 'author', value: author.length });
  return new ByteWriter(256)
    .u8(FINALIZE_SIGNATURE_VERSION)
    .varBytes16(federation)
    .u64(m.round)
    .varBytes16(author)
    .bytes(m.digest)
    .bytes(m.signature)
    .finish();
}

/** Decodes a FinalizeSignature or throws MessageError (size, version, truncation, trailing bytes). */
export function decodeFinalizeSignature(data: Uint8Array): FinalizeSignature {
  if (data.length > MAX_FINALIZE_MESSAGE_BYTES) {
    throw new MessageError('MSG_TOO_LARGE', `finalize message of ${data.length} bytes`, {
      size: data.length,
      max: MAX_FINALIZE_MESSAGE_BYTES,
    });
  }
  const r = new ByteReader(data, truncated);
  const version = r.u8();
  if (version !== FINALIZE_SIGNATURE_VERSION) {
    throw new MessageError('MSG_BAD_VERSION', `finalize message version ${version}`, { version, expected: FINALIZE_SIGNATURE_VERSION });
  }
  const federation = fromUtf8(r.varBytes16(MAX_FEDERATION_ID_BYTES));
  const round = r.u64();
  const author = fromUtf8(r.varBytes16(MAX_PEER_ID_BYTES));
  const digest = r.bytes(32);
  const signature = r.bytes(RECORD_SIGNATURE_BYTES);
  if (r.remaining !== 0) throw new MessageError('MSG_TRAILING_BYTES', `${r.remaining} trailing bytes`, { trailing: r.remaining });
  if (author.length === 0) throw new MessageError('MSG_BAD_FIELD', 'empty author', { field: 'author', value: '' });
  return { federation, round, author, digest, signature };
}
