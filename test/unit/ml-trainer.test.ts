/**
 * node/ml/trainer.ts on the wasm backend: deterministic init, exact weight round trips, typed
 * errors, learning, determinism of training, the cross-trainer mutex and tensor hygiene.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../node/ml/backend.js';
import { createModel, type LabelledData, type ModelSpec, type TrainOptions, Trainer } from '../../node/ml/trainer.js';
import { isFedmeshError } from '../../protocol/errors.js';
import type { ModelWeights } from '../../protocol/model.js';
import { createRng } from '../../protocol/rng.js';

const MLP: ModelSpec = { kind: 'mlp', inputShape: [5] };
const LOGREG: ModelSpec = { kind: 'logreg', inputShape: [5] };
const CNN: ModelSpec = { kind: 'cnn', inputShape: [28, 28, 1] };

/** Linearly separable: y = [w·x > 0], points within 0.1 of the boundary dropped. */
function separable(n: number, seed: number): LabelledData {
  const rng = createRng(seed, 'test/ml-trainer');
  const w = [1.5, -2, 0.5, 1, -0.75];
  const x = new Float32Array(n * 5);
  const y = new Uint8Array(n);
  let i = 0;
  while (i < n) {
    const row = w.map(() => rng.next() * 2 - 1);
    const s = row.reduce((acc, v, j) => acc + v * w[j]!, 0);
    if (Math.abs(s) < 0.1) continue;
    x.set(row, i * 5);
    y[i] = s > 0 ? 1 : 0;
    i++;
  }
  return { x, y, n, featureShape: [5] };
}

/** 28x28 images with one bright line: label 1 vertical, 0 horizontal. */
function bars(n: number): LabelledData {
  const x = new Float32Array(n * 784);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const vertical = i % 2 === 0;
    const at = 3 + ((i * 7) % 22);
    for (let t = 0; t < 28; t++) x[i * 784 + (vertical ? t * 28 + at : at * 28 + t)] = 1;
    y[i] = vertical ? 1 : 0;
  }
  return { x, y, n, featureShape: [28, 28, 1] };
}

function accuracy(t: Trainer, d: LabelledData): number {
  const p = t.predict(d.x, d.n);
  let ok = 0;
  for (let i = 0; i < d.n; i++) if ((p[i]! > 0.5 ? 1 : 0) === d.y[i]) ok++;
  return ok / d.n;
}

function expectSameWeights(a: ModelWeights, b: ModelWeights): void {
  expect(a.tensors.length).toBe(b.tensors.length);
  a.tensors.forEach((t, i) => {
    expect(t.shape).toEqual(b.tensors[i]!.shape);
    // Bit-exact: compare the bytes, so -0/+0 and NaN payloads would count as differences.
    expect(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)).toEqual(
      new Uint8Array(b.tensors[i]!.data.buffer, b.tensors[i]!.data.byteOffset, b.tensors[i]!.data.byteLength),
    );
  });
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

const OPTS: TrainOptions = { epochs: 2, batchSize: 16, learningRate: 0.01, seed: 7 };

beforeAll(async () => {
  const sel = await selectBackend({ prefer: 'wasm' });
  expect(sel.name).toBe('wasm');
});

describe('initial weights', () => {
  it.each([
    ['logreg', LOGREG, [[5, 1], [1]]],
    ['mlp', MLP, [[5, 16], [16], [16, 1], [1]]],
    ['cnn', CNN, [[3, 3, 1, 8], [8], [3, 3, 8, 16], [16], [400, 32], [32], [32, 1], [1]]],
  ] as const)('%s: same seed gives identical weights, with the documented shapes', (_, spec, shapes) => {
    const a = new Trainer(spec, 42);
    const b = new Trainer(spec, 42);
    const c = new Trainer(spec, 43);
    const wa = a.getWeights();
    expect(wa.tensors.map((t) => t.shape)).toEqual(shapes);
    expectSameWeights(wa, b.getWeights());
    expect(wa.tensors[0]!.data).not.toEqual(c.getWeights().tensors[0]!.data);
    for (const t of [a, b, c]) t.dispose();
  });

  it('layers of equal shape get different initial values (per-layer seeds)', () => {
    const t = new Trainer({ kind: 'mlp', inputShape: [8], hidden: [8, 8] }, 1);
    const w = t.getWeights();
    expect(w.tensors[2]!.shape).toEqual([8, 8]);
    expect(w.tensors[2]!.data).not.toEqual(w.tensors[4]!.data);
    t.dispose();
  });

  it('createModel rejects an invalid spec with a typed error naming the field', () => {
    const e = caught(() => createModel({ kind: 'cnn', inputShape: [8, 8, 1] }, 1));
    expect(isFedmeshError(e, 'TRAINER_SPEC_INVALID')).toBe(true);
    expect((e as { fields: { field: string } }).fields.field).toBe('inputShape');
  });
});

