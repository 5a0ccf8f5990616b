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
import { DataError, standardize } from '../../protocol/data.js';
import { FedmeshError } from '../../protocol/errors.js';
import { canonicalJson, type FederationManifest } from '../../protocol/manifest.js';
import type { ModelWeights } from '../../protocol/model.js';
import { applyPublicTransform } from '../../protocol/privacy/public-statistics.js';
import { outputNames, type Task, toOriginalUnits } from '../../protocol/task.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { parseCsv } from '../data/csv.js';
import { readDataText } from '../data/data-file.js';
import { loadNpz } from '../data/npz.js';
import { readPngGray } from '../data/png-folder.js';
import { loadLayersModel, readModelArtifacts, saveLayersModel } from './model-io.js';
import { federatedTensors, PREDICT_BATCH } from './trainer.js';

export const CARD_FILE = 'card.json';

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
  /** Own models: the architecture-and-initial-weights hash (node/ml/model-io.ts). */
  readonly sourceHash?: string;
  readonly rounds: number;
  readonly recordTx?: string;
  readonly metrics: Readonly<Record<string, unknown>>;
  readonly notes?: readonly string[];
}

export type ModelCardErrorCode =
  | 'MODEL_CARD_INVALID'
  | 'MODEL_HASH_MISMATCH'
  | 'MODEL_PREPROCESSING_MISMATCH'
  | 'PREDICT_INPUT_INVALID'
  | 'PREDICT_NO_STATISTICS';
export class ModelCardError extends FedmeshError<ModelCardErrorCode> {}

function weightsOf(model: tf.LayersModel): ModelWeights {
  return { tensors: federatedTensors(model).map((t) => ({ shape: [...t.shape], data: new Float32Array(t.dataSync() as Float32Array) })) };
}

/** Writes `model` and its card to `dir`; the card's modelHash is computed here, from the weights written. */
export async function exportModel(
  model: tf.LayersModel,
  dir: string,
  card: Omit<ModelCard, 'version' | 'modelHash' | 'preprocessingHash'>,
): Promise<ModelCard> {
  await saveLayersModel(model, dir);
  const full: ModelCard = {
    version: 1,
    ...card,
    modelHash: toHex0x(modelHash(weightsOf(model))),
    ...(card.preprocessing !== undefined ? { preprocessingHash: preprocessingHash(card.preprocessing) } : {}),
  };
  writeFileSync(join(dir, CARD_FILE), `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

/** Loads a model folder and its card; refuses a card whose hash is not the weights' (naming both). */
export async function loadModelWithCard(dir: string): Promise<{ model: tf.LayersModel; card: ModelCard }> {
  const cardPath = join(dir, CARD_FILE);
  if (!existsSync(cardPath))
    throw new ModelCardError('MODEL_CARD_INVALID', `${cardPath}: no model card`, { field: 'card', value: cardPath });
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
  const model = await loadLayersModel(readModelArtifacts(dir));
  const got = toHex0x(modelHash(weightsOf(model)));
  if (got !== card.modelHash) {
    model.dispose();
    throw new ModelCardError('MODEL_HASH_MISMATCH', `the weights in ${dir} hash to ${got}, the card says ${card.modelHash}`, {
      expected: card.modelHash,
      got,
    });
  }
  return { model, card };
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
