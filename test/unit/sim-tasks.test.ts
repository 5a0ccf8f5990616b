/**
 * Issue 16 in the simulation lab: data sets per task (CSV class / 0/1 / numeric columns, .npz
 * class indices, heart-disease grades), keep fractions, class weights, typed refusals of bad
 * labels, the centralized baseline scored with the task's metrics (real training, tiny), and the
 * report's k×k confusion matrix.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../node/ml/backend.js';
import { centralizedBaseline } from '../../simulations/baseline.js';
import { loadSimulationData } from '../../simulations/datasets.js';
import { parseSimulationOptions } from '../../simulations/options.js';
import { renderReport } from '../../simulations/report.js';
import type { RoundReport } from '../../simulations/simulate.js';

const opts = (o: Record<string, unknown>) => parseSimulationOptions(o);
const dir = mkdtempSync(join(tmpdir(), 'fedmesh-sim-tasks-'));
const RETINA = new URL('../../data/medmnist/retinamnist.npz', import.meta.url).pathname;

/** 120 rows: a = x1 + x2 + small noise (regression), grade from x1 (3 classes), two 0/1 findings. */
function writeCsv(name: string, mutate?: (rows: string[][]) => void): string {
  const rows: string[][] = [['x1', 'x2', 'x3', 'los', 'grade', 'f1', 'f2']];
  for (let i = 0; i < 120; i++) {
    const x1 = ((i * 37) % 101) / 50 - 1;
    const x2 = ((i * 53) % 97) / 48 - 1;
    const x3 = ((i * 11) % 89) / 44 - 1;
    const los = 5 + 3 * x1 + 2 * x2 + 0.05 * x3;
    rows.push(
      [x1, x2, i % 17 === 0 ? '?' : x3, los, x1 < -0.33 ? 'mild' : x1 < 0.33 ? 'moderate' : 'severe', x1 > 0 ? 1 : 0, x2 > 0 ? 1 : 0].map(
        String,
      ),
    );
  }
  mutate?.(rows);
  const path = join(dir, name);
  writeFileSync(path, `${rows.map((r) => r.join(',')).join('\n')}\n`);
  return path;
}

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

describe('data sets per task', () => {
  it('heart-disease multiclass: the num grade 0–4 as 5 classes, dealt by site', () => {
    const d = loadSimulationData(opts({ dataset: 'heart-disease', task: 'multiclass' }));
    expect(d.task).toEqual({ kind: 'multiclass', classes: ['0', '1', '2', '3', '4'] });
    const all = [...d.siteData, ...d.evalSets].flatMap((s) => [...s.y]);
    expect(Math.max(...all)).toBe(4);
    expect(new Set(all).size).toBe(5);
  });

  it('CSV multiclass: class values in the given order; an unknown value is refused naming the column', () => {
    const path = writeCsv('grade.csv');
    const columns = { label: 'grade', ignore: ['los', 'f1', 'f2'] };
    const d = loadSimulationData(opts({ dataset: path, task: 'multiclass', classes: ['mild', 'moderate', 'severe'], columns, peers: 3 }));
    expect(d.task).toEqual({ kind: 'multiclass', classes: ['mild', 'moderate', 'severe'] });
    expect(d.featureShape).toEqual([3]);
    expect(d.notes.join(' ')).toMatch(/missing cells \(numeric: the file's column median/);
    expect(() => loadSimulationData(opts({ dataset: path, task: 'multiclass', classes: ['mild', 'severe'], columns, peers: 3 }))).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        fields: { issues: [expect.objectContaining({ field: 'columns.label', value: 'moderate' })] },
      }),
    );
  });

  it('CSV regression: targets standardised with the public target statistics; a non-numeric target is refused', () => {
    const path = writeCsv('los.csv');
    const columns = { label: 'los', ignore: ['grade', 'f1', 'f2'] };
    const d = loadSimulationData(opts({ dataset: path, task: 'regression', target: { mean: 5, std: 2 }, columns, peers: 3 }));
    expect(d.task).toEqual({ kind: 'regression', mean: 5, std: 2 });
    const t = d.siteData[0]!.targets!;
    expect(t.length).toBe(d.siteData[0]!.n);
    expect(Math.max(...t.map(Math.abs))).toBeLessThan(4); // (5 ± 5 − 5)/2
    // Without public statistics: pooled, and said so.
    const pooled = loadSimulationData(opts({ dataset: path, task: 'regression', columns, peers: 3 }));
    expect(pooled.notes.join(' ')).toMatch(/pooled training rows' mean/);
    const bad = writeCsv('los-bad.csv', (rows) => {
      rows[5]![3] = 'long';
    });
    expect(() => loadSimulationData(opts({ dataset: bad, task: 'regression', columns, peers: 3 }))).toThrow(/columns.label.*long/);
  });

  it('CSV multilabel: several 0/1 columns become the targets; a 2 is refused', () => {
    const path = writeCsv('findings.csv');
    const columns = { label: 'f1', labels: ['f1', 'f2'], ignore: ['grade', 'los'] };
    const d = loadSimulationData(opts({ dataset: path, task: 'multilabel', columns, peers: 3 }));
    expect(d.task).toEqual({ kind: 'multilabel', labels: ['f1', 'f2'] });
    expect(d.siteData[1]!.targets!.length).toBe(2 * d.siteData[1]!.n);
    const bad = writeCsv('findings-bad.csv', (rows) => {
      rows[3]![6] = '2';
    });
    expect(() => loadSimulationData(opts({ dataset: bad, task: 'multilabel', columns, peers: 3 }))).toThrow(/0 or 1/);
  });

  it('CSV text feature columns are one-hot encoded (binary and regression), a byte-order mark is ignored', () => {
    const path = join(dir, 'text.csv');
    const rows = Array.from(
      { length: 60 },
      (_, i) => `${i % 3 === 0 ? 'F' : i % 3 === 1 ? 'M' : ''},${(i * 7) % 13},${i % 2 === 0 ? 'yes' : 'no'},${50 + i}`,
    );
    writeFileSync(path, `\uFEFFsex,score,outcome,los\n${rows.join('\n')}\n`);
    const bin = loadSimulationData(opts({ dataset: path, columns: { label: 'outcome', positive: 'yes', ignore: ['los'] }, peers: 3 }));
    expect(bin.featureShape).toEqual([3]); // sex=F, sex=M, score
    expect(bin.featureNames).toEqual(['sex=F', 'sex=M', 'score']);
    expect(bin.notes.join(' ')).toMatch(/one-hot: sex/);
    const reg = loadSimulationData(opts({ dataset: path, task: 'regression', columns: { label: 'los', ignore: ['outcome'] }, peers: 3 }));
    expect(reg.featureShape).toEqual([3]);
    expect(reg.task.kind).toBe('regression');
  });

  it('RetinaMNIST .npz: 5 classes of 28×28×3 images with their own test split', () => {
    const d = loadSimulationData(
      opts({
        dataset: RETINA,
        arrays: { x: 'train_images', y: 'train_labels', xTest: 'test_images', yTest: 'test_labels' },
        task: 'multiclass',
        model: 'cnn',
      }),
    );
    expect(d.featureShape).toEqual([28, 28, 3]);
    expect(d.task).toEqual({ kind: 'multiclass', classes: ['0', '1', '2', '3', '4'] });
    expect(d.evalSets[0]!.n).toBe(400);
    expect(d.train.n).toBe(1080);
  });

  it('keepFraction makes pneumonia imbalanced (a third of the normals), train and test alike', () => {
    const d = loadSimulationData(opts({ dataset: 'pneumonia', keepFraction: [1 / 3, 1] }));
    const share = (y: Uint8Array): number => y.reduce((a, b) => a + b, 0) / y.length;
    expect(share(d.train.y)).toBeCloseTo(0.75, 2);
    expect(share(d.test.y)).toBeCloseTo(0.75, 2);
    expect(d.notes.join(' ')).toMatch(/keepFraction/);
  });

  it('options refuse a task that does not fit the data set, and misplaced task fields', () => {
    expect(() => loadSimulationData(opts({ dataset: 'breast-cancer', task: 'regression' }))).toThrow(/task.*breast-cancer supports binary/);
    expect(() => opts({ task: 'regression', classWeights: 'auto' })).toThrow(/classWeights/);
    expect(() => opts({ task: 'binary', classes: ['a', 'b'] })).toThrow(/classes/);
  });
});

