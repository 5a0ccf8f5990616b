/**
 * F15 (/work/notes/redteam-findings.md): an exported model folder is verified against what the
 * chain fixes — the manifest (its hash is the contract's) and the round's record (the federated
 * weights' hash) — not against itself. `fedmesh model export` (exportVerifiedModel) writes the
 * manifest into card.json and, for an own model, its source folder; `loadModelWithCard` rebuilds
 * the network from the manifest and refuses a folder whose model.json, frozen weights, source or
 * card fields differ, each with a typed error naming both values. Every case exports a real model
 * (trained on a real CSV through the daemon's loader) and edits one file of the export as an
 * attacker would.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { hash256, toHex0x } from '../../protocol/bytes.js';
import { type FederationManifest, manifestHash, parseManifest } from '../../protocol/manifest.js';
import { encodeWeights } from '../../protocol/weights-codec.js';
import { loadSiteData, resolveModelSpec } from '../../node/daemon/setup.js';
import { selectBackend } from '../../node/ml/backend.js';
import {
  CARD_FILE,
  loadModelWithCard,
  type ModelCard,
  preprocessingHash,
  SOURCE_DIR,
  type TablePreprocessing,
} from '../../node/ml/model-card.js';
import { exportVerifiedModel } from '../../node/ml/model-export.js';
import { artifactsHash, readModelArtifacts, saveLayersModel } from '../../node/ml/model-io.js';
import { Trainer } from '../../node/ml/trainer.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmesh-card-bound-'));
beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

const BASE = {
  version: 1,
  federation: 'card-bound-test',
  seed: 5,
  features: [
    { name: 'a', kind: 'numeric' },
    { name: 'b', kind: 'numeric' },
  ],
  label: { name: 'y', positive: '1', negatives: ['0'] },
  // Public statistics: the card's preprocessing is then a function of the manifest alone.
  publicStatistics: {
    features: {
      a: { min: -1, max: 1, center: 0, scale: 0.7, fill: 0 },
      b: { min: -1, max: 1, center: 0, scale: 0.7, fill: 0 },
    },
  },
  rounds: 1,
  training: { localEpochs: 1, batchSize: 8, learningRate: 0.05 },
  committee: { size: 3, threshold: 2 },
};

const sitePath = join(dir, 'site.csv');
writeFileSync(
  sitePath,
  `a,b,y\n${Array.from({ length: 40 }, (_, i) => {
    const [a, b] = [Math.sin(i), Math.cos(3 * i)];
    return `${a},${b},${a * b > 0 ? 1 : 0}`;
  }).join('\n')}\n`,
);

/** Trains the manifest's model on the site CSV, exports it verified against a record of its weights; returns the export folder. */
async function trainAndExport(manifest: FederationManifest, manifestPath: string, name: string, exportSite = false) {
  const site = { kind: 'csv' as const, path: sitePath, missing: 'median' as const, maxBadRowFraction: 0 };
  const { data } = loadSiteData(site, manifest);
  const trainer = new Trainer(await resolveModelSpec(manifest, manifestPath), manifest.seed);
  await trainer.train(data, { epochs: 3, batchSize: 8, learningRate: 0.1, seed: 1 });
  const artifact = encodeWeights(trainer.getWeights());
  const want = trainer.predict(data.x, data.n);
  trainer.dispose();
  const out = join(dir, name);
  await exportVerifiedModel({
    manifest,
    chain: { round: 1, modelHash: toHex0x(hash256(artifact)), recordHash: `0x${'00'.repeat(32)}`, manifestHash: manifestHash(manifest) },
    artifact,
    out,
    manifestPath,
    ...(exportSite ? { siteData: site } : {}),
  });
  return { out, want, data };
}

async function predictAll(out: string, x: Float32Array, n: number, f: number): Promise<number[]> {
  const { model } = await loadModelWithCard(out);
  try {
    return Array.from((model.predict(tf.tensor2d(x, [n, f])) as tf.Tensor).dataSync());
  } finally {
    model.dispose();
  }
}

