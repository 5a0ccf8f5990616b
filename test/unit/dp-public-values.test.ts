/**
 * Issue 15: DP-SGD delivers the ε it reports at the site level.
 *
 * 1. Sensitivity: through the daemon's production preprocessing (`loadSiteData`: the CSV loader
 *    with the manifest's public fills, then the public clamp/centre/scale) and the trainer's own
 *    clipped-sum code (`PerExampleGradients.clippedSum`, what `runDpTraining` calls), adding or
 *    removing one record — an extreme outlier included — moves the clipped gradient sum by at
 *    most C. The site-statistics path it replaced (own mean/sd, own medians) is shown to break
 *    that bound, so the check can fail.
 * 2. Nothing a site declares determines N: two sites differing by one record plan the same
 *    (q, σ, C), run the same number of steps, declare the same dpParams word, and publish the
 *    same FedAvg weight and the same update header.
 * 3. No metric is computed from the records, and the validation gate is refused with DP.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NodeConfig } from '../../node/config/node-config.js';
import { loadSiteData, modelSpecOf, planSiteDp } from '../../node/daemon/setup.js';
import { selectBackend } from '../../node/ml/backend.js';
import { PerExampleGradients } from '../../node/ml/dp-sgd.js';
import { NodeMetrics } from '../../node/ops/metrics.js';
import { assertGateAllowed } from '../../node/services/validation-gate.js';
import { createModel, Trainer } from '../../node/ml/trainer.js';
import { declareDpParams, plannedDpParams } from '../../protocol/chain/declaration.js';
import type { LabelledData } from '../../protocol/data.js';
import { parseManifest } from '../../protocol/manifest.js';
import { decodeUpdate, encodeUpdate } from '../../protocol/messages/update.js';
import { fedAvgWeight } from '../../protocol/privacy/public-statistics.js';
import { createRng } from '../../protocol/rng.js';

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

const base = {
  version: 1,
  federation: 'dp-public',
  seed: 7,
  model: { kind: 'mlp', hidden: [8] },
  features: [
    { name: 'age', kind: 'numeric' },
    { name: 'bp', kind: 'numeric' },
    { name: 'chol', kind: 'numeric' },
    { name: 'sex', kind: 'categorical', categories: ['f', 'm'] },
  ],
  label: { name: 'y', positive: 'sick', negatives: ['well'] },
  rounds: 3,
  training: { localEpochs: 1, batchSize: 16, learningRate: 0.05 },
  committee: { size: 3, threshold: 2 },
} as const;

const C = 1;
const dpManifest = parseManifest({
  ...base,
  dp: { epsilon: 2, delta: 1e-5, clipNorm: C, sampleRate: 0.08 },
  // Reference values as a federation would agree them from public knowledge (clinical ranges).
  publicStatistics: {
    features: {
      age: { min: 18, max: 100, center: 55, scale: 15, fill: 55 },
      bp: { min: 70, max: 220, center: 130, scale: 20, fill: 130 },
      chol: { min: 100, max: 400, center: 220, scale: 45, fill: 220 },
      sex: { fill: 'f' },
    },
  },
});
/** The same schema without DP: the site-statistics path (own mean/sd, own medians). */
const siteStatsManifest = parseManifest(base);

/** 200 plausible rows (a few missing cells) as CSV lines, seeded. */
function rows(n: number, seed: number): string[] {
  const rng = createRng(seed, 'test/dp-public-values');
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const age = Math.round(30 + rng.next() * 50);
    const bp = Math.round(100 + rng.next() * 60);
    const chol = rng.next() < 0.05 ? '' : String(Math.round(150 + rng.next() * 150));
    const sex = rng.next() < 0.5 ? 'f' : 'm';
    const y = rng.next() < (age - 30) / 50 ? 'sick' : 'well';
    out.push(`${age},${bp},${chol},${sex},${y}`);
  }
  return out;
}

const OUTLIER = '1000000,-1000000,,m,sick';

function load(lines: readonly string[], manifest = dpManifest): LabelledData {
  const dir = mkdtempSync(join(tmpdir(), 'fm-dp-public-'));
  const path = join(dir, 'site.csv');
  writeFileSync(path, `age,bp,chol,sex,y\n${lines.join('\n')}\n`);
  // The config as the daemon's schema gives it (cast: newer config fields have defaults there).
  const cfg = { kind: 'csv', path, missing: 'median', maxBadRowFraction: 0.05, headerMatch: 'exact' } as NodeConfig['data'];
  return loadSiteData(cfg, manifest).data;
}

/** Σ_i clip_C(g_i) over every row, flattened, through the trainer's DP-SGD clipped-sum code. */
function clippedSum(model: tf.LayersModel, d: LabelledData): Float64Array {
  const pe = new PerExampleGradients(model);
  try {
    const parts = tf.tidy(() => {
      const r = pe.clippedSum(tf.tensor(d.x, [d.n, ...d.featureShape]), tf.tensor2d(Float32Array.from(d.y), [d.n, 1]), C);
      return r.sums.map((s) => s.dataSync() as Float32Array);
    });
    return Float64Array.from(parts.flatMap((p) => [...p]));
  } finally {
    pe.dispose();
  }
}

