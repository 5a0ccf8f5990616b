/**
 * CSV loader with a column mapping driven by the federation manifest: feature columns in
 * manifest order, categorical features one-hot encoded with the manifest's categories, the
 * label mapped to {0, 1}, and a missing-value policy (drop the row, or impute: the manifest's
 * public fill when given — always with DP — else the site's own median; node/data/impute.ts).
 *
 * Schema problems (a missing column) reject the file at start-up; row problems (unparseable
 * number, unknown category or label) are counted and reported, and only reject the file when
 * they exceed `maxBadRowFraction`.
 */
import { readFileSync } from 'node:fs';
import { DataError, type LabelledData } from '../../protocol/data.js';
import type { FederationManifest } from '../../protocol/manifest.js';
import { imputeColumns } from './impute.js';

export interface CsvMapping {
  /** Column separator, default ','. */
  readonly separator?: string;
  /** Maps manifest feature/label names to the file's column names, when they differ. */
  readonly columns?: Readonly<Record<string, string>>;
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

export interface CsvLoadReport {
  readonly rows: number;
  readonly kept: number;
  readonly droppedMissing: number;
  readonly imputedCells: number;
  readonly badRows: { line: number; reason: string }[];
}

export const DEFAULT_MISSING = ['', '?', 'NA', 'NaN', 'null'];

function splitLine(line: string, sep: string): string[] {
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

export function parseCsv(
  text: string,
  manifest: FederationManifest,
  mapping: CsvMapping,
  source = 'data.csv',
): { data: LabelledData; report: CsvLoadReport } {
  const features = manifest.features;
  if (features === undefined) throw new DataError('DATA_PARSE', `${source}: the manifest describes images, not a table`, { source });
  const sep = mapping.separator ?? ',';
  const missing = new Set(mapping.missingValues ?? DEFAULT_MISSING);
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new DataError('DATA_EMPTY', `${source}: no data rows`, { source });
  const header = splitLine(lines[0]!, sep);
  const col = (name: string): number => {
    const fileName = mapping.columns?.[name] ?? name;
    const i = header.indexOf(fileName);
    if (i < 0)
      throw new DataError('DATA_PARSE', `${source}: column "${fileName}" (for "${name}") is missing; header has ${header.join(', ')}`, {
        source,
        column: fileName,
      });
    return i;
  };
  const featureCols = features.map((f) => col(f.name));
  const labelCol = col(manifest.label.name);
  const width = features.reduce((s, f) => s + (f.kind === 'categorical' ? f.categories!.length : 1), 0);

  const rows: (number | undefined)[][] = [];
  const labels: number[] = [];
  const badRows: { line: number; reason: string }[] = [];
  let droppedMissing = 0;
  for (let k = 1; k < lines.length; k++) {
    const line = lines[k]!;
    const lineNo = k + 1;
    const cells = splitLine(line, sep);
    if (cells.length !== header.length) {
      badRows.push({ line: lineNo, reason: `${cells.length} fields, header has ${header.length}` });
      continue;
    }
    const rawLabel = cells[labelCol]!;
    const y = rawLabel === manifest.label.positive ? 1 : manifest.label.negatives.includes(rawLabel) ? 0 : -1;
    if (y < 0) {
      badRows.push({ line: lineNo, reason: `unknown label "${rawLabel}"` });
      continue;
    }
    const row: (number | undefined)[] = [];
    let hasMissing = false;
    let bad: string | undefined;
    for (let j = 0; j < features.length; j++) {
      const f = features[j]!;
      const cell = cells[featureCols[j]!]!;
      if (missing.has(cell)) {
        hasMissing = true;
        for (let c = 0; c < (f.kind === 'categorical' ? f.categories!.length : 1); c++) row.push(undefined);
        continue;
      }
      if (f.kind === 'categorical') {
        const idx = f.categories!.indexOf(cell);
        if (idx < 0) {
          bad = `unknown category "${cell}" for ${f.name}`;
          break;
        }
        for (let c = 0; c < f.categories!.length; c++) row.push(c === idx ? 1 : 0);
      } else {
        const v = Number(cell);
        if (!Number.isFinite(v)) {
          bad = `${f.name} is "${cell}", not a number`;
          break;
        }
        row.push(v);
      }
    }
    if (bad !== undefined) {
      badRows.push({ line: lineNo, reason: bad });
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
  if (badRows.length > maxBad * total) {
    throw new DataError(
      'DATA_PARSE',
      `${source}: ${badRows.length} of ${total} rows are bad (limit ${maxBad * 100}%); first: line ${badRows[0]!.line}: ${badRows[0]!.reason}`,
      {
        source,
        badRows: badRows.slice(0, 20),
      },
    );
  }
  if (rows.length === 0)
    throw new DataError('DATA_EMPTY', `${source}: no usable rows`, { source, droppedMissing, badRows: badRows.length });

  // Missing cells: the manifest's public fill when given (DP: a record's features then depend on
  // that record only), else this site's own column medians (node/data/impute.ts).
  const { x, imputedCells } = imputeColumns(rows, width, mapping.fill);
  return {
    data: { x, y: Uint8Array.from(labels), n: rows.length, featureShape: [width] },
    report: { rows: total, kept: rows.length, droppedMissing, imputedCells, badRows },
  };
}

export function loadCsv(path: string, manifest: FederationManifest, mapping: CsvMapping): { data: LabelledData; report: CsvLoadReport } {
  return parseCsv(readFileSync(path, 'utf8'), manifest, mapping, path);
}