const readCard = (out: string): ModelCard => JSON.parse(readFileSync(join(out, CARD_FILE), 'utf8')) as ModelCard;
const writeCard = (out: string, c: ModelCard): void => writeFileSync(join(out, CARD_FILE), JSON.stringify(c));

describe('built-in MLP: the export is bound to the manifest (F15)', () => {
  const manifest = parseManifest({ ...BASE, model: { kind: 'mlp', hidden: [6] } });
  const manifestPath = join(dir, 'mlp-manifest.json');

  it('round trip: loads bound to the manifest, predicts as the trained model', async () => {
    const { out, want, data } = await trainAndExport(manifest, manifestPath, 'mlp-ok');
    const { model, card, verification } = await loadModelWithCard(out, { manifest });
    model.dispose();
    expect(verification).toEqual({ bound: true, modelHash: card.modelHash, manifestHash: manifestHash(manifest), siteStatistics: false });
    expect(card.manifestHash).toBe(manifestHash(manifest));
    const got = await predictAll(out, data.x, data.n, 2);
    expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-6);
  });

  it('fedmesh predict (the CLI): stderr says what was verified against which hashes; --manifest pins the manifest; an unbound card needs --unbound', async () => {
    const { out, data } = await trainAndExport(manifest, manifestPath, 'mlp-cli');
    const csv = join(dir, 'rows.csv');
    writeFileSync(csv, readFileSync(sitePath));
    const good = join(dir, 'mlp-manifest.json');
    writeFileSync(good, JSON.stringify(manifest));
    const bin = new URL('../../bin/fedmesh.mjs', import.meta.url).pathname;
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [bin, 'predict', '--model', out, '--data', csv, ...args], { encoding: 'utf8' });
    const ok = run('--manifest', good);
    expect(ok.status).toBe(0);
    expect(ok.stdout.trim().split('\n')).toHaveLength(data.n + 1);
    expect(ok.stderr).toContain(`manifest ${manifestHash(manifest)}`);
    expect(ok.stderr).toContain(`model hash ${readCard(out).modelHash}`);
    const other = parseManifest({ ...BASE, seed: 6, model: { kind: 'mlp', hidden: [6] } });
    const bad = join(dir, 'other-manifest.json');
    writeFileSync(bad, JSON.stringify(other));
    const refused = run('--manifest', bad);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('MODEL_MANIFEST_MISMATCH');
    expect(refused.stderr).toContain(manifestHash(other));
    // The same folder with the manifest taken out of its card: refused, then loaded with --unbound.
    const { manifest: _m, manifestHash: _h, ...unbound } = readCard(out);
    writeCard(out, unbound as ModelCard);
    const r = run();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('MODEL_CARD_UNBOUND');
    const u = run('--unbound');
    expect(u.status).toBe(0);
    expect(u.stderr).toMatch(/^UNBOUND /);
  }, 60_000);

  it("model.json with the hidden ReLU made linear: MODEL_ARCHITECTURE_MISMATCH naming both networks' hashes", async () => {
    const { out } = await trainAndExport(manifest, manifestPath, 'mlp-activation');
    const path = join(out, 'model.json');
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.replace('"activation":"relu"', '"activation":"linear"'));
    const err = (await loadModelWithCard(out).catch((e: unknown) => e)) as { code: string; fields: Record<string, string> };
    expect(err.code).toBe('MODEL_ARCHITECTURE_MISMATCH');
    expect(err.fields.expected).toMatch(/^0x[0-9a-f]{64}$/);
    expect(err.fields.got).toMatch(/^0x[0-9a-f]{64}$/);
    expect(err.fields.got).not.toBe(err.fields.expected);
    expect(err.fields.manifestHash).toBe(manifestHash(manifest));
  });

  it("card fields are the manifest's: a changed task, an added standardize, a manifest that is not the reader's", async () => {
    const { out } = await trainAndExport(manifest, manifestPath, 'mlp-card');
    const card = readCard(out);
    writeCard(out, { ...card, task: { kind: 'regression', mean: 0, std: 1 } });
    await expect(loadModelWithCard(out)).rejects.toMatchObject({ code: 'MODEL_CARD_MISMATCH', fields: { field: 'task' } });
    writeCard(out, { ...card, standardize: { mean: [5, 5], std: [1, 1] } });
    await expect(loadModelWithCard(out)).rejects.toMatchObject({ code: 'MODEL_CARD_MISMATCH', fields: { field: 'standardize' } });
    // A card rewritten wholesale around another manifest (hidden [7]) is consistent with itself;
    // the reader's manifest (the contract's) refuses it, naming both hashes.
    const other = parseManifest({ ...BASE, model: { kind: 'mlp', hidden: [7] } });
    writeCard(out, { ...card, manifest: other, manifestHash: manifestHash(other) });
    await expect(loadModelWithCard(out, { manifest })).rejects.toMatchObject({
      code: 'MODEL_MANIFEST_MISMATCH',
      fields: { expected: manifestHash(manifest), got: manifestHash(other) },
    });
    // Without the reader's manifest, that card's own network (hidden 7) is not the folder's.
    await expect(loadModelWithCard(out)).rejects.toMatchObject({ code: 'MODEL_ARCHITECTURE_MISMATCH' });
    // A card whose manifest does not hash to its stated manifestHash.
    writeCard(out, { ...card, manifestHash: manifestHash(other) });
    await expect(loadModelWithCard(out)).rejects.toMatchObject({
      code: 'MODEL_MANIFEST_MISMATCH',
      fields: { expected: manifestHash(other), got: manifestHash(manifest) },
    });
    writeCard(out, card);
    (await loadModelWithCard(out)).model.dispose();
  });

  it('preprocessing rewritten with its hash: refused against the manifest', async () => {
    const { out } = await trainAndExport(manifest, manifestPath, 'mlp-pre');
    const card = readCard(out);
    const pre = { ...card.preprocessing!, source: 'site' as const, fill: [0, 0], center: [3, 3], scale: [1, 1], missingValues: ['NA'] };
    writeCard(out, { ...card, preprocessing: pre, preprocessingHash: preprocessingHash(pre) });
    await expect(loadModelWithCard(out)).rejects.toMatchObject({
      code: 'MODEL_PREPROCESSING_MISMATCH',
      fields: { field: 'preprocessing' },
    });
  });
});

