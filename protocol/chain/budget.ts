/**
 * The on-chain privacy-budget encoding of FedmeshFederation (contracts/libraries/PackedLedger.sol),
 * for the off-chain accountant, the committee that writes spends into round records, and
 * auditors who recompute budgets.
 *
 * A member's cumulative Rényi-DP (RDP) is kept at 8 fixed orders, `ONCHAIN_RDP_ORDERS`, in one
 * 256-bit word: lane i (bits 28i … 28i+27) holds RDP at α_i as an unsigned fixed-point number,
 * 1 unit = 1e-6 (`RDP_SCALE` units per nat). A lane saturates at `RDP_LANE_MAX` = 2^28 − 1
 * (268.435455), which stands for "unbounded". Bits 224 … 255 of a spend are zero.
 *
 * Rounding is always towards more privacy loss: spends round up (`encodeRdp`), the c_α constants
 * round up (`cAlpha`) and caps round down (`encodeEpsilonCap`). The ledger can therefore only
 * over-state a member's ε, by at most 1e-6 per round per order plus 2e-6 from c_α.
 *
 * ε at the federation's δ (Balle, Barthe, Gaboardi, Hsu & Sato 2020, "Hypothesis testing
 * interpretations and Rényi differential privacy", Thm. 21; Opacus `get_privacy_spent`):
 *
 *     ε = max(0, min over non-saturated lanes i of (rdp_i + c_i)),
 *     c_α = (log(1/δ) − log α)/(α − 1) + log((α − 1)/α)
 *
 * The c_α depend only on δ and the orders, so they are computed here once at deployment and
 * passed to the contract's constructor; on chain there are only additions and a minimum.
 *
 * Usage by the accountant: compute the round's RDP at `ONCHAIN_RDP_ORDERS` (same order, natural
 * log units) and call `encodeRdp(values)`; the bigint goes into the record's `spend`.
 */
import { invalidValue } from './errors.js';

/**
 * The 8 orders α of the lanes. Chosen to span 1.25 … 64 with the smallest worst-case loss
 * against a continuum of orders: for the Gaussian mechanism at δ = 1e-5, ε from these 8 orders
 * is within 7% of the optimum over all α ∈ (1, 256] for every ε between 0.3 and 30 (the 8-order
 * set was picked by exhaustive search over candidate orders; docs/contracts.md).
 */
export const ONCHAIN_RDP_ORDERS: readonly number[] = Object.freeze([1.25, 2.5, 4, 7, 12, 20, 32, 64]);

export const RDP_LANES = 8;
export const RDP_LANE_BITS = 28;
/** Fixed-point units per nat: 1 unit = 1e-6. Also the scale of ε, caps and c_α. */
export const RDP_SCALE = 1_000_000n;
/** Largest lane value; means "unbounded" (268.435455 or more). */
export const RDP_LANE_MAX = (1n << 28n) - 1n;
/** Mask of the 8 lanes (bits 0 … 223). */
export const RDP_MASK = (1n << 224n) - 1n;
/** ε of a word whose lanes are all saturated (the contract's `EPSILON_UNBOUNDED`, 2^256 − 1). */
export const EPSILON_UNBOUNDED = (1n << 256n) - 1n;
/** c_α are int32 on chain. */
export const C_ALPHA_MIN = -(1n << 31n);
export const C_ALPHA_MAX = (1n << 31n) - 1n;
/** Caps are uint32 on chain: at most 4294.967295. */
export const EPSILON_CAP_MAX = (1n << 32n) - 1n;

const SCALE_NUMBER = 1_000_000n;

/**
 * The exact value of a finite double as m · 2^e with integer m, e (IEEE 754 binary64 fields),
 * so that scaling and rounding below are exact rather than subject to a second rounding.
 */
function exactBinary(value: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const negative = hi >>> 31 === 1;
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exponent: number;
  if (biased === 0) {
    exponent = -1074; // subnormal: no implicit bit
  } else {
    mantissa |= 1n << 52n;
    exponent = biased - 1075;
  }
  return { mantissa: negative ? -mantissa : mantissa, exponent };
}

/** ⌈value · 10^6⌉ exactly, for a finite double. */
export function ceilScaled(value: number): bigint {
  const { mantissa, exponent } = exactBinary(value);
  const n = mantissa * SCALE_NUMBER;
  if (exponent >= 0) return n << BigInt(exponent);
  const d = 1n << BigInt(-exponent);
  // Floor division for either sign, then up by one unless exact.
  const q = n >= 0n ? n / d : -((-n + d - 1n) / d);
  return q * d === n ? q : q + 1n;
}

/** ⌊value · 10^6⌋ exactly, for a finite double. */
export function floorScaled(value: number): bigint {
  return -ceilScaled(-value);
}

/**
 * Packs RDP values at `ONCHAIN_RDP_ORDERS` (natural-log units, one per order, in that order)
 * into a spend word: each lane is ⌈value · 10^6⌉, computed exactly from the double, saturating
 * at `RDP_LANE_MAX`; +∞ saturates. Throws ONCHAIN_INVALID_VALUE for a wrong length, a negative
 * value or NaN.
 */
