/**
 * Issue 16 as a researcher meets it: `fedmesh simulate --scenario` (separate OS processes, libp2p
 * peers on 127.0.0.1, the federation contract on in-process Hardhat) on data sets the project has
 * never seen, written here — an imbalanced binary ICU table, a regression table and an imbalanced
 * image set — with a column or array mapping, and this helper's features on:
 * - `resample: oversample | undersample` reaches local training (summary.json carries it; the
 *   resampled runs differ from the plain one under the same seed);
 * - report.html explains the final model: KernelSHAP importance for the MLP, exact linear SHAP in
 *   original units for the regression model, a Grad-CAM grid for the CNN;
 * - `fedmesh explain` on the exported model picks KernelSHAP with its sample count;
 * - `resample` with DP exits 2 naming the field.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../protocol/rng.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/fedmesh.mjs');

const simulate = (dir: string, scenario: string, name: string) =>
  run('node', [BIN, 'simulate', '--scenario', join(dir, scenario), '--out', join(dir, name), '--quiet'], { timeout: 240_000 });
const summaryOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Record<string, unknown>;

/** An ICU table: mortality (about 15 % "died") from age, blood pressure, creatinine, lactate. */
function icuCsv(n: number): string {
  const rng = createRng(1, 'test/icu');
  const g = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const rows = ['age,sbp,creatinine,lactate,outcome'];
  for (let i = 0; i < n; i++) {
    const age = 65 + 12 * g();
    const sbp = 120 + 20 * g();
    const cr = 1.2 + 0.4 * g();
    const la = 2 + g();
    const z = 0.05 * (age - 65) - 0.03 * (sbp - 120) + 1.5 * (cr - 1.2) + 0.8 * (la - 2) - 2.2;
    rows.push(
      `${age.toFixed(1)},${sbp.toFixed(0)},${cr.toFixed(2)},${la.toFixed(2)},${rng.next() < 1 / (1 + Math.exp(-z)) ? 'died' : 'survived'}`,
    );
  }
  return `${rows.join('\n')}\n`;
}

/** Length of stay (days) from three numeric columns. */
function stayCsv(n: number): string {
  const rng = createRng(2, 'test/stay');
  const rows = ['age,severity,comorbidities,stay_days'];
  for (let i = 0; i < n; i++) {
    const age = 30 + 50 * rng.next();
    const sev = rng.next() * 4;
    const com = Math.floor(rng.next() * 5);
    rows.push(`${age.toFixed(0)},${sev.toFixed(2)},${com},${(2 + 0.05 * age + 1.8 * sev + 0.9 * com + rng.next()).toFixed(2)}`);
  }
  return `${rows.join('\n')}\n`;
}

/** A stored (uncompressed) .npz of float32 arrays. */
function npz(arrays: Record<string, { shape: number[]; data: Float32Array }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, { shape, data }] of Object.entries(arrays)) {
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
    const file = Buffer.from(`${name}.npy`);
    const crc = crc32(npy) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(npy.length, 18);
    local.writeUInt32LE(npy.length, 22);
    local.writeUInt16LE(file.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(npy.length, 20);
    central.writeUInt32LE(npy.length, 24);
    central.writeUInt16LE(file.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, file, npy);
    centrals.push(central, file);
    offset += local.length + file.length + npy.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(arrays).length, 8);
  end.writeUInt16LE(Object.keys(arrays).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** 12×12 grey images: class 1 (a quarter of the set) has a bright blob top-left, class 0 bottom-right. */
function blobImages(n: number): Buffer {
  const rng = createRng(3, 'test/blobs');
  const s = 12;
  const x = new Float32Array(n * s * s);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 4 === 0 ? 1 : 0;
    for (let p = 0; p < s * s; p++) x[i * s * s + p] = 0.3 * rng.next();
    const o = y[i] === 1 ? 1 : s - 5;
    for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) x[i * s * s + (o + a) * s + (o + b)] = 1;
  }
  return npz({ images: { shape: [n, s, s, 1], data: x }, labels: { shape: [n], data: y } });
}

const base = 'peers: 3\nrounds: 2\nseed: 5\nsecureAggregation: false\nlocalEpochs: 1\nbatchSize: 16\nlearningRate: 0.01\n';

