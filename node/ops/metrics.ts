/**
 * Prometheus metrics for one node (prom-client). Each node owns its own Registry, so many
 * nodes can share a process (simulations) without mixing series. Names follow Prometheus
 * conventions: `fedmesh_` prefix, `_total` counters, base units (seconds, bytes).
 *
 * No series is computed from the site's records (issue 15): the local training loss and the
 * global model's accuracy on the site's training data were gauges here, and are gone — they
 * are not differentially private, and a scrape leaves the site. The privacy gauges come from
 * the ledgers (public spends), the rest from protocol traffic and timings.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class NodeMetrics {
  readonly registry = new Registry();

  readonly roundsJoined = new Counter({
    name: 'fedmesh_rounds_joined_total',
    help: 'Rounds this node took part in',
    registers: [this.registry],
  });
  readonly roundsFinalized = new Counter({
    name: 'fedmesh_rounds_finalized_total',
    help: 'Rounds finalized on chain while this node ran',
    registers: [this.registry],
  });
  readonly roundsAborted = new Counter({
    name: 'fedmesh_rounds_aborted_total',
    help: 'Rounds aborted on chain (status Aborted) while this node ran',
    registers: [this.registry],
  });
  readonly peerProofsRefused = new Counter({
    name: 'fedmesh_peer_proofs_refused_total',
    help: 'Members whose peer id this node refused to map for a missing or invalid proof (PEER_PROOF_REFUSED), by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly phaseSeconds = new Histogram({
    name: 'fedmesh_round_phase_seconds',
    help: 'Duration of each round phase',
    labelNames: ['phase'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly bytes = new Counter({
    name: 'fedmesh_gossip_bytes_total',
    help: 'Gossip payload bytes by direction',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });
  readonly epsilonSpent = new Gauge({
    name: 'fedmesh_privacy_epsilon_spent',
    help: 'ε spent at the federation δ (the larger of the chain ledger and the local ledger)',
    registers: [this.registry],
  });
  readonly epsilonRemaining = new Gauge({
    name: 'fedmesh_privacy_epsilon_remaining',
    help: 'ε left before the member cap',
    registers: [this.registry],
  });
  readonly peers = new Gauge({ name: 'fedmesh_peers_connected', help: 'libp2p peers connected', registers: [this.registry] });
  readonly verdicts = new Counter({
    name: 'fedmesh_gossip_verdicts_total',
    help: 'Inbound gossip verdicts by topic kind, action and reason code',
    labelNames: ['topic', 'action', 'code'] as const,
    registers: [this.registry],
  });

  /** Time `fn` as `phase`. */
  async timePhase<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const end = this.phaseSeconds.startTimer({ phase });
    try {
      return await fn();
    } finally {
      end();
    }
  }
}
