/**
 * Binary-classification metrics on a held-out set.
 *
 * AUC-ROC is computed exactly as the Mann–Whitney U statistic with midranks for ties
 * (Hanley & McNeil, Radiology 1982): AUC = (R₊ − n₊(n₊+1)/2) / (n₊·n₋), where R₊ is the
 * rank sum of positive scores. Precision/recall/F1 are for the positive class (label 1),
 * with 0 where the denominator is 0 (sklearn's zero_division=0).
 */
export interface ConfusionMatrix {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
}

export interface BinaryMetrics {
  readonly n: number;
  readonly accuracy: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly auc: number;
  readonly confusion: ConfusionMatrix;
}

export function binaryMetrics(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold = 0.5): BinaryMetrics {
  if (labels.length !== scores.length) throw new RangeError(`labels (${labels.length}) and scores (${scores.length}) differ in length`);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const pos = labels[i] === 1;
    const pred = scores[i]! >= threshold;
    if (pos && pred) tp++;
    else if (pos) fn++;
    else if (pred) fp++;
    else tn++;
  }
  const n = labels.length;
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return {
    n,
    accuracy: n === 0 ? 0 : (tp + tn) / n,
    precision,
    recall,
    f1,
    auc: aucRoc(labels, scores),
    confusion: { tp, fp, tn, fn },
  };
}

/** Exact AUC-ROC with midranks; NaN when one class is absent. */
export function aucRoc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const idx = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let nPos = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) nPos++;
  const nNeg = labels.length - nPos;
  if (nPos === 0 || nNeg === 0) return Number.NaN;
  let rankSumPos = 0;
  let i = 0;
  while (i < idx.length) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const midrank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[idx[k]!] === 1) rankSumPos += midrank;
    i = j + 1;
  }
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}
