/**
 * The prekey tests through the node's round driver (prekey-driver, prekey-driver-rekey): a linear
 * trainer whose updates are known, the peer factory they share (memory gossip, FedmeshFederation on
 * in-process Hardhat, secure aggregation at (3, 2) with generous timing) and the exact-FedAvg check.
 */
import type { Writable } from 'node:stream';
import { expect } from 'vitest';
import { systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import type { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { createPeer, type Peer } from '../../node/peer.js';
import type { LocalTrainer } from '../../node/services/round-driver.js';
import type { MemoryPrekeyStore } from '../../node/services/secagg-prekey-store.js';
import type { Entropy } from '../../protocol/secure-aggregation/crypto.js';
import type { LabelledData } from '../../protocol/data.js';
import type { ModelWeights } from '../../protocol/model.js';
import type { FederationHarness } from '../contracts/federation-harness.js';
import { config, crypto, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

export const CONFIG = config({ committeeSize: 3, threshold: 2, maliciousMembers: 0 });
/** Peer i's sample count and the k-th coordinate of its update. */
export const N = (i: number): number => 10 + i;
export const delta = (i: number, k: number): number => (i + 1) * 2 ** -7 * (k % 2 ? -1 : 1);

/** Adds delta(index, ·) to its weights each round. */
export class StepTrainer implements LocalTrainer {
  private w: ModelWeights;
  constructor(
    private readonly index: number,
    initial: ModelWeights,
  ) {
    this.w = initial;
  }
  getWeights(): ModelWeights {
    return { tensors: this.w.tensors.map((t) => ({ shape: [...t.shape], data: t.data.slice() })) };
  }
  setWeights(w: ModelWeights): void {
    this.w = { tensors: w.tensors.map((t) => ({ shape: [...t.shape], data: Float32Array.from(t.data) })) };
  }
  async train(): Promise<{ loss: number; steps: number; seconds: number }> {
    this.w = { tensors: this.w.tensors.map((t) => ({ shape: [...t.shape], data: t.data.map((v, k) => v + delta(this.index, k)) })) };
    return { loss: 0.1, steps: 1, seconds: 0 };
  }
}

export const data = (n: number): LabelledData => ({ x: new Float32Array(n), y: new Uint8Array(n), n, featureShape: [1] });

export interface PrekeyPeerInit {
  readonly id: string;
  readonly members: readonly string[];
  readonly hub: MemoryGossipHub;
  readonly chain: FederationHarness;
  readonly trainer: StepTrainer;
  readonly entropy: Entropy;
  readonly log: Writable;
  /** The member's prekey store; absent: it never publishes prekeys. */
  readonly store?: MemoryPrekeyStore;
}

/** A member's peer: (3, 2) secure aggregation, generous timing (a fault-free round waits on none of it, load 20 on 2 cores). */
export function prekeyPeer(o: PrekeyPeerInit): Peer {
  return createPeer({
    federation: 'unit',
    members: o.members,
    committeeSize: 3,
    timing: { collectMs: 30_000, recordGraceMs: 2_000 },
    training: { epochs: 1, batchSize: 1, learningRate: 0.1, seed: 1 },
    secureAggregation: { config: CONFIG, keysMs: 10_000 },
    finalize: { threshold: CONFIG.threshold },
  })({
    gossip: o.hub.join(o.id),
    federation: o.chain.clientOf(o.id),
    trainer: o.trainer,
    data: data(N(o.members.indexOf(o.id))),
    clock: systemClock,
    log: createLogger('debug', {}, o.log),
    secagg: {
      binding: TEST_BINDING,
      crypto,
      entropy: o.entropy,
      sign: testSign(o.id),
      verify: testVerify,
      ...(o.store !== undefined ? { prekeyStore: o.store, prekeyOptions: { republishMs: 0 } } : {}),
    },
  });
}

/** Every trainer holds `before` + Σ n_i·Δ_i / Σ n_i over peers 0–2, up to stochastic rounding (< |U|·2^-f / Σ n_i) and float32. */
export function expectFedAvg(before: ModelWeights, trainers: readonly StepTrainer[]): void {
  const total = N(0) + N(1) + N(2);
  const tol = (3 * 2 ** -CONFIG.fractionalBits) / total + 1e-6;
  for (const t of trainers) {
    t.getWeights().tensors[0]!.data.forEach((v, k) => {
      const want = before.tensors[0]!.data[k]! + [0, 1, 2].reduce((a, i) => a + (N(i) * delta(i, k)) / total, 0);
      expect(Math.abs(v - want)).toBeLessThanOrEqual(tol);
    });
  }
}
