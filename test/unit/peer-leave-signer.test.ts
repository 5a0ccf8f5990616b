/**
 * Leaving a round the chain has finalized (node/peer.ts `runFederationRound`): a peer still
 * waiting `leaveGraceMs` after the chain shows its round finalized leaves it (ROUND_LEFT) — but not
 * a committee member that signed the finalized record. That member holds the aggregate, announces
 * it and adopts it; if the signers left too, nobody would announce the round's model (`npm run
 * demo` on a loaded machine: all 8 peers left one round and the run failed).
 *
 * Plaintext rounds over the in-memory gossip and FedmeshFederation's bytecode, with no leave
 * grace and a fast end-of-round poll, so the leave timer fires as soon as the chain says
 * finalized: every committee member still finalizes and adopts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { createPeer, type Peer } from '../../node/peer.js';
import { type FederationHarness, startPeerFederation } from '../contracts/federation-harness.js';
import { FakeTrainer, fakeData, INITIAL_WEIGHTS } from './fake-trainer.js';

const members = ['peer-a', 'peer-b', 'peer-c', 'peer-d'];
let h: FederationHarness;
let peers: Peer[] = [];
beforeAll(async () => {
  h = await startPeerFederation(toHex0x(modelHash(INITIAL_WEIGHTS)), members, { committeeSize: 3, threshold: 2 });
});
afterAll(() => {
  for (const p of peers) p.stop();
});

describe('leaving a finalized round', () => {
  it('a committee member that signed the finalized record never leaves: it announces and adopts', async () => {
    const hub = new MemoryGossipHub();
    peers = members.map((id, i) =>
      createPeer({
        federation: 'leave-signer',
        members,
        committeeSize: 3,
        timing: { collectMs: 500, recordGraceMs: 300 },
        training: { epochs: 1, batchSize: 1, learningRate: 0.1, seed: 1 },
        resultSlackMs: 5_000,
        finalize: { threshold: 2 },
        // The leave timer fires as soon as the chain shows the round finalized.
        leaveGraceMs: 0,
        roundEndPollMs: 10,
      })({
        gossip: hub.join(id),
        federation: h.clientOf(id),
        trainer: new FakeTrainer(i),
        data: fakeData(1),
        clock: systemClock,
        log: createLogger('silent'),
      }),
    );
    for (const p of peers) p.start();
    for (const round of [1, 2]) {
      const settled = await Promise.allSettled(peers.map((p) => p.runRound(round)));
      const committee = (await h.client(1).getRound(round))!.committee;
      const finalized = await h.client(1).getFinalizedRound(round);
      expect(finalized).toBeDefined();
      for (const [i, s] of settled.entries()) {
        const onCommittee = committee.includes(h.account(i + 1));
        const signed = onCommittee && finalized!.signers.includes(h.account(i + 1));
        if (signed) {
          // Never cut: it finalized and adopted the record's model.
          expect(s.status, `${members[i]} (signer) in round ${round}`).toBe('fulfilled');
          const o = (s as PromiseFulfilledResult<Awaited<ReturnType<Peer['runRound']>>>).value;
          expect(o.status).toBe('finalized');
          expect(toHex0x(modelHash(peers[i]!.weights))).toBe(finalized!.record.modelHash);
        } else if (s.status === 'rejected') {
          // Anyone else may have been cut by the timer: then it says so.
          expect(s.reason).toMatchObject({ code: 'ROUND_LEFT' });
        }
      }
      // The others catch up to the record's model (a daemon fetches it; here: copy it).
      const adopted = peers.find((p) => toHex0x(modelHash(p.weights)) === finalized!.record.modelHash)!;
      for (const p of peers) p.components.trainer.setWeights(adopted.weights);
    }
  }, 60_000);
});
