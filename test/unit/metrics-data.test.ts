import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fitStandardizer, partitionIid, standardize, stratifiedSplit } from '../../protocol/data.js';
import { isFedmeshError } from '../../protocol/errors.js';
import { aucRoc, binaryMetrics } from '../../protocol/metrics.js';
import { createRng } from '../../protocol/rng.js';
import { loadBreastCancer, parseBreastCancerCsv } from '../../node/data/breast-cancer.js';

/** O(n²) pairwise AUC, the definition: P(score+ > score−) + ½ P(tie). */
function bruteAuc(labels: number[], scores: number[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < labels.length; i++) {
    for (let j = 0; j < labels.length; j++) {
      if (labels[i] !== 1 || labels[j] !== 0) continue;
      den++;
      num += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return num / den;
}

describe('metrics', () => {
  it('AUC equals the pairwise definition, ties included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 5 })), { minLength: 2, maxLength: 60 }),
        (rows) => {
          const labels = rows.map((r) => r[0]);
          const scores = rows.map((r) => r[1] / 5);
          if (!labels.includes(0) || !labels.includes(1)) return;
          expect(aucRoc(labels, scores)).toBeCloseTo(bruteAuc(labels, scores), 12);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('computes the confusion matrix and derived scores', () => {
    const m = binaryMetrics([1, 1, 1, 0, 0, 0, 0], [0.9, 0.8, 0.2, 0.7, 0.1, 0.3, 0.4]);
    expect(m.confusion).toEqual({ tp: 2, fn: 1, fp: 1, tn: 3 });
    expect(m.accuracy).toBeCloseTo(5 / 7);
    expect(m.precision).toBeCloseTo(2 / 3);
    expect(m.recall).toBeCloseTo(2 / 3);
    expect(m.f1).toBeCloseTo(2 / 3);
    expect(m.auc).toBeCloseTo(9 / 12); // 0.9 and 0.8 beat all 4 negatives, 0.2 beats one
    expect(binaryMetrics([0, 0], [0.1, 0.2]).precision).toBe(0);
  });
});

describe('data', () => {
  const all = loadBreastCancer();

  it('loads the bundled breast-cancer file (569 rows, 212 malignant as label 1)', () => {
    expect(all.n).toBe(569);
    expect(all.featureShape).toEqual([30]);
    expect(all.y.reduce((s, v) => s + v, 0)).toBe(212);
  });

  it('names the line and column of a bad cell', () => {
    try {
      parseBreastCancerCsv(`1,30\n${Array(29).fill('1').join(',')},x,0`);
      expect.unreachable();
    } catch (e) {
      expect(isFedmeshError(e, 'DATA_PARSE')).toBe(true);
      expect((e as { fields: unknown }).fields).toMatchObject({ line: 2, column: 30, value: 'x' });
    }
  });

  it('splits 80/20 stratified, reproducibly from the seed', () => {
    const a = stratifiedSplit(all.y, 0.2, createRng(1));
    const b = stratifiedSplit(all.y, 0.2, createRng(1));
    expect(a).toEqual(b);
    expect(a.test.length).toBe(Math.round(212 * 0.2) + Math.round(357 * 0.2));
    expect(new Set([...a.train, ...a.test]).size).toBe(569);
    const posFrac = (idx: number[]) => idx.filter((i) => all.y[i] === 1).length / idx.length;
    expect(Math.abs(posFrac(a.test) - posFrac(a.train))).toBeLessThan(0.01);
    expect(stratifiedSplit(all.y, 0.2, createRng(2)).test).not.toEqual(a.test);
  });

  it('partitions rows disjointly over peers, every peer with both classes', () => {
    const rows = Array.from({ length: 455 }, (_, i) => i);
    const parts = partitionIid(rows, all.y, 8, createRng(3));
    expect(parts.flat().sort((x, y) => x - y)).toEqual(rows);
    for (const p of parts) {
      expect(p.length).toBeGreaterThanOrEqual(56);
      expect(p.some((r) => all.y[r] === 1) && p.some((r) => all.y[r] === 0)).toBe(true);
    }
  });

  it('standardises with the site’s own mean and std', () => {
    const s = fitStandardizer(all);
    const z = standardize(all, s);
    const col0 = Array.from({ length: z.n }, (_, i) => z.x[i * 30]!);
    const mean = col0.reduce((a, b) => a + b, 0) / z.n;
    const sd = Math.sqrt(col0.reduce((a, b) => a + (b - mean) ** 2, 0) / z.n);
    expect(mean).toBeCloseTo(0, 4);
    expect(sd).toBeCloseTo(1, 4);
  });
});
