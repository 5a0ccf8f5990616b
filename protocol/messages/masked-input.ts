/**
 * MaskedInputPayload v3: a participant's secure-aggregation input for round r, carried
 * chunked on the update topic as PayloadType.MaskedInput.
 *
 *   version u8 = 3 | baseModelHash 32 | dpParams 32 (uint256, big-endian) | entrySignature 65 |
 *   neighbours u16 × participant varBytes16 (sorted) |
 *   length u32 | length × u32 (LE)   — the masked vector y_i
 *
 * `dpParams` and `entrySignature` are the participant's declaration for the round record:
 * its DP-SGD parameters (protocol/chain/dp-params.ts `encodeDpParams`, 0 without DP) and its
 * EIP-712 signature (r ‖ s ‖ v) over `ParticipantEntry(round, member, dpParams, spend)` with its
 * Ethereum account (protocol/chain/participant-entry.ts), which the committee copies into the
 * record and the contract checks; 65 zero bytes when the participant has no signer (then no
 * record can include it). There is no sample-count bucket any more (v2 carried one in clear,
 * contradicting "only Σ n_i is revealed"; issue 13): n_i travels only masked, inside y_i.
 * The payload travels in gossip messages signed with the participant's libp2p identity
 * (StrictSign; the inbox checks sender = signer). A malformed declaration is refused here
 * (MSG_BAD_FIELD naming `dpParams`).
 *
 * `neighbours` is M_i, the participants i masked with: exactly the certified U_2 \ {i}
 * (participant.ts); committee members only list an input in their view when it is.
 */
import { decodeDpParams, NO_DP_PARAMS } from '../chain/dp-params.js';
import { ByteReader, ByteWriter, fromUtf8, utf8 } from '../bytes.js';
import { isFedmeshError } from '../errors.js';
import { MessageError, truncated } from './errors.js';
import { MAX_PARTICIPANTS, MAX_PAYLOAD_BYTES, MAX_PEER_ID_BYTES } from './limits.js';

export const MASKED_INPUT_PAYLOAD_VERSION = 3;

/** An Ethereum signature r ‖ s ‖ v. */
export const ENTRY_SIGNATURE_BYTES = 65;

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
  /** Declared DP-SGD parameters for the round (protocol/chain/dp-params.ts); NO_DP_PARAMS without DP. */
  readonly dpParams: bigint;
  /** EIP-712 ParticipantEntry signature (65 bytes; zeros: unsigned). */
  readonly entrySignature: Uint8Array;
  readonly neighbours: readonly string[];
  readonly masked: Uint32Array;
}

/**
 * What `encodeMaskedInput` takes: a payload whose declaration may be left out, which declares
 * no DP and no entry signature.
 */
export type MaskedInputInit = Omit<MaskedInputPayload, 'dpParams' | 'entrySignature'> &
  Partial<Pick<MaskedInputPayload, 'dpParams' | 'entrySignature'>>;

export function encodeMaskedInput(input: MaskedInputInit): Uint8Array {
  const p: MaskedInputPayload = {
    ...input,
    dpParams: input.dpParams ?? NO_DP_PARAMS,
    entrySignature: input.entrySignature ?? new Uint8Array(ENTRY_SIGNATURE_BYTES),
  };
  if (p.entrySignature.length !== ENTRY_SIGNATURE_BYTES) {
    throw new MessageError('MSG_BAD_FIELD', `entrySignature of ${p.entrySignature.length} bytes`, {
      field: 'entrySignature',
      value: p.entrySignature.length,
      expected: ENTRY_SIGNATURE_BYTES,
    });
  }
  if (p.neighbours.length > MAX_PARTICIPANTS) {
    throw new MessageError('MSG_BAD_FIELD', `${p.neighbours.length} neighbours`, { field: 'neighbours', value: p.neighbours.length });
  }
  for (let i = 1; i < p.neighbours.length; i++) {
    if (!(p.neighbours[i - 1]! < p.neighbours[i]!))
      throw new MessageError('MSG_BAD_FIELD', 'neighbours must be strictly sorted', { field: 'neighbours' });
  }
  checkDeclaredDpParams(p.dpParams);
  const w = new ByteWriter(100 + p.neighbours.length * 56 + p.masked.length * 4)
    .u8(MASKED_INPUT_PAYLOAD_VERSION)
    .bytes(p.baseModelHash)
    .bytes(dpParamsToBytes(p.dpParams))
    .bytes(p.entrySignature)
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
  const dpParams = checkDeclaredDpParams(dpParamsFromBytes(r.bytes(DP_PARAMS_BYTES)));
  const entrySignature = r.bytes(ENTRY_SIGNATURE_BYTES);
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
  return { baseModelHash, dpParams, entrySignature, neighbours, masked: bytesToWords(raw) };
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
