/**
 * Simulation options: schema, defaults and validation at the edge (STYLE.md §11). Errors
 * name the field, the value and the rule.
 */
import { z } from 'zod';
import { FedmeshError } from '../protocol/errors.js';
import { FEDERATION_ID_PATTERN } from '../protocol/messages/topics.js';
import { ServerOptimizerSchema } from '../protocol/server-optimizer.js';
import { defaultKeySetGraceMs, validateKeySetGrace } from '../protocol/secure-aggregation/committee-member.js';
import { SECAGG_DEFAULTS, SecAggError, type SecAggConfig, validateSecAggConfig } from '../protocol/secure-aggregation/index.js';

export const SIMULATION_DEFAULTS = {
  dataset: 'breast-cancer',
  peers: 8,
  rounds: 10,
  seed: 1,
  model: 'mlp',
  hidden: [16],
  /** Committee size m; with fewer peers the committee is every peer (docs/secure-aggregation.md). */
  committeeSize: SECAGG_DEFAULTS.committeeSize,
  localEpochs: 2,
  batchSize: 16,
  learningRate: 0.01,
  testFraction: 0.2,
  /** Committee waits at most this long for all updates; rounds normally close early. */
  collectMs: 60_000,
  recordGraceMs: 5_000,
  federation: 'demo',
  /** Secure aggregation (Bonawitz et al. 2017 §4) is on unless --no-secure-aggregation. */
  secureAggregation: true,
  /** Reconstruction threshold t (m/2 < t ≤ m). */
  threshold: SECAGG_DEFAULTS.threshold,
  clipRange: SECAGG_DEFAULTS.clipRange,
  fractionalBits: SECAGG_DEFAULTS.fractionalBits,
  /** Secure aggregation: how long peers wait for every key advertisement (shares get as long again). */
  keysMs: 10_000,
  // keySetGraceMs (Δ of the key-set omission grace) has no constant: absent, it is ⌊keysMs/2⌋
  // (`keySetGraceOf`), so it follows --keys-ms.
  /** Probability that a peer drops out of a round (simulations/dropouts.ts). */
  dropout: 0,
  /** Train the centralized baseline (same model, pooled data, same epoch budget) in the same run. */
  baseline: true,
  /** DP-SGD (used only when dpEpsilon or dpNoiseMultiplier is given): δ and the clipping norm C. */
  dpDelta: 1e-5,
  dpClipNorm: 1,
  /** Training rows dealt to peers: 'iid' (stratified), 'dirichlet:α', 'quantity-skew:β' or 'by-site'. */
  partition: 'iid',
  /** FedAvg (McMahan et al. 2017), or 'fedprox:μ' (Li et al. 2020) for non-IID data. */
  algorithm: 'fedavg',
  /** Straggler delay before local training: 'none', 'uniform:MIN-MAX' or 'exponential:MEAN' (ms, seeded). */
  stragglers: 'none',
  /**
   * Tables: each site standardises with its own statistics ('site'), or all with the pooled
   * training statistics a secure sum of (n, Σx, Σx²) would give ('federated').
   */
  standardize: 'site',
  /** Which libp2p transport the peers use: TCP on 127.0.0.1. */
  transport: 'tcp',
  // issue 16 (H7): the task and class imbalance (docs/models.md).
  task: 'binary',
  classWeights: 'none',
  augment: false,
  /** Class-balanced resampling of each site's rows per epoch (node/ml/resample.ts); not with DP. */
  resample: 'none',
} as const;

/** Data sets bundled with the repository; anything else is a path to a .csv or .npz file. */
export const BUNDLED_DATASETS = ['breast-cancer', 'heart-disease', 'pneumonia'] as const;
/** The four UCI hospitals (node/data/heart-disease.ts): by-site gives one peer each. */
export const HEART_DISEASE_SITES = 4;

