/**
 * The artifact check: a model file someone hands over is the one the chain recorded when it
 * hashes to the recorded `modelHash` (SHA-256 of the canonical FMWT encoding,
 * protocol/weights-codec.ts; docs/architecture.md "Identities and hashes").
 */
import { hash256, toHex0x } from '../bytes.js';
import { finding, type LocalFinding } from './findings.js';
import type { ArtifactEntry } from './types.js';

export type ArtifactStatus = 'verified' | 'mismatch' | 'missing' | 'unavailable';

export function checkArtifact(
  round: number,
  modelHash: string,
  entry: ArtifactEntry | undefined,
): { status: ArtifactStatus; finding?: LocalFinding } {
  const label = round === 0 ? 'the initial model' : `round ${round}'s model`;
  if (entry === undefined) {
    return { status: 'missing', finding: finding('ARTIFACT_MISSING', 'warning', `no artifact for ${label} ${modelHash}`, { modelHash }) };
  }
  if ('error' in entry) {
    return {
      status: 'unavailable',
      finding: finding('ARTIFACT_UNAVAILABLE', 'warning', `${label} ${modelHash} could not be had from ${entry.source}: ${entry.error}`, {
        modelHash,
        source: entry.source,
      }),
    };
  }
  const actual = toHex0x(hash256(entry.bytes));
  if (actual === modelHash.toLowerCase()) return { status: 'verified' };
  return {
    status: 'mismatch',
    finding: finding('ARTIFACT_HASH_MISMATCH', 'error', `${entry.source} does not hash to ${label}'s recorded hash`, {
      modelHash,
      actual,
      source: entry.source,
      bytes: entry.bytes.length,
    }),
  };
}
