/**
 * "A model you can use" (issue 16): the final federated model written as a tfjs Layers folder
 * (model.json + weights.bin, loadable by tfjs and by the Keras converter's reader) plus
 * `card.json` — what it predicts (task, classes or units), what it reads (feature names and
 * shape, the standardisation applied before the model), how good it was (metrics, rounds) and
 * which on-chain record it is (the record's model hash and transaction).
 *
 * The card's `modelHash` is protocol/weights-codec `modelHash` of the federated weights (the
 * trainable ones when layers are frozen): the hash the federation recorded on chain. Loading
 * recomputes it from the weight file and refuses a mismatch naming both hashes, so a card cannot
 * vouch for other weights.
 *
 * `preprocessing` (issue 17 item 8) is everything that turned a hospital's raw row into the
 * model's input: the manifest's feature schema (names, kinds, category lists in one-hot order),
 * the label encoding, what counts as a missing cell, the fill each missing cell takes, and the
 * clamp/centre/scale applied per column (the task carries the class list or the regression
 * target's mean/std). `fedmesh predict` runs a new patient's row through the nodes' own CSV
 * loader (node/data/csv.ts, features only) and the same protocol transforms
 * (applyPublicTransform / standardize), so the model sees what training saw, bit for bit.
 * `preprocessingHash` is SHA-256 of its canonical JSON (protocol/manifest.ts `canonicalJson`);
 * loading refuses a card whose block does not hash to it, naming both hashes.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { hash256, toHex0x, utf8 } from '../../protocol/bytes.js';
import { DataError, fitStandardizer, standardize } from '../../protocol/data.js';
import { FedmeshError } from '../../protocol/errors.js';
import { canonicalJson, type FederationManifest, manifestHash, parseManifest } from '../../protocol/manifest.js';
import type { ModelWeights } from '../../protocol/model.js';
import { applyPublicTransform, publicTransformOf } from '../../protocol/privacy/public-statistics.js';
import { outputNames, type Task, taskOfManifest, toOriginalUnits } from '../../protocol/task.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { modelSpecOf, type SiteDataConfig } from '../daemon/setup.js';
import { DEFAULT_MISSING, loadCsv, parseCsv } from '../data/csv.js';
import { readDataText } from '../data/data-file.js';
import { loadNpz } from '../data/npz.js';
import { readPngGray } from '../data/png-folder.js';
import { artifactsHash, loadLayersModel, readModelArtifacts, saveLayersModel, writeModelArtifacts } from './model-io.js';
import { createModel, federatedTensors, type ModelSpec, PREDICT_BATCH } from './trainer.js';

export const CARD_FILE = 'card.json';
/** An own model's source (the manifest's `model.path` folder), copied into the export folder. */
export const SOURCE_DIR = 'source';
/** card.json size cap, checked before parsing: a manifest with public statistics is a few KiB. */
export const MAX_CARD_BYTES = 4 * 1024 * 1024;

/**
 * Tables: the preprocessing every site applied to its rows before the model. Columns are the
 * model's inputs: one per numeric feature, one per category of a categorical feature.
 */
export interface TablePreprocessing {
  readonly kind: 'table';
  /** The manifest's features in model-input order (categorical: `categories` in one-hot order). */
  readonly features: NonNullable<FederationManifest['features']>;
  /** The label column and its values (binary: `positive` is class 1); the task holds classes or the target's mean/std. */
  readonly label: FederationManifest['label'];
  /** Cell values read as missing (node/data/csv.ts DEFAULT_MISSING). */
  readonly missingValues: readonly string[];
  /**
   * Where fill and scaling come from. `public`: the manifest's publicStatistics, the same at
   * every site (always with DP). `site`: one member's own statistics (each site used its own; the
   * exporter chose to publish its site's). `unknown`: every site used its own private statistics
   * and none is published — such a card predicts only from rows already preprocessed.
   */
  readonly source: 'public' | 'site' | 'unknown';
  /** Per column: the raw value a missing cell takes. */
  readonly fill?: readonly number[];
  /** Per column: values are clamped to [min, max] before centring (public statistics). */
  readonly clamp?: { readonly min: readonly number[]; readonly max: readonly number[] };
  /** Per column: (v − center) / scale. */
  readonly center?: readonly number[];
  readonly scale?: readonly number[];
}

/** Images: each pixel in [0, 1] (PNG: BT.601 luma / 255, as node/data/png-folder.ts; uint8 arrays / 255). */
export interface ImagePreprocessing {
  readonly kind: 'image';
  readonly shape: readonly number[];
}

export type Preprocessing = TablePreprocessing | ImagePreprocessing;