/** Attack kinds (simulations/attackers.ts): 'sign-flip', 'scaled:k', 'label-flip', 'noise' or 'noise:σ'. */
export const ATTACK_KIND_PATTERN = /^(sign-flip|label-flip|noise(:\d+(\.\d+)?([eE][-+]?\d+)?)?|scaled:-?\d+(\.\d+)?([eE][-+]?\d+)?)$/;
export const PARTITION_PATTERN = /^(iid|by-site|dirichlet:\d+(\.\d+)?([eE][-+]?\d+)?|quantity-skew:\d+(\.\d+)?([eE][-+]?\d+)?)$/;
export const ALGORITHM_PATTERN = /^(fedavg|fedprox:\d+(\.\d+)?([eE][-+]?\d+)?)$/;
export const STRAGGLER_PATTERN = /^(none|uniform:\d+(\.\d+)?-\d+(\.\d+)?|exponential:\d+(\.\d+)?)$/;

/** Column mapping for a CSV data set: the label column, its positive value, and the numeric feature columns. */
export const CsvColumnsSchema = z
  .object({
    label: z.string().min(1),
    /** Binary tasks: the label value that is class 1 (every other value is class 0). */
    positive: z.string().min(1).optional(),
    /** Multi-label tasks (issue 16): the 0/1 label columns, in output order (`label` is then the first). */
    labels: z.array(z.string().min(1)).min(1).max(255).optional(),
    /** Numeric feature columns; default every column except the label and `ignore`. */
    features: z.array(z.string().min(1)).min(1).optional(),
    ignore: z.array(z.string().min(1)).optional(),
    /** Rows with a missing cell: impute the site's own median (default) or drop the row. */
    missing: z.enum(['median', 'drop']).optional(),
    separator: z.string().min(1).optional(),
  })
  .strict();

/** Array names in an .npz data set: images/features and 0/1 labels, optionally a separate test pair. */
export const NpzArraysSchema = z
  .object({ x: z.string().min(1), y: z.string().min(1), xTest: z.string().min(1).optional(), yTest: z.string().min(1).optional() })
  .strict()
  .refine((a) => (a.xTest === undefined) === (a.yTest === undefined), {
    message: 'give both xTest and yTest, or neither',
    path: ['xTest'],
  });

export const AttackersSchema = z
  .object({
    /** Fraction of peers that attack, chosen from the seed (rounded to the nearest peer count). */
    fraction: z.number().min(0).max(0.5),
    kind: z.string().regex(ATTACK_KIND_PATTERN, 'sign-flip | scaled:<k> | label-flip | noise[:<sigma>]'),
  })
  .strict();

/**
 * Poisoning defences in the round path (issue 6; node/services/round-driver.ts DefenceOptions):
 * a norm bound on every update, applied before quantization, and the committee's validation
 * gate before signing (a refused round aborts at the contract's finalize deadline). Passed
 * through to the local federation (simulations/local-federation.ts `defence`).
 */
export const DefenceSchema = z
  .object({
    /** L2 bound B on every participant's update Δ, applied before quantization and masking. */
    updateNormBound: z.number().positive().optional(),
    /** Committee members refuse to sign when validation loss worsens by more than this (loss units). */
    validationMargin: z.number().min(0).optional(),
    /** Share of each site's rows held out as its validation split when the gate is on (default 0.2). */
    validationFraction: z.number().gt(0).lt(1).optional(),
  })
  .strict();

/**
 * With --dropout and no --collect-ms, the committee waits this long for missing inputs
 * instead of 60 s: a peer that dropped after sharing keys is only noticed at the deadline.
 */
export const DROPOUT_COLLECT_MS = 10_000;

