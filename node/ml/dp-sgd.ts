/**
 * Per-example gradient clipping for DP-SGD (Abadi et al. 2016) without a per-example loop.
 *
 * One batch costs one forward pass and one backward pass, then a little per-layer algebra:
 *
 * 1. Forward through the model's layers functionally (same weights, same maths as the Keras
 *    model), adding a zero "probe" tensor to every parameterised layer's pre-activation s_l and
 *    keeping each such layer's input a_l. Backpropagating the SUMMED loss Σ_i ℓ_i to the probes
 *    (`tf.valueAndGrads`) yields δ_l = ∂(Σ_i ℓ_i)/∂s_l, whose row i is example i's own error signal
 *    (example i's loss depends on row i only). tfjs prunes the tape to the path from the probes to
 *    the loss, so no weight gradient is computed in this pass.
 * 2. Per-example squared gradient norms, summed over layers:
 *    - dense: g_i = a_i δ_iᵀ is rank one, so ‖g_i‖² = ‖a_i‖²·‖δ_i‖², and the bias adds ‖δ_i‖² — the
 *      norm trick of Goodfellow 2015 ("Efficient per-example gradient computations") that Lee &
 *      Kifer 2021 and Li et al. 2022 call ghost clipping: the per-example gradient is never formed;
 *    - conv2d: unfold (im2col) the input with a one-hot identity filter — conv2d(a, I) with the
 *      layer's strides and padding gives U_i of shape [P, k_h·k_w·c_in] — then the per-example
 *      kernel gradient is G_i = U_iᵀ Δ_i (one batched matmul), ‖G_i‖² its sum of squares, and the
 *      bias adds ‖Σ_p Δ_{i,p}‖². This materialises G_i ([k²c_in, c_out] per example) instead of the
 *      ghost-norm Gram matrices ⟨U_iU_iᵀ, Δ_iΔ_iᵀ⟩, which would be P×P = 676² for our first conv: the
 *      layer-wise choice of "mixed ghost clipping" (Bu et al. 2022, ghost when 2P² < k²c_in·c_out).
 * 3. Clip factors c_i = min(1, C/‖g_i‖) over the WHOLE model's gradient (flat clipping).
 * 4. Clipped sums, reusing a_l and δ_l ("book-keeping", Bu et al. 2023): Σ_i c_i g_i is linear in
 *    δ, so dense W: aᵀ(c ⊙ δ), b: Σ_i c_i δ_i; conv W: Σ_i c_i G_i, b: Σ_{i,p} c_i Δ_{i,p}. No second
 *    backward pass.
 *
 * Loss on the last layer's pre-activation s (K units), by task (protocol/task.ts), the same
 * per-example loss the non-DP trainer minimises:
 * - binary / multi-label: mean over outputs of −y·log σ(s) − (1 − y)·log σ(−s), written as
 *   softplus(s) − y·s (same value, stable for large |s|, gradient exactly σ(s) − y). (tfjs 4.22's
 *   `logSigmoid` gradient reads a disposed tensor inside `tf.grads`, so it is avoided.)
 * - multi-class: categorical cross-entropy of softmax(s), logsumexp(s) − Σ_j y_j s_j (gradient
 *   softmax(s) − y).
 * - regression: squared error (s − y)² (linear output).
 * Optional per-example weights w_i (class weights) multiply ℓ_i before clipping; row i's error
 * signal stays row i's own, so the per-example algebra below is unchanged.
 * The Keras model's output is link(s), so the functional forward and `model.predict` agree
 * (tested).
 *
 * Frozen layers (transfer learning) are applied forward with their fixed weights and get no probe.
 *
 * Supported layers: exactly what `createModel` (./trainer.ts) builds — Dense, Conv2D
 * (channels-last, dilation 1), MaxPooling2D, Flatten; activations relu, linear, and sigmoid or
 * softmax on the last layer only (the output link). Anything else is refused with
 * TRAINER_SPEC_INVALID.
 */
import * as tf from '@tensorflow/tfjs';
import { BINARY_TASK, outputActivation, outputUnits, type Task } from '../../protocol/task.js';
import { TrainerError } from './errors.js';

type Activation = 'relu' | 'linear' | 'sigmoid' | 'softmax';

