/**
 * Simulation options: schema, defaults and validation at the edge (STYLE.md §11). Errors
 * name the field, the value and the rule.
 */
import { z } from 'zod';
import { FedmeshError } from '../protocol/errors.js';
import { FEDERATION_ID_PATTERN } from '../protocol/messages/topics.js';
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
  /** Probability that a peer drops out of a round (simulations/dropouts.ts). */
  dropout: 0,
  /**
   * Rounds are opened, committee-selected and finalized by quorum on FedmeshFederation;
   * 'round-ledger' keeps the minimal ledger where one member records.
   */
  ledger: 'federation',
  /** Train the centralized baseline (same model, pooled data, same epoch budget) in the same run. */
  baseline: true,
  /** DP-SGD (used only when dpEpsilon or dpNoiseMultiplier is given): δ and the clipping norm C. */
  dpDelta: 1e-5,
  dpClipNorm: 1,
} as const;

/**
 * With --dropout and no --collect-ms, the committee waits this long for missing inputs
 * instead of 60 s: a peer that dropped after sharing keys is only noticed at the deadline.
 */
export const DROPOUT_COLLECT_MS = 10_000;

export const SimulationOptionsSchema = z
  .object({
    dataset: z.enum(['breast-cancer']),
    peers: z.number().int().min(2).max(64),
    rounds: z.number().int().min(1).max(10_000),
    seed: z.number().int().min(0).max(0x7fffffff),
    out: z.string().min(1).optional(),
    model: z.enum(['mlp', 'logreg']),
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
    dropout: z.number().min(0).lt(1),
    baseline: z.boolean(),
    // DP-SGD (docs/privacy.md): a target ε from which σ is planned over rounds × local steps, or σ itself.
    dpEpsilon: z.number().positive().optional(),
    dpDelta: z.number().gt(0).lt(1),
    dpNoiseMultiplier: z.number().positive().optional(),
    dpClipNorm: z.number().positive(),
    /** Poisson rate q; default min(1, batchSize / smallest site). */
    dpSampleRate: z.number().gt(0).max(1).optional(),
    /** Which contract records rounds (simulations/local-federation.ts `LedgerKind`). */
    ledger: z.enum(['round-ledger', 'federation']),
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
export function secAggConfigOf(o: Pick<SimulationOptions, 'committeeSize' | 'threshold' | 'clipRange' | 'fractionalBits'>): SecAggConfig {
  return {
    ...SECAGG_DEFAULTS,
    committeeSize: o.committeeSize,
    threshold: o.threshold,
    clipRange: o.clipRange,
    fractionalBits: o.fractionalBits,
  };
}

export class ConfigError extends FedmeshError<'CONFIG_INVALID', { issues: { field: string; value: unknown; rule: string }[] }> {}

/** Merge `input` over the defaults and validate; throws ConfigError naming each bad field. */
export function parseSimulationOptions(input: Record<string, unknown>): SimulationOptions {
  const merged: Record<string, unknown> = { ...SIMULATION_DEFAULTS };
  for (const [k, v] of Object.entries(input)) if (v !== undefined) merged[k] = v;
  if (input.collectMs === undefined && typeof merged.dropout === 'number' && merged.dropout > 0) merged.collectMs = DROPOUT_COLLECT_MS;
  const res = SimulationOptionsSchema.safeParse(merged);
  if (res.success) return res.data;
  const issues = res.error.issues.map((i) => {
    const field = i.path.join('.') || '(options)';
    return { field, value: i.path.length > 0 ? merged[String(i.path[0])] : undefined, rule: i.message };
  });
  throw new ConfigError('CONFIG_INVALID', issues.map((i) => `${i.field}=${JSON.stringify(i.value)}: ${i.rule}`).join('; '), { issues });
}
