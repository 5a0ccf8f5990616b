/**
 * `fedmesh explain` (issue 16): explanations of an exported model (node/ml/model-card.ts) for
 * rows of a file, written to a folder.
 *
 * - Image models: Grad-CAM (./explain.ts) per image, `gradcam-<i>.png` — the image and its heat
 *   map (red = evidence for the class) over it, side by side, scaled up for viewing.
 * - Tabular models: Shapley values by permutation sampling (./explain.ts) — `shapley.csv`
 *   (per row: f(x), the base value and one attribution per feature, in the output's units),
 *   `importance.csv` and `importance.svg` (mean |φ| per feature). The background must be public
 *   (`background`, e.g. a published reference table); without one the explained rows themselves
 *   serve as background, which is said in the summary.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import { globalImportance, gradCam, shapley } from './explain.js';
import { loadModelWithCard, readPredictionInput, standardizeRows } from './model-card.js';

export interface ExplainInit {
  readonly modelDir: string;
  readonly data: string;
  readonly out: string;
  /** Rows (or images) explained, from the start of the file. Default 16. */
  readonly rows?: number;
  readonly array?: string;
  readonly background?: string;
  /** Shapley samples per row (even). Default 2·|background|·8, at most 512. */
  readonly samples?: number;
  /** The output explained (class index / label index); default the predicted class (images) or 0. */
  readonly output?: number;
}

export interface ExplainSummary {
  readonly method: 'grad-cam' | 'shapley-permutation';
  readonly files: readonly string[];
  readonly rows: number;
  readonly samples?: number;
  readonly background?: string;
}

const SCALE = 8;

/** Jet-like colour for v in [0, 1] (blue → cyan → yellow → red). */
function heat(v: number): [number, number, number] {
  const c = (x: number): number => Math.round(255 * Math.max(0, Math.min(1, x)));
  return [c(1.5 - Math.abs(4 * v - 3)), c(1.5 - Math.abs(4 * v - 2)), c(1.5 - Math.abs(4 * v - 1))];
}

function overlayPng(img: Float32Array, map: Float32Array, h: number, w: number, ch: number): Buffer {
  const png = new PNG({ width: 2 * w * SCALE, height: h * SCALE });
  for (let y = 0; y < h * SCALE; y++)
    for (let x = 0; x < 2 * w * SCALE; x++) {
      const i = Math.floor(y / SCALE);
      const j = Math.floor(x / SCALE) % w;
      const p = (i * w + j) * ch;
      const rgb = [0, 1, 2].map((k) => Math.round(255 * Math.max(0, Math.min(1, img[p + (ch === 3 ? k : 0)]!))));
      const o = (y * 2 * w * SCALE + x) * 4;
      const out =
        x < w * SCALE
          ? rgb
          : (() => {
              const m = map[i * w + j]!;
              const hc = heat(m);
              const a = 0.6 * m;
              return rgb.map((v, k) => Math.round((1 - a) * v + a * hc[k]!));
            })();
      png.data[o] = out[0]!;
      png.data[o + 1] = out[1]!;
      png.data[o + 2] = out[2]!;
      png.data[o + 3] = 255;
    }
  return PNG.sync.write(png);
}

