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
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { toHex0x } from '../../protocol/bytes.js';
import { FedmeshError } from '../../protocol/errors.js';
import type { ModelWeights } from '../../protocol/model.js';
import { outputNames, type Task, toOriginalUnits } from '../../protocol/task.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { loadNpz } from '../data/npz.js';
import { loadLayersModel, readModelArtifacts, saveLayersModel } from './model-io.js';
import { federatedTensors, PREDICT_BATCH } from './trainer.js';

export const CARD_FILE = 'card.json';

export interface ModelCard {
  readonly version: 1;
  readonly task: Task;
  /** Shape of one example (tables: [features]; images: [h, w, c]). */
  readonly featureShape: readonly number[];
  /** Tables: the feature column names in model-input order, when known. */
  readonly features?: readonly string[];
  /** Applied to raw features before the model: (x − mean) / std per feature. */
  readonly standardize?: { readonly mean: readonly number[]; readonly std: readonly number[] };
  /** modelHash of the federated weights: the on-chain record's model hash. */
  readonly modelHash: string;
  /** Own models: the architecture-and-initial-weights hash (node/ml/model-io.ts). */
  readonly sourceHash?: string;
  readonly rounds: number;
  readonly recordTx?: string;
  readonly metrics: Readonly<Record<string, unknown>>;
  readonly notes?: readonly string[];
}

export type ModelCardErrorCode = 'MODEL_CARD_INVALID' | 'MODEL_HASH_MISMATCH' | 'PREDICT_INPUT_INVALID';
export class ModelCardError extends FedmeshError<ModelCardErrorCode> {}

function weightsOf(model: tf.LayersModel): ModelWeights {
  return { tensors: federatedTensors(model).map((t) => ({ shape: [...t.shape], data: new Float32Array(t.dataSync() as Float32Array) })) };
}

/** Writes `model` and its card to `dir`; the card's modelHash is computed here, from the weights written. */
export async function exportModel(model: tf.LayersModel, dir: string, card: Omit<ModelCard, 'version' | 'modelHash'>): Promise<ModelCard> {
  await saveLayersModel(model, dir);
  const full: ModelCard = { version: 1, ...card, modelHash: toHex0x(modelHash(weightsOf(model))) };
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

/** Predicts raw feature rows (n × Π featureShape, standardised here with the card's values). */
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

/** Predictions as CSV: one column per output (named after classes/labels), then `predicted`. */
export function predictionsCsv(card: ModelCard, rows: readonly Prediction[]): string {
  const header = [...outputNames(card.task), 'predicted'].map((h) => (/[",\n]/.test(h) ? `"${h.replace(/"/g, '""')}"` : h));
  const lines = rows.map((r) => [...r.outputs.map((v) => String(v)), String(r.predicted)].join(','));
  return `${[header.join(','), ...lines].join('\n')}\n`;
}

/**
 * Rows to predict from a file: a CSV whose header holds the card's feature names (any order;
 * other columns ignored; every cell a number) or an .npz array (`array`, default 'x'; uint8
 * images scaled to [0, 1] as in training). Refused with PREDICT_INPUT_INVALID naming the column
 * or line.
 */
export function readPredictionInput(path: string, card: ModelCard, array = 'x'): { x: Float32Array; n: number } {
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
  const lines = readFileSync(path, 'utf8')
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

/** Raw feature rows standardised with the card's values (model-input units). */
export function standardizeRows(card: ModelCard, x: Float32Array, n: number): Float32Array {
  const f = card.featureShape.reduce((a, b) => a * b, 1);
  const z = Float32Array.from(x);
  if (card.standardize !== undefined) {
    for (let i = 0; i < n; i++)
      for (let j = 0; j < f; j++) z[i * f + j] = (z[i * f + j]! - card.standardize.mean[j]!) / card.standardize.std[j]!;
  }
  return z;
}
