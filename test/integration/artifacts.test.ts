/**
 * Model artifacts over real libp2p on loopback: fetch by hash, a missing model, and a
 * corrupted artifact that must be rejected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hash256 } from '../../protocol/bytes.js';
import { encodeWeights } from '../../protocol/weights-codec.js';
import { fetchArtifact, serveArtifacts } from '../../node/artifacts/artifact-service.js';
import { createHost, dialAll, type Host } from '../../node/net/libp2p-host.js';

const good = encodeWeights({ tensors: [{ shape: [300, 300], data: new Float32Array(90_000).map((_, i) => Math.sin(i)) }] });
const goodHash = hash256(good);
const tampered = good.slice();
tampered[tampered.length - 1]! ^= 1;
const liedHash = hash256(new Uint8Array([42]));

describe('model artifacts over libp2p', () => {
  let server: Host;
  let client: Host;

  beforeAll(async () => {
    server = await createHost();
    client = await createHost();
    await serveArtifacts(server, 'itest', (h) => {
      if (h.every((b, i) => b === goodHash[i])) return good;
      if (h.every((b, i) => b === liedHash[i])) return tampered; // a lying or corrupted store
      return undefined;
    });
    await dialAll(client, server.getMultiaddrs().map(String).slice(0, 1));
  });

  afterAll(async () => {
    await Promise.all([server?.stop(), client?.stop()]);
  });

  it('fetches a 360 KB model by hash and verifies it', async () => {
    const bytes = await fetchArtifact(client, server.peerId, 'itest', goodHash);
    expect(bytes).toEqual(good);
  });

  it('reports a model the peer does not have', async () => {
    await expect(fetchArtifact(client, server.peerId, 'itest', hash256(new Uint8Array([1])))).rejects.toMatchObject({
      code: 'ARTIFACT_NOT_FOUND',
    });
  });

  it('rejects a corrupted artifact', async () => {
    await expect(fetchArtifact(client, server.peerId, 'itest', liedHash)).rejects.toMatchObject({ code: 'ARTIFACT_HASH_MISMATCH' });
  });

  it('does not serve another federation', async () => {
    await expect(fetchArtifact(client, server.peerId, 'other', goodHash, 5_000)).rejects.toMatchObject({ code: 'ARTIFACT_PROTOCOL' });
  });
});
