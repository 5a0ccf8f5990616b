/**
 * Canonical, versioned binary encoding of model weights, and the model hash.
 *
 * Layout (all integers little-endian):
 *
 *   magic   4 bytes  "FMWT"
 *   version u8       = WEIGHTS_CODEC_VERSION
 *   dtype   u8       = 1 (IEEE-754 binary32)
 *   count   u16      number of tensors
 *   per tensor: rank u8, then rank × u32 dimensions
 *   data    Σ size × 4 bytes, float32 LE, tensors in order, each row-major (C order)
 *
 * No padding, no trailing bytes, no optional fields: the same weights always encode to the
 * same bytes, so SHA-256 of the encoding is the model's identity (its `modelHash`, recorded
 * on chain). NaN and ±Inf are refused in both directions: a non-finite model is never a valid
 * round result and would poison FedAvg.
 */
import { ByteReader, ByteWriter, hash256 } from './bytes.js';
import { FedmeshError } from './errors.js';
import { type ModelWeights, type Tensor, tensorSize } from './model.js';

export const WEIGHTS_MAGIC = new Uint8Array([0x46, 0x4d, 0x57, 0x54]); // "FMWT"
export const WEIGHTS_CODEC_VERSION = 1;
export const DTYPE_FLOAT32 = 1;

/** Limits enforced before allocating (STYLE.md §7). */
export const WEIGHTS_LIMITS = {
  /** Deep nets rarely exceed a few hundred weight tensors. */
  maxTensors: 4096,
  /** tfjs supports up to rank 6; 8 leaves headroom. */
  maxRank: 8,
  /** 2^26 float32 parameters = 256 MiB: far above any model fedmesh trains on one site. */
  maxParameters: 1 << 26,
} as const;

export type WeightsCodecErrorCode =
  | 'CODEC_BAD_MAGIC'
  | 'CODEC_BAD_VERSION'
  | 'CODEC_BAD_DTYPE'
  | 'CODEC_TRUNCATED'
  | 'CODEC_TRAILING_BYTES'
  | 'CODEC_BAD_SHAPE'
  | 'CODEC_LIMIT'
  | 'CODEC_NON_FINITE';

export class WeightsCodecError extends FedmeshError<WeightsCodecErrorCode> {}

function checkShape(shape: readonly number[], index: number): number {
  if (shape.length > WEIGHTS_LIMITS.maxRank) {
    throw new WeightsCodecError('CODEC_LIMIT', `tensor ${index} has rank ${shape.length}`, {
      tensor: index,
      rank: shape.length,
      max: WEIGHTS_LIMITS.maxRank,
    });
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1 || d > 0xffffffff) {
      throw new WeightsCodecError('CODEC_BAD_SHAPE', `tensor ${index} has dimension ${d}`, {
        tensor: index,
        shape: [...shape],
      });
    }
  }
  return tensorSize(shape);
}

function checkFinite(data: Float32Array, index: number): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      throw new WeightsCodecError('CODEC_NON_FINITE', `tensor ${index} element ${i} is ${data[i]}`, {
        tensor: index,
        element: i,
      });
    }
  }
}

export function encodeWeights(w: ModelWeights): Uint8Array {
  if (w.tensors.length > WEIGHTS_LIMITS.maxTensors) {
    throw new WeightsCodecError('CODEC_LIMIT', `${w.tensors.length} tensors`, {
      tensors: w.tensors.length,
      max: WEIGHTS_LIMITS.maxTensors,
    });
  }
  let total = 0;
  w.tensors.forEach((t, i) => {
    const size = checkShape(t.shape, i);
    if (size !== t.data.length) {
      throw new WeightsCodecError('CODEC_BAD_SHAPE', `tensor ${i} has ${t.data.length} values for shape [${t.shape}]`, {
        tensor: i,
        shape: [...t.shape],
        values: t.data.length,
      });
    }
    checkFinite(t.data, i);
    total += size;
  });
  if (total > WEIGHTS_LIMITS.maxParameters) {
    throw new WeightsCodecError('CODEC_LIMIT', `${total} parameters`, { parameters: total, max: WEIGHTS_LIMITS.maxParameters });
  }
  const out = new ByteWriter(8 + w.tensors.length * 9 + total * 4);
  out.bytes(WEIGHTS_MAGIC).u8(WEIGHTS_CODEC_VERSION).u8(DTYPE_FLOAT32).u16(w.tensors.length);
  for (const t of w.tensors) {
    out.u8(t.shape.length);
    for (const d of t.shape) out.u32(d);
  }
  for (const t of w.tensors) out.f32array(t.data);
  return out.finish();
}

export function decodeWeights(bytes: Uint8Array): ModelWeights {
  const r = new ByteReader(
    bytes,
    (need, offset, have) =>
      new WeightsCodecError('CODEC_TRUNCATED', `needed ${need} bytes at offset ${offset}, have ${have}`, {
        need,
        offset,
        have,
      }),
  );
  const magic = r.bytes(4);
  if (!magic.every((b, i) => b === WEIGHTS_MAGIC[i])) {
    throw new WeightsCodecError('CODEC_BAD_MAGIC', 'not an FMWT weights blob', { magic: [...magic] });
  }
  const version = r.u8();
  if (version !== WEIGHTS_CODEC_VERSION) {
    throw new WeightsCodecError('CODEC_BAD_VERSION', `version ${version}`, { got: version, expected: WEIGHTS_CODEC_VERSION });
  }
  const dtype = r.u8();
  if (dtype !== DTYPE_FLOAT32) {
    throw new WeightsCodecError('CODEC_BAD_DTYPE', `dtype ${dtype}`, { got: dtype, expected: DTYPE_FLOAT32 });
  }
  const count = r.u16();
  if (count > WEIGHTS_LIMITS.maxTensors) {
    throw new WeightsCodecError('CODEC_LIMIT', `${count} tensors`, { tensors: count, max: WEIGHTS_LIMITS.maxTensors });
  }
  const shapes: number[][] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const rank = r.u8();
    if (rank > WEIGHTS_LIMITS.maxRank) {
      throw new WeightsCodecError('CODEC_LIMIT', `tensor ${i} has rank ${rank}`, { tensor: i, rank, max: WEIGHTS_LIMITS.maxRank });
    }
    const shape: number[] = [];
    for (let j = 0; j < rank; j++) shape.push(r.u32());
    total += checkShape(shape, i);
    if (total > WEIGHTS_LIMITS.maxParameters) {
      throw new WeightsCodecError('CODEC_LIMIT', `more than ${WEIGHTS_LIMITS.maxParameters} parameters`, {
        parameters: total,
        max: WEIGHTS_LIMITS.maxParameters,
      });
    }
    shapes.push(shape);
  }
  if (r.remaining !== total * 4) {
    throw new WeightsCodecError(
      r.remaining < total * 4 ? 'CODEC_TRUNCATED' : 'CODEC_TRAILING_BYTES',
      `header declares ${total * 4} data bytes, blob has ${r.remaining}`,
      { declared: total * 4, have: r.remaining },
    );
  }
  const tensors: Tensor[] = shapes.map((shape, i) => {
    const data = r.f32array(tensorSize(shape));
    checkFinite(data, i);
    return { shape, data };
  });
  return { tensors };
}

/** Model identity: SHA-256 of the canonical encoding. */
export function modelHash(w: ModelWeights): Uint8Array {
  return hash256(encodeWeights(w));
}