const distance = (a: Float64Array, b: Float64Array): number => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0));

describe('issue 15: one record moves a site clipped gradient sum by at most C', () => {
  const site = rows(200, 1);
  const spec = modelSpecOf(dpManifest);

  it('adding an extreme outlier or removing a record, through the production preprocessing and clipping', () => {
    const model = createModel(spec, 3);
    try {
      const d = load(site);
      const added = load([...site, OUTLIER]);
      const removed = load(site.filter((_, i) => i !== 17));
      expect(added.n).toBe(201);
      // Every other record's features are unchanged by the outlier (public fill, range and scale).
      expect(added.x.subarray(0, d.x.length)).toEqual(d.x);
      const s = clippedSum(model, d);
      // 1e-5 relative slack: float32 summation order, nothing more.
      expect(distance(clippedSum(model, added), s)).toBeLessThanOrEqual(C * (1 + 1e-5));
      expect(distance(clippedSum(model, removed), s)).toBeLessThanOrEqual(C * (1 + 1e-5));
      // A record whose cells are all missing is filled from public values only.
      expect(distance(clippedSum(model, load([...site, ',,,,well'])), s)).toBeLessThanOrEqual(C * (1 + 1e-5));
    } finally {
      model.dispose();
    }
  });

  it('the site-statistics path it replaced does not (the check can fail)', () => {
    const model = createModel(modelSpecOf(siteStatsManifest), 3);
    try {
      const moved = distance(
        clippedSum(model, load([...site, OUTLIER], siteStatsManifest)),
        clippedSum(model, load(site, siteStatsManifest)),
      );
      expect(moved).toBeGreaterThan(5 * C);
    } finally {
      model.dispose();
    }
  });
});

describe('issue 15: nothing a site declares determines its record count', () => {
  it('two sites differing by one record declare the same dpParams, steps, FedAvg weight and update header', async () => {
    const a = load(rows(150, 2));
    const b = load([...rows(150, 2), OUTLIER]);
    expect(b.n).toBe(a.n + 1);
    const planA = planSiteDp(dpManifest, { enabled: true }, dpManifest.training.batchSize)!;
    const planB = planSiteDp(dpManifest, { enabled: true }, dpManifest.training.batchSize)!;
    expect(planB).toEqual(planA);
    const dp = {
      sampleRate: planA.sampleRate,
      noiseMultiplier: planA.noiseMultiplier,
      clipNorm: planA.clipNorm,
      expectedBatchSize: planA.expectedBatchSize,
      randomness: 'seeded' as const,
    };
    expect(plannedDpParams(dp, 1)).toBe(plannedDpParams(dp, 1));
    const declared: bigint[] = [];
    const headers: unknown[] = [];
    for (const d of [a, b]) {
      const trainer = new Trainer(modelSpecOf(dpManifest), dpManifest.seed);
      try {
        const res = await trainer.train(d, { epochs: 1, batchSize: 16, learningRate: 0.05, seed: 5, dp });
        const word = declareDpParams(dp, res.steps);
        declared.push(word);
        const bytes = encodeUpdate({
          baseModelHash: new Uint8Array(32),
          sampleCount: fedAvgWeight(dp, d.n),
          dpParams: word,
          weights: trainer.getWeights(),
        });
        const u = decodeUpdate(bytes);
        headers.push({ sampleCount: u.sampleCount, dpParams: u.dpParams, length: bytes.length });
      } finally {
        trainer.dispose();
      }
    }
    expect(declared[0]).toBe(declared[1]);
    expect(declared[0]).toBe(plannedDpParams(dp, 1));
    expect(headers[0]).toEqual(headers[1]);
    expect(headers[0]).toMatchObject({ sampleCount: 1 });
    // Without DP the weight is the record count (FedAvg), so it would reveal n.
    expect(fedAvgWeight(undefined, b.n)).toBe(b.n);
  });
});

describe('issue 15: no release computed from private data without noise', () => {
  it('the node metrics carry no training loss or training-data accuracy', async () => {
    const text = await new NodeMetrics().registry.metrics();
    expect(text).not.toMatch(/fedmesh_local_train/);
    expect(text).toContain('fedmesh_privacy_epsilon_spent');
  });

  it('the validation gate (a decision on private held-out data) is refused together with DP', () => {
    const dp = { sampleRate: 0.1, noiseMultiplier: 1, clipNorm: 1 };
    expect(() => assertGateAllowed(dp, 0.1)).toThrow(
      expect.objectContaining({
        code: 'ROUND_BAD_CONFIG',
        fields: expect.objectContaining({ field: 'defence.validationMargin', value: 0.1 }),
      }),
    );
    expect(() => assertGateAllowed(undefined, 0.1)).not.toThrow();
    expect(() => assertGateAllowed(dp, undefined)).not.toThrow();
  });
});