interface ParamLayer {
  readonly kind: 'dense' | 'conv2d';
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable | null;
  /**
   * A frozen layer (transfer learning, `layer.trainable = false`): forward only, no probe, no
   * gradient. Its weights are public constants of the model, so clipping covers only the
   * trainable parameters (Abadi et al. 2016 clip the gradient of what is trained).
   */
  readonly frozen: boolean;
  readonly activation: Activation;
  /** Pre-activation shape without the batch dimension. */
  readonly outShape: readonly number[];
  /** conv2d only. */
  readonly strides?: [number, number];
  readonly padding?: 'valid' | 'same';
  /** conv2d only: the one-hot unfolding filter [k_h, k_w, c_in, k_h·k_w·c_in]. */
  readonly unfold?: tf.Tensor4D;
}

type PlanStep =
  | ParamLayer
  | {
      readonly kind: 'maxPool';
      readonly poolSize: [number, number];
      readonly strides: [number, number];
      readonly padding: 'valid' | 'same';
    }
  | { readonly kind: 'flatten' };

/**
 * The model's layers as a functional plan, bound to the model's own variables (so optimizer
 * updates are seen). Owns the unfolding filters: call `dispose()` when done.
 */
export class PerExampleGradients {
  private readonly steps: PlanStep[];
  /** Trainable variables in `model.trainableWeights` order (kernel, bias per layer). */
  readonly variables: readonly tf.Variable[];

  private readonly task: Task;
  private readonly focalGamma: number;

  /** `focalGamma` > 0: the focal loss of the task (see `perExampleLossFromLogits`). */
  constructor(model: tf.LayersModel, task: Task = BINARY_TASK, focalGamma = 0) {
    this.task = task;
    this.focalGamma = focalGamma;
    this.steps = [];
    const vars: tf.Variable[] = [];
    const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
    layers.forEach((layer, index) => {
      const cls = layer.getClassName();
      const cfg = layer.getConfig() as Record<string, unknown>;
      const refuse = (why: string): TrainerError =>
        new TrainerError('TRAINER_SPEC_INVALID', `DP-SGD: layer ${index} "${layer.name}" (${cls}): ${why}`, {
          layer: index,
          name: layer.name,
          className: cls,
          rule: why,
        });
      if (cls === 'Flatten') {
        this.steps.push({ kind: 'flatten' });
        return;
      }
      if (cls === 'MaxPooling2D') {
        if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast') throw refuse('channelsLast only');
        this.steps.push({
          kind: 'maxPool',
          poolSize: pair(cfg.poolSize),
          strides: pair(cfg.strides ?? cfg.poolSize),
          padding: padding(cfg.padding, refuse),
        });
        return;
      }
      if (cls !== 'Dense' && cls !== 'Conv2D') throw refuse('unsupported layer type');
      const activation = cfg.activation;
      if (activation !== 'relu' && activation !== 'linear' && activation !== 'sigmoid' && activation !== 'softmax') {
        throw refuse(`activation ${String(activation)}`);
      }
      if ((activation === 'sigmoid' || activation === 'softmax') && index !== layers.length - 1) {
        throw refuse(`${activation} only as the output link`);
      }
      const frozen = !layer.trainable;
      const weights = (frozen ? layer.weights : layer.trainableWeights).map((w) => w.read() as tf.Variable);
      const kernel = weights[0];
      if (kernel === undefined || weights.length > 2) throw refuse('expected kernel and optional bias');
      const bias = weights[1] ?? null;
      if (!frozen) vars.push(...weights);
      const outShape = (layer.outputShape as (number | null)[]).slice(1) as number[];
      if (cls === 'Dense') {
        this.steps.push({ kind: 'dense', kernel, bias, activation, outShape, frozen });
        return;
      }
      if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast') throw refuse('channelsLast only');
      const dil = pair(cfg.dilationRate ?? 1);
      if (dil[0] !== 1 || dil[1] !== 1) throw refuse('dilation 1 only');
      const [kh, kw, cin] = kernel.shape as [number, number, number, number];
      this.steps.push({
        kind: 'conv2d',
        kernel,
        bias,
        activation,
        outShape,
        frozen,
        strides: pair(cfg.strides ?? 1),
        padding: padding(cfg.padding, refuse),
        unfold: unfoldFilter(kh, kw, cin),
      });
    });
    const last = this.steps[this.steps.length - 1];
    const units = outputUnits(task);
    const link = outputActivation(task);
    if (last === undefined || last.kind !== 'dense' || last.frozen || last.outShape[0] !== units || last.activation !== link) {
      const rule = `the last layer must be a ${units}-unit dense layer with ${link} activation (${task.kind} task)`;
      throw new TrainerError('TRAINER_SPEC_INVALID', `DP-SGD: ${rule}`, { rule });
    }
    this.variables = vars;
  }

