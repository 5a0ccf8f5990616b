/**
 * Issue 17 item 8: the exported card carries the federation's full preprocessing, so `fedmesh
 * predict` scores a new patient's row exactly as training saw it.
 *
 * Each case trains on a site's CSV loaded by the daemon's own path (node/daemon/setup.ts
 * loadSiteData: the nodes' CSV loader, the manifest's public statistics or the site's own), exports
 * the model through `exportVerifiedModel` (the `fedmesh model export` core, checked against a
 * chain record), then predicts from a CSV with the columns in another order, an extra column,
 * categorical codes written otherwise (`2.0` for `2`), missing cells and values outside the public
 * range. Claims and why:
 * - the model inputs predict builds equal the training pipeline's bit for bit (the same loader,
 *   the same fill, the same float32 clamp/centre/scale functions on the same float32 values);
 * - the predictions equal the in-process model's on those inputs to 1e-6: the weights are bit
 *   identical (FMWT round trip, tfjs save/load), but tfjs's wasm matmul may tile rows differently
 *   for a different batch, so the last bits of a probability are not promised.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { hash256, toHex0x } from '../../protocol/bytes.js';
import { type FederationManifest, manifestHash, parseManifest } from '../../protocol/manifest.js';
import { toOriginalUnits } from '../../protocol/task.js';
import { encodeWeights } from '../../protocol/weights-codec.js';
import { loadSiteData, modelSpecOf, type SiteDataConfig } from '../../node/daemon/setup.js';
import { loadPngFolder } from '../../node/data/png-folder.js';
import { selectBackend } from '../../node/ml/backend.js';
import { loadModelWithCard, predictionsCsv, predictRows, readPredictionInput, standardizeRows } from '../../node/ml/model-card.js';
import { checkCardAgainstManifest, exportVerifiedModel, preprocessingOf } from '../../node/ml/model-export.js';
import { Trainer } from '../../node/ml/trainer.js';

/** Largest |a_i − b_i| (the lengths must agree). */
function maxDiff(a: readonly number[], b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

const dir = mkdtempSync(join(tmpdir(), 'fedmesh-preproc-'));
beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

const BASE = {
  version: 1,
  federation: 'preproc-test',
  seed: 11,
  model: { kind: 'mlp', hidden: [6] },
  rounds: 1,
  training: { localEpochs: 1, batchSize: 8, learningRate: 0.05 },
  committee: { size: 3, threshold: 2 },
};
const FEATURES = [
  { name: 'age', kind: 'numeric' },
  { name: 'cp', kind: 'categorical', categories: ['1', '2', '3'] },
  { name: 'chol', kind: 'numeric' },
];

/** A site's CSV in the manifest's schema (`grade` 0–2 from age and cp), a few cells missing. */
function siteRows(n: number): string[][] {
  return Array.from({ length: n }, (_, i) => {
    const age = 30 + ((i * 7) % 50);
    const cp = String(1 + (i % 3));
    const chol = 150 + ((i * 13) % 200);
    const grade = age > 60 ? 2 : cp === '3' ? 1 : 0;
    return [String(age), i % 11 === 5 ? '' : cp, i % 7 === 3 ? '?' : String(chol), String(grade), String(age * 1.5 + (i % 5))];
  });
}

async function trainExportPredict(manifest: FederationManifest, siteCfg: SiteDataConfig, name: string, exportSite: boolean) {
  // Training: the daemon's loader and preprocessing.
  const { data } = loadSiteData(siteCfg, manifest);
  const trainer = new Trainer(modelSpecOf(manifest), manifest.seed);
  await trainer.train(data, { epochs: 5, batchSize: 8, learningRate: 0.05, seed: 3 });
  const artifact = encodeWeights(trainer.getWeights());
  const want = trainer.predict(data.x, data.n);
  trainer.dispose();
  // Export: verified against a chain record naming this artifact and manifest.
  const out = join(dir, name);
  const card = await exportVerifiedModel({
    manifest,
    chain: {
      round: 1,
      modelHash: toHex0x(hash256(artifact)),
      recordHash: `0x${'00'.repeat(32)}`,
      manifestHash: manifestHash(manifest),
    },
    artifact,
    out,
    ...(exportSite ? { siteData: siteCfg } : {}),
  });
  return { data, want, out, card };
}

/** The same rows as the site file, columns reordered, an extra column, cp written as `2.0`. */
function shuffledCsv(rows: string[][], path: string): void {
  const lines = ['CHOL,note,grade,Age,cp', ...rows.map((r) => [r[2], 'x', r[3], r[0], r[1] === '' ? '' : `${r[1]}.0`].join(','))];
  writeFileSync(path, `${lines.join('\n')}\n`);
}

describe('export → predict reproduces the training pipeline', () => {
  it('public statistics (clamp, fill, one-hot, multiclass): inputs bit for bit, predictions to 1e-6', async () => {
    const manifest = parseManifest({
      ...BASE,
      features: FEATURES,
      label: { name: 'grade', positive: '2', negatives: ['0', '1'] },
      task: { kind: 'multiclass', classes: ['0', '1', '2'] },
      publicStatistics: {
        features: {
          // age's range [35, 70] clamps some rows; chol's fill is not any row's value.
          age: { min: 35, max: 70, center: 52.5, scale: 12.25, fill: 50 },
          cp: { fill: '2' },
          chol: { min: 100, max: 400, center: 240.3, scale: 51.7, fill: 233.3 },
        },
      },
    });
    const rows = siteRows(60);
    const sitePath = join(dir, 'site-public.csv');
    writeFileSync(sitePath, `age,cp,chol,grade,extra\n${rows.map((r) => r.join(',')).join('\n')}\n`);
    const cfg: SiteDataConfig = { kind: 'csv', path: sitePath, missing: 'median', maxBadRowFraction: 0 };
    const { data, want, out, card } = await trainExportPredict(manifest, cfg, 'public', false);
    expect(card.preprocessing).toMatchObject({ kind: 'table', source: 'public' });
    expect(card.features).toEqual(['age', 'cp=1', 'cp=2', 'cp=3', 'chol']);

    const csv = join(dir, 'new-public.csv');
    shuffledCsv(rows, csv);
    const { model, card: loaded } = await loadModelWithCard(out);
    const input = readPredictionInput(csv, loaded);
    expect(input.n).toBe(60);
    // The model inputs are the training pipeline's, bit for bit.
    expect(standardizeRows(loaded, input.x, input.n)).toEqual(data.x);
    const got = predictRows(model, loaded, input.x, input.n);
    model.dispose();
    expect(
      maxDiff(
        got.flatMap((p) => p.outputs),
        want,
      ),
    ).toBeLessThanOrEqual(1e-6);
    // The card is the manifest's: anyone holding the (on-chain-verified) manifest can check it.
    expect(() => checkCardAgainstManifest(loaded, manifest)).not.toThrow();
    expect(preprocessingOf(manifest)).toEqual(loaded.preprocessing);

    // `fedmesh predict` (the CLI), checked against the manifest, writes the same predictions.
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    const bin = new URL('../../bin/fedmesh.mjs', import.meta.url).pathname;
    const cli = execFileSync(process.execPath, [bin, 'predict', '--model', out, '--data', csv, '--manifest', join(dir, 'manifest.json')], {
      encoding: 'utf8',
    });
    expect(cli).toBe(predictionsCsv(loaded, got));
  }, 120_000);

  it('a bad row is refused naming its line and column; an unknown category too', async () => {
    const { card } = await loadModelWithCard(join(dir, 'public'));
    const p = join(dir, 'bad.csv');
    writeFileSync(p, 'age,cp,chol\n50,1,200\n\n61,2,abc\n');
    expect(() => readPredictionInput(p, card)).toThrow(expect.objectContaining({ code: 'PREDICT_INPUT_INVALID' }));
    try {
      readPredictionInput(p, card);
    } catch (e) {
      expect((e as { fields: Record<string, unknown> }).fields).toMatchObject({ line: 4, column: 'chol', value: 'abc' });
    }
    writeFileSync(p, 'age,cp,chol\n50,7,200\n');
    expect(() => readPredictionInput(p, card)).toThrow(
      expect.objectContaining({ code: 'PREDICT_INPUT_INVALID', fields: expect.objectContaining({ line: 2, column: 'cp', value: '7' }) }),
    );
    writeFileSync(p, 'age,chol\n50,200\n');
    expect(() => readPredictionInput(p, card)).toThrow(/column "cp".*missing/);
  });

  it('a card whose preprocessing does not match its hash, or the manifest, is refused naming both hashes', async () => {
    const out = join(dir, 'public');
    const cardPath = join(out, 'card.json');
    const original = readFileSync(cardPath, 'utf8');
    const c = JSON.parse(original);
    const stated = c.preprocessingHash;
    c.preprocessing.center[0] = 40; // inputs would be centred elsewhere
    writeFileSync(cardPath, JSON.stringify(c));
    const err = await loadModelWithCard(out).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_PREPROCESSING_MISMATCH', fields: { expected: stated } });
    const got = (err as { fields: { got: string } }).fields.got;
    expect(got).toMatch(/^0x[0-9a-f]{64}$/);
    expect(got).not.toBe(stated);
    expect((err as Error).message).toContain(stated);
    expect((err as Error).message).toContain(got);
    // Re-hashed to be self-consistent, it still is not the manifest's: refused at load against the
    // manifest the card carries (F15), and by checkCardAgainstManifest.
    c.preprocessingHash = got;
    writeFileSync(cardPath, JSON.stringify(c));
    await expect(loadModelWithCard(out)).rejects.toMatchObject({ code: 'MODEL_PREPROCESSING_MISMATCH', fields: { got } });
    const card = c;
    const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
    expect(() => checkCardAgainstManifest(card, manifest)).toThrow(
      expect.objectContaining({ code: 'MODEL_PREPROCESSING_MISMATCH', fields: expect.objectContaining({ actual: got }) }),
    );
    writeFileSync(cardPath, original);
  });

  it("site statistics (no public ones), regression: the exporter's medians and deviation; values in original units", async () => {
    const manifest = parseManifest({
      ...BASE,
      features: FEATURES,
      label: { name: 'extra', positive: '1', negatives: ['0'] },
      task: { kind: 'regression', mean: 80, std: 20 },
    });
    const rows = siteRows(50);
    const sitePath = join(dir, 'site-reg.csv');
    writeFileSync(sitePath, `age,cp,chol,grade,extra\n${rows.map((r) => r.join(',')).join('\n')}\n`);
    const cfg: SiteDataConfig = { kind: 'csv', path: sitePath, missing: 'median', maxBadRowFraction: 0 };
    const { data, want, out, card } = await trainExportPredict(manifest, cfg, 'site', true);
    expect(card.preprocessing).toMatchObject({ kind: 'table', source: 'site' });
    const csv = join(dir, 'new-reg.csv');
    shuffledCsv(rows, csv);
    const { model, card: loaded } = await loadModelWithCard(out);
    const input = readPredictionInput(csv, loaded);
    expect(standardizeRows(loaded, input.x, input.n)).toEqual(data.x);
    const got = predictRows(model, loaded, input.x, input.n);
    model.dispose();
    const task = { kind: 'regression' as const, mean: 80, std: 20 };
    expect(
      maxDiff(
        got.map((p) => p.predicted as number),
        Array.from(want, (v) => toOriginalUnits(task, v)),
      ),
    ).toBeLessThanOrEqual(2e-5);

    // Exported without the site's statistics, the card says so and predict refuses a raw CSV.
    const { out: unknownOut } = await trainExportPredict(manifest, cfg, 'unknown', false);
    const u = await loadModelWithCard(unknownOut);
    u.model.dispose();
    expect(u.card.preprocessing).toMatchObject({ kind: 'table', source: 'unknown' });
    expect(() => readPredictionInput(csv, u.card)).toThrow(expect.objectContaining({ code: 'PREDICT_NO_STATISTICS' }));
  }, 120_000);

  it('a folder of PNG images is read as the png-folder loader reads it', async () => {
    const manifest = parseManifest({
      ...BASE,
      model: { kind: 'logreg' },
      imageShape: [4, 4, 1],
      label: { name: 'finding', positive: 'b', negatives: ['a'] },
      task: { kind: 'multiclass', classes: ['a', 'b'] },
    });
    const root = join(dir, 'pngs');
    for (const [cls, shade] of [
      ['a', 30],
      ['b', 220],
    ] as const) {
      mkdirSync(join(root, cls), { recursive: true });
      for (let k = 0; k < 3; k++) {
        const png = new PNG({ width: 4, height: 4 });
        for (let i = 0; i < 16; i++) png.data.set([shade + k * 7, (shade + i) % 256, 90, 255], i * 4);
        writeFileSync(join(root, cls, `img${k}.png`), PNG.sync.write(png));
      }
    }
    const cfg: SiteDataConfig = { kind: 'png-folder', path: root, missing: 'drop', maxBadRowFraction: 0 };
    const { want, out, card } = await trainExportPredict(manifest, cfg, 'png', false);
    expect(card.preprocessing).toEqual({ kind: 'image', shape: [4, 4, 1] });
    const { model, card: loaded } = await loadModelWithCard(out);
    const input = readPredictionInput(root, loaded);
    expect(input.ids).toEqual(['a/img0.png', 'a/img1.png', 'a/img2.png', 'b/img0.png', 'b/img1.png', 'b/img2.png']);
    expect(input.x).toEqual(loadPngFolder(root, manifest).data.x);
    const got = predictRows(model, loaded, input.x, input.n);
    model.dispose();
    expect(
      maxDiff(
        got.flatMap((p) => p.outputs),
        want,
      ),
    ).toBeLessThanOrEqual(1e-6);
    expect(predictionsCsv(loaded, got, input.ids).split('\n')[0]).toBe('file,a,b,predicted');
  }, 60_000);
});
