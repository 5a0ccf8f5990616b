/**
 * The daemon's data path per task (issue 16): node/data/csv.ts reads the label as the manifest's
 * task says (a class column with task.classes, several 0/1 columns, a numeric target standardised
 * with the manifest's PUBLIC mean/std), `modelSpecOf` builds the matching head, and a file that
 * disagrees with the task is refused at start-up with DATA_BAD_LABEL naming the manifest field.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../protocol/manifest.js';
import { outputUnits, targetsOf, taskOfManifest } from '../../protocol/task.js';
import { loadSiteData, modelSpecOf } from '../../node/daemon/setup.js';
import { parseCsv } from '../../node/data/csv.js';
import { loadPngFolder } from '../../node/data/png-folder.js';
import { createModel } from '../../node/ml/trainer.js';

const base = {
  version: 1,
  federation: 'tasks-test',
  seed: 3,
  model: { kind: 'mlp', hidden: [4] },
  features: [
    { name: 'age', kind: 'numeric' },
    { name: 'bp', kind: 'numeric' },
  ],
  rounds: 2,
  training: { localEpochs: 1, batchSize: 4, learningRate: 0.01 },
  committee: { size: 3, threshold: 2 },
};
const multiclass = parseManifest({
  ...base,
  label: { name: 'stage', positive: 'II', negatives: ['I', 'III'] },
  task: { kind: 'multiclass', classes: ['I', 'II', 'III'] },
});
const multilabel = parseManifest({
  ...base,
  label: { name: 'effusion', positive: '1', negatives: ['0'] },
  task: { kind: 'multilabel', labels: ['effusion', 'edema'] },
});
const regression = parseManifest({
  ...base,
  label: { name: 'stay', positive: '1', negatives: ['0'] },
  task: { kind: 'regression', mean: 5, std: 2 },
});
const opts = { missing: 'drop' as const };

describe('daemon CSV loader per task', () => {
  it('multiclass: the class column indexes task.classes (output order), values mapped or numerically equal', () => {
    const { data } = parseCsv('age,bp,stage\n50,120,III\n60,130,I\n70,140,II\n', multiclass, opts);
    expect(Array.from(data.y)).toEqual([2, 0, 1]);
    expect(data.targets).toBeUndefined();
    expect(Array.from(targetsOf(data, taskOfManifest(multiclass)))).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
    const mapped = parseCsv('age,bp,stage\n50,120,3\n60,130,1\n', multiclass, {
      ...opts,
      values: { stage: { '1': 'I', '2': 'II', '3': 'III' } },
    });
    expect(Array.from(mapped.data.y)).toEqual([2, 0]);
  });

  it('multilabel: one 0/1 column per task.labels entry, renamed through data.columns; y is the first label', () => {
    const { data } = parseCsv('age,bp,eff,edema\n50,120,1,0\n60,130,0,1\n70,140,1,1\n', multilabel, {
      ...opts,
      columns: { effusion: 'eff' },
    });
    expect(Array.from(data.targets!)).toEqual([1, 0, 0, 1, 1, 1]);
    expect(Array.from(data.y)).toEqual([1, 0, 1]);
  });

  it("regression: the numeric target is standardised with the manifest's public mean and std, not the site's", () => {
    const { data } = parseCsv('age,bp,stay\n50,120,5\n60,130,9\n70,140,1\n', regression, opts);
    // (v − 5) / 2 whatever the site's own mean (5) and deviation (3.27) are.
    expect(Array.from(data.targets!)).toEqual([0, 2, -2]);
    expect(Array.from(data.y)).toEqual([2, 3, 0]);
  });

  it('a missing label cell drops the row; a bad one is a listed bad row naming the rule', () => {
    const { data, report } = parseCsv(
      `age,bp,stay\n${Array.from({ length: 30 }, (_, i) => `${40 + i},120,${i % 7}`).join('\n')}\n50,120,NA\n50,120,long\n`,
      regression,
      opts,
    );
    expect(data.n).toBe(30);
    expect(report.droppedMissing).toBe(1);
    expect(report.badRows).toEqual([{ line: 33, column: 'stay', value: 'long', reason: 'not a number (a regression target)' }]);
  });

  it('refuses a file whose labels disagree with the task: DATA_BAD_LABEL names the manifest field, the value and the line', () => {
    // A binary-coded file under a multiclass manifest.
    expect(() => parseCsv('age,bp,stage\n50,120,yes\n60,130,no\n', multiclass, opts)).toThrow(
      expect.objectContaining({
        code: 'DATA_BAD_LABEL',
        fields: expect.objectContaining({
          field: 'task.classes',
          value: 'yes',
          line: 2,
          // Listed as DATA_PARSE lists them, so `fedmesh data check` shows every row.
          badRowCount: 2,
          badRows: [expect.objectContaining({ line: 2, column: 'stage', value: 'yes' }), expect.objectContaining({ line: 3, value: 'no' })],
        }),
      }),
    );
    // A multilabel column holding a count.
    expect(() => parseCsv('age,bp,effusion,edema\n50,120,2,0\n', multilabel, opts)).toThrow(
      expect.objectContaining({ code: 'DATA_BAD_LABEL', fields: expect.objectContaining({ field: 'task.labels', value: '2' }) }),
    );
    // A categorical target under a regression manifest.
    expect(() => parseCsv('age,bp,stay\n50,120,short\n', regression, opts)).toThrow(
      expect.objectContaining({ code: 'DATA_BAD_LABEL', fields: expect.objectContaining({ field: 'label.name', value: 'short' }) }),
    );
    // A missing multilabel column: the schema error names the column.
    expect(() => parseCsv('age,bp,effusion\n50,120,1\n', multilabel, opts)).toThrow(
      expect.objectContaining({ code: 'DATA_PARSE', fields: expect.objectContaining({ column: 'edema' }) }),
    );
  });

  it('loadSiteData keeps the targets through standardisation, and modelSpecOf builds the head the task needs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-tasks-'));
    const path = join(dir, 'site.csv');
    writeFileSync(path, 'age,bp,effusion,edema\n50,120,1,0\n60,130,0,1\n70,150,1,1\n');
    const { data } = loadSiteData({ kind: 'csv', path, missing: 'drop', maxBadRowFraction: 0.05 }, multilabel);
    expect(Array.from(data.targets!)).toEqual([1, 0, 0, 1, 1, 1]);
    for (const [m, units, activation] of [
      [multiclass, 3, 'softmax'],
      [multilabel, 2, 'sigmoid'],
      [regression, 1, 'linear'],
    ] as const) {
      const spec = modelSpecOf(m);
      expect(spec.task).toEqual(taskOfManifest(m));
      const model = createModel(spec, m.seed);
      const last = model.layers[model.layers.length - 1]!.getConfig();
      expect([model.outputs[0]!.shape[1], last.activation]).toEqual([units, activation]);
      expect(outputUnits(taskOfManifest(m))).toBe(units);
      model.dispose();
    }
  });
});

describe('daemon PNG folders per task', () => {
  const png = (file: string): void => {
    const p = new PNG({ width: 10, height: 10 });
    p.data.fill(128);
    writeFileSync(file, PNG.sync.write(p));
  };
  const images = { ...base, features: undefined, imageShape: [10, 10, 1], model: { kind: 'cnn' } };

  it('multiclass: folder names are task.classes, y their index; an unknown folder names task.classes', () => {
    const m = parseManifest({
      ...images,
      label: { name: 'grade', positive: 'b', negatives: ['a', 'c'] },
      task: { kind: 'multiclass', classes: ['a', 'b', 'c'] },
    });
    const dir = mkdtempSync(join(tmpdir(), 'fm-png-'));
    for (const c of ['c', 'a']) {
      mkdirSync(join(dir, c));
      png(join(dir, c, '0.png'));
    }
    expect(Array.from(loadPngFolder(dir, m).data.y)).toEqual([0, 2]);
    mkdirSync(join(dir, 'd'));
    expect(() => loadPngFolder(dir, m)).toThrow(
      expect.objectContaining({ code: 'DATA_BAD_LABEL', fields: expect.objectContaining({ field: 'task.classes', value: 'd' }) }),
    );
  });

  it('refuses a regression task on a folder (no per-image target), naming task.kind', () => {
    const m = parseManifest({
      ...images,
      label: { name: 'v', positive: '1', negatives: ['0'] },
      task: { kind: 'regression', mean: 0, std: 1 },
    });
    const dir = mkdtempSync(join(tmpdir(), 'fm-png-'));
    expect(() => loadPngFolder(dir, m)).toThrow(
      expect.objectContaining({ code: 'DATA_BAD_LABEL', fields: expect.objectContaining({ field: 'task.kind', value: 'regression' }) }),
    );
  });
});
