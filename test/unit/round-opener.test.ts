/**
 * RoundOpener recomputes each round's committee from its seed with the pure
 * selectCommitteeOnChain, as an auditor would, and refuses a committee the seed does not select.
 */
import { keccak256, toUtf8Bytes, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { cAlpha, EPSILON_CAP_MAX } from '../../protocol/chain/budget.js';
import { selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { encodeUpdate } from '../../protocol/messages/update.js';
import type { ModelWeights } from '../../protocol/model.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { FederationLedgerView } from '../../node/chain/federation-ledger-view.js';
import { InMemoryFederation } from '../../node/chain/federation-memory.js';
import type { FederationChainClient, RoundState } from '../../node/chain/federation-types.js';
import { type Clock, systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { createPeer, type Peer } from '../../node/peer.js';
import { RoundOpener } from '../../node/services/round-opener.js';

const members = Array.from({ length: 6 }, () => Wallet.createRandom().address);
const seed = `0x${'ab'.repeat(32)}` as const;

function chainWith(committee: readonly string[]): FederationChainClient {
  const state: RoundState = { round: 1, status: 'open', seed, committee, inputDeadline: 0, finalizeDeadline: 0 };
  const partial: Partial<FederationChainClient> = {
    currentRound: async () => 1,
    getRound: async (r) => (r === 1 ? state : undefined),
    activeMembers: async () => [...members],
    getMember: async (account) => ({
      account,
      status: 'active',
      peerId: `peer-${members.indexOf(account)}`,
      metadataURI: '',
      epsilonCap: 0n,
      credits: 0n,
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

/** Wall clock plus an offset the test advances (the twin's block time), like evm_increaseTime. */
class OffsetClock implements Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(ms, signal);
  }
}

const WINDOW_SEC = 60;
const wallet = (i: number) => new Wallet(keccak256(toUtf8Bytes(`fedmesh/opener-test/${i}`)));
const peerId = (i: number) => `peer-${i}`;
const template: ModelWeights = { tensors: [{ shape: [2], data: new Float32Array([0.5, -0.5]) }] };

/** Four registered members (0..3) on the in-memory twin of FedmeshFederation, m = 3, t = 2. */
async function twinFederation() {
  const clock = new OffsetClock();
  const federation = new InMemoryFederation(
    wallet(99).address,
    {
      initialModelHash: toHex0x(modelHash(template)),
      committeeSize: 3,
      threshold: 2,
      inputDurationSec: WINDOW_SEC,
      finalizeDurationSec: WINDOW_SEC,
      cAlpha: cAlpha(1e-5),
    },
    { clock, label: `opener-refresh-${Math.random()}` },
  );
  const admin = federation.client(wallet(99));
  const add = (i: number) =>
    admin.addMember({ account: wallet(i).address, peerId: peerId(i), metadataURI: '', epsilonCap: EPSILON_CAP_MAX });
  for (const i of [0, 1, 2, 3]) await add(i);
  /** Ends the open round by aborting it after its deadline (the twin's clock jumps). */
  const abortOpenRound = async () => {
    clock.offsetMs += (2 * WINDOW_SEC + 1) * 1000;
    await federation.client(wallet(0)).abortRound();
  };
  return { federation, admin, add, abortOpenRound };
}

describe('RoundOpener: the registry is read every round', () => {
  it('learns members added mid-run and drops suspended ones from the next round', async () => {
    const { federation, admin, add, abortOpenRound } = await twinFederation();
    const opener = new RoundOpener(federation.client(wallet(0)), createLogger('silent'));
    await opener.open(1);
    expect(opener.membersRound).toBe(1);
    expect([...opener.activeMembers()].sort()).toEqual([0, 1, 2, 3].map(peerId));
    expect(opener.isActive(peerId(4))).toBe(false);
    expect(opener.addressOf(peerId(4))).toBeUndefined();

    // Between rounds: member 4 joins, member 1 is suspended.
    await abortOpenRound();
    await add(4);
    await admin.suspendMember(wallet(1).address);
    const committee2 = await opener.open(2);
    expect(opener.membersRound).toBe(2);
    expect(opener.isActive(peerId(4))).toBe(true);
    expect(opener.addressOf(peerId(4))).toBe(wallet(4).address);
    expect(opener.isActive(peerId(1))).toBe(false);
    expect(committee2).not.toContain(peerId(1));
    expect([...opener.activeMembers()].sort()).toEqual([0, 2, 3, 4].map(peerId));
    // The suspended member's address stays known: its signatures on older rounds still verify.
    expect(opener.addressOf(peerId(1))).toBe(wallet(1).address);

    // Reinstated: a member again from the round after.
    await abortOpenRound();
    await admin.reinstateMember(wallet(1).address);
    await opener.open(3);
    expect(opener.isActive(peerId(1))).toBe(true);
  });

  it("makes a peer's inboxes refuse a suspended member's messages from the next round on", async () => {
    const { federation, admin, abortOpenRound } = await twinFederation();
    const hub = new MemoryGossipHub();
    const peers = [0, 1].map((i) => {
      const fed = federation.client(wallet(i));
      const weights = template;
      return createPeer({
        federation: 'refresh',
        members: [0, 1, 2, 3].map(peerId),
        committeeSize: 3,
        timing: { collectMs: 1000, recordGraceMs: 100 },
        training: { epochs: 1, batchSize: 1, learningRate: 0.1, seed: 1 },
        finalize: { threshold: 2 },
      })({
        gossip: hub.join(peerId(i)),
        chain: new FederationLedgerView(fed),
        federation: fed,
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

    await observer.opener!.open(1);
    await update(1);
    await hub.settle();
    expect(observer.inbox.updatesFor(1).has(peerId(1))).toBe(true);

    await abortOpenRound();
    await admin.suspendMember(wallet(1).address);
    await observer.opener!.open(2);
    observer.inbox.setRound(2);
    await update(2);
    await hub.settle();
    expect(observer.inbox.updatesFor(2).has(peerId(1))).toBe(false);
    expect([...verdicts().keys()].some((k) => k.includes('PEER_NOT_MEMBER'))).toBe(true);
    for (const p of peers) p.stop();
  });
});