export function encodeRdp(values: readonly number[]): bigint {
  if (values.length !== RDP_LANES) throw invalidValue('values.length', values.length, `must be ${RDP_LANES}, one per ONCHAIN_RDP_ORDERS`);
  let packed = 0n;
  values.forEach((v, i) => {
    if (typeof v !== 'number' || Number.isNaN(v) || v < 0)
      throw invalidValue(`values[${i}]`, v, 'RDP must be a number >= 0 (or +Infinity)');
    const lane = v === Number.POSITIVE_INFINITY ? RDP_LANE_MAX : ceilScaled(v);
    packed |= (lane > RDP_LANE_MAX ? RDP_LANE_MAX : lane) << BigInt(i * RDP_LANE_BITS);
  });
  return packed;
}

/** The 8 lanes of a packed word, in units of 1e-6 (bits above the lanes are ignored). */
export function decodePacked(packed: bigint): bigint[] {
  assertWord('packed', packed);
  const lanes: bigint[] = [];
  for (let i = 0; i < RDP_LANES; i++) lanes.push((packed >> BigInt(i * RDP_LANE_BITS)) & RDP_LANE_MAX);
  return lanes;
}

/** Lane-wise saturating sum of two packed RDP words, as the contract adds a spend. */
/**
 * A packed RDP word as RDP values at ONCHAIN_RDP_ORDERS, for the accountant
 * (protocol/privacy): lane / RDP_SCALE, a saturated lane as +∞ (the ledger reads it as
 * unbounded, so the order drops out of the minimum).
 */
export function rdpFromPacked(packed: bigint): number[] {
  return decodePacked(packed).map((lane) => (lane === RDP_LANE_MAX ? Number.POSITIVE_INFINITY : Number(lane) / Number(RDP_SCALE)));
}

export function addPacked(a: bigint, b: bigint): bigint {
  const x = decodePacked(a);
  const y = decodePacked(b);
  let sum = 0n;
  for (let i = 0; i < RDP_LANES; i++) {
    const lane = x[i]! + y[i]!;
    sum |= (lane > RDP_LANE_MAX ? RDP_LANE_MAX : lane) << BigInt(i * RDP_LANE_BITS);
  }
  return sum;
}

/**
 * The c_α constants for `delta` at `orders`, fixed point (1e-6), as passed to the contract:
 * ⌈c_α · 10^6⌉ + 1. The extra unit absorbs the float64 error of `Math.log` (well below one
 * unit), so the constant is never below the true c_α. Throws ONCHAIN_INVALID_VALUE when δ is
 * not in (0, 1), an order is not above 1, or a constant does not fit int32 (δ below about 1e-233).
 */
export function cAlpha(delta: number, orders: readonly number[] = ONCHAIN_RDP_ORDERS): bigint[] {
  if (!(typeof delta === 'number' && delta > 0 && delta < 1)) throw invalidValue('delta', delta, 'must be in (0, 1)');
  return orders.map((a, i) => {
    if (!(typeof a === 'number' && Number.isFinite(a) && a > 1)) throw invalidValue(`orders[${i}]`, a, 'must be a finite number > 1');
    // The same expression as protocol/privacy/epsilon.ts, so both round the same way.
    const c = -(Math.log(delta) + Math.log(a)) / (a - 1) + Math.log1p(-1 / a);
    const fixed = ceilScaled(c) + 1n;
    if (fixed < C_ALPHA_MIN || fixed > C_ALPHA_MAX) throw invalidValue(`cAlpha[${i}]`, fixed, 'must fit int32 (|c_α| <= 2147.483647)');
    return fixed;
  });
}

/**
 * ε of a packed RDP word under constants `cConsts` (8 values from `cAlpha`), in units of 1e-6,
 * exactly as the contract computes it: max(0, min over non-saturated lanes of rdp_i + c_i), or
 * `EPSILON_UNBOUNDED` when every lane is saturated.
 */
export function epsilonFromPacked(packed: bigint, cConsts: readonly bigint[]): bigint {
  if (cConsts.length !== RDP_LANES) throw invalidValue('cConsts.length', cConsts.length, `must be ${RDP_LANES}`);
  const lanes = decodePacked(packed);
  let best: bigint | undefined;
  lanes.forEach((lane, i) => {
    if (lane === RDP_LANE_MAX) return;
    const e = lane + cConsts[i]!;
    if (best === undefined || e < best) best = e;
  });
  if (best === undefined) return EPSILON_UNBOUNDED;
  return best < 0n ? 0n : best;
}

/** A cap ε as the contract stores it (uint32, 1e-6), rounded down so it never loosens the cap. */
export function encodeEpsilonCap(epsilon: number): bigint {
  if (!(typeof epsilon === 'number' && Number.isFinite(epsilon) && epsilon >= 0)) {
    throw invalidValue('epsilonCap', epsilon, 'must be a finite number >= 0');
  }
  const fixed = floorScaled(epsilon);
  if (fixed > EPSILON_CAP_MAX) throw invalidValue('epsilonCap', epsilon, 'must be at most 4294.967295 (uint32 at 1e-6)');
  return fixed;
}

/** A fixed-point value (1e-6 units) as a number, for display; `EPSILON_UNBOUNDED` is +∞. */
export function fixedToNumber(units: bigint): number {
  if (units === EPSILON_UNBOUNDED) return Number.POSITIVE_INFINITY;
  return Number(units) / Number(RDP_SCALE);
}

function assertWord(field: string, value: bigint): void {
  if (typeof value !== 'bigint' || value < 0n || value > EPSILON_UNBOUNDED) throw invalidValue(field, value, 'must be a uint256 bigint');
}
