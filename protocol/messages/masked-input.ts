/**
 * MaskedInputPayload v1: a participant's secure-aggregation input for round r, carried
 * chunked on the update topic as PayloadType.MaskedInput.
 *
 *   version u8 | baseModelHash 32 | neighbours u16 × participant varBytes16 (sorted) |
 *   length u32 | length × u32 (LE)   — the masked vector y_i, last word the masked n_i
 *
 * `neighbours` is M_i, the participants i masked with (their pairwise masks are in y_i); the
 * committee needs it to remove masks shared with dropped participants and to check that the
 * neighbour relation is symmetric on the survivors.
 */
import { ByteReader, ByteWriter, fromUtf8, utf8 } from '../bytes.js';
import { MessageError, truncated } from './errors.js';
import { MAX_PARTICIPANTS, MAX_PAYLOAD_BYTES, MAX_PEER_ID_BYTES } from './limits.js';

export const MASKED_INPUT_PAYLOAD_VERSION = 1;

/** Words in a masked vector: bounded by the payload limit. */
export const MAX_MASKED_WORDS = Math.floor(MAX_PAYLOAD_BYTES / 4);

export interface MaskedInputPayload {
  readonly baseModelHash: Uint8Array;
  readonly neighbours: readonly string[];
  readonly masked: Uint32Array;
}

export function encodeMaskedInput(p: MaskedInputPayload): Uint8Array {
  if (p.neighbours.length > MAX_PARTICIPANTS) {
    throw new MessageError('MSG_BAD_FIELD', `${p.neighbours.length} neighbours`, { field: 'neighbours', value: p.neighbours.length });
  }
  for (let i = 1; i < p.neighbours.length; i++) {
    if (!(p.neighbours[i - 1]! < p.neighbours[i]!))
      throw new MessageError('MSG_BAD_FIELD', 'neighbours must be strictly sorted', { field: 'neighbours' });
  }
  const w = new ByteWriter(64 + p.neighbours.length * 56 + p.masked.length * 4)
    .u8(MASKED_INPUT_PAYLOAD_VERSION)
    .bytes(p.baseModelHash)
    .u16(p.neighbours.length);
  for (const n of p.neighbours) w.varBytes16(utf8(n));
  w.u32(p.masked.length);
  return w.bytes(wordsToBytes(p.masked)).finish();
}

/** Decode; when `expectWords` is given the vector must have exactly that many words. */
export function decodeMaskedInput(bytes: Uint8Array, expectWords?: number): MaskedInputPayload {
  const r = new ByteReader(bytes, truncated);
  const version = r.u8();
  if (version !== MASKED_INPUT_PAYLOAD_VERSION) {
    throw new MessageError('MSG_BAD_VERSION', `masked input version ${version}`, {
      field: 'version',
      got: version,
      expected: MASKED_INPUT_PAYLOAD_VERSION,
    });
  }
  const baseModelHash = r.bytes(32);
  const n = r.u16();
  if (n > MAX_PARTICIPANTS)
    throw new MessageError('MSG_BAD_FIELD', `${n} neighbours`, { field: 'neighbours', value: n, max: MAX_PARTICIPANTS });
  const neighbours: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = fromUtf8(r.varBytes16(MAX_PEER_ID_BYTES));
    if (id.length === 0 || (i > 0 && !(neighbours[i - 1]! < id))) {
      throw new MessageError('MSG_BAD_FIELD', 'neighbours must be non-empty and strictly sorted', { field: 'neighbours', value: id });
    }
    neighbours.push(id);
  }
  const len = r.u32();
  if (len < 2 || len > MAX_MASKED_WORDS)
    throw new MessageError('MSG_BAD_FIELD', `masked vector of ${len} words`, { field: 'length', value: len, max: MAX_MASKED_WORDS });
  if (expectWords !== undefined && len !== expectWords) {
    throw new MessageError('MSG_BAD_SHAPE', `masked vector has ${len} words, the model needs ${expectWords}`, {
      field: 'length',
      expected: expectWords,
      got: len,
    });
  }
  const raw = r.bytes(len * 4);
  if (r.remaining !== 0) throw new MessageError('MSG_TRAILING_BYTES', `${r.remaining} bytes after masked input`, { extra: r.remaining });
  return { baseModelHash, neighbours, masked: bytesToWords(raw) };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Little-endian bytes of `words` (a plain copy on little-endian hosts). */
function wordsToBytes(words: Uint32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const out = new Uint8Array(words.length * 4);
  const v = new DataView(out.buffer);
  for (let k = 0; k < words.length; k++) v.setUint32(4 * k, words[k]!, true);
  return out;
}

/** Words from little-endian bytes (`raw` is a fresh copy, so it may be reused). */
function bytesToWords(raw: Uint8Array): Uint32Array {
  if (LITTLE_ENDIAN && raw.byteOffset % 4 === 0) return new Uint32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const out = new Uint32Array(raw.length / 4);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let k = 0; k < out.length; k++) out[k] = v.getUint32(4 * k, true);
  return out;
}
