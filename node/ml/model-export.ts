/**
 * `fedmesh model export` (issue 16 item 6): a finalized round's model, verified against the
 * chain, written as the tfjs Layers folder + card.json that `fedmesh predict` reads
 * (node/ml/model-card.ts `exportModel`; the card format lives there only).
 *
 * Trust: the artifact may come from anywhere (a node's state folder, a copy from another
 * member); only the chain is trusted. The artifact's SHA-256 must equal the model hash of the
 * round's on-chain record, and the manifest's hash must equal the contract's manifest hash
 * (the card's task, features and preprocessing come from it). Either mismatch is refused with a
 * typed error naming both hashes, before anything is written. The card carries the manifest and
 * an own model's source folder is copied to `out/source/`, so `fedmesh predict` rebuilds the
 * network from what the chain fixes and checks model.json, frozen weights and the card's fields
 * against it (F15, node/ml/model-card.ts `loadModelWithCard`).
 *
 * The card's preprocessing (issue 17 item 8) is `preprocessingOf(manifest)`: a pure function of
 * the verified manifest when it carries public statistics, so anyone holding the manifest can
 * check a card (`fedmesh predict --manifest`). Without them each site standardised with its own
 * statistics; the exporter may publish its site's (`siteData`: the node config's data section,
 * loaded exactly as the daemon loads it), else the card says the statistics are unknown.
 */
import { dirname, join, resolve } from 'node:path';
import { fromHex0x, hash256, toHex0x } from '../../protocol/bytes.js';
import { FedmeshError } from '../../protocol/errors.js';
import { type FederationManifest, manifestHash } from '../../protocol/manifest.js';
import { taskOfManifest } from '../../protocol/task.js';
import { decodeWeights } from '../../protocol/weights-codec.js';
import { modelSpecOf, resolveModelSpec, type SiteDataConfig } from '../daemon/setup.js';
import { NodeStore } from '../store/node-store.js';
import { exportModel, type ModelCard, preprocessingHash, preprocessingOf } from './model-card.js';
import { readModelArtifacts, artifactsHash } from './model-io.js';
import { Trainer } from './trainer.js';

export type ModelExportErrorCode =
  | 'MODEL_HASH_MISMATCH'
  | 'MODEL_EXPORT_NOT_FOUND'
  | 'MODEL_EXPORT_MANIFEST_MISMATCH'
  | 'MODEL_PREPROCESSING_MISMATCH';
export class ModelExportError extends FedmeshError<ModelExportErrorCode> {}

/** What the chain says about one finalized round (read by the CLI from the contract). */
export interface OnChainModel {
  readonly round: number;
  /** The record's model hash: SHA-256 of the canonical FMWT encoding (protocol/weights-codec.ts). */
  readonly modelHash: string;
  readonly recordHash: string;
  readonly recordTx?: string;
  /** The contract's manifest hash. */
  readonly manifestHash: string;
}

/** The model with `hash` from a node's state folder (node/store/node-store.ts), refused naming the folder when absent. */
export function artifactFromStateDir(stateDir: string, hash: string): Uint8Array {
  const bytes = new NodeStore(stateDir).getModel(hash);
  if (bytes === undefined) {
    throw new ModelExportError(
      'MODEL_EXPORT_NOT_FOUND',
      `${join(stateDir, 'models')}: no intact model ${hash} (the node has not adopted that round, or the file is corrupt)`,
      { field: '--state-dir', value: stateDir, hash },
    );
  }
  return bytes;
}

/**
 * Checks `artifact` and `manifest` against the chain's record, then writes `out`/model.json,
 * weights.bin and card.json. Returns the card.
 * @throws ModelExportError MODEL_HASH_MISMATCH {expected (chain), actual (artifact), round};
 *         MODEL_EXPORT_MANIFEST_MISMATCH {expected, actual}.
 */