describe('the centralized baseline is scored with the task metrics (real training)', () => {
  it('heart-disease 5-class: balanced accuracy, macro-F1, macro AUC and the 5×5 confusion matrix', async () => {
    const d = loadSimulationData(opts({ dataset: 'heart-disease', task: 'multiclass' }));
    const m = await centralizedBaseline(d.train, d.test, {
      model: { kind: 'logreg', inputShape: [...d.featureShape], task: d.task },
      seed: 1,
      epochs: 5,
      batchSize: 16,
      learningRate: 0.01,
      standardize: true,
      classWeights: [0.5, 1, 1, 1, 2],
    });
    expect(m.confusionMatrix).toHaveLength(5);
    expect(m.confusionMatrix!.flat().reduce((a, b) => a + b, 0)).toBe(d.test.n);
    expect(m.macroAuc).toBeGreaterThan(0.6);
    expect(m.balancedAccuracy).toBeGreaterThan(0.2);
    expect(m.perClass).toHaveLength(5);
  });

  it('regression: R² in original units', async () => {
    const path = writeCsv('los2.csv');
    const d = loadSimulationData(
      opts({ dataset: path, task: 'regression', columns: { label: 'los', ignore: ['grade', 'f1', 'f2'] }, peers: 3 }),
    );
    const m = await centralizedBaseline(d.train, d.test, {
      model: { kind: 'logreg', inputShape: [3], task: d.task },
      seed: 1,
      epochs: 60,
      batchSize: 16,
      learningRate: 0.05,
      standardize: true,
    });
    expect(m.r2).toBeGreaterThan(0.9);
    expect(m.rmse).toBeLessThan(1);
    expect(m.accuracy).toBeUndefined();
  });
});

describe('report', () => {
  it('a multiclass run shows its k×k confusion matrix and the task columns', async () => {
    const r: RoundReport = {
      round: 1,
      loss: 1.2,
      accuracy: 0.5,
      balancedAccuracy: 0.4,
      macroF1: 0.35,
      macroAuc: 0.7,
      confusionMatrix: [
        [3, 1, 0],
        [1, 2, 1],
        [0, 1, 4],
      ],
      modelHash: '0x00',
      txHash: '0x00',
      seconds: 1,
      participants: 3,
      committee: [0],
      dropouts: {},
      bytes: { sent: { min: 1, median: 1, max: 1 }, received: { min: 1, median: 1, max: 1 } },
      phases: { train: 1, aggregate: 1, adopt: 0, evaluate: 0 },
    };
    const html = await renderReport({
      title: 't',
      summary: { task: { kind: 'multiclass', classes: ['mild', 'moderate', 'severe'] }, scenario: {} },
      rounds: [r],
    });
    expect(html).toMatch(/bal\.acc/);
    expect(html).toMatch(/Confusion matrix/);
    expect(html).toMatch(/moderate/);
  });
});
