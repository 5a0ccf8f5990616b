/**
 * Simulated poisoning attackers (`attackers: { fraction, kind }` in a scenario).
 *
 * A chosen fraction of peers — picked from the seed, so a scenario replays — runs the honest
 * protocol with a corrupted local trainer or data. Only the trainer is wrapped: the attacker's
 * node services (gossip, secure aggregation, chain) are the production ones, so the attack
 * reaches the committee exactly as a malicious hospital's update would.
 *
 * Kinds, with Δ = w_trained − w_global the honest local update:
 *   sign-flip  — sends w_global − Δ (Damaskinos et al. 2018; Fang et al. 2020 "directed deviation").
 *   scaled:k   — sends w_global + k·Δ: model replacement / boosting (Bagdasaryan et al. 2020,
 *                "How To Backdoor Federated Learning", §4.2).
 *   label-flip — trains honestly on flipped labels y → 1 − y (Tolpegin et al. 2020).
 *   noise[:σ]  — sends w_global + N(0, σ²) per coordinate, σ default 1 (the Gaussian attack
 *                of Blanchard et al. 2017 "Krum").
 * Under secure aggregation, quantization clips each coordinate of n_i·update to the configured
 * range, so a large k or σ is partly clipped before it reaches the sum.
 */
import type { LabelledData } from '../protocol/data.js';
import type { ModelWeights } from '../protocol/model.js';
import { createRng, type Rng, shuffleInPlace } from '../protocol/rng.js';
import type { LocalTrainer, TrainOptions } from '../node/services/round-driver.js';

export type AttackKind =
  | { readonly kind: 'sign-flip' }
  | { readonly kind: 'scaled'; readonly factor: number }
  | { readonly kind: 'label-flip' }
  | { readonly kind: 'noise'; readonly sigma: number };

/** Default σ of the noise attack (per coordinate). */
export const NOISE_ATTACK_SIGMA = 1;

/** Parse 'sign-flip' | 'scaled:k' | 'label-flip' | 'noise[:σ]' (already validated by the options schema). */
export function parseAttackKind(s: string): AttackKind {
  const [kind, arg] = s.split(':');
  switch (kind) {
    case 'sign-flip':
      return { kind: 'sign-flip' };
    case 'label-flip':
      return { kind: 'label-flip' };
    case 'scaled':
      return { kind: 'scaled', factor: Number(arg) };
    case 'noise':
      return { kind: 'noise', sigma: arg !== undefined ? Number(arg) : NOISE_ATTACK_SIGMA };
    default:
      throw new TypeError(`unknown attack kind ${s}`);
  }
}

/** Which peers attack: round(fraction · peers) of them, chosen by a seeded shuffle. Sorted ascending. */
export function chooseAttackers(peers: number, fraction: number, seed: number): number[] {
  const count = Math.round(fraction * peers);
  const order = shuffleInPlace(
    Array.from({ length: peers }, (_, i) => i),
    createRng(seed, 'fedmesh/sim/attackers/v1'),
  );
  return order.slice(0, count).sort((a, b) => a - b);
}

/** Labels flipped y → 1 − y (label-flip attack). */
export function flipLabels(d: LabelledData): LabelledData {
  const y = new Uint8Array(d.n);
  for (let i = 0; i < d.n; i++) y[i] = 1 - d.y[i]!;
  return { ...d, y };
}

/** Standard normal by Box–Muller. */
function gaussian(rng: Rng): number {
  const u = 1 - rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/** The weights an attacker sends instead of `trained`, given the round's global model. Pure. */
export function poisonWeights(attack: AttackKind, global: ModelWeights, trained: ModelWeights, rng: Rng): ModelWeights {
  if (attack.kind === 'label-flip') return trained;
  return {
    tensors: trained.tensors.map((t, k) => {
      const g = global.tensors[k]!.data;
      const data = new Float32Array(t.data.length);
      for (let i = 0; i < data.length; i++) {
        const delta = t.data[i]! - g[i]!;
        data[i] =
          attack.kind === 'sign-flip'
            ? g[i]! - delta
            : attack.kind === 'scaled'
              ? g[i]! + attack.factor * delta
              : g[i]! + attack.sigma * gaussian(rng);
      }
      return { shape: [...t.shape], data };
    }),
  };
}

/**
 * A LocalTrainer that trains honestly through `inner` and then replaces the result with the
 * attack's weights (or, for label-flip, trains on flipped labels). Adoption of the recorded
 * aggregate (setWeights) and evaluation pass through unchanged.
 */
export class AttackingTrainer implements LocalTrainer {
  private rounds = 0;

  constructor(
    private readonly inner: LocalTrainer,
    readonly attack: AttackKind,
    private readonly seed: string,
  ) {}

  getWeights(): ModelWeights {
    return this.inner.getWeights();
  }

  setWeights(w: ModelWeights): void {
    this.inner.setWeights(w);
  }

  async train(data: LabelledData, opts: TrainOptions): Promise<{ loss: number; steps: number; seconds: number }> {
    if (this.attack.kind === 'label-flip') return this.inner.train(flipLabels(data), opts);
    const global = this.inner.getWeights();
    const res = await this.inner.train(data, opts);
    const rng = createRng(`${this.seed}/${this.rounds++}`, 'fedmesh/sim/attack-noise/v1');
    this.inner.setWeights(poisonWeights(this.attack, global, this.inner.getWeights(), rng));
    return res;
  }
}