export async function exportVerifiedModel(o: {
  readonly manifest: FederationManifest;
  readonly chain: OnChainModel;
  readonly artifact: Uint8Array;
  readonly out: string;
  /** The manifest file: an own model's folder (`model.path`) is relative to it. */
  readonly manifestPath?: string;
  /** Without public statistics: this member's data section, whose statistics the card then carries. */
  readonly siteData?: SiteDataConfig;
}): Promise<ModelCard> {
  const { manifest, chain } = o;
  const mh = manifestHash(manifest);
  if (mh !== chain.manifestHash.toLowerCase()) {
    throw new ModelExportError(
      'MODEL_EXPORT_MANIFEST_MISMATCH',
      `the manifest hashes to ${mh}, the federation's on chain is ${chain.manifestHash}`,
      { expected: chain.manifestHash.toLowerCase(), actual: mh },
    );
  }
  const actual = toHex0x(hash256(o.artifact));
  const expected = chain.modelHash.toLowerCase();
  if (actual !== expected) {
    throw new ModelExportError(
      'MODEL_HASH_MISMATCH',
      `the model artifact hashes to ${actual}, round ${chain.round}'s on-chain record says ${expected}`,
      { expected, actual, round: chain.round },
    );
  }
  // The manifest's own network (its task's head), loaded with the verified weights.
  const spec = await resolveModelSpec(manifest, o.manifestPath ?? '.');
  // Own models: the source folder resolveModelSpec just checked, copied into the export (`source/`)
  // so `fedmesh predict` rebuilds the network from the manifest without the manifest's folder (F15).
  const source =
    manifest.model.kind === 'tfjs' ? readModelArtifacts(resolve(dirname(o.manifestPath ?? '.'), manifest.model.path!)) : undefined;
  if (source !== undefined && artifactsHash(source) !== manifest.model.sourceHash) {
    throw new ModelExportError(
      'MODEL_EXPORT_MANIFEST_MISMATCH',
      `the model source hashes to ${artifactsHash(source)}, the manifest's model.sourceHash is ${manifest.model.sourceHash}`,
      { expected: manifest.model.sourceHash!, actual: artifactsHash(source) },
    );
  }
  const trainer = new Trainer(spec, manifest.seed);
  try {
    trainer.setWeights(decodeWeights(o.artifact));
    const card = await exportModel(
      trainer.layersModel,
      o.out,
      {
        ...cardOf(manifest, chain, o.siteData),
        ...(spec.layers !== undefined ? { sourceHash: spec.layers.hash } : {}),
        manifest,
      },
      source,
    );
    // exportModel recomputes the hash from the weights it wrote: the same encoding, so the same hash.
    if (card.modelHash !== expected) {
      throw new ModelExportError('MODEL_HASH_MISMATCH', `the written model hashes to ${card.modelHash}, the record to ${expected}`, {
        expected,
        actual: card.modelHash,
        round: chain.round,
      });
    }
    return card;
  } finally {
    trainer.dispose();
  }
}

/** The preprocessing every site applied, from the manifest (node/ml/model-card.ts, where loading checks a card against it). */
export { preprocessingOf };

/**
 * The card's description of inputs from the manifest: task, features (categorical features as
 * one-hot columns `feature=category`) and the full preprocessing (`preprocessingOf`).
 */
function cardOf(
  manifest: FederationManifest,
  chain: OnChainModel,
  siteData: SiteDataConfig | undefined,
): Omit<ModelCard, 'version' | 'modelHash' | 'preprocessingHash'> {
  const spec = modelSpecOf(manifest);
  const features = manifest.features?.flatMap((f) => (f.kind === 'categorical' ? f.categories!.map((c) => `${f.name}=${c}`) : [f.name]));
  const preprocessing = preprocessingOf(manifest, siteData);
  const source = preprocessing.kind === 'table' ? preprocessing.source : undefined;
  const notes = [
    `federation ${manifest.federation}, manifest ${chain.manifestHash.toLowerCase()}, round ${chain.round} record ${chain.recordHash.toLowerCase()}`,
    ...(source === 'public'
      ? ["inputs: the manifest's public statistics (fill, clamp to [min, max], centre, scale), as at every site"]
      : []),
    ...(source === 'site'
      ? [
          "inputs: the exporting site's own statistics (its medians, mean and deviation; each site used its own): they describe that site's records",
        ]
      : []),
    ...(source === 'unknown'
      ? ['inputs: each site standardised with its own (private) statistics; `fedmesh predict` takes only rows already prepared that way']
      : []),
    ...(manifest.features?.some((f) => f.kind === 'categorical')
      ? ['categorical features are one-hot columns named feature=category']
      : []),
  ];
  return {
    task: taskOfManifest(manifest),
    featureShape: [...spec.inputShape],
    ...(features !== undefined ? { features } : {}),
    preprocessing,
    rounds: chain.round,
    ...(chain.recordTx !== undefined ? { recordTx: chain.recordTx } : {}),
    // Every metric a member could compute comes from its private records (issue 15): none here.
    metrics: {},
    notes,
  };
}

/**
 * A card's preprocessing is the manifest's (`fedmesh predict --manifest`): with public
 * statistics it is a function of the manifest alone, so a card altered to scale inputs otherwise
 * is caught. A site-statistics card cannot be checked this way (the statistics are one site's).
 * @throws ModelExportError MODEL_PREPROCESSING_MISMATCH {expected (the manifest's), actual (the card's)}.
 */
export function checkCardAgainstManifest(card: ModelCard, manifest: FederationManifest): void {
  const want = preprocessingOf(manifest);
  if (want.kind === 'table' && want.source !== 'public') return;
  const expected = preprocessingHash(want);
  const actual = card.preprocessingHash ?? '(none)';
  if (actual !== expected) {
    throw new ModelExportError(
      'MODEL_PREPROCESSING_MISMATCH',
      `the card's preprocessing hashes to ${actual}, the manifest ${manifestHash(manifest)} gives ${expected}`,
      { expected, actual, manifestHash: manifestHash(manifest) },
    );
  }
}

/** `0x…` 32-byte hex, lower case, or undefined. */
export function parseHash32(s: string): `0x${string}` | undefined {
  return /^0x[0-9a-fA-F]{64}$/.test(s) ? (toHex0x(fromHex0x(s)) as `0x${string}`) : undefined;
}