function barSvg(names: readonly string[], values: Float32Array): string {
  const max = Math.max(...values, 1e-12);
  const rowH = 18;
  const order = [...names.keys()].sort((a, b) => values[b]! - values[a]!);
  const bars = order
    .map((j, r) => {
      const wpx = Math.round((300 * values[j]!) / max);
      const y = 10 + r * rowH;
      const label = names[j]!.replace(/[<&>"]/g, '');
      return `<text x="155" y="${y + 12}" text-anchor="end" font-size="12">${label}</text><rect x="160" y="${y}" width="${wpx}" height="${rowH - 4}" fill="#4c78a8"/><text x="${165 + wpx}" y="${y + 12}" font-size="11">${values[j]!.toPrecision(3)}</text>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="560" height="${20 + order.length * rowH}" font-family="sans-serif">${bars}</svg>\n`;
}

export async function explainModel(o: ExplainInit): Promise<ExplainSummary> {
  const { model, card } = await loadModelWithCard(o.modelDir);
  try {
    mkdirSync(o.out, { recursive: true });
    const input = readPredictionInput(o.data, card, o.array);
    const n = Math.min(o.rows ?? 16, input.n);
    const f = card.featureShape.reduce((a, b) => a * b, 1);
    const x = standardizeRows(card, input.x.subarray(0, n * f), n);
    if (card.featureShape.length === 3) {
      const [h, w, ch] = card.featureShape as [number, number, number];
      const maps = gradCam(model, x, n, o.output);
      const files = maps.map((m, i) => {
        const file = join(o.out, `gradcam-${i}.png`);
        writeFileSync(file, overlayPng(input.x.subarray(i * f, (i + 1) * f), m, h, w, ch));
        return file;
      });
      return { method: 'grad-cam', files, rows: n };
    }
    const bgInput = o.background !== undefined ? readPredictionInput(o.background, card) : { x: input.x.subarray(0, n * f), n };
    const m = Math.min(bgInput.n, 64);
    const bg = standardizeRows(card, bgInput.x.subarray(0, m * f), m);
    const samples = o.samples ?? Math.min(512, 2 * m * 8);
    const res = shapley(model, x, n, bg, m, { samples, output: o.output ?? 0 });
    const names = card.features ?? Array.from({ length: f }, (_, j) => `x${j}`);
    const shapCsv = join(o.out, 'shapley.csv');
    writeFileSync(
      shapCsv,
      `${['row', 'prediction', 'base', ...names].join(',')}\n${Array.from({ length: n }, (_, r) => [r, res.prediction[r], res.base[r], ...res.values.subarray(r * f, (r + 1) * f)].join(',')).join('\n')}\n`,
    );
    const g = globalImportance(res.values, n);
    const impCsv = join(o.out, 'importance.csv');
    writeFileSync(impCsv, `feature,meanAbsShapley\n${names.map((nm, j) => `${nm},${g[j]}`).join('\n')}\n`);
    const impSvg = join(o.out, 'importance.svg');
    writeFileSync(impSvg, barSvg(names, g));
    return {
      method: 'shapley-permutation',
      files: [shapCsv, impCsv, impSvg],
      rows: n,
      samples,
      background: o.background ?? `the first ${m} explained rows (give --background for a public reference set)`,
    };
  } finally {
    model.dispose();
  }
}

/**
 * Explanations for report.html: a grid of Grad-CAM overlays of the first `count` evaluation
 * images, or the global Shapley importance chart of the first `count` evaluation rows against the
 * next `background` rows (a simulation has no public reference set; the report says so). Input
 * rows are already in model-input units. Returns an HTML fragment.
 */
export function reportExplanations(
  model: LayersModel,
  featureShape: readonly number[],
  x: Float32Array,
  n: number,
  names?: readonly string[],
  count = 8,
  background = 32,
): string {
  const f = featureShape.reduce((a, b) => a * b, 1);
  if (featureShape.length === 3) {
    const [h, w, ch] = featureShape as [number, number, number];
    const k = Math.min(count, n);
    const maps = gradCam(model, x, k);
    const imgs = maps.map(
      (m, i) =>
        `<img alt="Grad-CAM ${i}" src="data:image/png;base64,${overlayPng(x.subarray(i * f, (i + 1) * f), m, h, w, ch).toString('base64')}" width="${4 * w * 2}">`,
    );
    return `<p>Grad-CAM (Selvaraju et al. 2017) of the final model on the first ${k} test images, for each image's predicted class: the image, then the heat map over it.</p><div>${imgs.join(' ')}</div>`;
  }
  const k = Math.min(count * 2, Math.max(1, n - 1));
  const m = Math.max(1, Math.min(background, n - k));
  const res = shapley(model, x.subarray(0, k * f), k, x.subarray(k * f, (k + m) * f), m, { samples: Math.min(256, 2 * m * 4) });
  const g = globalImportance(res.values, k);
  const labels = names ?? Array.from({ length: f }, (_, j) => `x${j}`);
  return `<p>Mean |Shapley value| per feature (permutation sampling, ${res.samples} samples per row) over ${k} test rows, against ${m} other test rows as background (a simulation has no public reference set).</p>${barSvg(labels, g)}`;
}