/** SHA-256 of the preprocessing block's canonical JSON. */
export function preprocessingHash(p: Preprocessing): `0x${string}` {
  return toHex0x(hash256(utf8(canonicalJson(p))));
}

export interface ModelCard {
  readonly version: 1;
  readonly task: Task;
  /** Shape of one example (tables: [features]; images: [h, w, c]). */
  readonly featureShape: readonly number[];
  /** Tables: the feature column names in model-input order, when known. */
  readonly features?: readonly string[];
  /** Applied to raw features before the model: (x − mean) / std per feature (cards without `preprocessing`). */
  readonly standardize?: { readonly mean: readonly number[]; readonly std: readonly number[] };
  /** The full preprocessing (see the module header) and its hash. */
  readonly preprocessing?: Preprocessing;
  readonly preprocessingHash?: string;
  /** modelHash of the federated weights: the on-chain record's model hash. */
  readonly modelHash: string;
  /** Own models: the architecture-and-initial-weights hash (node/ml/model-io.ts), the manifest's `model.sourceHash`. */
  readonly sourceHash?: string;
  /**
   * The federation's manifest (F15): its hash is the contract's manifest hash, and it fixes the
   * network (model kind, hidden widths, task head, input shape, seed; own models: `sourceHash`),
   * the task, the features and the preprocessing. Loading rebuilds the network from it.
   */
  readonly manifest?: FederationManifest;
  /** `manifestHash(manifest)`, for the reader to compare with the contract's. */
  readonly manifestHash?: string;
  readonly rounds: number;
  readonly recordTx?: string;
  readonly metrics: Readonly<Record<string, unknown>>;
  readonly notes?: readonly string[];
}

export type ModelCardErrorCode =
  | 'MODEL_CARD_INVALID'
  | 'MODEL_CARD_UNBOUND'
  | 'MODEL_CARD_MISMATCH'
  | 'MODEL_MANIFEST_MISMATCH'
  | 'MODEL_ARCHITECTURE_MISMATCH'
  | 'MODEL_SOURCE_MISMATCH'
  | 'MODEL_FROZEN_WEIGHTS_MISMATCH'
  | 'MODEL_HASH_MISMATCH'
  | 'MODEL_PREPROCESSING_MISMATCH'
  | 'PREDICT_INPUT_INVALID'
  | 'PREDICT_NO_STATISTICS';
export class ModelCardError extends FedmeshError<ModelCardErrorCode> {}

function tensorsOf(ts: readonly tf.Tensor[]): ModelWeights {
  return { tensors: ts.map((t) => ({ shape: [...t.shape], data: new Float32Array(t.dataSync() as Float32Array) })) };
}
const weightsOf = (model: tf.LayersModel): ModelWeights => tensorsOf(federatedTensors(model));
/**
 * The weights that are not federated (frozen layers of an own model), `model.weights` order.
 * By membership in `trainableWeights`, not each variable's own `trainable` flag: a model tfjs
 * deserialises with `"trainable": false` layers keeps its variables flagged trainable.
 */
function frozenOf(model: tf.LayersModel): ModelWeights {
  const federated = new Set(model.trainableWeights);
  return tensorsOf(model.weights.filter((w) => !federated.has(w)).map((w) => w.read()));
}

/**
 * Writes `model` and its card to `dir`; the card's modelHash is computed here, from the weights
 * written. With `card.manifest` the card also carries the manifest's hash, and an own model's
 * `source` (the manifest's `model.path` artifacts, hashing to its `sourceHash`) is copied to
 * `dir/source` so loading can rebuild the network without any other file.
 */
