/**
 * CSV loader with a column mapping driven by the federation manifest: feature columns in
 * manifest order, categorical features one-hot encoded with the manifest's categories, the
 * label read per the manifest's task (`labelReader`), and a missing-value policy (drop the row, or impute: the manifest's
 * public fill when given — always with DP — else the site's own median; node/data/impute.ts).
 *
 * Headers match the manifest's names (or `columns`' file names) exactly, else ignoring case;
 * label and category values match exactly, through `values`' map, or as equal numbers (`4.0`
 * is `4`). Schema problems (a missing column) reject the file at start-up; row problems
 * (unparseable number, unknown category or label) are listed with line, column and value
 * (the first MAX_LISTED_BAD_ROWS; always counted), and only reject the file when
 * they exceed `maxBadRowFraction`.
 */
import { DataError, type LabelledData } from '../../protocol/data.js';
import type { FederationManifest } from '../../protocol/manifest.js';
import { type Task, taskOfManifest, toStandardUnits } from '../../protocol/task.js';
import { readDataText } from './data-file.js';
import { imputeColumns } from './impute.js';

export interface CsvMapping {
  /** Column separator, default ','. */
  readonly separator?: string;
  /** Maps manifest feature/label names to the file's column names, when they differ. */
  readonly columns?: Readonly<Record<string, string>>;
  /**
   * Maps values, per manifest name (the label or a categorical feature): file value → manifest
   * value, e.g. `{ diagnosis: { '1': 'malignant', '0': 'benign' } }`. A file value also matches a
   * key that is numerically equal (`4.0` for `4`).
   */
  readonly values?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /**
   * 'case-insensitive' (default): a manifest name with no exact header match matches the one
   * header equal to it ignoring case (two such headers are refused as ambiguous). 'exact': only
   * exact matches.
   */
  readonly headerMatch?: 'exact' | 'case-insensitive';
  /** Cell values that mean "missing". */
  readonly missingValues?: readonly string[];
  readonly missing: 'drop' | 'median';
  /**
   * Public per-column fill values (model-input order, one-hot columns included) from the
   * manifest's publicStatistics (protocol/privacy/public-statistics.ts). Given: 'median' imputes
   * these instead of the site's medians (issue 15: nothing fitted on private rows).
   */
  readonly fill?: Float32Array;
  /** Reject the file if more than this fraction of rows is bad. Default 0.05. */
  readonly maxBadRowFraction?: number;
  /**
   * Features only (`fedmesh predict`: new patients have no label yet): the label column is not
   * looked for and every kept row gets y = 0. Everything else — header matching, categories,
   * missing cells, imputation — is the training path's, so a row is encoded as training saw it.
   */
  readonly withoutLabel?: boolean;
}

/** What parseCsv reads of a manifest (the exported model card carries the same fields). */
export type CsvSchema = Pick<FederationManifest, 'features' | 'label'> & { readonly task?: Task | undefined };

/** One refused row: its line in the file (1 = the header), and the column and value at fault. */
export interface BadRow {
  readonly line: number;
  /** The file's column name; absent when the row as a whole is malformed (a wrong field count). */
  readonly column?: string;
  readonly value?: string;
  readonly reason: string;
}

export interface CsvLoadReport {
  /** Data rows in the file (blank lines not counted). */
  readonly rows: number;
  readonly kept: number;
  /** Rows dropped because a cell was missing (`missing: drop`); not bad rows. */
  readonly droppedMissing: number;
  readonly imputedCells: number;
  /** Every bad row counted… */
  readonly badRowCount: number;
  /** …and the first MAX_LISTED_BAD_ROWS of them listed. */
  readonly badRows: BadRow[];
  /** Per model-input column, the raw value a missing cell took (the public fill, or this file's median). */
  readonly fill: readonly number[];
}

/**
 * Bad rows listed in a report (and in the DATA_PARSE error's fields): enough to fix a file by
 * hand or to spot a pattern, bounded so that a wholly wrong file cannot make a report of its own
 * size. The count is always exact.
 */
export const MAX_LISTED_BAD_ROWS = 1_000;
/** Bad rows named in an error message (the fields carry up to MAX_LISTED_BAD_ROWS). */
const BAD_ROWS_IN_MESSAGE = 5;

export const DEFAULT_MISSING = ['', '?', 'NA', 'NaN', 'null'];

