/**
 * The node's SecAgg+ graph source (node/services/round-opener.ts `snapshotMembersOf`, peer.ts
 * `maskingGraphOf`): the node set is the members at the round's snapshot block, mapped to the
 * registry's peer ids — chain state only, so two peers that open the round on either side of a
 * registry change still build the same graph (red team, 19:27: `membersNow()` was the head's list).
 * A scripted chain port, as in round-opener.test.ts.
 */
import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { fromHex0x } from '../../protocol/bytes.js';
import { buildMaskingGraph } from '../../protocol/secure-aggregation/graph.js';
import type { FederationChainClient, RoundState } from '../../node/chain/federation-types.js';
import { createLogger } from '../../node/logger.js';
import { RoundOpener } from '../../node/services/round-opener.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const accounts = Array.from({ length: 8 }, () => Wallet.createRandom().address);
const seed = `0x${'cd'.repeat(32)}` as const;
const peerOf = (a: string): string => `peer-${accounts.indexOf(a)}`;

/** Snapshot: accounts 0–6. Head: account 3 suspended since, account 7 added since. */
function chain(head: readonly string[]): FederationChainClient {
  const snapshot = accounts.slice(0, 7);
  const state: RoundState = {
    round: 1,
    status: 'open',
    seed,
    committee: selectCommitteeOnChain(seed, snapshot, 3),
    inputDeadline: 0,
    finalizeDeadline: 0,
    snapshotBlock: 10,
    seedBlock: 10,
  };
  const partial: Partial<FederationChainClient> = {
    currentRound: async () => 1,
    getRound: async (r) => (r === 1 ? state : undefined),
    activeMembers: async () => [...head],
    activeMembersAt: async (block) => (block === 10 ? [...snapshot] : [...head]),
    memberInfoVersion: async () => 0n,
    getMember: async (account) => ({
      account,
      status: 'active',
      peerId: peerOf(account),
      metadataURI: '',
      epsilonCap: 0n,
      credits: 0n,
      peerProof: '0x',
    }),
  };
  return partial as FederationChainClient;
}

describe("the node's masking-graph node set", () => {
  it("is the snapshot's members as peer ids, the same for peers that read the registry before and after a change", async () => {
    const before = new RoundOpener(chain(accounts.slice(0, 7)), createLogger('silent'));
    const after = new RoundOpener(
      chain([...accounts.slice(0, 3), ...accounts.slice(4, 8)]), // 3 suspended, 7 added
      createLogger('silent'),
    );
    await before.open(1);
    await after.open(1);
    const expected = accounts.slice(0, 7).map(peerOf);
    expect(before.snapshotMembersOf(1)).toEqual(expected);
    expect(after.snapshotMembersOf(1)).toEqual(expected);
    // …whereas the head's lists differ: the old source gave two different graphs.
    expect(after.activeMembers()).not.toEqual(before.activeMembers());
    const graphOf = (nodes: readonly string[]) =>
      buildMaskingGraph({ binding: TEST_BINDING, federation: 'fed', round: 1 }, { seed: fromHex0x(seed), nodes: [...nodes].sort() }, 4);
    expect(graphOf(after.snapshotMembersOf(1)!).order).toEqual(graphOf(before.snapshotMembersOf(1)!).order);
    expect(graphOf(after.activeMembers()).order).not.toEqual(graphOf(before.activeMembers()).order);
  });
});
