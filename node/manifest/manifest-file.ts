/**
 * Reading a federation manifest file (protocol/manifest.ts). JSON (`.json`) or YAML (any other
 * name: `fedmesh federation init` writes commented YAML). The format does not change the hash:
 * manifestHash is over the canonical JSON of the validated value, so a YAML manifest and the
 * JSON with the same values hash alike. Every failure is MANIFEST_INVALID naming the file.
 */
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { type FederationManifest, ManifestError, manifestHash, parseManifest } from '../../protocol/manifest.js';

/** A manifest is a few KiB; refuse anything larger than this before reading it (STYLE.md §7). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

export interface LoadedManifest {
  readonly manifest: FederationManifest;
  readonly hash: `0x${string}`;
}

function invalid(path: string, rule: string): ManifestError {
  return new ManifestError('MANIFEST_INVALID', `${path}: ${rule}`, { path, issues: [{ field: '(manifest)', rule }] });
}

/** The manifest file's parsed value (not yet validated). */
export function readManifestValue(path: string): unknown {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_MANIFEST_BYTES) throw invalid(path, `${size} bytes; a manifest is at most ${MAX_MANIFEST_BYTES}`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ManifestError) throw e;
    const code = (e as { code?: string }).code;
    throw invalid(path, code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'permission denied' : `unreadable (${(e as Error).message})`);
  }
  try {
    return path.toLowerCase().endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw invalid(path, `not readable ${path.toLowerCase().endsWith('.json') ? 'JSON' : 'YAML'} (${(e as Error).message})`);
  }
}

/** Reads and validates a manifest; MANIFEST_INVALID names the file and every bad field. */
export function readManifestFile(path: string): LoadedManifest {
  const raw = readManifestValue(path);
  let manifest: FederationManifest;
  try {
    manifest = parseManifest(raw);
  } catch (e) {
    if (e instanceof ManifestError)
      throw new ManifestError('MANIFEST_INVALID', `${path}: ${e.message.replace(/^MANIFEST_INVALID: /, '')}`, { path, ...e.fields });
    throw e;
  }
  return { manifest, hash: manifestHash(manifest) };
}
