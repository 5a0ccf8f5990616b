/**
 * Pure data handling: the labelled-table type, seeded stratified splits, partitioning across
 * peers and per-site standardisation. Loading bytes from disk lives in node/data.
 */
import { FedmeshError } from './errors.js';
import { type Rng, shuffleInPlace } from './rng.js';

/**
 * Row-major features (n × Π featureShape) and labels: `y` is the class index (binary: {0, 1});
 * for multi-label and regression tasks (protocol/task.ts) `y` is only a stratum for splits and
 * the targets are `targets` (n × width, row-major).
 */
export interface LabelledData {
  readonly x: Float32Array;
  readonly y: Uint8Array;
  readonly n: number;
  readonly featureShape: readonly number[];
  readonly targets?: Float32Array;
}

export class DataError extends FedmeshError<'DATA_PARSE' | 'DATA_EMPTY' | 'DATA_BAD_SPLIT' | 'DATA_BAD_LABEL'> {}

export function featureSize(d: LabelledData): number {
  return d.featureShape.reduce((a, b) => a * b, 1);
}

export function selectRows(d: LabelledData, rows: readonly number[]): LabelledData {
  const f = featureSize(d);
  const x = new Float32Array(rows.length * f);
  const y = new Uint8Array(rows.length);
  const t = d.targets;
  const w = t !== undefined && d.n > 0 ? t.length / d.n : 0;
  const targets = t !== undefined ? new Float32Array(rows.length * w) : undefined;
  rows.forEach((r, i) => {
    x.set(d.x.subarray(r * f, (r + 1) * f), i * f);
    y[i] = d.y[r]!;
    if (targets !== undefined) targets.set(t!.subarray(r * w, (r + 1) * w), i * w);
  });
  return { x, y, n: rows.length, featureShape: d.featureShape, ...(targets !== undefined ? { targets } : {}) };
}

/**
 * Stratified split: each class is shuffled and cut at the same fraction, so train and test
 * keep the label ratio (as sklearn's train_test_split(stratify=y)).
 */
export function stratifiedSplit(labels: Uint8Array, testFraction: number, rng: Rng): { train: number[]; test: number[] } {
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new DataError('DATA_BAD_SPLIT', `test fraction ${testFraction}`, {
      field: 'testFraction',
      value: testFraction,
      rule: '0 < f < 1',
    });
  }
  const byClass = new Map<number, number[]>();
  labels.forEach((l, i) => {
    const list = byClass.get(l) ?? [];
    list.push(i);
    byClass.set(l, list);
  });
  const train: number[] = [];
  const test: number[] = [];
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = shuffleInPlace(byClass.get(cls)!, rng);
    const nTest = Math.round(idx.length * testFraction);
    test.push(...idx.slice(0, nTest));
    train.push(...idx.slice(nTest));
  }
  return { train: shuffleInPlace(train, rng), test: shuffleInPlace(test, rng) };
}

/**
 * IID partition of rows across `peers`, stratified: rows of each class are dealt round-robin
 * after a seeded shuffle, so every site gets both classes and near-equal sizes.
 */
export function partitionIid(rows: readonly number[], labels: Uint8Array, peers: number, rng: Rng): number[][] {
  if (!Number.isInteger(peers) || peers < 1) throw new DataError('DATA_BAD_SPLIT', `${peers} peers`, { field: 'peers', value: peers });
  if (rows.length < peers) {
    throw new DataError('DATA_BAD_SPLIT', `${rows.length} rows cannot be split over ${peers} peers`, {
      field: 'peers',
      rows: rows.length,
      peers,
    });
  }
  const parts: number[][] = Array.from({ length: peers }, () => []);
  let k = rng.int(peers);
  const classes = [...new Set(rows.map((r) => labels[r]!))].sort((a, b) => a - b);
  for (const cls of classes) {
    for (const r of shuffleInPlace(
      rows.filter((row) => labels[row] === cls),
      rng,
    )) {
      parts[k]!.push(r);
      k = (k + 1) % peers;
    }
  }
  return parts.map((p) => shuffleInPlace(p, rng));
}

export interface Standardizer {
  readonly mean: Float32Array;
  readonly std: Float32Array;
}

/**
 * Per-feature mean and standard deviation from one site's rows only: no peer sees another's
 * data, so each standardises with its own statistics. Constant features get std 1.
 */
export function fitStandardizer(d: LabelledData): Standardizer {
  if (d.n === 0) throw new DataError('DATA_EMPTY', 'cannot fit a standardizer on 0 rows', {});
  const f = featureSize(d);
  const mean = new Float64Array(f);
  const sq = new Float64Array(f);
  for (let i = 0; i < d.n; i++) for (let j = 0; j < f; j++) mean[j]! += d.x[i * f + j]!;
  for (let j = 0; j < f; j++) mean[j]! /= d.n;
  for (let i = 0; i < d.n; i++)
    for (let j = 0; j < f; j++) {
      const dv = d.x[i * f + j]! - mean[j]!;
      sq[j]! += dv * dv;
    }
  const std = new Float32Array(f);
  for (let j = 0; j < f; j++) {
    const s = Math.sqrt(sq[j]! / d.n);
    std[j] = s > 1e-12 ? s : 1;
  }
  return { mean: Float32Array.from(mean), std };
}

export function standardize(d: LabelledData, s: Standardizer): LabelledData {
  const f = featureSize(d);
  const x = new Float32Array(d.x.length);
  for (let i = 0; i < d.n; i++) for (let j = 0; j < f; j++) x[i * f + j] = (d.x[i * f + j]! - s.mean[j]!) / s.std[j]!;
  return { ...d, x };
}
