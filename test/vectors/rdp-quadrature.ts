/**
 * Independent reference for the RDP accountant: A_α of the Poisson-subsampled Gaussian by direct
 * numerical integration of its definition (Mironov, Talwar & Zhang 2019, §3),
 *
 *   A_α = ∫ φ_σ(z) · ((1 − q) + q·e^{(2z − 1)/(2σ²)})^α dz,   φ_σ the N(0, σ²) density,
 *
 * sharing no code with protocol/privacy/ (no binomial expansion, no erfc series, no log-space
 * sums of series terms). RDP per step is log(A_α)/(α − 1); ε is the Balle et al. 2020 conversion,
 * re-implemented here in four lines.
 *
 * Quadrature: composite 20-point Gauss–Legendre on panels of width min(σ, σ²)/4 — the integrand's
 * two length scales are σ (the Gaussian) and σ² (where q·e^{(2z−1)/2σ²} crosses 1 − q). Range:
 * from −45σ (below, the integrand is ≤ φ_σ(z) < e^{−1000}) up to where the log-integrand has
 * fallen 100 nats below its maximum past the mode. Two regimes, for relative accuracy of log A:
 *  - log A ≥ 0.5: integrate e^{log f(z) − M} with M = max log f, so nothing overflows
 *    (A reaches e^{10⁴} at α = 63, σ = 0.5), and log A = M + log Σ;
 *  - log A < 0.5: integrate D = A − 1 directly as ∫ φ_σ(z)·[(1 + qU)^α − 1 − αqU] dz with
 *    U = e^{(2z−1)/2σ²} − 1, using E[1] = 1 and E[U] = 0 exactly (E[e^{(2z−1)/2σ²}] = 1), so the
 *    O(q) parts cancel analytically and only the O(q²) remainder is integrated; for |qU| < 1e-3 the
 *    bracket is summed as Σ_{k≥2} C(α,k)(qU)^k. Then log A = log1p(D).
 * Each value is computed with N and 2N panels and must agree to 1e-12 relative, else it throws.
 *
 * Run `npx tsx test/vectors/rdp-quadrature.ts` to regenerate test/vectors/rdp-subsampled-gaussian.json.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const GL_POINTS = 20;

/** Gauss–Legendre nodes and weights on [−1, 1] by Newton's method on P_n (Golub–Welsch not needed). */
function gaussLegendre(n: number): { x: Float64Array; w: Float64Array } {
  const x = new Float64Array(n);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let t = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1;
      let p1 = t;
      for (let k = 2; k <= n; k++) {
        const p2 = ((2 * k - 1) * t * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = (n * (t * p1 - p0)) / (t * t - 1);
      const dt = p1 / dp;
      t -= dt;
      if (Math.abs(dt) < 1e-16) break;
    }
    x[i] = t;
    w[i] = 2 / ((1 - t * t) * dp * dp);
  }
  return { x, w };
}

const GL = gaussLegendre(GL_POINTS);

function integrate(f: (z: number) => number, a: number, b: number, panels: number): number {
  const h = (b - a) / panels;
  let total = 0;
  for (let p = 0; p < panels; p++) {
    const mid = a + (p + 0.5) * h;
    let s = 0;
    for (let k = 0; k < GL_POINTS; k++) s += GL.w[k]! * f(mid + 0.5 * h * GL.x[k]!);
    total += 0.5 * h * s;
  }
  return total;
}

/** log((1 − q) + q e^L) without overflow. */
function logMix(q: number, L: number): number {
  if (L < 30) return Math.log1p(q * Math.expm1(L));
  const a = Math.log1p(-q);
  const b = Math.log(q) + L;
  const hi = Math.max(a, b);
  return hi + Math.log1p(Math.exp(Math.min(a, b) - hi));
}

/** (1 + x)^α − 1 − αx, accurately for small |x|. */
function binomialRemainder(alpha: number, x: number): number {
  if (Math.abs(x) < 1e-3) {
    let term = alpha * x; // C(α,1) x
    let sum = 0;
    for (let k = 2; k < 40; k++) {
      term *= ((alpha - k + 1) / k) * x;
      sum += term;
      if (Math.abs(term) < 1e-20 * Math.abs(sum)) break;
    }
    return sum;
  }
  return Math.expm1(alpha * Math.log1p(x)) - alpha * x;
}

function logAOnce(q: number, sigma: number, alpha: number, refine: number): number {
  const s2 = sigma * sigma;
  const logNorm = -Math.log(sigma * Math.sqrt(2 * Math.PI));
  const logF = (z: number): number => logNorm - (z * z) / (2 * s2) + alpha * logMix(q, (2 * z - 1) / (2 * s2));
  const width = Math.min(sigma, s2) / 4 / refine;
  // The log-integrand can have two modes (near 0, where φ_σ peaks, and near z = α, where the
  // q·e^{…} part dominates), both inside [lo, α + 45σ]: scan that grid for the maximum, then for
  // the last point within 100 nats of it, and extend past it until the tail is negligible.
  const lo = -45 * sigma;
  const scanTo = alpha + 45 * sigma;
  let m = Number.NEGATIVE_INFINITY;
  for (let z = lo; z <= scanTo; z += width) m = Math.max(m, logF(z));
  let hi = 45 * sigma;
  for (let z = lo; z <= scanTo; z += width) if (logF(z) > m - 100) hi = Math.max(hi, z);
  while (logF(hi) > m - 100) hi += width;
  const panels = Math.ceil((hi - lo) / width);
  const logA = m + Math.log(integrate((z) => Math.exp(logF(z) - m), lo, hi, panels));
  if (logA >= 0.5) return logA;
  const d = integrate(
    (z) => {
      const u = Math.expm1((2 * z - 1) / (2 * s2));
      return Math.exp(logNorm - (z * z) / (2 * s2)) * binomialRemainder(alpha, q * u);
    },
    lo,
    hi,
    panels,
  );
  return Math.log1p(d);
}

