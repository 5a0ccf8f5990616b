/**
 * Simulation options: schema, defaults and validation at the edge (STYLE.md §11). Errors
 * name the field, the value and the rule.
 */
import { z } from 'zod';
import { FedmeshError } from '../protocol/errors.js';
import { FEDERATION_ID_PATTERN } from '../protocol/messages/topics.js';

export const SIMULATION_DEFAULTS = {
  dataset: 'breast-cancer',
  peers: 8,
  rounds: 10,
  seed: 1,
  model: 'mlp',
  hidden: [16],
  committeeSize: 3,
  localEpochs: 2,
  batchSize: 16,
  learningRate: 0.01,
  testFraction: 0.2,
  /** Committee waits at most this long for all updates; rounds normally close early. */
  collectMs: 60_000,
  recordGraceMs: 5_000,
  federation: 'demo',
} as const;

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
  })
  .strict()
  .refine((o) => o.committeeSize <= o.peers, { message: 'must not exceed peers', path: ['committeeSize'] });

export type SimulationOptions = z.infer<typeof SimulationOptionsSchema>;

export class ConfigError extends FedmeshError<'CONFIG_INVALID', { issues: { field: string; value: unknown; rule: string }[] }> {}

/** Merge `input` over the defaults and validate; throws ConfigError naming each bad field. */
export function parseSimulationOptions(input: Record<string, unknown>): SimulationOptions {
  const merged: Record<string, unknown> = { ...SIMULATION_DEFAULTS };
  for (const [k, v] of Object.entries(input)) if (v !== undefined) merged[k] = v;
  const res = SimulationOptionsSchema.safeParse(merged);
  if (res.success) return res.data;
  const issues = res.error.issues.map((i) => {
    const field = i.path.join('.') || '(options)';
    return { field, value: i.path.length > 0 ? merged[String(i.path[0])] : undefined, rule: i.message };
  });
  throw new ConfigError('CONFIG_INVALID', issues.map((i) => `${i.field}=${JSON.stringify(i.value)}: ${i.rule}`).join('; '), { issues });
}
