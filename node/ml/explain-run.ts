/**
 * `fedmesh explain` (issue 16): explanations of an exported model (node/ml/model-card.ts) for
 * rows of a file, written to a folder.
 *
 * - Image models: Grad-CAM (./explain.ts) per image, `gradcam-<i>.png` — the image and its heat
 *   map (red = evidence for the class) over it, side by side, scaled up for viewing.
 * - Tabular models: Shapley values (./explain.ts, ./kernel-shap.ts) — `shapley.csv` (per row:
 *   f(x), the base value and one attribution per feature, in the explained quantity's units),
 *   `importance.csv` and `importance.svg` (mean |φ| per feature). The method follows issue 16
 *   ("exact for linear models; KernelSHAP otherwise, with its sample count"): `auto` is exact
 *   linear SHAP in the margin for a one-Dense-layer model and KernelSHAP on the output otherwise;
 *   `kernel`, `permutation` (antithetic permutation sampling) and `exact` (all 2^M coalitions,
 *   M ≤ 12) can be asked for. Regression values are reported in the target's original units
 *   (φ and f scaled by the card's std, the base shifted by its mean). The background must be
 *   public (`background`, e.g. a published reference table); without one the explained rows
 *   themselves serve as background, which is said in the summary.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import type { Task } from '../../protocol/task.js';
import { TrainerError } from './errors.js';
import { globalImportance, gradCam, isLinearModel, linearShapley, modelValueFunction, shapley } from './explain.js';
import { defaultKernelSamples, EXACT_SHAPLEY_MAX_FEATURES, exactShapley, kernelShap, type ShapValues } from './kernel-shap.js';
import { loadModelWithCard, readPredictionInput, standardizeRows } from './model-card.js';

/** How tabular attributions are computed (see the module header). */
export type ShapleyMethod = 'auto' | 'linear' | 'kernel' | 'permutation' | 'exact';
export const SHAPLEY_METHODS: readonly ShapleyMethod[] = ['auto', 'linear', 'kernel', 'permutation', 'exact'];
/** What each method reports as `method` in the summary. */
export type ExplainMethod = 'grad-cam' | 'shapley-linear' | 'kernel-shap' | 'shapley-permutation' | 'shapley-exact';

/** Background rows used at most: KernelSHAP evaluates samples × |B| model inputs per row. */
export const MAX_BACKGROUND_ROWS = 64;

export interface ExplainInit {
  readonly modelDir: string;
  readonly data: string;
  readonly out: string;
  /** Rows (or images) explained, from the start of the file. Default 16. */
  readonly rows?: number;
  readonly array?: string;
  readonly background?: string;
  /**
   * Samples per row: KernelSHAP's coalition budget (default 2M + 2048, the `shap` package's, capped
   * at 2^M − 2) or permutation samples (even; default 2·|background|·8, at most 512).
   */
  readonly samples?: number;
  /** The output explained (class index / label index); default the predicted class (images) or 0. */
  readonly output?: number;
  /** Tables: default 'auto'. */
  readonly method?: ShapleyMethod;
  /** Seeds KernelSHAP's coalitions and the permutations. Default 0. */
  readonly seed?: number;
}

export interface ExplainSummary {
  readonly method: ExplainMethod;
  readonly files: readonly string[];
  readonly rows: number;
  readonly samples?: number;
  /** KernelSHAP: true when every coalition was enumerated (the values are exact). */
  readonly exact?: boolean;
  /** What f is: e.g. "P(y = 1)", "log-odds of y = 1", "thalach (original units)". */
  readonly explained?: string;
  readonly background?: string;
}

interface TabularShap {
  readonly method: Exclude<ExplainMethod, 'grad-cam'>;
  readonly res: ShapValues;
  readonly explained: string;
}

function refuse(field: string, value: unknown, rule: string): TrainerError {
  return new TrainerError('TRAINER_SPEC_INVALID', `${field} = ${JSON.stringify(value)}: ${rule}`, { field, value, rule });
}

/** The name of output k of a task, for the summary. */
function outputName(task: Task | undefined, k: number): string {
  if (task?.kind === 'multiclass') return `class ${task.classes[k] ?? k}`;
  if (task?.kind === 'multilabel') return `label ${task.labels[k] ?? k}`;
  return 'y = 1';
}

/**
 * Tabular Shapley values by `method` (see the module header). Rows and background are in
 * model-input units. Regression results are returned in the target's original units.
 */
