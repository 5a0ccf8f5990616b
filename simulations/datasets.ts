/**
 * The simulation lab's data sets, dealt to simulated sites. Only data loading is simulated:
 * each peer then trains on its rows through the production node services.
 *
 * - breast-cancer (bundled CSV, 30 features) and any CSV with a column mapping: seeded
 *   stratified train/test split, training rows partitioned across peers (`partition`), every
 *   site standardised with its own statistics; the pooled test set is evaluated through every
 *   site's standardiser (each hospital applying the model to the same patients).
 *   With `standardize: federated`, every site uses one standardiser fitted on all training rows
 *   (the statistics a secure sum of each site's n, Σx and Σx² gives), and the test set is
 *   evaluated once through it. Under label skew, site-local statistics differ between sites
 *   (a site of mostly malignant tumours centres its features elsewhere), so the shared model
 *   sees inconsistent inputs; federated statistics remove that.
 * - heart-disease: the four UCI hospitals (node/data/heart-disease.ts: `?` and chol = 0 are
 *   missing and imputed with the site's own median, label num > 0). Each hospital keeps a
 *   stratified test share of its own rows; by-site gives hospital k to peer k, and each
 *   hospital's test rows are evaluated with that hospital's own standardiser.
 * - pneumonia: PneumoniaMNIST's balanced subset, 28×28×1 in [0, 1]; its own train/test splits;
 *   no standardisation (images).
 * - .npz: arrays named by `arrays` (x: (N, F) table or (N, H, W[, C]) images; y: N labels in
 *   {0, 1}); a separate test pair, or else a stratified split. uint8 images are scaled to [0, 1].
 */
import { existsSync, readFileSync } from 'node:fs';
import { fitStandardizer, type LabelledData, selectRows, type Standardizer, standardize, stratifiedSplit } from '../protocol/data.js';
import { parsePartition, partitionRows } from '../protocol/partition.js';
import type { FederationManifest } from '../protocol/manifest.js';
import { createRng } from '../protocol/rng.js';
import { loadBreastCancer } from '../node/data/breast-cancer.js';
import { parseCsv } from '../node/data/csv.js';
import { HEART_SITES, loadHeartSite } from '../node/data/heart-disease.js';
import { loadPneumoniaMnist } from '../node/data/medmnist.js';
import { loadNpz, type NpyArray } from '../node/data/npz.js';
import { ConfigError, type SimulationOptions } from './options.js';

export interface SimulationData {
  /** Pooled training rows (raw), for the centralized baseline. */
  readonly train: LabelledData;
  /** Pooled test rows (raw), for the centralized baseline. */
  readonly test: LabelledData;
  /** Each peer's training rows, as it trains on them (standardised with its own statistics for tables). */
  readonly siteData: readonly LabelledData[];
  /** What the federated model is evaluated on: ready-to-predict sets, predictions pooled. */
  readonly evalSets: readonly LabelledData[];
  readonly featureShape: readonly number[];
  /** Tables are standardised (site-local; the baseline with pooled statistics); images are not. */
  readonly standardized: boolean;
  /** Per site: the standardiser (tables only). */
  readonly standardizers?: readonly Standardizer[];
  /** Human-readable notes (e.g. imputed cells), printed and kept in summary.json. */
  readonly notes: readonly string[];
}

type DataOptions = Pick<
  SimulationOptions,
  'dataset' | 'peers' | 'seed' | 'testFraction' | 'partition' | 'columns' | 'arrays' | 'standardize'
>;

function bad(field: string, value: unknown, rule: string): ConfigError {
  return new ConfigError('CONFIG_INVALID', `${field}=${JSON.stringify(value)}: ${rule}`, { issues: [{ field, value, rule }] });
}

function concat(parts: readonly LabelledData[]): LabelledData {
  const n = parts.reduce((s, p) => s + p.n, 0);
  const f = parts[0]!.x.length / Math.max(1, parts[0]!.n);
  const x = new Float32Array(n * f);
  const y = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    x.set(p.x, off * f);
    y.set(p.y, off);
    off += p.n;
  }
  return { x, y, n, featureShape: [...parts[0]!.featureShape] };
}

