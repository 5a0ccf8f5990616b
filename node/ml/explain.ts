/**
 * Explanations a clinician can check (issue 16).
 *
 * Grad-CAM (Selvaraju et al., ICCV 2017, eq. 1–2): for the last Conv2D layer's activations A^k
 * and the class score y^c (the output layer's pre-activation, before sigmoid/softmax, as the
 * paper takes it), α_k = mean_{i,j} ∂y^c/∂A^k_{ij} and the map is ReLU(Σ_k α_k A^k), resized
 * bilinearly to the input and scaled to [0, 1]. Supports models whose layers form a chain
 * (Sequential, or a functional model without branches) ending in a Dense layer.
 *
 * Shapley values for tabular models: the attribution of feature j to f(x) against a PUBLIC
 * background set B (the explainer never needs a member's training rows). Three methods, chosen
 * by `explain-run.ts` as the issue asks ("exact for linear models; KernelSHAP otherwise"):
 * - `linearShapley`: a model that is one Dense layer (logistic, softmax or linear regression) is
 *   linear in its inputs before the output link, so its interventional SHAP values there are
 *   exactly φ_j = w_jk (x_j − mean_b b_j) (Lundberg & Lee 2017, §4.1 "Linear SHAP"; the `shap`
 *   package's LinearExplainer). They explain the margin (log-odds for sigmoid outputs, the class
 *   score for softmax, the value for regression), where the model is additive; in probability
 *   space a logistic model is not, and no closed form exists.
 * - KernelSHAP (./kernel-shap.ts) for any other model, in the output's units (probability or value).
 * - Permutation sampling (`shapley` below), kept as an alternative estimator. Estimated by
 * permutation sampling (Štrumbelj & Kononenko 2014, "Explaining prediction models and individual
 * predictions with feature contributions", Alg. 1) with antithetic pairs: each sample draws a
 * permutation π and a background row b and credits f(x_{S∪j}, b_rest) − f(x_S, b_rest) to j for
 * each prefix S of π. Every sample's credits sum to f(x) − f(b), so the estimate satisfies
 * efficiency exactly: Σ_j φ_j = f(x) − mean_b f(b) over the rows sampled. For a model that is
 * linear in its inputs (a logistic/linear model explained in its link space) each credit is
 * exactly w_j (x_j − b_j), so the estimate equals the exact SHAP value w_j (x_j − E[b_j]) when
 * every background row is used equally (samples a multiple of 2|B|). f is the model output for
 * one class (binary P(y=1), a class's probability, or the regression value in model units).
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, shuffleInPlace } from '../../protocol/rng.js';
import { TrainerError } from './errors.js';
import type { ShapValues, ValueFunction } from './kernel-shap.js';

function refuse(field: string, value: unknown, rule: string): TrainerError {
  return new TrainerError('TRAINER_SPEC_INVALID', `${field} = ${JSON.stringify(value)}: ${rule}`, { field, value, rule });
}

/** The model's layers after the input, checked to form a chain. */
function chain(model: tf.LayersModel): tf.layers.Layer[] {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  for (const l of layers) {
    if (l.inboundNodes.length > 1 || (l.inboundNodes[0]?.inboundLayers.length ?? 1) > 1) {
      throw refuse('model', l.name, 'Grad-CAM here needs a chain of layers (no branches or shared layers)');
    }
  }
  return layers;
}

/**
 * Grad-CAM heat maps for `n` images (x: n × h × w × c, row-major), for class `classIndex` of
 * the output (default: each image's predicted class; binary: the positive class). Returns n maps
 * of h × w values in [0, 1] (all zero where no evidence for the class was found).
 */