describe("no public statistics: the schema is the manifest's, a site's statistics are reported unverifiable", () => {
  const { publicStatistics: _p, ...noStats } = BASE;
  const manifest = parseManifest({ ...noStats, model: { kind: 'mlp', hidden: [6] } });
  const manifestPath = join(dir, 'site-manifest.json');

  it('site statistics load (siteStatistics: true); a rewritten schema or statistics added to an `unknown` card are refused', async () => {
    const { out } = await trainAndExport(manifest, manifestPath, 'site-ok', true);
    const { model, verification } = await loadModelWithCard(out);
    model.dispose();
    expect(verification).toMatchObject({ bound: true, siteStatistics: true });
    const card = readCard(out);
    const pre = card.preprocessing as TablePreprocessing;
    const relabelled = { ...pre, label: { name: 'y', positive: '0', negatives: ['1'] } };
    writeCard(out, { ...card, preprocessing: relabelled, preprocessingHash: preprocessingHash(relabelled) });
    await expect(loadModelWithCard(out)).rejects.toMatchObject({
      code: 'MODEL_PREPROCESSING_MISMATCH',
      fields: { field: 'preprocessing' },
    });
    const { out: unknownOut } = await trainAndExport(manifest, manifestPath, 'site-unknown', false);
    const u = readCard(unknownOut);
    expect(u.preprocessing).toMatchObject({ source: 'unknown' });
    const withStats = { ...(u.preprocessing as TablePreprocessing), fill: [0, 0], center: [9, 9], scale: [1, 1] };
    writeCard(unknownOut, { ...u, preprocessing: withStats, preprocessingHash: preprocessingHash(withStats) });
    await expect(loadModelWithCard(unknownOut)).rejects.toMatchObject({
      code: 'MODEL_PREPROCESSING_MISMATCH',
      fields: { field: 'preprocessing statistics' },
    });
  });
});

