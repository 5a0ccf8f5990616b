/**
 * Splitting payloads into gossip-sized chunks and reassembling them.
 *
 * The reassembler is pure bookkeeping (no clock): the node calls `dropRoundsBefore(r)` as
 * rounds end, which bounds memory together with the per-sender and total-bytes limits.
 */
import { bytesEqual, concatBytes, hash256, type Sha256, toHex0x } from './bytes.js';
import type { Chunk, PayloadType } from './messages/chunk.js';
import { MessageError } from './messages/errors.js';
import { MAX_CHUNK_DATA_BYTES, MAX_CHUNKS, MAX_PAYLOAD_BYTES } from './messages/limits.js';

export interface ChunkHeader {
  readonly type: PayloadType;
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
}

/** `sha256`: the payload hash (bytes.ts `Sha256`; the node injects a native one), default pure JS. */
export function splitPayload(
  payload: Uint8Array,
  header: ChunkHeader,
  chunkSize = MAX_CHUNK_DATA_BYTES,
  sha256: Sha256 = hash256,
): Chunk[] {
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK_DATA_BYTES) {
    throw new MessageError('MSG_BAD_CHUNK', `chunk size ${chunkSize}`, { field: 'chunkSize', value: chunkSize, max: MAX_CHUNK_DATA_BYTES });
  }
  if (payload.length < 1 || payload.length > MAX_PAYLOAD_BYTES) {
    throw new MessageError('MSG_TOO_LARGE', `payload is ${payload.length} bytes`, { size: payload.length, max: MAX_PAYLOAD_BYTES });
  }
  const chunkCount = Math.ceil(payload.length / chunkSize);
  if (chunkCount > MAX_CHUNKS) {
    throw new MessageError('MSG_TOO_LARGE', `${chunkCount} chunks`, { chunks: chunkCount, max: MAX_CHUNKS });
  }
  const payloadHash = sha256(payload);
  const chunks: Chunk[] = [];
  for (let i = 0; i < chunkCount; i++) {
    chunks.push({
      ...header,
      payloadHash,
      payloadLength: payload.length,
      chunkIndex: i,
      chunkCount,
      data: payload.subarray(i * chunkSize, Math.min(payload.length, (i + 1) * chunkSize)),
    });
  }
  return chunks;
}

export interface ReassemblerLimits {
  /** Payloads being assembled at once per (type, round, sender); more is a flood. */
  readonly maxPendingPerSender: number;
  /** Bytes held in incomplete payloads across all senders. */
  readonly maxBufferedBytes: number;
}

export const DEFAULT_REASSEMBLER_LIMITS: ReassemblerLimits = {
  maxPendingPerSender: 2,
  maxBufferedBytes: 512 * 1024 * 1024,
};

interface Pending {
  readonly first: Chunk;
  readonly parts: (Uint8Array | undefined)[];
  received: number;
  bytes: number;
}

export type AddResult =
  | { readonly status: 'partial'; readonly received: number; readonly chunkCount: number }
  | { readonly status: 'duplicate' }
  | { readonly status: 'complete'; readonly header: ChunkHeader; readonly payloadHash: Uint8Array; readonly payload: Uint8Array };

export class Reassembler {
  private readonly pending = new Map<string, Pending>();
  /** Keys of payloads already completed, by round: late duplicates are not re-buffered. */
  private readonly completed = new Map<number, Set<string>>();
  private buffered = 0;

  constructor(
    private readonly limits: ReassemblerLimits = DEFAULT_REASSEMBLER_LIMITS,
    /** Verifies each reassembled payload (bytes.ts `Sha256`; the node injects a native one). */
    private readonly sha256: Sha256 = hash256,
  ) {}

  get bufferedBytes(): number {
    return this.buffered;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  add(chunk: Chunk): AddResult {
    const senderKey = `${chunk.type}|${chunk.round}|${chunk.sender}`;
    const key = `${senderKey}|${toHex0x(chunk.payloadHash)}`;
    if (this.completed.get(chunk.round)?.has(key)) return { status: 'duplicate' };
    let p = this.pending.get(key);
    if (p === undefined) {
      let perSender = 0;
      for (const k of this.pending.keys()) if (k.startsWith(`${senderKey}|`)) perSender++;
      if (perSender >= this.limits.maxPendingPerSender) {
        throw new MessageError('MSG_BAD_CHUNK', `sender ${chunk.sender} has ${perSender} payloads in flight`, {
          field: 'sender',
          sender: chunk.sender,
          pending: perSender,
          max: this.limits.maxPendingPerSender,
        });
      }
      p = { first: chunk, parts: new Array(chunk.chunkCount).fill(undefined), received: 0, bytes: 0 };
      this.pending.set(key, p);
    } else if (p.first.chunkCount !== chunk.chunkCount || p.first.payloadLength !== chunk.payloadLength) {
      throw new MessageError('MSG_BAD_CHUNK', 'chunk disagrees with earlier chunks of the same payload', {
        field: 'chunkCount',
        expected: { chunkCount: p.first.chunkCount, payloadLength: p.first.payloadLength },
        got: { chunkCount: chunk.chunkCount, payloadLength: chunk.payloadLength },
      });
    }
    if (p.parts[chunk.chunkIndex] !== undefined) return { status: 'duplicate' };
    if (p.bytes + chunk.data.length > chunk.payloadLength) {
      this.discard(key);
      throw new MessageError('MSG_BAD_CHUNK', 'chunks exceed the declared payload length', {
        field: 'data',
        declared: chunk.payloadLength,
        got: p.bytes + chunk.data.length,
      });
    }
    if (this.buffered + chunk.data.length > this.limits.maxBufferedBytes) {
      throw new MessageError('MSG_TOO_LARGE', 'reassembly buffer full', { buffered: this.buffered, max: this.limits.maxBufferedBytes });
    }
    p.parts[chunk.chunkIndex] = chunk.data;
    p.received++;
    p.bytes += chunk.data.length;
    this.buffered += chunk.data.length;
    if (p.received < chunk.chunkCount) return { status: 'partial', received: p.received, chunkCount: chunk.chunkCount };

    this.discard(key);
    const done = this.completed.get(chunk.round) ?? new Set<string>();
    done.add(key);
    this.completed.set(chunk.round, done);
    const payload = concatBytes(p.parts as Uint8Array[]);
    if (payload.length !== chunk.payloadLength) {
      throw new MessageError('MSG_BAD_CHUNK', `reassembled ${payload.length} bytes, declared ${chunk.payloadLength}`, {
        field: 'payloadLength',
        declared: chunk.payloadLength,
        got: payload.length,
      });
    }
    const actual = this.sha256(payload);
    if (!bytesEqual(actual, chunk.payloadHash)) {
      throw new MessageError('MSG_HASH_MISMATCH', 'payload hash does not match the chunks’ declared hash', {
        declared: toHex0x(chunk.payloadHash),
        actual: toHex0x(actual),
      });
    }
    const { type, federation, round, sender } = p.first;
    return { status: 'complete', header: { type, federation, round, sender }, payloadHash: actual, payload };
  }

  /** Free every incomplete payload of rounds < `round`. */
  dropRoundsBefore(round: number): void {
    for (const [key, p] of this.pending) if (p.first.round < round) this.discard(key);
    for (const r of this.completed.keys()) if (r < round) this.completed.delete(r);
  }

  private discard(key: string): void {
    const p = this.pending.get(key);
    if (p === undefined) return;
    this.buffered -= p.bytes;
    this.pending.delete(key);
  }
}
