/**
 * The federation manifest: the settings every member must share (model architecture, feature
 * schema, label, rounds, DP target, secure-aggregation parameters, initial-model seed). Its
 * hash is fixed on chain at deployment; a node whose manifest hashes differently refuses to
 * start.
 *
 * Canonical form: JSON with object keys sorted lexicographically at every depth, no
 * whitespace, numbers in JavaScript's shortest round-trip form (ECMA-262 Number::toString;
 * the same rule as RFC 8785 JCS for the values used here). manifestHash = SHA-256 of its UTF-8.
 */
import { z } from 'zod';
import { hash256, toHex0x, utf8 } from './bytes.js';
import { FedmeshError } from './errors.js';
import { FEDERATION_ID_PATTERN } from './messages/topics.js';
import { ServerOptimizerSchema } from './server-optimizer.js';

export const FeatureSchema = z
  .object({
    name: z.string().min(1),
    kind: z.enum(['numeric', 'categorical']),
    /** For categorical features: the allowed values, in one-hot order. */
    categories: z.array(z.string().min(1)).min(2).optional(),
  })
  .strict()
  .refine((f) => (f.kind === 'categorical') === (f.categories !== undefined), {
    message: 'categorical features need categories; numeric features must not have them',
    path: ['categories'],
  });

// ── issue 16 (H7): the prediction task (protocol/task.ts) ───────────────────────────────────
/**
 * Absent: binary (label.positive is class 1). multiclass: `classes` are the label column's values
 * in output order (the same set as label.positive + label.negatives, so every loader's allow-list
 * still holds). multilabel: `labels` are the 0/1 label columns in output order. regression: the
 * label column is numeric, standardised as (v − mean) / std with these PUBLIC values (never
 * fitted on a member's records) and reported in original units.
 */
export const TaskSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('binary') }).strict(),
  z.object({ kind: z.literal('multiclass'), classes: z.array(z.string().min(1)).min(2).max(255) }).strict(),
  z.object({ kind: z.literal('multilabel'), labels: z.array(z.string().min(1)).min(1).max(255) }).strict(),
  z.object({ kind: z.literal('regression'), mean: z.number().finite(), std: z.number().finite().positive() }).strict(),
]);

function checkTask(
  m: { task?: z.infer<typeof TaskSchema> | undefined; label: { positive: string; negatives: string[] } },
  ctx: z.RefinementCtx,
): void {
  const t = m.task;
  if (t === undefined || t.kind === 'binary' || t.kind === 'regression') return;
  const names = t.kind === 'multiclass' ? t.classes : t.labels;
  const field = t.kind === 'multiclass' ? 'classes' : 'labels';
  if (new Set(names).size !== names.length) ctx.addIssue({ code: 'custom', message: `${field} must be distinct`, path: ['task', field] });
  if (t.kind === 'multiclass') {
    const declared = new Set([m.label.positive, ...m.label.negatives]);
    if (declared.size !== t.classes.length || t.classes.some((c) => !declared.has(c))) {
      ctx.addIssue({
        code: 'custom',
        message: 'task.classes must be the same set as label.positive and label.negatives',
        path: ['task', 'classes'],
      });
    }
  }
}

/**
 * issue 16 item 4: class-balanced resampling in every member's local training (node/ml/resample.ts).
 * Absent = none, so existing manifests keep their hash. Binary and multiclass tasks only, and
 * never with `dp`: copies of a record (oversampling) or label-dependent subsets (undersampling)
 * break the per-record Poisson rate q and the sensitivity C that the accountant assumes.
 */
export const ImbalanceSchema = z.object({ resample: z.enum(['none', 'oversample', 'undersample']) }).strict();

function checkImbalance(
  m: { imbalance?: z.infer<typeof ImbalanceSchema> | undefined; dp?: unknown; task?: z.infer<typeof TaskSchema> | undefined },
  ctx: z.RefinementCtx,
): void {
  const r = m.imbalance?.resample;
  if (r === undefined || r === 'none') return;
  const issue = (message: string): void => ctx.addIssue({ code: 'custom', message, path: ['imbalance', 'resample'] });
  if (m.dp !== undefined)
    issue(
      `'${r}' is not allowed with dp: resampling breaks the per-record sampling rate q and sensitivity C the accountant assumes (use class weights)`,
    );
  const kind = m.task?.kind ?? 'binary';
  if (kind !== 'binary' && kind !== 'multiclass') issue(`only for binary and multiclass tasks, not ${kind}`);
}
// ── end issue 16 (H7) ──────────────────────────────────────────────────────────────────────

