/**
 * Log-space arithmetic for the RDP accountant: log(e^a + e^b), log(e^a − e^b) and log erfc(x)
 * without overflow or underflow. The subsampled-Gaussian sums (./rdp.ts) span hundreds of orders
 * of magnitude (terms like q^i e^{i²/2σ²}), so every term stays a logarithm until the end.
 *
 * log erfc(x) is computed three ways by range, each accurate to a few ulps of the result:
 * - x < 0: erfc(x) = 2 − erfc(−x) ∈ (1, 2], no cancellation;
 * - 0 ≤ x < 2.5: erfc = 1 − erf, with erf from the all-positive series
 *   erf(x) = (2/√π) e^{−x²} Σ_n 2^n x^{2n+1} / (1·3·…·(2n+1)) (Abramowitz & Stegun 7.1.6),
 *   which has no cancellation; 1 − erf loses at most log10(1/erfc(2.5)) ≈ 3.4 digits;
 * - x ≥ 2.5: the Laplace continued fraction erfc(x) = (e^{−x²}/√π) · 1/(x+ ½/(x+ 1/(x+ (3/2)/(x+ …))))
 *   (A&S 7.1.14), evaluated by the modified Lentz method and kept in log space, so
 *   log erfc(x) = −x² − ½ log π + log CF never underflows (x = 10⁴ is fine).
 * These are what scipy's `log_ndtr` gives Opacus/TF-privacy (`_log_erfc`), computed our way.
 */

/** log(e^a + e^b); either argument may be −∞. */
export function logAdd(a: number, b: number): number {
  const hi = Math.max(a, b);
  const lo = Math.min(a, b);
  if (hi === Number.NEGATIVE_INFINITY) return hi;
  return hi + Math.log1p(Math.exp(lo - hi));
}

/**
 * log(e^a − e^b) for a ≥ b. Returns −∞ when a = b; `undefined` when b > a (the difference is
 * negative), so the caller decides how to report it.
 */
export function logSub(a: number, b: number): number | undefined {
  if (b > a) return undefined;
  if (b === Number.NEGATIVE_INFINITY) return a;
  if (a === b) return Number.NEGATIVE_INFINITY;
  const d = b - a;
  // log1p(−e^d) is accurate for d ≪ 0; log(−expm1(d)) for d near 0 (Mächler 2012, "Accurately
  // computing log(1 − exp(−|a|))").
  return a + (d > -Math.LN2 ? Math.log(-Math.expm1(d)) : Math.log1p(-Math.exp(d)));
}

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
/** Below this the erf series is used, above it the continued fraction (see header). */
const CF_FROM = 2.5;
const MAX_ITERATIONS = 10_000;

/** erf(x) for 0 ≤ x < CF_FROM by the all-positive series (A&S 7.1.6). */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < MAX_ITERATIONS; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** log of the continued fraction K(x) with erfc(x) = e^{−x²}/√π · K(x), x ≥ CF_FROM (A&S 7.1.14). */
function logErfcContinuedFraction(x: number): number {
  // K = a1/(b1 + a2/(b2 + …)) with a1 = 1, a_{n+1} = n/2, b_n = x. Modified Lentz (Numerical
  // Recipes §5.2): f = b0 + …, here b0 = 0, so start from f = tiny.
  const tiny = 1e-300;
  let f = tiny;
  let c = f;
  let d = 0;
  for (let n = 1; n < MAX_ITERATIONS; n++) {
    const a = n === 1 ? 1 : (n - 1) / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    c = x + a / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return -x * x - LOG_SQRT_PI + Math.log(f);
}

/** log(erfc(x)) for every finite x; −∞ only for x = +∞. */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x === Number.POSITIVE_INFINITY) return Number.NEGATIVE_INFINITY;
  if (x < 0) {
    // erfc(x) = 2 − erfc(|x|) = 1 + erf(|x|).
    const ax = -x;
    return ax < CF_FROM ? Math.log1p(erfSeries(ax)) : Math.log(2 - Math.exp(logErfcContinuedFraction(ax)));
  }
  if (x < CF_FROM) return Math.log1p(-erfSeries(x));
  return logErfcContinuedFraction(x);
}
