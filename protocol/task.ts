/**
 * What a federation learns: the prediction task, its output layer and its training targets.
 *
 * - binary: one sigmoid output, P(label = 1); binary cross-entropy.
 * - multiclass: k softmax outputs, one per class in `classes` order; categorical cross-entropy.
 * - multilabel: one sigmoid output per label in `labels` order; per-label binary cross-entropy,
 *   averaged over labels (Keras's `binary_crossentropy` convention).
 * - regression: one linear output, the target standardised as (v − mean) / std with the
 *   manifest's PUBLIC mean and std (so no site's private statistics enter the model), squared
 *   error; predictions and metrics are mapped back to original units by `toOriginalUnits`.
 *
 * `LabelledData.y` is the row's stratum (class index for binary and multiclass; for multilabel
 * and regression a coarse bin used only to stratify splits and partitions); multilabel and
 * regression carry their real targets in `LabelledData.targets` (n × outputUnits).
 */
import { DataError, type LabelledData } from './data.js';
import { binaryTaskMetrics, multiclassMetrics, multilabelMetrics, regressionMetrics, type TaskMetrics } from './metrics.js';

export type TaskKind = 'binary' | 'multiclass' | 'multilabel' | 'regression';
export const TASK_KINDS: readonly TaskKind[] = ['binary', 'multiclass', 'multilabel', 'regression'];

export type Task =
  | { readonly kind: 'binary' }
  | { readonly kind: 'multiclass'; readonly classes: readonly string[] }
  | { readonly kind: 'multilabel'; readonly labels: readonly string[] }
  | { readonly kind: 'regression'; readonly mean: number; readonly std: number };

export const BINARY_TASK: Task = { kind: 'binary' };

/** Classes at most: class indices travel as Uint8Array strata. */
export const MAX_CLASSES = 255;

/** Width of the model's output layer. */
export function outputUnits(task: Task): number {
  if (task.kind === 'multiclass') return task.classes.length;
  if (task.kind === 'multilabel') return task.labels.length;
  return 1;
}

/** The output layer's activation (the link from logits to predictions). */
export function outputActivation(task: Task): 'sigmoid' | 'softmax' | 'linear' {
  if (task.kind === 'multiclass') return 'softmax';
  if (task.kind === 'regression') return 'linear';
  return 'sigmoid';
}

/** Output names, in output order: the CSV header of predictions and the key of per-class metrics. */
export function outputNames(task: Task): string[] {
  if (task.kind === 'multiclass') return [...task.classes];
  if (task.kind === 'multilabel') return [...task.labels];
  return [task.kind === 'binary' ? 'p1' : 'value'];
}

/**
 * Targets as the loss sees them, n × outputUnits(task), row-major: binary y; multiclass one-hot
 * of y; multilabel and regression `data.targets`.
 * @throws DataError DATA_BAD_LABEL naming the row and the rule.
 */
export function targetsOf(data: LabelledData, task: Task): Float32Array {
  const k = outputUnits(task);
  const bad = (field: string, value: unknown, rule: string): DataError =>
    new DataError('DATA_BAD_LABEL', `${field} = ${JSON.stringify(value)}: ${rule}`, { field, value, rule });
  if (task.kind === 'binary' || task.kind === 'multiclass') {
    const out = new Float32Array(data.n * k);
    for (let i = 0; i < data.n; i++) {
      const c = data.y[i]!;
      if (task.kind === 'binary') {
        if (c > 1) throw bad(`y[${i}]`, c, 'label in {0, 1}');
        out[i] = c;
      } else {
        if (c >= k) throw bad(`y[${i}]`, c, `class index < ${k}`);
        out[i * k + c] = 1;
      }
    }
    return out;
  }
  const t = data.targets;
  if (t === undefined) throw bad('targets', undefined, `${task.kind} data needs targets (n x ${k})`);
  if (t.length !== data.n * k) throw bad('targets.length', t.length, `n x ${k} = ${data.n * k}`);
  for (let i = 0; i < t.length; i++) {
    const v = t[i]!;
    if (task.kind === 'multilabel' ? v !== 0 && v !== 1 : !Number.isFinite(v)) {
      throw bad(`targets[${Math.floor(i / k)}][${i % k}]`, v, task.kind === 'multilabel' ? '0 or 1' : 'finite number');
    }
  }
  return t;
}

/** Regression: a prediction (standardised) back in the target's original units. */
export function toOriginalUnits(task: Task, v: number): number {
  return task.kind === 'regression' ? v * task.std + task.mean : v;
}

/** Regression: an original-units value standardised with the task's public statistics. */
export function toStandardUnits(task: Task, v: number): number {
  return task.kind === 'regression' ? (v - task.mean) / task.std : v;
}

/**
 * Class weights w_c = n / (k · n_c) (sklearn's `compute_class_weight('balanced')`, King & Zeng
 * 2001): each class contributes equally to the loss. A class absent from `counts` gets weight 0
 * (no row has it). For binary and multiclass tasks only.
 */
export function balancedClassWeights(counts: readonly number[]): number[] {
  const n = counts.reduce((a, b) => a + b, 0);
  const present = counts.filter((c) => c > 0).length;
  return counts.map((c) => (c > 0 ? n / (present * c) : 0));
}

/** Rows per class index (0..k−1) in `y`. */
export function classCounts(y: ArrayLike<number>, k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < y.length; i++) if (y[i]! < k) counts[y[i]!]!++;
  return counts;
}

/**
 * The task's metrics (protocol/metrics.ts) of model outputs `scores` (n × outputUnits, as the
 * trainer's `predict` returns them) on `data`. Regression is scored in original units.
 */
export function evaluateTask(task: Task, data: LabelledData, scores: ArrayLike<number>): TaskMetrics {
  if (task.kind === 'binary') return binaryTaskMetrics(data.y.subarray(0, data.n), scores);
  if (task.kind === 'multiclass') return multiclassMetrics(data.y.subarray(0, data.n), scores, task.classes);
  const t = targetsOf(data, task);
  if (task.kind === 'multilabel') return multilabelMetrics(t, scores, task.labels);
  const actual = Float64Array.from(t, (v) => toOriginalUnits(task, v));
  const predicted = Float64Array.from({ length: data.n }, (_, i) => toOriginalUnits(task, scores[i]!));
  return regressionMetrics(actual, predicted);
}

/** Pools several evaluation sets (same task) into one, for pooled metrics. */
export function poolSets(sets: readonly LabelledData[]): LabelledData {
  const n = sets.reduce((s, d) => s + d.n, 0);
  const first = sets[0]!;
  const f = first.n > 0 ? first.x.length / first.n : 0;
  const w = first.targets !== undefined && first.n > 0 ? first.targets.length / first.n : 0;
  const x = new Float32Array(n * f);
  const y = new Uint8Array(n);
  const targets = first.targets !== undefined ? new Float32Array(n * w) : undefined;
  let off = 0;
  for (const d of sets) {
    x.set(d.x, off * f);
    y.set(d.y, off);
    if (targets !== undefined) targets.set(d.targets!, off * w);
    off += d.n;
  }
  return { x, y, n, featureShape: [...first.featureShape], ...(targets !== undefined ? { targets } : {}) };
}

/** The task a manifest declares (absent: binary). */
export function taskOfManifest(m: { readonly task?: Task | undefined }): Task {
  return m.task ?? BINARY_TASK;
}
