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
 *
 * Tasks (issue 16, protocol/task.ts; `task` option): binary as above; multiclass — a CSV class
 * column whose values are listed in `classes` (default: the distinct values, sorted), an .npz y of
 * class indices, or heart-disease's `num` grade 0–4; multilabel — CSV `columns.labels` (0/1
 * columns) or an .npz y of shape (N, L); regression — a numeric CSV column or .npz y. A regression
 * target is standardised with the public `target: {mean, std}` when given, else (said in the
 * notes) with the pooled training rows' statistics; metrics are reported in original units.
 * `keepFraction[c]` keeps that share of class c's rows (train and test alike, seeded): how the
 * benches make a balanced set imbalanced.
 */
import { existsSync, readFileSync } from 'node:fs';
import { shuffleInPlace, type Rng } from '../protocol/rng.js';
import { type Task, MAX_CLASSES } from '../protocol/task.js';
import { fitStandardizer, type LabelledData, selectRows, type Standardizer, standardize, stratifiedSplit } from '../protocol/data.js';
import { poolSets } from '../protocol/task.js';
import { parsePartition, partitionRows } from '../protocol/partition.js';
import type { FederationManifest } from '../protocol/manifest.js';
import { createRng } from '../protocol/rng.js';
import { loadBreastCancer } from '../node/data/breast-cancer.js';
import { parseCsv } from '../node/data/csv.js';
import { HEART_SITES, loadHeartSite } from '../node/data/heart-disease.js';
import { loadPneumoniaMnist } from '../node/data/medmnist.js';
import { loadNpz, type NpyArray } from '../node/data/npz.js';
import { ConfigError, type SimulationOptions } from './options.js';
import { publicReferenceStandardizer } from './sites.js';

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
  /** The task, with its classes/labels or the regression target's standardisation. */
  readonly task: Task;
  /** CSV tables: the feature column names in model-input order (the exported model's card). */
  readonly featureNames?: readonly string[];
}

type DataOptions = Pick<
  SimulationOptions,
  'dataset' | 'peers' | 'seed' | 'testFraction' | 'partition' | 'columns' | 'arrays' | 'standardize'
> &
  Partial<Pick<SimulationOptions, 'task' | 'classes' | 'target' | 'keepFraction' | 'dpEpsilon' | 'dpNoiseMultiplier'>>;

/** Regression strata: quantile bins of the target, so splits and partitions spread its range. */
const REGRESSION_STRATA = 5;

function bad(field: string, value: unknown, rule: string): ConfigError {
  return new ConfigError('CONFIG_INVALID', `${field}=${JSON.stringify(value)}: ${rule}`, { issues: [{ field, value, rule }] });
}

const concat = (parts: readonly LabelledData[]): LabelledData => poolSets(parts);

/** Quantile bin (0..bins−1) of each value: the stratum of a regression row. */
function quantileStrata(values: ArrayLike<number>, bins: number): Uint8Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const y = new Uint8Array(values.length);
  order.forEach((row, rank) => {
    y[row] = Math.min(bins - 1, Math.floor((rank * bins) / values.length));
  });
  return y;
}

/** Keep `fractions[c]` of class c's rows (seeded); classes beyond the list keep every row. */
function keepByClass(d: LabelledData, fractions: readonly number[], rng: Rng): LabelledData {
  const rows: number[] = [];
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < d.n; i++) byClass.set(d.y[i]!, [...(byClass.get(d.y[i]!) ?? []), i]);
  for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = shuffleInPlace(byClass.get(c)!, rng);
    rows.push(...idx.slice(0, Math.max(1, Math.round(idx.length * (fractions[c] ?? 1)))));
  }
  return selectRows(
    d,
    rows.sort((a, b) => a - b),
  );
}

