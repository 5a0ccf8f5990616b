/**
 * The in-memory chain twin: the shared ChainClient compliance suite (the same one the
 * Hardhat-backed EthersChainClient passes in test/contracts/round-ledger.test.ts), plus what
 * only the twin has: identity handling and deterministic synthetic transactions.
 */
import { isError } from 'ethers';
import { describe, expect, it } from 'vitest';
import { InMemoryLedger } from '../../node/chain/memory-client.js';
import type { Hex32 } from '../../node/chain/types.js';
import { chainClientCompliance, expectChainError, hash } from '../contracts/chain-client.compliance.js';

const MEMBER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const OTHER = 'peer-b';
const OUTSIDER = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';

chainClientCompliance('InMemoryChainClient', async (initialModelHash) => {
  const ledger = new InMemoryLedger(initialModelHash, [MEMBER, OTHER]);
  return {
    member: ledger.client(MEMBER),
    otherMember: ledger.client(OTHER),
    outsider: ledger.client(OUTSIDER),
    identities: { member: MEMBER, otherMember: OTHER, outsider: OUTSIDER },
  };
});

describe('InMemoryLedger', () => {
  const initial = hash(0x01);

  it('matches address identities case-insensitively and reports them checksummed, like the EVM', async () => {
    const ledger = new InMemoryLedger(initial, [MEMBER.toLowerCase()]);
    const client = ledger.client(MEMBER.toUpperCase().replace('0X', '0x'));
    const r = await client.recordRound({ round: 1, prevModelHash: initial, modelHash: hash(2), participantCount: 1 });
    expect(r.recorder).toBe(MEMBER);
    expect(ledger.isMember(MEMBER.toLowerCase())).toBe(true);
  });

  it('reports a non-member address checksummed in CHAIN_NOT_MEMBER', async () => {
    const ledger = new InMemoryLedger(initial, [MEMBER]);
    const e = await expectChainError(
      ledger.client(OUTSIDER.toLowerCase()).recordRound({ round: 1, prevModelHash: initial, modelHash: hash(2), participantCount: 1 }),
      'CHAIN_NOT_MEMBER',
    );
    expect(e.fields).toEqual({ account: OUTSIDER });
  });

  it('uses non-address identities verbatim (case-sensitive)', async () => {
    const ledger = new InMemoryLedger(initial, ['peer-a']);
    expect(ledger.isMember('peer-a')).toBe(true);
    expect(ledger.isMember('PEER-A')).toBe(false);
  });

  it('mines one synthetic block per round and derives transaction hashes deterministically', async () => {
    const run = async () => {
      const client = new InMemoryLedger(initial, [MEMBER]).client(MEMBER);
      const out = [];
      let prev: Hex32 = initial;
      for (let round = 1; round <= 3; round++) {
        out.push(await client.recordRound({ round, prevModelHash: prev, modelHash: hash(round + 1), participantCount: round }));
        prev = hash(round + 1);
      }
      return out;
    };
    const a = await run();
    expect(a.map((r) => r.blockNumber)).toEqual([1, 2, 3]);
    // A seeded simulation must replay bit for bit (STYLE.md §1).
    expect(await run()).toEqual(a);
  });

  it('does not count a rejected record as a block', async () => {
    const ledger = new InMemoryLedger(initial, [MEMBER]);
    const client = ledger.client(MEMBER);
    await expectChainError(
      client.recordRound({ round: 2, prevModelHash: initial, modelHash: hash(2), participantCount: 1 }),
      'CHAIN_UNEXPECTED_ROUND',
    );
    const r = await client.recordRound({ round: 1, prevModelHash: initial, modelHash: hash(2), participantCount: 1 });
    expect(r.blockNumber).toBe(1);
  });

  it('stores the initial hash in canonical lowercase', () => {
    const ledger = new InMemoryLedger(`0x${'AB'.repeat(32)}`, []);
    expect(ledger.initialModelHash).toBe(`0x${'ab'.repeat(32)}`);
  });

  it('rejects a malformed initial hash with INVALID_ARGUMENT', () => {
    let caught: unknown;
    try {
      new InMemoryLedger('0x1234', [MEMBER]);
    } catch (e) {
      caught = e;
    }
    expect(isError(caught, 'INVALID_ARGUMENT')).toBe(true);
  });

  it('times waitForRound with the injected clock', async () => {
    const sleeps: number[] = [];
    const clock = {
      now: () => 0,
      sleep: (ms: number) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
    };
    const ledger = new InMemoryLedger(initial, [MEMBER]);
    const e = await expectChainError(ledger.client(MEMBER, clock).waitForRound(1, 5_000), 'CHAIN_TIMEOUT');
    expect(e.fields).toEqual({ round: 1, timeoutMs: 5_000 });
    expect(sleeps).toEqual([5_000]);
  });
});
