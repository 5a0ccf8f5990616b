/**
 * Payloads carried (chunked) on the update and aggregate topics.
 *
 * UpdatePayload v3 (a participant's locally trained model for round r):
 *   version u8 = 3 | baseModelHash 32 | sampleCount u32 | dpParams 32 (uint256, big-endian) |
 *   entrySignature 65 | weights varBytes32 (FMWT, see weights-codec)
 *
 * `dpParams` declares the DP-SGD parameters the participant trained with this round
 * (protocol/chain/dp-params.ts `encodeDpParams`; 0 without DP), and `entrySignature` is the
 * participant's own EIP-712 `ParticipantEntry(round, member, dpParams, declaredSpend(dpParams))`
 * signature with its Ethereum account (protocol/chain/participant-entry.ts), r ‖ s ‖ v; 65 zero
 * bytes when it has none (the committee cannot record such an update: FedmeshFederation
 * refuses a participant line without its member's signature). The committee puts dpParams, the
 * spend and the signature into the round record. The sample count is the FedAvg weight only;
 * nothing on chain depends on it. The update travels in gossip messages signed with the
 * participant's libp2p identity. A malformed word is refused (MSG_BAD_FIELD naming `dpParams`;
 * ./masked-input.ts `checkDeclaredDpParams`).
 *
 * AggregatePayload v1 (the committee's result for round r):
 *   version u8 | prevModelHash 32 | count u16 | count × (participant varBytes16, sampleCount u32,
 *   updateHash 32) | weights varBytes32
 *
 * The aggregate lists every included update by hash, so any peer that saw those updates can
 * recompute FedAvg and check the committee's arithmetic (plaintext mode), and an auditor can
 * tie the recorded model to its inputs.
 *
 * SecureAggregatePayload (AggregatePayload v2, secure aggregation): per-participant sample
 * counts are secret (only Σ n_i is unmasked), so v2 lists each survivor's masked-input hash
 * and carries the total instead:
 *   version u8 = 2 | prevModelHash 32 | totalSamples u64 | count u16 | count × (participant
 *   varBytes16, inputHash 32) | weights varBytes32
 */
import { ByteReader, ByteWriter, fromUtf8, utf8 } from '../bytes.js';
import type { ModelWeights } from '../model.js';
import { sameShapes } from '../model.js';
import { decodeWeights, encodeWeights, WeightsCodecError } from '../weights-codec.js';
import { NO_DP_PARAMS } from '../chain/dp-params.js';
import { MessageError, truncated } from './errors.js';
import { MAX_PARTICIPANTS, MAX_PAYLOAD_BYTES, MAX_PEER_ID_BYTES } from './limits.js';
import { checkDeclaredDpParams, DP_PARAMS_BYTES, dpParamsFromBytes, dpParamsToBytes, ENTRY_SIGNATURE_BYTES } from './masked-input.js';

export const UPDATE_PAYLOAD_VERSION = 3;
export const AGGREGATE_PAYLOAD_VERSION = 1;
export const SECURE_AGGREGATE_PAYLOAD_VERSION = 2;

/** Largest sample count one site may claim (2^31): far above any hospital's record count. */
export const MAX_SAMPLE_COUNT = 0x7fffffff;

export interface UpdatePayload {
  readonly baseModelHash: Uint8Array;
  readonly sampleCount: number;
  /**
   * Declared DP-SGD parameters for the round (protocol/chain/dp-params.ts). Optional when
   * encoding (default NO_DP_PARAMS: trained without DP); always set by `decodeUpdate`.
   */
  readonly dpParams?: bigint;
  /**
   * The participant's ParticipantEntry signature (65 bytes). Optional when encoding (default 65
   * zero bytes: unsigned); always set by `decodeUpdate`.
   */
  readonly entrySignature?: Uint8Array;
  readonly weights: ModelWeights;
}

export interface ParticipantEntry {
  readonly participant: string;
  readonly sampleCount: number;
  readonly updateHash: Uint8Array;
}

export interface AggregatePayload {
  readonly prevModelHash: Uint8Array;
  readonly participants: readonly ParticipantEntry[];
  readonly weights: ModelWeights;
}

function checkSampleCount(n: number, field: string): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_SAMPLE_COUNT) {
    throw new MessageError('MSG_BAD_FIELD', `${field} ${n}`, { field, value: n, min: 1, max: MAX_SAMPLE_COUNT });
  }
}