describe('setWeights', () => {
  it('round-trips exactly', () => {
    const a = new Trainer(MLP, 1);
    const source = new Trainer(MLP, 2).getWeights();
    a.setWeights(source);
    expectSameWeights(a.getWeights(), source);
    // getWeights hands out copies: mutating one must not touch the model.
    a.getWeights().tensors[0]!.data[0] = 12345;
    expectSameWeights(a.getWeights(), source);
    a.dispose();
  });

  it('rejects a shape mismatch with TRAINER_SHAPE_MISMATCH naming index, expected and got', () => {
    const t = new Trainer(MLP, 1);
    const before = t.getWeights();
    const good = before.tensors;
    const wrongShape: ModelWeights = {
      tensors: good.map((x, i) => (i === 2 ? { shape: [1, 16], data: new Float32Array(16) } : x)),
    };
    const e = caught(() => t.setWeights(wrongShape));
    expect(isFedmeshError(e, 'TRAINER_SHAPE_MISMATCH')).toBe(true);
    expect((e as { fields: unknown }).fields).toEqual({ what: 'shape', index: 2, expected: [16, 1], got: [1, 16] });

    const e2 = caught(() => t.setWeights({ tensors: good.slice(0, 3) }));
    expect((e2 as { fields: unknown }).fields).toEqual({ what: 'count', index: null, expected: [4], got: [3] });

    const shortData: ModelWeights = {
      tensors: good.map((x, i) => (i === 1 ? { shape: [16], data: new Float32Array(15) } : x)),
    };
    const e3 = caught(() => t.setWeights(shortData));
    expect((e3 as { fields: unknown }).fields).toEqual({ what: 'length', index: 1, expected: [16], got: [15] });

    // Nothing was written by the failed calls.
    expectSameWeights(t.getWeights(), before);
    t.dispose();
  });
});

