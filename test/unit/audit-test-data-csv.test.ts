/**
 * `fedmesh audit --test-data FILE.csv --manifest M` for every task (issues 16/17 item 9): the
 * auditor's CSV in the manifest's schema is read by the nodes' loader and each round model is
 * scored with the task's metrics (issue 16 item 1 names). Each case trains a real model on a
 * site's rows loaded by the daemon's path (node/daemon/setup.ts loadSiteData), encodes it as a
 * chain artifact, and checks that the auditor's figures equal the task's metrics computed in
 * process on the site pipeline's rows — so the CSV is read, labelled and preprocessed as the
 * federation did, per task.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateModels, reportedMetrics } from '../../node/audit/evaluate.js';
import { readCsvTestData } from '../../node/audit/test-data-csv.js';
import { loadSiteData, modelSpecOf } from '../../node/daemon/setup.js';
import { selectBackend } from '../../node/ml/backend.js';
import { Trainer } from '../../node/ml/trainer.js';
import { type FederationManifest, parseManifest } from '../../protocol/manifest.js';
import { evaluateTask, taskOfManifest } from '../../protocol/task.js';
import { encodeWeights } from '../../protocol/weights-codec.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmesh-audit-csv-'));
beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

const BASE = {
  version: 1,
  federation: 'audit-csv',
  seed: 5,
  model: { kind: 'mlp', hidden: [5] },
  rounds: 1,
  training: { localEpochs: 1, batchSize: 8, learningRate: 0.05 },
  committee: { size: 3, threshold: 2 },
  features: [
    { name: 'age', kind: 'numeric' },
    { name: 'cp', kind: 'categorical', categories: ['1', '2', '3'] },
  ],
};
const PUBLIC = { features: { age: { min: 20, max: 90, center: 55, scale: 12, fill: 55 }, cp: { fill: '1' } } };

/** 48 rows: age, cp, a grade 0–2, two findings (0/1) and a length of stay. */
function csv(name: string, header = 'AGE,cp,grade,effusion,edema,stay'): string {
  const lines = [header];
  for (let i = 0; i < 48; i++) {
    const age = 25 + ((i * 11) % 60);
    const cp = 1 + (i % 3);
    const grade = age > 65 ? 2 : cp === 2 ? 1 : 0;
    lines.push(`${age},${cp}.0,${grade},${age > 50 ? 1 : 0},${cp === 3 ? 1 : 0},${(age / 10 + cp + (i % 4) / 2).toFixed(2)}`);
  }
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** Trains on the site pipeline's rows; returns the auditor's metrics and the in-process ones. */
async function audit(manifest: FederationManifest, name: string) {
  const manifestPath = join(dir, `${name}.json`);
  writeFileSync(manifestPath, JSON.stringify(manifest));
  const file = csv(`${name}.csv`);
  const { data } = loadSiteData({ kind: 'csv', path: file, missing: 'drop', maxBadRowFraction: 0 }, manifest);
  const t = new Trainer(modelSpecOf(manifest), manifest.seed);
  try {
    await t.train(data, { epochs: 8, batchSize: 8, learningRate: 0.05, seed: 2 });
    const expected = reportedMetrics(taskOfManifest(manifest), evaluateTask(t.task, data, t.predict(data.x, data.n)));
    const testData = readCsvTestData(file, manifestPath);
    const got = (await evaluateModels(testData, new Map([[3, encodeWeights(t.getWeights())]]))).get(3)!;
    return { got, expected };
  } finally {
    t.dispose();
  }
}

function expectSame(got: Record<string, number>, expected: Record<string, number>): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(expected).sort());
  for (const [k, v] of Object.entries(expected)) {
    if (Number.isNaN(v)) expect(got[k]).toBeNaN();
    else expect(got[k], k).toBeCloseTo(v, 5);
  }
}