describe('own tfjs model with a frozen base: frozen weights and source are bound (F15)', () => {
  let manifest: FederationManifest;
  const manifestPath = join(dir, 'own-manifest.json');

  beforeAll(async () => {
    const own = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [2], units: 4, activation: 'relu', name: 'base_dense' }),
        tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'head' }),
      ],
    });
    await saveLayersModel(own, join(dir, 'own'));
    own.dispose();
    const sourceHash = artifactsHash(readModelArtifacts(join(dir, 'own')));
    manifest = parseManifest({ ...BASE, model: { kind: 'tfjs', path: 'own', sourceHash, freeze: ['base'] } });
  });

  it('round trip: export → load predicts as the trained model; the source travels in the folder', async () => {
    const { out, want, data } = await trainAndExport(manifest, manifestPath, 'own-ok');
    expect(artifactsHash(readModelArtifacts(join(out, SOURCE_DIR)))).toBe(manifest.model.sourceHash);
    const { model, verification } = await loadModelWithCard(out);
    model.dispose();
    expect(verification).toMatchObject({ bound: true, sourceHash: manifest.model.sourceHash, manifestHash: manifestHash(manifest) });
    const got = await predictAll(out, data.x, data.n, 2);
    expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-6);
  });

  it("a frozen layer's weights changed (federated weights intact): MODEL_FROZEN_WEIGHTS_MISMATCH", async () => {
    const { out } = await trainAndExport(manifest, manifestPath, 'own-frozen');
    // The frozen kernel's first value, found through the weight specs (trainable weights come first).
    const specs = readModelArtifacts(out).weightSpecs!;
    const k = specs.findIndex((s) => /base_dense.*kernel/.test(s.name));
    expect(k).toBeGreaterThan(0);
    const offset = specs.slice(0, k).reduce((o, s) => o + 4 * s.shape.reduce((a, d) => a * d, 1), 0);
    const path = join(out, 'weights.bin');
    const bytes = new Uint8Array(readFileSync(path));
    new DataView(bytes.buffer).setFloat32(offset, 0.5, true);
    writeFileSync(path, bytes);
    const err = (await loadModelWithCard(out).catch((e: unknown) => e)) as { code: string; fields: Record<string, unknown> };
    expect(err.code).toBe('MODEL_FROZEN_WEIGHTS_MISMATCH');
    expect(err.fields.sourceHash).toBe(manifest.model.sourceHash);
    expect(err.fields.got).not.toBe(err.fields.expected);
  });

  it("the same change made to the copied source as well: MODEL_SOURCE_MISMATCH naming the manifest's sourceHash", async () => {
    const { out } = await trainAndExport(manifest, manifestPath, 'own-source');
    for (const folder of [out, join(out, SOURCE_DIR)]) {
      const specs = readModelArtifacts(folder).weightSpecs!;
      const k = specs.findIndex((s) => /base_dense.*kernel/.test(s.name));
      const offset = specs.slice(0, k).reduce((o, s) => o + 4 * s.shape.reduce((a, d) => a * d, 1), 0);
      const p = join(folder, 'weights.bin');
      const bytes = new Uint8Array(readFileSync(p));
      new DataView(bytes.buffer).setFloat32(offset, 0.5, true);
      writeFileSync(p, bytes);
    }
    const err = (await loadModelWithCard(out).catch((e: unknown) => e)) as { code: string; fields: Record<string, unknown> };
    expect(err.code).toBe('MODEL_SOURCE_MISMATCH');
    expect(err.fields.expected).toBe(manifest.model.sourceHash);
    expect(err.fields.got).not.toBe(manifest.model.sourceHash);
    // Without the source folder (an export from before F15's fix): refused, naming the manifest's sourceHash.
    rmSync(join(out, SOURCE_DIR), { recursive: true });
    await expect(loadModelWithCard(out)).rejects.toMatchObject({
      code: 'MODEL_SOURCE_MISMATCH',
      fields: { expected: manifest.model.sourceHash, got: null },
    });
  });
});
