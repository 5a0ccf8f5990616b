/**
 * Byte helpers for protocol/. Bytes are `Uint8Array` (never Buffer, STYLE.md §8);
 * integers on the wire are little-endian and fixed-width.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { concat } from 'uint8arrays/concat';
import { equals } from 'uint8arrays/equals';
import { fromString } from 'uint8arrays/from-string';
import { toString as bytesToString } from 'uint8arrays/to-string';

export { concat as concatBytes, equals as bytesEqual };

/**
 * A SHA-256 implementation (FIPS 180-4): 32-byte digest of `data`. A port, so that protocol/ code
 * hashing bulk payloads (masked inputs are 8·(d + 1) bytes) can run on a native implementation
 * where the host has one (node:crypto, ~11× faster than pure JS on 800 kB here) while protocol/
 * imports no I/O module (STYLE.md §1). Every implementation must give the same bytes
 * (test/unit/secagg-crypto.test.ts holds the node's equal to `hash256`).
 */
export type Sha256 = (data: Uint8Array) => Uint8Array;

/**
 * SHA-256 (FIPS 180-4), pure JS (@noble/hashes): fedmesh's content hash for models, updates and
 * records, and the default `Sha256` wherever none is injected (tests, browsers).
 */
export function hash256(data: Uint8Array): Uint8Array {
  return sha256(data);
}

export function utf8(s: string): Uint8Array {
  return fromString(s, 'utf8');
}

export function fromUtf8(b: Uint8Array): string {
  return bytesToString(b, 'utf8');
}

/** 0x-prefixed lowercase hex. */
export function toHex0x(b: Uint8Array): `0x${string}` {
  return `0x${bytesToHex(b)}`;
}

export function fromHex0x(h: string): Uint8Array {
  return hexToBytes(h.startsWith('0x') ? h.slice(2) : h);
}

/** Overwrite a secret buffer with zeros (STYLE.md §8). */
export function wipe(b: Uint8Array): void {
  b.fill(0);
}

/**
 * Growable little-endian byte writer for canonical encodings.
 */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.ensure(1);
    this.view.setUint8(this.len, v);
    this.len += 1;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.view.setUint16(this.len, v, true);
    this.len += 2;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.len, v, true);
    this.len += 4;
    return this;
  }

  u64(v: number | bigint): this {
    this.ensure(8);
    this.view.setBigUint64(this.len, BigInt(v), true);
    this.len += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** u16 length prefix + bytes. */
  varBytes16(b: Uint8Array): this {
    return this.u16(b.length).bytes(b);
  }

  /** u32 length prefix + bytes. */
  varBytes32(b: Uint8Array): this {
    return this.u32(b.length).bytes(b);
  }

  f32array(a: Float32Array): this {
    this.ensure(a.length * 4);
    for (let i = 0; i < a.length; i++) this.view.setFloat32(this.len + i * 4, a[i]!, true);
    this.len += a.length * 4;
    return this;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/**
 * Bounds-checked little-endian reader. `onShort` builds the typed error thrown when input
 * ends early, so every decoder reports truncation with its own code.
 */
export class ByteReader {
  private readonly view: DataView;
  offset = 0;

  constructor(
    readonly buf: Uint8Array,
    private readonly onShort: (need: number, offset: number, have: number) => Error,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  private need(n: number): void {
    if (this.offset + n > this.buf.length) throw this.onShort(n, this.offset, this.buf.length);
  }

  u8(): number {
    this.need(1);
    const v = this.view.getUint8(this.offset);
    this.offset += 1;
    return v;
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }

  /** u64 that must fit a JS safe integer. */
  u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.onShort(0, this.offset - 8, this.buf.length);
    return Number(v);
  }

  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.slice(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  varBytes16(max: number): Uint8Array {
    const n = this.u16();
    if (n > max) throw this.onShort(n, this.offset, max);
    return this.bytes(n);
  }

  varBytes32(max: number): Uint8Array {
    const n = this.u32();
    if (n > max) throw this.onShort(n, this.offset, max);
    return this.bytes(n);
  }

  f32array(count: number): Float32Array {
    this.need(count * 4);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.view.getFloat32(this.offset + i * 4, true);
    this.offset += count * 4;
    return out;
  }
}
