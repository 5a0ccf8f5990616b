/**
 * Chunk envelope: the unit that travels on gossip. A payload larger than one gossip message
 * is split into `chunkCount` chunks; every chunk repeats the payload's SHA-256 and length so
 * a receiver can reassemble and verify the whole without trusting the order of arrival.
 *
 * Layout (LE):
 *   type u8 (PayloadType) | version u8 | federation varBytes16 | round u64 | sender varBytes16
 *   | payloadHash 32 bytes | payloadLength u32 | chunkIndex u16 | chunkCount u16 | data varBytes32
 */
import { ByteReader, ByteWriter, fromUtf8, utf8 } from '../bytes.js';
import { MessageError, truncated } from './errors.js';
import {
  MAX_CHUNK_DATA_BYTES,
  MAX_CHUNKS,
  MAX_FEDERATION_ID_BYTES,
  MAX_GOSSIP_MESSAGE_BYTES,
  MAX_PAYLOAD_BYTES,
  MAX_PEER_ID_BYTES,
} from './limits.js';

export const CHUNK_VERSION = 1;

export enum PayloadType {
  /** Plaintext UpdatePayload (update topic). */
  Update = 1,
  /** AggregatePayload v1 (plaintext) or v2 (secure), on the aggregate topic. */
  Aggregate = 2,
  /** MaskedInputPayload (update topic): a secure-aggregation masked vector. */
  MaskedInput = 3,
}

const PAYLOAD_TYPES: ReadonlySet<number> = new Set([PayloadType.Update, PayloadType.Aggregate, PayloadType.MaskedInput]);

export interface Chunk {
  readonly type: PayloadType;
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
  readonly payloadHash: Uint8Array;
  readonly payloadLength: number;
  readonly chunkIndex: number;
  readonly chunkCount: number;
  readonly data: Uint8Array;
}

export function encodeChunk(c: Chunk): Uint8Array {
  const out = new ByteWriter(c.data.length + 256)
    .u8(c.type)
    .u8(CHUNK_VERSION)
    .varBytes16(utf8(c.federation))
    .u64(c.round)
    .varBytes16(utf8(c.sender))
    .bytes(c.payloadHash)
    .u32(c.payloadLength)
    .u16(c.chunkIndex)
    .u16(c.chunkCount)
    .varBytes32(c.data)
    .finish();
  if (out.length > MAX_GOSSIP_MESSAGE_BYTES) {
    throw new MessageError('MSG_TOO_LARGE', `chunk is ${out.length} bytes`, { size: out.length, max: MAX_GOSSIP_MESSAGE_BYTES });
  }
  return out;
}

/**
 * Decode one chunk. Checks, in order: size, type, version, field bounds, trailing bytes.
 * Federation and round are checked by the caller's validator, which knows the expected values.
 */
export function decodeChunk(bytes: Uint8Array): Chunk {
  if (bytes.length > MAX_GOSSIP_MESSAGE_BYTES) {
    throw new MessageError('MSG_TOO_LARGE', `message is ${bytes.length} bytes`, { size: bytes.length, max: MAX_GOSSIP_MESSAGE_BYTES });
  }
  const r = new ByteReader(bytes, truncated);
  const type = r.u8();
  if (!PAYLOAD_TYPES.has(type)) {
    throw new MessageError('MSG_BAD_TYPE', `payload type ${type}`, { field: 'type', value: type });
  }
  const version = r.u8();
  if (version !== CHUNK_VERSION) {
    throw new MessageError('MSG_BAD_VERSION', `chunk version ${version}`, { field: 'version', got: version, expected: CHUNK_VERSION });
  }
  const federation = fromUtf8(r.varBytes16(MAX_FEDERATION_ID_BYTES));
  const round = r.u64();
  const sender = fromUtf8(r.varBytes16(MAX_PEER_ID_BYTES));
  if (sender.length === 0) throw new MessageError('MSG_BAD_FIELD', 'empty sender', { field: 'sender', value: sender });
  const payloadHash = r.bytes(32);
  const payloadLength = r.u32();
  const chunkIndex = r.u16();
  const chunkCount = r.u16();
  const data = r.varBytes32(MAX_CHUNK_DATA_BYTES);
  if (r.remaining !== 0) throw new MessageError('MSG_TRAILING_BYTES', `${r.remaining} bytes after chunk`, { extra: r.remaining });
  if (round < 1) throw new MessageError('MSG_BAD_FIELD', `round ${round}`, { field: 'round', value: round });
  if (payloadLength < 1 || payloadLength > MAX_PAYLOAD_BYTES) {
    throw new MessageError('MSG_BAD_CHUNK', `payload length ${payloadLength}`, {
      field: 'payloadLength',
      value: payloadLength,
      max: MAX_PAYLOAD_BYTES,
    });
  }
  if (chunkCount < 1 || chunkCount > MAX_CHUNKS || chunkIndex >= chunkCount) {
    throw new MessageError('MSG_BAD_CHUNK', `chunk ${chunkIndex} of ${chunkCount}`, {
      field: 'chunkIndex',
      chunkIndex,
      chunkCount,
      max: MAX_CHUNKS,
    });
  }
  if (Math.ceil(payloadLength / MAX_CHUNK_DATA_BYTES) > chunkCount) {
    throw new MessageError('MSG_BAD_CHUNK', `${payloadLength} bytes cannot fit ${chunkCount} chunks`, {
      field: 'chunkCount',
      payloadLength,
      chunkCount,
    });
  }
  return { type, federation, round, sender, payloadHash, payloadLength, chunkIndex, chunkCount, data };
}
