/**
 * Rényi orders α at which the accountant tracks privacy loss.
 *
 * ε(δ) is a minimum over the tracked orders (./epsilon.ts), so a denser or wider set can only
 * lower the reported ε; the default set is Opacus's (`RDPAccountant.DEFAULT_ALPHAS`):
 * 1.1, 1.2, …, 10.9 and 12, 13, …, 63. Small σ or many steps push the optimum to low orders,
 * large σ or few steps to high ones; when the optimum is the first or last order, a wider set
 * would give a smaller ε (`optimalOrderAtEdge` in ./epsilon.ts says so).
 *
 * The on-chain order set is the contracts' (protocol/chain/budget.ts `ONCHAIN_RDP_ORDERS`: 8 orders
 * spanning 1.25…64, one 28-bit lane each, values rounded up); the accountant computes RDP at any
 * order list, so a round's spend is `encodeRdp(computeRdp(mechanism, ONCHAIN_RDP_ORDERS))`. Every
 * order gives a valid (ε, δ) bound, so ε over those 8 orders is as sound as over the default set;
 * it is never lower than the minimum over their union and usually a little higher.
 */
import { ONCHAIN_RDP_ORDERS } from '../chain/budget.js';
import { invalidArgument } from './errors.js';

function defaultOrders(): readonly number[] {
  const orders: number[] = [];
  // 1 + x/10 for x = 1..99, rounded to one decimal so 1.1, 1.2, … are the exact decimal literals.
  for (let x = 1; x < 100; x++) orders.push(Number((1 + x / 10).toFixed(1)));
  for (let a = 12; a < 64; a++) orders.push(a);
  return Object.freeze(orders);
}

/** 1.1, 1.2, …, 10.9, 12, 13, …, 63: 151 orders (Opacus's default alphas). */
export const DEFAULT_RDP_ORDERS: readonly number[] = defaultOrders();

/** The on-chain order set (`--orders chain`): the contracts' lanes, defined in protocol/chain/budget.ts. */
export const CHAIN_RDP_ORDERS: readonly number[] = ONCHAIN_RDP_ORDERS;

export const RDP_ORDER_SETS = Object.freeze({ default: DEFAULT_RDP_ORDERS, chain: CHAIN_RDP_ORDERS });
export type RdpOrderSetName = keyof typeof RDP_ORDER_SETS;

/** The named order set. @throws PrivacyError PRIVACY_ARGUMENT_INVALID for an unknown name. */
export function rdpOrderSet(name: string, field = 'orders'): readonly number[] {
  if (!Object.hasOwn(RDP_ORDER_SETS, name)) throw invalidArgument(field, name, `one of ${Object.keys(RDP_ORDER_SETS).join(', ')}`);
  return RDP_ORDER_SETS[name as RdpOrderSetName];
}
