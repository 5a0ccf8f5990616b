/**
 * The server optimizer: how a round's plain FedAvg model ā becomes the next global model.
 *
 * FedAvg (McMahan et al. 2017) takes ā itself. FedAvgM (Hsu, Qi & Brown 2019, "Measuring the
 * Effects of Non-Identical Data Distribution for Federated Visual Classification", §3) treats the
 * average update Δ̄ = ā − w_t as a pseudo-gradient and adds server momentum:
 *
 *   v_{t+1} = β·v_t + Δ̄_t,      w_{t+1} = w_t + η_s·v_{t+1}                        (1)
 *
 * State from the chain, not from memory. Since w_t − w_{t−1} = η_s·v_t, (1) is exactly Polyak's
 * heavy-ball form (Polyak 1964) over the recorded models:
 *
 *   w_{t+1} = ā_t + (η_s − 1)·(ā_t − w_t) + β·(w_t − w_{t−1})                        (2)
 *
 * fedmesh computes (2), never (1): the momentum is *defined* as (w_t − w_{t−1}) / η_s, where w_t is
 * the head model and w_{t−1} the model the head record names as its `prevModelHash` (w_{t−1} = w_t,
 * v = 0, at the first round of a deployment). Both are on the hash chain and kept as artifacts, so
 * a node that restarts, a late joiner and the auditor reconstruct the momentum from two recorded
 * models — there is no hidden optimizer state to persist, sign or trust, and nothing in a signed
 * statement or on the wire changes. An aborted round leaves the head, hence the momentum, as it was
 * (as (1) would: no update, no step). A study that continues another (a new deployment) starts at
 * v = 0. (2) feeds each round's float32 rounding of w_t back into the momentum: a difference of
 * order 2^-24 relative to (1) in float64, chosen because it makes the state recoverable.
 *
 * FedAdam / FedYogi (Reddi et al. 2021, "Adaptive Federated Optimization", Alg. 2) are not
 * offered: their second-moment state cannot be recovered from the recorded models (w_{t+1} − w_t
 * gives m/(√v + τ), not m and v apart), so they would need the state itself bound in the record —
 * a change to the signed RoundRecord. See docs/manifest.md, "serverOptimizer".
 *
 * Bit-reproducible on every node: inputs are float32, so every operand of (2) is exact in float64;
 * each coordinate is computed with the same five float64 operations in the same order, each
 * correctly rounded (ECMA-262 §6.1.6.1: IEEE 754 binary64, round to nearest, ties to even; the
 * language has no fused multiply-add, so no engine may contract them), and rounded to float32 once
 * (Float32Array store, ties to even). Coordinates do not interact, so no summation order arises.
 * Pure: no I/O, no clock, no randomness.
 */
import { z } from 'zod';
import { FedmeshError } from './errors.js';
import { type ModelWeights, sameShapes } from './model.js';

/** Default server learning rate η_s: 1 takes the average update as it is (FedAvg's step). */
export const DEFAULT_SERVER_LEARNING_RATE = 1;
/** Default momentum β: 0 is FedAvg. */
export const DEFAULT_SERVER_MOMENTUM = 0;
/**
 * β < 1: with β ≥ 1 the momentum never decays and the steps grow without bound (the heavy ball's
 * stability condition, Polyak 1964). Hsu et al. 2019 sweep β up to 0.99.
 */
export const MAX_SERVER_MOMENTUM_EXCLUSIVE = 1;
/**
 * η_s ≤ 10: Reddi et al. 2021 (App. D.3) search server learning rates over 10^−3 … 10^1; a larger
 * step than ten average updates is a configuration error rather than a setting.
 */
export const MAX_SERVER_LEARNING_RATE = 10;

/** The manifest field `serverOptimizer`; absent = `{ kind: 'fedavg' }`. */
export const ServerOptimizerSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fedavg') }).strict(),
  z
    .object({
      kind: z.literal('fedavgm'),
      /** β in [0, 1). */
      momentum: z
        .number()
        .finite()
        .min(0, { message: 'serverOptimizer.momentum must be ≥ 0' })
        .lt(MAX_SERVER_MOMENTUM_EXCLUSIVE, { message: 'serverOptimizer.momentum must be < 1 (β ≥ 1 never decays)' }),
      /** η_s in (0, 10]; absent = 1. */
      learningRate: z
        .number()
        .finite()
        .gt(0, { message: 'serverOptimizer.learningRate must be > 0' })
        .max(MAX_SERVER_LEARNING_RATE, { message: `serverOptimizer.learningRate must be ≤ ${MAX_SERVER_LEARNING_RATE}` })
        .optional(),
    })
    .strict(),
]);