describe('unseen data sets through fedmesh simulate --scenario (issue 16: resampling and explanations)', () => {
  it('binary table, imbalanced: resample oversample trains differently, the report and fedmesh explain use KernelSHAP', {
    timeout: 600_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-scn-imb-'));
    writeFileSync(join(dir, 'icu.csv'), icuCsv(400));
    const table = `dataset: icu.csv\ncolumns: { label: outcome, positive: died }\nmodel: mlp\n${base}`;
    writeFileSync(join(dir, 'plain.yaml'), table);
    writeFileSync(join(dir, 'over.yaml'), `${table}resample: oversample\n`);
    await simulate(dir, 'plain.yaml', 'plain');
    await simulate(dir, 'over.yaml', 'over');
    const plain = summaryOf(join(dir, 'plain'));
    const over = summaryOf(join(dir, 'over'));
    expect((over.scenario as { resample: string }).resample).toBe('oversample');
    expect((plain.scenario as { resample: string }).resample).toBe('none');
    // The same seed and data: only resampling differs, so the final models do.
    const finalHash = (d: string) =>
      readFileSync(join(dir, d, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).modelHash as string)
        .pop();
    expect(finalHash('over')).not.toBe(finalHash('plain'));
    for (const k of ['sensitivity', 'specificity', 'balancedAccuracy', 'brier', 'auc'])
      expect(typeof (over.final as Record<string, number>)[k]).toBe('number');
    const html = readFileSync(join(dir, 'over', 'report.html'), 'utf8');
    expect(html).toMatch(/data-testid="importance-chart" data-method="kernel-shap" data-samples="\d+"/);
    expect(html).toMatch(/Global feature importance: (age|sbp|creatinine|lactate) /);
    // The exported model, explained as a researcher would: KernelSHAP with its sample count.
    const { stdout } = await run(
      'node',
      [
        BIN,
        'explain',
        '--model',
        join(dir, 'over', 'model'),
        '--data',
        join(dir, 'icu.csv'),
        '--rows',
        '4',
        '--background',
        join(dir, 'icu.csv'),
        '--samples',
        '30',
        '--out',
        join(dir, 'why'),
      ],
      {
        timeout: 120_000,
      },
    );
    expect(stdout).toMatch(/^kernel-shap: 4 row\(s\), 14 samples per row \(every coalition: exact\), explaining P\(y = 1\)/);
    expect(readFileSync(join(dir, 'why', 'importance.csv'), 'utf8').split('\n')[0]).toBe('feature,meanAbsShapley');
  });

  it('regression table: the report explains the linear model exactly, in the target units', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-scn-reg-'));
    writeFileSync(join(dir, 'stay.csv'), stayCsv(300));
    writeFileSync(join(dir, 's.yaml'), `dataset: stay.csv\ntask: regression\ncolumns: { label: stay_days }\nmodel: logistic\n${base}`);
    await simulate(dir, 's.yaml', 'o');
    const s = summaryOf(join(dir, 'o'));
    expect(typeof (s.final as Record<string, number>).r2).toBe('number');
    const html = readFileSync(join(dir, 'o', 'report.html'), 'utf8');
    expect(html).toMatch(/the predicted value \(original units\) \(exact linear SHAP/);
    expect(html).toMatch(/data-method="shapley-linear"/);
  });

  it('imbalanced image set (.npz): resample undersample; the report shows a Grad-CAM grid', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-scn-img-'));
    writeFileSync(join(dir, 'blobs.npz'), blobImages(160));
    writeFileSync(join(dir, 's.yaml'), `dataset: blobs.npz\narrays: { x: images, y: labels }\nmodel: cnn\nresample: undersample\n${base}`);
    await simulate(dir, 's.yaml', 'o');
    expect((summaryOf(join(dir, 'o')).scenario as { resample: string }).resample).toBe('undersample');
    const html = readFileSync(join(dir, 'o', 'report.html'), 'utf8');
    expect(html.match(/data-testid="gradcam" src="data:image\/png;base64,/g)?.length).toBe(8);
  });

  it('resample with DP: exit 2 naming the field', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-scn-dp-'));
    writeFileSync(join(dir, 's.yaml'), 'dataset: breast-cancer\nresample: oversample\ndp: { epsilon: 4 }\n');
    const err = await run('node', [BIN, 'simulate', '--scenario', join(dir, 's.yaml')], { timeout: 60_000 }).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/resample="oversample": not with DP-SGD/);
  });
});
