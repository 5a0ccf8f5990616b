/**
 * Shapley values of any batch function against a background set (issue 16, explanations):
 * KernelSHAP (Lundberg & Lee, NeurIPS 2017, "A Unified Approach to Interpreting Model
 * Predictions", Theorem 2) and, as its reference, exact enumeration of every coalition.
 *
 * The game: for a row x with M features and a background set B, the value of a coalition
 * z ∈ {0,1}^M is v(z) = mean_{b ∈ B} f(x_z, b_{z̄}) — the features in z taken from x, the others
 * from a background row ("interventional" SHAP, Janzing et al. 2020). v(0) = mean_b f(b) is the
 * base value, v(1) = f(x).
 *
 * KernelSHAP: the Shapley values are the solution of the weighted least-squares problem
 *   min_φ Σ_z π(z) (v(z) − v(0) − zᵀφ)²   subject to 1ᵀφ = v(1) − v(0)   (efficiency),
 * over the coalitions 0 < |z| < M, with the Shapley kernel π(z) = (M − 1) / (C(M,|z|) |z| (M − |z|))
 * (Theorem 2; Charnes et al. 1988). Enumerating every coalition gives the exact Shapley values;
 * with fewer, the sum is estimated:
 *  - coalition sizes are taken in pairs (s, M − s), most kernel mass first (s = 1, 2, …); sizes 1
 *    and M − 1 are always enumerated with their exact weights π, a later pair when the budget
 *    left, split by kernel mass, would give it at least one draw per coalition (the `shap`
 *    package's KernelExplainer rule; enumerating a pair greedily whenever it fits leaves the
 *    middle sizes a handful of heavy draws, measured worse in bench/kernel-shap.bench.ts);
 *  - the rest of the budget is drawn at random: a size s with probability ∝ its kernel mass
 *    (M − 1)/(s (M − s)) among the sizes not enumerated, then a uniform coalition of that size, and
 *    always with its complement (paired sampling, Covert & Lee 2021, "Improving KernelSHAP", §4);
 *    each draw weighs (remaining kernel mass) / (draws), an importance-sampling estimate of the
 *    remaining part of the sum. Repeated draws are evaluated once and their weights add up.
 * The constraint is solved in closed form (Lagrange): with A = Σ π z zᵀ, c = Σ π z (v(z) − v(0)),
 *   φ = A⁻¹c − A⁻¹1 · (1ᵀA⁻¹c − (v(1) − v(0))) / (1ᵀA⁻¹1),
 * so efficiency holds to rounding whatever the sample. The budget must cover the 2M coalitions
 * of sizes 1 and M − 1 (enumerated first, which makes A positive definite) and one drawn pair.
 *
 * The coalitions are drawn once per call from the seed and shared by every row, so A is factored
 * once and the result is a function of (f, rows, background, samples, seed): it replays bit for bit.
 */
import { createRng, type Rng } from '../../protocol/rng.js';
import { TrainerError } from './errors.js';

/** f on `count` rows (count × M values, row-major): one output per row. */
export type ValueFunction = (rows: Float32Array, count: number) => ArrayLike<number>;

export interface ShapValues {
  /** n × M attributions, row-major, in f's units. */
  readonly values: Float64Array;
  /** Per row: v(0) = mean over the background of f(b) (the base value). */
  readonly base: Float64Array;
  /** Per row: f(x). */
  readonly prediction: Float64Array;
  /** Coalitions drawn or enumerated per row (excluding the empty and the full one). */
  readonly samples: number;
  /** Distinct coalitions evaluated per row (each against every background row). */
  readonly coalitions: number;
  /** True when every coalition was enumerated: the values are exact, not estimated. */
  readonly exact: boolean;
}

export interface KernelShapOptions {
  /** Coalition budget per row. Default `defaultKernelSamples(M)`; capped at 2^M − 2. */
  readonly samples?: number;
  readonly seed?: number;
}

/**
 * Exact enumeration needs 2^M coalitions × |B| evaluations per row: 12 features and 64 background
 * rows are 262,144 model inputs a row, about the most a CPU explains interactively.
 */
export const EXACT_SHAPLEY_MAX_FEATURES = 12;
/** Rows per model call: bounds one batch's memory (rows × M float32s) whatever |B| and the budget. */
const EVAL_CHUNK = 16_384;
const RNG_DOMAIN = 'fedmesh/ml/kernel-shap/v1';