export function tabularShapley(
  model: LayersModel,
  task: Task | undefined,
  x: Float32Array,
  n: number,
  bg: Float32Array,
  m: number,
  o: { readonly method?: ShapleyMethod; readonly samples?: number; readonly output?: number; readonly seed?: number } = {},
): TabularShap {
  const method = o.method ?? 'auto';
  if (!SHAPLEY_METHODS.includes(method)) throw refuse('method', method, SHAPLEY_METHODS.join(' | '));
  const k = o.output ?? 0;
  const f = x.length / n;
  const regression = task?.kind === 'regression';
  const linear = method === 'linear' || (method === 'auto' && isLinearModel(model));
  let out: TabularShap;
  if (linear) {
    const explained = regression
      ? 'the predicted value'
      : task?.kind === 'multiclass'
        ? `the softmax score (logit) of ${outputName(task, k)}`
        : `the log-odds of ${outputName(task, k)}`;
    out = { method: 'shapley-linear', res: linearShapley(model, x, n, bg, m, k), explained };
  } else {
    const fn = modelValueFunction(model, k, 'output');
    const explained = regression ? 'the predicted value' : `P(${outputName(task, k)})`;
    if (method === 'permutation') {
      const p = shapley(model, x, n, bg, m, { samples: o.samples ?? Math.min(512, 2 * m * 8), output: k, seed: o.seed ?? 0 });
      out = {
        method: 'shapley-permutation',
        res: {
          values: Float64Array.from(p.values),
          base: Float64Array.from(p.base),
          prediction: Float64Array.from(p.prediction),
          samples: p.samples,
          coalitions: 0,
          exact: false,
        },
        explained,
      };
    } else if (method === 'exact') {
      if (f > EXACT_SHAPLEY_MAX_FEATURES)
        throw refuse(
          'method',
          method,
          `exact enumeration takes at most ${EXACT_SHAPLEY_MAX_FEATURES} features (the model has ${f}); use kernel`,
        );
      out = { method: 'shapley-exact', res: exactShapley(fn, x, n, bg, m), explained };
    } else {
      out = {
        method: 'kernel-shap',
        res: kernelShap(fn, x, n, bg, m, { samples: o.samples ?? defaultKernelSamples(f), seed: o.seed ?? 0 }),
        explained,
      };
    }
  }
  if (!regression || task?.kind !== 'regression') return out;
  // Model units are (v − mean) / std: φ and f scale by std, the base shifts by the mean too.
  const { mean, std } = task;
  const r = out.res;
  return {
    ...out,
    explained: `${out.explained} (original units)`,
    res: {
      ...r,
      values: r.values.map((v) => v * std),
      base: r.base.map((v) => v * std + mean),
      prediction: r.prediction.map((v) => v * std + mean),
    },
  };
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
  // Explanations describe whatever model they are given (a `fedmesh simulate` folder carries no
  // manifest); a card that carries one is still checked against it (F15).
  const { model, card } = await loadModelWithCard(o.modelDir, { allowUnbound: true });
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
    const m = Math.min(bgInput.n, MAX_BACKGROUND_ROWS);
    const bg = standardizeRows(card, bgInput.x.subarray(0, m * f), m);
    const { method, res, explained } = tabularShapley(model, card.task, x, n, bg, m, {
      ...(o.method !== undefined ? { method: o.method } : {}),
      ...(o.samples !== undefined ? { samples: o.samples } : {}),
      output: o.output ?? 0,
      seed: o.seed ?? 0,
    });
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
      method,
      files: [shapCsv, impCsv, impSvg],
      rows: n,
      samples: res.samples,
      ...(method === 'kernel-shap' ? { exact: res.exact } : {}),
      explained,
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
  task?: Task,
): string {
  const f = featureShape.reduce((a, b) => a * b, 1);
  if (featureShape.length === 3) {
    const [h, w, ch] = featureShape as [number, number, number];
    const k = Math.min(count, n);
    const maps = gradCam(model, x, k);
    const imgs = maps.map(
      (m, i) =>
        `<img alt="Test image ${i + 1} and its Grad-CAM heat map (red: evidence for the predicted class)" data-testid="gradcam" src="data:image/png;base64,${overlayPng(x.subarray(i * f, (i + 1) * f), m, h, w, ch).toString('base64')}" width="${4 * w * 2}">`,
    );
    return `<p>Grad-CAM (Selvaraju et al. 2017) of the final model on the first ${k} test images, for each image's predicted class: the image, then the heat map over it.</p><div class="gradcam-grid" data-testid="gradcam-grid">${imgs.join(' ')}</div>`;
  }
  const k = Math.min(count * 2, Math.max(1, n - 1));
  const m = Math.max(1, Math.min(background, n - k));
  // The report is written at the end of every simulation: a smaller KernelSHAP budget than the
  // CLI's default (stated in the text), exact enumeration whenever 2^M − 2 fits in it.
  const samples = Math.min(defaultKernelSamples(f), 2 * f + REPORT_KERNEL_SAMPLES);
  const { method, res, explained } = tabularShapley(model, task, x.subarray(0, k * f), k, x.subarray(k * f, (k + m) * f), m, { samples });
  const g = globalImportance(res.values, k);
  const labels = names ?? Array.from({ length: f }, (_, j) => `x${j}`);
  const how =
    method === 'shapley-linear'
      ? 'exact linear SHAP, w_j (x_j − mean background_j)'
      : `KernelSHAP (Lundberg & Lee 2017), ${res.samples} coalitions per row${res.exact ? ', all of them: exact' : ''}`;
  return `<p>Mean |Shapley value| per feature of ${esc(explained)} (${how}) over ${k} test rows, against ${m} other test rows as background (no public reference set here, so other held-out rows stand in).</p><figure role="img" aria-label="Global feature importance: ${esc(
    [...labels.keys()]
      .sort((a, b) => g[b]! - g[a]!)
      .map((j) => `${labels[j]} ${g[j]!.toPrecision(3)}`)
      .join(', '),
  )}" data-testid="importance-chart" data-method="${method}" data-samples="${res.samples}">${barSvg(labels, g)}</figure>`;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** KernelSHAP budget beyond the 2M singletons for report.html (the CLI default adds 2048). */
export const REPORT_KERNEL_SAMPLES = 256;
