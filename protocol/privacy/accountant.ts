/**
 * RdpAccountant: the running privacy loss of one institution's data, composed over DP-SGD steps
 * and federated rounds.
 *
 * RDP composes additively at each order (Mironov 2017, Prop. 1), so the accountant keeps one
 * running total per tracked order plus the list of mechanisms it was charged for; ε at any δ
 * is derived on demand (./epsilon.ts). Rounds with different (q, σ, steps) compose the same way.
 * Pure: no clock, no I/O; the same history gives the same totals on every machine.
 */
import { epsilonFromRdp, type PrivacySpent } from './epsilon.js';
import { DEFAULT_RDP_ORDERS } from './orders.js';
import { rdpPerStep, type SubsampledGaussian, validateNoiseMultiplier, validateOrders, validateSampleRate, validateSteps } from './rdp.js';

export class RdpAccountant {
  readonly orders: readonly number[];
  private readonly totals: number[];
  private readonly entries: SubsampledGaussian[] = [];
  /** Per-step RDP vectors by (q, σ): rounds usually repeat one configuration. */
  private readonly perStep = new Map<string, readonly number[]>();

  constructor(orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    validateOrders(orders);
    this.orders = Object.freeze([...orders]);
    this.totals = orders.map(() => 0);
  }

  /** Charges `m.steps` steps of the subsampled Gaussian (one round's local training, say). */
  compose(m: SubsampledGaussian): this {
    validateSampleRate(m.sampleRate);
    validateNoiseMultiplier(m.noiseMultiplier);
    validateSteps(m.steps);
    const step = this.rdpOfOneStep(m.sampleRate, m.noiseMultiplier);
    for (let i = 0; i < this.totals.length; i++) this.totals[i]! += m.steps * step[i]!;
    this.entries.push({ sampleRate: m.sampleRate, noiseMultiplier: m.noiseMultiplier, steps: m.steps });
    return this;
  }

  /** Total RDP at each of `orders` so far. */
  get rdp(): readonly number[] {
    return [...this.totals];
  }

  /** Every mechanism charged, in order. */
  get history(): readonly SubsampledGaussian[] {
    return this.entries.map((e) => ({ ...e }));
  }

  /** ε spent so far at `delta`; 0 before anything was charged. */
  epsilon(delta: number): PrivacySpent {
    return epsilonFromRdp(this.orders, this.totals, delta);
  }

  private rdpOfOneStep(q: number, sigma: number): readonly number[] {
    const key = `${q}/${sigma}`;
    let v = this.perStep.get(key);
    if (v === undefined) {
      v = this.orders.map((a) => rdpPerStep(q, sigma, a));
      this.perStep.set(key, v);
    }
    return v;
  }
}