export async function exportModel(
  model: tf.LayersModel,
  dir: string,
  card: Omit<ModelCard, 'version' | 'modelHash' | 'preprocessingHash' | 'manifestHash'>,
  source?: tf.io.ModelArtifacts,
): Promise<ModelCard> {
  await saveLayersModel(model, dir);
  if (source !== undefined) writeModelArtifacts(source, join(dir, SOURCE_DIR));
  const full: ModelCard = {
    version: 1,
    ...card,
    modelHash: toHex0x(modelHash(weightsOf(model))),
    ...(card.preprocessing !== undefined ? { preprocessingHash: preprocessingHash(card.preprocessing) } : {}),
    ...(card.manifest !== undefined ? { manifestHash: manifestHash(card.manifest) } : {}),
  };
  writeFileSync(join(dir, CARD_FILE), `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

export interface LoadModelOptions {
  /**
   * The federation's manifest as the reader holds it (`fedmesh predict --manifest`): it must hash
   * to the card's manifest; a card without one is then bound to this one.
   */
  readonly manifest?: FederationManifest;
  /**
   * Accept a card that carries no manifest (a `fedmesh simulate` run, an old export): only its
   * weights' hash and its preprocessing block's own hash are then checked — model.json, frozen
   * weights and the card's task and features are bound to nothing.
   */
  readonly allowUnbound?: boolean;
}

/** What loading checked, against what (printed by `fedmesh predict`). */
export interface ModelVerification {
  /** False: the card carried no manifest and `allowUnbound` let it load. */
  readonly bound: boolean;
  /** The federated weights' hash (protocol/weights-codec `modelHash`): compare with the round's on-chain record. */
  readonly modelHash: string;
  /** The manifest the network, frozen weights and card fields were checked against: compare with the contract's. */
  readonly manifestHash?: string;
  /** Own models: the source (architecture + initial weights) hash, equal to the manifest's `model.sourceHash`. */
  readonly sourceHash?: string;
  /** The site's own preprocessing statistics: carried by the card, checkable against nothing. */
  readonly siteStatistics: boolean;
}

/**
 * Loads a model folder and its card, refusing anything the chain does not fix (F15). Checks, in order:
 * 1. card.json (≤ MAX_CARD_BYTES) parses; its `preprocessing` hashes to `preprocessingHash`;
 * 2. the manifest: the card's (schema-checked, hashing to the card's `manifestHash`) or `o.manifest`
 *    (both given: equal hashes); none → MODEL_CARD_UNBOUND unless `o.allowUnbound`;
 * 3. the card's task, featureShape, features and preprocessing are the manifest's (a site's own
 *    statistics excepted: they are one member's, in no manifest), and no legacy `standardize`;
 * 4. the network is rebuilt from the manifest (node/daemon/setup.ts `modelSpecOf`, the manifest's
 *    seed; own models: the copied source, which must hash to the manifest's `model.sourceHash`,
 *    with its `freeze`) — the trainer's own construction (trainer.ts `createModel`);
 * 5. model.json's topology equals the rebuilt one (layer names aside: tfjs numbers them per process);
 * 6. the folder's federated weights hash to the card's `modelHash` (the record's); its frozen
 *    weights are the source's.
 * The model returned is the rebuilt network holding the verified weights: model.json is never
 * what predicts. Every refusal is a ModelCardError naming both values.
 */
export async function loadModelWithCard(
  dir: string,
  o: LoadModelOptions = {},
): Promise<{ model: tf.LayersModel; card: ModelCard; verification: ModelVerification }> {
  const card = readCard(dir);
  const manifest = boundManifest(card, o);
  if (manifest === undefined) {
    if (o.allowUnbound !== true) {
      throw new ModelCardError(
        'MODEL_CARD_UNBOUND',
        `${join(dir, CARD_FILE)} carries no manifest: its network (model.json), frozen weights and task are bound to nothing on chain; pass the federation's manifest (fedmesh predict --manifest) or accept it unverified (--unbound)`,
        { field: 'manifest', value: dir },
      );
    }
    const model = await loadLayersModel(readModelArtifacts(dir));
    try {
      checkModelHash(model, card, dir);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return { model, card, verification: { bound: false, modelHash: card.modelHash, siteStatistics: false } };
  }
  const mh = manifestHash(manifest);
  const siteStatistics = checkCardFields(card, manifest, mh);
  const { spec, sourceHash } = await specOf(manifest, mh, card, dir);
  const reference = createModel(spec, manifest.seed);
  let folder: tf.LayersModel | undefined;
  try {
    folder = await loadLayersModel(readModelArtifacts(dir));
    const want = canonicalTopology(reference);
    const got = canonicalTopology(folder);
    if (want !== got) {
      const [e, g] = [toHex0x(hash256(utf8(want))), toHex0x(hash256(utf8(got)))];
      throw new ModelCardError(
        'MODEL_ARCHITECTURE_MISMATCH',
        `${join(dir, 'model.json')}'s network hashes to ${g}, the one manifest ${mh} builds to ${e} (${firstDifference(want, got)})`,
        { expected: e, got: g, manifestHash: mh },
      );
    }
    checkModelHash(folder, card, dir);
    const frozenWant = toHex0x(modelHash(frozenOf(reference)));
    const frozenGot = toHex0x(modelHash(frozenOf(folder)));
    if (frozenWant !== frozenGot) {
      throw new ModelCardError(
        'MODEL_FROZEN_WEIGHTS_MISMATCH',
        `the frozen weights in ${dir} hash to ${frozenGot}, the source ${sourceHash ?? '(none)'} the manifest names has ${frozenWant}`,
        { expected: frozenWant, got: frozenGot, sourceHash: sourceHash ?? null },
      );
    }
    // The rebuilt network takes the verified federated weights (shapes equal: same topology).
    const fed = federatedTensors(folder);
    tf.tidy(() => {
      if (reference.trainableWeights.length === reference.weights.length) reference.setWeights(fed);
      else
        reference.trainableWeights.forEach((v, i) => {
          v.write(fed[i]!.clone());
        });
    });
  } catch (e) {
    reference.dispose();
    throw e;
  } finally {
    folder?.dispose();
  }
  return {
    model: reference,
    card,
    verification: {
      bound: true,
      modelHash: card.modelHash,
      manifestHash: mh,
      ...(sourceHash !== undefined ? { sourceHash } : {}),
      siteStatistics,
    },
  };
}

