/**
 * Issue 16 tasks on the wasm backend: multi-class (softmax), multi-label (sigmoids) and
 * regression (linear) heads through the trainer and DP-SGD — per-example gradients against the
 * autodiff one-example-at-a-time loop, weighted (class-weight) losses, real training that learns,
 * typed refusals of bad labels and targets.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../node/ml/backend.js';
import { PerExampleGradients } from '../../node/ml/dp-sgd.js';
import { createModel, type LabelledData, perExampleLoss, Trainer } from '../../node/ml/trainer.js';
import { createRng } from '../../protocol/rng.js';
import { evaluateTask, type Task, targetsOf } from '../../protocol/task.js';

beforeAll(async () => {
  expect((await selectBackend({ prefer: 'wasm' })).name).toBe('wasm');
});

const MULTICLASS: Task = { kind: 'multiclass', classes: ['a', 'b', 'c'] };
const MULTILABEL: Task = { kind: 'multilabel', labels: ['l1', 'l2'] };
const REGRESSION: Task = { kind: 'regression', mean: 10, std: 2 };

/** Separable synthetic data for `task`: the target depends on the first two features. */
function synthetic(task: Task, n: number, f: number, seed: number): LabelledData {
  const rng = createRng(seed, 'test/ml-tasks');
  const x = Float32Array.from({ length: n * f }, () => rng.next() * 4 - 2);
  const y = new Uint8Array(n);
  const targets = new Float32Array(n * (task.kind === 'multilabel' ? task.labels.length : 1));
  for (let i = 0; i < n; i++) {
    const a = x[i * f]!;
    const b = x[i * f + 1]!;
    if (task.kind === 'multiclass') y[i] = a < -0.7 ? 0 : a < 0.7 ? 1 : 2;
    else if (task.kind === 'binary') y[i] = a + b > 0 ? 1 : 0;
    else if (task.kind === 'multilabel') {
      targets[i * 2] = a > 0 ? 1 : 0;
      targets[i * 2 + 1] = b > 0 ? 1 : 0;
      y[i] = targets[i * 2]!;
    } else {
      targets[i] = 1.5 * a - 0.5 * b + 0.1 * (rng.next() - 0.5);
      y[i] = a > 0 ? 1 : 0;
    }
  }
  const withTargets = task.kind === 'multilabel' || task.kind === 'regression';
  return { x, y, n, featureShape: [f], ...(withTargets ? { targets } : {}) };
}

/** Per-example gradients the slow way: tf.variableGrads of each example's own loss through model.apply. */
function naive(
  model: tf.LayersModel,
  vars: readonly tf.Variable[],
  d: LabelledData,
  task: Task,
  w?: Float32Array,
  gamma = 0,
): Float32Array[][] {
  const f = d.x.length / d.n;
  const t = targetsOf(d, task);
  const k = t.length / d.n;
  const out: Float32Array[][] = [];
  for (let i = 0; i < d.n; i++) {
    const grads = tf.tidy(() => {
      const xi = tf.tensor(d.x.subarray(i * f, (i + 1) * f), [1, ...d.featureShape]);
      const yi = tf.tensor2d(t.subarray(i * k, (i + 1) * k), [1, k]);
      const { grads: g } = tf.variableGrads(() => {
        const l = tf.sum(perExampleLoss(task, yi, model.apply(xi) as tf.Tensor, gamma));
        return (w !== undefined ? tf.mul(l, w[i]!) : l) as tf.Scalar;
      }, vars as tf.Variable[]);
      return vars.map((v) => g[v.name]!);
    });
    out.push(grads.map((g) => g.dataSync() as Float32Array));
    tf.dispose(grads);
  }
  return out;
}

