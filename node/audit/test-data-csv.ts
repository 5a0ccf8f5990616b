/**
 * `fedmesh audit --test-data FILE.csv --manifest MANIFEST`: the auditor's held-out set as a CSV
 * in the federation's schema, read through the same loader the nodes use (node/data/csv.ts:
 * columns by the manifest's names, ignoring case; categories one-hot in the manifest's order; the
 * label mapped by the manifest's positive class), instead of hand-encoded JSON (issue 17).
 *
 * Preprocessing is the federation's: with the manifest's public statistics (always with DP)
 * every row is mapped by them, exactly as at every site; without them each site standardised
 * with its own statistics, and the auditor's set is standardised with its own likewise (the
 * closest a third party can come; said in docs/auditor-guide.md).
 */
import { fitStandardizer, standardize } from '../../protocol/data.js';
import { applyPublicTransform, publicTransformOf } from '../../protocol/privacy/public-statistics.js';
import { taskOfManifest } from '../../protocol/task.js';
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
  if (task.kind !== 'binary')
    throw usageError('--test-data', csvPath, `CSV test data takes a binary task; this manifest's is ${task.kind} (use the JSON form)`);
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
  return {
    model: { kind: spec.kind, inputShape: [...spec.inputShape], ...(spec.hidden !== undefined ? { hidden: [...spec.hidden] } : {}) },
    x: Array.from({ length: data.n }, (_, i) => Array.from(data.x.subarray(i * width, (i + 1) * width))),
    y: Array.from(data.y),
  };
}