/** card.json, size-checked before parsing, with the fields every card has and its preprocessing hash checked. */
function readCard(dir: string): ModelCard {
  const cardPath = join(dir, CARD_FILE);
  if (!existsSync(cardPath))
    throw new ModelCardError('MODEL_CARD_INVALID', `${cardPath}: no model card`, { field: 'card', value: cardPath });
  if (statSync(cardPath).size > MAX_CARD_BYTES)
    throw new ModelCardError('MODEL_CARD_INVALID', `${cardPath}: larger than ${MAX_CARD_BYTES} bytes`, { field: 'card', value: cardPath });
  let card: ModelCard;
  try {
    card = JSON.parse(readFileSync(cardPath, 'utf8')) as ModelCard;
  } catch (e) {
    throw new ModelCardError('MODEL_CARD_INVALID', `${cardPath}: not JSON (${(e as Error).message})`, { field: 'card', value: cardPath });
  }
  if (
    card?.version !== 1 ||
    typeof card.modelHash !== 'string' ||
    typeof card.task?.kind !== 'string' ||
    !Array.isArray(card.featureShape)
  ) {
    throw new ModelCardError('MODEL_CARD_INVALID', `${cardPath}: needs version 1, task, featureShape and modelHash`, {
      field: 'card',
      value: cardPath,
    });
  }
  if ((card.preprocessing === undefined) !== (card.preprocessingHash === undefined)) {
    throw new ModelCardError('MODEL_CARD_INVALID', `${cardPath}: preprocessing and preprocessingHash come together`, {
      field: card.preprocessing === undefined ? 'preprocessing' : 'preprocessingHash',
      value: cardPath,
    });
  }
  if (card.preprocessing !== undefined) {
    const got = preprocessingHash(card.preprocessing);
    if (got !== card.preprocessingHash) {
      throw new ModelCardError(
        'MODEL_PREPROCESSING_MISMATCH',
        `the card's preprocessing hashes to ${got}, the card says ${card.preprocessingHash}`,
        { expected: card.preprocessingHash, got },
      );
    }
  }
  return card;
}

/** The manifest the card is checked against: the card's (schema-checked, hash as stated) and/or the reader's. */
function boundManifest(card: ModelCard, o: LoadModelOptions): FederationManifest | undefined {
  let carried: FederationManifest | undefined;
  if (card.manifest !== undefined) {
    try {
      carried = parseManifest(card.manifest);
    } catch (e) {
      throw new ModelCardError('MODEL_CARD_INVALID', `the card's manifest is not a valid manifest (${(e as Error).message})`, {
        field: 'manifest',
        value: null,
      });
    }
    const got = manifestHash(carried);
    if (got !== card.manifestHash) {
      throw new ModelCardError('MODEL_MANIFEST_MISMATCH', `the card's manifest hashes to ${got}, the card says ${card.manifestHash}`, {
        expected: card.manifestHash ?? null,
        got,
      });
    }
  }
  if (o.manifest !== undefined && carried !== undefined) {
    const [e, g] = [manifestHash(o.manifest), manifestHash(carried)];
    if (e !== g) {
      throw new ModelCardError('MODEL_MANIFEST_MISMATCH', `the card's manifest hashes to ${g}, the manifest given hashes to ${e}`, {
        expected: e,
        got: g,
      });
    }
  }
  return carried ?? o.manifest;
}

/**
 * The card's task, input shape, feature names and preprocessing are the manifest's (see
 * loadModelWithCard, 3). Returns whether the card carries one site's own statistics (unverifiable).
 */