function check(task: Task, hidden: number[], clipNorm: number, weights?: Float32Array, gamma = 0): void {
  const d = synthetic(task, 16, 5, 3);
  const model = createModel({ kind: 'mlp', inputShape: [5], hidden, task }, 4);
  const pe = new PerExampleGradients(model, task, gamma);
  try {
    const ref = naive(model, pe.variables, d, task, weights, gamma);
    const refNorms = ref.map((gs) => Math.sqrt(gs.reduce((s, g) => s + g.reduce((a, v) => a + v * v, 0), 0)));
    const k = targetsOf(d, task).length / d.n;
    const res = tf.tidy(() => {
      const r = pe.clippedSum(
        tf.tensor(d.x, [d.n, 5]),
        tf.tensor2d(targetsOf(d, task), [d.n, k]),
        clipNorm,
        weights !== undefined ? tf.tensor1d(weights) : undefined,
      );
      return { sums: r.sums.map((s) => s.dataSync() as Float32Array), norms: r.norms.dataSync() as Float32Array };
    });
    refNorms.forEach((n, i) => {
      expect(Math.abs(res.norms[i]! - n)).toBeLessThan(1e-4 * n + 1e-6);
    });
    const factors = refNorms.map((n) => Math.min(1, clipNorm / n));
    expect(factors.some((c) => c < 1)).toBe(true);
    res.sums.forEach((sum, v) => {
      sum.forEach((got, j) => {
        const want = ref.reduce((s, g, i) => s + factors[i]! * g[v]![j]!, 0);
        expect(Math.abs(got - want)).toBeLessThan(1e-4 * (Math.abs(want) + 1e-2));
      });
    });
  } finally {
    pe.dispose();
    model.dispose();
  }
}

describe('DP-SGD per-example gradients match autodiff for every head', () => {
  it('softmax head (categorical cross-entropy)', () => check(MULTICLASS, [8], 0.5));
  it('linear head (squared error)', () => check(REGRESSION, [8], 0.5));
  it('multi-label sigmoids (mean per-label cross-entropy)', () => check(MULTILABEL, [8, 4], 0.3));
  it('weighted per-example losses (class weights) before clipping', () => {
    const w = Float32Array.from({ length: 16 }, (_, i) => (i % 3 === 0 ? 3 : 0.5));
    check(MULTICLASS, [6], 0.4, w);
  });

  it('focal loss (γ = 2) from the logits matches the focal loss of the probabilities, softmax and sigmoid heads', () => {
    check(MULTICLASS, [6], 0.2, undefined, 2);
    check({ kind: 'binary' }, [6], 0.2, undefined, 2);
  });

  it('the functional forward equals model.predict through softmax', () => {
    const model = createModel({ kind: 'mlp', inputShape: [5], hidden: [4], task: MULTICLASS }, 2);
    const pe = new PerExampleGradients(model, MULTICLASS);
    const d = synthetic(MULTICLASS, 6, 5, 9);
    const [ours, keras] = tf.tidy(() => {
      const xs = tf.tensor(d.x, [6, 5]);
      return [tf.softmax(pe.logits(xs)).dataSync(), (model.predict(xs) as tf.Tensor).dataSync()];
    });
    Array.from(ours!).forEach((v, i) => {
      expect(Math.abs(v - keras![i]!)).toBeLessThan(1e-6);
    });
    pe.dispose();
    model.dispose();
  });

  it('refuses a head that does not match the task, naming the rule', () => {
    const model = createModel({ kind: 'mlp', inputShape: [5], hidden: [4] }, 2); // binary head
    expect(() => new PerExampleGradients(model, MULTICLASS)).toThrow(/3-unit dense layer with softmax/);
    model.dispose();
  });
});

