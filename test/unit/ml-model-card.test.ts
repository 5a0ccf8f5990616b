/**
 * "A model you can use" (issue 16): a trained model exported as a tfjs Layers folder with its
 * card, loaded back, predictions equal to the in-process ones (features standardised with the
 * card's values; regression back in original units), CSV and .npz inputs, `fedmesh predict`
 * through the real CLI, and a card whose hash does not match the weights refused naming both.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../node/ml/backend.js';
import { exportModel, loadModelWithCard, predictionsCsv, predictRows, readPredictionInput } from '../../node/ml/model-card.js';
import { Trainer } from '../../node/ml/trainer.js';
import type { Task } from '../../protocol/task.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmesh-card-'));
const MEAN = [10, -2];
const STD = [4, 0.5];
const raw = Array.from({ length: 40 }, (_, i) => [10 + 4 * Math.sin(i), -2 + 0.5 * Math.cos(3 * i)]);
const std = Float32Array.from(raw.flatMap((r) => r.map((v, j) => (v - MEAN[j]!) / STD[j]!)));

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

async function trained(task: Task, out: string): Promise<Trainer> {
  const t = new Trainer({ kind: 'mlp', inputShape: [2], hidden: [5], task }, 4);
  const y = Uint8Array.from(raw, (r) => (r[0]! > 10 ? (task.kind === 'multiclass' && r[1]! > -2 ? 2 : 1) : 0));
  const targets = Float32Array.from(raw, (r) => (r[0]! + r[1]! - 8) / 3);
  await t.train(
    { x: std, y, n: 40, featureShape: [2], ...(task.kind === 'regression' ? { targets } : {}) },
    { epochs: 3, batchSize: 8, learningRate: 0.05, seed: 1 },
  );
  await exportModel(t.layersModel, out, {
    task,
    featureShape: [2],
    features: ['a', 'b'],
    standardize: { mean: MEAN, std: STD },
    rounds: 2,
    metrics: {},
  });
  return t;
}

describe('export and predict', () => {
  it('multiclass: loaded predictions equal the in-process ones; CSV columns by name', async () => {
    const out = join(dir, 'mc');
    const task: Task = { kind: 'multiclass', classes: ['low', 'mid', 'high'] };
    const t = await trained(task, out);
    const want = t.predict(std, 40);
    t.dispose();
    const { model, card } = await loadModelWithCard(out, { allowUnbound: true });
    const csvPath = join(dir, 'rows.csv');
    writeFileSync(csvPath, `b,ignored,a\n${raw.map((r) => `${r[1]},x,${r[0]}`).join('\n')}\n`);
    const { x, n } = readPredictionInput(csvPath, card);
    const rows = predictRows(model, card, x, n);
    model.dispose();
    rows.forEach((r, i) => {
      r.outputs.forEach((v, k) => {
        expect(Math.abs(v - want[i * 3 + k]!)).toBeLessThan(1e-5);
      });
      expect(r.predicted).toBe(task.classes[r.outputs.indexOf(Math.max(...r.outputs))]);
    });
    expect(predictionsCsv(card, rows).split('\n')[0]).toBe('low,mid,high,predicted');
  });

  it('regression: values in original units; a tampered card is refused naming both hashes', async () => {
    const out = join(dir, 'reg');
    const task: Task = { kind: 'regression', mean: 8, std: 3 };
    const t = await trained(task, out);
    const want = t.predict(std, 40);
    t.dispose();
    const { model, card } = await loadModelWithCard(out, { allowUnbound: true });
    const rows = predictRows(model, card, Float32Array.from(raw.flat()), 40);
    model.dispose();
    rows.forEach((r, i) => {
      expect(r.predicted as number).toBeCloseTo(8 + 3 * want[i]!, 4);
    });
    const cardPath = join(out, 'card.json');
    const c = JSON.parse(readFileSync(cardPath, 'utf8'));
    const real = c.modelHash;
    c.modelHash = `0x${'ab'.repeat(32)}`;
    writeFileSync(cardPath, JSON.stringify(c));
    await expect(loadModelWithCard(out, { allowUnbound: true })).rejects.toMatchObject({
      code: 'MODEL_HASH_MISMATCH',
      fields: { expected: c.modelHash, got: real },
    });
  });

  it('fedmesh predict (the CLI) writes the same CSV', async () => {
    const out = join(dir, 'cli');
    const t = await trained({ kind: 'binary' }, out);
    t.dispose();
    const csvPath = join(dir, 'cli-rows.csv');
    writeFileSync(csvPath, `a,b\n${raw.map((r) => r.join(',')).join('\n')}\n`);
    const { model, card } = await loadModelWithCard(out, { allowUnbound: true });
    const { x, n } = readPredictionInput(csvPath, card);
    const want = predictionsCsv(card, predictRows(model, card, x, n));
    model.dispose();
    const bin = new URL('../../bin/fedmesh.mjs', import.meta.url).pathname;
    const got = execFileSync(process.execPath, [bin, 'predict', '--model', out, '--data', csvPath, '--unbound'], { encoding: 'utf8' });
    expect(got).toBe(want);
    expect(() => readPredictionInput(join(dir, 'rows.csv'), { ...card, features: ['a', 'zz'] })).toThrow(/no column zz/);
  });
});
