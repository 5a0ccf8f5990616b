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

/**
 * Every task's metrics under stable camelCase names (issue 16): the keys of `summary.json`'s
 * `final.<name>` and of each `metrics.jsonl` line. Definitions:
 * - sensitivity = TP / (TP + FN) (recall of the class), specificity = TN / (TN + FP);
 *   balancedAccuracy = mean per-class sensitivity (Brodersen et al. 2010); 0 for an absent class's
 *   undefined ratio is avoided by averaging only over classes present in the labels.
 * - macroF1: unweighted mean of per-class F1 over the classes present in labels or predictions
 *   (sklearn's `f1_score(average='macro')` with zero_division=0 over the union of labels).
 * - auc: binary ROC AUC; macroAuc: mean one-vs-rest AUC over classes (multi-class, Hand & Till's
 *   OvR variant as sklearn `roc_auc_score(multi_class='ovr', average='macro')`) or over labels
 *   (multi-label), skipping any class whose AUC is undefined (one side absent).
 * - brier: mean squared error of the predicted probability (Brier 1950); binary only.
 * - rmse, mae, r2 (1 − SS_res / SS_tot): regression, in the target's original units.
 * - logLoss: mean cross-entropy of the probabilities (clamped to [1e-7, 1 − 1e-7]); for
 *   regression `loss` is the mean squared error in original units.
 */
export interface ClassMetrics {
  readonly name: string;
  readonly support: number;
  readonly sensitivity: number;
  readonly specificity: number;
  readonly precision: number;
  readonly f1: number;
  readonly auc: number;
}

export interface TaskMetrics {
  readonly n: number;
  /** The loss the model is trained on, on this set (cross-entropy, or MSE in original units). */
  readonly loss: number;
  readonly accuracy?: number;
  readonly balancedAccuracy?: number;
  readonly macroF1?: number;
  readonly sensitivity?: number;
  readonly specificity?: number;
  readonly precision?: number;
  readonly recall?: number;
  readonly f1?: number;
  readonly auc?: number;
  readonly macroAuc?: number;
  readonly brier?: number;
  readonly rmse?: number;
  readonly mae?: number;
  readonly r2?: number;
  /** Binary: {tp, fp, tn, fn}. */
  readonly confusion?: ConfusionMatrix;
  /** Multi-class: k × k counts, row = actual class, column = predicted class. */
  readonly confusionMatrix?: readonly (readonly number[])[];
  readonly perClass?: readonly ClassMetrics[];
}

const EPS = 1e-7;
const clampP = (p: number): number => Math.min(1 - EPS, Math.max(EPS, p));
const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);
const meanDefined = (xs: readonly number[]): number => {
  const ok = xs.filter((x) => !Number.isNaN(x));
  return ok.length === 0 ? Number.NaN : ok.reduce((a, b) => a + b, 0) / ok.length;
};

function oneVsRest(name: string, truth: ArrayLike<number>, pred: ArrayLike<number>, score: ArrayLike<number>): ClassMetrics {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i] === 1;
    const p = pred[i] === 1;
    if (t && p) tp++;
    else if (t) fn++;
    else if (p) fp++;
    else tn++;
  }
  const precision = ratio(tp, tp + fp);
  const sensitivity = ratio(tp, tp + fn);
  return {
    name,
    support: tp + fn,
    sensitivity,
    specificity: ratio(tn, tn + fp),
    precision,
    f1: ratio(2 * precision * sensitivity, precision + sensitivity),
    auc: aucRoc(truth, score),
  };
}

/** Binary metrics from P(y = 1) at threshold 0.5, plus sensitivity, specificity, balanced accuracy and Brier score. */
export function binaryTaskMetrics(labels: ArrayLike<number>, scores: ArrayLike<number>): TaskMetrics {
  const m = binaryMetrics(labels, scores);
  const { tp, fp, tn, fn } = m.confusion;
  const sensitivity = ratio(tp, tp + fn);
  const specificity = ratio(tn, tn + fp);
  let brier = 0;
  let ll = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    const p = scores[i]!;
    brier += (p - y) ** 2;
    ll -= y === 1 ? Math.log(clampP(p)) : Math.log(1 - clampP(p));
  }
  const n = labels.length;
  const f1Neg = ratio(2 * tn, 2 * tn + fn + fp);
  const present = (tp + fn > 0 ? 1 : 0) + (tn + fp > 0 ? 1 : 0);
  return {
    n,
    loss: n > 0 ? ll / n : Number.NaN,
    accuracy: m.accuracy,
    balancedAccuracy: present === 0 ? 0 : ((tp + fn > 0 ? sensitivity : 0) + (tn + fp > 0 ? specificity : 0)) / present,
    macroF1: (m.f1 + f1Neg) / 2,
    sensitivity,
    specificity,
    precision: m.precision,
    recall: m.recall,
    f1: m.f1,
    auc: m.auc,
    brier: n > 0 ? brier / n : Number.NaN,
    confusion: m.confusion,
  };
}