/** The `shap` package's default budget (KernelExplainer nsamples 'auto': 2M + 2048), capped at 2^M − 2. */
export function defaultKernelSamples(m: number): number {
  return Math.min(coalitionCount(m), 2 * m + 2048);
}

/** The smallest budget: the 2M coalitions of sizes 1 and M − 1 plus one drawn pair (or all 2^M − 2). */
export function minKernelSamples(m: number): number {
  return Math.min(2 * m + 2, coalitionCount(m));
}

/** Coalitions other than the empty and the full one: 2^M − 2 (Infinity past 2^53). */
function coalitionCount(m: number): number {
  return m >= 53 ? Number.POSITIVE_INFINITY : 2 ** m - 2;
}

function refuse(field: string, value: unknown, rule: string): TrainerError {
  return new TrainerError('TRAINER_SPEC_INVALID', `${field} = ${JSON.stringify(value)}: ${rule}`, { field, value, rule });
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

/** Shapley kernel weight of one coalition of size s out of M (Lundberg & Lee 2017, Theorem 2). */
export function shapleyKernel(m: number, s: number): number {
  return (m - 1) / (binomial(m, s) * s * (m - s));
}

function checkShapes(x: Float32Array, n: number, bg: Float32Array, m: number): number {
  if (!Number.isSafeInteger(n) || n < 1 || x.length % n !== 0) throw refuse('rows', n, 'n ≥ 1 rows of equal length');
  const f = x.length / n;
  if (f < 1) throw refuse('features', f, 'at least one feature');
  if (!Number.isSafeInteger(m) || m < 1 || bg.length !== m * f) throw refuse('background', bg.length, `m × ${f} values, m ≥ 1`);
  return f;
}

/**
 * v(z) for each coalition (0/1 masks of length M), for row `xr`, averaged over the background:
 * one model input per (coalition, background row), evaluated in chunks of EVAL_CHUNK rows.
 */
function coalitionValues(fn: ValueFunction, xr: Float32Array, bg: Float32Array, m: number, masks: readonly Uint8Array[]): Float64Array {
  const f = xr.length;
  const total = masks.length * m;
  const out = new Float64Array(masks.length);
  for (let start = 0; start < total; start += EVAL_CHUNK) {
    const count = Math.min(EVAL_CHUNK, total - start);
    const rows = new Float32Array(count * f);
    for (let r = 0; r < count; r++) {
      const k = Math.floor((start + r) / m);
      const b = (start + r) % m;
      const mask = masks[k]!;
      const row = rows.subarray(r * f, (r + 1) * f);
      row.set(bg.subarray(b * f, (b + 1) * f));
      for (let j = 0; j < f; j++) if (mask[j] === 1) row[j] = xr[j]!;
    }
    const y = fn(rows, count);
    if (y.length !== count) throw refuse('value function', y.length, `one output per row (${count})`);
    for (let r = 0; r < count; r++) out[Math.floor((start + r) / m)]! += y[r]! / m;
  }
  return out;
}

/**
 * Exact Shapley values by enumerating all 2^M coalitions: φ_j = Σ_{S ∌ j} |S|! (M − |S| − 1)! / M!
 * · (v(S ∪ j) − v(S)) (Shapley 1953). For M ≤ EXACT_SHAPLEY_MAX_FEATURES.
 */
export function exactShapley(fn: ValueFunction, x: Float32Array, n: number, bg: Float32Array, m: number): ShapValues {
  const f = checkShapes(x, n, bg, m);
  if (f > EXACT_SHAPLEY_MAX_FEATURES) throw refuse('features', f, `exact enumeration takes at most ${EXACT_SHAPLEY_MAX_FEATURES} features`);
  const count = 2 ** f;
  const masks = Array.from({ length: count }, (_, s) => Uint8Array.from({ length: f }, (_, j) => (s >> j) & 1));
  const size = (s: number): number => masks[s]!.reduce((a, b) => a + b, 0);
  const fact = [1];
  for (let i = 1; i <= f; i++) fact.push(fact[i - 1]! * i);
  const weight = Array.from({ length: f }, (_, s) => (fact[s]! * fact[f - s - 1]!) / fact[f]!);
  const values = new Float64Array(n * f);
  const base = new Float64Array(n);
  const prediction = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const v = coalitionValues(fn, x.subarray(r * f, (r + 1) * f), bg, m, masks);
    base[r] = v[0]!;
    prediction[r] = v[count - 1]!;
    for (let s = 0; s < count; s++)
      for (let j = 0; j < f; j++) {
        if (((s >> j) & 1) === 1) continue;
        values[r * f + j]! += weight[size(s)]! * (v[s | (1 << j)]! - v[s]!);
      }
  }
  return { values, base, prediction, samples: count - 2, coalitions: count - 2, exact: true };
}

