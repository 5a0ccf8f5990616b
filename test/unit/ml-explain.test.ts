/**
 * Explanations (issue 16): Grad-CAM on a CNN trained to find a bright patch points at the patch,
 * and passes the model-randomisation sanity check of Adebayo et al. 2018 (a model with
 * re-initialised weights gives a clearly different map); Shapley values by permutation sampling
 * are exact for a linear model and satisfy efficiency (Σφ = f(x) − base) for an MLP.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { explainModel, reportExplanations } from '../../node/ml/explain-run.js';
import { exportModel } from '../../node/ml/model-card.js';
import { selectBackend } from '../../node/ml/backend.js';
import { globalImportance, gradCam, shapley } from '../../node/ml/explain.js';
import { Trainer } from '../../node/ml/trainer.js';
import { createRng } from '../../protocol/rng.js';

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

const S = 14;
/** Class 1: a bright 4×4 patch in the top-left corner; class 0: the patch bottom-right. Noise elsewhere. */
function patches(n: number, seed: number): { x: Float32Array; y: Uint8Array } {
  const rng = createRng(seed, 'test/explain');
  const x = Float32Array.from({ length: n * S * S }, () => rng.next() * 0.3);
  const y = Uint8Array.from({ length: n }, (_, i) => i % 2);
  for (let i = 0; i < n; i++) {
    const o = y[i] === 1 ? 1 : S - 5;
    for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) x[i * S * S + (o + a) * S + (o + b)] = 1;
  }
  return { x, y };
}

const corr = (a: Float32Array, b: Float32Array): number => {
  const ma = a.reduce((s, v) => s + v, 0) / a.length;
  const mb = b.reduce((s, v) => s + v, 0) / b.length;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - ma) * (b[i]! - mb);
    da += (a[i]! - ma) ** 2;
    db += (b[i]! - mb) ** 2;
  }
  return num / Math.sqrt(da * db + 1e-12);
};

describe('Grad-CAM', () => {
  it('points at the evidence, and a randomised model gives a clearly different map (Adebayo et al. 2018)', async () => {
    const spec = { kind: 'cnn' as const, inputShape: [S, S, 1], hidden: [8] };
    const trained = new Trainer(spec, 1);
    const random = new Trainer(spec, 99);
    try {
      const d = patches(200, 1);
      await trained.train({ ...d, n: 200, featureShape: [S, S, 1] }, { epochs: 8, batchSize: 16, learningRate: 0.01, seed: 1 });
      const test = patches(10, 2);
      const p = trained.predict(test.x, 10);
      expect(p.every((v, i) => (v >= 0.5 ? 1 : 0) === test.y[i])).toBe(true);
      const maps = gradCam(trained.layersModel, test.x, 10);
      const randomMaps = gradCam(random.layersModel, test.x, 10);
      const positives = [...test.y.keys()].filter((i) => test.y[i] === 1);
      let inPatch = 0;
      let total = 0;
      for (const i of positives) {
        const m = maps[i]!;
        for (let a = 0; a < S; a++)
          for (let b = 0; b < S; b++) {
            total += m[a * S + b]!;
            if (a < S / 2 && b < S / 2) inPatch += m[a * S + b]!;
          }
      }
      // The top-left quadrant is a quarter of the image; the trained map puts far more than a quarter there.
      expect(inPatch / total).toBeGreaterThan(0.4);
      const similarity = positives.map((i) => corr(maps[i]!, randomMaps[i]!));
      // Seeded and deterministic: the maps of the trained and the re-initialised model share
      // little (mean Pearson correlation 0.34 here), where an edge detector would share most.
      expect(similarity.reduce((a, b) => a + b, 0) / similarity.length).toBeLessThan(0.5);
      expect(maps.every((m) => m.every((v) => v >= 0 && v <= 1))).toBe(true);
    } finally {
      trained.dispose();
      random.dispose();
    }
  });

  it('refuses a model without a Conv2D layer', () => {
    const t = new Trainer({ kind: 'mlp', inputShape: [4, 4, 1] }, 1);
    expect(() => gradCam(t.layersModel, new Float32Array(16), 1)).toThrow(/Conv2D/);
    t.dispose();
  });
});

describe('Shapley values', () => {
  const rng = createRng(3, 'test/shapley');
  const f = 4;
  const x = Float32Array.from({ length: 3 * f }, () => rng.next() * 2 - 1);
  const bg = Float32Array.from({ length: 5 * f }, () => rng.next() * 2 - 1);

  it('exact for a linear model: φ_j = w_j (x_j − mean_b b_j)', () => {
    const t = new Trainer({ kind: 'logreg', inputShape: [f], task: { kind: 'regression', mean: 0, std: 1 } }, 7);
    try {
      const w = t.getWeights().tensors[0]!.data;
      const res = shapley(t.layersModel, x, 3, bg, 5, { samples: 10 });
      for (let r = 0; r < 3; r++)
        for (let j = 0; j < f; j++) {
          const meanB = [0, 1, 2, 3, 4].reduce((s, b) => s + bg[b * f + j]!, 0) / 5;
          expect(res.values[r * f + j]!).toBeCloseTo(w[j]! * (x[r * f + j]! - meanB), 5);
        }
    } finally {
      t.dispose();
    }
  });

  it('efficiency for an MLP: Σ_j φ_j = f(x) − base; global importance is mean |φ|', () => {
    const t = new Trainer({ kind: 'mlp', inputShape: [f], hidden: [6] }, 2);
    try {
      const res = shapley(t.layersModel, x, 3, bg, 5, { samples: 40, seed: 1 });
      for (let r = 0; r < 3; r++) {
        const sum = res.values.subarray(r * f, (r + 1) * f).reduce((a, b) => a + b, 0);
        expect(sum).toBeCloseTo(res.prediction[r]! - res.base[r]!, 5);
      }
      expect(res.prediction[0]).toBeCloseTo(t.predict(x.subarray(0, f), 1)[0]!, 5);
      const g = globalImportance(res.values, 3);
      expect(g[0]).toBeCloseTo((Math.abs(res.values[0]!) + Math.abs(res.values[f]!) + Math.abs(res.values[2 * f]!)) / 3, 6);
    } finally {
      t.dispose();
    }
  });
});

