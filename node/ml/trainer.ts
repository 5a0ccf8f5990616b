/**
 * Local training for one peer: a tfjs model for the federation's task (protocol/task.ts: binary
 * sigmoid, multi-class softmax, multi-label sigmoids or a linear regression output, with the
 * matching cross-entropy or squared-error loss) whose parameters cross the module boundary only as
 * `ModelWeights` (protocol/model.ts).
 *
 * Class imbalance: `classWeights` weights each row's loss by its class (binary and multi-class),
 * in the non-DP loss and in DP-SGD's per-example losses alike (clipping still bounds every
 * example's contribution to C, so the privacy analysis is unchanged). `resample` balances the
 * rows of each epoch instead (./resample.ts; not with DP-SGD).
 *
 * Reproducibility: initial weights come from the model seed (every initializer gets its own seed
 * derived from it), and each `train()` shuffles with a seeded generator (protocol/rng.ts) and
 * starts a fresh optimizer, so a round's update is a function of (global weights, local data,
 * options) only, as FedAvg's ClientUpdate is (McMahan et al. 2017, Algorithm 1). tfjs's own
 * `model.fit({shuffle: true})` draws from Math.random (tfjs-layers `util.shuffle`), so batches
 * are formed here and fitting is a plain loop over `optimizer.minimize`.
 *
 * Concurrency: all simulated peers in a process share one tfjs engine. A module-level mutex
 * serialises `train()` calls, so each training run's `seconds` measures only its own work and
 * peak memory is one run's working set. Between steps the loop yields to the event loop so
 * networking (libp2p heartbeats, gossip) keeps running.
 *
 * Differential privacy: with `dp` in the options, training is DP-SGD (Abadi et al. 2016) with
 * Poisson sampling, per-example clipping and Gaussian noise; the per-example maths is in
 * ./dp-sgd.ts, the step arithmetic in protocol/privacy/dp-sgd.ts, the randomness in
 * ./dp-randomness.ts. Accounting is the caller's (protocol/privacy): this module trains, it does
 * not decide whether the budget allows training.
 *
 * The tfjs backend is *not* chosen here: call `selectBackend()` (./backend.ts) once at start-up,
 * before constructing any Trainer. Without it tfjs in Node runs on its pure-JS cpu backend,
 * ~100x slower for the CNN.
 */
import * as tf from '@tensorflow/tfjs';
import type { LabelledData } from '../../protocol/data.js';
import { isFedmeshError } from '../../protocol/errors.js';
import { type ModelWeights, type Tensor, tensorSize } from '../../protocol/model.js';
import { type Task, BINARY_TASK, outputActivation, outputUnits, targetsOf } from '../../protocol/task.js';
import { type DpSgdParams, fillGaussian, poissonSample, stepsPerEpoch, validateDpSgdParams } from '../../protocol/privacy/dp-sgd.js';
import type { PrivacyArgumentFields } from '../../protocol/privacy/errors.js';
import { createRng, shuffleInPlace } from '../../protocol/rng.js';
import { type DpRandomness, dpUniform } from './dp-randomness.js';
import { PerExampleGradients } from './dp-sgd.js';
import { TrainerError, type TrainerErrorCode } from './errors.js';
import { type AugmentOptions, augmentBatch } from './augment.js';
import { RESAMPLE_MODES, type ResampleMode, resampleIndices } from './resample.js';
import { DataError } from '../../protocol/data.js';
import { MAX_CLASSES } from '../../protocol/task.js';

export type { LabelledData } from '../../protocol/data.js';
export type { DpRandomness } from './dp-randomness.js';
export { TrainerError, type TrainerErrorCode } from './errors.js';

/**
 * Your own tfjs Layers model (issue 16; ./model-io.ts reads it from disk): `build` returns a
 * fresh copy each call (every Trainer owns its model), `hash` is its architecture-and-initial-
 * weights hash (model-io `artifactsHash`), `freeze` names layers (exact name or name prefix)
 * whose weights stay fixed: they are neither trained nor federated (transfer learning).
 */
export interface LayersSource {
  readonly build: () => tf.LayersModel;
  readonly hash: string;
  readonly freeze?: readonly string[];
}

/** A built-in architecture, or your own ('tfjs'), and the task its output layer serves. */
export interface ModelSpec {
  kind: 'logreg' | 'mlp' | 'cnn' | 'tfjs';
  /** kind 'tfjs': where the model comes from. */
  layers?: LayersSource;
  /** Default binary (one sigmoid output): the model and its initial weights are then as before issue 16. */
  task?: Task;
  /** Shape of one example; for 'cnn' [height, width, channels]. */
  inputShape: readonly number[];
  /** Hidden dense widths: 'mlp' default [16]; for 'cnn' the dense head after flatten, default [32]. */
  hidden?: readonly number[];
}

