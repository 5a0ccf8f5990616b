/**
 * Your own tfjs Layers model (issue 16): model.json + weights written and read back from disk,
 * checked against the federation (input shape, output head), transfer learning with frozen
 * layers (only trainable weights federated, frozen weights bit-identical after plain and DP-SGD
 * training, DP per-example gradients of the trainable part against autodiff), unsupported layers
 * refused at start-up by name, and a tampered weight file refused.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../node/ml/backend.js';
import { PerExampleGradients } from '../../node/ml/dp-sgd.js';
import { artifactsHash, loadLayersModel, readModelArtifacts, saveLayersModel } from '../../node/ml/model-io.js';
import { type LabelledData, type LayersSource, perExampleLoss, Trainer } from '../../node/ml/trainer.js';
import { parameterCount } from '../../protocol/model.js';
import { createRng } from '../../protocol/rng.js';
import { type Task, targetsOf } from '../../protocol/task.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmesh-own-model-'));
const MC: Task = { kind: 'multiclass', classes: ['a', 'b', 'c'] };

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

/** A small CNN as a data-science team would save it: base_* feature layers and a head. */
function teamModel(units = 3, activation: 'softmax' | 'sigmoid' | 'tanh' = 'softmax', extra?: tf.layers.Layer): tf.Sequential {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({
      name: 'base_conv',
      inputShape: [8, 8, 1],
      filters: 3,
      kernelSize: 3,
      activation: 'relu',
      kernelInitializer: init(1),
    }),
  );
  m.add(tf.layers.maxPooling2d({ name: 'base_pool', poolSize: 2 }));
  m.add(tf.layers.flatten({ name: 'base_flat' }));
  if (extra !== undefined) m.add(extra);
  m.add(tf.layers.dense({ name: 'base_dense', units: 6, activation: 'relu', kernelInitializer: init(2) }));
  m.add(tf.layers.dense({ name: 'head', units, activation, kernelInitializer: init(3) }));
  return m;
}

async function saved(name: string, m: tf.LayersModel): Promise<string> {
  const path = join(dir, name);
  await saveLayersModel(m, path);
  m.dispose();
  return path;
}

/** A synchronous source: copies loaded up front (tfjs loads models asynchronously). */
async function source(path: string, copies: number, freeze?: string[]): Promise<LayersSource> {
  const arts = readModelArtifacts(path);
  const pool = await Promise.all(Array.from({ length: copies }, () => loadLayersModel(arts)));
  return { build: () => pool.pop()!, hash: artifactsHash(arts), ...(freeze ? { freeze } : {}) };
}

function images(n: number, seed: number): LabelledData {
  const rng = createRng(seed, 'test/own-model');
  const x = Float32Array.from({ length: n * 64 }, () => rng.next());
  const y = Uint8Array.from({ length: n }, (_, i) => {
    const s = x.subarray(i * 64, i * 64 + 32).reduce((a, b) => a + b, 0) - x.subarray(i * 64 + 32, (i + 1) * 64).reduce((a, b) => a + b, 0);
    return s < -1 ? 0 : s < 1 ? 1 : 2;
  });
  return { x, y, n, featureShape: [8, 8, 1] };
}