function decodeWeightsField(bytes: Uint8Array, expectShapesOf?: ModelWeights): ModelWeights {
  let weights: ModelWeights;
  try {
    weights = decodeWeights(bytes);
  } catch (e) {
    if (e instanceof WeightsCodecError) {
      throw new MessageError(e.code === 'CODEC_BAD_SHAPE' ? 'MSG_BAD_SHAPE' : 'MSG_BAD_FIELD', `weights: ${e.message}`, {
        field: 'weights',
        cause: e.code,
      });
    }
    throw e;
  }
  if (expectShapesOf !== undefined && !sameShapes(weights, expectShapesOf)) {
    throw new MessageError('MSG_BAD_SHAPE', 'weights do not match the federation model architecture', {
      field: 'weights',
      expected: expectShapesOf.tensors.map((t) => [...t.shape]),
      got: weights.tensors.map((t) => [...t.shape]),
    });
  }
  return weights;
}

function readVersion(r: ByteReader, expected: number): void {
  const v = r.u8();
  if (v !== expected) throw new MessageError('MSG_BAD_VERSION', `payload version ${v}`, { field: 'version', got: v, expected });
}

export function encodeUpdate(u: UpdatePayload): Uint8Array {
  checkSampleCount(u.sampleCount, 'sampleCount');
  const dpParams = checkDeclaredDpParams(u.dpParams ?? NO_DP_PARAMS);
  const entrySignature = u.entrySignature ?? new Uint8Array(ENTRY_SIGNATURE_BYTES);
  if (entrySignature.length !== ENTRY_SIGNATURE_BYTES) {
    throw new MessageError('MSG_BAD_FIELD', `entrySignature of ${entrySignature.length} bytes`, {
      field: 'entrySignature',
      value: entrySignature.length,
      max: ENTRY_SIGNATURE_BYTES,
    });
  }
  return new ByteWriter(192)
    .u8(UPDATE_PAYLOAD_VERSION)
    .bytes(u.baseModelHash)
    .u32(u.sampleCount)
    .bytes(dpParamsToBytes(dpParams))
    .bytes(entrySignature)
    .varBytes32(encodeWeights(u.weights))
    .finish();
}

/** Decode an update; when `expectShapesOf` is given, weights must have its tensor shapes. */
export function decodeUpdate(
  bytes: Uint8Array,
  expectShapesOf?: ModelWeights,
): UpdatePayload & { readonly dpParams: bigint; readonly entrySignature: Uint8Array } {
  const r = new ByteReader(bytes, truncated);
  readVersion(r, UPDATE_PAYLOAD_VERSION);
  const baseModelHash = r.bytes(32);
  const sampleCount = r.u32();
  checkSampleCount(sampleCount, 'sampleCount');
  const dpParams = checkDeclaredDpParams(dpParamsFromBytes(r.bytes(DP_PARAMS_BYTES)));
  const entrySignature = r.bytes(ENTRY_SIGNATURE_BYTES);
  const weights = decodeWeightsField(r.varBytes32(MAX_PAYLOAD_BYTES), expectShapesOf);
  if (r.remaining !== 0) throw new MessageError('MSG_TRAILING_BYTES', `${r.remaining} bytes after update`, { extra: r.remaining });
  return { baseModelHash, sampleCount, dpParams, entrySignature, weights };
}

export function encodeAggregate(a: AggregatePayload): Uint8Array {
  if (a.participants.length < 1 || a.participants.length > MAX_PARTICIPANTS) {
    throw new MessageError('MSG_BAD_FIELD', `${a.participants.length} participants`, {
      field: 'participants',
      value: a.participants.length,
      max: MAX_PARTICIPANTS,
    });
  }
  const w = new ByteWriter(256).u8(AGGREGATE_PAYLOAD_VERSION).bytes(a.prevModelHash).u16(a.participants.length);
  for (const p of a.participants) {
    checkSampleCount(p.sampleCount, 'participants.sampleCount');
    w.varBytes16(utf8(p.participant)).u32(p.sampleCount).bytes(p.updateHash);
  }
  return w.varBytes32(encodeWeights(a.weights)).finish();
}

