/**
 * The federation's initial model hash, from the manifest alone: every member builds the same
 * model from the manifest's architecture and seed (node/ml/trainer.ts seeds every initializer),
 * and the deployer fixes its hash on chain as round 1's prevModelHash. Computing it here means
 * `fedmesh chain deploy --manifest` needs no hash copied by hand (issue 17: the first
 * deployment was wasted, then NODE_INITIAL_MODEL_MISMATCH gave the right value).
 */
import { toHex0x } from '../../protocol/bytes.js';
import { FedmeshError } from '../../protocol/errors.js';
import type { FederationManifest } from '../../protocol/manifest.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { resolveModelSpec } from '../daemon/setup.js';
import { selectBackend } from '../ml/backend.js';
import { Trainer } from '../ml/trainer.js';

export class InitialModelError extends FedmeshError<'CONFIG_INVALID', { issues: { field: string; value: unknown; rule: string }[] }> {}

/** SHA-256 of the encoded initial model the manifest describes (protocol/weights-codec.ts). */
export async function initialModelHash(manifest: FederationManifest, manifestPath = '.'): Promise<`0x${string}`> {
  await selectBackend();
  // Own models (model.kind tfjs): the folder next to the manifest, checked against model.sourceHash.
  const trainer = new Trainer(await resolveModelSpec(manifest, manifestPath), manifest.seed);
  try {
    return toHex0x(modelHash(trainer.getWeights()));
  } finally {
    trainer.dispose();
  }
}

/**
 * The hash to deploy: computed from the manifest when there is one (a given hash must then
 * agree with it, or the deployment would be one no member can join), else the given one.
 */
export async function resolveInitialModelHash(
  manifest: FederationManifest | undefined,
  given: string | undefined,
  manifestPath?: string,
): Promise<string | undefined> {
  if (manifest === undefined) return given;
  const computed = await initialModelHash(manifest, manifestPath);
  if (given !== undefined && given.toLowerCase() !== computed) {
    const rule = `the manifest's initial model hashes to ${computed}; omit --initial-model-hash to use it`;
    throw new InitialModelError('CONFIG_INVALID', `initialModelHash=${JSON.stringify(given)}: ${rule}`, {
      issues: [{ field: 'initialModelHash', value: given, rule }],
    });
  }
  return computed;
}