describe('own tfjs model', () => {
  it('round-trips through disk: same predictions, stable hash; a tampered or truncated weight file is refused', async () => {
    const m = teamModel();
    const x = tf.tensor(images(4, 1).x, [4, 8, 8, 1]);
    const before = (m.predict(x) as tf.Tensor).dataSync().slice();
    const path = await saved('roundtrip', m);
    const arts = readModelArtifacts(path);
    const back = await loadLayersModel(arts);
    expect(Array.from((back.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(before));
    back.dispose();
    x.dispose();
    expect(artifactsHash(readModelArtifacts(path))).toBe(artifactsHash(arts));
    const bin = readFileSync(join(path, 'weights.bin'));
    bin[10] = bin[10]! ^ 1;
    writeFileSync(join(path, 'weights.bin'), bin);
    expect(artifactsHash(readModelArtifacts(path))).not.toBe(artifactsHash(arts));
    writeFileSync(join(path, 'weights.bin'), bin.subarray(0, bin.length - 4));
    expect(() => readModelArtifacts(path)).toThrow(/weight specs need \d+ bytes/);
  });

  it('transfer learning: only trainable weights are federated; frozen layers stay bit-identical (plain and DP-SGD)', async () => {
    const path = await saved('tl', teamModel());
    const full = new Trainer({ kind: 'tfjs', inputShape: [8, 8, 1], task: MC, layers: await source(path, 1) }, 0);
    const tl = new Trainer({ kind: 'tfjs', inputShape: [8, 8, 1], task: MC, layers: await source(path, 2, ['base']) }, 0);
    try {
      expect(tl.getWeights().tensors.map((t) => t.shape)).toEqual([[6, 3], [3]]);
      expect(parameterCount(tl.getWeights())).toBeLessThan(parameterCount(full.getWeights()) / 3);
      const frozen = () =>
        tl.layersModel.layers.filter((l) => l.name.startsWith('base')).flatMap((l) => l.getWeights().map((w) => Array.from(w.dataSync())));
      const frozenBefore = frozen();
      const headBefore = tl.getWeights();
      const d = images(64, 2);
      await tl.train(d, { epochs: 2, batchSize: 16, learningRate: 0.05, seed: 1 });
      await tl.train(d, {
        epochs: 1,
        batchSize: 16,
        learningRate: 0.05,
        seed: 2,
        dp: { noiseMultiplier: 1, clipNorm: 1, sampleRate: 0.25, randomness: 'seeded' },
      });
      expect(frozen()).toEqual(frozenBefore);
      expect(Array.from(tl.getWeights().tensors[0]!.data)).not.toEqual(Array.from(headBefore.tensors[0]!.data));
      // setWeights writes the trainable part only, and round-trips.
      tl.setWeights(headBefore);
      expect(tl.getWeights()).toEqual(headBefore);
    } finally {
      full.dispose();
      tl.dispose();
    }
  });

  it('DP-SGD per-example gradients of the trainable part match autodiff with frozen layers', async () => {
    const path = await saved('tl-dp', teamModel());
    const model = (await source(path, 1)).build();
    for (const l of model.layers) if (l.name.startsWith('base_conv')) l.trainable = false;
    const pe = new PerExampleGradients(model, MC);
    const d = images(6, 3);
    const t = targetsOf(d, MC);
    try {
      expect(pe.variables).toHaveLength(4); // base_dense and head: kernel + bias each
      const res = tf.tidy(() => pe.clippedSum(tf.tensor(d.x, [6, 8, 8, 1]), tf.tensor2d(t, [6, 3]), 1e6));
      const sums = res.sums.map((s) => s.dataSync());
      tf.dispose([...res.sums, res.norms, res.lossSum]);
      const want = tf.tidy(() => {
        const { grads } = tf.variableGrads(
          () => tf.sum(perExampleLoss(MC, tf.tensor2d(t, [6, 3]), model.apply(tf.tensor(d.x, [6, 8, 8, 1])) as tf.Tensor)) as tf.Scalar,
          pe.variables as tf.Variable[],
        );
        return pe.variables.map((v) => grads[v.name]!.dataSync());
      });
      sums.forEach((s, k) => {
        s.forEach((v, j) => {
          expect(Math.abs(v - want[k]![j]!)).toBeLessThan(1e-4 * (Math.abs(want[k]![j]!) + 1e-2));
        });
      });
    } finally {
      pe.dispose();
      model.dispose();
    }
  });

  it('refused at start-up with typed errors naming the field or the layer', async () => {
    const spec = async (path: string, extra: Record<string, unknown> = {}) => ({
      kind: 'tfjs' as const,
      inputShape: [8, 8, 1],
      task: MC,
      layers: await source(path, 1),
      ...extra,
    });
    const ok = await saved('ok', teamModel());
    await expect(async () => new Trainer({ ...(await spec(ok)), inputShape: [30] }, 0)).rejects.toMatchObject({
      code: 'TRAINER_SPEC_INVALID',
      fields: { field: 'model.input' },
    });
    await expect(async () => new Trainer({ ...(await spec(ok)), task: { kind: 'binary' } }, 0)).rejects.toMatchObject({
      code: 'TRAINER_SPEC_INVALID',
      fields: { field: 'model.output (layer head)' },
    });
    await expect(async () => new Trainer({ ...(await spec(ok)), layers: await source(ok, 1, ['backbone']) }, 0)).rejects.toMatchObject({
      fields: { field: 'freeze', value: 'backbone' },
    });
    const bn = await saved('bn', teamModel(3, 'softmax', tf.layers.batchNormalization({ name: 'base_bn' })));
    const t = new Trainer(await spec(bn), 0);
    expect(() => t.checkDpSupport()).toThrow(/layer \d+ "base_bn" \(BatchNormalization\): unsupported layer type/);
    t.dispose();
  });
});
