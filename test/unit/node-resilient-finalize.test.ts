/**
 * "Never a duplicate finalize" (issue #6 §7) of ResilientFederationClient, over the in-memory
 * FedmeshFederation twin (it enforces the contract's rules: a second finalize of a round reverts
 * with CHAIN_ROUND_NOT_OPEN). Concurrent finalize calls for one round share one transaction, and a
 * finalize for a round another member already finalized returns the chain's record unsent.
 */
import { keccak256, toUtf8Bytes, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { cAlpha, encodeEpsilonCap, encodeRdp } from '../../protocol/chain/budget.js';
import { encodeDpParams } from '../../protocol/chain/dp-params.js';
import { canonicalRoundRecord, type Hex32, type OnChainRoundRecord } from '../../protocol/chain/record.js';
import { InMemoryFederation } from '../../node/chain/federation-memory.js';
import type { FederationChainClient, OpenedRound } from '../../node/chain/federation-types.js';
import { ResilientFederationClient } from '../../node/chain/resilient.js';

const INITIAL: Hex32 = `0x${'a0'.repeat(32)}`;
const wallet = (i: number) => new Wallet(keccak256(toUtf8Bytes(`fedmesh/resilient-finalize/${i}`)));

async function federation(label: string) {
  const fed = new InMemoryFederation(
    wallet(0).address,
    { initialModelHash: INITIAL, committeeSize: 3, threshold: 2, inputDurationSec: 600, finalizeDurationSec: 600, cAlpha: cAlpha(1e-5) },
    { label },
  );
  const admin = fed.client(wallet(0));
  const members = [1, 2, 3, 4].map((i) => wallet(i));
  for (const [i, w] of members.entries()) {
    await admin.addMember({ account: w.address, peerId: `peer-${i}`, metadataURI: '', epsilonCap: encodeEpsilonCap(10) });
  }
  const clients = new Map(members.map((w) => [w.address, fed.client(w)]));
  return { clients, first: fed.client(members[0]!) };
}

function record(opened: OpenedRound): OnChainRoundRecord {
  return canonicalRoundRecord({
    round: opened.round,
    prevModelHash: INITIAL,
    modelHash: `0x${'0b'.repeat(32)}`,
    aggregateHash: `0x${'0c'.repeat(32)}`,
    participants: opened.committee.map((member) => ({
      member,
      bucket: 0,
      spend: encodeRdp([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]),
      dpParams: encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 1, clipNorm: 1, steps: 20 }),
    })),
    dropped: [],
  });
}

async function signedRound(clients: Map<string, FederationChainClient>, first: FederationChainClient) {
  const opened = await first.openRound();
  const r = record(opened);
  const sigs = await Promise.all(opened.committee.slice(0, 2).map((a) => clients.get(a)!.signRecord(r)));
  return { opened, r, sigs, member: clients.get(opened.committee[0]!)! };
}

describe('ResilientFederationClient: never a duplicate finalize', () => {
  it('concurrent finalize calls for one round share one transaction', async () => {
    const { clients, first } = await federation('dup-concurrent');
    const { r, sigs, member } = await signedRound(clients, first);
    // The raw twin refuses the second finalize, so a wrapper that sent twice would reject here.
    const fed = new ResilientFederationClient(member);
    const [a, b] = await Promise.all([fed.finalizeRound(r, sigs), fed.finalizeRound(r, sigs)]);
    expect(a.txHash).toBe(b.txHash);
    expect(await fed.lastFinalizedRound()).toBe(1);
  });

  it('a round another member finalized is returned from the chain, not sent again', async () => {
    const { clients, first } = await federation('dup-after-other');
    const { opened, r, sigs, member } = await signedRound(clients, first);
    const other = clients.get(opened.committee[1]!)!;
    const winner = await other.finalizeRound(r, sigs);
    await expect(member.finalizeRound(r, sigs)).rejects.toMatchObject({ code: 'CHAIN_ROUND_NOT_OPEN' });
    const late = await new ResilientFederationClient(member).finalizeRound(r, sigs);
    expect(late.txHash).toBe(winner.txHash);
    expect(late.recordHash).toBe(winner.recordHash);
  });
});
