/**
 * The floors a committee member checks before it signs a lock on (U_3, D): what makes an
 * unmasked sum safe to reveal, whoever proposed it (issue 13, attacks 1 and 3).
 *
 * Bonawitz et al. (CCS 2017, §4) reveal Σ_{i∈U_3} x_i. That hides an honest x_i only if its
 * pairwise pads with *other honest survivors* stay in y_i: the committee learns the sum of each
 * connected component of the masking graph restricted to U_3, not just the total, and a
 * survivor with no surviving neighbour is unmasked alone. A malicious view signer can shrink
 * U_3 at will (it omits inputs from its view), so three floors are enforced by every honest
 * member, each with its own `rule` in a SECAGG_FLOOR error:
 *
 *   shared-fraction    |U_2| ≥ ⌈α·|U_1|⌉           (checked on the key set, committee-member.ts),
 *                      and U_1 must hold every advertiser the member knows
 *   survivor-fraction  |U_3| ≥ ⌈α·|U_2|⌉           a proposer cannot cut the sum down to a few
 *   min-survivors      |U_3| ≥ minSurvivors         never a sum of one
 *   neighbours         |N(i) ∩ U_3 \ {i}| ≥ k        every survivor padded by ≥ k survivors
 *   connected          the graph on U_3 is connected  the sum reveals the total only
 *
 * With the complete masking graph on U_2 (every participant masks with exactly the certified
 * U_2) the last two reduce to |U_3| ≥ k + 1. With the SecAgg+ graph (graph.ts) they bind: a
 * survivor whose neighbours dropped, or dropouts that cut the Harary ring in two places, fail
 * them and the round aborts before any reveal; the same two floors are checked on U_2 itself
 * before a key set is endorsed (committee-member.ts), since U_3 ⊆ U_2 only loses edges.
 * Pure; no I/O.
 */
import { SecAggError } from './errors.js';

export interface FloorParams {
  /** α ∈ (0, 1]. */
  readonly minSurvivorFraction: number;
  /** k ≥ 1. */
  readonly minNeighbours: number;
  readonly minSurvivors: number;
}

export type FloorViolation =
  | { readonly rule: 'survivor-fraction'; readonly survivors: number; readonly shared: number; readonly required: number }
  | { readonly rule: 'min-survivors'; readonly survivors: number; readonly required: number }
  | { readonly rule: 'neighbours'; readonly participant: string; readonly neighbours: number; readonly required: number }
  | { readonly rule: 'connected'; readonly components: number };

/** ⌈α·n⌉, robust to α's binary rounding (2/3 · 9 is 6, not 7). */
export function requiredSurvivors(alpha: number, shared: number): number {
  return Math.ceil(alpha * shared - 1e-9);
}

/**
 * The first floor `survivors` breaks, or undefined. `neighbours(i)` is M_i, the set i masked
 * with (for a survivor: its certified neighbour set).
 */
export function floorViolation(
  survivors: readonly string[],
  shared: number,
  neighbours: (participant: string) => Iterable<string>,
  p: FloorParams,
): FloorViolation | undefined {
  const required = requiredSurvivors(p.minSurvivorFraction, shared);
  if (survivors.length < required) return { rule: 'survivor-fraction', survivors: survivors.length, shared, required };
  if (survivors.length < p.minSurvivors) return { rule: 'min-survivors', survivors: survivors.length, required: p.minSurvivors };
  const u = new Set(survivors);
  const adj = new Map<string, string[]>();
  for (const i of survivors) {
    const n = [...neighbours(i)].filter((j) => j !== i && u.has(j));
    if (n.length < p.minNeighbours) return { rule: 'neighbours', participant: i, neighbours: n.length, required: p.minNeighbours };
    adj.set(i, n);
  }
  const components = countComponents(survivors, adj);
  if (components > 1) return { rule: 'connected', components };
  return undefined;
}

/** Throws SECAGG_FLOOR with the violation's fields. */
export function checkFloors(
  survivors: readonly string[],
  shared: number,
  neighbours: (participant: string) => Iterable<string>,
  p: FloorParams,
): void {
  const v = floorViolation(survivors, shared, neighbours, p);
  if (v !== undefined) throw new SecAggError('SECAGG_FLOOR', `survivor set breaks the ${v.rule} floor`, { ...v });
}

/** Connected components of the undirected graph (edges taken both ways). */
function countComponents(nodes: readonly string[], adj: ReadonlyMap<string, readonly string[]>): number {
  const undirected = new Map<string, Set<string>>(nodes.map((n) => [n, new Set<string>()]));
  for (const [i, ns] of adj)
    for (const j of ns) {
      undirected.get(i)!.add(j);
      undirected.get(j)?.add(i);
    }
  const seen = new Set<string>();
  let components = 0;
  for (const start of nodes) {
    if (seen.has(start)) continue;
    components++;
    const stack = [start];
    seen.add(start);
    while (stack.length > 0) {
      const x = stack.pop()!;
      for (const y of undirected.get(x)!) {
        if (!seen.has(y)) {
          seen.add(y);
          stack.push(y);
        }
      }
    }
  }
  return components;
}