function loadCsvDataset(path: string, columns: NonNullable<SimulationOptions['columns']>): LabelledData {
  const text = readFileSync(path, 'utf8');
  const header = (text.split(/\r?\n/, 1)[0] ?? '').split(columns.separator ?? ',').map((c) => c.trim().replace(/^"|"$/g, ''));
  if (!header.includes(columns.label)) throw bad('columns.label', columns.label, `not a column of ${path} (${header.join(', ')})`);
  const ignore = new Set([columns.label, ...(columns.ignore ?? [])]);
  const features = columns.features ?? header.filter((h) => !ignore.has(h));
  // The column mapping as a minimal manifest for the production CSV loader (node/data/csv.ts):
  // numeric features; every label value other than `positive` is negative.
  const labels = new Set<string>();
  const li = header.indexOf(columns.label);
  for (const line of text.split(/\r?\n/).slice(1)) {
    const cell = line
      .split(columns.separator ?? ',')
      [li]?.trim()
      .replace(/^"|"$/g, '');
    if (cell !== undefined && cell !== '' && cell !== columns.positive) labels.add(cell);
  }
  if (labels.size === 0) throw bad('columns.positive', columns.positive, `every row of ${path} has the positive label; need two classes`);
  const manifest = {
    features: features.map((name) => ({ name, kind: 'numeric' as const })),
    label: { name: columns.label, positive: columns.positive, negatives: [...labels] },
  } as unknown as FederationManifest;
  return parseCsv(
    text,
    manifest,
    { missing: columns.missing ?? 'median', ...(columns.separator !== undefined ? { separator: columns.separator } : {}) },
    path,
  ).data;
}

function npzPair(npz: Map<string, NpyArray>, path: string, xName: string, yName: string): LabelledData & { image: boolean } {
  const x = npz.get(xName);
  const y = npz.get(yName);
  if (x === undefined) throw bad('arrays.x', xName, `no such array in ${path} (has ${[...npz.keys()].join(', ')})`);
  if (y === undefined) throw bad('arrays.y', yName, `no such array in ${path} (has ${[...npz.keys()].join(', ')})`);
  const n = x.shape[0] ?? 0;
  if (x.shape.length < 2 || x.shape.length > 4) throw bad('arrays.x', xName, 'shape (N, F), (N, H, W) or (N, H, W, C)');
  if (y.data.length !== n) throw bad('arrays.y', yName, `${y.data.length} labels for ${n} rows`);
  const image = x.shape.length >= 3;
  const scale = x.descr.endsWith('u1') ? 1 / 255 : 1;
  const xs = new Float32Array(x.data.length);
  for (let i = 0; i < xs.length; i++) xs[i] = Number(x.data[i]!) * scale;
  const ys = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(y.data[i]!);
    if (v !== 0 && v !== 1) throw bad('arrays.y', yName, `label ${i} is ${v}; labels must be 0 or 1`);
    ys[i] = v;
  }
  const featureShape = image ? [x.shape[1]!, x.shape[2]!, x.shape[3] ?? 1] : [x.shape[1]!];
  return { x: xs, y: ys, n, featureShape, image };
}