/** log A_α by quadrature, checked against a run with twice as many panels. */
export function logAByQuadrature(q: number, sigma: number, alpha: number): number {
  const a = logAOnce(q, sigma, alpha, 1);
  const b = logAOnce(q, sigma, alpha, 2);
  if (Math.abs(a - b) > 1e-12 * Math.abs(b) + 1e-300) {
    throw new Error(`quadrature did not converge: q=${q} sigma=${sigma} alpha=${alpha}: ${a} vs ${b}`);
  }
  return b;
}

/** RDP of one step at order α, by quadrature. q = 1 and q = 0 are the closed forms. */
export function rdpByQuadrature(q: number, sigma: number, alpha: number): number {
  if (q === 0) return 0;
  return logAByQuadrature(q, sigma, alpha) / (alpha - 1);
}

/** Balle et al. 2020 conversion (see protocol/privacy/epsilon.ts), re-implemented. */
export function epsilonFromQuadrature(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
): { epsilon: number; order: number } {
  let best = { epsilon: Number.POSITIVE_INFINITY, order: Number.NaN };
  orders.forEach((a, i) => {
    const e = rdp[i]! - (Math.log(delta) + Math.log(a)) / (a - 1) + Math.log((a - 1) / a);
    if (e < best.epsilon) best = { epsilon: e, order: a };
  });
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/** Opacus's default orders, listed out here rather than imported. */
export const REFERENCE_DEFAULT_ORDERS: readonly number[] = [
  ...Array.from({ length: 99 }, (_, k) => Number((1.1 + k * 0.1).toFixed(1))),
  ...Array.from({ length: 52 }, (_, k) => 12 + k),
];

const RDP_CASES = {
  sampleRates: [0.001, 0.01, 0.05, 0.1, 0.28, 0.5, 0.9],
  noiseMultipliers: [0.7, 1, 2, 5, 10],
  orders: [1.1, 1.5, 2, 2.5, 3, 4.75, 8, 10.5, 16, 32.5, 63],
};

const EPSILON_CASES = [
  { q: 256 / 60000, sigma: 1.1, steps: 14063, delta: 1e-5 },
  { q: 0.01, sigma: 1, steps: 1000, delta: 1e-5 },
  { q: 0.001, sigma: 0.8, steps: 10000, delta: 1e-5 },
  { q: 0.05, sigma: 2, steps: 500, delta: 1e-6 },
  { q: 0.1, sigma: 0.8, steps: 100, delta: 1e-5 },
  { q: 0.28, sigma: 10.3, steps: 80, delta: 1e-5 },
  { q: 0.5, sigma: 3, steps: 20, delta: 1e-3 },
  { q: 0.25, sigma: 1.5, steps: 1, delta: 1e-5 },
];

function main(): void {
  const started = performance.now();
  const rdp: { q: number; sigma: number; order: number; rdp: number }[] = [];
  for (const q of RDP_CASES.sampleRates)
    for (const sigma of RDP_CASES.noiseMultipliers)
      for (const order of RDP_CASES.orders) rdp.push({ q, sigma, order, rdp: rdpByQuadrature(q, sigma, order) });
  const epsilon = EPSILON_CASES.map((c) => {
    const perStep = REFERENCE_DEFAULT_ORDERS.map((a) => rdpByQuadrature(c.q, c.sigma, a));
    const spent = epsilonFromQuadrature(
      REFERENCE_DEFAULT_ORDERS,
      perStep.map((r) => c.steps * r),
      c.delta,
    );
    return { ...c, orders: 'default', ...spent };
  });
  const out = {
    description:
      'Known answers for the RDP of the Poisson-subsampled Gaussian mechanism, computed by numerical integration of A_alpha = E_{z~N(0,sigma^2)}[((1-q) + q*exp((2z-1)/(2 sigma^2)))^alpha] (composite 20-point Gauss-Legendre, N and 2N panels agreeing to 1e-12), independent of protocol/privacy. rdp entries are per step: log(A_alpha)/(alpha-1). epsilon entries compose `steps` steps over the default orders (1.1..10.9 step 0.1, 12..63) and convert with eps = min_a [steps*rdp_a - (log delta + log a)/(a-1) + log((a-1)/a)] (Balle et al. 2020).',
    generator: 'test/vectors/rdp-quadrature.ts (npx tsx test/vectors/rdp-quadrature.ts)',
    rdp,
    epsilon,
  };
  const path = fileURLToPath(new URL('./rdp-subsampled-gaussian.json', import.meta.url));
  writeFileSync(path, `${JSON.stringify(out, null, 1)}\n`);
  process.stdout.write(
    `wrote ${rdp.length} rdp and ${epsilon.length} epsilon vectors to ${path} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