export function splitLine(line: string, sep: string): string[] {
  // RFC 4180 quoting: "a,b" is one cell, "" inside quotes is a literal quote.
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (line.startsWith(sep, i)) {
      out.push(cur.trim());
      cur = '';
      i += sep.length - 1;
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** Finite number of a cell, or undefined ('' and whitespace are not 0). */
function numberOf(cell: string): number | undefined {
  if (cell.trim() === '') return undefined;
  const v = Number(cell);
  return Number.isFinite(v) ? v : undefined;
}

/**
 * The index of `cell` among `allowed` (manifest values), after the config's value map for this
 * column. Exact matches first; else a numerically equal one (`4.0` matches `4`), so that a
 * spreadsheet's reformatting of codes does not reject the file.
 */
function valueMatcher(allowed: readonly string[], map: Readonly<Record<string, string>> | undefined): (cell: string) => number {
  const byNumber = (candidates: readonly string[], cell: string): number => {
    const v = numberOf(cell);
    return v === undefined ? -1 : candidates.findIndex((c) => numberOf(c) === v);
  };
  const mapKeys = map === undefined ? [] : Object.keys(map);
  return (cell) => {
    let value = cell;
    if (map !== undefined) {
      const mapped =
        map[cell] ??
        (() => {
          const k = byNumber(mapKeys, cell);
          return k < 0 ? undefined : map[mapKeys[k]!];
        })();
      if (mapped !== undefined) value = mapped;
    }
    const exact = allowed.indexOf(value);
    return exact >= 0 ? exact : byNumber(allowed, value);
  };
}

/** Checks `data.values`: only the label or categorical features, mapping to their manifest values. */
function checkValueMap(manifest: CsvSchema, values: CsvMapping['values'], source: string): void {
  if (values === undefined) return;
  const allowedOf = new Map<string, readonly string[]>([[manifest.label.name, [manifest.label.positive, ...manifest.label.negatives]]]);
  for (const f of manifest.features ?? []) if (f.kind === 'categorical') allowedOf.set(f.name, f.categories!);
  for (const [name, map] of Object.entries(values)) {
    const allowed = allowedOf.get(name);
    if (allowed === undefined) {
      throw new DataError('DATA_PARSE', `${source}: data.values.${name}: not the label or a categorical feature of the manifest`, {
        source,
        field: `data.values.${name}`,
        rule: `one of: ${[...allowedOf.keys()].join(', ')}`,
      });
    }
    for (const [from, to] of Object.entries(map)) {
      if (!allowed.includes(to)) {
        throw new DataError('DATA_PARSE', `${source}: data.values.${name}.${from}="${to}": not a manifest value (${allowed.join(', ')})`, {
          source,
          field: `data.values.${name}.${from}`,
          value: to,
          rule: `one of: ${allowed.join(', ')}`,
        });
      }
    }
  }
}

/** The header index of each wanted file column name. */
function headerIndex(
  header: readonly string[],
  match: 'exact' | 'case-insensitive',
  source: string,
): (fileName: string, name: string) => number {
  return (fileName, name) => {
    const exact = header.indexOf(fileName);
    if (exact >= 0) return exact;
    const folded = match === 'case-insensitive' ? header.flatMap((h, i) => (h.toLowerCase() === fileName.toLowerCase() ? [i] : [])) : [];
    if (folded.length === 1) return folded[0]!;
    if (folded.length > 1) {
      throw new DataError(
        'DATA_PARSE',
        `${source}: column "${fileName}" (for "${name}") matches ${folded.map((i) => `"${header[i]}"`).join(' and ')} ignoring case; name one in data.columns`,
        {
          source,
          column: fileName,
        },
      );
    }
    throw new DataError('DATA_PARSE', `${source}: column "${fileName}" (for "${name}") is missing; header has ${header.join(', ')}`, {
      source,
      column: fileName,
    });
  };
}

/** One row's label as the task reads it: the stratum `y` and, for multilabel/regression, its targets. */
type RowLabel = 'missing' | { readonly bad: Omit<BadRow, 'line'> } | { readonly y: number; readonly targets?: readonly number[] };

/** The manifest field a label must agree with (named in DATA_BAD_LABEL). */
function labelField(task: Task): string {
  if (task.kind === 'multiclass') return 'task.classes';
  if (task.kind === 'multilabel') return 'task.labels';
  if (task.kind === 'regression') return 'label.name';
  return 'label.positive/negatives';
}

/**
 * Regression strata: the standardised target cut at the fixed points −1, 0, 1 (public: the
 * manifest's mean and std), only to stratify local splits; never a statistic of the site's rows.
 */
function regressionStratum(z: number): number {
  return z < -1 ? 0 : z < 0 ? 1 : z < 1 ? 2 : 3;
}

/**
 * How a row's label is read, per task (protocol/task.ts):
 * - binary: the label column; `label.positive` is 1, each of `label.negatives` 0.
 * - multiclass: the label column's value is one of `task.classes` (after `data.values`' map, or
 *   numerically equal); y = its index in that list (the output order).
 * - multilabel: each of `task.labels` is a 0/1 column (`data.columns` may rename it); y = the first.
 * - regression: the label column is a number v, trained on (v − mean) / std with the manifest's
 *   PUBLIC task.mean and task.std (nothing fitted on this site's rows: docs/privacy.md).
 * A missing label cell drops the row (`missing`); an unusable one is a bad row naming the rule.
 */
function labelReader(
  task: Task,
  manifest: CsvSchema,
  mapping: CsvMapping,
  header: readonly string[],
  col: (name: string) => number,
): (cells: readonly string[], missing: ReadonlySet<string>) => RowLabel {
  if (task.kind === 'multilabel') {
    const cols = task.labels.map((l) => col(l));
    return (cells, missing) => {
      const t: number[] = [];
      for (const c of cols) {
        const cell = cells[c]!;
        if (missing.has(cell)) return 'missing';
        const v = numberOf(cell);
        if (v !== 0 && v !== 1) return { bad: { column: header[c]!, value: cell, reason: 'a multilabel column holds 0 or 1' } };
        t.push(v);
      }
      return { y: t[0]!, targets: t };
    };
  }
  const labelCol = col(manifest.label.name);
  if (task.kind === 'regression') {
    return (cells, missing) => {
      const cell = cells[labelCol]!;
      if (missing.has(cell)) return 'missing';
      const v = numberOf(cell);
      if (v === undefined) return { bad: { column: header[labelCol]!, value: cell, reason: 'not a number (a regression target)' } };
      const z = toStandardUnits(task, v);
      return { y: regressionStratum(z), targets: [z] };
    };
  }
  const allowed = task.kind === 'multiclass' ? task.classes : [manifest.label.positive, ...manifest.label.negatives];
  const indexOf = valueMatcher(allowed, mapping.values?.[manifest.label.name]);
  return (cells, missing) => {
    const cell = cells[labelCol]!;
    if (missing.has(cell)) return 'missing';
    const i = indexOf(cell);
    if (i < 0) {
      const what = task.kind === 'multiclass' ? "unknown class (the manifest's task.classes" : "unknown label (the manifest's";
      return { bad: { column: header[labelCol]!, value: cell, reason: `${what}: ${allowed.join(', ')}; map others in data.values)` } };
    }
    return { y: task.kind === 'multiclass' ? i : i === 0 ? 1 : 0 };
  };
}

export function parseCsv(
  text: string,
  manifest: CsvSchema,
  mapping: CsvMapping,
  source = 'data.csv',
): { data: LabelledData; report: CsvLoadReport } {
  const features = manifest.features;
  if (features === undefined) throw new DataError('DATA_PARSE', `${source}: the manifest describes images, not a table`, { source });
  checkValueMap(manifest, mapping.values, source);
  const sep = mapping.separator ?? ',';
  const missing = new Set(mapping.missingValues ?? DEFAULT_MISSING);
  // Line numbers as an editor shows them (1 = header), blank lines skipped but counted.
  const lines = text
    .split(/\r?\n/)
    .map((l, i) => ({ l, no: i + 1 }))
    .filter(({ l }) => l.trim() !== '');
  if (lines.length < 2) throw new DataError('DATA_EMPTY', `${source}: no data rows`, { source });
  const header = splitLine(lines[0]!.l, sep);
  const find = headerIndex(header, mapping.headerMatch ?? 'case-insensitive', source);
  const col = (name: string): number => find(mapping.columns?.[name] ?? name, name);
  const featureCols = features.map((f) => col(f.name));
  const task = taskOfManifest(manifest);
  const readLabel: ReturnType<typeof labelReader> = mapping.withoutLabel
    ? () => ({ y: 0 })
    : labelReader(task, manifest, mapping, header, col);
  const width = features.reduce((s, f) => s + (f.kind === 'categorical' ? f.categories!.length : 1), 0);
  const categoryOf = features.map((f) => (f.kind === 'categorical' ? valueMatcher(f.categories!, mapping.values?.[f.name]) : undefined));

  const rows: (number | undefined)[][] = [];
  const labels: number[] = [];
  const targets: number[] = [];
  const badRows: BadRow[] = [];
  // Rows refused for their label: when they alone pass the limit, the task and the file disagree.
  let labelBad = 0;
  let firstLabelBad: BadRow | undefined;
  let badRowCount = 0;
  const refuse = (b: BadRow): void => {
    badRowCount++;
    if (badRows.length < MAX_LISTED_BAD_ROWS) badRows.push(b);
  };
  let droppedMissing = 0;
  for (let k = 1; k < lines.length; k++) {
    const { l: line, no: lineNo } = lines[k]!;
    const cells = splitLine(line, sep);
    if (cells.length !== header.length) {
      refuse({ line: lineNo, reason: `${cells.length} fields, header has ${header.length}` });
      continue;
    }
    const label = readLabel(cells, missing);
    if (label === 'missing') {
      // A row without its label cannot be used or imputed: dropped for a missing value.
      droppedMissing++;
      continue;
    }
    if ('bad' in label) {
      labelBad++;
      firstLabelBad ??= { line: lineNo, ...label.bad };
      refuse({ line: lineNo, ...label.bad });
      continue;
    }
    const row: (number | undefined)[] = [];
    let hasMissing = false;
    let bad: BadRow | undefined;
    for (let j = 0; j < features.length; j++) {
      const f = features[j]!;
      const cell = cells[featureCols[j]!]!;
      if (missing.has(cell)) {
        hasMissing = true;
        for (let c = 0; c < (f.kind === 'categorical' ? f.categories!.length : 1); c++) row.push(undefined);
        continue;
      }
      const column = header[featureCols[j]!]!;
      if (f.kind === 'categorical') {
        const idx = categoryOf[j]!(cell);
        if (idx < 0) {
          bad = {
            line: lineNo,
            column,
            value: cell,
            reason: `unknown category for ${f.name} (the manifest's: ${f.categories!.join(', ')})`,
          };
          break;
        }
        for (let c = 0; c < f.categories!.length; c++) row.push(c === idx ? 1 : 0);
      } else {
        const v = numberOf(cell);
        if (v === undefined) {
          bad = { line: lineNo, column, value: cell, reason: `not a number (${f.name} is numeric)` };
          break;
        }
        row.push(v);
      }
    }
    if (bad !== undefined) {
      refuse(bad);
      continue;
    }
    if (hasMissing && mapping.missing === 'drop') {
      droppedMissing++;
      continue;
    }
    rows.push(row);
    labels.push(label.y);
    if (label.targets !== undefined) targets.push(...label.targets);
  }

  const total = lines.length - 1;
  const maxBad = mapping.maxBadRowFraction ?? 0.05;
  if (labelBad > maxBad * total && firstLabelBad !== undefined) {
    const field = labelField(task);
    throw new DataError(
      'DATA_BAD_LABEL',
      `${source}: ${labelBad} of ${total} rows have a label the manifest's ${field} does not allow (limit ${maxBad * 100}%); first: ${describeBadRow(firstLabelBad)} — the manifest's task (${task.kind}) and the data disagree`,
      {
        source,
        field,
        value: firstLabelBad.value,
        rule: firstLabelBad.reason,
        line: firstLabelBad.line,
        labelBadRows: labelBad,
        // As DATA_PARSE's: every bad row counted and the first listed (`fedmesh data check` shows them).
        badRowCount,
        rows: total,
        badRows,
      },
    );
  }
  if (badRowCount > maxBad * total) {
    const shown = badRows.slice(0, BAD_ROWS_IN_MESSAGE).map(describeBadRow).join('; ');
    throw new DataError(
      'DATA_PARSE',
      `${source}: ${badRowCount} of ${total} rows are bad (limit ${maxBad * 100}%): ${shown}${badRowCount > BAD_ROWS_IN_MESSAGE ? '; …' : ''} (\`fedmesh data check\` lists them all)`,
      { source, badRowCount, rows: total, badRows },
    );
  }
  if (rows.length === 0) throw new DataError('DATA_EMPTY', `${source}: no usable rows`, { source, droppedMissing, badRows: badRowCount });

  // Missing cells: the manifest's public fill when given (DP: a record's features then depend on
  // that record only), else this site's own column medians (node/data/impute.ts).
  const { x, imputedCells, fill } = imputeColumns(rows, width, mapping.fill);
  return {
    data: {
      x,
      y: Uint8Array.from(labels),
      n: rows.length,
      featureShape: [width],
      ...(task.kind === 'multilabel' || task.kind === 'regression' ? { targets: Float32Array.from(targets) } : {}),
    },
    report: { rows: total, kept: rows.length, droppedMissing, imputedCells, badRowCount, badRows, fill },
  };
}

/** `line 12, column age = "abc": not a number (age is numeric)` */
export function describeBadRow(b: BadRow): string {
  return `line ${b.line}${b.column !== undefined ? `, column ${b.column} = "${b.value ?? ''}"` : ''}: ${b.reason}`;
}

export function loadCsv(path: string, manifest: CsvSchema, mapping: CsvMapping): { data: LabelledData; report: CsvLoadReport } {
  return parseCsv(readDataText(path), manifest, mapping, path);
}
