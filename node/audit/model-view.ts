/**
 * The model behind the dashboard's "Model quality" section (issue 16): the latest round whose
 * artifact verified and was re-evaluated on the auditor's `--test-data` is scored again here with
 * the task's full metrics — the k × k confusion matrix and per-class (or per-label) sensitivity,
 * specificity, F1 and AUC that the per-round scalars in the report leave out — and explained:
 * a Grad-CAM grid of the first test images, or the global Shapley importance chart of the first
 * test rows (node/ml/explain-run.ts `reportExplanations`: exact for a linear model, KernelSHAP
 * otherwise; the background is other test rows).
 *
 * Only a model the audit verified is shown: the round must carry an evaluation, which the
 * auditor computes only for an artifact that hashed to the on-chain record (node/audit/run.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkArtifact } from '../../protocol/audit/artifacts.js';
import type { AuditReport } from '../../protocol/audit/types.js';
import type { TaskMetrics } from '../../protocol/metrics.js';
import { evaluateTask, type Task } from '../../protocol/task.js';
import { decodeWeights } from '../../protocol/weights-codec.js';
import { reportExplanations } from '../ml/explain-run.js';
import { Trainer } from '../ml/trainer.js';
import { fetchArtifacts } from './artifacts.js';
import { labelledTestSet, readTestData, type TestData } from './evaluate.js';
import type { AuditOptions } from './run.js';
import { readCsvTestData } from './test-data-csv.js';

export interface ModelInsight {
  readonly round: number;
  readonly modelHash: string;
  readonly task: Task;
  /** The task's metrics of that round's model on the test data, structured parts included. */
  readonly metrics: TaskMetrics;
  /** Trusted HTML: the Grad-CAM grid or the importance chart (and a sentence saying how). */
  readonly explanation?: string;
  /** Why there is no explanation, when there is none. */
  readonly explanationError?: string;
}

/** The latest round with an evaluation (hence a verified artifact), or undefined. */
export function latestEvaluatedRound(r: AuditReport): { round: number; modelHash: string } | undefined {
  for (let i = r.rounds.length - 1; i >= 0; i--) {
    const s = r.rounds[i]!;
    if (s.evaluation !== undefined && s.modelHash !== undefined) return { round: s.round, modelHash: s.modelHash };
  }
  return undefined;
}

/** Scores and explains one model (FMWT bytes) on the test data. */
export function inspectModel(data: TestData, bytes: Uint8Array, round: number, modelHash: string): ModelInsight {
  const { task, labelled, x, n } = labelledTestSet(data);
  const trainer = new Trainer(data.model, 0);
  try {
    trainer.setWeights(decodeWeights(bytes));
    const metrics = evaluateTask(task, labelled, trainer.predict(x, n));
    let explanation: string | undefined;
    let explanationError: string | undefined;
    try {
      explanation = reportExplanations(trainer.layersModel, data.model.inputShape, x, n, undefined, 8, 32, task);
    } catch (e) {
      explanationError = e instanceof Error ? e.message : String(e);
    }
    return {
      round,
      modelHash,
      task,
      metrics,
      ...(explanation !== undefined ? { explanation } : {}),
      ...(explanationError !== undefined ? { explanationError } : {}),
    };
  } finally {
    trainer.dispose();
  }
}

/**
 * The insight for an audit's latest evaluated round, reading the test data and that one artifact
 * the way the audit did (`--artifacts` folder or `--fetch-from` peers). Undefined without
 * `--test-data` or before any round was evaluated.
 */
export async function modelInsightOf(o: AuditOptions, r: AuditReport, testData?: TestData): Promise<ModelInsight | undefined> {
  if (o.testData === undefined) return undefined;
  const latest = latestEvaluatedRound(r);
  if (latest === undefined) return undefined;
  const data =
    testData ?? (o.testData.toLowerCase().endsWith('.csv') ? readCsvTestData(o.testData, o.manifest) : await readTestData(o.testData));
  let bytes: Uint8Array | undefined;
  if (o.artifacts !== undefined) {
    bytes = await readFile(join(o.artifacts, `${latest.modelHash.slice(2).toLowerCase()}.fmwt`)).catch(() => undefined);
  } else if (o.fetchFrom !== undefined && o.fetchFrom.length > 0 && o.federation !== undefined) {
    const entry = (await fetchArtifacts(o.fetchFrom, o.federation, [latest.modelHash])).get(latest.modelHash.toLowerCase());
    if (entry !== undefined && 'bytes' in entry) bytes = entry.bytes;
  }
  // Read again after the audit: it must still hash to the on-chain record, or nothing is shown.
  if (bytes === undefined || checkArtifact(latest.round, latest.modelHash, { source: 'artifact', bytes }).status !== 'verified')
    return undefined;
  return inspectModel(data, bytes, latest.round, latest.modelHash);
}