  /**
   * Logits s (the last layer's pre-activation) for a batch, through the functional plan.
   * `probes`: added to each parameterised layer's pre-activation; `inputs`: receives each
   * parameterised layer's input (kept: the caller disposes them).
   */
  logits(xs: tf.Tensor, probes?: readonly tf.Tensor[], inputs?: tf.Tensor[]): tf.Tensor2D {
    let h: tf.Tensor = xs;
    let p = 0;
    for (const step of this.steps) {
      if (step.kind === 'flatten') {
        h = tf.reshape(h, [h.shape[0]!, -1]);
        continue;
      }
      if (step.kind === 'maxPool') {
        h = tf.maxPool(h as tf.Tensor4D, step.poolSize, step.strides, step.padding);
        continue;
      }
      if (inputs !== undefined && !step.frozen) inputs.push(h === xs ? h : tf.keep(h));
      let s: tf.Tensor =
        step.kind === 'dense'
          ? tf.matMul(h as tf.Tensor2D, step.kernel)
          : tf.conv2d(h as tf.Tensor4D, step.kernel as tf.Tensor4D, step.strides!, step.padding!);
      if (step.bias !== null) s = tf.add(s, step.bias);
      if (!step.frozen) {
        const probe = probes?.[p];
        if (probe !== undefined) s = tf.add(s, probe);
        p++;
      }
      h = step.activation === 'relu' ? tf.relu(s) : s; // sigmoid/softmax: the last layer, returned as logits
    }
    return h as tf.Tensor2D;
  }

  /**
   * For a batch (xs: [B, …inputShape], ys: [B, K] targets as protocol/task `targetsOf` gives
   * them, optional weights [B]): the per-example gradient norms ‖g_i‖ (before clipping), the sum
   * over examples of the clipped gradients c_i·g_i per variable (in `variables` order) and the
   * summed (weighted) loss. All returned tensors belong to the caller.
   */
  clippedSum(
    xs: tf.Tensor,
    ys: tf.Tensor2D,
    clipNorm: number,
    weights?: tf.Tensor1D,
  ): { sums: tf.Tensor[]; norms: tf.Tensor1D; lossSum: tf.Scalar } {
    const b = xs.shape[0]!;
    const params = this.steps.filter((s): s is ParamLayer => (s.kind === 'dense' || s.kind === 'conv2d') && !s.frozen);
    const inputs: tf.Tensor[] = [];
    try {
      return tf.tidy(() => {
        const probes = params.map((l) => tf.zeros([b, ...l.outShape]));
        const { value: lossSum, grads: deltas } = tf.valueAndGrads((...ps: tf.Tensor[]) => {
          inputs.length = 0;
          const s = this.logits(xs, ps, inputs);
          const perRow = perExampleLossFromLogits(this.task, ys, s, this.focalGamma);
          return tf.sum(weights !== undefined ? tf.mul(perRow, weights) : perRow);
        })(probes);

        // Per-layer per-example squared norms, and what the clipped sums need.
        const perLayer = params.map((layer, l) => {
          const a = inputs[l]!;
          const delta = deltas[l]!;
          if (layer.kind === 'dense') {
            const d2 = tf.sum(tf.square(delta), 1);
            const a2 = tf.sum(tf.square(a), 1);
            const sq = layer.bias !== null ? tf.mul(tf.add(a2, 1), d2) : tf.mul(a2, d2);
            return { sq, a, delta, g: null as tf.Tensor3D | null };
          }
          const cout = delta.shape[3]!;
          const u = tf.conv2d(a as tf.Tensor4D, layer.unfold!, layer.strides!, layer.padding!); // [B, H', W', k²c_in]
          const d = u.shape[3]!;
          const p = u.shape[1]! * u.shape[2]!;
          const g = tf.matMul(tf.reshape(u, [b, p, d]), tf.reshape(delta, [b, p, cout]), true, false) as tf.Tensor3D; // [B, D, c_out]
          let sq = tf.sum(tf.square(g), [1, 2]);
          if (layer.bias !== null) sq = tf.add(sq, tf.sum(tf.square(tf.sum(delta, [1, 2])), 1));
          return { sq, a, delta, g };
        });
        const norms = tf.sqrt(tf.addN(perLayer.map((x) => x.sq))) as tf.Tensor1D;
        // c_i = C / max(‖g_i‖, C) = min(1, C/‖g_i‖), exact (no ε in the denominator).
        const c = tf.div(clipNorm, tf.maximum(norms, clipNorm)) as tf.Tensor1D;

        const sums: tf.Tensor[] = [];
        params.forEach((layer, l) => {
          const { a, delta, g } = perLayer[l]!;
          if (layer.kind === 'dense') {
            const cd = tf.mul(delta, tf.reshape(c, [b, 1]));
            sums.push(tf.matMul(a as tf.Tensor2D, cd as tf.Tensor2D, true, false));
            if (layer.bias !== null) sums.push(tf.sum(cd, 0));
          } else {
            sums.push(tf.reshape(tf.sum(tf.mul(g!, tf.reshape(c, [b, 1, 1])), 0), layer.kernel.shape));
            if (layer.bias !== null) sums.push(tf.sum(tf.mul(delta, tf.reshape(c, [b, 1, 1, 1])), [0, 1, 2]));
          }
        });
        return { sums, norms, lossSum: lossSum as tf.Scalar };
      });
    } finally {
      for (const t of inputs) if (t !== xs) t.dispose();
    }
  }