export interface TrainOptions {
  epochs: number;
  /** Rows per step without DP. With `dp` the batch is Poisson-sampled and this is unused. */
  batchSize: number;
  learningRate: number;
  /** Seeds the per-epoch shuffles (and, with dp.randomness 'seeded', the DP sampling and noise). */
  seed: number;
  optimizer?: 'sgd' | 'adam';
  /** Train with DP-SGD. Each local epoch is ⌈1/q⌉ steps (protocol/privacy `stepsPerEpoch`). */
  dp?: DpTrainOptions;
  /**
   * FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks", eq. 2): add the
   * proximal term μ/2 · ‖w − w_start‖² to the local objective, w_start being the weights
   * `train()` starts from (the round's global model). 0 or absent: plain local training (FedAvg).
   */
  proximalMu?: number;
  /**
   * Loss weight per class index (binary and multi-class tasks): row i's loss is multiplied by
   * classWeights[y_i]. Absent: every row weighs 1.
   */
  classWeights?: readonly number[];
  /**
   * Seeded image augmentation of every training batch (./augment.ts): true for the defaults, or
   * the settings. Images only; local training only (evaluation and `predict` never augment).
   */
  augment?: boolean | AugmentOptions;
  /**
   * Focal loss γ (Lin et al. 2017) instead of cross-entropy: down-weights easy examples, a
   * common alternative to class weights under imbalance. Classification tasks; 0 or absent: off.
   */
  focalGamma?: number;
  /**
   * Class-balanced resampling of the rows each epoch (./resample.ts): 'oversample' or
   * 'undersample', seeded from `seed`. Binary and multi-class tasks; local training only; refused
   * with `dp` (it breaks the accountant's sampling assumptions, see ./resample.ts). Absent or
   * 'none': every row once per epoch.
   */
  resample?: ResampleMode;
}

/** DP-SGD parameters (σ, C, q) and where its randomness comes from. */
export interface DpTrainOptions extends DpSgdParams {
  /** Default 'secure' (OS CSPRNG); 'seeded' replays from `seed` — simulations and tests only. */
  randomness?: DpRandomness;
  /**
   * The divisor of each step's noisy gradient sum. A federation passes a public value (the
   * batch size, node/daemon/setup.ts `planSiteDp`): the step is then post-processing of the
   * noisy sum alone. Absent: the expected batch q·N, which depends on the record count N and is
   * not (issue 15).
   */
  expectedBatchSize?: number;
}

export interface TrainResult {
  /** Mean binary cross-entropy over the last epoch's batches, weighted by batch size. */
  loss: number;
  /** Optimizer steps taken. */
  steps: number;
  /** Wall-clock seconds, excluding time spent waiting for another Trainer's run. */
  seconds: number;
  /** DP-SGD diagnostics (local only: computed from the private data, not differentially private). */
  dp?: {
    /** Mean Poisson batch size over all steps (expected q·N). */
    meanBatchSize: number;
    /** Fraction of sampled examples whose gradient norm exceeded the clipping norm. */
    clippedFraction: number;
  };
}

export const DEFAULT_MLP_HIDDEN: readonly number[] = [16];
export const DEFAULT_CNN_HIDDEN: readonly number[] = [32];
export const DEFAULT_OPTIMIZER = 'adam' as const;
/** Rows per forward pass in `predict`: bounds peak memory for large evaluation sets. */
export const PREDICT_BATCH = 1024;
/** CNN feature extractor (conv 3x3 'valid' → maxpool 2, twice): filters per block. */
const CNN_FILTERS = [8, 16] as const;
/** Domains for protocol/rng.ts streams, so init, shuffle, DP sampling and DP noise never share a stream. */
const INIT_RNG_DOMAIN = 'fedmesh/ml/init/v1';
const SHUFFLE_RNG_DOMAIN = 'fedmesh/ml/shuffle/v1';
const DP_SAMPLE_RNG_DOMAIN = 'fedmesh/ml/dp-sample/v1';
const DP_NOISE_RNG_DOMAIN = 'fedmesh/ml/dp-noise/v1';
const AUGMENT_RNG_DOMAIN = 'fedmesh/ml/augment/v1';
const RESAMPLE_RNG_DOMAIN = 'fedmesh/ml/resample/v1';

/** Fields of TRAINER_SHAPE_MISMATCH. `index` is null when the tensor count differs. */
export interface ShapeMismatchFields extends Record<string, unknown> {
  what: 'count' | 'shape' | 'length';
  index: number | null;
  expected: number[];
  got: number[];
}

