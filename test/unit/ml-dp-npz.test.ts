/**
 * node/data/npz.ts (the reader behind the DP-SGD benchmark's PneumoniaMNIST data) on archives
 * built here — stored and deflated members, npy v1 headers — on corrupt input, and on the
 * bundled file.
 */
import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadPneumoniaMnist } from '../../node/data/medmnist.js';
import { parseNpy, parseNpz } from '../../node/data/npz.js';
import { isFedmeshError } from '../../protocol/errors.js';

function npy(descr: string, shape: number[], data: Uint8Array): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(data, 10 + header.length);
  return out;
}

/** A minimal ZIP (PKWARE APPNOTE): local headers, central directory, end record. */
function zip(members: { name: string; bytes: Uint8Array; deflate: boolean }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const m of members) {
    const name = new TextEncoder().encode(m.name);
    const body = m.deflate ? new Uint8Array(deflateRawSync(m.bytes)) : m.bytes;
    const crc = crc32(m.bytes) >>> 0;
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(8, m.deflate ? 8 : 0, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, m.bytes.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(10, m.deflate ? 8 : 0, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, m.bytes.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    parts.push(local, body);
    central.push(cd);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, members.length, true);
  ev.setUint16(10, members.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const all = [...parts, ...central, end];
  const out = new Uint8Array(all.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of all) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('npz reader', () => {
  const f32 = new Float32Array([1.5, -2, 3.25, 0, 7, 8]);
  const u8 = new Uint8Array([0, 1, 255, 7]);
  const archive = zip([
    { name: 'a.npy', bytes: npy('<f4', [2, 3], new Uint8Array(f32.buffer)), deflate: true },
    { name: 'b.npy', bytes: npy('|u1', [4, 1], u8), deflate: false },
  ]);

  it('reads stored and deflated members with their dtype and shape', () => {
    const m = parseNpz(archive, 'test.npz');
    expect([...m.keys()]).toEqual(['a', 'b']);
    expect(m.get('a')).toMatchObject({ descr: '<f4', shape: [2, 3] });
    expect(Array.from(m.get('a')!.data)).toEqual(Array.from(f32));
    expect(m.get('b')).toMatchObject({ descr: '|u1', shape: [4, 1] });
    expect(Array.from(m.get('b')!.data)).toEqual([0, 1, 255, 7]);
  });

  it('rejects corrupt input with DATA_PARSE naming the member', () => {
    const corrupt = archive.slice();
    corrupt[40] = corrupt[40]! ^ 0xff; // inside member a's deflated body
    let err: unknown;
    try {
      parseNpz(corrupt, 'test.npz');
    } catch (e) {
      err = e;
    }
    expect(isFedmeshError(err, 'DATA_PARSE')).toBe(true);
    expect(() => parseNpz(archive.subarray(0, archive.length - 30), 't')).toThrow(/DATA_PARSE/);
    expect(() => parseNpy(npy('>f8', [1], new Uint8Array(8)), 'x.npy')).toThrow(/unsupported dtype/);
    expect(() => parseNpy(npy('<f4', [3], new Uint8Array(8)), 'x.npy')).toThrow(/needs 12/);
  });

  it('loads the bundled PneumoniaMNIST subset: balanced splits of 28x28 images in [0, 1]', () => {
    const test = loadPneumoniaMnist('test');
    expect(test.n).toBe(468);
    expect(test.featureShape).toEqual([28, 28, 1]);
    expect(test.x.length).toBe(468 * 784);
    expect(test.y.reduce((a, b) => a + b, 0)).toBe(234);
    expect(Math.min(...test.x.subarray(0, 784))).toBeGreaterThanOrEqual(0);
    expect(Math.max(...test.x.subarray(0, 784))).toBeLessThanOrEqual(1);
  });
});