/** Class names, in index order: `given` or the distinct raw values (numeric order when all are numbers). */
function classList(raw: readonly string[], given: readonly string[] | undefined): string[] {
  if (given !== undefined) return [...given];
  const distinct = [...new Set(raw)];
  const numeric = distinct.every((v) => v.trim() !== '' && Number.isFinite(Number(v)));
  return distinct.sort(numeric ? (a, b) => Number(a) - Number(b) : undefined);
}

const MISSING = new Set(['', '?', 'NA', 'NaN', 'nan', 'null']);
/** Distinct text values a categorical feature may have (more is an identifier or free text). */
const MAX_CATEGORIES = 50;

/**
 * A CSV for a multiclass, multilabel or regression task: numeric features (missing cells
 * imputed with the column's median over the file, or the row dropped), the label per the task.
 * Unknown class values and non-numeric targets are refused naming the line and the value.
 */
function loadCsvTask(
  path: string,
  columns: NonNullable<SimulationOptions['columns']>,
  kind: Task['kind'],
  classes: readonly string[] | undefined,
): { data: LabelledData; task: Task; notes: string[]; features: string[] } {
  const sep = columns.separator ?? ',';
  const lines = readFileSync(path, 'utf8')
    .replace(/^\uFEFF/, '') // a UTF-8 byte-order mark is not part of the first column's name
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  const split = (l: string): string[] => l.split(sep).map((c) => c.trim().replace(/^"|"$/g, ''));
  const header = split(lines[0] ?? '');
  const labelCols = kind === 'multilabel' ? [...(columns.labels ?? [columns.label])] : [columns.label];
  for (const c of labelCols) {
    if (!header.includes(c))
      throw bad(kind === 'multilabel' ? 'columns.labels' : 'columns.label', c, `not a column of ${path} (${header.join(', ')})`);
  }
  const ignore = new Set([columns.label, ...labelCols, ...(columns.ignore ?? [])]);
  const features = columns.features ?? header.filter((h) => !ignore.has(h));
  for (const c of features) if (!header.includes(c)) throw bad('columns.features', c, `not a column of ${path}`);
  const fi = features.map((c) => header.indexOf(c));
  const li = labelCols.map((c) => header.indexOf(c));
  const rows = lines.slice(1).map(split);
  // A feature column with any non-numeric value is categorical: one-hot over its sorted values
  // (a missing cell is all zeros). More than MAX_CATEGORIES values is refused: an identifier or
  // free text, to be listed in columns.ignore.
  const categories = fi.map((j, k) => {
    const values = new Set<string>();
    let text = false;
    for (const r of rows) {
      const v = r[j] ?? '';
      if (MISSING.has(v)) continue;
      values.add(v);
      if (!Number.isFinite(Number(v))) text = true;
    }
    if (!text) return undefined;
    if (values.size > MAX_CATEGORIES) {
      throw bad(
        `columns.features`,
        features[k],
        `${values.size} distinct text values (more than ${MAX_CATEGORIES}): put it in columns.ignore`,
      );
    }
    return [...values].sort();
  });
  const cells: (number | undefined)[][] = [];
  const labels: string[][] = [];
  let dropped = 0;
  let imputed = 0;
  rows.forEach((r, i) => {
    const lab = li.map((j) => r[j] ?? '');
    if (lab.some((v) => MISSING.has(v))) {
      dropped++; // a row without its label cannot be used
      return;
    }
    const feats = fi.map((j, k) => {
      const v = r[j] ?? '';
      if (MISSING.has(v)) return undefined;
      const cats = categories[k];
      if (cats !== undefined) return cats.indexOf(v);
      const x = Number(v);
      if (!Number.isFinite(x)) throw bad(`${path}: line ${i + 2} column ${features[k]}`, v, 'a number (or a missing-value marker)');
      return x;
    });
    if (feats.some((v) => v === undefined) && columns.missing === 'drop') {
      dropped++;
      return;
    }
    cells.push(feats);
    labels.push(lab);
  });
  if (cells.length === 0) throw bad('dataset', path, 'no usable rows');
  const medians = fi.map((_, k) => {
    const vs = cells
      .map((r) => r[k])
      .filter((v): v is number => v !== undefined)
      .sort((a, b) => a - b);
    return vs.length === 0 ? 0 : vs.length % 2 === 1 ? vs[(vs.length - 1) / 2]! : (vs[vs.length / 2 - 1]! + vs[vs.length / 2]!) / 2;
  });
  const n = cells.length;
  const names = features.flatMap((c, k) => categories[k]?.map((v) => `${c}=${v}`) ?? [c]);
  const f = names.length;
  const x = new Float32Array(n * f);
  cells.forEach((r, i) => {
    let o = i * f;
    r.forEach((v, k) => {
      const cats = categories[k];
      if (v === undefined) imputed++;
      if (cats !== undefined) {
        if (v !== undefined) x[o + v] = 1;
        o += cats.length;
      } else x[o++] = v ?? medians[k]!;
    });
  });
  const oneHot = features.filter((_, k) => categories[k] !== undefined);
  const notes = [
    `${path}: ${n} rows${dropped > 0 ? `, ${dropped} dropped (missing label${columns.missing === 'drop' ? ' or cell' : ''})` : ''}${imputed > 0 ? `, ${imputed} missing cells (numeric: the file's column median; categorical: all-zero one-hot)` : ''}${oneHot.length > 0 ? `; one-hot: ${oneHot.join(', ')}` : ''}`,
  ];
  const featureShape = [f];
  if (kind === 'binary') {
    const positive = columns.positive!;
    const y = Uint8Array.from(labels, (l) =>
      l[0] === positive || (Number.isFinite(Number(positive)) && Number(l[0]) === Number(positive)) ? 1 : 0,
    );
    if (y.every((v) => v === y[0])) throw bad('columns.positive', positive, `every row of ${path} is in one class; need two classes`);
    return { data: { x, y, n, featureShape }, task: { kind: 'binary' }, notes, features: names };
  }
  if (kind === 'multiclass') {
    const classNames = classList(
      labels.map((l) => l[0]!),
      classes,
    );
    if (classNames.length < 2 || classNames.length > MAX_CLASSES) throw bad('classes', classNames, `2..${MAX_CLASSES} classes`);
    const index = new Map(classNames.map((c, i) => [c, i]));
    const y = new Uint8Array(n);
    labels.forEach((l, i) => {
      let c = index.get(l[0]!);
      // '4.0' is the class '4'
      if (c === undefined) c = classNames.findIndex((nm) => Number.isFinite(Number(nm)) && Number(nm) === Number(l[0]));
      if (c === undefined || c < 0) throw bad('columns.label', l[0], `row ${i + 1}: not one of the classes (${classNames.join(', ')})`);
      y[i] = c;
    });
    return { data: { x, y, n, featureShape }, task: { kind: 'multiclass', classes: classNames }, notes, features: names };
  }
  const w = labelCols.length;
  const targets = new Float32Array(n * w);
  labels.forEach((l, i) => {
    l.forEach((v, j) => {
      const t = Number(v);
      if (kind === 'multilabel' ? t !== 0 && t !== 1 : !Number.isFinite(t)) {
        throw bad(
          `columns.${kind === 'multilabel' ? 'labels' : 'label'}`,
          v,
          `row ${i + 1} of ${labelCols[j]}: ${kind === 'multilabel' ? '0 or 1' : 'a number'}`,
        );
      }
      targets[i * w + j] = t;
    });
  });
  const y = kind === 'multilabel' ? Uint8Array.from({ length: n }, (_, i) => targets[i * w]!) : quantileStrata(targets, REGRESSION_STRATA);
  return {
    data: { x, y, n, featureShape, targets },
    task: kind === 'multilabel' ? { kind, labels: labelCols } : { kind: 'regression', mean: 0, std: 1 },
    notes,
    features: names,
  };
}

/** True when a feature column of the CSV holds a non-numeric value (then it is one-hot encoded). */
function csvHasTextFeatures(path: string, columns: NonNullable<SimulationOptions['columns']>): boolean {
  const sep = columns.separator ?? ',';
  const lines = readFileSync(path, 'utf8')
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  const split = (l: string): string[] => l.split(sep).map((c) => c.trim().replace(/^"|"$/g, ''));
  const header = split(lines[0] ?? '');
  const ignore = new Set([columns.label, ...(columns.ignore ?? [])]);
  const idx = (columns.features ?? header.filter((h) => !ignore.has(h))).map((c) => header.indexOf(c)).filter((i) => i >= 0);
  return lines.slice(1).some((l) => {
    const r = split(l);
    return idx.some((i) => {
      const v = r[i] ?? '';
      return !MISSING.has(v) && !Number.isFinite(Number(v));
    });
  });
}

/**
 * Regression: the target standardised with `given` (public) or else the pooled training rows'
 * mean and standard deviation (a simulation shortcut, said in the notes). Other tasks unchanged.
 */
function standardizeTargets(
  task: Task,
  train: LabelledData,
  test: LabelledData,
  given: { mean: number; std: number } | undefined,
  notes: string[],
): { task: Task; train: LabelledData; test: LabelledData } {
  if (task.kind !== 'regression') return { task, train, test };
  let { mean, std } = given ?? { mean: 0, std: 1 };
  if (given === undefined) {
    const t = train.targets!;
    mean = t.reduce((a, b) => a + b, 0) / t.length;
    std = Math.sqrt(t.reduce((a, b) => a + (b - mean) ** 2, 0) / t.length) || 1;
    notes.push(
      `regression target standardised with the pooled training rows' mean ${mean.toPrecision(6)} and sd ${std.toPrecision(6)} (give target: {mean, std} for public values)`,
    );
  }
  const std1 = (d: LabelledData): LabelledData => ({ ...d, targets: Float32Array.from(d.targets!, (v) => (v - mean) / std) });
  return { task: { kind: 'regression', mean, std }, train: std1(train), test: std1(test) };
}

function loadCsvDataset(path: string, columns: NonNullable<SimulationOptions['columns']>): LabelledData & { featureNames: string[] } {
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
  const data = parseCsv(
    text,
    manifest,
    { missing: columns.missing ?? 'median', ...(columns.separator !== undefined ? { separator: columns.separator } : {}) },
    path,
  ).data;
  return { ...data, featureNames: features };
}

function npzPair(
  npz: Map<string, NpyArray>,
  path: string,
  xName: string,
  yName: string,
  kind: Task['kind'] = 'binary',
): LabelledData & { image: boolean } {
  const x = npz.get(xName);
  const y = npz.get(yName);
  if (x === undefined) throw bad('arrays.x', xName, `no such array in ${path} (has ${[...npz.keys()].join(', ')})`);
  if (y === undefined) throw bad('arrays.y', yName, `no such array in ${path} (has ${[...npz.keys()].join(', ')})`);
  const n = x.shape[0] ?? 0;
  if (x.shape.length < 2 || x.shape.length > 4) throw bad('arrays.x', xName, 'shape (N, F), (N, H, W) or (N, H, W, C)');
  // Multi-label: y is (N, L); otherwise one value per row ((N) or (N, 1)).
  const width = kind === 'multilabel' ? (y.shape[1] ?? 1) : 1;
  if (y.data.length !== n * width) throw bad('arrays.y', yName, `${y.data.length} labels for ${n} rows`);
  const image = x.shape.length >= 3;
  const scale = x.descr.endsWith('u1') ? 1 / 255 : 1;
  const xs = new Float32Array(x.data.length);
  for (let i = 0; i < xs.length; i++) xs[i] = Number(x.data[i]!) * scale;
  const ys = new Uint8Array(n);
  const featureShape = image ? [x.shape[1]!, x.shape[2]!, x.shape[3] ?? 1] : [x.shape[1]!];
  if (kind === 'multilabel' || kind === 'regression') {
    const targets = new Float32Array(n * width);
    for (let i = 0; i < targets.length; i++) {
      const v = Number(y.data[i]!);
      if (kind === 'multilabel' ? v !== 0 && v !== 1 : !Number.isFinite(v)) {
        throw bad('arrays.y', yName, `value ${i} is ${v}; ${kind === 'multilabel' ? '0 or 1' : 'a finite number'}`);
      }
      targets[i] = v;
    }
    const strata =
      kind === 'multilabel' ? Uint8Array.from({ length: n }, (_, i) => targets[i * width]!) : quantileStrata(targets, REGRESSION_STRATA);
    return { x: xs, y: strata, n, featureShape, image, targets };
  }
  for (let i = 0; i < n; i++) {
    const v = Number(y.data[i]!);
    const ok = kind === 'binary' ? v === 0 || v === 1 : Number.isInteger(v) && v >= 0 && v < MAX_CLASSES;
    if (!ok)
      throw bad(
        'arrays.y',
        yName,
        `label ${i} is ${v}; labels must be ${kind === 'binary' ? '0 or 1' : `class indices 0..${MAX_CLASSES - 1}`}`,
      );
    ys[i] = v;
  }
  return { x: xs, y: ys, n, featureShape, image };
}

/** Load `o.dataset` and deal it to `o.peers` sites (see module header). Deterministic in the seed. */
export function loadSimulationData(o: DataOptions): SimulationData {
  const splitRng = createRng(o.seed, 'fedmesh/sim/split');
  const partitionRng = createRng(o.seed, 'fedmesh/sim/partition');
  const keepRng = createRng(o.seed, 'fedmesh/sim/keep');
  const spec = parsePartition(o.partition);
  const notes: string[] = [];
  const kind = o.task ?? 'binary';
  let task: Task = { kind: 'binary' };
  let featureNames: string[] | undefined;
  const keep = (d: LabelledData): LabelledData => (o.keepFraction !== undefined ? keepByClass(d, o.keepFraction, keepRng) : d);
  const indexClasses = (d: LabelledData): string[] => {
    let k = 0;
    for (let i = 0; i < d.n; i++) k = Math.max(k, d.y[i]! + 1);
    const names = o.classes ?? Array.from({ length: k }, (_, c) => String(c));
    if (names.length < k) throw bad('classes', names, `${k} classes in the labels, ${names.length} names given`);
    return names;
  };
  const only = (allowed: readonly Task['kind'][], what: string): void => {
    if (!allowed.includes(kind)) throw bad('task', kind, `${what} supports ${allowed.join(', ')}`);
  };

  const tabular = (train: LabelledData, test: LabelledData, parts: number[][], evalBySite?: LabelledData[]): SimulationData => {
    const raw = parts.map((rows) => selectRows(train, rows));
    if (o.standardize === 'public' || o.dpEpsilon !== undefined || o.dpNoiseMultiplier !== undefined) {
      // issue 15 (H5): with DP, no site's preprocessing may depend on its records. Every site and
      // the evaluation use one set of public reference statistics: the held-out rows' (records no
      // site trains on, standing in for a public reference cohort; simulations/sites.ts).
      const sets = evalBySite ?? [test];
      const reference = publicReferenceStandardizer(poolSets(sets));
      notes.push('features standardised with public reference statistics (the held-out rows), the same at every site');
      return {
        train,
        test,
        siteData: raw.map((d) => standardize(d, reference)),
        evalSets: sets.map((d) => standardize(d, reference)),
        featureShape: [...train.featureShape],
        standardized: true,
        standardizers: raw.map(() => reference),
        notes,
        task,
        ...(featureNames !== undefined ? { featureNames } : {}),
      };
    }
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
        task,
        ...(featureNames !== undefined ? { featureNames } : {}),
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
      task,
      ...(featureNames !== undefined ? { featureNames } : {}),
    };
  };
  const rowsOf = (d: LabelledData): number[] => Array.from({ length: d.n }, (_, i) => i);

  if (o.dataset === 'heart-disease') {
    only(['binary', 'multiclass'], 'heart-disease (num > 0, or the grade num 0–4)');
    // Each hospital keeps a stratified test share of its own patients.
    const sites = HEART_SITES.map((s) => loadHeartSite(s));
    notes.push(
      `heart-disease: ${sites.map((s, i) => `${HEART_SITES[i]} ${s.n} rows, ${s.missingCells} imputed cells`).join('; ')} ('?' and chol=0 imputed with the site's own median)`,
    );
    if (kind === 'multiclass') {
      task = { kind: 'multiclass', classes: o.classes ?? ['0', '1', '2', '3', '4'] };
      if (task.classes.length !== 5) throw bad('classes', o.classes, 'heart-disease has the 5 grades of num (0–4)');
    }
    const trains: LabelledData[] = [];
    const tests: LabelledData[] = [];
    for (const s of sites) {
      const site = keep(kind === 'multiclass' ? { x: s.x, y: s.grade, n: s.n, featureShape: s.featureShape } : s);
      const split = stratifiedSplit(site.y, o.testFraction, splitRng);
      trains.push(selectRows(site, split.train));
      tests.push(selectRows(site, split.test));
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
      only(['binary'], 'pneumonia');
      train = keep(loadPneumoniaMnist('train'));
      test = keep(loadPneumoniaMnist('test'));
    } else {
      if (!existsSync(o.dataset)) throw bad('dataset', o.dataset, 'file not found');
      const arrays = o.arrays!;
      const npz = loadNpz(o.dataset);
      const all = npzPair(npz, o.dataset, arrays.x, arrays.y, kind);
      image = all.image;
      if (arrays.xTest !== undefined) {
        train = keep(all);
        test = keep(npzPair(npz, o.dataset, arrays.xTest, arrays.yTest!, kind));
      } else {
        const kept = keep(all);
        const split = stratifiedSplit(kept.y, o.testFraction, splitRng);
        train = selectRows(kept, split.train);
        test = selectRows(kept, split.test);
      }
      if (kind === 'multiclass') task = { kind, classes: indexClasses(concat([train, test])) };
      if (kind === 'multilabel') task = { kind, labels: Array.from({ length: train.targets!.length / train.n }, (_, j) => `y${j}`) };
      if (kind === 'regression') ({ task, train, test } = standardizeTargets({ kind, mean: 0, std: 1 }, train, test, o.target, notes));
    }
    if (o.keepFraction !== undefined)
      notes.push(`keepFraction ${JSON.stringify(o.keepFraction)}: ${train.n} train / ${test.n} test rows kept`);
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
      task,
    };
  }

  let all: LabelledData;
  if (o.dataset === 'breast-cancer') {
    only(['binary'], 'breast-cancer');
    all = loadBreastCancer();
  } else {
    if (!existsSync(o.dataset)) throw bad('dataset', o.dataset, 'file not found');
    if (kind === 'binary' && !csvHasTextFeatures(o.dataset, o.columns!)) {
      const loaded = loadCsvDataset(o.dataset, o.columns!);
      featureNames = loaded.featureNames;
      all = { x: loaded.x, y: loaded.y, n: loaded.n, featureShape: loaded.featureShape };
    } else {
      const loaded = loadCsvTask(o.dataset, o.columns!, kind, o.classes);
      all = loaded.data;
      task = loaded.task;
      featureNames = loaded.features;
      notes.push(...loaded.notes);
    }
  }
  all = keep(all);
  const split = stratifiedSplit(all.y, o.testFraction, splitRng);
  let train = selectRows(all, split.train);
  let test = selectRows(all, split.test);
  ({ task, train, test } = standardizeTargets(task, train, test, o.target, notes));
  const parts = partitionRows(spec, { rows: rowsOf(train), labels: train.y }, o.peers, partitionRng);
  return tabular(train, test, parts);
}
