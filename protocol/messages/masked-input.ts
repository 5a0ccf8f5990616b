/**
 * MaskedInputPayload v2: a participant's secure-aggregation input for round r, carried
 * chunked on the update topic as PayloadType.MaskedInput.
 *
 *   version u8 = 2 | baseModelHash 32 | bucket u8 | dpParams 32 (uint256, big-endian) |
 *   neighbours u16 × participant varBytes16 (sorted) |
 *   length u32 | length × u32 (LE)   — the masked vector y_i in Z_{2^64}: length/2 elements, each
 *                                      a little-endian u64 as (low, high) words; last element the masked n_i
 *
 * `bucket` and `dpParams` are the participant's declaration for the round record
 * (protocol/chain/record.ts `ContributionDeclaration`): its sample-count bucket
 * (protocol/chain/credits.ts `sampleCountBucket`, coarse on purpose: n_i itself stays masked)
 * and its DP-SGD parameters (protocol/chain/dp-params.ts `encodeDpParams`, 0 without DP). The
 * payload travels in gossip messages signed with the participant's libp2p identity (StrictSign;
 * the inbox checks sender = signer), so the declaration is signed with the input it describes;
 * the committee copies it into the record and charges `declaredSpend(dpParams)`. A malformed
 * declaration is refused here (MSG_BAD_FIELD naming `bucket` or `dpParams`).
 *
 * `neighbours` is M_i, the participants i masked with (their pairwise masks are in y_i); the
 * committee needs it to remove masks shared with dropped participants and to check that the
 * neighbour relation is symmetric on the survivors.
 */
import { MAX_BUCKET } from '../chain/record.js';
import { decodeDpParams, NO_DP_PARAMS } from '../chain/dp-params.js';
import { ByteReader, ByteWriter, fromUtf8, utf8 } from '../bytes.js';
import { isFedmeshError } from '../errors.js';
import { MessageError, truncated } from './errors.js';
import { MAX_PARTICIPANTS, MAX_PAYLOAD_BYTES, MAX_PEER_ID_BYTES } from './limits.js';

export const MASKED_INPUT_PAYLOAD_VERSION = 2;

/** Bytes of a declared DP-parameter word on the wire (a uint256, as in the round record). */
export const DP_PARAMS_BYTES = 32;

/**
 * Checks a declared DP-parameter word: NO_DP_PARAMS, or a word `decodeDpParams` accepts
 * (q ∈ (0, 1], σ, C > 0, steps ≥ 1, bits above 160 zero). Throws MSG_BAD_FIELD naming
 * `dpParams` and the rule, so a malformed declaration never reaches a round record.
 */
export function checkDeclaredDpParams(word: bigint): bigint {
  if (typeof word !== 'bigint' || word < 0n || word >> 256n !== 0n) {
    throw new MessageError('MSG_BAD_FIELD', `dpParams ${String(word)}`, { field: 'dpParams', value: String(word), rule: 'a uint256' });
  }
  if (word === NO_DP_PARAMS) return word;
  try {
    decodeDpParams(word);
  } catch (e) {
    if (!isFedmeshError(e)) throw e;
    throw new MessageError('MSG_BAD_FIELD', `dpParams ${word}: ${e.message}`, {
      field: 'dpParams',
      value: `0x${word.toString(16)}`,
      rule: e.message,
    });
  }
  return word;
}

/** Checks a declared sample-count bucket (0 … MAX_BUCKET); MSG_BAD_FIELD naming `bucket`. */
export function checkDeclaredBucket(bucket: number): number {
  if (!(Number.isInteger(bucket) && bucket >= 0 && bucket <= MAX_BUCKET)) {
    throw new MessageError('MSG_BAD_FIELD', `bucket ${bucket}`, { field: 'bucket', value: bucket, max: MAX_BUCKET });
  }
  return bucket;
}

/** `word` as 32 big-endian bytes. */
export function dpParamsToBytes(word: bigint): Uint8Array {
  const out = new Uint8Array(DP_PARAMS_BYTES);
  let w = word;
  for (let i = DP_PARAMS_BYTES - 1; i >= 0; i--) {
    out[i] = Number(w & 0xffn);
    w >>= 8n;
  }
  return out;
}

/** The uint256 of 32 big-endian bytes. */
export function dpParamsFromBytes(b: Uint8Array): bigint {
  let w = 0n;
  for (const byte of b) w = (w << 8n) | BigInt(byte);
  return w;
}

/** Words in a masked vector: bounded by the payload limit. */
export const MAX_MASKED_WORDS = Math.floor(MAX_PAYLOAD_BYTES / 4);

export interface MaskedInputPayload {
  readonly baseModelHash: Uint8Array;
  /** Declared sample-count bucket, 0 … MAX_BUCKET (protocol/chain/credits.ts `sampleCountBucket`). */
  readonly bucket: number;
  /** Declared DP-SGD parameters for the round (protocol/chain/dp-params.ts); NO_DP_PARAMS without DP. */
  readonly dpParams: bigint;
  readonly neighbours: readonly string[];
  readonly masked: Uint32Array;
}

/**
 * What `encodeMaskedInput` takes: a payload whose declaration may be left out, which declares
 * bucket 0 and no DP (SecAggParticipant.maskInput always fills both in).
 */
export type MaskedInputInit = Omit<MaskedInputPayload, 'bucket' | 'dpParams'> & Partial<Pick<MaskedInputPayload, 'bucket' | 'dpParams'>>;

export function encodeMaskedInput(input: MaskedInputInit): Uint8Array {
  const p: MaskedInputPayload = { ...input, bucket: input.bucket ?? 0, dpParams: input.dpParams ?? NO_DP_PARAMS };
  if (p.neighbours.length > MAX_PARTICIPANTS) {
    throw new MessageError('MSG_BAD_FIELD', `${p.neighbours.length} neighbours`, { field: 'neighbours', value: p.neighbours.length });
  }
  for (let i = 1; i < p.neighbours.length; i++) {
    if (!(p.neighbours[i - 1]! < p.neighbours[i]!))
      throw new MessageError('MSG_BAD_FIELD', 'neighbours must be strictly sorted', { field: 'neighbours' });
  }
  checkDeclaredBucket(p.bucket);
  checkDeclaredDpParams(p.dpParams);
  const w = new ByteWriter(100 + p.neighbours.length * 56 + p.masked.length * 4)
    .u8(MASKED_INPUT_PAYLOAD_VERSION)
    .bytes(p.baseModelHash)
    .u8(p.bucket)
    .bytes(dpParamsToBytes(p.dpParams))
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
  const bucket = checkDeclaredBucket(r.u8());
  const dpParams = checkDeclaredDpParams(dpParamsFromBytes(r.bytes(DP_PARAMS_BYTES)));
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
  // Two words per Z_{2^64} element (secure-aggregation/ring.ts): at least one coordinate and n_i.
  if (len < 4 || len % 2 !== 0 || len > MAX_MASKED_WORDS)
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
  return { baseModelHash, bucket, dpParams, neighbours, masked: bytesToWords(raw) };
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