function checkCardFields(card: ModelCard, m: FederationManifest, mh: string): boolean {
  const field = (name: string, expected: unknown, got: unknown): void => {
    const [e, g] = [canonicalJson(expected ?? null), canonicalJson(got ?? null)];
    if (e !== g && name.startsWith('preprocessing')) {
      // Preprocessing blocks are named by their hashes (as MODEL_PREPROCESSING_MISMATCH elsewhere).
      const [eh, gh] = [toHex0x(hash256(utf8(e))), toHex0x(hash256(utf8(g)))];
      throw new ModelCardError('MODEL_PREPROCESSING_MISMATCH', `the card's ${name} hashes to ${gh}, manifest ${mh} gives ${eh}`, {
        field: name,
        expected: eh,
        got: gh,
        manifestHash: mh,
      });
    }
    if (e !== g) {
      throw new ModelCardError('MODEL_CARD_MISMATCH', `the card's ${name} is ${g}, manifest ${mh} gives ${e}`, {
        field: name,
        expected: e,
        got: g,
        manifestHash: mh,
      });
    }
  };
  field('task', taskOfManifest(m), card.task);
  field('featureShape', modelSpecOf(m).inputShape, card.featureShape);
  field(
    'features',
    m.features?.flatMap((f) => (f.kind === 'categorical' ? f.categories!.map((c) => `${f.name}=${c}`) : [f.name])),
    card.features,
  );
  // `standardize` (cards before the preprocessing block) would rescale inputs outside the manifest.
  field('standardize', undefined, card.standardize);
  field('sourceHash', m.model.sourceHash, card.sourceHash);
  const want = preprocessingOf(m);
  const got = card.preprocessing;
  if (want.kind === 'table' && want.source !== 'public' && got?.kind === 'table' && (got.source === 'site' || got.source === 'unknown')) {
    // No public statistics: the schema must be the manifest's; a site's fill and scaling are its own.
    const schema = (p: TablePreprocessing) => ({ kind: p.kind, features: p.features, label: p.label, missingValues: p.missingValues });
    field('preprocessing', schema(want), schema(got));
    if (got.source === 'unknown') field('preprocessing statistics', undefined, got.fill ?? got.center ?? got.scale ?? got.clamp);
    else field('preprocessing.clamp', undefined, got.clamp);
    return got.source === 'site';
  }
  field('preprocessing', want, got);
  return false;
}

/** The manifest's ModelSpec; own models: the copied source in `dir/source`, which must hash to the manifest's sourceHash. */
async function specOf(m: FederationManifest, mh: string, card: ModelCard, dir: string): Promise<{ spec: ModelSpec; sourceHash?: string }> {
  const spec = modelSpecOf(m);
  if (m.model.kind !== 'tfjs') return { spec };
  if (!existsSync(join(dir, SOURCE_DIR, 'model.json'))) {
    throw new ModelCardError(
      'MODEL_SOURCE_MISMATCH',
      `${join(dir, SOURCE_DIR)}: no model source; manifest ${mh} names an own model (sourceHash ${m.model.sourceHash}) whose network and frozen weights come from it (export again with fedmesh model export)`,
      { expected: m.model.sourceHash!, got: null, manifestHash: mh, card: card.sourceHash ?? null },
    );
  }
  const artifacts = readModelArtifacts(join(dir, SOURCE_DIR));
  const got = artifactsHash(artifacts);
  if (got !== m.model.sourceHash) {
    throw new ModelCardError(
      'MODEL_SOURCE_MISMATCH',
      `${join(dir, SOURCE_DIR)} hashes to ${got}, manifest ${mh}'s model.sourceHash is ${m.model.sourceHash}`,
      { expected: m.model.sourceHash!, got, manifestHash: mh, card: card.sourceHash ?? null },
    );
  }
  const built = await loadLayersModel(artifacts);
  let once: tf.LayersModel | undefined = built;
  return {
    sourceHash: got,
    spec: {
      ...spec,
      layers: {
        build: () => {
          const b = once;
          once = undefined;
          if (b === undefined) throw new ModelCardError('MODEL_SOURCE_MISMATCH', 'model source used twice', { field: 'source' });
          return b;
        },
        hash: got,
        ...(m.model.freeze !== undefined ? { freeze: [...m.model.freeze] } : {}),
      },
    },
  };
}

function checkModelHash(model: tf.LayersModel, card: ModelCard, dir: string): void {
  const got = toHex0x(modelHash(weightsOf(model)));
  if (got !== card.modelHash) {
    throw new ModelCardError('MODEL_HASH_MISMATCH', `the weights in ${dir} hash to ${got}, the card says ${card.modelHash}`, {
      expected: card.modelHash,
      got,
    });
  }
}