function invalid(code: TrainerErrorCode, field: string, value: unknown, rule: string): TrainerError {
  return new TrainerError(code, `${field} = ${JSON.stringify(value)}: ${rule}`, { field, value, rule });
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

function validateSpec(spec: ModelSpec): void {
  if (!['logreg', 'mlp', 'cnn', 'tfjs'].includes(spec.kind)) {
    throw invalid('TRAINER_SPEC_INVALID', 'kind', spec.kind, "one of 'logreg', 'mlp', 'cnn', 'tfjs'");
  }
  if ((spec.kind === 'tfjs') !== (spec.layers !== undefined)) {
    throw invalid('TRAINER_SPEC_INVALID', 'layers', spec.kind, "kind 'tfjs' needs layers (its model source); built-ins must not have it");
  }
  if (!Array.isArray(spec.inputShape) || spec.inputShape.length === 0 || !spec.inputShape.every(isPositiveInt)) {
    throw invalid('TRAINER_SPEC_INVALID', 'inputShape', spec.inputShape, 'non-empty list of positive integers');
  }
  if (spec.hidden !== undefined && (!Array.isArray(spec.hidden) || !spec.hidden.every(isPositiveInt))) {
    throw invalid('TRAINER_SPEC_INVALID', 'hidden', spec.hidden, 'list of positive integers');
  }
  if (spec.task !== undefined) validateTask(spec.task);
  if (spec.kind === 'cnn' || spec.kind === 'tfjs') {
    if (spec.kind === 'tfjs') return;
    if (spec.inputShape.length !== 3) {
      throw invalid('TRAINER_SPEC_INVALID', 'inputShape', spec.inputShape, "'cnn' needs [height, width, channels]");
    }
    // Two (conv 3x3 valid → maxpool 2) blocks must leave at least one pixel.
    const after = (d: number): number => Math.floor((Math.floor((d - 2) / 2) - 2) / 2);
    if (after(spec.inputShape[0]!) < 1 || after(spec.inputShape[1]!) < 1) {
      throw invalid('TRAINER_SPEC_INVALID', 'inputShape', spec.inputShape, "'cnn' needs height and width >= 10");
    }
  }
}

/**
 * Builds the network for `spec` with deterministic initial weights: the same (spec, seed) gives
 * bit-identical weights on every backend (tfjs seeded initializers draw in JS via seedrandom).
 * Kernels use Glorot-uniform (Glorot & Bengio 2010), Keras's default; biases start at zero.
 */
export function createModel(spec: ModelSpec, seed: number): tf.LayersModel {
  validateSpec(spec);
  if (!Number.isSafeInteger(seed)) throw invalid('TRAINER_SPEC_INVALID', 'seed', seed, 'safe integer');
  if (spec.kind === 'tfjs') return ownModel(spec, spec.layers!);
  // One seed per layer: two layers of equal shape with equal seeds would start identical.
  const rng = createRng(seed, INIT_RNG_DOMAIN);
  const kernelInitializer = () => tf.initializers.glorotUniform({ seed: rng.int(2 ** 31) });
  const inputShape = [...spec.inputShape];
  const model = tf.sequential();
  const task = spec.task ?? BINARY_TASK;
  const head = (): tf.layers.Layer => dense(outputUnits(task), outputActivation(task), false);
  const dense = (units: number, activation: 'relu' | 'sigmoid' | 'softmax' | 'linear', first: boolean) =>
    tf.layers.dense({
      units,
      activation,
      kernelInitializer: kernelInitializer(),
      biasInitializer: 'zeros',
      ...(first ? { inputShape } : {}),
    });

  if (spec.kind === 'cnn') {
    CNN_FILTERS.forEach((filters, i) => {
      model.add(
        tf.layers.conv2d({
          filters,
          kernelSize: 3,
          activation: 'relu',
          padding: 'valid',
          kernelInitializer: kernelInitializer(),
          biasInitializer: 'zeros',
          ...(i === 0 ? { inputShape } : {}),
        }),
      );
      model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    });
    model.add(tf.layers.flatten());
    for (const units of spec.hidden ?? DEFAULT_CNN_HIDDEN) model.add(dense(units, 'relu', false));
    model.add(head());
    return model;
  }

  let first = true;
  if (inputShape.length > 1) {
    model.add(tf.layers.flatten({ inputShape }));
    first = false;
  }
  const hidden = spec.kind === 'mlp' ? (spec.hidden ?? DEFAULT_MLP_HIDDEN) : [];
  for (const units of hidden) {
    model.add(dense(units, 'relu', first));
    first = false;
  }
  if (first) model.add(dense(outputUnits(task), outputActivation(task), true));
  else model.add(head());
  return model;
}

function validateTask(t: Task): void {
  const bad = (field: string, value: unknown, rule: string): TrainerError => invalid('TRAINER_SPEC_INVALID', field, value, rule);
  const names = (field: string, v: readonly string[], min: number): void => {
    if (!Array.isArray(v) || v.length < min || v.length > MAX_CLASSES || new Set(v).size !== v.length) {
      throw bad(field, v, `${min}..${MAX_CLASSES} distinct names`);
    }
  };
  if (t.kind === 'binary') return;
  if (t.kind === 'multiclass') names('task.classes', t.classes, 2);
  else if (t.kind === 'multilabel') names('task.labels', t.labels, 1);
  else if (t.kind === 'regression') {
    if (!Number.isFinite(t.mean)) throw bad('task.mean', t.mean, 'finite number');
    if (!(Number.isFinite(t.std) && t.std > 0)) throw bad('task.std', t.std, 'finite number > 0');
  } else throw bad('task.kind', (t as { kind: unknown }).kind, "one of 'binary', 'multiclass', 'multilabel', 'regression'");
}

/**
 * Per-example loss of model outputs `out` (after the output activation) against targets `ys`,
 * both [m, K]: binary and multi-label cross-entropy averaged over outputs, categorical
 * cross-entropy, or squared error. Returns [m].
 */
export function perExampleLoss(task: Task, ys: tf.Tensor, out: tf.Tensor, focalGamma = 0): tf.Tensor1D {
  if (task.kind === 'regression') return tf.mean(tf.square(tf.sub(out, ys)), -1) as tf.Tensor1D;
  if (focalGamma <= 0) {
    if (task.kind === 'multiclass') return tf.metrics.categoricalCrossentropy(ys, out) as tf.Tensor1D;
    return tf.metrics.binaryCrossentropy(ys, out) as tf.Tensor1D;
  }
  // Focal loss (Lin et al. 2017): −(1 − p_t)^γ log p_t, probabilities clipped as Keras does.
  const p = tf.clipByValue(out, 1e-7, 1 - 1e-7);
  if (task.kind === 'multiclass') {
    const pt = tf.sum(tf.mul(ys, p), -1);
    return tf.mul(tf.pow(tf.sub(1, pt), focalGamma), tf.neg(tf.log(pt))) as tf.Tensor1D;
  }
  const pt = tf.add(tf.mul(ys, p), tf.mul(tf.sub(1, ys), tf.sub(1, p)));
  return tf.mean(tf.mul(tf.pow(tf.sub(1, pt), focalGamma), tf.neg(tf.log(pt))), -1) as tf.Tensor1D;
}

/** The batch augmenter of a training run (seeded from the run's seed), or undefined. */
function augmenter(opts: TrainOptions, shape: readonly number[]): ((x: Float32Array, m: number) => void) | undefined {
  if (opts.augment === undefined || opts.augment === false) return undefined;
  const rng = createRng(opts.seed, AUGMENT_RNG_DOMAIN);
  const settings = opts.augment === true ? {} : opts.augment;
  return (x, m) => augmentBatch(x, m, shape, rng, settings);
}

/** Row weights from class weights (1 everywhere without them). */
function rowWeights(task: Task, y: Uint8Array, n: number, classWeights: readonly number[] | undefined): Float32Array {
  const w = new Float32Array(n).fill(1);
  if (classWeights === undefined || (task.kind !== 'binary' && task.kind !== 'multiclass')) return w;
  for (let i = 0; i < n; i++) w[i] = classWeights[y[i]!]!;
  return w;
}

/**
 * Your own model, checked against the federation before anything trains: its input shape must be
 * the manifest's features/image shape, its last layer a Dense with the task's output units and
 * link, every `freeze` entry must match a layer, and at least one weight must stay trainable.
 */
function ownModel(spec: ModelSpec, source: LayersSource): tf.LayersModel {
  const model = source.build();
  const task = spec.task ?? BINARY_TASK;
  const fail = (field: string, value: unknown, rule: string): never => {
    model.dispose();
    throw invalid('TRAINER_SPEC_INVALID', field, value, rule);
  };
  const input = (model.inputs[0]?.shape ?? []).slice(1);
  if (model.inputs.length !== 1 || input.length !== spec.inputShape.length || input.some((d, i) => d !== spec.inputShape[i])) {
    fail('model.input', input, `one input of shape [${spec.inputShape.join(', ')}] (the federation's features)`);
  }
  const last = model.layers[model.layers.length - 1]!;
  const cfg = last.getConfig() as { units?: number; activation?: string };
  if (
    model.outputs.length !== 1 ||
    last.getClassName() !== 'Dense' ||
    cfg.units !== outputUnits(task) ||
    cfg.activation !== outputActivation(task)
  ) {
    fail(
      `model.output (layer ${last.name})`,
      { className: last.getClassName(), units: cfg.units, activation: cfg.activation },
      `a Dense layer of ${outputUnits(task)} unit(s) with ${outputActivation(task)} activation (${task.kind} task)`,
    );
  }
  for (const f of source.freeze ?? []) {
    const hit = model.layers.filter((l) => l.name === f || l.name.startsWith(f));
    if (hit.length === 0) fail('freeze', f, `no layer is named or prefixed so (layers: ${model.layers.map((l) => l.name).join(', ')})`);
    for (const l of hit) l.trainable = false;
  }
  if (model.trainableWeights.length === 0) fail('freeze', source.freeze, 'leaves no trainable weight');
  return model;
}

/**
 * The tensors a model federates (the variables' own tensors: read, never dispose): every weight,
 * or with frozen layers the trainable ones only. Its `modelHash` is the model's on-chain hash.
 */
export function federatedTensors(model: tf.LayersModel): tf.Tensor[] {
  if (model.trainableWeights.length === model.weights.length) return model.getWeights();
  return model.trainableWeights.map((w) => w.read());
}

/** Serialises training across every Trainer in the process (see module header). */
let trainingTail: Promise<void> = Promise.resolve();

async function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const previous = trainingTail;
  let release!: () => void;
  trainingTail = new Promise<void>((resolve) => {
    release = resolve;
  });
  await previous;
  try {
    return await fn();
  } finally {
    release();
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Trainer {
  readonly spec: ModelSpec;
  readonly task: Task;
  /** Width of the output layer (outputUnits(task)). */
  readonly outputs: number;
  private readonly model: tf.LayersModel;
  private readonly featureSize: number;
  private busy = false;
  private disposed = false;

  constructor(spec: ModelSpec, seed: number) {
    this.model = createModel(spec, seed);
    this.spec = { ...spec, inputShape: [...spec.inputShape], ...(spec.hidden ? { hidden: [...spec.hidden] } : {}) };
    this.featureSize = tensorSize(spec.inputShape);
    this.task = spec.task ?? BINARY_TASK;
    this.outputs = outputUnits(this.task);
  }

  /**
   * The federated parameters: `model.getWeights()` order (kernel, then bias, per layer); with
   * frozen layers, only the trainable weights (`model.trainableWeights` order) — frozen ones are
   * part of the model's identity (its source hash), never of an update.
   */
  private params(): tf.Tensor[] {
    return federatedTensors(this.model);
  }

  /** Copies of the federated parameters (see `params`). */
  getWeights(): ModelWeights {
    this.checkAlive();
    // getWeights returns the variables' own tensors: read, never dispose. dataSync may return
    // the backend's buffer (cpu backend), so copy.
    const tensors: Tensor[] = this.params().map((t) => ({
      shape: [...t.shape],
      data: new Float32Array(t.dataSync() as Float32Array),
    }));
    return { tensors };
  }

  /**
   * Replaces every parameter. Validated in full before anything is written, so a bad input
   * leaves the model unchanged.
   * @throws TrainerError TRAINER_SHAPE_MISMATCH ({what, index, expected, got});
   *         TRAINER_BUSY while this trainer is training.
   */
  setWeights(w: ModelWeights): void {
    this.checkAlive();
    if (this.busy) throw new TrainerError('TRAINER_BUSY', 'setWeights during train()', { op: 'setWeights' });
    const current = this.params();
    const mismatch = (f: ShapeMismatchFields, msg: string): TrainerError => new TrainerError('TRAINER_SHAPE_MISMATCH', msg, f);
    if (w.tensors.length !== current.length) {
      throw mismatch(
        { what: 'count', index: null, expected: [current.length], got: [w.tensors.length] },
        `expected ${current.length} tensors, got ${w.tensors.length}`,
      );
    }
    w.tensors.forEach((t, i) => {
      const expected = [...current[i]!.shape];
      const got = [...t.shape];
      if (expected.length !== got.length || expected.some((d, j) => d !== got[j])) {
        throw mismatch({ what: 'shape', index: i, expected, got }, `tensor ${i}: expected shape [${expected}], got [${got}]`);
      }
      if (t.data.length !== tensorSize(expected)) {
        throw mismatch(
          { what: 'length', index: i, expected: [tensorSize(expected)], got: [t.data.length] },
          `tensor ${i}: shape [${got}] needs ${tensorSize(expected)} values, got ${t.data.length}`,
        );
      }
    });
    // Variable.assign takes its own reference to each new buffer, so tidy may dispose ours.
    tf.tidy(() => {
      const values = w.tensors.map((t) => tf.tensor(t.data, [...t.shape], 'float32'));
      if (this.model.trainableWeights.length === this.model.weights.length) this.model.setWeights(values);
      else
        this.model.trainableWeights.forEach((v, i) => {
          v.write(values[i]!);
        });
    });
  }

  /**
   * Trains in place on `data` and resolves when done. Waits for any other Trainer's run first.
   * @throws TrainerError TRAINER_OPTIONS_INVALID / TRAINER_DATA_INVALID (before waiting).
   */
  async train(data: LabelledData, opts: TrainOptions): Promise<TrainResult> {
    this.checkAlive();
    validateOptions(opts);
    this.validateData(data);
    if (opts.classWeights !== undefined) this.validateClassWeights(opts.classWeights);
    if ((opts.focalGamma ?? 0) > 0 && this.task.kind === 'regression') {
      throw invalid('TRAINER_OPTIONS_INVALID', 'focalGamma', opts.focalGamma, 'only for classification tasks');
    }
    if (opts.augment !== undefined && opts.augment !== false && this.spec.inputShape.length !== 3) {
      throw invalid('TRAINER_OPTIONS_INVALID', 'augment', opts.augment, 'image augmentation needs image inputs [height, width, channels]');
    }
    if (opts.resample !== undefined && opts.resample !== 'none' && this.task.kind !== 'binary' && this.task.kind !== 'multiclass') {
      throw invalid('TRAINER_OPTIONS_INVALID', 'resample', opts.resample, 'only for binary and multiclass tasks (a row needs one class)');
    }
    if (this.busy) throw new TrainerError('TRAINER_BUSY', 'train() is already running on this trainer', { op: 'train' });
    this.busy = true;
    try {
      return await exclusive(() => this.runTraining(data, opts));
    } finally {
      this.busy = false;
    }
  }

  private async runTraining(data: LabelledData, opts: TrainOptions): Promise<TrainResult> {
    if (opts.dp !== undefined) return this.runDpTraining(data, opts, opts.dp);
    const started = performance.now();
    const f = this.featureSize;
    const shape = [...this.spec.inputShape];
    const optimizer = (opts.optimizer ?? DEFAULT_OPTIMIZER) === 'sgd' ? tf.train.sgd(opts.learningRate) : tf.train.adam(opts.learningRate);
    // LayerVariable.read() is the underlying tf.Variable the optimizer updates.
    const vars = this.model.trainableWeights.map((v) => v.read() as tf.Variable);
    const rng = createRng(opts.seed, SHUFFLE_RNG_DOMAIN);
    let order = Array.from({ length: data.n }, (_, i) => i);
    // Resampling (./resample.ts): a fresh class-balanced multiset of rows each epoch.
    const resampleRng = opts.resample !== undefined && opts.resample !== 'none' ? createRng(opts.seed, RESAMPLE_RNG_DOMAIN) : undefined;
    const mu = opts.proximalMu ?? 0;
    const k = this.outputs;
    const targets = targetsOf(data, this.task);
    const weights = rowWeights(this.task, data.y, data.n, opts.classWeights);
    const weighted = opts.classWeights !== undefined;
    const augment = augmenter(opts, shape);
    // FedProx anchor: the weights this run starts from (the round's global model).
    const anchors = mu > 0 ? vars.map((v) => tf.keep(v.clone())) : [];
    let steps = 0;
    let loss = Number.NaN;
    try {
      for (let epoch = 0; epoch < opts.epochs; epoch++) {
        if (resampleRng !== undefined) {
          const classes = this.task.kind === 'multiclass' ? this.task.classes.length : 2;
          order = Array.from(resampleIndices(data.y.subarray(0, data.n), classes, opts.resample!, resampleRng));
        }
        shuffleInPlace(order, rng);
        const rows = order.length;
        // Summed on the device and read once per epoch: a per-step read would sync every step.
        let lossSum: tf.Scalar = tf.scalar(0);
        try {
          for (let start = 0; start < rows; start += opts.batchSize) {
            const m = Math.min(opts.batchSize, rows - start);
            const xb = new Float32Array(m * f);
            const yb = new Float32Array(m * k);
            const wb = new Float32Array(m);
            for (let i = 0; i < m; i++) {
              const row = order[start + i]!;
              xb.set(data.x.subarray(row * f, (row + 1) * f), i * f);
              yb.set(targets.subarray(row * k, (row + 1) * k), i * k);
              wb[i] = weights[row]!;
            }
            augment?.(xb, m);
            const next = tf.tidy(() => {
              const xs = tf.tensor(xb, [m, ...shape]);
              const ys = tf.tensor2d(yb, [m, k]);
              const batchLoss = optimizer.minimize(
                () => {
                  const perRow = perExampleLoss(this.task, ys, this.model.apply(xs, { training: true }) as tf.Tensor, opts.focalGamma ?? 0);
                  const bce = (weighted ? tf.mean(tf.mul(perRow, tf.tensor1d(wb))) : tf.mean(perRow)) as tf.Scalar;
                  if (mu <= 0) return bce;
                  // μ/2 · ‖w − w_start‖² (Li et al. 2020, eq. 2), summed over every trainable tensor.
                  const prox = vars.reduce<tf.Scalar>(
                    (acc, v, k) => tf.add(acc, tf.sum(tf.square(tf.sub(v, anchors[k]!)))) as tf.Scalar,
                    tf.scalar(0),
                  );
                  return tf.add(bce, tf.mul(mu / 2, prox)) as tf.Scalar;
                },
                true,
                vars,
              )!;
              return tf.add(lossSum, tf.mul(batchLoss, m)) as tf.Scalar;
            });
            lossSum.dispose();
            lossSum = next;
            steps++;
            await yieldToEventLoop();
          }
          loss = (await lossSum.data())[0]! / rows;
        } finally {
          lossSum.dispose();
        }
      }
    } finally {
      optimizer.dispose();
      for (const a of anchors) a.dispose();
    }
    return { loss, steps, seconds: (performance.now() - started) / 1000 };
  }

  /**
   * DP-SGD (see module header and ./dp-sgd.ts). Per step: Poisson-sample the rows (rate q), clip
   * each example's gradient to C, sum, add N(0, σ²C²) to every coordinate, divide by the expected
   * batch size q·N, and hand the result to the optimizer. An empty sample still takes a step
   * (noise only): skipping it would reveal that no record was drawn.
   */
  private async runDpTraining(data: LabelledData, opts: TrainOptions, dp: DpTrainOptions): Promise<TrainResult> {
    const started = performance.now();
    const f = this.featureSize;
    const shape = [...this.spec.inputShape];
    const randomness = dp.randomness ?? 'secure';
    const sampleU = dpUniform(randomness, opts.seed, DP_SAMPLE_RNG_DOMAIN);
    const noiseU = dpUniform(randomness, opts.seed, DP_NOISE_RNG_DOMAIN);
    const perExample = new PerExampleGradients(this.model, this.task, opts.focalGamma ?? 0);
    const k = this.outputs;
    const targets = targetsOf(data, this.task);
    const weights = opts.classWeights !== undefined ? rowWeights(this.task, data.y, data.n, opts.classWeights) : undefined;
    const augment = augmenter(opts, shape);
    const optimizer = (opts.optimizer ?? DEFAULT_OPTIMIZER) === 'sgd' ? tf.train.sgd(opts.learningRate) : tf.train.adam(opts.learningRate);
    const vars = perExample.variables;
    const noise = vars.map((v) => new Float32Array(v.size));
    const noiseStd = dp.noiseMultiplier * dp.clipNorm;
    const expectedBatch = dp.expectedBatchSize ?? dp.sampleRate * data.n;
    const stepsPerEp = stepsPerEpoch(dp.sampleRate);
    // FedProx with DP-SGD: the proximal gradient μ(w − w_start) depends on no record, so it is
    // added after clipping and noise and costs no privacy.
    const mu = opts.proximalMu ?? 0;
    const anchors = mu > 0 ? vars.map((v) => tf.keep(v.clone())) : [];
    let steps = 0;
    let sampled = 0;
    let clippedTotal = 0;
    let loss = Number.NaN;
    try {
      for (let epoch = 0; epoch < opts.epochs; epoch++) {
        let lossSum: tf.Scalar = tf.scalar(0);
        let clipped: tf.Scalar = tf.scalar(0);
        let epochSampled = 0;
        try {
          for (let s = 0; s < stepsPerEp; s++) {
            const rows = poissonSample(data.n, dp.sampleRate, sampleU);
            for (const buf of noise) fillGaussian(buf, noiseStd, noiseU);
            const m = rows.length;
            const next = tf.tidy(() => {
              let sums: tf.Tensor[];
              let batchLoss: tf.Scalar = tf.scalar(0);
              let batchClipped: tf.Scalar = tf.scalar(0);
              if (m > 0) {
                const xb = new Float32Array(m * f);
                const yb = new Float32Array(m * k);
                const wb = weights !== undefined ? new Float32Array(m) : undefined;
                rows.forEach((row, i) => {
                  xb.set(data.x.subarray(row * f, (row + 1) * f), i * f);
                  yb.set(targets.subarray(row * k, (row + 1) * k), i * k);
                  if (wb !== undefined) wb[i] = weights![row]!;
                });
                augment?.(xb, m);
                const res = perExample.clippedSum(
                  tf.tensor(xb, [m, ...shape]),
                  tf.tensor2d(yb, [m, k]),
                  dp.clipNorm,
                  wb !== undefined ? tf.tensor1d(wb) : undefined,
                );
                sums = res.sums;
                batchLoss = res.lossSum;
                batchClipped = tf.sum(tf.cast(tf.greater(res.norms, dp.clipNorm), 'float32'));
              } else {
                sums = vars.map((v) => tf.zerosLike(v));
              }
              optimizer.applyGradients(
                vars.map((v, k) => {
                  const g = tf.div(tf.add(sums[k]!, tf.tensor(noise[k]!, v.shape)), expectedBatch);
                  return { name: v.name, tensor: mu > 0 ? tf.add(g, tf.mul(mu, tf.sub(v, anchors[k]!))) : g };
                }),
              );
              return { loss: tf.add(lossSum, batchLoss) as tf.Scalar, clipped: tf.add(clipped, batchClipped) as tf.Scalar };
            });
            lossSum.dispose();
            clipped.dispose();
            lossSum = next.loss;
            clipped = next.clipped;
            epochSampled += m;
            steps++;
            await yieldToEventLoop();
          }
          loss = epochSampled > 0 ? (await lossSum.data())[0]! / epochSampled : Number.NaN;
          clippedTotal += (await clipped.data())[0]!;
          sampled += epochSampled;
        } finally {
          lossSum.dispose();
          clipped.dispose();
        }
      }
    } finally {
      optimizer.dispose();
      perExample.dispose();
      for (const a of anchors) a.dispose();
    }
    return {
      loss,
      steps,
      seconds: (performance.now() - started) / 1000,
      dp: { meanBatchSize: steps > 0 ? sampled / steps : 0, clippedFraction: sampled > 0 ? clippedTotal / sampled : 0 },
    };
  }

  /**
   * Model outputs for the `n` rows of `x` (row-major, n × prod(inputShape)): n × `outputs`
   * values, row-major — binary P(y = 1); multi-class class probabilities; multi-label per-label
   * probabilities; regression the standardised value (protocol/task.ts `toOriginalUnits`).
   */
  predict(x: Float32Array, n: number): Float32Array {
    this.checkAlive();
    if (!Number.isSafeInteger(n) || n < 0 || x.length !== n * this.featureSize) {
      throw new TrainerError('TRAINER_DATA_INVALID', `x has ${x.length} values, expected ${n} x ${this.featureSize}`, {
        field: 'x',
        expected: Number.isSafeInteger(n) && n >= 0 ? n * this.featureSize : null,
        got: x.length,
      });
    }
    const out = new Float32Array(n * this.outputs);
    const shape = [...this.spec.inputShape];
    for (let start = 0; start < n; start += PREDICT_BATCH) {
      const m = Math.min(PREDICT_BATCH, n - start);
      const p = tf.tidy(() => {
        const xs = tf.tensor(x.subarray(start * this.featureSize, (start + m) * this.featureSize), [m, ...shape]);
        return (this.model.predict(xs) as tf.Tensor).dataSync();
      });
      out.set(p, start * this.outputs);
    }
    return out;
  }

  /**
   * Throws TRAINER_SPEC_INVALID (naming the layer) when DP-SGD cannot train this model: call at
   * start-up so an unsupported layer of your own model is refused before any round, not mid-round.
   */
  checkDpSupport(): void {
    this.checkAlive();
    new PerExampleGradients(this.model, this.task).dispose();
  }

  /** The underlying tfjs model (export, explanations); callers must not dispose or train it. */
  get layersModel(): tf.LayersModel {
    this.checkAlive();
    return this.model;
  }

  /** Frees the model's tensors. Further calls throw TRAINER_DISPOSED. */
  dispose(): void {
    if (this.disposed) return;
    if (this.busy) throw new TrainerError('TRAINER_BUSY', 'dispose during train()', { op: 'dispose' });
    this.disposed = true;
    this.model.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new TrainerError('TRAINER_DISPOSED', 'trainer was disposed', {});
  }

  private validateData(d: LabelledData): void {
    const bad = (field: string, value: unknown, rule: string): TrainerError => invalid('TRAINER_DATA_INVALID', field, value, rule);
    if (!isPositiveInt(d.n)) throw bad('n', d.n, 'positive integer');
    const fs = d.featureShape;
    const want = this.spec.inputShape;
    if (fs.length !== want.length || fs.some((v, i) => v !== want[i])) {
      throw bad('featureShape', [...fs], `must equal the model's inputShape [${want.join(',')}]`);
    }
    if (d.x.length !== d.n * this.featureSize) throw bad('x.length', d.x.length, `n x prod(featureShape) = ${d.n * this.featureSize}`);
    if (d.y.length !== d.n) throw bad('y.length', d.y.length, `n = ${d.n}`);
    try {
      targetsOf(d, this.task);
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      const f = e.fields as { field: string; value: unknown; rule: string };
      throw bad(f.field, f.value, f.rule);
    }
  }

  private validateClassWeights(w: readonly number[]): void {
    const classes = this.task.kind === 'multiclass' ? this.task.classes.length : 2;
    if (this.task.kind !== 'binary' && this.task.kind !== 'multiclass') {
      throw invalid('TRAINER_OPTIONS_INVALID', 'classWeights', w, 'only for binary and multiclass tasks');
    }
    if (!Array.isArray(w) || w.length !== classes || !w.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
      throw invalid('TRAINER_OPTIONS_INVALID', 'classWeights', w, `${classes} finite numbers >= 0, one per class`);
    }
  }
}

function validateOptions(o: TrainOptions): void {
  const bad = (field: string, value: unknown, rule: string): TrainerError => invalid('TRAINER_OPTIONS_INVALID', field, value, rule);
  if (!isPositiveInt(o.epochs)) throw bad('epochs', o.epochs, 'positive integer');
  if (!isPositiveInt(o.batchSize)) throw bad('batchSize', o.batchSize, 'positive integer');
  if (!(typeof o.learningRate === 'number' && Number.isFinite(o.learningRate) && o.learningRate > 0)) {
    throw bad('learningRate', o.learningRate, 'finite number > 0');
  }
  if (!Number.isSafeInteger(o.seed)) throw bad('seed', o.seed, 'safe integer');
  if (o.proximalMu !== undefined && !(typeof o.proximalMu === 'number' && Number.isFinite(o.proximalMu) && o.proximalMu >= 0)) {
    throw bad('proximalMu', o.proximalMu, 'finite number >= 0');
  }
  if (
    o.focalGamma !== undefined &&
    !(typeof o.focalGamma === 'number' && Number.isFinite(o.focalGamma) && o.focalGamma >= 0 && o.focalGamma <= 10)
  ) {
    throw bad('focalGamma', o.focalGamma, 'finite number in [0, 10]');
  }
  if (o.optimizer !== undefined && o.optimizer !== 'sgd' && o.optimizer !== 'adam') {
    throw bad('optimizer', o.optimizer, "'sgd' or 'adam'");
  }
  if (o.resample !== undefined && !RESAMPLE_MODES.includes(o.resample)) throw bad('resample', o.resample, RESAMPLE_MODES.join(' | '));
  if (o.dp !== undefined && o.resample !== undefined && o.resample !== 'none') {
    // ./resample.ts: copies or label-dependent subsets break the accountant's Poisson sampling (q per record) and sensitivity C.
    throw bad(
      'resample',
      o.resample,
      'not with DP-SGD: resampling breaks the per-record sampling rate q and sensitivity C the accountant assumes; use classWeights',
    );
  }
  if (o.dp !== undefined) {
    try {
      validateDpSgdParams(o.dp, 'dp.');
    } catch (e) {
      if (!isFedmeshError(e, 'PRIVACY_ARGUMENT_INVALID')) throw e;
      const f = e.fields as PrivacyArgumentFields;
      throw bad(f.field, f.value, f.rule);
    }
    if (o.dp.randomness !== undefined && o.dp.randomness !== 'secure' && o.dp.randomness !== 'seeded') {
      throw bad('dp.randomness', o.dp.randomness, "'secure' or 'seeded'");
    }
    const eb = o.dp.expectedBatchSize;
    if (eb !== undefined && !(Number.isFinite(eb) && eb > 0)) throw bad('dp.expectedBatchSize', eb, 'a finite number > 0');
  }
}
