/**
 * In-memory representation of model parameters, shared by the trainer (node/ml),
 * the aggregation maths (protocol/fedavg) and the canonical encoding (protocol/weights-codec).
 *
 * A model is an ordered list of float32 tensors. Order is the trainer's layer order
 * (tfjs `model.getWeights()` order) and is part of the model's identity.
 */
export interface Tensor {
  /** Dimensions, outermost first (C order). Empty array = scalar. */
  readonly shape: readonly number[];
  /** Row-major values; length equals the product of `shape`. */
  readonly data: Float32Array;
}

export interface ModelWeights {
  readonly tensors: readonly Tensor[];
}

export function tensorSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Total number of scalar parameters. */
export function parameterCount(w: ModelWeights): number {
  let n = 0;
  for (const t of w.tensors) n += t.data.length;
  return n;
}

/** True when both models have the same tensor count and shapes. */
export function sameShapes(a: ModelWeights, b: ModelWeights): boolean {
  if (a.tensors.length !== b.tensors.length) return false;
  for (let i = 0; i < a.tensors.length; i++) {
    const sa = a.tensors[i]!.shape;
    const sb = b.tensors[i]!.shape;
    if (sa.length !== sb.length) return false;
    for (let j = 0; j < sa.length; j++) if (sa[j] !== sb[j]) return false;
  }
  return true;
}