export const SimulationOptionsSchema = z
  .object({
    dataset: z.union([
      z.enum(BUNDLED_DATASETS),
      z.string().regex(/\.(csv|npz)$/i, 'breast-cancer | heart-disease | pneumonia | a path ending in .csv or .npz'),
    ]),
    /** CSV data sets: the column mapping. */
    columns: CsvColumnsSchema.optional(),
    /** .npz data sets: the array names. */
    arrays: NpzArraysSchema.optional(),
    partition: z.string().regex(PARTITION_PATTERN, 'iid | dirichlet:<alpha> | quantity-skew:<beta> | by-site'),
    algorithm: z.string().regex(ALGORITHM_PATTERN, 'fedavg | fedprox:<mu>'),
    stragglers: z.string().regex(STRAGGLER_PATTERN, 'none | uniform:<min>-<max> | exponential:<mean> (milliseconds)'),
    attackers: AttackersSchema.optional(),
    defence: DefenceSchema.optional(),
    /** The federation's server optimizer, as in the manifest (protocol/server-optimizer.ts); absent: FedAvg. */
    serverOptimizer: ServerOptimizerSchema.optional(),
    transport: z.enum(['tcp']),
    // 'public' (issue 15): every site uses public reference statistics; forced when DP is on.
    standardize: z.enum(['site', 'federated', 'public']),
    /** Where the scenario came from (set by the loader; recorded in summary.json). */
    scenarioFile: z.string().optional(),
    peers: z.number().int().min(2).max(64),
    rounds: z.number().int().min(1).max(10_000),
    seed: z.number().int().min(0).max(0x7fffffff),
    out: z.string().min(1).optional(),
    model: z.preprocess((v) => (v === 'logistic' ? 'logreg' : v), z.enum(['mlp', 'logreg', 'cnn'])),
    hidden: z.array(z.number().int().min(1).max(4096)).max(8),
    committeeSize: z.number().int().min(1).max(64),
    localEpochs: z.number().int().min(1).max(1000),
    batchSize: z.number().int().min(1).max(65_536),
    learningRate: z.number().positive().max(10),
    testFraction: z.number().gt(0).lt(1),
    collectMs: z.number().int().min(100),
    recordGraceMs: z.number().int().min(100),
    federation: z.string().regex(FEDERATION_ID_PATTERN, 'lowercase letters, digits and dashes, 1–64 chars'),
    backend: z.enum(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).optional(),
    chunkSize: z.number().int().min(64).max(1_040_000).optional(),
    quiet: z.boolean().optional(),
    secureAggregation: z.boolean(),
    threshold: z.number().int().min(1).max(64),
    clipRange: z.number().positive(),
    fractionalBits: z.number().int().min(0).max(30),
    keysMs: z.number().int().min(100),
    /**
     * Δ of the key-set omission grace (committee-member.ts `CommitteeTiming`): members forgive a
     * key set leaving out an advert or share they first held less than Δ before the turn was due.
     * Integer in [0, keysMs − 1] (checked below); absent: ⌊keysMs/2⌋.
     */
    keySetGraceMs: z.number().optional(),
    /**
     * K of the SecAgg+ masking graph (protocol/secure-aggregation/graph.ts): an even integer
     * ≥ 2·minNeighbours (validateSecAggConfig). Absent: every participant masks with all of U_2.
     */
    maskingDegree: z.number().int().optional(),
    dropout: z.number().min(0).lt(1),
    baseline: z.boolean(),
    // DP-SGD (docs/privacy.md): a target ε from which σ is planned over rounds × local steps, or σ itself.
    dpEpsilon: z.number().positive().optional(),
    dpDelta: z.number().gt(0).lt(1),
    dpNoiseMultiplier: z.number().positive().optional(),
    dpClipNorm: z.number().positive(),
    /** Poisson rate q; default min(1, batchSize / smallest site). */
    dpSampleRate: z.number().gt(0).max(1).optional(),
    // issue 16 (H7): the task (protocol/task.ts), its classes or public target statistics, and
    // class imbalance: loss weights ('auto' = balanced from the federation's label histogram),
    // per-class keep fractions (to make a set imbalanced) and seeded image augmentation.
    task: z.enum(['binary', 'multiclass', 'multilabel', 'regression']),
    classes: z.array(z.string().min(1)).min(2).max(255).optional(),
    target: z.object({ mean: z.number(), std: z.number().positive() }).strict().optional(),
    classWeights: z.union([z.enum(['none', 'auto']), z.array(z.number().min(0)).min(2).max(255)]),
    keepFraction: z.array(z.number().gt(0).max(1)).min(2).max(255).optional(),
    augment: z.boolean(),
    resample: z.enum(['none', 'oversample', 'undersample']),
    /** Focal loss γ (Lin et al. 2017) instead of cross-entropy; classification tasks. */
    focalGamma: z.number().min(0).max(10).optional(),
    /** Your own tfjs Layers model (a folder with model.json, or the .json path) instead of `model`. */
    modelPath: z.string().min(1).optional(),
    /** With modelPath: layers (name or name prefix) to freeze; only the others are trained and federated. */
    freeze: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    // The committee is capped by the peer count (effectiveCommittee); the configured (m, t)
    // and the quantization bound must hold as given.
    if (!o.secureAggregation) return;
    try {
      validateSecAggConfig(secAggConfigOf(o));
    } catch (e) {
      if (!(e instanceof SecAggError)) throw e;
      ctx.addIssue({ code: 'custom', message: String(e.fields.rule), path: [String(e.fields.field)] });
    }
    // Δ < keysMs: with Δ ≥ keysMs a turn-0 leader could leave out everything that reached a member
    // after its open (F12); the protocol's own rule and message (validateKeySetGrace).
    if (o.keySetGraceMs !== undefined) {
      try {
        validateKeySetGrace(o.keySetGraceMs, o.keysMs);
      } catch (e) {
        if (!(e instanceof SecAggError)) throw e;
        ctx.addIssue({ code: 'custom', message: String(e.fields.rule), path: ['keySetGraceMs'] });
      }
    }
  })
  .superRefine((o, ctx) => {
    const issue = (path: string, message: string): void => ctx.addIssue({ code: 'custom', message, path: [path] });
    const csv = /\.csv$/i.test(o.dataset);
    const npz = /\.npz$/i.test(o.dataset);
    if (csv && o.columns === undefined) issue('columns', 'a CSV data set needs a column mapping (label, positive)');
    // issue 16 (H7)
    if (csv && o.task === 'binary' && o.columns !== undefined && o.columns.positive === undefined)
      issue('columns.positive', 'a binary task needs the positive label value');
    if (o.task === 'multilabel' && csv && o.columns?.labels === undefined)
      issue('columns.labels', 'a multilabel task needs its 0/1 label columns');
    if (o.task !== 'multiclass' && o.classes !== undefined) issue('classes', 'only for a multiclass task');
    if (o.task !== 'regression' && o.target !== undefined) issue('target', 'only for a regression task');
    if (o.freeze !== undefined && o.modelPath === undefined) issue('freeze', 'only with modelPath (your own model)');
    if (o.focalGamma !== undefined && o.task === 'regression') issue('focalGamma', 'only for classification tasks');
    if (o.classWeights !== 'none' && o.task !== 'binary' && o.task !== 'multiclass')
      issue('classWeights', 'only for binary and multiclass tasks');
    if (o.resample !== 'none' && o.task !== 'binary' && o.task !== 'multiclass') issue('resample', 'only for binary and multiclass tasks');
    if (o.resample !== 'none' && (o.dpEpsilon !== undefined || o.dpNoiseMultiplier !== undefined))
      issue(
        'resample',
        'not with DP-SGD: resampling breaks the per-record sampling rate q and sensitivity C the accountant assumes (node/ml/resample.ts); use classWeights',
      );
    if (!csv && o.columns !== undefined) issue('columns', 'only for a CSV data set');
    if (npz && o.arrays === undefined) issue('arrays', 'an .npz data set needs its array names (x, y)');
    if (!npz && o.arrays !== undefined) issue('arrays', 'only for an .npz data set');
    if (o.partition === 'by-site' && o.dataset !== 'heart-disease')
      issue('partition', 'by-site needs a data set with sites (heart-disease)');
    if (o.partition === 'by-site' && o.peers !== HEART_DISEASE_SITES)
      issue('peers', `by-site on heart-disease gives ${HEART_DISEASE_SITES} peers`);
    if (o.model === 'cnn' && o.dataset !== 'pneumonia' && !npz) issue('model', 'cnn needs an image data set (pneumonia or .npz)');
    if (o.algorithm.startsWith('fedprox:') && !(Number(o.algorithm.slice(8)) > 0)) issue('algorithm', 'fedprox needs mu > 0');
    const u = /^uniform:(.+)-(.+)$/.exec(o.stragglers);
    if (u !== null && Number(u[1]) > Number(u[2])) issue('stragglers', 'uniform:<min>-<max> needs min <= max');
    if (o.attackers?.kind.startsWith('scaled:') === true && Number(o.attackers.kind.slice(7)) === 0)
      issue('attackers.kind', 'scaled:<k> needs k != 0');
  })
  .refine((o) => o.dpEpsilon === undefined || o.dpNoiseMultiplier === undefined, {
    message: 'give dpEpsilon (sigma is planned) or dpNoiseMultiplier, not both',
    path: ['dpNoiseMultiplier'],
  })
  .refine((o) => o.dpSampleRate === undefined || o.dpEpsilon !== undefined || o.dpNoiseMultiplier !== undefined, {
    message: 'needs dpEpsilon or dpNoiseMultiplier (DP is off without one)',
    path: ['dpSampleRate'],
  });

