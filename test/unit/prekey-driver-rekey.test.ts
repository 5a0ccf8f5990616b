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

const initial: ModelWeights = { tensors: [{ shape: [4], data: Float32Array.from([0.1, -0.2, 0.3, 0.4]) }] };
const MEMBERS = ['peer-a', 'peer-b', 'peer-c'];

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
    const trainers = MEMBERS.map((_, i) => new StepTrainer(i, initial));
    const peerOf = (id: string, trainer: StepTrainer, store: MemoryPrekeyStore, tag: string): Peer =>
      prekeyPeer({ id, members: MEMBERS, hub, chain, trainer, entropy: ent(`${id}/${tag}`), log: capture, store });
    peers = MEMBERS.map((id, i) => peerOf(id, trainers[i]!, new MemoryPrekeyStore(), 'first'));
    for (const p of peers) p.start();
    await Promise.all(peers.map((p) => p.prekeys!.topUp(1)));
    await hub.settle();

    let global = trainers[0]!.getWeights();
    let out = await Promise.all(peers.map((p) => p.runRound(1).then(assertFinalized)));
    expect(out[0]!.record.participantCount).toBe(3);
    expectFedAvg(global, trainers);
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
    expectFedAvg(global, trainers);
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
    expectFedAvg(global, trainers);
    // c opened every share of round 3: none named another key, none failed.
    expect(out[2]!.secure?.errors.SECAGG_WRONG_RECIPIENT_KEY).toBeUndefined();
    expect(out[2]!.secure?.errors.SECAGG_DECRYPT_FAILED).toBeUndefined();
    expect(complaints).toEqual([]);
    for (const p of peers) {
      expect([...(p.components.gossip.verdicts as Map<string, number>).keys()].filter((k) => k.startsWith('reject'))).toEqual([]);
    }
  }, 300_000);
});
