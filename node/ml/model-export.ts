/**
 * `fedmesh model export` (issue 16 item 6): a finalized round's model, verified against the
 * chain, written as the tfjs Layers folder + card.json that `fedmesh predict` reads
 * (node/ml/model-card.ts `exportModel`; the card format lives there only).
 *
 * Trust: the artifact may come from anywhere (a node's state folder, a copy from another
 * member); only the chain is trusted. The artifact's SHA-256 must equal the model hash of the
 * round's on-chain record, and the manifest's hash must equal the contract's manifest hash
 * (the card's task, features and preprocessing come from it). Either mismatch is refused with a
 * typed error naming both hashes, before anything is written.
 */
import { join } from 'node:path';
import { fromHex0x, hash256, toHex0x } from '../../protocol/bytes.js';
import { FedmeshError } from '../../protocol/errors.js';
import { type FederationManifest, manifestHash } from '../../protocol/manifest.js';
import { publicTransformOf } from '../../protocol/privacy/public-statistics.js';
import { taskOfManifest } from '../../protocol/task.js';
import { decodeWeights } from '../../protocol/weights-codec.js';
import { modelSpecOf, resolveModelSpec } from '../daemon/setup.js';
import { NodeStore } from '../store/node-store.js';
import { type ModelCard, exportModel } from './model-card.js';
import { Trainer } from './trainer.js';

export type ModelExportErrorCode = 'MODEL_HASH_MISMATCH' | 'MODEL_EXPORT_NOT_FOUND' | 'MODEL_EXPORT_MANIFEST_MISMATCH';
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
  const trainer = new Trainer(spec, manifest.seed);
  try {
    trainer.setWeights(decodeWeights(o.artifact));
    const card = await exportModel(trainer.layersModel, o.out, {
      ...cardOf(manifest, chain),
      ...(spec.layers !== undefined ? { sourceHash: spec.layers.hash } : {}),
    });
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

/**
 * The card's description of inputs from the manifest. With public statistics the sites mapped
 * each value v to (clamp(v, min, max) − center) / scale: the card carries center/scale as its
 * standardisation (its clamp is noted, not applied by `predict`). Without them every site used
 * its own private statistics, which no one outside the site knows: the card says so.
 * Categorical features enter the model one-hot, so the card names columns `feature=category`.
 */
function cardOf(manifest: FederationManifest, chain: OnChainModel): Omit<ModelCard, 'version' | 'modelHash'> {
  const spec = modelSpecOf(manifest);
  const features = manifest.features?.flatMap((f) => (f.kind === 'categorical' ? f.categories!.map((c) => `${f.name}=${c}`) : [f.name]));
  const pub = publicTransformOf(manifest);
  const notes = [
    `federation ${manifest.federation}, manifest ${chain.manifestHash.toLowerCase()}, round ${chain.round} record ${chain.recordHash.toLowerCase()}`,
    ...(manifest.features !== undefined && pub === undefined
      ? ['inputs: each site standardised with its own (private) statistics; standardise inputs the same way before predicting']
      : []),
    ...(pub !== undefined
      ? ["inputs: the manifest's public statistics; values are clamped to [min, max] before centring in training"]
      : []),
    ...(manifest.features?.some((f) => f.kind === 'categorical')
      ? ['categorical features are one-hot columns named feature=category']
      : []),
  ];
  return {
    task: taskOfManifest(manifest),
    featureShape: [...spec.inputShape],
    ...(features !== undefined ? { features } : {}),
    ...(pub !== undefined ? { standardize: { mean: Array.from(pub.center), std: Array.from(pub.scale) } } : {}),
    rounds: chain.round,
    ...(chain.recordTx !== undefined ? { recordTx: chain.recordTx } : {}),
    // Every metric a member could compute comes from its private records (issue 15): none here.
    metrics: {},
    notes,
  };
}

/** `0x…` 32-byte hex, lower case, or undefined. */
export function parseHash32(s: string): `0x${string}` | undefined {
  return /^0x[0-9a-fA-F]{64}$/.test(s) ? (toHex0x(fromHex0x(s)) as `0x${string}`) : undefined;
}
