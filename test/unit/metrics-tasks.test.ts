/**
 * Known-answer tests of the task metrics (protocol/metrics.ts): every value below is computed by
 * hand in the comments, so a definition change fails here.
 */
import { describe, expect, it } from 'vitest';
import { binaryTaskMetrics, multiclassMetrics, multilabelMetrics, regressionMetrics } from '../../protocol/metrics.js';
import { balancedClassWeights, classCounts, evaluateTask } from '../../protocol/task.js';

describe('task metrics: known answers', () => {
  it('binary: sensitivity, specificity, balanced accuracy, macro-F1, AUC, Brier', () => {
    // tp=1 (0.9), fn=1 (0.4), fp=1 (0.6), tn=2.
    const m = binaryTaskMetrics([1, 1, 0, 0, 0], [0.9, 0.4, 0.6, 0.2, 0.1]);
    expect(m.confusion).toEqual({ tp: 1, fp: 1, tn: 2, fn: 1 });
    expect(m.sensitivity).toBeCloseTo(0.5, 12);
    expect(m.specificity).toBeCloseTo(2 / 3, 12);
    expect(m.balancedAccuracy).toBeCloseTo((0.5 + 2 / 3) / 2, 12);
    // F1 positive 0.5; F1 negative 2·2/(2·2+1+1) = 2/3.
    expect(m.macroF1).toBeCloseTo((0.5 + 2 / 3) / 2, 12);
    // 0.9 beats all 3 negatives, 0.4 beats 2: 5/6.
    expect(m.auc).toBeCloseTo(5 / 6, 12);
    // (0.01 + 0.36 + 0.36 + 0.04 + 0.01) / 5
    expect(m.brier).toBeCloseTo(0.156, 12);
    expect(m.loss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.4) + Math.log(0.4) + Math.log(0.8) + Math.log(0.9)) / 5, 6);
  });

  it('multi-class: k×k confusion, balanced accuracy, macro-F1, per-class sensitivity/specificity, OvR macro AUC', () => {
    const probs = [0.7, 0.2, 0.1, 0.3, 0.4, 0.3, 0.1, 0.6, 0.3, 0.2, 0.2, 0.6];
    const m = multiclassMetrics([0, 1, 2, 2], probs, ['a', 'b', 'c']);
    expect(m.confusionMatrix).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 1, 1],
    ]);
    expect(m.accuracy).toBe(0.75);
    expect(m.balancedAccuracy).toBeCloseTo((1 + 1 + 0.5) / 3, 12);
    // F1: a 1, b (p .5, r 1) 2/3, c (p 1, r .5) 2/3.
    expect(m.macroF1).toBeCloseTo((1 + 2 / 3 + 2 / 3) / 3, 12);
    expect(m.perClass!.map((c) => c.sensitivity)).toEqual([1, 1, 0.5]);
    expect(m.perClass![1]!.specificity).toBeCloseTo(2 / 3, 12);
    // OvR AUC: a 1; b 2/3; c (0.3 ties one negative: 1.5, 0.6: 2) / 4 = 0.875.
    expect(m.macroAuc).toBeCloseTo((1 + 2 / 3 + 0.875) / 3, 6);
    expect(m.loss).toBeCloseTo(-(Math.log(0.7) + Math.log(0.4) + Math.log(0.3) + Math.log(0.6)) / 4, 6);
  });

  it('multi-label: label-wise accuracy, per-label and macro AUC', () => {
    const m = multilabelMetrics([1, 0, 0, 1, 1, 1], [0.8, 0.3, 0.4, 0.7, 0.6, 0.2], ['x', 'y']);
    expect(m.n).toBe(3);
    expect(m.accuracy).toBeCloseTo(5 / 6, 12);
    expect(m.perClass!.map((c) => c.auc)).toEqual([1, 0.5]);
    expect(m.macroAuc).toBeCloseTo(0.75, 12);
  });

  it('regression: RMSE, MAE, R² (and in original units through the task)', () => {
    const m = regressionMetrics([1, 2, 3, 4], [1.5, 2, 2, 5]);
    expect(m.rmse).toBeCloseTo(0.75, 12);
    expect(m.mae).toBeCloseTo(0.625, 12);
    expect(m.r2).toBeCloseTo(1 - 2.25 / 5, 12);
    // Standardised with mean 10, std 2: targets (v − 10)/2; predictions mapped back.
    const task = { kind: 'regression' as const, mean: 10, std: 2 };
    const std = (v: number): number => (v - 10) / 2;
    const d = { x: new Float32Array(4), y: new Uint8Array(4), n: 4, featureShape: [1], targets: Float32Array.from([1, 2, 3, 4], std) };
    const viaTask = evaluateTask(task, d, Float32Array.from([1.5, 2, 2, 5], std));
    expect(viaTask.rmse).toBeCloseTo(0.75, 5);
    expect(viaTask.r2).toBeCloseTo(0.55, 5);
  });

  it("class weights: n / (k · n_c), sklearn's 'balanced'", () => {
    expect(classCounts([0, 0, 0, 1, 2, 2], 3)).toEqual([3, 1, 2]);
    expect(balancedClassWeights([3, 1, 2])).toEqual([6 / 9, 6 / 3, 6 / 6]);
    expect(balancedClassWeights([4, 0])).toEqual([1, 0]);
  });
});