/** Multi-class metrics from class probabilities (n × k, row-major); the prediction is the arg-max. */
export function multiclassMetrics(labels: ArrayLike<number>, probs: ArrayLike<number>, classes: readonly string[]): TaskMetrics {
  const k = classes.length;
  const n = labels.length;
  if (probs.length !== n * k) throw new RangeError(`probs has ${probs.length} values, expected ${n} x ${k}`);
  const pred = new Uint8Array(n);
  const cm = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let ll = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
    pred[i] = best;
    const y = labels[i]!;
    if (y >= k) throw new RangeError(`label ${i} is ${y}; expected a class index < ${k}`);
    cm[y]![best]!++;
    if (y === best) correct++;
    ll -= Math.log(clampP(probs[i * k + y]!));
  }
  const perClass = classes.map((name, c) => {
    const truth = Uint8Array.from({ length: n }, (_, i) => (labels[i] === c ? 1 : 0));
    const hit = Uint8Array.from({ length: n }, (_, i) => (pred[i] === c ? 1 : 0));
    const score = Float32Array.from({ length: n }, (_, i) => probs[i * k + c]!);
    return oneVsRest(name, truth, hit, score);
  });
  const present = perClass.filter((c) => c.support > 0);
  const inUnion = perClass.filter((c, i) => c.support > 0 || pred.includes(i));
  return {
    n,
    loss: n > 0 ? ll / n : Number.NaN,
    accuracy: ratio(correct, n),
    balancedAccuracy: present.length === 0 ? 0 : present.reduce((s, c) => s + c.sensitivity, 0) / present.length,
    macroF1: inUnion.length === 0 ? 0 : inUnion.reduce((s, c) => s + c.f1, 0) / inUnion.length,
    macroAuc: meanDefined(perClass.map((c) => c.auc)),
    confusionMatrix: cm,
    perClass,
  };
}

/**
 * Multi-label metrics from per-label probabilities (n × L); each label thresholded at 0.5.
 * `accuracy` is the label-wise (Hamming) accuracy; `macroF1` and `macroAuc` average over labels.
 */
export function multilabelMetrics(targets: ArrayLike<number>, probs: ArrayLike<number>, labels: readonly string[]): TaskMetrics {
  const k = labels.length;
  const n = k > 0 ? targets.length / k : 0;
  if (probs.length !== targets.length) throw new RangeError(`probs has ${probs.length} values, expected ${targets.length}`);
  let ll = 0;
  let correct = 0;
  for (let i = 0; i < targets.length; i++) {
    const y = targets[i]!;
    const p = probs[i]!;
    ll -= y === 1 ? Math.log(clampP(p)) : Math.log(1 - clampP(p));
    if ((p >= 0.5 ? 1 : 0) === y) correct++;
  }
  const perClass = labels.map((name, j) => {
    const truth = Uint8Array.from({ length: n }, (_, i) => targets[i * k + j]!);
    const score = Float32Array.from({ length: n }, (_, i) => probs[i * k + j]!);
    const hit = Uint8Array.from(score, (p) => (p >= 0.5 ? 1 : 0));
    return oneVsRest(name, truth, hit, score);
  });
  return {
    n,
    loss: targets.length > 0 ? ll / targets.length : Number.NaN,
    accuracy: ratio(correct, targets.length),
    balancedAccuracy: meanDefined(perClass.map((c) => (c.support > 0 && c.support < n ? (c.sensitivity + c.specificity) / 2 : Number.NaN))),
    macroF1: k === 0 ? 0 : perClass.reduce((s, c) => s + c.f1, 0) / k,
    macroAuc: meanDefined(perClass.map((c) => c.auc)),
    perClass,
  };
}

/** Regression metrics; `actual` and `predicted` in the same (original) units. */
export function regressionMetrics(actual: ArrayLike<number>, predicted: ArrayLike<number>): TaskMetrics {
  const n = actual.length;
  if (predicted.length !== n) throw new RangeError(`predicted (${predicted.length}) and actual (${n}) differ in length`);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += actual[i]!;
  mean /= Math.max(1, n);
  let sse = 0;
  let sae = 0;
  let sst = 0;
  for (let i = 0; i < n; i++) {
    const e = predicted[i]! - actual[i]!;
    sse += e * e;
    sae += Math.abs(e);
    sst += (actual[i]! - mean) ** 2;
  }
  const mse = n > 0 ? sse / n : Number.NaN;
  return { n, loss: mse, rmse: Math.sqrt(mse), mae: n > 0 ? sae / n : Number.NaN, r2: sst > 0 ? 1 - sse / sst : Number.NaN };
}

/** The scalar metrics of `m` (what metrics.jsonl and summary.json carry as numbers). */
export function scalarMetrics(m: TaskMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, v] of Object.entries(m)) if (typeof v === 'number') out[key] = v;
  return out;
}
