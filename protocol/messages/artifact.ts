/**
 * Model-artifact request/response framing, protocol id `/fedmesh/<federation>/artifact/1`.
 *
 *   request:  version u8 (=1) | modelHash 32 bytes                       (exactly 33 bytes)
 *   response: status u8 | length u32 LE | artifact bytes (FMWT encoding)  (length 0 unless OK)
 *
 * The requester verifies SHA-256(artifact) = modelHash before use, and the modelHash it asks
 * for is one it read from the chain, so a serving peer can neither forge nor swap a model.
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { MessageError, truncated } from './errors.js';
import { MAX_PAYLOAD_BYTES } from './limits.js';

export const ARTIFACT_PROTOCOL_VERSION = 1;
export const ARTIFACT_REQUEST_BYTES = 33;
export const ARTIFACT_RESPONSE_HEADER_BYTES = 5;
/** Largest artifact served or accepted: the same bound as any gossip payload (≈ 256 MiB). */
export const MAX_ARTIFACT_BYTES = MAX_PAYLOAD_BYTES;

export enum ArtifactStatus {
  Ok = 0,
  NotFound = 1,
  BadRequest = 2,
}

export function artifactProtocol(federation: string): string {
  return `/fedmesh/${federation}/artifact/${ARTIFACT_PROTOCOL_VERSION}`;
}

export function encodeArtifactRequest(modelHash: Uint8Array): Uint8Array {
  if (modelHash.length !== 32)
    throw new MessageError('MSG_BAD_FIELD', `model hash of ${modelHash.length} bytes`, { field: 'modelHash', value: modelHash.length });
  return new ByteWriter(ARTIFACT_REQUEST_BYTES).u8(ARTIFACT_PROTOCOL_VERSION).bytes(modelHash).finish();
}

export function decodeArtifactRequest(bytes: Uint8Array): Uint8Array {
  if (bytes.length > ARTIFACT_REQUEST_BYTES)
    throw new MessageError('MSG_TOO_LARGE', `request of ${bytes.length} bytes`, { size: bytes.length, max: ARTIFACT_REQUEST_BYTES });
  const r = new ByteReader(bytes, truncated);
  const v = r.u8();
  if (v !== ARTIFACT_PROTOCOL_VERSION)
    throw new MessageError('MSG_BAD_VERSION', `artifact request version ${v}`, {
      field: 'version',
      got: v,
      expected: ARTIFACT_PROTOCOL_VERSION,
    });
  return r.bytes(32);
}

export function encodeArtifactResponseHeader(status: ArtifactStatus, length: number): Uint8Array {
  return new ByteWriter(ARTIFACT_RESPONSE_HEADER_BYTES).u8(status).u32(length).finish();
}

export function decodeArtifactResponseHeader(bytes: Uint8Array): { status: ArtifactStatus; length: number } {
  const r = new ByteReader(bytes, truncated);
  const status = r.u8();
  const length = r.u32();
  if (!(status in ArtifactStatus)) throw new MessageError('MSG_BAD_FIELD', `artifact status ${status}`, { field: 'status', value: status });
  if (length > MAX_ARTIFACT_BYTES)
    throw new MessageError('MSG_TOO_LARGE', `artifact of ${length} bytes`, { size: length, max: MAX_ARTIFACT_BYTES });
  if (status !== ArtifactStatus.Ok && length !== 0)
    throw new MessageError('MSG_BAD_FIELD', 'error response with a body', { field: 'length', value: length });
  return { status, length };
}