/** The subsets of {0..M−1} of size s, as 0/1 masks (lexicographic). */
function subsetsOfSize(m: number, s: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const idx = Array.from({ length: s }, (_, i) => i);
  for (;;) {
    const z = new Uint8Array(m);
    for (const i of idx) z[i] = 1;
    out.push(z);
    let i = s - 1;
    while (i >= 0 && idx[i] === m - s + i) i--;
    if (i < 0) return out;
    idx[i]!++;
    for (let k = i + 1; k < s; k++) idx[k] = idx[k - 1]! + 1;
  }
}

/** A uniform subset of size s (partial Fisher–Yates). */
function randomSubset(m: number, s: number, rng: Rng): Uint8Array {
  const idx = Array.from({ length: m }, (_, i) => i);
  const z = new Uint8Array(m);
  for (let i = 0; i < s; i++) {
    const j = i + rng.int(m - i);
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    z[idx[i]!] = 1;
  }
  return z;
}

interface CoalitionPlan {
  readonly masks: Uint8Array[];
  readonly weights: Float64Array;
  readonly samples: number;
  readonly exact: boolean;
}

/** Which coalitions to evaluate and their regression weights (see the module header). */
export function planCoalitions(m: number, samples: number, rng: Rng): CoalitionPlan {
  const budget = Math.min(samples, coalitionCount(m));
  const masks: Uint8Array[] = [];
  const weights: number[] = [];
  let left = budget;
  let s = 1;
  const half = Math.floor(m / 2);
  // Kernel mass of the size pair (s, M − s): C(M,s)·π(s) = (M − 1)/(s (M − s)) per size.
  const pairMass = (t: number): number => (t === m - t ? 1 : 2) * ((m - 1) / (t * (m - t)));
  // Enumerate size pairs (s, M − s), most mass first. Sizes 1 and M − 1 always (the budget's
  // floor: they make A positive definite); a later pair only when sampling would on average draw
  // it at least once per coalition (`shap`'s KernelExplainer rule: left × its share of the
  // remaining mass ≥ its coalition count), and never spending the budget exactly on small sizes
  // (that would drop the middle sizes' kernel mass).
  for (; s <= half; s++) {
    const pair = s === m - s ? binomial(m, s) : 2 * binomial(m, s);
    if (pair > left || (pair === left && s < half)) break;
    if (s > 1) {
      let rest = 0;
      for (let t = s; t <= half; t++) rest += pairMass(t);
      if ((left * pairMass(s)) / rest < pair - 1e-9) break;
    }
    for (const size of s === m - s ? [s] : [s, m - s])
      for (const z of subsetsOfSize(m, size)) {
        masks.push(z);
        weights.push(shapleyKernel(m, size));
      }
    left -= pair;
  }
  const exact = s > half;
  if (!exact) {
    // Sizes not enumerated: s..M−s. Kernel mass of size t: C(M,t)·π(t) = (M − 1)/(t (M − t)).
    const sizes = Array.from({ length: m - 2 * s + 1 }, (_, i) => s + i);
    const mass = sizes.map((t) => (m - 1) / (t * (m - t)));
    const totalMass = mass.reduce((a, b) => a + b, 0);
    const w = totalMass / left;
    const index = new Map<string, number>();
    const add = (z: Uint8Array): void => {
      const key = z.join('');
      const at = index.get(key);
      if (at !== undefined) weights[at]! += w;
      else {
        index.set(key, masks.length);
        masks.push(z);
        weights.push(w);
      }
    };
    for (let drawn = 0; drawn < left; drawn += 2) {
      let u = rng.next() * totalMass;
      let t = 0;
      while (t < sizes.length - 1 && u >= mass[t]!) u -= mass[t++]!;
      const z = randomSubset(m, sizes[t]!, rng);
      add(z);
      if (drawn + 1 < left) add(z.map((v) => 1 - v));
    }
  }
  return { masks, weights: Float64Array.from(weights), samples: budget, exact };
}

