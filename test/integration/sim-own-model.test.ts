/**
 * Issue 16 end to end through the simulator (real libp2p peers on 127.0.0.1, the in-process
 * Hardhat chain, secure aggregation): your own tfjs model saved to disk → federated 2 rounds on
 * the 5-class heart-disease task with its base layer frozen → exported → loaded back through its
 * card → predictions on the raw test rows give exactly the metrics the run reported, the card's
 * hash is the last on-chain model hash, and only the trainable weights were federated.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { loadModelWithCard, predictRows } from '../../node/ml/model-card.js';
import { saveLayersModel } from '../../node/ml/model-io.js';
import { evaluateTask } from '../../protocol/task.js';
import { loadSimulationData } from '../../simulations/datasets.js';
import { parseSimulationOptions } from '../../simulations/options.js';
import { runSimulation } from '../../simulations/simulate.js';

describe('own model: save → federate → export → predict', () => {
  it('heart-disease 5-class, frozen base, 2 rounds', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-own-sim-'));
    const m = tf.sequential();
    m.add(
      tf.layers.dense({
        name: 'base_dense',
        inputShape: [22],
        units: 12,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
    );
    m.add(
      tf.layers.dense({ name: 'head', units: 5, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    );
    await saveLayersModel(m, join(dir, 'own'));
    m.dispose();
    const o = parseSimulationOptions({
      dataset: 'heart-disease',
      task: 'multiclass',
      rounds: 2,
      modelPath: join(dir, 'own'),
      freeze: ['base'],
      standardize: 'federated',
      baseline: false,
      quiet: true,
      out: join(dir, 'run'),
    });
    const res = await runSimulation(o, () => {});
    const summary = res.summary as { final: Record<string, number>; modelSource: { federatedParameters: number; totalParameters: number } };
    expect(summary.modelSource).toMatchObject({ federatedParameters: 65, totalParameters: 341 });
    expect(res.rounds.every((r) => r.participants === 4)).toBe(true);

    const { model, card } = await loadModelWithCard(join(dir, 'run', 'model'), { allowUnbound: true });
    try {
      expect(card.modelHash).toBe(res.rounds[res.rounds.length - 1]!.modelHash);
      expect(card.task).toEqual({ kind: 'multiclass', classes: ['0', '1', '2', '3', '4'] });
      // The raw test rows (pooled over the hospitals), standardised by the card as the run did.
      const d = loadSimulationData(o);
      const probs = new Float32Array(predictRows(model, card, d.test.x, d.test.n).flatMap((p) => p.outputs));
      const m2 = evaluateTask(card.task, d.test, probs);
      expect(m2.accuracy).toBe(summary.final.accuracy);
      expect(m2.macroF1).toBe(summary.final.macroF1);
    } finally {
      model.dispose();
    }
  });
});
