/**
 * Federated averaging (McMahan et al., "Communication-Efficient Learning of Deep Networks
 * from Decentralized Data", AISTATS 2017, Algorithm 1):
 *
 *   w_{t+1} = Σ_i (n_i / n) · w_i,   n = Σ_i n_i
 *
 * Determinism: floating-point addition is not associative, so two committee members that
 * summed the same updates in a different order could disagree in the last bit and record
 * different model hashes. We therefore (1) sort contributions by participant id, and
 * (2) accumulate in float64, rounding to float32 once at the end. Any peer holding the same
 * set of updates reproduces the aggregate bit for bit.
 */
import { FedmeshError } from './errors.js';
import { type ModelWeights, sameShapes } from './model.js';

export interface Contribution {
  /** Stable participant id (libp2p peer id string). Used only for canonical ordering. */
  readonly participant: string;
  /** Number of local training examples n_i (> 0). */
  readonly sampleCount: number;
  readonly weights: ModelWeights;
}

export type FedAvgErrorCode = 'FEDAVG_EMPTY' | 'FEDAVG_BAD_SAMPLE_COUNT' | 'FEDAVG_SHAPE_MISMATCH' | 'FEDAVG_DUPLICATE';

export class FedAvgError extends FedmeshError<FedAvgErrorCode> {}

/** Normalised weights n_i / n in canonical (sorted-participant) order. */
export function fedAvgCoefficients(contributions: readonly Contribution[]): { participant: string; coefficient: number }[] {
  const sorted = canonicalOrder(contributions);
  const total = sorted.reduce((s, c) => s + c.sampleCount, 0);
  return sorted.map((c) => ({ participant: c.participant, coefficient: c.sampleCount / total }));
}

function canonicalOrder(contributions: readonly Contribution[]): Contribution[] {
  if (contributions.length === 0) throw new FedAvgError('FEDAVG_EMPTY', 'no contributions to aggregate', {});
  const seen = new Set<string>();
  for (const c of contributions) {
    if (!Number.isSafeInteger(c.sampleCount) || c.sampleCount <= 0) {
      throw new FedAvgError('FEDAVG_BAD_SAMPLE_COUNT', `participant ${c.participant} has sampleCount ${c.sampleCount}`, {
        participant: c.participant,
        sampleCount: c.sampleCount,
      });
    }
    if (seen.has(c.participant)) {
      throw new FedAvgError('FEDAVG_DUPLICATE', `participant ${c.participant} contributed twice`, { participant: c.participant });
    }
    seen.add(c.participant);
  }
  return [...contributions].sort((a, b) => (a.participant < b.participant ? -1 : a.participant > b.participant ? 1 : 0));
}

export function fedAvg(contributions: readonly Contribution[]): ModelWeights {
  const sorted = canonicalOrder(contributions);
  const first = sorted[0]!;
  for (const c of sorted) {
    if (!sameShapes(first.weights, c.weights)) {
      throw new FedAvgError('FEDAVG_SHAPE_MISMATCH', `participant ${c.participant} has different tensor shapes`, {
        participant: c.participant,
        expected: first.weights.tensors.map((t) => [...t.shape]),
        got: c.weights.tensors.map((t) => [...t.shape]),
      });
    }
  }
  const total = sorted.reduce((s, c) => s + c.sampleCount, 0);
  const tensors = first.weights.tensors.map((t, ti) => {
    const acc = new Float64Array(t.data.length);
    for (const c of sorted) {
      const coef = c.sampleCount / total;
      const src = c.weights.tensors[ti]!.data;
      for (let k = 0; k < acc.length; k++) acc[k]! += coef * src[k]!;
    }
    return { shape: [...t.shape], data: Float32Array.from(acc) };
  });
  return { tensors };
}
