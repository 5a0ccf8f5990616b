/**
 * Reader for NumPy `.npz` archives: a ZIP of `.npy` arrays (NumPy NEP 1, "A simple file format
 * for NumPy arrays"). Enough of ZIP (PKWARE APPNOTE 6.3: end-of-central-directory record, central
 * directory, local headers; methods 0 stored and 8 deflated; no zip64, no encryption) and of npy
 * (versions 1.0–3.0, little-endian or single-byte dtypes, C order) to load data sets. Each member's
 * CRC-32 is checked.
 *
 * Limits come first (STYLE.md §7): member count and sizes are checked against the file before any
 * member is decoded, and a malformed archive is a DataError naming the file, member and field.
 */
import { readFileSync } from 'node:fs';
import { crc32, inflateRawSync } from 'node:zlib';
import { DataError } from '../../protocol/data.js';

/** Typed-array views a member can decode to. */
export type NpyData = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

export interface NpyArray {
  /** NumPy dtype descriptor, e.g. '|u1', '<f4'. */
  readonly descr: string;
  readonly shape: readonly number[];
  readonly data: NpyData;
}

/** No data set we load has more members; a larger count is a corrupt or hostile file. */
export const NPZ_MAX_MEMBERS = 1024;
/** Largest uncompressed member (1 GiB): bounds what one inflate may allocate. */
export const NPZ_MAX_MEMBER_BYTES = 1 << 30;

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DTYPES: Record<string, { bytes: number; make: (b: ArrayBuffer, off: number, n: number) => NpyData }> = {
  u1: { bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  i1: { bytes: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  u2: { bytes: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  i2: { bytes: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  u4: { bytes: 4, make: (b, o, n) => new Uint32Array(b, o, n) },
  i4: { bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  f4: { bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  f8: { bytes: 8, make: (b, o, n) => new Float64Array(b, o, n) },
};

/** Parses one `.npy` file's bytes. */
export function parseNpy(bytes: Uint8Array, source = 'npy'): NpyArray {
  const bad = (why: string, extra: Record<string, unknown> = {}): DataError =>
    new DataError('DATA_PARSE', `${source}: ${why}`, { source, ...extra });
  if (bytes.length < 10 || NPY_MAGIC.some((m, i) => bytes[i] !== m)) throw bad('not an .npy file (bad magic)');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw bad(`unsupported npy version ${major}`, { version: major });
  }
  if (headerStart + headerLen > bytes.length) throw bad('header runs past the end of the member');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad('malformed header', { header });
  if (fortran === 'True') throw bad('Fortran-order arrays are not supported', { field: 'fortran_order' });
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad('bad shape', { shape: shapeText });
  const order = descr[0];
  const dtype = DTYPES[descr.slice(1)];
  if (dtype === undefined || (order !== '<' && order !== '|') || (order === '|' && dtype.bytes !== 1)) {
    throw bad(`unsupported dtype ${descr} (little-endian or single-byte integers and floats only)`, { field: 'descr', value: descr });
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLen;
  if (bytes.length - dataStart !== count * dtype.bytes) {
    throw bad(`data is ${bytes.length - dataStart} bytes, shape (${shape}) × ${dtype.bytes} needs ${count * dtype.bytes}`);
  }
  // Copy into a fresh, aligned buffer: the member's offset in the archive may not be aligned.
  const copy = bytes.slice(dataStart);
  return { descr, shape, data: dtype.make(copy.buffer, 0, count) };
}

/** Every member of an `.npz` archive, by name without the `.npy` suffix. */
export function parseNpz(file: Uint8Array, source = 'npz'): Map<string, NpyArray> {
  const bad = (why: string, extra: Record<string, unknown> = {}): DataError =>
    new DataError('DATA_PARSE', `${source}: ${why}`, { source, ...extra });
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  // End of central directory: 22 bytes plus a comment of up to 65535 bytes, at the end.
  let eocd = -1;
  for (let i = file.length - 22; i >= Math.max(0, file.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('not a ZIP archive (no end-of-central-directory record)');
  const entries = view.getUint16(eocd + 10, true);
  const cdSize = view.getUint32(eocd + 12, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (entries > NPZ_MAX_MEMBERS) throw bad(`${entries} members exceed NPZ_MAX_MEMBERS = ${NPZ_MAX_MEMBERS}`);
  if (cdOffset === 0xffffffff || entries === 0xffff) throw bad('zip64 archives are not supported');
  if (cdOffset + cdSize > eocd) throw bad('central directory runs past its end record');

  const out = new Map<string, NpyArray>();
  let p = cdOffset;
  for (let k = 0; k < entries; k++) {
    if (p + 46 > file.length || view.getUint32(p, true) !== CENTRAL_SIGNATURE) throw bad(`bad central directory entry ${k}`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    const compSize = view.getUint32(p + 20, true);
    const size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const localOffset = view.getUint32(p + 42, true);
    const name = new TextDecoder().decode(file.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    const member = `${source}:${name}`;
    if (flags & 1) throw bad(`${name}: encrypted members are not supported`, { member: name });
    if (size > NPZ_MAX_MEMBER_BYTES) throw bad(`${name}: ${size} bytes exceed NPZ_MAX_MEMBER_BYTES`, { member: name });
    if (localOffset + 30 > file.length || view.getUint32(localOffset, true) !== LOCAL_SIGNATURE) {
      throw bad(`${name}: bad local header`, { member: name });
    }
    const dataStart = localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    if (dataStart + compSize > file.length) throw bad(`${name}: member runs past the end of the file`, { member: name });
    const raw = file.subarray(dataStart, dataStart + compSize);
    let bytes: Uint8Array;
    if (method === 0) bytes = raw;
    else if (method === 8) {
      try {
        bytes = new Uint8Array(inflateRawSync(raw, { maxOutputLength: Math.max(1, size) }));
      } catch (e) {
        throw bad(`${name}: deflate stream is corrupt (${e instanceof Error ? e.message : String(e)})`, { member: name });
      }
    } else throw bad(`${name}: compression method ${method} is not supported`, { member: name, method });
    if (bytes.length !== size) throw bad(`${name}: ${bytes.length} bytes after decompression, header says ${size}`, { member: name });
    if (crc32(bytes) >>> 0 !== crc) throw bad(`${name}: CRC-32 mismatch (corrupt archive)`, { member: name });
    out.set(name.replace(/\.npy$/, ''), parseNpy(bytes, member));
  }
  return out;
}

export function loadNpz(path: string): Map<string, NpyArray> {
  const buf = readFileSync(path);
  return parseNpz(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}