/**
 * A network's topology as canonical JSON, everything but names: tfjs names layers it builds with
 * a per-process counter (dense_Dense7), so each layer's name becomes its index and the model's
 * name `#model`; versions (keras_version, backend) are left out. Two networks with equal
 * strings compute the same function of equal weights (class, config, activation, trainable,
 * connectivity).
 */
export function canonicalTopology(model: tf.LayersModel): string {
  const topo = model.toJSON(null, false) as unknown as { config?: unknown; class_name?: unknown };
  const names = new Map<string, string>(model.layers.map((l, i) => [l.name, `#${i}`]));
  names.set(model.name, '#model');
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return names.get(v) ?? v;
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return canonicalJson({ class_name: topo.class_name, config: walk(topo.config) });
}

/** Where two canonical strings first differ, for the refusal message. */
function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `first difference at character ${i}: manifest …${a.slice(Math.max(0, i - 40), i + 40)}… folder …${b.slice(Math.max(0, i - 40), i + 40)}…`;
}

/**
 * The preprocessing every site applied, from the manifest (see model-export.ts's header):
 * - images: pixels in [0, 1];
 * - tables with public statistics: the manifest's fill, clamp, centre and scale per model-input
 *   column, as float32 values exactly as the sites hold them (publicTransformOf);
 * - tables without: `siteData` given — that site's data loaded as the daemon loads it
 *   (node/daemon/setup.ts loadSiteData: the same CSV mapping, its medians as fill, its
 *   mean/std); else `unknown` (every site used its own private statistics).
 */
export function preprocessingOf(manifest: FederationManifest, siteData?: SiteDataConfig): Preprocessing {
  if (manifest.features === undefined) return { kind: 'image', shape: [...(manifest.imageShape ?? [])] };
  const base = { kind: 'table' as const, features: manifest.features, label: manifest.label };
  const pub = publicTransformOf(manifest);
  if (pub !== undefined) {
    return {
      ...base,
      missingValues: DEFAULT_MISSING,
      source: 'public',
      fill: Array.from(pub.fill),
      clamp: { min: Array.from(pub.min), max: Array.from(pub.max) },
      center: Array.from(pub.center),
      scale: Array.from(pub.scale),
    };
  }
  if (siteData === undefined || siteData.kind !== 'csv') return { ...base, missingValues: DEFAULT_MISSING, source: 'unknown' };
  // As loadSiteData (node/daemon/setup.ts) builds its mapping: the same loader, so the same rows,
  // the same medians and the same standardiser as this site trained with.
  const { data, report } = loadCsv(siteData.path, manifest, {
    missing: siteData.missing,
    maxBadRowFraction: siteData.maxBadRowFraction,
    ...(siteData.separator !== undefined ? { separator: siteData.separator } : {}),
    ...(siteData.columns !== undefined ? { columns: siteData.columns } : {}),
    ...(siteData.values !== undefined ? { values: siteData.values } : {}),
    ...(siteData.headerMatch !== undefined ? { headerMatch: siteData.headerMatch } : {}),
  });
  const s = fitStandardizer(data);
  return {
    ...base,
    missingValues: DEFAULT_MISSING,
    source: 'site',
    fill: Array.from(Float32Array.from(report.fill)),
    center: Array.from(s.mean),
    scale: Array.from(s.std),
  };
}

/** One prediction row: the task's outputs (probabilities, or the value in original units) and, for classes, the arg-max. */
export interface Prediction {
  readonly outputs: readonly number[];
  readonly predicted: string | number;
}

/**
 * Predicts rows of model-input columns before scaling (n × Π featureShape: categories one-hot,
 * missing cells filled, as readPredictionInput returns them); scaled here with the card's values.
 */
export function predictRows(model: tf.LayersModel, card: ModelCard, x: Float32Array, n: number): Prediction[] {
  const f = card.featureShape.reduce((a, b) => a * b, 1);
  if (x.length !== n * f) {
    throw new ModelCardError('PREDICT_INPUT_INVALID', `${x.length} values for ${n} rows of ${f} features`, {
      field: 'data',
      expected: n * f,
      got: x.length,
    });
  }
  const z = standardizeRows(card, x, n);
  const names = outputNames(card.task);
  const k = names.length;
  const out: Prediction[] = [];
  for (let start = 0; start < n; start += PREDICT_BATCH) {
    const m = Math.min(PREDICT_BATCH, n - start);
    const p = tf.tidy(() =>
      (model.predict(tf.tensor(z.subarray(start * f, (start + m) * f), [m, ...card.featureShape])) as tf.Tensor).dataSync(),
    );
    for (let i = 0; i < m; i++) {
      const row = Array.from(p.subarray(i * k, (i + 1) * k));
      const t = card.task;
      if (t.kind === 'regression') out.push({ outputs: [toOriginalUnits(t, row[0]!)], predicted: toOriginalUnits(t, row[0]!) });
      else if (t.kind === 'multiclass') out.push({ outputs: row, predicted: t.classes[row.indexOf(Math.max(...row))]! });
      else if (t.kind === 'multilabel') out.push({ outputs: row, predicted: t.labels.filter((_, j) => row[j]! >= 0.5).join('|') });
      else out.push({ outputs: row, predicted: row[0]! >= 0.5 ? 1 : 0 });
    }
  }
  return out;
}