/** Cholesky factor L (lower, row-major) of a symmetric positive-definite M × M matrix. */
function cholesky(a: Float64Array, m: number): Float64Array {
  const l = new Float64Array(m * m);
  for (let i = 0; i < m; i++)
    for (let j = 0; j <= i; j++) {
      let s = a[i * m + j]!;
      for (let k = 0; k < j; k++) s -= l[i * m + k]! * l[j * m + k]!;
      if (i === j) {
        if (!(s > 0)) throw refuse('samples', m, 'the coalitions do not determine the regression (A is singular)');
        l[i * m + i] = Math.sqrt(s);
      } else l[i * m + j] = s / l[j * m + j]!;
    }
  return l;
}

function solve(l: Float64Array, m: number, b: Float64Array): Float64Array {
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * m + k]! * y[k]!;
    y[i] = s / l[i * m + i]!;
  }
  const x = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < m; k++) s -= l[k * m + i]! * x[k]!;
    x[i] = s / l[i * m + i]!;
  }
  return x;
}

/**
 * KernelSHAP values of the `n` rows of `x` (n × M) for the batch function `fn`, against the
 * background `bg` (|B| × M rows, `m` of them). See the module header.
 */
export function kernelShap(
  fn: ValueFunction,
  x: Float32Array,
  n: number,
  bg: Float32Array,
  m: number,
  o: KernelShapOptions = {},
): ShapValues {
  const f = checkShapes(x, n, bg, m);
  const samples = o.samples ?? defaultKernelSamples(f);
  const floor = minKernelSamples(f);
  if (!Number.isSafeInteger(samples) || samples < floor) {
    throw refuse(
      'samples',
      samples,
      `an integer ≥ ${floor} (2 × features + 2: every coalition of size 1 and M − 1, so the regression is determined, and one more pair)`,
    );
  }
  const values = new Float64Array(n * f);
  const base = new Float64Array(n);
  const prediction = new Float64Array(n);
  const ends = [new Uint8Array(f), new Uint8Array(f).fill(1)];
  if (f === 1) {
    for (let r = 0; r < n; r++) {
      const [v0, v1] = coalitionValues(fn, x.subarray(r, r + 1), bg, m, ends);
      base[r] = v0!;
      prediction[r] = v1!;
      values[r] = v1! - v0!;
    }
    return { values, base, prediction, samples: 0, coalitions: 0, exact: true };
  }
  const plan = planCoalitions(f, samples, createRng(o.seed ?? 0, RNG_DOMAIN));
  // A = Σ π z zᵀ, shared by every row; u = A⁻¹1.
  const a = new Float64Array(f * f);
  plan.masks.forEach((z, k) => {
    const w = plan.weights[k]!;
    for (let i = 0; i < f; i++) if (z[i] === 1) for (let j = 0; j < f; j++) if (z[j] === 1) a[i * f + j]! += w;
  });
  const l = cholesky(a, f);
  const u = solve(l, f, new Float64Array(f).fill(1));
  const uSum = u.reduce((p, q) => p + q, 0);
  for (let r = 0; r < n; r++) {
    const v = coalitionValues(fn, x.subarray(r * f, (r + 1) * f), bg, m, [...ends, ...plan.masks]);
    const v0 = v[0]!;
    const delta = v[1]! - v0;
    const c = new Float64Array(f);
    plan.masks.forEach((z, k) => {
      const wy = plan.weights[k]! * (v[k + 2]! - v0);
      for (let i = 0; i < f; i++) if (z[i] === 1) c[i]! += wy;
    });
    const t = solve(l, f, c);
    const lambda = (t.reduce((p, q) => p + q, 0) - delta) / uSum;
    for (let j = 0; j < f; j++) values[r * f + j] = t[j]! - lambda * u[j]!;
    base[r] = v0;
    prediction[r] = v[1]!;
  }
  return { values, base, prediction, samples: plan.samples, coalitions: plan.masks.length, exact: plan.exact };
}
