/**
 * Seeded dropout plans for simulations (`fedmesh simulate --dropout P`).
 *
 * Each round, every peer independently drops with probability P; a dropping peer leaves at
 * one of two points, with equal probability (RoundDriverInit.dropout):
 *   'after-keys'  — advertised and shared its keys, never sent its masked input (the case
 *                   that makes the committee reconstruct its mask key s^SK);
 *   'after-input' — sent its masked input, then went silent (no committee work).
 * A drop is refused if it would leave fewer than t live committee members or fewer than
 * `minSurvivors` inputs: below those the round cannot complete (too few shares) or would
 * reveal an individual update (a sum of one). Peers are visited in a seeded random order,
 * so which drop is refused is unbiased. Deterministic in (seed, round).
 */
import { createRng, shuffleInPlace } from '../protocol/rng.js';
import type { DropoutPoint } from '../node/services/round-driver.js';
import type { DropoutPlan } from './local-federation.js';

export interface DropoutPlanOptions {
  readonly probability: number;
  readonly seed: number;
  /** Live committee members the round needs (the reconstruction threshold t). */
  readonly threshold: number;
  /** Inputs the round needs (secure aggregation's minSurvivors). */
  readonly minSurvivors: number;
}

export function planDropouts(o: DropoutPlanOptions): DropoutPlan {
  return (round, { committee, peers }) => {
    const out = new Map<number, DropoutPoint>();
    if (o.probability <= 0) return out;
    const rng = createRng(`${o.seed}/${round}`, 'fedmesh/sim/dropout/v1');
    const order = shuffleInPlace(
      Array.from({ length: peers }, (_, i) => i),
      rng,
    );
    for (const i of order) {
      const drops = rng.next() < o.probability;
      const point: DropoutPoint = rng.next() < 0.5 ? 'after-keys' : 'after-input';
      if (!drops) continue;
      out.set(i, point);
      const liveCommittee = committee.filter((c) => !out.has(c)).length;
      const inputs = peers - [...out.values()].filter((p) => p === 'after-keys').length;
      if (liveCommittee < o.threshold || inputs < o.minSurvivors) out.delete(i);
    }
    return out;
  };
}
