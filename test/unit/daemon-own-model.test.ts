/**
 * An own tfjs model named by the manifest (issue 16 item 2, daemon side): `model: {kind: tfjs,
 * path, sourceHash, freeze}`. The daemon, `fedmesh manifest hash` and `chain deploy` all build it
 * through `resolveModelSpec`, so they agree on the initial model hash; a model folder that does
 * not hash to `model.sourceHash` is refused at start-up naming both hashes; the schema refuses an
 * own model without its hash and built-ins with own-model fields.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { parseManifest } from '../../protocol/manifest.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { main } from '../../node/cli/main.js';
import { loadSiteData, resolveModelSpec } from '../../node/daemon/setup.js';
import { initialModelHash } from '../../node/manifest/initial-model.js';
import { artifactsHash, readModelArtifacts, saveLayersModel } from '../../node/ml/model-io.js';
import { Trainer } from '../../node/ml/trainer.js';

afterEach(() => vi.restoreAllMocks());

/** A folder with manifest.json, own/ (Dense 2→4 `base_dense` + 4→3 softmax `head`) and site.csv. */
async function federationFolder(): Promise<{ dir: string; manifestPath: string; manifest: ReturnType<typeof parseManifest> }> {
  const dir = mkdtempSync(join(tmpdir(), 'fm-own-'));
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [2],
        units: 4,
        activation: 'relu',
        name: 'base_dense',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      tf.layers.dense({ units: 3, activation: 'softmax', name: 'head', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  await saveLayersModel(model, join(dir, 'own'));
  model.dispose();
  const manifest = parseManifest({
    version: 1,
    federation: 'own-model',
    seed: 1,
    model: { kind: 'tfjs', path: 'own', sourceHash: artifactsHash(readModelArtifacts(join(dir, 'own'))), freeze: ['base'] },
    features: [
      { name: 'f1', kind: 'numeric' },
      { name: 'f2', kind: 'numeric' },
    ],
    label: { name: 'grade', positive: 'b', negatives: ['a', 'c'] },
    task: { kind: 'multiclass', classes: ['a', 'b', 'c'] },
    rounds: 1,
    training: { localEpochs: 1, batchSize: 4, learningRate: 0.05 },
    committee: { size: 3, threshold: 2 },
  });
  const manifestPath = join(dir, 'manifest.json');
  writeFileSync(manifestPath, JSON.stringify(manifest));
  writeFileSync(join(dir, 'site.csv'), 'f1,f2,grade\n-2,0,a\n2,0,b\n0,2,c\n-2,0.5,a\n2,0.5,b\n0,2.5,c\n');
  return { dir, manifestPath, manifest };
}

describe('own tfjs model named by the manifest, in the daemon path', () => {
  it('builds the frozen own model (only the head federated) and trains it on daemon-loaded multiclass data', async () => {
    const { dir, manifestPath, manifest } = await federationFolder();
    const trainer = new Trainer(await resolveModelSpec(manifest, manifestPath), manifest.seed);
    try {
      expect(trainer.getWeights().tensors.map((t) => t.shape)).toEqual([[4, 3], [3]]);
      const { data } = loadSiteData({ kind: 'csv', path: join(dir, 'site.csv'), missing: 'drop', maxBadRowFraction: 0 }, manifest);
      const before = trainer.layersModel.getLayer('base_dense').getWeights()[0]!.dataSync().slice();
      await trainer.train(data, { epochs: 2, batchSize: 3, learningRate: 0.05, seed: 1 });
      expect(Array.from(trainer.layersModel.getLayer('base_dense').getWeights()[0]!.dataSync())).toEqual(Array.from(before));
    } finally {
      trainer.dispose();
    }
  });

  it('`fedmesh manifest hash`, initialModelHash (chain deploy) and the daemon agree on the initial model hash', async () => {
    const { manifestPath, manifest } = await federationFolder();
    const trainer = new Trainer(await resolveModelSpec(manifest, manifestPath), manifest.seed);
    const daemonHash = toHex0x(modelHash(trainer.getWeights()));
    trainer.dispose();
    expect(await initialModelHash(manifest, manifestPath)).toBe(daemonHash);
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out += String(s);
      return true;
    });
    expect(await main(['manifest', 'hash', manifestPath])).toBe(0);
    expect(out).toContain(`initialModelHash ${daemonHash}`);
  });

  it('refuses a model folder that is not the one model.sourceHash names, naming both hashes', async () => {
    const { dir, manifestPath, manifest } = await federationFolder();
    const weights = join(dir, 'own', 'weights.bin');
    const bytes = readFileSync(weights);
    bytes[0] = bytes[0]! ^ 0x40;
    writeFileSync(weights, bytes);
    const err = await resolveModelSpec(manifest, manifestPath).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'NODE_MODEL_SOURCE_MISMATCH',
      fields: { field: 'model.sourceHash', expected: manifest.model.sourceHash },
    });
    const actual = (err as { fields: { actual: string } }).fields.actual;
    expect(actual).not.toBe(manifest.model.sourceHash);
    expect((err as Error).message).toContain(actual);
  });

  it('the schema wants path and sourceHash with kind tfjs, and none of the own-model fields on built-ins', async () => {
    const { manifest } = await federationFolder();
    const { sourceHash: _, ...noHash } = manifest.model;
    expect(() => parseManifest({ ...manifest, model: noHash })).toThrow(
      expect.objectContaining({
        code: 'MANIFEST_INVALID',
        fields: { issues: [{ field: 'model.sourceHash', rule: "required with kind 'tfjs'" }] },
      }),
    );
    expect(() => parseManifest({ ...manifest, model: { kind: 'mlp', freeze: ['base'] } })).toThrow(/model\.freeze: only with kind 'tfjs'/);
  });
});
