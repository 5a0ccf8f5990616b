import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFedmeshError } from '../../protocol/errors.js';
import type { ModelWeights } from '../../protocol/model.js';
import { decodeWeights, encodeWeights, modelHash, WeightsCodecError } from '../../protocol/weights-codec.js';
import { toHex0x } from '../../protocol/bytes.js';

const shapeArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 3 });
const tensorArb = shapeArb.chain((shape) => {
  const size = shape.reduce((a, b) => a * b, 1);
  return fc
    .array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: size, maxLength: size })
    .map((vals) => ({ shape, data: Float32Array.from(vals) }));
});
const modelArb = fc.array(tensorArb, { minLength: 0, maxLength: 5 }).map((tensors): ModelWeights => ({ tensors }));

const sample: ModelWeights = {
  tensors: [
    { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, -6.5]) },
    { shape: [3], data: Float32Array.from([0.25, 0, -1]) },
  ],
};

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (isFedmeshError(e)) return e.code;
    throw e;
  }
  return undefined;
}

describe('weights codec', () => {
  it('round-trips any finite model exactly', () => {
    fc.assert(
      fc.property(modelArb, (w) => {
        const back = decodeWeights(encodeWeights(w));
        expect(back.tensors.map((t) => [...t.shape])).toEqual(w.tensors.map((t) => [...t.shape]));
        back.tensors.forEach((t, i) => {
          expect(Array.from(t.data)).toEqual(Array.from(w.tensors[i]!.data));
        });
        expect(encodeWeights(back)).toEqual(encodeWeights(w));
      }),
      { numRuns: 200 },
    );
  });

  it('has a fixed, documented layout (known-answer vector)', () => {
    const bytes = encodeWeights(sample);
    // magic FMWT, version 1, dtype 1, 2 tensors; rank 2 [2,3]; rank 1 [3]; 9 float32 values.
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x46, 0x4d, 0x57, 0x54, 1, 1, 2, 0]);
    expect(bytes.length).toBe(8 + (1 + 8) + (1 + 4) + 9 * 4);
    expect(new DataView(bytes.buffer).getFloat32(8 + 9 + 5 + 5 * 4, true)).toBe(-6.5);
    expect(toHex0x(modelHash(sample))).toMatch(/^0x[0-9a-f]{64}$/);
    expect(modelHash(sample)).toEqual(modelHash({ tensors: sample.tensors.map((t) => ({ shape: [...t.shape], data: t.data.slice() })) }));
  });

  it('distinguishes models that differ in one value or in shape', () => {
    const changed: ModelWeights = { tensors: [sample.tensors[0]!, { shape: [3], data: Float32Array.from([0.25, 0, -1.0000001]) }] };
    const reshaped: ModelWeights = { tensors: [{ shape: [3, 2], data: sample.tensors[0]!.data }, sample.tensors[1]!] };
    expect(modelHash(changed)).not.toEqual(modelHash(sample));
    expect(modelHash(reshaped)).not.toEqual(modelHash(sample));
  });

  it('rejects malformed blobs with a typed code', () => {
    const good = encodeWeights(sample);
    const mutate = (f: (b: Uint8Array) => void): Uint8Array => {
      const b = good.slice();
      f(b);
      return b;
    };
    expect(codeOf(() => decodeWeights(mutate((b) => (b[0] = 0))))).toBe('CODEC_BAD_MAGIC');
    expect(codeOf(() => decodeWeights(mutate((b) => (b[4] = 2))))).toBe('CODEC_BAD_VERSION');
    expect(codeOf(() => decodeWeights(mutate((b) => (b[5] = 7))))).toBe('CODEC_BAD_DTYPE');
    expect(codeOf(() => decodeWeights(good.subarray(0, good.length - 1)))).toBe('CODEC_TRUNCATED');
    expect(codeOf(() => decodeWeights(good.subarray(0, 3)))).toBe('CODEC_TRUNCATED');
    const trailing = new Uint8Array(good.length + 4);
    trailing.set(good);
    expect(codeOf(() => decodeWeights(trailing))).toBe('CODEC_TRAILING_BYTES');
    expect(codeOf(() => decodeWeights(mutate((b) => new DataView(b.buffer).setUint32(9, 0, true))))).toBe('CODEC_BAD_SHAPE');
    expect(codeOf(() => decodeWeights(mutate((b) => new DataView(b.buffer).setFloat32(b.length - 4, Number.NaN, true))))).toBe(
      'CODEC_NON_FINITE',
    );
    expect(codeOf(() => decodeWeights(mutate((b) => (b[8] = 200))))).toBe('CODEC_LIMIT');
    // A header that declares a huge tensor is refused before allocating.
    expect(codeOf(() => decodeWeights(mutate((b) => new DataView(b.buffer).setUint32(9, 0xffffffff, true))))).toBe('CODEC_LIMIT');
  });

  it('refuses to encode non-finite or inconsistent tensors', () => {
    expect(codeOf(() => encodeWeights({ tensors: [{ shape: [1], data: Float32Array.from([Infinity]) }] }))).toBe('CODEC_NON_FINITE');
    expect(codeOf(() => encodeWeights({ tensors: [{ shape: [2], data: Float32Array.from([1]) }] }))).toBe('CODEC_BAD_SHAPE');
    expect(codeOf(() => encodeWeights({ tensors: [{ shape: [0], data: new Float32Array(0) }] }))).toBe('CODEC_BAD_SHAPE');
  });

  it('never throws anything but a WeightsCodecError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          decodeWeights(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(WeightsCodecError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
