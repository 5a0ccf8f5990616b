/**
 * `fedmesh data check --config FILE`: load a site's data exactly as `node start` would (the
 * config's mapping, the manifest's schema) without joining anything, and report what happened
 * to every row: read, kept, imputed cells, dropped for a missing value, and each bad row with
 * its line, column, value and reason (issue 17). The bad rows can also be written as a CSV for
 * whoever fixes the file.
 */
import { writeFileSync } from 'node:fs';
import { isFedmeshError } from '../../protocol/errors.js';
import { loadNodeConfig } from '../config/node-config.js';
import { loadSiteData } from '../daemon/setup.js';
import { readManifestFile } from '../manifest/manifest-file.js';
import { type BadRow, describeBadRow } from './csv.js';

export interface DataCheckReport {
  readonly path: string;
  readonly kind: string;
  readonly read: number;
  readonly kept: number;
  readonly imputedCells: number;
  readonly droppedMissing: number;
  readonly badRowCount: number;
  /** The first MAX_LISTED_BAD_ROWS bad rows (CSV) or unreadable images. */
  readonly badRows: readonly (BadRow | { readonly file: string; readonly reason: string })[];
  /** False when the node would refuse this data (too many bad rows, none usable). */
  readonly ok: boolean;
  /** Why the node would refuse it. */
  readonly error?: string;
}

export function checkSiteData(configPath: string, env: NodeJS.ProcessEnv = process.env): DataCheckReport {
  const cfg = loadNodeConfig(configPath, env);
  const { manifest } = readManifestFile(cfg.manifest);
  const base = { path: cfg.data.path, kind: cfg.data.kind };
  try {
    const { report } = loadSiteData(cfg.data, manifest);
    return { ...base, ...report, badRowCount: report.bad, ok: true };
  } catch (e) {
    // Too many bad rows: the loader refused the file, and its error carries the rows.
    // Labels that disagree with the manifest's task (DATA_BAD_LABEL, issue 16) carry them too.
    if ((isFedmeshError(e, 'DATA_PARSE') || isFedmeshError(e, 'DATA_BAD_LABEL')) && Array.isArray(e.fields.badRows)) {
      const f = e.fields as { badRows: BadRow[]; badRowCount: number; rows: number };
      return {
        ...base,
        read: f.rows,
        kept: 0,
        imputedCells: 0,
        droppedMissing: 0,
        badRowCount: f.badRowCount,
        badRows: f.badRows,
        ok: false,
        error: e.message,
      };
    }
    if (isFedmeshError(e, 'DATA_EMPTY')) {
      return { ...base, read: 0, kept: 0, imputedCells: 0, droppedMissing: 0, badRowCount: 0, badRows: [], ok: false, error: e.message };
    }
    throw e;
  }
}

const csvCell = (v: unknown): string => {
  const s = v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** The bad rows as CSV: line,column,value,reason (images: file,,,reason). */
export function badRowsCsv(r: DataCheckReport): string {
  const lines = ['line,column,value,reason'];
  for (const b of r.badRows) {
    lines.push(
      'line' in b ? [b.line, b.column, b.value, b.reason].map(csvCell).join(',') : [b.file, '', '', b.reason].map(csvCell).join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

export function writeBadRowsCsv(path: string, r: DataCheckReport): void {
  writeFileSync(path, badRowsCsv(r));
}

/** The terminal report. */
export function formatDataCheck(r: DataCheckReport): string {
  const out = [
    `${r.path} (${r.kind}): ${r.read} rows read, ${r.kept} kept, ${r.imputedCells} cells imputed, ` +
      `${r.droppedMissing} dropped for a missing value, ${r.badRowCount} bad`,
  ];
  for (const b of r.badRows) out.push(`  ${'line' in b ? describeBadRow(b) : `${b.file}: ${b.reason}`}`);
  if (r.badRowCount > r.badRows.length) out.push(`  … ${r.badRowCount - r.badRows.length} more bad rows not listed`);
  out.push(r.ok ? 'ok: the node accepts this data' : `REFUSED: ${r.error ?? ''}`);
  return `${out.join('\n')}\n`;
}