const csvCell = (h: string): string => (/[",\n]/.test(h) ? `"${h.replace(/"/g, '""')}"` : h);

/**
 * Predictions as CSV: one column per output (named after classes/labels), then `predicted`;
 * with `ids` (an image folder's files) a first column `file`.
 */
export function predictionsCsv(card: ModelCard, rows: readonly Prediction[], ids?: readonly string[]): string {
  const header = [...(ids !== undefined ? ['file'] : []), ...outputNames(card.task), 'predicted'].map(csvCell);
  const lines = rows.map((r, i) =>
    [...(ids !== undefined ? [csvCell(ids[i]!)] : []), ...r.outputs.map((v) => String(v)), csvCell(String(r.predicted))].join(','),
  );
  return `${[header.join(','), ...lines].join('\n')}\n`;
}

/**
 * Rows to predict, as model-input columns before scaling (see predictRows):
 * - a CSV, with a card that carries table `preprocessing`: read by the nodes' own loader
 *   (node/data/csv.ts) in the manifest's schema — columns by name in any order (ignoring case),
 *   other columns ignored, categories one-hot in the manifest's order (numerically equal codes
 *   match, `4.0` is `4`), a missing cell filled with the card's fill — with no label column
 *   needed. Every data row gives one prediction, in file order; a bad row (a non-number, an
 *   unknown category, a wrong field count) is refused with PREDICT_INPUT_INVALID naming its line
 *   and column;
 * - a CSV with an older card (no preprocessing): the card's feature columns by exact name, every
 *   cell a number;
 * - a folder of PNG images (searched recursively, sorted by path): grey levels in [0, 1] as
 *   node/data/png-folder.ts reads them; `ids` are the paths relative to the folder;
 * - an .npz array (`array`, default 'x'; uint8 images scaled to [0, 1] as in training).
 */
export function readPredictionInput(path: string, card: ModelCard, array = 'x'): { x: Float32Array; n: number; ids?: readonly string[] } {
  const bad = (field: string, value: unknown, rule: string): ModelCardError =>
    new ModelCardError('PREDICT_INPUT_INVALID', `${field} = ${JSON.stringify(value)}: ${rule}`, { field, value, rule });
  const f = card.featureShape.reduce((a, b) => a * b, 1);
  if (/\.npz$/i.test(path)) {
    const a = loadNpz(path).get(array);
    if (a === undefined) throw bad('--array', array, `no such array in ${path}`);
    const n = a.shape[0] ?? 0;
    if (a.data.length !== n * f) throw bad('--array', array, `shape [${a.shape.join(', ')}] is not N × [${card.featureShape.join(', ')}]`);
    const scale = a.descr.endsWith('u1') ? 1 / 255 : 1;
    return { x: Float32Array.from(a.data as ArrayLike<number>, (v) => Number(v) * scale), n };
  }
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // Not there: readDataText below names the file in its typed error.
  }
  if (isDir) return readImageFolder(path, card);
  const pre = card.preprocessing;
  if (pre?.kind === 'table') return readTableRows(path, card, pre);
  const lines = readDataText(path)
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  const split = (l: string): string[] => l.split(',').map((c) => c.trim().replace(/^"|"$/g, ''));
  const header = split(lines[0] ?? '');
  const names = card.features ?? header;
  if (names.length !== f) throw bad('--data', path, `${names.length} columns for ${f} features`);
  const idx = names.map((c) => {
    const i = header.indexOf(c);
    if (i < 0) throw bad('--data', path, `no column ${c} (the model reads ${names.join(', ')})`);
    return i;
  });
  const n = lines.length - 1;
  const x = new Float32Array(n * f);
  lines.slice(1).forEach((l, r) => {
    const cells = split(l);
    idx.forEach((i, j) => {
      const v = Number(cells[i]);
      if (cells[i] === undefined || cells[i] === '' || !Number.isFinite(v))
        throw bad(`line ${r + 2} column ${names[j]}`, cells[i] ?? '', 'a number');
      x[r * f + j] = v;
    });
  });
  return { x, n };
}

/** Every row of a CSV in the manifest's schema, encoded and imputed as the sites did (see readPredictionInput). */
function readTableRows(path: string, card: ModelCard, pre: TablePreprocessing): { x: Float32Array; n: number } {
  if (pre.fill === undefined || pre.center === undefined) {
    throw new ModelCardError(
      'PREDICT_NO_STATISTICS',
      `${path}: the card has no preprocessing statistics (every site standardised with its own, unpublished); export the model with --site-config to carry one site's statistics, or give the federation public statistics`,
      { field: 'preprocessing', source: pre.source },
    );
  }
  try {
    const { data, report } = parseCsv(
      readDataText(path),
      { features: pre.features, label: pre.label, task: card.task },
      {
        withoutLabel: true,
        missing: 'median',
        missingValues: pre.missingValues,
        fill: Float32Array.from(pre.fill),
        maxBadRowFraction: 0,
      },
      path,
    );
    if (data.n !== report.rows) throw new RangeError(`${path}: ${report.rows} rows read, ${data.n} kept`); // cannot happen: no label, imputed
    return { x: data.x, n: data.n };
  } catch (e) {
    if (!(e instanceof DataError)) throw e;
    const first = (e.fields.badRows as { line: number; column?: string; value?: string; reason: string }[] | undefined)?.[0];
    throw new ModelCardError('PREDICT_INPUT_INVALID', e.message, {
      ...e.fields,
      ...(first !== undefined
        ? { line: first.line, column: first.column, value: first.value, rule: first.reason }
        : { field: '--data', value: path, rule: e.message }),
    });
  }
}

/** Every PNG under `dir` (recursively, by path), read as training reads them. */
function readImageFolder(dir: string, card: ModelCard): { x: Float32Array; n: number; ids: string[] } {
  const shape = card.featureShape;
  if (shape.length !== 3 || shape[2] !== 1) {
    throw new ModelCardError(
      'PREDICT_INPUT_INVALID',
      `${dir}: a folder of PNG images needs a grey-image model; this one reads [${shape.join(', ')}]`,
      {
        field: '--data',
        value: dir,
        rule: 'a CSV or .npz for this model',
      },
    );
  }
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.toLowerCase().endsWith('.png')) files.push(join(d, e.name));
    }
  };
  walk(dir);
  if (files.length === 0)
    throw new ModelCardError('PREDICT_INPUT_INVALID', `${dir}: no PNG images`, { field: '--data', value: dir, rule: 'PNG files' });
  const [h, w] = shape as [number, number, number];
  const x = new Float32Array(files.length * h * w);
  files.forEach((file, i) => {
    try {
      x.set(readPngGray(file, h, w), i * h * w);
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      throw new ModelCardError('PREDICT_INPUT_INVALID', e.message, { ...e.fields, field: '--data', value: file, rule: e.message });
    }
  });
  return { x, n: files.length, ids: files.map((file) => relative(dir, file)) };
}

