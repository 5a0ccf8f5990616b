/**
 * CSV loader with a column mapping driven by the federation manifest: feature columns in
 * manifest order, categorical features one-hot encoded with the manifest's categories, the
 * label mapped to {0, 1}, and a missing-value policy (drop the row, or impute: the manifest's
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
}

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
function checkValueMap(manifest: FederationManifest, values: CsvMapping['values'], source: string): void {
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

export function parseCsv(
  text: string,
  manifest: FederationManifest,
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
  const labelCol = col(manifest.label.name);
  const width = features.reduce((s, f) => s + (f.kind === 'categorical' ? f.categories!.length : 1), 0);
  const labelOf = valueMatcher([manifest.label.positive, ...manifest.label.negatives], mapping.values?.[manifest.label.name]);
  const categoryOf = features.map((f) => (f.kind === 'categorical' ? valueMatcher(f.categories!, mapping.values?.[f.name]) : undefined));

  const rows: (number | undefined)[][] = [];
  const labels: number[] = [];
  const badRows: BadRow[] = [];
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
    const rawLabel = cells[labelCol]!;
    if (missing.has(rawLabel)) {
      // A row without its label cannot be used or imputed: dropped for a missing value.
      droppedMissing++;
      continue;
    }
    const labelIndex = labelOf(rawLabel);
    if (labelIndex < 0) {
      refuse({
        line: lineNo,
        column: header[labelCol]!,
        value: rawLabel,
        reason: `unknown label (the manifest's: ${[manifest.label.positive, ...manifest.label.negatives].join(', ')}; map others in data.values)`,
      });
      continue;
    }
    const y = labelIndex === 0 ? 1 : 0;
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
    labels.push(y);
  }

  const total = lines.length - 1;
  const maxBad = mapping.maxBadRowFraction ?? 0.05;
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
  const { x, imputedCells } = imputeColumns(rows, width, mapping.fill);
  return {
    data: { x, y: Uint8Array.from(labels), n: rows.length, featureShape: [width] },
    report: { rows: total, kept: rows.length, droppedMissing, imputedCells, badRowCount, badRows },
  };
}

/** `line 12, column age = "abc": not a number (age is numeric)` */
export function describeBadRow(b: BadRow): string {
  return `line ${b.line}${b.column !== undefined ? `, column ${b.column} = "${b.value ?? ''}"` : ''}: ${b.reason}`;
}

export function loadCsv(path: string, manifest: FederationManifest, mapping: CsvMapping): { data: LabelledData; report: CsvLoadReport } {
  return parseCsv(readDataText(path), manifest, mapping, path);
}