describe('audit --test-data CSV, per task', () => {
  it('binary: sensitivity, specificity, balanced accuracy, AUC, Brier', async () => {
    const m = parseManifest({ ...BASE, publicStatistics: PUBLIC, label: { name: 'effusion', positive: '1', negatives: ['0'] } });
    const { got, expected } = await audit(m, 'binary');
    expectSame(got, expected);
    for (const k of ['accuracy', 'sensitivity', 'specificity', 'balancedAccuracy', 'auc', 'brier']) expect(got[k], k).toBeTypeOf('number');
    expect(got.n).toBe(48);
  });

  it('multiclass: accuracy, balanced accuracy, macro-F1, macro AUC, per-class rows and the confusion matrix', async () => {
    const m = parseManifest({
      ...BASE,
      publicStatistics: PUBLIC,
      label: { name: 'grade', positive: '2', negatives: ['0', '1'] },
      task: { kind: 'multiclass', classes: ['0', '1', '2'] },
    });
    const { got, expected } = await audit(m, 'multiclass');
    expectSame(got, expected);
    for (const k of ['accuracy', 'balancedAccuracy', 'macroF1', 'macroAuc', 'sensitivity.2', 'specificity.0', 'auc.1'])
      expect(got[k], k).toBeTypeOf('number');
    // The confusion matrix's cells add up to the rows, and its diagonal to the accuracy.
    const cells = ['0', '1', '2'].flatMap((a) => ['0', '1', '2'].map((p) => got[`confusion.${a}.${p}`]!));
    expect(cells.reduce((s, c) => s + c, 0)).toBe(48);
    expect((got['confusion.0.0']! + got['confusion.1.1']! + got['confusion.2.2']!) / 48).toBeCloseTo(got.accuracy!, 10);
  });

  it('multilabel: per-label AUC and macro AUC', async () => {
    const m = parseManifest({
      ...BASE,
      publicStatistics: PUBLIC,
      label: { name: 'effusion', positive: '1', negatives: ['0'] },
      task: { kind: 'multilabel', labels: ['effusion', 'edema'] },
    });
    const { got, expected } = await audit(m, 'multilabel');
    expectSame(got, expected);
    for (const k of ['macroAuc', 'auc.effusion', 'auc.edema', 'sensitivity.edema']) expect(got[k], k).toBeTypeOf('number');
    expect(got.macroAuc).toBeCloseTo((got['auc.effusion']! + got['auc.edema']!) / 2, 10);
  });

  it('regression, without public statistics: RMSE, MAE and R² in original units', async () => {
    const m = parseManifest({
      ...BASE,
      label: { name: 'stay', positive: '1', negatives: ['0'] },
      task: { kind: 'regression', mean: 8, std: 2.5 },
    });
    const { got, expected } = await audit(m, 'regression');
    expectSame(got, expected);
    for (const k of ['rmse', 'mae', 'r2']) expect(got[k], k).toBeTypeOf('number');
    // Original units: the stays span about 3.5–13 days; an error in standard units would be ~2.5× smaller.
    expect(got.rmse).toBeGreaterThan(0);
  });

  it('a label the task does not allow is refused naming the manifest field and the line', () => {
    const m = parseManifest({
      ...BASE,
      publicStatistics: PUBLIC,
      label: { name: 'grade', positive: '2', negatives: ['0', '1'] },
      task: { kind: 'multiclass', classes: ['0', '1', '2'] },
    });
    const manifestPath = join(dir, 'bad.json');
    writeFileSync(manifestPath, JSON.stringify(m));
    const file = join(dir, 'bad.csv');
    writeFileSync(file, 'age,cp,grade\n50,1,0\n60,2,7\n');
    expect(() => readCsvTestData(file, manifestPath)).toThrow(
      expect.objectContaining({ code: 'DATA_BAD_LABEL', fields: expect.objectContaining({ field: 'task.classes', line: 3, value: '7' }) }),
    );
  });
});