/** Load `o.dataset` and deal it to `o.peers` sites (see module header). Deterministic in the seed. */
export function loadSimulationData(o: DataOptions): SimulationData {
  const splitRng = createRng(o.seed, 'fedmesh/sim/split');
  const partitionRng = createRng(o.seed, 'fedmesh/sim/partition');
  const spec = parsePartition(o.partition);
  const notes: string[] = [];

  const tabular = (train: LabelledData, test: LabelledData, parts: number[][], evalBySite?: LabelledData[]): SimulationData => {
    const raw = parts.map((rows) => selectRows(train, rows));
    if (o.standardize === 'federated') {
      // One standardiser from the pooled training rows: what the sites would get from a secure
      // sum of their (n_k, Σx, Σx²) before training; every site and the test set use it.
      const global = fitStandardizer(train);
      const sets = evalBySite ?? [test];
      return {
        train,
        test,
        siteData: raw.map((d) => standardize(d, global)),
        evalSets: sets.map((d) => standardize(d, global)),
        featureShape: [...train.featureShape],
        standardized: true,
        standardizers: raw.map(() => global),
        notes,
      };
    }
    const standardizers = raw.map((d) => fitStandardizer(d));
    return {
      train,
      test,
      siteData: raw.map((d, i) => standardize(d, standardizers[i]!)),
      evalSets:
        evalBySite !== undefined
          ? evalBySite.map((d, i) => standardize(d, standardizers[i]!))
          : standardizers.map((s) => standardize(test, s)),
      featureShape: [...train.featureShape],
      standardized: true,
      standardizers,
      notes,
    };
  };
  const rowsOf = (d: LabelledData): number[] => Array.from({ length: d.n }, (_, i) => i);

  if (o.dataset === 'heart-disease') {
    // Each hospital keeps a stratified test share of its own patients.
    const sites = HEART_SITES.map((s) => loadHeartSite(s));
    notes.push(
      `heart-disease: ${sites.map((s, i) => `${HEART_SITES[i]} ${s.n} rows, ${s.missingCells} imputed cells`).join('; ')} ('?' and chol=0 imputed with the site's own median)`,
    );
    const trains: LabelledData[] = [];
    const tests: LabelledData[] = [];
    for (const s of sites) {
      const split = stratifiedSplit(s.y, o.testFraction, splitRng);
      trains.push(selectRows(s, split.train));
      tests.push(selectRows(s, split.test));
    }
    const train = concat(trains);
    const test = concat(tests);
    const siteOf = trains.flatMap((t, k) => Array.from({ length: t.n }, () => k));
    const parts = partitionRows(spec, { rows: rowsOf(train), labels: train.y, sites: siteOf }, o.peers, partitionRng);
    return tabular(train, test, parts, spec.kind === 'by-site' ? tests : undefined);
  }

  if (o.dataset === 'pneumonia' || /\.npz$/i.test(o.dataset)) {
    let train: LabelledData;
    let test: LabelledData;
    let image = true;
    if (o.dataset === 'pneumonia') {
      train = loadPneumoniaMnist('train');
      test = loadPneumoniaMnist('test');
    } else {
      if (!existsSync(o.dataset)) throw bad('dataset', o.dataset, 'file not found');
      const arrays = o.arrays!;
      const npz = loadNpz(o.dataset);
      const all = npzPair(npz, o.dataset, arrays.x, arrays.y);
      image = all.image;
      if (arrays.xTest !== undefined) {
        train = all;
        test = npzPair(npz, o.dataset, arrays.xTest, arrays.yTest!);
      } else {
        const split = stratifiedSplit(all.y, o.testFraction, splitRng);
        train = selectRows(all, split.train);
        test = selectRows(all, split.test);
      }
    }
    const parts = partitionRows(spec, { rows: rowsOf(train), labels: train.y }, o.peers, partitionRng);
    if (!image) return tabular(train, test, parts);
    return {
      train,
      test,
      siteData: parts.map((rows) => selectRows(train, rows)),
      evalSets: [test],
      featureShape: [...train.featureShape],
      standardized: false,
      notes,
    };
  }

  let all: LabelledData;
  if (o.dataset === 'breast-cancer') all = loadBreastCancer();
  else {
    if (!existsSync(o.dataset)) throw bad('dataset', o.dataset, 'file not found');
    all = loadCsvDataset(o.dataset, o.columns!);
  }
  const split = stratifiedSplit(all.y, o.testFraction, splitRng);
  const train = selectRows(all, split.train);
  const test = selectRows(all, split.test);
  const parts = partitionRows(spec, { rows: rowsOf(train), labels: train.y }, o.peers, partitionRng);
  return tabular(train, test, parts);
}