export function gradCam(model: tf.LayersModel, x: Float32Array, n: number, classIndex?: number): Float32Array[] {
  const layers = chain(model);
  const shape = (model.inputs[0]!.shape as number[]).slice(1);
  if (shape.length !== 3) throw refuse('model.input', shape, 'an image model [height, width, channels]');
  const lastConv = layers.map((l) => l.getClassName()).lastIndexOf('Conv2D');
  if (lastConv < 0) throw refuse('model', model.name, 'Grad-CAM needs a Conv2D layer');
  const out = layers[layers.length - 1]!;
  if (out.getClassName() !== 'Dense') throw refuse('model.output', out.name, 'a Dense output layer');
  // The layer's own tensors (getWeights reads the variables): used, never disposed.
  const [kernel, bias] = out.getWeights();
  const [h, w] = shape as [number, number, number];
  const size = shape.reduce((a, b) => a * b, 1);
  const maps: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const map = tf.tidy(() => {
      const xi = tf.tensor(x.subarray(i * size, (i + 1) * size), [1, ...shape]);
      let a: tf.Tensor = xi;
      for (let k = 0; k <= lastConv; k++) a = layers[k]!.apply(a) as tf.Tensor;
      // The class score y^c: the output layer's pre-activation, a function of A.
      const score = (acts: tf.Tensor): tf.Tensor1D => {
        let z: tf.Tensor = acts;
        for (let k = lastConv + 1; k < layers.length - 1; k++) z = layers[k]!.apply(z) as tf.Tensor;
        let s = tf.matMul(tf.reshape(z, [1, -1]) as tf.Tensor2D, kernel as tf.Tensor2D);
        if (bias !== undefined) s = tf.add(s, bias);
        return tf.reshape(s, [-1]) as tf.Tensor1D;
      };
      const logits = score(a).dataSync();
      const c = classIndex ?? (logits.length === 1 ? 0 : logits.indexOf(Math.max(...logits)));
      // y^c as a dot product with a one-hot (wasm has no gradient kernel for gather).
      const pick = tf.tensor1d(Float32Array.from({ length: logits.length }, (_, j) => (j === c ? 1 : 0)));
      const grads = tf.grad((acts: tf.Tensor) => tf.sum(tf.mul(score(acts), pick)) as tf.Scalar)(a); // [1, H', W', K]
      const alpha = tf.mean(grads, [1, 2], true); // [1, 1, 1, K]
      const cam = tf.relu(tf.sum(tf.mul(alpha, a), 3, true)); // [1, H', W', 1]
      const up = tf.image.resizeBilinear(cam as tf.Tensor4D, [h, w]);
      const max = tf.max(up);
      return tf.reshape(tf.div(up, tf.maximum(max, 1e-12)), [h * w]).dataSync() as Float32Array;
    });
    maps.push(Float32Array.from(map));
  }
  return maps;
}

export interface ShapleyOptions {
  /** Samples per row (each an antithetic pair counts 2). Default 2 · |B| · 8. */
  readonly samples?: number;
  /** Output index explained (class or label); default 0 (binary: P(y = 1)). */
  readonly output?: number;
  readonly seed?: number;
}

export interface ShapleyResult {
  /** n × f attributions, row-major, in the explained output's units. */
  readonly values: Float32Array;
  /** Per row: mean over the sampled background rows of f(b) (the base value). */
  readonly base: Float32Array;
  /** Per row: f(x). */
  readonly prediction: Float32Array;
  readonly samples: number;
}

/**
 * Shapley values of the `n` rows of `x` (n × f, already in model-input units) against the
 * background `bg` (m × f). See the module header.
 */
export function shapley(
  model: tf.LayersModel,
  x: Float32Array,
  n: number,
  bg: Float32Array,
  m: number,
  o: ShapleyOptions = {},
): ShapleyResult {
  const f = n > 0 ? x.length / n : 0;
  if (m < 1 || bg.length !== m * f) throw refuse('background', bg.length, `m × ${f} values, m ≥ 1`);
  const samples = o.samples ?? 2 * m * 8;
  if (!Number.isSafeInteger(samples) || samples < 2 || samples % 2 !== 0) throw refuse('samples', samples, 'an even integer ≥ 2');
  const k = o.output ?? 0;
  const rng = createRng(o.seed ?? 0, 'fedmesh/ml/shapley/v1');
  const values = new Float32Array(n * f);
  const base = new Float32Array(n);
  const prediction = new Float32Array(n);
  const outputs = (model.outputs[0]!.shape as number[])[1] ?? 1;
  const evaluate = (rows: Float32Array, count: number): Float32Array =>
    tf.tidy(() => {
      const p = (model.predict(tf.tensor2d(rows, [count, f])) as tf.Tensor).dataSync();
      return Float32Array.from({ length: count }, (_, i) => p[i * outputs + k]!);
    });
  for (let r = 0; r < n; r++) {
    const xr = x.subarray(r * f, (r + 1) * f);
    // Every sample walks one permutation: f + 1 model inputs, evaluated in one batch.
    const batch = new Float32Array(samples * (f + 1) * f);
    const perms: number[][] = [];
    let bgSum = 0;
    for (let s = 0; s < samples; s += 2) {
      const pi = shuffleInPlace(
        Array.from({ length: f }, (_, j) => j),
        rng,
      );
      // Antithetic pair: the reversed permutation with the same background row.
      const b = s / 2 < m * Math.floor(samples / (2 * m)) ? (s / 2) % m : rng.int(m);
      for (const [t, order] of [pi, [...pi].reverse()].entries()) {
        const row = bg.subarray(b * f, (b + 1) * f);
        const z = Float32Array.from(row);
        const off = (s + t) * (f + 1) * f;
        batch.set(z, off);
        order.forEach((j, step) => {
          z[j] = xr[j]!;
          batch.set(z, off + (step + 1) * f);
        });
        perms.push(order);
      }
    }
    const y = evaluate(batch, samples * (f + 1));
    perms.forEach((order, s) => {
      const off = s * (f + 1);
      bgSum += y[off]!;
      order.forEach((j, step) => {
        values[r * f + j]! += (y[off + step + 1]! - y[off + step]!) / samples;
      });
    });
    base[r] = bgSum / samples;
    prediction[r] = y[f]!; // the last input of the first walk is x itself
  }
  return { values, base, prediction, samples };
}

