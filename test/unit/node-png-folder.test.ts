import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../protocol/manifest.js';
import { loadPngFolder } from '../../node/data/png-folder.js';

const manifest = parseManifest({
  version: 1,
  federation: 'xray',
  seed: 1,
  model: { kind: 'cnn' },
  imageShape: [4, 3, 1],
  label: { name: 'diagnosis', positive: 'PNEUMONIA', negatives: ['NORMAL'] },
  rounds: 1,
  training: { localEpochs: 1, batchSize: 8, learningRate: 0.01 },
  committee: { size: 1, threshold: 1 },
});

function png(w: number, h: number, gray: number): Buffer {
  const p = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; i++) p.data.set([gray, gray, gray, 255], i * 4);
  return PNG.sync.write(p);
}

describe('PNG folder loader', () => {
  it('loads grayscale images per class folder with labels from the manifest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-png-'));
    mkdirSync(join(dir, 'NORMAL'));
    mkdirSync(join(dir, 'PNEUMONIA'));
    writeFileSync(join(dir, 'NORMAL', 'a.png'), png(3, 4, 0));
    writeFileSync(join(dir, 'PNEUMONIA', 'b.png'), png(3, 4, 255));
    writeFileSync(join(dir, 'PNEUMONIA', 'c.png'), Buffer.from('not a png'));
    const { data, report } = loadPngFolder(dir, manifest, 0.5);
    expect(data.featureShape).toEqual([4, 3, 1]);
    expect(Array.from(data.y)).toEqual([0, 1]);
    expect(data.x[0]).toBe(0);
    expect(data.x[12]).toBeCloseTo(1, 6);
    expect(report.badFiles).toHaveLength(1);
    expect(report.perClass).toEqual({ NORMAL: 1, PNEUMONIA: 1 });
  });

  it('rejects a wrong image size and an unknown class folder, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-png-'));
    mkdirSync(join(dir, 'NORMAL'));
    writeFileSync(join(dir, 'NORMAL', 'big.png'), png(28, 28, 9));
    expect(() => loadPngFolder(dir, manifest)).toThrow(/big\.png is 28×28, the federation expects 3×4/);
    mkdirSync(join(dir, 'COVID'));
    expect(() => loadPngFolder(dir, manifest)).toThrow(expect.objectContaining({ code: 'DATA_BAD_LABEL' }));
  });
});