export type ServerOptimizer = z.infer<typeof ServerOptimizerSchema>;

/** Plain FedAvg: what an absent `serverOptimizer` means. */
export const FEDAVG: ServerOptimizer = { kind: 'fedavg' };

export type ServerOptimizerErrorCode =
  | 'SERVER_OPTIMIZER_BAD_PARAM'
  | 'SERVER_OPTIMIZER_SHAPE_MISMATCH'
  /** A node cannot have w_{t−1} (not in memory, its store or from a member): it cannot aggregate. */
  | 'SERVER_OPTIMIZER_PREVIOUS_MISSING';

export class ServerOptimizerError extends FedmeshError<ServerOptimizerErrorCode> {}

/**
 * `o` checked against ServerOptimizerSchema (for callers that do not come through the manifest:
 * the simulator, the bench). A typed SERVER_OPTIMIZER_BAD_PARAM names the field, value and rule.
 */
export function validateServerOptimizer(o: unknown): ServerOptimizer {
  const res = ServerOptimizerSchema.safeParse(o);
  if (res.success) return res.data;
  const issue = res.error.issues[0]!;
  const path = issue.path.map(String);
  const field = ['serverOptimizer', ...path].join('.');
  const value = path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);
  throw new ServerOptimizerError('SERVER_OPTIMIZER_BAD_PARAM', `${field}=${JSON.stringify(value)}: ${issue.message}`, {
    field,
    value,
    rule: issue.message,
  });
}

/** β and η_s of `o` (FedAvg: β = 0, η_s = 1). */
export function serverParams(o: ServerOptimizer | undefined): { momentum: number; learningRate: number } {
  if (o === undefined || o.kind === 'fedavg') return { momentum: DEFAULT_SERVER_MOMENTUM, learningRate: DEFAULT_SERVER_LEARNING_RATE };
  return { momentum: o.momentum, learningRate: o.learningRate ?? DEFAULT_SERVER_LEARNING_RATE };
}

export interface ServerStepInput {
  /** w_{t−1}: the model the head record names as prevModelHash (the head itself at round 1). */
  readonly previous: ModelWeights;
  /** w_t: the head model the round's participants trained from. */
  readonly head: ModelWeights;
  /** ā_t: the round's plain FedAvg model (protocol/fedavg.ts, or applyAggregate for secure rounds). */
  readonly aggregate: ModelWeights;
}

/**
 * w_{t+1} by (2) of the module header. FedAvg returns `aggregate` itself; FedAvgM with β = 0 and
 * η_s = 1 computes (2), whose correction is then exactly zero, and returns the same bits.
 */
export function serverStep(o: ServerOptimizer | undefined, x: ServerStepInput): ModelWeights {
  if (o === undefined || o.kind === 'fedavg') return x.aggregate;
  const { momentum: beta, learningRate: eta } = serverParams(o);
  for (const [name, m] of [
    ['head', x.head],
    ['previous', x.previous],
  ] as const) {
    if (!sameShapes(x.aggregate, m)) {
      throw new ServerOptimizerError('SERVER_OPTIMIZER_SHAPE_MISMATCH', `the ${name} model's tensor shapes differ from the aggregate's`, {
        model: name,
        expected: x.aggregate.tensors.map((t) => [...t.shape]),
        got: m.tensors.map((t) => [...t.shape]),
      });
    }
  }
  const lr1 = eta - 1;
  const tensors = x.aggregate.tensors.map((t, ti) => {
    const a = t.data;
    const w = x.head.tensors[ti]!.data;
    const p = x.previous.tensors[ti]!.data;
    const out = new Float32Array(a.length);
    for (let k = 0; k < a.length; k++) {
      const ak = a[k]!;
      const wk = w[k]!;
      // (η_s − 1)(ā − w_t) + β(w_t − w_{t−1}), then ā + that: the order every node uses.
      const c = lr1 * (ak - wk) + beta * (wk - p[k]!);
      // A zero correction keeps ā exactly (−0 + 0 would be +0 and change the model's bytes).
      out[k] = c === 0 ? ak : ak + c;
    }
    return { shape: [...t.shape], data: out };
  });
  return { tensors };
}
