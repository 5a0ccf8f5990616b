/**
 * `fedmesh audit --test-data FILE.csv --manifest MANIFEST`: the auditor's held-out set as a CSV
 * in the federation's schema, read through the same loader the nodes use (node/data/csv.ts:
 * columns by the manifest's names, ignoring case; categories one-hot in the manifest's order; the
 * label read per the manifest's task), instead of hand-encoded JSON (issue 17). Every task
 * (protocol/task.ts): binary (label.positive is 1), multiclass (the class's index in
 * task.classes), multilabel (the task.labels 0/1 columns) and regression (the label column's
 * value, in original units: evaluate.ts standardises it with the manifest's public mean/std, as
 * the sites did, and reports RMSE/MAE in original units).
 *
 * Preprocessing is the federation's: with the manifest's public statistics (always with DP)
 * every row is mapped by them, exactly as at every site; without them each site standardised
 * with its own statistics, and the auditor's set is standardised with its own likewise (the
 * closest a third party can come; said in docs/auditor-guide.md).
 */
import { fitStandardizer, standardize } from '../../protocol/data.js';
import { applyPublicTransform, publicTransformOf } from '../../protocol/privacy/public-statistics.js';
import { taskOfManifest, toOriginalUnits } from '../../protocol/task.js';
import { modelSpecOf } from '../daemon/setup.js';
import { loadCsv } from '../data/csv.js';
import { readManifestFile } from '../manifest/manifest-file.js';
import { usageError } from './errors.js';
import type { TestData } from './evaluate.js';

export function readCsvTestData(csvPath: string, manifestPath: string | undefined): TestData {
  if (manifestPath === undefined)
    throw usageError('--manifest', undefined, 'required with a CSV --test-data: it gives the columns and the label');
  const { manifest } = readManifestFile(manifestPath);
  const task = taskOfManifest(manifest);
  const pub = publicTransformOf(manifest);
  const { data: raw } = loadCsv(csvPath, manifest, {
    missing: 'drop',
    maxBadRowFraction: 0,
    ...(pub !== undefined ? { fill: pub.fill } : {}),
  });
  const data = pub !== undefined ? applyPublicTransform(raw, pub) : standardize(raw, fitStandardizer(raw));
  const width = data.x.length / data.n;
  const spec = modelSpecOf(manifest);
  if (spec.kind === 'tfjs')
    throw usageError(
      '--test-data',
      csvPath,
      "CSV test data takes the built-in models; this manifest's is a tfjs model (use the JSON form)",
    );
  // Labels as the JSON form holds them: class indices, rows of 0/1, or values in original units.
  const t = data.targets;
  const labels = task.kind === 'multilabel' ? task.labels.length : 1;
  const y: TestData['y'] =
    task.kind === 'multilabel'
      ? Array.from({ length: data.n }, (_, i) => Array.from(t!.subarray(i * labels, (i + 1) * labels), (v) => (v === 1 ? 1 : 0)))
      : task.kind === 'regression'
        ? Array.from(t!, (v) => toOriginalUnits(task, v))
        : Array.from(data.y);
  return {
    model: {
      kind: spec.kind,
      inputShape: [...spec.inputShape],
      ...(spec.hidden !== undefined ? { hidden: [...spec.hidden] } : {}),
      ...(task.kind !== 'binary' ? { task: structuredClone(task) as NonNullable<TestData['model']['task']> } : {}),
    },
    x: Array.from({ length: data.n }, (_, i) => Array.from(data.x.subarray(i * width, (i + 1) * width))),
    y,
  };
}