export const ManifestSchema = z
  .object({
    version: z.literal(1),
    federation: z.string().regex(FEDERATION_ID_PATTERN, 'lowercase letters, digits and dashes, 1–64 chars'),
    /** Seed of the agreed initial model (every initializer is seeded from it). */
    seed: z.number().int().min(0).max(0x7fffffff),
    model: z
      .object({
        /** A built-in architecture, or 'tfjs': the federation's own tfjs Layers model (issue 16). */
        kind: z.enum(['logreg', 'mlp', 'cnn', 'tfjs']),
        hidden: z.array(z.number().int().min(1).max(4096)).max(8).optional(),
        /**
         * kind 'tfjs': the model folder (model.json + weights), relative to the manifest file; every
         * member receives it with the manifest. Local, so it is not what binds the members:
         */
        path: z.string().min(1).max(4096).optional(),
        /**
         * kind 'tfjs': SHA-256 of the architecture and initial weights (node/ml/model-io.ts
         * `artifactsHash`). In the manifest, hence in its on-chain hash: a node whose model folder
         * hashes otherwise refuses to start, so every member provably trains the same network.
         */
        sourceHash: z
          .string()
          .regex(/^0x[0-9a-f]{64}$/, '0x and 64 lower-case hex digits')
          .optional(),
        /** kind 'tfjs': layers (names or name prefixes) kept frozen: neither trained nor federated. */
        freeze: z.array(z.string().min(1)).max(256).optional(),
      })
      .strict()
      .superRefine((m, ctx) => {
        const own = m.kind === 'tfjs';
        for (const k of ['path', 'sourceHash'] as const) {
          if (own && m[k] === undefined) ctx.addIssue({ code: 'custom', message: "required with kind 'tfjs'", path: [k] });
        }
        for (const k of ['path', 'sourceHash', 'freeze'] as const) {
          if (!own && m[k] !== undefined) ctx.addIssue({ code: 'custom', message: "only with kind 'tfjs'", path: [k] });
        }
        if (own && m.hidden !== undefined)
          ctx.addIssue({ code: 'custom', message: "built-ins only: a 'tfjs' model has its own layers", path: ['hidden'] });
      }),
    /** Tabular data: the feature columns in model-input order. Images: omit and set imageShape. */
    features: z.array(FeatureSchema).min(1).optional(),
    imageShape: z.array(z.number().int().min(1)).length(3).optional(),
    label: z
      .object({
        name: z.string().min(1),
        /** The value (as written in the data) that is the positive class, label 1. */
        positive: z.string().min(1),
        negatives: z.array(z.string().min(1)).min(1),
      })
      .strict(),
    /** issue 16 (H7): the task; absent = binary. */
    task: TaskSchema.optional(),
    /** issue 16: class imbalance handled in local training; absent = no resampling. */
    imbalance: ImbalanceSchema.optional(),
    rounds: z.number().int().min(1),
    training: z
      .object({
        localEpochs: z.number().int().min(1),
        batchSize: z.number().int().min(1),
        learningRate: z.number().positive(),
      })
      .strict(),
    committee: z.object({ size: z.number().int().min(1), threshold: z.number().int().min(1) }).strict(),
    /**
     * How each round's plain FedAvg model becomes the next global model (protocol/server-optimizer.ts):
     * `{kind: 'fedavgm', momentum: β, learningRate?: η_s}` is FedAvgM (Hsu et al. 2019). Absent =
     * FedAvg, and the field is left out so that every existing manifest keeps its hash.
     */
    serverOptimizer: ServerOptimizerSchema.optional(),
    // ── issue 15 (H5): differential privacy and the public values it needs ──────────────────
    /**
     * The DP target. `sampleRate` is the Poisson sampling rate q every site uses: fixed here, in
     * public, so that nothing a site declares (q, the step count, σ) is a function of its record
     * count N (docs/privacy.md, "Unit of privacy").
     */
    dp: z
      .object({
        epsilon: z.number().positive(),
        // δ is the probability that the ε guarantee fails outright; it must be far below 1/N for
        // every site's record count N (Dwork & Roth 2014, §2.3: δ of order 1/N permits releasing
        // a δN-record sample in the clear). N is private, so δ < 1/N cannot be checked here; the
        // manifest refuses δ > 1e-3, which is already 1/N for a site of a thousand records.
        delta: z.number().gt(0).max(1e-3, { message: 'dp.delta must be at most 1e-3 (choose δ < 1/N for the largest site)' }),
        clipNorm: z.number().positive(),
        sampleRate: z.number().gt(0).max(1),
      })
      .strict()
      .optional(),
    /**
     * Public per-feature values for preprocessing (required for tabular data with `dp`): each
     * site maps a value v to (clamp(v, min, max) − center) / scale and fills a missing numeric
     * cell with `fill` (raw units), a missing categorical cell with the category `fill`. They
     * must come from public knowledge (reference ranges, a public reference data set), never
     * from a member's private records: then each record's features depend on that record only,
     * and one record moves a site's clipped gradient sum by at most C.
     */
    publicStatistics: z
      .object({
        features: z.record(
          z.string(),
          z
            .object({
              min: z.number().finite().optional(),
              max: z.number().finite().optional(),
              center: z.number().finite().optional(),
              scale: z.number().finite().optional(),
              fill: z.union([z.number().finite(), z.string().min(1)]).optional(),
            })
            .strict(),
        ),
      })
      .strict()
      .optional(),
    // ── end issue 15 (H5) ──────────────────────────────────────────────────────────────────
  })
  .strict()
  .superRefine(checkPublicStatistics)
  .refine((m) => (m.features === undefined) !== (m.imageShape === undefined), {
    message: 'exactly one of features (tabular) or imageShape (images) must be given',
    path: ['features'],
  })
  .refine((m) => m.committee.threshold > m.committee.size / 2 && m.committee.threshold <= m.committee.size, {
    message: 'threshold t must satisfy size/2 < t ≤ size',
    path: ['committee', 'threshold'],
  })
  .superRefine(checkTask)
  .superRefine(checkImbalance);

