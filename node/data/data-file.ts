/**
 * Reading a site's data files: a missing, unreadable or oversized file is a typed error naming
 * the path and the reason (DATA_UNREADABLE), never an fs stack trace (issue 17: "a missing data
 * file prints a raw stack trace"). The size limit is checked before anything is read
 * (STYLE.md §7: limits before parsing).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { FedmeshError } from '../../protocol/errors.js';

/**
 * Largest CSV the loader reads (bytes). The whole file becomes one JavaScript string, whose
 * length V8 caps near 2^29 UTF-16 units; 256 MiB of text stays well inside that and far above
 * any site's tabular cohort (a million rows × 100 columns of short numbers).
 */
export const MAX_CSV_BYTES = 256 * 1024 * 1024;

export interface DataFileErrorFields {
  readonly path: string;
  /** What went wrong: 'not found', 'not a file', 'not a folder', 'permission denied', 'too large', or the OS message. */
  readonly reason: string;
  readonly [key: string]: unknown;
}

export class DataFileError extends FedmeshError<'DATA_UNREADABLE', DataFileErrorFields> {}

function reasonOf(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT') return 'not found';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'a folder, not a file';
  if (code === 'ENOTDIR') return 'not a folder';
  return e instanceof Error ? e.message : String(e);
}

export function unreadable(path: string, e: unknown, what = 'data file'): DataFileError {
  const reason = reasonOf(e);
  return new DataFileError('DATA_UNREADABLE', `${what} ${path}: ${reason} (check data.path in the config)`, { path, reason });
}

/** The text of a data file, at most `maxBytes`. */
export function readDataText(path: string, maxBytes = MAX_CSV_BYTES): string {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: st.isDirectory() ? 'EISDIR' : 'EINVAL' });
    size = st.size;
  } catch (e) {
    throw unreadable(path, e);
  }
  if (size > maxBytes) {
    throw new DataFileError('DATA_UNREADABLE', `data file ${path}: ${size} bytes, the limit is ${maxBytes}`, {
      path,
      reason: 'too large',
      bytes: size,
      limit: maxBytes,
    });
  }
  try {
    // A UTF-8 byte-order mark (spreadsheet exports) is not part of the first header name.
    return readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw unreadable(path, e);
  }
}

/** The entries of a data folder. */
export function readDataDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch (e) {
    throw unreadable(path, e, 'data folder');
  }
}