export type SimulationOptions = z.infer<typeof SimulationOptionsSchema>;

/** The secure-aggregation configuration a simulation runs with. */
export function secAggConfigOf(
  o: Pick<SimulationOptions, 'committeeSize' | 'threshold' | 'clipRange' | 'fractionalBits'> &
    Partial<Pick<SimulationOptions, 'maskingDegree'>>,
): SecAggConfig {
  return {
    ...SECAGG_DEFAULTS,
    committeeSize: o.committeeSize,
    threshold: o.threshold,
    clipRange: o.clipRange,
    fractionalBits: o.fractionalBits,
    ...(o.maskingDegree !== undefined ? { maskingDegree: o.maskingDegree } : {}),
  };
}

/** Δ the committee members run with: the option, or ⌊keysMs/2⌋ (committee-member.ts `defaultKeySetGraceMs`). */
export const keySetGraceOf = (o: Pick<SimulationOptions, 'keysMs' | 'keySetGraceMs'>): number =>
  o.keySetGraceMs ?? defaultKeySetGraceMs(o.keysMs);

export class ConfigError extends FedmeshError<'CONFIG_INVALID', { issues: { field: string; value: unknown; rule: string }[] }> {}

/** Merge `input` over the defaults and validate; throws ConfigError naming each bad field. */
export function parseSimulationOptions(input: Record<string, unknown>): SimulationOptions {
  const merged: Record<string, unknown> = { ...SIMULATION_DEFAULTS };
  for (const [k, v] of Object.entries(input)) if (v !== undefined) merged[k] = v;
  // Data-set dependent defaults, applied only where the input is silent: heart-disease is
  // dealt by hospital (4 peers); pneumonia trains the small CNN with its dense head.
  if (merged.dataset === 'heart-disease') {
    if (input.partition === undefined) merged.partition = 'by-site';
    if (input.peers === undefined && merged.partition === 'by-site') merged.peers = HEART_DISEASE_SITES;
  }
  if (merged.dataset === 'pneumonia' && input.model === undefined) merged.model = 'cnn';
  if (merged.model === 'cnn' && input.hidden === undefined) merged.hidden = [32];
  if (input.collectMs === undefined && typeof merged.dropout === 'number' && merged.dropout > 0) merged.collectMs = DROPOUT_COLLECT_MS;
  const res = SimulationOptionsSchema.safeParse(merged);
  if (res.success) return res.data;
  const issues = res.error.issues.map((i) => {
    const field = i.path.join('.') || '(options)';
    const value = i.path.reduce<unknown>(
      (v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[String(k)] : undefined),
      merged,
    );
    return { field, value, rule: i.message };
  });
  throw new ConfigError('CONFIG_INVALID', issues.map((i) => `${i.field}=${JSON.stringify(i.value)}: ${i.rule}`).join('; '), { issues });
}
