/**
 * The simulation lab's data sets dealt to sites (simulations/datasets.ts), and its report and
 * sweep outputs (simulations/report.ts, simulations/experiment.ts): real loaders on the bundled
 * data, real vega rendering.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HEART_SITES, loadHeartSite } from '../../node/data/heart-disease.js';
import { PNEUMONIA_MNIST_NPZ } from '../../node/data/medmnist.js';
import { loadSimulationData } from '../../simulations/datasets.js';
import { meanSd } from '../../simulations/experiment.js';
import { ConfigError, parseSimulationOptions } from '../../simulations/options.js';
import { renderReport } from '../../simulations/report.js';
import type { RoundReport } from '../../simulations/simulate.js';

const opts = (o: Record<string, unknown>) => parseSimulationOptions(o);
const labelShare = (y: Uint8Array): number => y.reduce((a, b) => a + b, 0) / y.length;

describe('simulation data sets', () => {
  it('heart-disease by-site: peer k holds hospital k (80 % of its rows), evaluated on its own 20 %', () => {
    const d = loadSimulationData(opts({ dataset: 'heart-disease' }));
    const sizes = HEART_SITES.map((s) => loadHeartSite(s).n);
    expect(d.siteData).toHaveLength(4);
    expect(d.evalSets).toHaveLength(4);
    d.siteData.forEach((s, k) => {
      expect(s.n + d.evalSets[k]!.n).toBe(sizes[k]);
      expect(d.evalSets[k]!.n).toBeGreaterThanOrEqual(Math.floor(0.2 * sizes[k]!) - 1);
      expect(s.featureShape).toEqual([22]);
    });
    // Switzerland is ~94 % positive and Hungary ~36 %: by-site is the natural non-IID split.
    expect(labelShare(d.siteData[2]!.y)).toBeGreaterThan(0.85);
    expect(labelShare(d.siteData[1]!.y)).toBeLessThan(0.45);
    expect(d.notes[0]).toMatch(/imputed/);
  });

  it('dirichlet:0.1 skews labels across sites far more than iid', () => {
    const spreadOf = (partition: string): number => {
      const shares = loadSimulationData(opts({ partition, peers: 8 })).siteData.map((s) => labelShare(s.y));
      return Math.max(...shares) - Math.min(...shares);
    };
    expect(spreadOf('iid')).toBeLessThan(0.1);
    expect(spreadOf('dirichlet:0.1')).toBeGreaterThan(0.5);
  });

  it('pneumonia: 28×28×1 images in [0, 1], its own test split, no standardisation', () => {
    const d = loadSimulationData(opts({ dataset: 'pneumonia', peers: 8 }));
    expect(d.featureShape).toEqual([28, 28, 1]);
    expect(d.standardized).toBe(false);
    expect(d.siteData.reduce((a, s) => a + s.n, 0)).toBe(2428);
    expect(d.evalSets[0]!.n).toBe(468);
    expect(d.siteData[0]!.x.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('a .npz path with array names goes through the same loader', () => {
    const d = loadSimulationData(
      opts({
        dataset: PNEUMONIA_MNIST_NPZ,
        model: 'cnn',
        peers: 2,
        arrays: { x: 'val_images', y: 'val_labels', xTest: 'test_images', yTest: 'test_labels' },
      }),
    );
    expect(d.siteData.reduce((a, s) => a + s.n, 0)).toBe(270);
    expect(d.featureShape).toEqual([28, 28, 1]);
    expect(() =>
      loadSimulationData(opts({ dataset: PNEUMONIA_MNIST_NPZ, model: 'cnn', peers: 2, arrays: { x: 'nope', y: 'val_labels' } })),
    ).toThrow(ConfigError);
  });

  it('a CSV path with a column mapping: label, positive value, ignored columns, median imputation', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-csv-'));
    const file = join(dir, 'site.csv');
    const rows = ['id,age,bp,outcome'];
    for (let i = 0; i < 40; i++) rows.push(`${i},${30 + i},${i % 7 === 0 ? '?' : 100 + i},${i % 2 === 0 ? 'sick' : 'well'}`);
    writeFileSync(file, `${rows.join('\n')}\n`);
    const d = loadSimulationData(opts({ dataset: file, peers: 2, columns: { label: 'outcome', positive: 'sick', ignore: ['id'] } }));
    expect(d.featureShape).toEqual([2]);
    expect(d.train.n + d.test.n).toBe(40);
    expect(labelShare(d.train.y)).toBeCloseTo(0.5, 1);
    expect(() => loadSimulationData(opts({ dataset: file, peers: 2, columns: { label: 'nope', positive: 'sick' } }))).toThrow(
      /columns.label/,
    );
    expect(() => loadSimulationData(opts({ dataset: join(dir, 'missing.csv'), peers: 2, columns: { label: 'a', positive: 'b' } }))).toThrow(
      /file not found/,
    );
  });
});

function round(r: number, extra: Partial<RoundReport> = {}): RoundReport {
  return {
    round: r,
    accuracy: 0.9 + r / 100,
    auc: 0.95,
    f1: 0.9,
    precision: 0.9,
    recall: 0.9,
    loss: 0.3,
    confusion: { tp: 10, fp: 1, tn: 20, fn: 2 },
    modelHash: `0x${'ab'.repeat(32)}`,
    txHash: `0x${'cd'.repeat(32)}`,
    seconds: 1.5,
    participants: 4,
    committee: [0, 1, 2],
    dropouts: {},
    bytes: { sent: { min: 1, median: 2, max: 3 }, received: { min: 4, median: 5, max: 6 } },
    phases: { train: 1, aggregate: 0.3, adopt: 0.1, evaluate: 0.1 },
    ...extra,
  };
}

describe('report.html', () => {
  it('renders every chart to inline SVG with vega, and the privacy chart when DP is on', async () => {
    const summary = { centralized: { accuracy: 0.97, auc: 0.99 }, scenario: { peers: 4 } };
    const html = await renderReport({ title: 't <x>', summary, rounds: [round(1, { epsilon: 0.5 }), round(2, { epsilon: 0.8 })] });
    expect(html.match(/<svg/g)).toHaveLength(5);
    expect(html).toContain('t &#60;x&#62;');
    expect(html).toContain('Confusion matrix');
    expect(html).toContain('Privacy spent');
    expect(html).not.toMatch(/<script/);
    const noDp = await renderReport({ title: 't', summary, rounds: [round(1)] });
    expect(noDp.match(/<svg/g)).toHaveLength(4);
    expect(noDp).toContain('DP is off');
  });

  it('meanSd: sample standard deviation', () => {
    expect(meanSd([1, 2, 3, 4])).toEqual({ mean: 2.5, sd: Math.sqrt(5 / 3), n: 4 });
    expect(meanSd([0.9])).toEqual({ mean: 0.9, sd: 0, n: 1 });
  });
});