describe('fedmesh explain on exported models', () => {
  it('image model: one Grad-CAM overlay PNG per image; tabular model (through the CLI): Shapley CSV whose rows sum to f(x) − base, importance CSV and SVG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-explain-'));
    const cnn = new Trainer({ kind: 'cnn', inputShape: [S, S, 1], hidden: [8] }, 1);
    await exportModel(cnn.layersModel, join(dir, 'cnn'), { task: { kind: 'binary' }, featureShape: [S, S, 1], rounds: 1, metrics: {} });
    cnn.dispose();
    const imgs = patches(3, 5);
    writeFileSync(join(dir, 'imgs.npz'), npz('x', [3, S, S, 1], imgs.x));
    const s = await explainModel({ modelDir: join(dir, 'cnn'), data: join(dir, 'imgs.npz'), out: join(dir, 'out-img') });
    expect(s.method).toBe('grad-cam');
    expect(s.files).toHaveLength(3);
    const png = PNG.sync.read(readFileSync(s.files[0]!));
    expect([png.width, png.height]).toEqual([2 * S * 8, S * 8]);

    const mlp = new Trainer({ kind: 'mlp', inputShape: [3], hidden: [4] }, 2);
    await exportModel(mlp.layersModel, join(dir, 'mlp'), {
      task: { kind: 'binary' },
      featureShape: [3],
      features: ['age', 'bp', 'chol'],
      standardize: { mean: [50, 120, 200], std: [10, 15, 40] },
      rounds: 1,
      metrics: {},
    });
    mlp.dispose();
    writeFileSync(
      join(dir, 'rows.csv'),
      `age,bp,chol\n${[0, 1, 2, 3, 4, 5].map((i) => `${40 + 5 * i},${110 + 4 * i},${180 + 9 * i}`).join('\n')}\n`,
    );
    const bin = new URL('../../bin/fedmesh.mjs', import.meta.url).pathname;
    const out = execFileSync(
      process.execPath,
      [
        bin,
        'explain',
        '--model',
        join(dir, 'mlp'),
        '--data',
        join(dir, 'rows.csv'),
        '--out',
        join(dir, 'out-tab'),
        '--samples',
        '24',
        '--method',
        'permutation',
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toMatch(/shapley-permutation: 6 row\(s\), 24 samples per row/);
    const rows = readFileSync(join(dir, 'out-tab', 'shapley.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(rows[0]).toBe('row,prediction,base,age,bp,chol');
    for (const line of rows.slice(1)) {
      const [, pred, base, ...phi] = line.split(',').map(Number);
      expect(phi.reduce((a, b) => a + b, 0)).toBeCloseTo(pred! - base!, 5);
    }
    expect(readFileSync(join(dir, 'out-tab', 'importance.svg'), 'utf8')).toMatch(/<svg[\s\S]*chol/);
  });

  it('report.html sections: a Grad-CAM grid for images, the importance chart for tables', () => {
    const cnn = new Trainer({ kind: 'cnn', inputShape: [S, S, 1], hidden: [8] }, 1);
    const imgs = patches(5, 6);
    expect(reportExplanations(cnn.layersModel, [S, S, 1], imgs.x, 5, undefined, 4).match(/data:image\/png;base64/g)).toHaveLength(4);
    cnn.dispose();
    const mlp = new Trainer({ kind: 'mlp', inputShape: [3], hidden: [4] }, 2);
    const rows = Float32Array.from({ length: 30 }, (_, i) => Math.sin(i));
    expect(reportExplanations(mlp.layersModel, [3], rows, 10, ['a', 'b', 'c'], 2, 4)).toMatch(/<svg[\s\S]*>b</);
    mlp.dispose();
  });
});

/** A one-array .npz (stored, float32) for the test. */
function npz(name: string, shape: number[], data: Float32Array): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const npy = Buffer.concat([
    Buffer.from([0x93]),
    Buffer.from('NUMPY'),
    Buffer.from([1, 0]),
    Buffer.from(Uint16Array.of(header.length).buffer),
    Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
  const fileName = Buffer.from(`${name}.npy`);
  const crc = crc32(npy) >>> 0;
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(npy.length, 18);
  local.writeUInt32LE(npy.length, 22);
  local.writeUInt16LE(fileName.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(npy.length, 20);
  central.writeUInt32LE(npy.length, 24);
  central.writeUInt16LE(fileName.length, 28);
  const cdOffset = local.length + fileName.length + npy.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + fileName.length, 12);
  end.writeUInt32LE(cdOffset, 16);
  return Buffer.concat([local, fileName, npy, central, fileName, end]);
}
