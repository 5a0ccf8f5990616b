/**
 * Are a deployment's c_α the constants of its δ? (red team F10.)
 *
 * The contract turns a member's RDP into ε as min_α(rdp_α + c_α) with the eight c_α passed to
 * its constructor, and stores δ beside them without relating the two (it only checks each c_α
 * against its δ → 1 floor). Constants for a larger δ — or the floor itself — make every ε it
 * reports too small, so every cap void. The auditor and the node therefore recompute c_α from δ
 * with the one rule the deployer uses (protocol/chain/budget.ts `cAlpha`: ⌈c_α·10^6⌉ + 1 with
 * c_α = −(ln δ + ln α)/(α − 1) + ln(1 − 1/α), Balle et al. 2020 Thm 21 as in
 * protocol/privacy/epsilon.ts) and require equality, lane by lane.
 *
 * δ is stored in units of 1e-18 (contracts/FedmeshFederation.sol `DELTA_ONE`), rounded to the
 * nearest unit by the deployer (node/chain/federation-deploy.ts). A δ given as a number (the
 * deployment file's, the manifest's) is the contract's when it rounds to the stored value; the
 * constants are then those of that number, which is exactly what the deployer passed to
 * `cAlpha` (decoding the stored units back to a float can differ from it in the last bit).
 */
import { cAlpha, ONCHAIN_RDP_ORDERS } from '../chain/budget.js';

/** δ = 1 in the contract's units (FedmeshFederation `DELTA_ONE`). */
export const DELTA_UNITS_PER_ONE = 10n ** 18n;

/**
 * `delta` in the contract's units of 1e-18, to the nearest unit, as the deployer stores it;
 * undefined for a value that is not a finite number.
 */
export function deltaUnits(delta: number): bigint | undefined {
  return typeof delta === 'number' && Number.isFinite(delta) ? BigInt(Math.round(delta * 1e18)) : undefined;
}

/** The stored δ as a number (the nearest float to units · 1e-18). */
export function deltaOfUnits(units: bigint): number {
  return Number(units) / 1e18;
}

/** One lane whose constant is not the one of δ. */
export interface CAlphaLaneMismatch {
  /** Lane index, 0..7 (ONCHAIN_RDP_ORDERS order). */
  readonly lane: number;
  /** The Rényi order α of the lane. */
  readonly order: number;
  /** `cAlpha(δ)[lane]`, fixed point 1e-6; undefined when δ has no int32 constants. */
  readonly expected: bigint | undefined;
  /** The deployment's constant; undefined when it has fewer than eight. */
  readonly actual: bigint | undefined;
}

export interface CAlphaCheck {
  /** `cAlpha(delta)`, or undefined when δ has none (outside (0, 1) or below about 1e-233). */
  readonly expected: readonly bigint[] | undefined;
  readonly mismatches: readonly CAlphaLaneMismatch[];
}

/** `actual` against `cAlpha(delta)` lane by lane (a lane too many or too few is a mismatch). */
export function checkCAlpha(delta: number, actual: readonly bigint[]): CAlphaCheck {
  let expected: bigint[] | undefined;
  try {
    expected = cAlpha(delta);
  } catch {
    expected = undefined;
  }
  const lanes = Math.max(ONCHAIN_RDP_ORDERS.length, actual.length);
  const mismatches: CAlphaLaneMismatch[] = [];
  for (let lane = 0; lane < lanes; lane++) {
    const e = expected?.[lane];
    const a = actual[lane];
    if (e === undefined || a === undefined || e !== a) {
      mismatches.push({ lane, order: ONCHAIN_RDP_ORDERS[lane] ?? Number.NaN, expected: e, actual: a });
    }
  }
  return { expected, mismatches };
}

/**
 * The δ a deployment's constants must be for: `claimed` (the deployment file's or the
 * manifest's) when the contract stores it, else the stored value itself.
 */
export function deltaForConstants(claimed: number, storedUnits: bigint): number {
  return deltaUnits(claimed) === storedUnits ? claimed : deltaOfUnits(storedUnits);
}
