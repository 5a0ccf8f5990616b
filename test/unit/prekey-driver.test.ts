/**
 * Prekeys and the in-round fallback through the node's round driver (node/peer.ts →
 * round-driver.ts → secure-round.ts) over the in-memory gossip twin and FedmeshFederation on the
 * in-process Hardhat network: three peers, committee (3, 2), so all three are members. Two keep
 * signed prekeys (`prekeyStore`); the third never publishes any (a member on the old scheme, or
 * one whose bundle never arrived). In round 1:
 *  - the two pre-keyed participants hold each other's and their own prekey and wait only for the
 *    third member's advert (`preKeyed` = 2 of 3); the third, holding no bundle, reaches the other
 *    members' keys through their adverts, which carry the same prekeys;
 *  - the round unmasks the exact FedAvg (every member opened every share, whichever path sealed it);
 *  - the pre-keyed members' stores no longer hold round 1's secret.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import type { Peer } from '../../node/peer.js';
import { assertFinalized } from '../../node/services/round-driver.js';
import { MemoryPrekeyStore } from '../../node/services/secagg-prekey-store.js';
import { toHex0x } from '../../protocol/bytes.js';
import type { ModelWeights } from '../../protocol/model.js';
import { effectiveCommittee } from '../../protocol/secure-aggregation/config.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { startPeerFederation } from '../contracts/federation-harness.js';
import { CONFIG, expectFedAvg, prekeyPeer, StepTrainer } from './prekey-driver-helpers.js';
import { entropies } from './secagg-helpers.js';

const initial: ModelWeights = {
  tensors: [{ shape: [2, 3], data: Float32Array.from([0.1, -0.2, 0.3, 0.4, -0.5, 0.6]) }],
};

let peers: Peer[] = [];
afterEach(() => {
  for (const p of peers) p.stop();
  peers = [];
});

describe('prekeys through the round driver, with one member that never publishes', () => {
  it('pre-keyed participants wait only for the unkeyed member’s advert; the round sums exactly; round 1’s secrets are gone', async () => {
    const members = ['peer-a', 'peer-b', 'legacy'];
    const hub = new MemoryGossipHub();
    const quorum = effectiveCommittee(CONFIG, members.length);
    expect(quorum).toEqual({ committeeSize: 3, threshold: 2 });
    const chain = await startPeerFederation(toHex0x(modelHash(initial)), members, quorum);
    const ent = entropies('prekey-driver');
    const stores = new Map(members.slice(0, 2).map((id) => [id, new MemoryPrekeyStore()]));
    const sealed = new Map<string, { preKeyed: number; committee: number }[]>(members.map((id) => [id, []]));
    const capture = (id: string) =>
      new Writable({
        write(chunk, _enc, done) {
          for (const line of String(chunk).split('\n')) {
            if (!line.includes('sealed to prekeys')) continue;
            const rec = JSON.parse(line) as { preKeyed: number; committee: number };
            sealed.get(id)!.push({ preKeyed: rec.preKeyed, committee: rec.committee });
          }
          done();
        },
      });
    const trainers = members.map((_, i) => new StepTrainer(i, initial));
    peers = members.map((id, i) =>
      prekeyPeer({ id, members, hub, chain, trainer: trainers[i]!, entropy: ent(id), log: capture(id), store: stores.get(id) }),
    );
    for (const p of peers) p.start();
    expect(peers[2]!.prekeys).toBeUndefined();
    await Promise.all(peers.slice(0, 2).map((p) => p.prekeys!.topUp(1)));
    await hub.settle();
    expect(peers[0]!.prekeys!.keyFor('peer-b', 1)).toBeDefined();
    expect(peers[1]!.prekeys!.keyFor('peer-a', 1)).toBeDefined();
    expect(peers[0]!.prekeys!.keyFor('legacy', 1)).toBeUndefined();

    const global = trainers[0]!.getWeights();
    const out = await Promise.all(peers.map((p) => p.runRound(1).then(assertFinalized)));
    expect(out[0]!.record.participantCount).toBe(3);
    expect(new Set(out[0]!.committee)).toEqual(new Set(members));

    expect(sealed.get('peer-a')).toEqual([{ preKeyed: 2, committee: 3 }]);
    expect(sealed.get('peer-b')).toEqual([{ preKeyed: 2, committee: 3 }]);
    expect(sealed.get('legacy')).toEqual([]);

    // Exact FedAvg: Σ n_i·Δ_i / Σ n_i, up to stochastic rounding (< |U|·2^-f / Σ n_i) and float32.
    expectFedAvg(global, trainers);
    for (const store of stores.values()) expect([...store.load().secrets.keys()].filter((r) => r <= 1)).toEqual([]);
    for (const p of peers) {
      expect([...(p.components.gossip.verdicts as Map<string, number>).keys()].filter((k) => k.startsWith('reject'))).toEqual([]);
    }
  }, 120_000);
});
