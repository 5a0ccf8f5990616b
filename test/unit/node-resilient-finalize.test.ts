/**
 * "Never a duplicate finalize" (issue #6 §7) of ResilientFederationClient, on FedmeshFederation's
 * bytecode (in-process Hardhat): the contract refuses a second finalize of a round with
 * CHAIN_ROUND_NOT_OPEN. Concurrent finalize calls for one round share one transaction, and a
 * finalize for a round another member already finalized returns the chain's record unsent.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Hex32 } from '../../protocol/chain/record.js';
import type { FederationChainClient } from '../../node/chain/federation-types.js';
import { ResilientFederationClient } from '../../node/chain/resilient.js';
import { type FederationHarness, plainRecord, startFederation } from '../contracts/federation-harness.js';

const INITIAL: Hex32 = `0x${'a0'.repeat(32)}`;
const MODEL: Hex32 = `0x${'0b'.repeat(32)}`;

let h: FederationHarness;
beforeAll(async () => {
  h = await startFederation(
    INITIAL,
    [1, 2, 3, 4].map((signer) => ({ signer, peerId: `peer-${signer}` })),
  );
});
beforeEach(async () => {
  await h.reset();
});
afterAll(async () => {
  await h?.reset();
});

/** Counts finalizeRound calls that reached the inner client. */
function counting(inner: FederationChainClient, calls: { n: number }): FederationChainClient {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'finalizeRound') {
        return (...args: Parameters<FederationChainClient['finalizeRound']>) => {
          calls.n++;
          return target.finalizeRound(...args);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function signedRound() {
  const opened = await h.client(1).openRound();
  const clientOf = (address: string) => h.client(h.chain.signers.findIndex((s) => s.address === address));
  const { record, entrySignatures } = await plainRecord(
    h,
    opened.round,
    INITIAL,
    MODEL,
    opened.committee.map((a) => h.chain.signers.findIndex((s) => s.address === a)),
  );
  const sigs = await Promise.all(opened.committee.slice(0, 2).map((a) => clientOf(a).signRecord(record)));
  return { opened, record, entrySignatures, sigs, clientOf };
}

describe('ResilientFederationClient: never a duplicate finalize', () => {
  it('concurrent finalize calls for one round share one transaction', async () => {
    const { opened, record, entrySignatures, sigs, clientOf } = await signedRound();
    const calls = { n: 0 };
    // The contract refuses the second finalize, so a wrapper that sent twice would reject here.
    const fed = new ResilientFederationClient(counting(clientOf(opened.committee[0]!), calls));
    const [a, b] = await Promise.all([fed.finalizeRound(record, entrySignatures, sigs), fed.finalizeRound(record, entrySignatures, sigs)]);
    expect(a.txHash).toBe(b.txHash);
    expect(calls.n).toBe(1);
    expect(await fed.lastFinalizedRound()).toBe(1);
  });

  it('a round another member finalized is returned from the chain, not sent again', async () => {
    const { opened, record, entrySignatures, sigs, clientOf } = await signedRound();
    const member = clientOf(opened.committee[0]!);
    const winner = await clientOf(opened.committee[1]!).finalizeRound(record, entrySignatures, sigs);
    await expect(member.finalizeRound(record, entrySignatures, sigs)).rejects.toMatchObject({ code: 'CHAIN_ROUND_NOT_OPEN' });
    const calls = { n: 0 };
    const late = await new ResilientFederationClient(counting(member, calls)).finalizeRound(record, entrySignatures, sigs);
    expect(calls.n).toBe(0);
    expect(late.txHash).toBe(winner.txHash);
    expect(late.recordHash).toBe(winner.recordHash);
  });
});
