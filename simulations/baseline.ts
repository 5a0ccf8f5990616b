/**
 * The centralized baseline: the same model, the same total training data pooled in one place,
 * and the same epoch budget (rounds × local epochs over the pooled rows), evaluated on the same
 * held-out split. It answers a researcher's first question: what does federation cost?
 */
import { fitStandardizer, type LabelledData, standardize } from '../protocol/data.js';
import type { TaskMetrics } from '../protocol/metrics.js';
import { evaluateTask } from '../protocol/task.js';
import { type ModelSpec, Trainer } from '../node/ml/trainer.js';

export interface BaselineOptions {
  readonly model: ModelSpec;
  readonly seed: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** Standardise with pooled statistics (tabular data). Images are used as they are. */
  readonly standardize: boolean;
  /** Loss weight per class (the federated run's, so both optimise the same objective). */
  readonly classWeights?: readonly number[];
  readonly focalGamma?: number;
}

export async function centralizedBaseline(
  train: LabelledData,
  test: LabelledData,
  o: BaselineOptions,
): Promise<TaskMetrics & { trainLoss: number }> {
  let tr = train;
  let te = test;
  if (o.standardize) {
    const s = fitStandardizer(train);
    tr = standardize(train, s);
    te = standardize(test, s);
  }
  const trainer = new Trainer(o.model, o.seed);
  try {
    const res = await trainer.train(tr, {
      epochs: o.epochs,
      batchSize: o.batchSize,
      learningRate: o.learningRate,
      seed: o.seed,
      ...(o.classWeights !== undefined ? { classWeights: o.classWeights } : {}),
      ...(o.focalGamma !== undefined ? { focalGamma: o.focalGamma } : {}),
    });
    // Scored like the federated model (the task's metrics, `loss` on the test rows).
    return { ...evaluateTask(trainer.task, te, trainer.predict(te.x, te.n)), trainLoss: res.loss };
  } finally {
    trainer.dispose();
  }
}
