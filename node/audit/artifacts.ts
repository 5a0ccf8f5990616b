/**
 * Model artifacts for the audit: read from a directory (a node's store `models/` folder, or any
 * folder of `<sha256>.fmwt` files: node/store/node-store.ts), or fetched by hash from peers over
 * the versioned artifact protocol (node/artifacts/artifact-service.ts). What is found is handed
 * to protocol/audit unverified: the check that a file hashes to its recorded hash is the audit's.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import type { ArtifactEntry } from '../../protocol/audit/types.js';
import { fromHex0x } from '../../protocol/bytes.js';
import { MAX_ARTIFACT_BYTES } from '../../protocol/messages/artifact.js';
import { fetchArtifact } from '../artifacts/artifact-service.js';
import { createHost } from '../net/libp2p-host.js';
import { usageError } from './errors.js';

const ARTIFACT_NAME = /^(?:0x)?([0-9a-fA-F]{64})\.fmwt$/;

/** `<hash>.fmwt` files in `dir` (and in `dir/models`, a node's store), keyed by lowercase 0x hash. */
export async function loadArtifactDir(dir: string): Promise<Map<string, ArtifactEntry>> {
  const found = new Map<string, ArtifactEntry>();
  let dirs = [dir];
  try {
    if ((await stat(join(dir, 'models'))).isDirectory()) dirs = [join(dir, 'models'), dir];
  } catch {
    // No models/ folder: `dir` itself holds the files.
  }
  let any = false;
  for (const d of dirs) {
    let names: string[];
    try {
      names = await readdir(d);
    } catch (e) {
      if (d === dir) throw usageError('--artifacts', dir, `a readable directory (${(e as Error).message})`);
      continue;
    }
    any = true;
    for (const name of names.sort()) {
      const m = ARTIFACT_NAME.exec(name);
      if (m === null) continue;
      const key = `0x${m[1]!.toLowerCase()}`;
      if (found.has(key)) continue;
      const path = join(d, name);
      // Limits before reading (STYLE.md §7): no model is larger than the artifact protocol allows.
      const size = (await stat(path)).size;
      if (size > MAX_ARTIFACT_BYTES) {
        found.set(key, { source: path, error: `${size} bytes, over the ${MAX_ARTIFACT_BYTES}-byte artifact limit` });
        continue;
      }
      found.set(key, { source: path, bytes: new Uint8Array(await readFile(path)) });
    }
  }
  if (!any) throw usageError('--artifacts', dir, 'a readable directory');
  return found;
}

/** Fetch timeout per artifact: loopback and LAN peers answer in well under this. */
export const AUDIT_FETCH_TIMEOUT_MS = 20_000;

/**
 * Fetches each of `hashes` from the first of `peers` (multiaddrs with /p2p/<peer id>) that has
 * it, over the artifact protocol of `federation`. A hash no peer could serve maps to an error
 * entry (a finding, not an abort: a peer being down says nothing about the chain).
 */
export async function fetchArtifacts(
  peers: readonly string[],
  federation: string,
  hashes: readonly string[],
  timeoutMs = AUDIT_FETCH_TIMEOUT_MS,
): Promise<Map<string, ArtifactEntry>> {
  const targets = peers.map((p) => {
    try {
      const ma = multiaddr(p);
      const id = ma.getComponents().find((c) => c.name === 'p2p')?.value;
      if (id === undefined) throw new Error('no /p2p/<peer id>');
      return { addr: ma, peer: peerIdFromString(id), text: p };
    } catch (e) {
      throw usageError('--fetch-from', p, `a multiaddr ending in /p2p/<peer id> (${(e as Error).message})`);
    }
  });
  const host = await createHost({ listen: [] });
  const found = new Map<string, ArtifactEntry>();
  try {
    for (const t of targets) {
      try {
        await host.dial(t.addr, { signal: AbortSignal.timeout(timeoutMs) });
      } catch {
        // Reported per hash below when no peer served it.
      }
    }
    for (const hash of hashes) {
      const key = hash.toLowerCase();
      const errors: string[] = [];
      for (const t of targets) {
        try {
          // fetchArtifact itself refuses a body that does not hash right (ARTIFACT_HASH_MISMATCH);
          // that refusal is kept as the evidence.
          found.set(key, { source: t.text, bytes: await fetchArtifact(host, t.peer, federation, fromHex0x(key), timeoutMs) });
          break;
        } catch (e) {
          errors.push(`${t.text}: ${(e as Error).message}`);
        }
      }
      if (!found.has(key)) found.set(key, { source: peers.join(', '), error: errors.join('; ') });
    }
  } finally {
    await host.stop();
  }
  return found;
}