/** Global importance: mean |φ_j| over rows (Lundberg et al. 2020's summary of SHAP values). */
export function globalImportance(values: ArrayLike<number>, n: number): Float32Array {
  const f = n > 0 ? values.length / n : 0;
  const out = new Float32Array(f);
  for (let r = 0; r < n; r++) for (let j = 0; j < f; j++) out[j]! += Math.abs(values[r * f + j]!) / n;
  return out;
}

/** Layers that do not change a linear model's form (they only reshape or pass through). */
const PASS_THROUGH = new Set(['InputLayer', 'Flatten', 'Reshape', 'Dropout']);

/**
 * True when the model is one Dense layer (plus reshapes) on its input: logistic, softmax or linear
 * regression — the models whose margin is linear in the features (`linearShapley`).
 */
export function isLinearModel(model: tf.LayersModel): boolean {
  const dense = model.layers.filter((l) => !PASS_THROUGH.has(l.getClassName()));
  return dense.length === 1 && dense[0]!.getClassName() === 'Dense' && dense[0] === model.layers[model.layers.length - 1];
}

/** Rows per model call in the value functions: bounds one batch's tensors. */
const PREDICT_CHUNK = 8192;

/**
 * The model as a batch function of its inputs (tables: n × f rows, already in model-input units),
 * for output `k`: 'output' = after the output activation (probability or value), 'margin' = the
 * last Dense layer's pre-activation (what `linearShapley` explains).
 */
export function modelValueFunction(model: tf.LayersModel, k = 0, space: 'output' | 'margin' = 'output'): ValueFunction {
  const layers = chain(model);
  const out = layers[layers.length - 1]!;
  if (out.getClassName() !== 'Dense') throw refuse('model.output', out.name, 'a Dense output layer');
  const units = (model.outputs[0]!.shape as number[])[1] ?? 1;
  if (!Number.isSafeInteger(k) || k < 0 || k >= units) throw refuse('output', k, `an output index in [0, ${units})`);
  const inShape = (model.inputs[0]!.shape as number[]).slice(1);
  const f = inShape.reduce((a, b) => a * b, 1);
  const [kernel, bias] = out.getWeights();
  return (rows, count) => {
    const res = new Float32Array(count);
    for (let start = 0; start < count; start += PREDICT_CHUNK) {
      const c = Math.min(PREDICT_CHUNK, count - start);
      const y = tf.tidy(() => {
        const xs = tf.tensor(rows.subarray(start * f, (start + c) * f), [c, ...inShape]);
        if (space === 'output') return (model.predict(xs) as tf.Tensor).dataSync();
        let z: tf.Tensor = xs;
        for (let i = 0; i < layers.length - 1; i++) z = layers[i]!.apply(z) as tf.Tensor;
        let s = tf.matMul(tf.reshape(z, [c, -1]) as tf.Tensor2D, kernel as tf.Tensor2D);
        if (bias !== undefined) s = tf.add(s, bias);
        return s.dataSync();
      });
      for (let i = 0; i < c; i++) res[start + i] = y[i * units + k]!;
    }
    return res;
  };
}

/**
 * Exact SHAP values of a linear model (`isLinearModel`) in its margin, output `k`:
 * φ_j = w_jk (x_j − mean_b b_j), base = w_k · mean_b b + bias_k, prediction = the margin of x.
 */
export function linearShapley(model: tf.LayersModel, x: Float32Array, n: number, bg: Float32Array, m: number, k = 0): ShapValues {
  if (!isLinearModel(model)) throw refuse('method', 'linear', 'exact linear SHAP needs a model that is one Dense layer on its input');
  const f = n > 0 ? x.length / n : 0;
  if (m < 1 || bg.length !== m * f) throw refuse('background', bg.length, `m × ${f} values, m ≥ 1`);
  const out = model.layers[model.layers.length - 1]!;
  const [kernel, bias] = out.getWeights();
  const units = kernel!.shape[1]!;
  if (!Number.isSafeInteger(k) || k < 0 || k >= units) throw refuse('output', k, `an output index in [0, ${units})`);
  const w = kernel!.dataSync();
  const b0 = bias !== undefined ? bias.dataSync()[k]! : 0;
  const meanB = new Float64Array(f);
  for (let r = 0; r < m; r++) for (let j = 0; j < f; j++) meanB[j]! += bg[r * f + j]! / m;
  const values = new Float64Array(n * f);
  const base = new Float64Array(n);
  const prediction = new Float64Array(n);
  let baseValue = b0;
  for (let j = 0; j < f; j++) baseValue += w[j * units + k]! * meanB[j]!;
  for (let r = 0; r < n; r++) {
    let margin = b0;
    for (let j = 0; j < f; j++) {
      const wj = w[j * units + k]!;
      values[r * f + j] = wj * (x[r * f + j]! - meanB[j]!);
      margin += wj * x[r * f + j]!;
    }
    base[r] = baseValue;
    prediction[r] = margin;
  }
  return { values, base, prediction, samples: 0, coalitions: 0, exact: true };
}
