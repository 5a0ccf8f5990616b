/**
 * From Rényi DP to (ε, δ)-DP.
 *
 * A mechanism that is (α, ρ_α)-RDP at every tracked order α is (ε, δ)-DP with
 *
 *   ε = min_α [ ρ_α − (log δ + log α)/(α − 1) + log((α − 1)/α) ]
 *
 * (Balle, Barthe, Gaboardi, Hsu & Sato 2020, "Hypothesis testing interpretations and Rényi
 * differential privacy", Thm. 21; the conversion of Opacus `get_privacy_spent`). It is never
 * worse than Mironov 2017's ρ_α + log(1/δ)/(α − 1). A value below 0 is reported as 0: (0, δ)-DP
 * is the strongest statement the bound can make.
 */
import { invalidArgument } from './errors.js';
import { validateOrders } from './rdp.js';

export interface PrivacySpent {
  /** ε at the given δ; +∞ when every order has infinite RDP. */
  readonly epsilon: number;
  /** The order α attaining the minimum; null when ε is +∞ or when nothing was spent (all RDP 0, ε = 0). */
  readonly order: number | null;
  /** True when the optimum is the smallest or largest tracked order: a wider order set could lower ε. */
  readonly optimalOrderAtEdge: boolean;
}

export function validateDelta(delta: unknown, field = 'delta'): asserts delta is number {
  if (!(typeof delta === 'number' && delta > 0 && delta < 1)) throw invalidArgument(field, delta, 'delta must be in (0, 1)');
}

/** ε at `delta` for RDP values `rdp` tracked at `orders` (same length). */
/**
 * The smallest ε the conversion can ever report at `delta` over `orders`: its value at RDP → 0⁺,
 * min_α [−(log δ + log α)/(α − 1) + log(1 − 1/α)] (≈ 0.10 at δ = 1e-5 over the default orders).
 */
export function conversionFloor(orders: readonly number[], delta: number): number {
  validateOrders(orders);
  validateDelta(delta);
  return Math.max(0, Math.min(...orders.map((a) => -(Math.log(delta) + Math.log(a)) / (a - 1) + Math.log1p(-1 / a))));
}

export function epsilonFromRdp(orders: readonly number[], rdp: readonly number[], delta: number): PrivacySpent {
  validateOrders(orders);
  validateDelta(delta);
  if (rdp.length !== orders.length) throw invalidArgument('rdp.length', rdp.length, `must equal orders.length = ${orders.length}`);
  rdp.forEach((r, i) => {
    if (!(typeof r === 'number' && r >= 0)) throw invalidArgument(`rdp[${i}]`, r, 'RDP values are >= 0');
  });
  // Nothing was released: (0, 0)-DP exactly, not the conversion's positive floor.
  if (rdp.every((r) => r === 0)) return { epsilon: 0, order: null, optimalOrderAtEdge: false };
  const logDelta = Math.log(delta);
  let best = Number.POSITIVE_INFINITY;
  let bestIndex = -1;
  orders.forEach((a, i) => {
    const eps = rdp[i]! - (logDelta + Math.log(a)) / (a - 1) + Math.log1p(-1 / a);
    if (eps < best) {
      best = eps;
      bestIndex = i;
    }
  });
  if (bestIndex < 0) return { epsilon: Number.POSITIVE_INFINITY, order: null, optimalOrderAtEdge: false };
  const order = orders[bestIndex]!;
  return {
    epsilon: Math.max(0, best),
    order,
    optimalOrderAtEdge: orders.length > 1 && (order === Math.min(...orders) || order === Math.max(...orders)),
  };
}
