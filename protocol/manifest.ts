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

export const ManifestSchema = z
  .object({
    version: z.literal(1),
    federation: z.string().regex(FEDERATION_ID_PATTERN, 'lowercase letters, digits and dashes, 1–64 chars'),
    /** Seed of the agreed initial model (every initializer is seeded from it). */
    seed: z.number().int().min(0).max(0x7fffffff),
    model: z
      .object({
        kind: z.enum(['logreg', 'mlp', 'cnn']),
        hidden: z.array(z.number().int().min(1).max(4096)).max(8).optional(),
      })
      .strict(),
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
    rounds: z.number().int().min(1),
    training: z
      .object({
        localEpochs: z.number().int().min(1),
        batchSize: z.number().int().min(1),
        learningRate: z.number().positive(),
      })
      .strict(),
    committee: z.object({ size: z.number().int().min(1), threshold: z.number().int().min(1) }).strict(),
    dp: z
      .object({ epsilon: z.number().positive(), delta: z.number().gt(0).lt(1), clipNorm: z.number().positive() })
      .strict()
      .optional(),
  })
  .strict()
  .refine((m) => (m.features === undefined) !== (m.imageShape === undefined), {
    message: 'exactly one of features (tabular) or imageShape (images) must be given',
    path: ['features'],
  })
  .refine((m) => m.committee.threshold > m.committee.size / 2 && m.committee.threshold <= m.committee.size, {
    message: 'threshold t must satisfy size/2 < t ≤ size',
    path: ['committee', 'threshold'],
  });

export type FederationManifest = z.infer<typeof ManifestSchema>;

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