describe('the trainer learns every task (real training, tiny models)', () => {
  const cases: [Task, (m: Record<string, unknown>) => void][] = [
    [MULTICLASS, (m) => expect(m.accuracy as number).toBeGreaterThan(0.85)],
    [MULTILABEL, (m) => expect(m.macroAuc as number).toBeGreaterThan(0.95)],
    [REGRESSION, (m) => expect(m.r2 as number).toBeGreaterThan(0.9)],
  ];
  for (const [task, expectation] of cases) {
    it(`${task.kind}, plain and DP-SGD`, async () => {
      const train = synthetic(task, 240, 4, 1);
      const test = synthetic(task, 120, 4, 2);
      for (const dp of [false, true]) {
        const trainer = new Trainer({ kind: 'mlp', inputShape: [4], hidden: [16], task }, 1);
        try {
          const before = evaluateTask(task, test, trainer.predict(test.x, test.n));
          await trainer.train(train, {
            epochs: dp ? 15 : 30,
            batchSize: 16,
            learningRate: 0.02,
            seed: 1,
            ...(dp ? { dp: { noiseMultiplier: 0.3, clipNorm: 1, sampleRate: 0.1, randomness: 'seeded' as const } } : {}),
          });
          const p = trainer.predict(test.x, test.n);
          expect(p.length).toBe(test.n * trainer.outputs);
          const after = evaluateTask(task, test, p);
          expect(after.loss).toBeLessThan(before.loss);
          expectation(after as unknown as Record<string, unknown>);
        } finally {
          trainer.dispose();
        }
      }
    });
  }

  it('class weights move a binary model off the majority class', async () => {
    // 90 % negatives; the minority is separable only weakly. Unweighted training leans to the
    // majority; balanced weights raise sensitivity.
    const rng = createRng(5, 'test/imbalance');
    const n = 400;
    const x = new Float32Array(n * 2);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 10 === 0 ? 1 : 0;
      x[i * 2] = (y[i] === 1 ? 0.8 : 0) + (rng.next() - 0.5) * 2;
      x[i * 2 + 1] = rng.next() - 0.5;
    }
    const d: LabelledData = { x, y, n, featureShape: [2] };
    const sensitivity = async (classWeights?: number[]): Promise<number> => {
      const t = new Trainer({ kind: 'logreg', inputShape: [2] }, 1);
      try {
        await t.train(d, { epochs: 20, batchSize: 32, learningRate: 0.05, seed: 1, ...(classWeights ? { classWeights } : {}) });
        return evaluateTask({ kind: 'binary' }, d, t.predict(d.x, d.n)).sensitivity!;
      } finally {
        t.dispose();
      }
    };
    const plain = await sensitivity();
    const weighted = await sensitivity([n / (2 * 360), n / (2 * 40)]);
    expect(plain).toBeLessThan(0.4);
    expect(weighted).toBeGreaterThan(plain + 0.3);
  });
});

describe('bad labels and targets are refused with typed errors naming the field', () => {
  it('a class index outside the class list', async () => {
    const t = new Trainer({ kind: 'logreg', inputShape: [5], task: MULTICLASS }, 1);
    const d = synthetic(MULTICLASS, 8, 5, 1);
    const y = Uint8Array.from(d.y);
    y[3] = 3;
    await expect(t.train({ ...d, y }, { epochs: 1, batchSize: 4, learningRate: 0.1, seed: 1 })).rejects.toMatchObject({
      code: 'TRAINER_DATA_INVALID',
      fields: { field: 'y[3]', value: 3 },
    });
    t.dispose();
  });

  it('a non-finite regression target, and missing targets', async () => {
    const t = new Trainer({ kind: 'logreg', inputShape: [5], task: REGRESSION }, 1);
    const d = synthetic(REGRESSION, 8, 5, 1);
    const targets = Float32Array.from(d.targets!);
    targets[2] = Number.NaN;
    const opts = { epochs: 1, batchSize: 4, learningRate: 0.1, seed: 1 };
    await expect(t.train({ ...d, targets }, opts)).rejects.toMatchObject({
      code: 'TRAINER_DATA_INVALID',
      fields: { field: 'targets[2][0]' },
    });
    const { targets: _t, ...noTargets } = d;
    await expect(t.train(noTargets, opts)).rejects.toMatchObject({ code: 'TRAINER_DATA_INVALID', fields: { field: 'targets' } });
    await expect(t.train(d, { ...opts, focalGamma: 2 })).rejects.toMatchObject({
      code: 'TRAINER_OPTIONS_INVALID',
      fields: { field: 'focalGamma' },
    });
    t.dispose();
  });

  it('class weights of the wrong length, and an invalid task', async () => {
    const t = new Trainer({ kind: 'logreg', inputShape: [5], task: MULTICLASS }, 1);
    await expect(
      t.train(synthetic(MULTICLASS, 8, 5, 1), { epochs: 1, batchSize: 4, learningRate: 0.1, seed: 1, classWeights: [1, 2] }),
    ).rejects.toMatchObject({ code: 'TRAINER_OPTIONS_INVALID', fields: { field: 'classWeights' } });
    t.dispose();
    expect(() => new Trainer({ kind: 'logreg', inputShape: [5], task: { kind: 'multiclass', classes: ['a'] } }, 1)).toThrow(/task.classes/);
    expect(() => new Trainer({ kind: 'logreg', inputShape: [5], task: { kind: 'regression', mean: 0, std: 0 } }, 1)).toThrow(/task.std/);
  });
});
