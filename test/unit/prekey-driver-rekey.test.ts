/**
 * A member that lost its prekey state is usable again from the next round (issue #13 liveness,
 * red team F25), through the node's round driver (node/peer.ts → round-driver.ts →
 * secure-round.ts) over the in-memory gossip twin and FedmeshFederation on in-process Hardhat:
 * three pre-keyed members, committee (3, 2).
 *
 * Round 1 runs normally. Then peer-c's node is rebuilt with the same identity and an empty prekey
 * store. When round 2 opens there it starts a new key generation (node/services/secagg-prekeys.ts
 * "Re-keying") and publishes it; a participant that sealed before the bundle arrived names c's lost
 * key (ShareKeys v3) and c, told the round may hold stale keys of its own (`staleKeys`), signs no
 * complaint about it; its View then holds only its own input, and a lock leader that first cites
 * it breaks the floor — it waits for more Views instead of abstaining (machine/committee-stages.ts;
 * before, this round was aborted). From round 3 on every participant seals to c's new key and c
 * opens every share. Before the key generations, c skipped 8 rounds and participants sealed to its
 * lost keys in all of them. Every round unmasks the exact FedAvg.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { createPeer, type Peer } from '../../node/peer.js';
import { assertFinalized, type LocalTrainer } from '../../node/services/round-driver.js';
import { MemoryPrekeyStore } from '../../node/services/secagg-prekey-store.js';
import { toHex0x } from '../../protocol/bytes.js';
import type { LabelledData } from '../../protocol/data.js';
import type { ModelWeights } from '../../protocol/model.js';
import { effectiveCommittee } from '../../protocol/secure-aggregation/config.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { startPeerFederation } from '../contracts/federation-harness.js';
import { config, crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const initial: ModelWeights = { tensors: [{ shape: [4], data: Float32Array.from([0.1, -0.2, 0.3, 0.4]) }] };
const CONFIG = config({ committeeSize: 3, threshold: 2, maliciousMembers: 0 });
const MEMBERS = ['peer-a', 'peer-b', 'peer-c'];
const N = (i: number): number => 10 + i;
const delta = (i: number, k: number): number => (i + 1) * 2 ** -7 * (k % 2 ? -1 : 1);

class StepTrainer implements LocalTrainer {
  constructor(
    private readonly index: number,
    private w: ModelWeights = initial,
  ) {}
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

const data = (n: number): LabelledData => ({ x: new Float32Array(n), y: new Uint8Array(n), n, featureShape: [1] });

let peers: Peer[] = [];
afterEach(() => {
  for (const p of peers) p.stop();
  peers = [];
});

describe('prekeys through the round driver: a member rebuilt without its prekey state', () => {
  it('re-keys at the next round’s open, complains about nobody, and opens every share from the round after', async () => {
    const hub = new MemoryGossipHub();
    const quorum = effectiveCommittee(CONFIG, MEMBERS.length);
    const chain = await startPeerFederation(toHex0x(modelHash(initial)), MEMBERS, quorum);
    const ent = entropies('prekey-driver-rekey');
    const complaints: string[] = [];
    const capture = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n')) if (line.includes('"event":"complaint"')) complaints.push(line);
        done();
      },
    });
    const trainers = MEMBERS.map((_, i) => new StepTrainer(i));
    const peerOf = (id: string, trainer: StepTrainer, store: MemoryPrekeyStore, tag: string): Peer =>
      createPeer({
        federation: 'unit',
        members: MEMBERS,
        committeeSize: 3,
        // Generous: a fault-free round waits on none of these (load 20 on 2 cores).
        timing: { collectMs: 30_000, recordGraceMs: 2_000 },
        training: { epochs: 1, batchSize: 1, learningRate: 0.1, seed: 1 },
        secureAggregation: { config: CONFIG, keysMs: 10_000 },
        finalize: { threshold: quorum.threshold },
      })({
        gossip: hub.join(id),
        federation: chain.clientOf(id),
        trainer,
        data: data(N(MEMBERS.indexOf(id))),
        clock: systemClock,
        log: createLogger('debug', { peer: id }, capture),
        secagg: {
          binding: TEST_BINDING,
          crypto,
          entropy: ent(`${id}/${tag}`),
          sign: testSign(id),
          verify: testVerify,
          prekeyStore: store,
          prekeyOptions: { republishMs: 0 },
        },
      });
    peers = MEMBERS.map((id, i) => peerOf(id, trainers[i]!, new MemoryPrekeyStore(), 'first'));
    for (const p of peers) p.start();
    await Promise.all(peers.map((p) => p.prekeys!.topUp(1)));
    await hub.settle();

    const exact = (before: ModelWeights, ts: readonly StepTrainer[]) => {
      const total = N(0) + N(1) + N(2);
      const tol = (3 * 2 ** -CONFIG.fractionalBits) / total + 1e-6;
      for (const t of ts) {
        t.getWeights().tensors[0]!.data.forEach((v, k) => {
          const want = before.tensors[0]!.data[k]! + [0, 1, 2].reduce((a, i) => a + (N(i) * delta(i, k)) / total, 0);
          expect(Math.abs(v - want)).toBeLessThanOrEqual(tol);
        });
      }
    };
    let global = trainers[0]!.getWeights();
    let out = await Promise.all(peers.map((p) => p.runRound(1).then(assertFinalized)));
    expect(out[0]!.record.participantCount).toBe(3);
    exact(global, trainers);
    const lost = peers[0]!.prekeys!.keyFor('peer-c', 3)!;
    expect(lost).toBeDefined();

    // peer-c's node is rebuilt: same identity, the adopted model, an empty prekey store.
    peers[2]!.stop();
    hub.leave('peer-c');
    trainers[2] = new StepTrainer(2, trainers[0]!.getWeights());
    peers[2] = peerOf('peer-c', trainers[2], new MemoryPrekeyStore(), 'rebuilt');
    peers[2].start();

    global = trainers[0]!.getWeights();
    out = await Promise.all(peers.map((p) => p.runRound(2).then(assertFinalized)));
    expect(out[0]!.record.participantCount).toBe(3);
    exact(global, trainers);
    expect(peers[2].prekeys!.generation).toBe(1);
    expect(out[2]!.secure?.errors.SECAGG_DECRYPT_FAILED).toBeUndefined();
    await hub.settle();
    // Every receiver replaced c's lost keys with the new generation's.
    for (const p of peers.slice(0, 2)) {
      expect(p.prekeys!.directory.epochOf('peer-c')).toBe(1);
      expect(p.prekeys!.keyFor('peer-c', 3)).not.toEqual(lost);
      expect(p.prekeys!.keyFor('peer-c', 3)).toEqual(peers[2].prekeys!.keyFor('peer-c', 3));
    }

    global = trainers[0]!.getWeights();
    out = await Promise.all(peers.map((p) => p.runRound(3).then(assertFinalized)));
    expect(out[0]!.record.participantCount).toBe(3);
    exact(global, trainers);
    // c opened every share of round 3: none named another key, none failed.
    expect(out[2]!.secure?.errors.SECAGG_WRONG_RECIPIENT_KEY).toBeUndefined();
    expect(out[2]!.secure?.errors.SECAGG_DECRYPT_FAILED).toBeUndefined();
    expect(complaints).toEqual([]);
    for (const p of peers) {
      expect([...(p.components.gossip.verdicts as Map<string, number>).keys()].filter((k) => k.startsWith('reject'))).toEqual([]);
    }
  }, 300_000);
});
