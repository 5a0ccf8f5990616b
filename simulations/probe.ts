/**
 * Measurement and timing hooks around the production peers (simulation only):
 *
 * - Stragglers: before local training a peer waits a seeded delay drawn from the scenario's
 *   distribution ('uniform:MIN-MAX' or 'exponential:MEAN', milliseconds; deterministic in
 *   seed, round and peer). A straggler that misses the committee's collect deadline is left
 *   out of the round, as a slow hospital would be. The wait is real time: only the draw is
 *   simulated.
 * - Timing: when each peer's training started and ended, and when the first peer adopted the
 *   round's model (setWeights), per round (phase times).
 * - Traffic: gossip payload bytes each peer published and had delivered, per round, counted at
 *   the libp2p pubsub API (application payloads; gossipsub forwarding, framing, Noise and
 *   yamux overhead are not included).
 */
import type { LabelledData } from '../protocol/data.js';
import type { ModelWeights } from '../protocol/model.js';
import { createRng } from '../protocol/rng.js';
import type { Host } from '../node/net/libp2p-host.js';
import type { LocalTrainer, TrainOptions } from '../node/services/round-driver.js';

export type StragglerSpec = { kind: 'none' } | { kind: 'uniform'; minMs: number; maxMs: number } | { kind: 'exponential'; meanMs: number };

export function parseStragglers(s: string): StragglerSpec {
  const u = /^uniform:(.+)-(.+)$/.exec(s);
  if (u !== null) return { kind: 'uniform', minMs: Number(u[1]), maxMs: Number(u[2]) };
  const e = /^exponential:(.+)$/.exec(s);
  if (e !== null) return { kind: 'exponential', meanMs: Number(e[1]) };
  return { kind: 'none' };
}

/** The delay (ms) peer `peer` waits before training in `round`. Pure and seeded. */
export function stragglerDelayMs(spec: StragglerSpec, seed: number, round: number, peer: number): number {
  if (spec.kind === 'none') return 0;
  const u = createRng(`${seed}/${round}/${peer}`, 'fedmesh/sim/straggler/v1').next();
  if (spec.kind === 'uniform') return spec.minMs + u * (spec.maxMs - spec.minMs);
  return -spec.meanMs * Math.log(1 - u);
}

export interface TrainTiming {
  readonly startMs: number;
  readonly endMs: number;
  readonly delayMs: number;
  readonly computeSeconds: number;
}

/** Wraps a peer's trainer: straggler delay, then training, with timestamps recorded per round. */
export class ProbedTrainer implements LocalTrainer {
  constructor(
    private readonly inner: LocalTrainer,
    private readonly peer: number,
    private readonly ctx: {
      readonly seed: number;
      readonly stragglers: StragglerSpec;
      readonly round: () => number;
      readonly timings: Map<number, Map<number, TrainTiming>>;
      /** First time (performance.now) any peer adopted a model in a round: the record was out. */
      readonly adoptedAt: Map<number, number>;
    },
  ) {}

  getWeights(): ModelWeights {
    return this.inner.getWeights();
  }

  setWeights(w: ModelWeights): void {
    // The round driver sets weights only to adopt the recorded aggregate (or to roll back).
    const round = this.ctx.round();
    if (!this.ctx.adoptedAt.has(round)) this.ctx.adoptedAt.set(round, performance.now());
    this.inner.setWeights(w);
  }

  async train(data: LabelledData, opts: TrainOptions): Promise<{ loss: number; steps: number; seconds: number }> {
    const round = this.ctx.round();
    const startMs = performance.now();
    const delayMs = stragglerDelayMs(this.ctx.stragglers, this.ctx.seed, round, this.peer);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const res = await this.inner.train(data, opts);
    const m = this.ctx.timings.get(round) ?? new Map<number, TrainTiming>();
    this.ctx.timings.set(round, m);
    m.set(this.peer, { startMs, endMs: performance.now(), delayMs, computeSeconds: res.seconds });
    return res;
  }
}

/** Per-peer gossip payload byte counters; `take()` returns and resets them. */
export class TrafficMeter {
  private sent: number[];
  private received: number[];

  constructor(hosts: readonly Host[]) {
    this.sent = hosts.map(() => 0);
    this.received = hosts.map(() => 0);
    hosts.forEach((h, i) => {
      const pubsub = h.services.pubsub;
      pubsub.addEventListener('message', (evt) => {
        this.received[i]! += evt.detail.data.byteLength;
      });
      const publish = pubsub.publish.bind(pubsub);
      pubsub.publish = ((topic: string, data?: Uint8Array, opts?: unknown) => {
        this.sent[i]! += data?.byteLength ?? 0;
        return (publish as (t: string, d?: Uint8Array, o?: unknown) => ReturnType<typeof publish>)(topic, data, opts);
      }) as typeof pubsub.publish;
    });
  }

  take(): { sent: number[]; received: number[] } {
    const out = { sent: this.sent, received: this.received };
    this.sent = this.sent.map(() => 0);
    this.received = this.received.map(() => 0);
    return out;
  }
}

/** min / median / max of a list (median of an even count: mean of the middle two). */
export function spread(xs: readonly number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { min: s[0] ?? 0, median: s.length % 2 === 1 ? s[mid]! : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2, max: s[s.length - 1] ?? 0 };
}