export function decodeAggregate(bytes: Uint8Array, expectShapesOf?: ModelWeights): AggregatePayload {
  const r = new ByteReader(bytes, truncated);
  readVersion(r, AGGREGATE_PAYLOAD_VERSION);
  const prevModelHash = r.bytes(32);
  const count = r.u16();
  if (count < 1 || count > MAX_PARTICIPANTS) {
    throw new MessageError('MSG_BAD_FIELD', `${count} participants`, { field: 'participants', value: count, max: MAX_PARTICIPANTS });
  }
  const participants: ParticipantEntry[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const participant = fromUtf8(r.varBytes16(MAX_PEER_ID_BYTES));
    const sampleCount = r.u32();
    checkSampleCount(sampleCount, 'participants.sampleCount');
    if (participant.length === 0 || seen.has(participant)) {
      throw new MessageError('MSG_BAD_FIELD', `participant "${participant}" empty or repeated`, {
        field: 'participants',
        value: participant,
      });
    }
    seen.add(participant);
    participants.push({ participant, sampleCount, updateHash: r.bytes(32) });
  }
  const weights = decodeWeightsField(r.varBytes32(MAX_PAYLOAD_BYTES), expectShapesOf);
  if (r.remaining !== 0) throw new MessageError('MSG_TRAILING_BYTES', `${r.remaining} bytes after aggregate`, { extra: r.remaining });
  return { prevModelHash, participants, weights };
}

export interface SurvivorEntry {
  readonly participant: string;
  /** SHA-256 of the participant's MaskedInputPayload. */
  readonly inputHash: Uint8Array;
}

export interface SecureAggregatePayload {
  readonly prevModelHash: Uint8Array;
  readonly totalSamples: number;
  readonly participants: readonly SurvivorEntry[];
  readonly weights: ModelWeights;
}

export type AnyAggregate =
  | ({ readonly version: typeof AGGREGATE_PAYLOAD_VERSION } & AggregatePayload)
  | ({ readonly version: typeof SECURE_AGGREGATE_PAYLOAD_VERSION } & SecureAggregatePayload);

export function encodeSecureAggregate(a: SecureAggregatePayload): Uint8Array {
  if (a.participants.length < 1 || a.participants.length > MAX_PARTICIPANTS) {
    throw new MessageError('MSG_BAD_FIELD', `${a.participants.length} participants`, {
      field: 'participants',
      value: a.participants.length,
      max: MAX_PARTICIPANTS,
    });
  }
  const w = new ByteWriter(256).u8(SECURE_AGGREGATE_PAYLOAD_VERSION).bytes(a.prevModelHash).u64(a.totalSamples).u16(a.participants.length);
  for (const p of a.participants) w.varBytes16(utf8(p.participant)).bytes(p.inputHash);
  return w.varBytes32(encodeWeights(a.weights)).finish();
}

function decodeSecureAggregateBody(r: ByteReader, expectShapesOf?: ModelWeights): SecureAggregatePayload {
  const prevModelHash = r.bytes(32);
  const totalSamples = r.u64();
  const count = r.u16();
  if (count < 1 || count > MAX_PARTICIPANTS) {
    throw new MessageError('MSG_BAD_FIELD', `${count} participants`, { field: 'participants', value: count, max: MAX_PARTICIPANTS });
  }
  const participants: SurvivorEntry[] = [];
  for (let i = 0; i < count; i++) {
    const participant = fromUtf8(r.varBytes16(MAX_PEER_ID_BYTES));
    if (participant.length === 0 || (i > 0 && !(participants[i - 1]!.participant < participant))) {
      throw new MessageError('MSG_BAD_FIELD', `participant "${participant}" empty or out of order`, {
        field: 'participants',
        value: participant,
      });
    }
    participants.push({ participant, inputHash: r.bytes(32) });
  }
  const weights = decodeWeightsField(r.varBytes32(MAX_PAYLOAD_BYTES), expectShapesOf);
  if (r.remaining !== 0) throw new MessageError('MSG_TRAILING_BYTES', `${r.remaining} bytes after aggregate`, { extra: r.remaining });
  return { prevModelHash, totalSamples, participants, weights };
}

/** Decode an aggregate of either version (plaintext v1 or secure v2). */
export function decodeAnyAggregate(bytes: Uint8Array, expectShapesOf?: ModelWeights): AnyAggregate {
  if (bytes.length > 0 && bytes[0] === SECURE_AGGREGATE_PAYLOAD_VERSION) {
    const r = new ByteReader(bytes, truncated);
    r.u8();
    return { version: SECURE_AGGREGATE_PAYLOAD_VERSION, ...decodeSecureAggregateBody(r, expectShapesOf) };
  }
  return { version: AGGREGATE_PAYLOAD_VERSION, ...decodeAggregate(bytes, expectShapesOf) };
}
