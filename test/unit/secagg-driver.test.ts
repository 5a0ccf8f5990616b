/**
 * The node's secure-aggregation round (node/services/secure-round.ts via RoundDriver) over
 * the in-memory gossip hub and FedmeshFederation's bytecode on the in-process Hardhat network
 * (rounds opened on chain, finalized by t committee signatures), with a deterministic fake
 * trainer. Fast timings exercise the deadline paths: a participant that drops after sharing
 * its keys (its mask key is reconstructed), and the committee's position 0 going silent after
 * its input (position 1 proposes and records after its grace periods). One peer is an
 * observer: it advertises (contributes = 0) and adopts, but sends no input.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import type { LabelledData } from '../../protocol/data.js';
import { fedAvg } from '../../protocol/fedavg.js';
import { SecAggKind } from '../../protocol/messages/secagg.js';
import type { ModelWeights } from '../../protocol/model.js';
import { effectiveCommittee } from '../../protocol/secure-aggregation/config.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { createPeer, type Peer } from '../../node/peer.js';
import { assertFinalized, type DropoutPoint, type LocalTrainer } from '../../node/services/round-driver.js';
import { config, crypto, entropies, ids, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';
import { type FederationHarness, startPeerFederation } from '../contracts/federation-harness.js';

const initial: ModelWeights = {
  tensors: [
    { shape: [2, 3], data: Float32Array.from([0.1, -0.2, 0.3, 0.4, -0.5, 0.6]) },
    { shape: [3], data: Float32Array.from([0, 0.01, -0.01]) },
  ],
};

/** Training moves every weight by (index + 1) · 0.01 · (round parity sign). */
class FakeTrainer implements LocalTrainer {
  private w: ModelWeights = initial;
  constructor(private readonly index: number) {}
  getWeights(): ModelWeights {
    return { tensors: this.w.tensors.map((t) => ({ shape: [...t.shape], data: t.data.slice() })) };
  }
  setWeights(w: ModelWeights): void {
    this.w = { tensors: w.tensors.map((t) => ({ shape: [...t.shape], data: Float32Array.from(t.data) })) };
  }
  async train(): Promise<{ loss: number; steps: number; seconds: number }> {
    await new Promise((r) => setTimeout(r, 2));
    this.w = {
      tensors: this.w.tensors.map((t) => ({
        shape: [...t.shape],
        data: t.data.map((v, k) => v + (this.index + 1) * 0.01 * (k % 2 ? -1 : 1)),
      })),
    };
    return { loss: 0.1, steps: 1, seconds: 0 };
  }
}

/** Peer index that only observes (participate: false). */
const OBSERVER = 8;

const data = (n: number): LabelledData => ({ x: new Float32Array(n), y: new Uint8Array(n), n, featureShape: [1] });

async function federation(
  n: number,
  dropouts: (round: number, committee: readonly string[], members: readonly string[]) => Map<string, DropoutPoint>,
) {
  const members = ids(n);
  const hub = new MemoryGossipHub();
  const quorum = effectiveCommittee(config(), n);
  const chain: FederationHarness = await startPeerFederation(toHex0x(modelHash(initial)), members, quorum);
  const ent = entropies('driver');
  const trainers = members.map((_, i) => new FakeTrainer(i));
  const plans = new Map<number, Map<string, DropoutPoint>>();
  let peers: Peer[] = [];
  const dropoutOf = (id: string) => (round: number) => {
    // The asking peer's own driver: its opener has opened `round`, so it knows the committee.
    if (!plans.has(round)) plans.set(round, dropouts(round, peers[members.indexOf(id)]!.driver.plan(round, 0).committee, members));
    return plans.get(round)!.get(id);
  };
  peers = members.map((id, i) =>
    createPeer({
      federation: 'unit',
      members,
      committeeSize: 5,
      timing: { collectMs: 2000, recordGraceMs: 300 },
      training: { epochs: 1, batchSize: 1, learningRate: 0.1, seed: 1 },
      secureAggregation: { config: config(), keysMs: 1000 },
      dropout: dropoutOf(id),
      resultSlackMs: 3000,
      participate: i !== OBSERVER,
      finalize: { threshold: quorum.threshold },
    })({
      gossip: hub.join(id),
      federation: chain.clientOf(id),
      trainer: trainers[i]!,
      data: data(10 + i),
      clock: systemClock,
      log: createLogger((process.env.H1_LOG as 'error') ?? 'error'),
      secagg: { binding: TEST_BINDING, crypto, entropy: ent(id), sign: testSign(id), verify: testVerify },
    }),
  );
  for (const p of peers) p.start();
  return {
    members,
    hub,
    chain,
    trainers,
    peers,
    runRound: (r: number) => Promise.all(peers.map((p) => p.runRound(r).then(assertFinalized))),
  };
}

/** The plaintext FedAvg the secure round must reproduce (up to quantization). */
function expectedModel(global: ModelWeights, survivors: number[]): ModelWeights {
  return fedAvg(
    survivors.map((i) => {
      const t = new FakeTrainer(i);
      t.setWeights(global);
      // One synchronous training step, as FakeTrainer.train applies it.
      const w = t.getWeights();
      return {
        participant: String(i),
        sampleCount: 10 + i,
        weights: { tensors: w.tensors.map((x) => ({ shape: x.shape, data: x.data.map((v, k) => v + (i + 1) * 0.01 * (k % 2 ? -1 : 1)) })) },
      };
    }),
  );
}

