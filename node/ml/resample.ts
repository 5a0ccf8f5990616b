/**
 * Resampling for class imbalance, in local training only (issue 16 item 4): each epoch of a
 * site's training runs over a class-balanced multiset of its own rows, drawn from a seeded
 * protocol/rng.ts stream so a run replays bit for bit. Evaluation never resamples.
 *
 * - `oversample` (random oversampling): every row once, plus rows of each smaller class drawn
 *   uniformly WITH replacement until every class present has as many rows as the largest.
 * - `undersample` (random undersampling): each class present keeps a uniform subset, WITHOUT
 *   replacement, of the size of the smallest class; a new subset every epoch, so over epochs the
 *   majority rows all take part.
 * (Both as in imbalanced-learn's RandomOverSampler / RandomUnderSampler, Lemaître et al., JMLR
 * 2017, with the default `auto` strategy: balance every class present.) A class absent from the
 * site's rows stays absent: there is nothing to copy, and the federation's other sites carry it.
 * Binary and multi-class tasks (the class is `y`); a multi-label row has no single class.
 *
 * Not with DP-SGD. Its accountant (protocol/privacy: the subsampled Gaussian, Mironov et al.
 * 2019) assumes that each step draws every record independently with probability q and that a
 * record moves the clipped gradient sum by at most C. Oversampling puts k copies of a record in
 * the pool — up to k·C in one step and Binomial(k, q) draws instead of Bernoulli(q); undersampling
 * keeps a record with a probability (n_min / n_c) that depends on the other records' labels, so
 * adding or removing one record changes everyone's inclusion. Either breaks the guarantee the
 * ledger records, so the trainer, the manifest and the simulator refuse the combination; class
 * weights (`classWeights`) keep each record's gradient bounded by C and are the DP-compatible way.
 */
import type { Rng } from '../../protocol/rng.js';

export type ResampleMode = 'none' | 'oversample' | 'undersample';
export const RESAMPLE_MODES: readonly ResampleMode[] = ['none', 'oversample', 'undersample'];

/**
 * Row indices (into the site's rows) for one epoch under `mode`, grouped by class in class
 * order; the caller shuffles them. `y` holds class indices < `classes`.
 */
export function resampleIndices(y: ArrayLike<number>, classes: number, mode: ResampleMode, rng: Rng): Uint32Array {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < y.length; i++) {
    const c = y[i]!;
    if (!(Number.isInteger(c) && c >= 0 && c < classes)) throw new RangeError(`y[${i}] = ${c}: a class index < ${classes}`);
    byClass[c]!.push(i);
  }
  if (mode === 'none') return Uint32Array.from({ length: y.length }, (_, i) => i);
  const present = byClass.filter((rows) => rows.length > 0);
  if (present.length === 0) return new Uint32Array(0);
  const out: number[] = [];
  if (mode === 'oversample') {
    const target = Math.max(...present.map((rows) => rows.length));
    for (const rows of present) {
      out.push(...rows);
      for (let k = rows.length; k < target; k++) out.push(rows[rng.int(rows.length)]!);
    }
  } else {
    const target = Math.min(...present.map((rows) => rows.length));
    for (const rows of present) {
      // Partial Fisher–Yates: a uniform subset of `target` rows without replacement.
      const pool = [...rows];
      for (let k = 0; k < target; k++) {
        const j = k + rng.int(pool.length - k);
        [pool[k], pool[j]] = [pool[j]!, pool[k]!];
        out.push(pool[k]!);
      }
    }
  }
  return Uint32Array.from(out);
}
