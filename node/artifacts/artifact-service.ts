/**
 * Model artifacts over libp2p: serve content-addressed models to other members, and fetch a
 * model by hash from a peer, verifying it before use. A node that was down or joins late
 * catches up by fetching the chain's latest model this way.
 */
import type { Libp2p, PeerId, Stream } from '@libp2p/interface';
import { bytesEqual, concatBytes, hash256, toHex0x } from '../../protocol/bytes.js';
import { FedmeshError } from '../../protocol/errors.js';
import {
  ARTIFACT_REQUEST_BYTES,
  ARTIFACT_RESPONSE_HEADER_BYTES,
  ArtifactStatus,
  artifactProtocol,
  decodeArtifactRequest,
  decodeArtifactResponseHeader,
  encodeArtifactRequest,
  encodeArtifactResponseHeader,
} from '../../protocol/messages/artifact.js';
import { MessageError } from '../../protocol/messages/errors.js';

export class ArtifactError extends FedmeshError<
  'ARTIFACT_NOT_FOUND' | 'ARTIFACT_HASH_MISMATCH' | 'ARTIFACT_PROTOCOL' | 'ARTIFACT_TIMEOUT'
> {}

/** Default time allowed for one fetch; 256 MiB at a slow 10 MB/s is ~27 s. */
export const DEFAULT_FETCH_TIMEOUT_MS = 60_000;

async function readExactly(stream: Stream, want: number, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let have = 0;
  for await (const chunk of stream) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray();
    parts.push(bytes);
    have += bytes.length;
    if (have > max) throw new MessageError('MSG_TOO_LARGE', `peer sent more than ${max} bytes`, { size: have, max });
    if (have >= want) break;
  }
  const all = concatBytes(parts);
  if (all.length < want)
    throw new MessageError('MSG_TRUNCATED', `stream ended after ${all.length} of ${want} bytes`, {
      need: want,
      have: all.length,
      offset: 0,
    });
  return all;
}

/** Serve artifacts from `lookup` (hash → encoded model, or undefined). */
export async function serveArtifacts(
  host: Libp2p,
  federation: string,
  lookup: (hash: Uint8Array) => Uint8Array | undefined,
): Promise<void> {
  await host.handle(
    artifactProtocol(federation),
    async (stream) => {
      try {
        let status = ArtifactStatus.Ok;
        let body: Uint8Array | undefined;
        try {
          const req = await readExactly(stream, ARTIFACT_REQUEST_BYTES, ARTIFACT_REQUEST_BYTES);
          body = lookup(decodeArtifactRequest(req));
          if (body === undefined) status = ArtifactStatus.NotFound;
        } catch {
          status = ArtifactStatus.BadRequest;
        }
        stream.send(encodeArtifactResponseHeader(status, status === ArtifactStatus.Ok ? body!.length : 0));
        if (status === ArtifactStatus.Ok) stream.send(body!);
        await stream.close();
      } catch (e) {
        stream.abort(e instanceof Error ? e : new Error(String(e)));
      }
    },
    { maxInboundStreams: 8 },
  );
}

/** Fetch the model with `modelHash` from `peer`; throws ArtifactError unless it hashes right. */
export async function fetchArtifact(
  host: Libp2p,
  peer: PeerId,
  federation: string,
  modelHash: Uint8Array,
  timeoutMs = DEFAULT_FETCH_TIMEOUT_MS,
): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(timeoutMs);
  const hex = toHex0x(modelHash);
  let stream: Stream;
  try {
    stream = await host.dialProtocol(peer, artifactProtocol(federation), { signal });
  } catch (e) {
    throw new ArtifactError('ARTIFACT_PROTOCOL', `cannot open an artifact stream to ${peer}: ${String(e)}`, {
      peer: peer.toString(),
      modelHash: hex,
    });
  }
  try {
    stream.send(encodeArtifactRequest(modelHash));
    await stream.close();
    const head = await readHeaderAndBody(stream);
    if (head.status === ArtifactStatus.NotFound)
      throw new ArtifactError('ARTIFACT_NOT_FOUND', `${peer} does not have ${hex}`, { peer: peer.toString(), modelHash: hex });
    if (head.status !== ArtifactStatus.Ok)
      throw new ArtifactError('ARTIFACT_PROTOCOL', `${peer} refused the request`, {
        peer: peer.toString(),
        modelHash: hex,
        status: head.status,
      });
    const actual = hash256(head.body);
    if (!bytesEqual(actual, modelHash)) {
      throw new ArtifactError('ARTIFACT_HASH_MISMATCH', `${peer} sent an artifact hashing to ${toHex0x(actual)}, not ${hex}`, {
        peer: peer.toString(),
        modelHash: hex,
        actual: toHex0x(actual),
      });
    }
    return head.body;
  } catch (e) {
    stream.abort(e instanceof Error ? e : new Error(String(e)));
    if (e instanceof ArtifactError) throw e;
    if (signal.aborted)
      throw new ArtifactError('ARTIFACT_TIMEOUT', `fetching ${hex} from ${peer} took over ${timeoutMs} ms`, {
        peer: peer.toString(),
        modelHash: hex,
        timeoutMs,
      });
    throw new ArtifactError('ARTIFACT_PROTOCOL', `bad artifact response from ${peer}: ${String(e)}`, {
      peer: peer.toString(),
      modelHash: hex,
    });
  }
}

async function readHeaderAndBody(stream: Stream): Promise<{ status: ArtifactStatus; body: Uint8Array }> {
  const parts: Uint8Array[] = [];
  let have = 0;
  let header: { status: ArtifactStatus; length: number } | undefined;
  for await (const chunk of stream) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray();
    parts.push(bytes);
    have += bytes.length;
    if (header === undefined && have >= ARTIFACT_RESPONSE_HEADER_BYTES) {
      header = decodeArtifactResponseHeader(concatBytes(parts).subarray(0, ARTIFACT_RESPONSE_HEADER_BYTES));
    }
    if (header !== undefined && have > ARTIFACT_RESPONSE_HEADER_BYTES + header.length) {
      throw new MessageError('MSG_TRAILING_BYTES', 'response longer than declared', {
        extra: have - ARTIFACT_RESPONSE_HEADER_BYTES - header.length,
      });
    }
  }
  if (header === undefined)
    throw new MessageError('MSG_TRUNCATED', 'no response header', { need: ARTIFACT_RESPONSE_HEADER_BYTES, have, offset: 0 });
  const all = concatBytes(parts);
  if (all.length !== ARTIFACT_RESPONSE_HEADER_BYTES + header.length) {
    throw new MessageError(
      'MSG_TRUNCATED',
      `artifact ended after ${all.length - ARTIFACT_RESPONSE_HEADER_BYTES} of ${header.length} bytes`,
      {
        need: header.length,
        have: all.length - ARTIFACT_RESPONSE_HEADER_BYTES,
        offset: ARTIFACT_RESPONSE_HEADER_BYTES,
      },
    );
  }
  return { status: header.status, body: all.subarray(ARTIFACT_RESPONSE_HEADER_BYTES) };
}