/** Stochastic rounding moves each n_i·Δ_i coordinate by < 2^-f: the average by < |U|·2^-f / Σ n_i. */
function expectNear(got: ModelWeights, want: ModelWeights, survivors: number[]): void {
  const tol = (survivors.length * 2 ** -config().fractionalBits) / survivors.reduce((a, i) => a + 10 + i, 0) + 1e-7;
  got.tensors.forEach((x, ti) => {
    x.data.forEach((v, k) => {
      expect(Math.abs(v - want.tensors[ti]!.data[k]!)).toBeLessThanOrEqual(tol);
    });
  });
}

let stop: (() => void) | undefined;
afterEach(() => stop?.());

describe('secure round over the in-memory gossip and the federation contract', () => {
  it('aggregates exactly the survivors through an after-keys dropout and a silent position 0', async () => {
    const fed = await federation(9, (round, committee, members) => {
      if (round === 1) return new Map();
      // Round 2: position 0 goes silent after its input; a non-member of the committee drops after keys.
      const outsider = members.find((m, i) => !committee.includes(m) && i !== OBSERVER)!;
      return new Map<string, DropoutPoint>([
        [committee[0]!, 'after-input'],
        [outsider, 'after-keys'],
      ]);
    });
    stop = () => {
      for (const p of fed.peers) p.stop();
    };
    expect(effectiveCommittee(config(), 9)).toEqual({ committeeSize: 7, threshold: 5 });

    // Round 1: everyone but the observer.
    const contributors = [0, 1, 2, 3, 4, 5, 6, 7];
    const global0 = fed.trainers[0]!.getWeights();
    const r1 = await fed.runRound(1);
    expect(r1[0]!.record.participantCount).toBe(8);
    const want1 = expectedModel(global0, contributors);
    for (const t of fed.trainers) expectNear(t.getWeights(), want1, contributors);
    expect(r1[OBSERVER]!.secure!.participantPath).toBeUndefined();
    expect(r1[OBSERVER]!.participantPath.at(-1)).toBe('adopted');
    expect(r1.filter((o) => o.recordedBySelf)).toHaveLength(1);
    expect(r1.every((o) => o.participantPath.at(-1) === 'adopted')).toBe(true);
    const members1 = r1.filter((o) => o.secure?.committeePath !== undefined);
    expect(members1).toHaveLength(7);
    for (const o of members1) expect(o.secure!.committeePath).toEqual(['advertise-keys', 'share-keys', 'masked-input', 'unmask', 'done']);
    for (const i of contributors)
      expect(r1[i]!.secure!.participantPath).toEqual(['advertise-keys', 'share-keys', 'masked-input', 'unmask', 'done']);

    // Round 2: the dropouts.
    const global1 = fed.trainers[0]!.getWeights();
    const r2 = await fed.runRound(2);
    const committee = r2[0]!.committee;
    const leader = fed.members.indexOf(committee[0]!);
    const outsider = fed.members.findIndex((m, i) => !committee.includes(m) && i !== OBSERVER);
    expect(r2[0]!.record.participantCount).toBe(7);
    expect(r2[leader]!.dropout).toBe('after-input');
    expect(r2[leader]!.committeePath).toEqual(['collecting', 'failed']);
    expect(r2[outsider]!.secure!.participantPath).toEqual(['advertise-keys', 'share-keys', 'masked-input', 'failed']);
    // A later position stepped in after position 0 stayed silent. Which one is a race: with t = 5
    // of m = 7 the record signatures arrive after several turns have passed, and every member past
    // its turn that holds t signatures submits (the losers read the winner's record).
    const recorder = r2.findIndex((o) => o.recordedBySelf);
    expect(committee.indexOf(fed.members[recorder]!)).toBeGreaterThanOrEqual(1);
    const live = r2.filter((o) => o.secure?.survivors !== undefined);
    for (const o of live) expect([o.secure!.survivors, o.secure!.dropped]).toEqual([7, 1]);
    const survivors2 = contributors.filter((i) => i !== outsider);
    const want2 = expectedModel(global1, survivors2);
    for (const t of fed.trainers) expectNear(t.getWeights(), want2, survivors2);
    // Every live member signed the same result statement (the quorum-signature seam).
    await fed.hub.settle();
    const signers = fed.peers[0]!.secaggInbox!.messages(2, SecAggKind.Result).map((m) => m.sender);
    expect(signers.length).toBeGreaterThanOrEqual(5);
    expect(signers).not.toContain(committee[0]);
    // Nothing was rejected on the wire. (By design, validate.ts: a member's aggregate announced
    // after a peer moved on to the next round is IGNOREd as ROUND_STALE; a message of a round the
    // peer has not opened yet is IGNOREd as ROUND_UNKNOWN and held by the inbox, then replayed
    // once the round opens — seen under load, when participants send ShareKeys to pre-keyed
    // members before a lagging peer's chain poll saw the open. The exact sums above show nothing
    // held was lost.)
    for (const p of fed.peers) {
      const bad = [...(p.components.gossip.verdicts as Map<string, number>).keys()].filter(
        (k) => !k.startsWith('accept') && k !== 'ignore:ROUND_STALE' && k !== 'ignore:ROUND_UNKNOWN',
      );
      expect(bad).toEqual([]);
    }
  }, 60_000);
});