/**
 * Model-input columns (encoded, imputed) scaled as training scaled them: with table
 * `preprocessing`, the same protocol functions the sites ran — applyPublicTransform (clamp,
 * centre, scale) for public statistics, standardize for a site's — on the card's values as
 * float32, as the sites held them; older cards: (x − mean) / std.
 */
export function standardizeRows(card: ModelCard, x: Float32Array, n: number): Float32Array {
  const f = card.featureShape.reduce((a, b) => a * b, 1);
  const pre = card.preprocessing;
  if (pre?.kind === 'table' && pre.center !== undefined && pre.scale !== undefined) {
    const d = { x, y: new Uint8Array(n), n, featureShape: [f] };
    if (pre.clamp !== undefined) {
      return applyPublicTransform(d, {
        width: f,
        fill: Float32Array.from(pre.fill ?? new Array<number>(f).fill(0)),
        min: Float32Array.from(pre.clamp.min),
        max: Float32Array.from(pre.clamp.max),
        center: Float32Array.from(pre.center),
        scale: Float32Array.from(pre.scale),
      }).x;
    }
    return standardize(d, { mean: Float32Array.from(pre.center), std: Float32Array.from(pre.scale) }).x;
  }
  const z = Float32Array.from(x);
  if (card.standardize !== undefined) {
    for (let i = 0; i < n; i++)
      for (let j = 0; j < f; j++) z[i * f + j] = (z[i * f + j]! - card.standardize.mean[j]!) / card.standardize.std[j]!;
  }
  return z;
}
