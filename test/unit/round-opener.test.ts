/**
 * RoundOpener recomputes each round's committee from its seed with the pure
 * selectCommitteeOnChain, as an auditor would, and refuses a committee the seed does not select
 * (a scripted chain port: it returns the I/O a test needs, no contract rules). The registry is
 * read every round: on FedmeshFederation's bytecode (in-process Hardhat).
 */
import { Wallet } from 'ethers';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { EPSILON_CAP_MAX } from '../../protocol/chain/budget.js';
import { selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { encodeUpdate } from '../../protocol/messages/update.js';
import type { ModelWeights } from '../../protocol/model.js';
import { modelHash } from '../../protocol/weights-codec.js';
import type { FederationChainClient, RoundState } from '../../node/chain/federation-types.js';
import { systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { createPeer, type Peer } from '../../node/peer.js';
import { RoundOpener } from '../../node/services/round-opener.js';
import { type FederationHarness, startFederation } from '../contracts/federation-harness.js';

const members = Array.from({ length: 6 }, () => Wallet.createRandom().address);
const seed = `0x${'ab'.repeat(32)}` as const;

function chainWith(committee: readonly string[]): FederationChainClient {
  const state: RoundState = {
    round: 1,
    status: 'open',
    seed,
    committee,
    inputDeadline: 0,
    finalizeDeadline: 0,
    snapshotBlock: 0,
    seedBlock: 0,
  };
  const partial: Partial<FederationChainClient> = {
    currentRound: async () => 1,
    getRound: async (r) => (r === 1 ? state : undefined),
    activeMembers: async () => [...members],
    activeMembersAt: async () => [...members],
    memberInfoVersion: async () => 0n,
    getMember: async (account) => ({
      account,
      status: 'active',
      peerId: `peer-${members.indexOf(account)}`,
      metadataURI: '',
      epsilonCap: 0n,
      credits: 0n,
      peerProof: '0x',
    }),
  };
  return partial as FederationChainClient;
}

describe('RoundOpener', () => {
  it('maps the seed-selected committee to peer ids', async () => {
    const committee = selectCommitteeOnChain(seed, members, 3);
    const opener = new RoundOpener(chainWith(committee), createLogger('silent'));
    expect(await opener.open(1)).toEqual(committee.map((a) => `peer-${members.indexOf(a)}`));
    expect(opener.addressOf(`peer-${members.indexOf(committee[0]!)}`)).toBe(committee[0]);
  });

  it('refuses a committee its seed does not select', async () => {
    const honest = selectCommitteeOnChain(seed, members, 3);
    const swapped = [members.find((m) => !honest.includes(m))!, ...honest.slice(1)];
    const opener = new RoundOpener(chainWith(swapped), createLogger('silent'));
    await expect(opener.open(1)).rejects.toMatchObject({
      code: 'ROUND_COMMITTEE_MISMATCH',
      fields: { round: 1, expected: honest, got: swapped },
    });
  });
});

const WINDOW_SEC = 60;
const peerId = (i: number) => `peer-${i}`;
const template: ModelWeights = { tensors: [{ shape: [2], data: new Float32Array([0.5, -0.5]) }] };

/**
 * Four registered members (signers 1..4, peer-1..peer-4) on FedmeshFederation's bytecode, m = 3,
 * t = 2; signer 5 is registered later by the tests. One deployment, reset between tests.
 */
let h: FederationHarness;
beforeAll(async () => {
  h = await startFederation(
    toHex0x(modelHash(template)),
    [1, 2, 3, 4].map((signer) => ({ signer, peerId: peerId(signer) })),
    { params: { inputDurationSec: WINDOW_SEC, finalizeDurationSec: WINDOW_SEC } },
  );
});
beforeEach(async () => {
  await h.reset();
});
afterAll(async () => {
  await h?.reset();
});

const add = (i: number) => h.admin.addMember({ account: h.account(i), peerId: peerId(i), metadataURI: '', epsilonCap: EPSILON_CAP_MAX });
/** Ends the open round by aborting it after its deadline (block time jumps). */
const abortOpenRound = async () => {
  await h.advance(2 * WINDOW_SEC + 1);
  await h.client(1).abortRound();
};

describe('RoundOpener: the registry is read every round', () => {
  it('learns members added mid-run and drops suspended ones from the next round', async () => {
    const opener = new RoundOpener(h.client(1), createLogger('silent'));
    await opener.open(1);
    expect(opener.membersRound).toBe(1);
    expect([...opener.activeMembers()].sort()).toEqual([1, 2, 3, 4].map(peerId));
    expect(opener.isActive(peerId(5))).toBe(false);
    expect(opener.addressOf(peerId(5))).toBeUndefined();

    // Member 5 joins and member 2 is suspended before round 1 ends: the contract draws round 2's
    // committee from the membership snapshot it takes when round 1 ends.
    await add(5);
    await h.admin.suspendMember(h.account(2));
    await abortOpenRound();
    const committee2 = await opener.open(2);
    expect(opener.membersRound).toBe(2);
    expect(opener.isActive(peerId(5))).toBe(true);
    expect(opener.addressOf(peerId(5))).toBe(h.account(5));
    expect(opener.isActive(peerId(2))).toBe(false);
    expect(committee2).not.toContain(peerId(2));
    expect([...opener.activeMembers()].sort()).toEqual([1, 3, 4, 5].map(peerId));
    // The suspended member's address stays known: its signatures on older rounds still verify.
    expect(opener.addressOf(peerId(2))).toBe(h.account(2));

    // Reinstated: a member again from the round after.
    await h.admin.reinstateMember(h.account(2));
    await abortOpenRound();
    await opener.open(3);
    expect(opener.isActive(peerId(2))).toBe(true);
  });

  it("makes a peer's inboxes refuse a suspended member's messages from the next round on", async () => {
    const hub = new MemoryGossipHub();
    const peers = [1, 2].map((i) => {
      const weights = template;
      return createPeer({
        federation: 'refresh',
        members: [1, 2, 3, 4].map(peerId),
        committeeSize: 3,
        timing: { collectMs: 1000, recordGraceMs: 100 },
        training: { epochs: 1, batchSize: 1, learningRate: 0.1, seed: 1 },
        finalize: { threshold: 2 },
      })({
        gossip: hub.join(peerId(i)),
        federation: h.client(i),
        trainer: {
          getWeights: () => weights,
          setWeights: () => {},
          train: async () => ({ loss: 0, steps: 0, seconds: 0 }),
        },
        data: { x: new Float32Array(2), y: new Uint8Array(1), n: 1, featureShape: [2] },
        clock: systemClock,
        log: createLogger('silent'),
      });
    });
    for (const p of peers) p.start();
    const [observer, member] = peers as [Peer, Peer];
    const update = (round: number) =>
      member.inbox.publishUpdate(round, encodeUpdate({ baseModelHash: modelHash(template), sampleCount: 1, weights: template }));
    const verdicts = () => observer.components.gossip.verdicts as Map<string, number>;

    await observer.opener.open(1);
    await update(1);
    await hub.settle();
    expect(observer.inbox.updatesFor(1).has(peerId(2))).toBe(true);

    await abortOpenRound();
    await h.admin.suspendMember(h.account(2));
    await observer.opener.open(2);
    observer.inbox.setRound(2);
    await update(2);
    await hub.settle();
    expect(observer.inbox.updatesFor(2).has(peerId(2))).toBe(false);
    expect([...verdicts().keys()].some((k) => k.includes('PEER_NOT_MEMBER'))).toBe(true);
    for (const p of peers) p.stop();
  });
});
