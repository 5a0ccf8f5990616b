/**
 * Crash-safe file writes: write to a temporary file in the same folder, fsync it, rename it
 * over the target (atomic on POSIX file systems), then fsync the folder so the rename itself
 * is durable. After `kill -9` at any instant a reader sees either the old or the new file,
 * never a torn one. Leftover temporaries are ignored and cleaned up on open.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

const TMP_MARK = '.tmp-';

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}${TMP_MARK}${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export function readJsonIfExists<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Remove temporaries a crash left behind in `dir`. */
export function sweepTemporaries(dir: string): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const f of readdirSync(dir)) {
    if (f.includes(TMP_MARK)) {
      rmSync(join(dir, f), { force: true });
      n++;
    }
  }
  return n;
}