export type FederationManifest = z.infer<typeof ManifestSchema>;

/** What `checkPublicStatistics` reads (the parsed shape before the manifest-level refinements). */
interface PublicStatisticsView {
  readonly features?: readonly {
    readonly name: string;
    readonly kind: 'numeric' | 'categorical';
    readonly categories?: readonly string[];
  }[];
  readonly imageShape?: readonly number[];
  readonly dp?: unknown;
  readonly publicStatistics?: {
    readonly features: Readonly<
      Record<
        string,
        {
          min?: number | undefined;
          max?: number | undefined;
          center?: number | undefined;
          scale?: number | undefined;
          fill?: number | string | undefined;
        }
      >
    >;
  };
}

/**
 * issue 15 (H5): public statistics are complete and sane, naming the feature on every problem.
 * With `dp` every tabular feature needs them (statistics fitted on private records would make
 * one record move every record's features, and the sensitivity would no longer be C).
 */
function checkPublicStatistics(m: PublicStatisticsView, ctx: z.RefinementCtx): void {
  const stats = m.publicStatistics?.features;
  const issue = (path: (string | number)[], message: string): void => {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['publicStatistics', 'features', ...path], message });
  };
  if (stats === undefined) {
    if (m.dp !== undefined && m.features !== undefined) {
      for (const f of m.features)
        issue([f.name], 'with dp, every feature needs public values (min, max, center, scale, fill; categorical: fill)');
    }
    return;
  }
  if (m.features === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['publicStatistics'], message: 'image manifests take no public statistics' });
    return;
  }
  const known = new Set(m.features.map((f) => f.name));
  for (const name of Object.keys(stats)) if (!known.has(name)) issue([name], 'not a feature of this manifest');
  for (const f of m.features) {
    const s = stats[f.name];
    if (s === undefined) {
      issue([f.name], 'missing: every feature needs public values once publicStatistics is given');
      continue;
    }
    if (f.kind === 'categorical') {
      for (const k of ['min', 'max', 'center', 'scale'] as const)
        if (s[k] !== undefined) issue([f.name, k], 'categorical features take only fill');
      if (typeof s.fill !== 'string' || !(f.categories ?? []).includes(s.fill))
        issue([f.name, 'fill'], `one of the categories (${(f.categories ?? []).join(', ')})`);
      continue;
    }
    for (const k of ['min', 'max', 'center', 'scale'] as const)
      if (s[k] === undefined) issue([f.name, k], 'required for a numeric feature');
    if (s.min !== undefined && s.max !== undefined && !(s.min < s.max)) issue([f.name, 'max'], `must be > min (${s.min})`);
    if (s.scale !== undefined && !(s.scale > 0)) issue([f.name, 'scale'], 'must be > 0');
    if (typeof s.fill !== 'number') issue([f.name, 'fill'], 'a number (raw units) for a numeric feature');
    else if (s.min !== undefined && s.max !== undefined && !(s.fill >= s.min && s.fill <= s.max)) {
      issue([f.name, 'fill'], `must lie in [min, max] = [${s.min}, ${s.max}]`);
    }
  }
}

export class ManifestError extends FedmeshError<'MANIFEST_INVALID' | 'MANIFEST_HASH_MISMATCH'> {}

/** Deterministic JSON: keys sorted at every depth, no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError('canonical JSON has no NaN/Infinity');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function parseManifest(input: unknown): FederationManifest {
  const res = ManifestSchema.safeParse(input);
  if (res.success) return res.data;
  const issues = res.error.issues.map((i) => ({ field: i.path.join('.') || '(manifest)', rule: i.message }));
  throw new ManifestError('MANIFEST_INVALID', issues.map((i) => `${i.field}: ${i.rule}`).join('; '), { issues });
}

export function manifestHash(m: FederationManifest): `0x${string}` {
  return toHex0x(hash256(utf8(canonicalJson(m))));
}
