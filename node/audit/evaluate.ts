/**
 * Optional re-evaluation (`--test-data FILE`): each round's model, once its artifact verified,
 * is loaded into a Trainer and scored on held-out data the auditor brings. The file is JSON:
 *
 *     { "model": { "kind": "mlp", "inputShape": [30], "hidden": [16] },
 *       "x": [[…30 numbers…], …], "y": [0, 1, …] }
 *
 * with features already in model-input order and standardised as the federation does. The
 * metrics are reported, not judged: what counts as good enough is the auditor's call.
 *
 * Other tasks (issue 16, protocol/task.ts): `model.task` as in the manifest; `y` holds class
 * indices (multiclass), rows of 0/1 (multilabel) or values in original units (regression); the
 * metrics are the task's (protocol/metrics.ts names: balancedAccuracy, macroF1, rmse, r2, …).
 * Per class (multiclass) or label (multilabel) the report adds `sensitivity.<name>`,
 * `specificity.<name>` and `auc.<name>`, and for multiclass the k×k confusion matrix as
 * `confusion.<actual>.<predicted>` counts: every figure stays a number in the JSON report.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { TaskSchema } from '../../protocol/manifest.js';
import { scalarMetrics, type TaskMetrics } from '../../protocol/metrics.js';
import { evaluateTask, type Task, toStandardUnits } from '../../protocol/task.js';
import { decodeWeights } from '../../protocol/weights-codec.js';
import { Trainer } from '../ml/trainer.js';
import { selectBackend } from '../ml/backend.js';
import { usageError } from './errors.js';

const TestDataSchema = z
  .object({
    model: z
      .object({
        kind: z.enum(['logreg', 'mlp', 'cnn']),
        inputShape: z.array(z.number().int().min(1)).min(1),
        hidden: z.array(z.number().int().min(1)).optional(),
        task: TaskSchema.optional(),
      })
      .strict(),
    x: z.array(z.array(z.number())).min(1),
    y: z.array(z.union([z.number(), z.array(z.union([z.literal(0), z.literal(1)]))])).min(1),
  })
  .strict()
  .superRefine((d, ctx) => {
    const task: Task = d.model.task ?? { kind: 'binary' };
    d.y.forEach((v: number | (0 | 1)[], i: number) => {
      const ok =
        task.kind === 'binary'
          ? v === 0 || v === 1
          : task.kind === 'multiclass'
            ? Number.isInteger(v) && (v as number) >= 0 && (v as number) < task.classes.length
            : task.kind === 'multilabel'
              ? Array.isArray(v) && v.length === task.labels.length
              : typeof v === 'number' && Number.isFinite(v);
      if (!ok) ctx.addIssue({ code: 'custom', message: `not a ${task.kind} label`, path: ['y', i] });
    });
  })
  .refine((d) => d.x.length === d.y.length, { message: 'x and y must have the same number of rows', path: ['y'] });

export type TestData = z.infer<typeof TestDataSchema>;

export async function readTestData(path: string): Promise<TestData> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw usageError('--test-data', path, `a readable JSON file (${(e as Error).message})`);
  }
  const res = TestDataSchema.safeParse(json);
  if (!res.success) {
    const i = res.error.issues[0]!;
    throw usageError(`--test-data ${path}: ${i.path.join('.') || '(file)'}`, undefined, i.message);
  }
  return res.data;
}

/** Accuracy and AUC of each model (encoded FMWT bytes, by round) on `data`. */
/**
 * The test data as the trainer's evaluation input: rows flattened in model-input order, labels
 * (class indices) or, for multi-label and regression, targets in standard units. One place for
 * the CLI's evaluation and the dashboard's model view (./model-view.ts).
 */
export function labelledTestSet(data: TestData) {
  const features = data.model.inputShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(data.x.length * features);
  data.x.forEach((row, i) => {
    if (row.length !== features) throw usageError(`--test-data: x[${i}]`, row.length, `must have ${features} values`);
    x.set(row, i * features);
  });
  const task: Task = data.model.task ?? { kind: 'binary' };
  const n = data.y.length;
  const wide = task.kind === 'multilabel' || task.kind === 'regression';
  const labelled = {
    x,
    n,
    featureShape: data.model.inputShape,
    y: Uint8Array.from(data.y, (v) => (wide ? 0 : (v as number))),
    ...(wide ? { targets: Float32Array.from(data.y.flat() as number[], (v) => toStandardUnits(task, v)) } : {}),
  };
  return { task, labelled, x, n };
}

export async function evaluateModels(
  data: TestData,
  models: ReadonlyMap<number, Uint8Array>,
): Promise<Map<number, Record<string, number>>> {
  await selectBackend();
  const { task, labelled, x } = labelledTestSet(data);
  const trainer = new Trainer(data.model, 0);
  const out = new Map<number, Record<string, number>>();
  try {
    for (const [round, bytes] of [...models].sort((a, b) => a[0] - b[0])) {
      trainer.setWeights(decodeWeights(bytes));
      out.set(round, reportedMetrics(task, evaluateTask(trainer.task, labelled, trainer.predict(x, data.y.length))));
    }
  } finally {
    trainer.dispose();
  }
  return out;
}

/** The task's scalar metrics, plus per-class/label rows and the multi-class confusion matrix flattened to numbers. */
export function reportedMetrics(task: Task, m: TaskMetrics): Record<string, number> {
  const out = scalarMetrics(m);
  if (task.kind !== 'multiclass' && task.kind !== 'multilabel') return out;
  for (const c of m.perClass ?? []) {
    out[`sensitivity.${c.name}`] = c.sensitivity;
    out[`specificity.${c.name}`] = c.specificity;
    out[`auc.${c.name}`] = c.auc;
  }
  if (task.kind === 'multiclass') {
    m.confusionMatrix?.forEach((row, a) => {
      row.forEach((count, p) => {
        out[`confusion.${task.classes[a]}.${task.classes[p]}`] = count;
      });
    });
  }
  return out;
}
