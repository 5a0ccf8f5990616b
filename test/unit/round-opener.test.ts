/**
 * RoundOpener recomputes each round's committee from its seed with the pure
 * selectCommitteeOnChain, as an auditor would, and refuses a committee the seed does not select.
 */
import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import type { FederationChainClient, RoundState } from '../../node/chain/federation-types.js';
import { createLogger } from '../../node/logger.js';
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