  dispose(): void {
    for (const s of this.steps) if (s.kind === 'conv2d') s.unfold?.dispose();
  }
}

/**
 * ℓ_i from the logits s [B, K] (see the module header), [B]. With γ > 0 the focal loss (Lin et
 * al. 2017, eq. 4 without α): −(1 − p_t)^γ log p_t, p_t the probability of the true class (per
 * output for sigmoid heads: log p_t = −softplus(−z), z = (2y − 1)s; softmax: log p_t = yᵀs −
 * logsumexp(s)).
 */
export function perExampleLossFromLogits(task: Task, ys: tf.Tensor2D, s: tf.Tensor2D, focalGamma = 0): tf.Tensor1D {
  if (task.kind === 'regression') return tf.mean(tf.square(tf.sub(s, ys)), 1) as tf.Tensor1D;
  if (task.kind === 'multiclass') {
    const ce = tf.sub(tf.logSumExp(s, 1), tf.sum(tf.mul(ys, s), 1));
    return (focalGamma > 0 ? tf.mul(tf.pow(tf.sub(1, tf.exp(tf.neg(ce))), focalGamma), ce) : ce) as tf.Tensor1D;
  }
  if (focalGamma <= 0) return tf.mean(tf.sub(tf.softplus(s), tf.mul(ys, s)), 1) as tf.Tensor1D;
  const z = tf.mul(tf.sub(tf.mul(ys, 2), 1), s);
  const ce = tf.softplus(tf.neg(z));
  return tf.mean(tf.mul(tf.pow(tf.sub(1, tf.sigmoid(z)), focalGamma), ce), 1) as tf.Tensor1D;
}

function pair(v: unknown): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
  return [Number.NaN, Number.NaN];
}

function padding(v: unknown, refuse: (why: string) => Error): 'valid' | 'same' {
  if (v === undefined || v === 'valid') return 'valid';
  if (v === 'same') return 'same';
  throw refuse(`padding ${String(v)}`);
}

/**
 * The one-hot filter that turns conv2d into im2col: output channel (i·k_w + j)·c_in + c copies
 * input channel c at kernel offset (i, j), matching the row-major flattening of a
 * [k_h, k_w, c_in, c_out] kernel into [k_h·k_w·c_in, c_out].
 */
function unfoldFilter(kh: number, kw: number, cin: number): tf.Tensor4D {
  const d = kh * kw * cin;
  const data = new Float32Array(kh * kw * cin * d);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < cin; c++) {
        const o = (i * kw + j) * cin + c;
        data[((i * kw + j) * cin + c) * d + o] = 1;
      }
  return tf.tensor4d(data, [kh, kw, cin, d]);
}