describe('training', () => {
  it('an MLP learns a linearly separable problem (accuracy > 0.9)', async () => {
    const train = separable(400, 1);
    const test = separable(200, 2);
    const t = new Trainer(MLP, 3);
    const res = await t.train(train, { epochs: 20, batchSize: 32, learningRate: 0.05, seed: 4 });
    expect(res.steps).toBe(20 * Math.ceil(400 / 32));
    expect(res.loss).toBeLessThan(0.3);
    expect(res.seconds).toBeGreaterThan(0);
    expect(accuracy(t, test)).toBeGreaterThan(0.9);
    t.dispose();
  });

  it('sgd also works', async () => {
    const d = separable(200, 5);
    const t = new Trainer(LOGREG, 3);
    const first = await t.train(d, { ...OPTS, epochs: 1, learningRate: 0.5, optimizer: 'sgd' });
    const later = await t.train(d, { ...OPTS, epochs: 10, learningRate: 0.5, optimizer: 'sgd' });
    expect(later.loss).toBeLessThan(first.loss);
    t.dispose();
  });

  it('is deterministic: same weights, data and options give bit-identical results', async () => {
    const d = separable(100, 6);
    const a = new Trainer(MLP, 9);
    const b = new Trainer(MLP, 9);
    const ra = await a.train(d, OPTS);
    const rb = await b.train(d, OPTS);
    expect(ra.loss).toBe(rb.loss);
    expectSameWeights(a.getWeights(), b.getWeights());
    // A different shuffle seed gives a different trajectory.
    const c = new Trainer(MLP, 9);
    await c.train(d, { ...OPTS, seed: 8 });
    expect(c.getWeights().tensors[0]!.data).not.toEqual(a.getWeights().tensors[0]!.data);
    for (const t of [a, b, c]) t.dispose();
  });

  it('concurrent train() calls are serialised and match sequential runs', async () => {
    const d1 = separable(120, 10);
    const d2 = separable(120, 11);
    const seq = [new Trainer(MLP, 1), new Trainer(MLP, 2)];
    await seq[0]!.train(d1, OPTS);
    await seq[1]!.train(d2, OPTS);
    const par = [new Trainer(MLP, 1), new Trainer(MLP, 2)];
    const p0 = par[0]!.train(d1, OPTS);
    const p1 = par[1]!.train(d2, OPTS);
    // While a run is pending or in progress its trainer refuses setWeights.
    const busy = caught(() => par[1]!.setWeights(par[1]!.getWeights()));
    expect(isFedmeshError(busy, 'TRAINER_BUSY')).toBe(true);
    await Promise.all([p0, p1]);
    expectSameWeights(par[0]!.getWeights(), seq[0]!.getWeights());
    expectSameWeights(par[1]!.getWeights(), seq[1]!.getWeights());
    for (const t of [...seq, ...par]) t.dispose();
  });

  it('the CNN trains on wasm (custom Conv2DBackpropFilter) and its loss decreases', async () => {
    const d = bars(64);
    const t = new Trainer(CNN, 5);
    const first = await t.train(d, { epochs: 1, batchSize: 16, learningRate: 0.005, seed: 1 });
    const later = await t.train(d, { epochs: 3, batchSize: 16, learningRate: 0.005, seed: 2 });
    expect(Number.isFinite(first.loss)).toBe(true);
    expect(later.loss).toBeLessThan(first.loss);
    t.dispose();
  });

  it('rejects bad options and data with typed errors naming the field', async () => {
    const t = new Trainer(MLP, 1);
    const d = separable(10, 1);
    const field = async (p: Promise<unknown>): Promise<[string | undefined, unknown]> => {
      try {
        await p;
      } catch (e) {
        return [(e as { code?: string }).code, (e as { fields: { field: unknown } }).fields.field];
      }
      return [undefined, undefined];
    };
    expect(await field(t.train(d, { ...OPTS, batchSize: 0 }))).toEqual(['TRAINER_OPTIONS_INVALID', 'batchSize']);
    expect(await field(t.train(d, { ...OPTS, learningRate: Number.NaN }))).toEqual(['TRAINER_OPTIONS_INVALID', 'learningRate']);
    expect(await field(t.train({ ...d, featureShape: [4] }, OPTS))).toEqual(['TRAINER_DATA_INVALID', 'featureShape']);
    expect(await field(t.train({ ...d, y: Uint8Array.from(d.y, () => 2) }, OPTS))).toEqual(['TRAINER_DATA_INVALID', 'y[0]']);
    t.dispose();
    expect(await field(t.train(d, OPTS))).toEqual(['TRAINER_DISPOSED', undefined]);
  });
});

describe('memory', () => {
  it('train, predict, getWeights and setWeights leave tf.memory().numTensors flat', async () => {
    for (const spec of [MLP, CNN]) {
      const d = spec === CNN ? bars(8) : separable(40, 3);
      const base = tf.memory().numTensors;
      const t = new Trainer(spec, 1);
      const cycle = async (): Promise<void> => {
        await t.train(d, { epochs: 1, batchSize: 4, learningRate: 0.01, seed: 1 });
        t.predict(d.x, d.n);
        t.setWeights(t.getWeights());
      };
      await cycle(); // warm-up: lazily created state (none expected, but do not depend on it)
      const withModel = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) await cycle();
      expect(tf.memory().numTensors).toBe(withModel);
      t.dispose();
      expect(tf.memory().numTensors).toBe(base);
    }
  });
});
