/**
 * Compliance suite for the chain port (STYLE.md §14, after libp2p's interface-compliance-tests):
 * every `ChainClient` implementation must pass it unchanged, so the in-memory twin cannot drift
 * from the contract-backed client. Rules, their order, error codes and fields are all pinned.
 *
 * Each test gets a fresh ledger from `makeClient`, with two members and one outsider.
 */
import { isError } from 'ethers';
import { describe, expect, it } from 'vitest';
import { isChainError } from '../../node/chain/errors.js';
import { ZERO_HASH } from '../../node/chain/record.js';
import type { ChainClient, Hex32, RecordedRound, RoundRecord } from '../../node/chain/types.js';

export interface ChainClientFixture {
  /** Records as a member. */
  readonly member: ChainClient;
  /** Records as a second member, sharing the ledger with `member`. */
  readonly otherMember: ChainClient;
  /** Same ledger, not a member. */
  readonly outsider: ChainClient;
  /** How each client appears as `recorder` and in CHAIN_NOT_MEMBER's `account`. */
  readonly identities: { readonly member: string; readonly otherMember: string; readonly outsider: string };
}

/** Deploys (or creates) a fresh ledger with `initialModelHash` and returns clients on it. */
export type MakeChainClients = (initialModelHash: Hex32) => Promise<ChainClientFixture>;

/** A distinct, deterministic bytes32 per label. */
export function hash(n: number): Hex32 {
  return `0x${n.toString(16).padStart(2, '0').repeat(32)}`;
}

const INITIAL = hash(0xa0);
const HEX32 = /^0x[0-9a-f]{64}$/;

/** Awaits `promise`, expects a ChainError with `code`, and returns it for field checks. */
export async function expectChainError(promise: Promise<unknown>, code: string) {
  const e = await promise.then(
    () => expect.unreachable(`expected ChainError ${code}, but the call succeeded`),
    (err: unknown) => err,
  );
  expect(isChainError(e), `expected a ChainError, got ${String(e)}`).toBe(true);
  if (!isChainError(e)) throw e;
  expect(e.code).toBe(code);
  return e;
}

async function expectInvalidArgument(promise: Promise<unknown>, argument: string) {
  const e = await promise.then(
    () => expect.unreachable('expected INVALID_ARGUMENT'),
    (err: unknown) => err,
  );
  expect(isError(e, 'INVALID_ARGUMENT')).toBe(true);
  expect((e as { argument?: string }).argument).toBe(argument);
}

/** Records rounds 1..n as `client`, model hash of round i = hash(i). */
async function recordChain(client: ChainClient, n: number): Promise<RecordedRound[]> {
  const out: RecordedRound[] = [];
  let prev = INITIAL;
  for (let i = 1; i <= n; i++) {
    out.push(await client.recordRound({ round: i, prevModelHash: prev, modelHash: hash(i), participantCount: i }));
    prev = hash(i);
  }
  return out;
}

async function expectState(client: ChainClient, latest: number, head: Hex32) {
  expect(await client.latestRound()).toBe(latest);
  expect(await client.headModelHash()).toBe(head);
  expect(await client.getRound(latest + 1)).toBeUndefined();
}

export function chainClientCompliance(name: string, makeClient: MakeChainClients): void {
  describe(`ChainClient compliance: ${name}`, () => {
    describe('initial state', () => {
      it('reports the initial hash, round 0 and no records', async () => {
        const { member, outsider } = await makeClient(INITIAL);
        for (const c of [member, outsider]) {
          expect(await c.initialModelHash()).toBe(INITIAL);
          expect(await c.latestRound()).toBe(0);
          expect(await c.headModelHash()).toBe(INITIAL);
          expect(await c.getRound(0)).toBeUndefined();
          expect(await c.getRound(1)).toBeUndefined();
        }
      });
    });

    describe('recordRound', () => {
      it('records round 1 and returns the full record', async () => {
        const { member, otherMember, identities } = await makeClient(INITIAL);
        const r = await member.recordRound({
          round: 1,
          prevModelHash: INITIAL,
          modelHash: hash(1),
          participantCount: 7,
        });
        expect(r).toMatchObject({
          round: 1,
          prevModelHash: INITIAL,
          modelHash: hash(1),
          participantCount: 7,
          recorder: identities.member,
        });
        expect(r.txHash).toMatch(HEX32);
        expect(Number.isSafeInteger(r.blockNumber) && r.blockNumber > 0).toBe(true);
        // Every client on the ledger sees the same record.
        expect(await otherMember.getRound(1)).toEqual(r);
        await expectState(otherMember, 1, hash(1));
      });

      it('chains rounds recorded by different members', async () => {
        const { member, otherMember, identities } = await makeClient(INITIAL);
        const r1 = await member.recordRound({ round: 1, prevModelHash: INITIAL, modelHash: hash(1), participantCount: 3 });
        const r2 = await otherMember.recordRound({ round: 2, prevModelHash: hash(1), modelHash: hash(2), participantCount: 4 });
        const r3 = await member.recordRound({ round: 3, prevModelHash: hash(2), modelHash: hash(3), participantCount: 5 });
        expect([r1, r2, r3].map((r) => r.recorder)).toEqual([identities.member, identities.otherMember, identities.member]);
        expect(r2.blockNumber).toBeGreaterThan(r1.blockNumber);
        expect(r3.blockNumber).toBeGreaterThan(r2.blockNumber);
        expect(new Set([r1.txHash, r2.txHash, r3.txHash]).size).toBe(3);
        for (const r of [r1, r2, r3]) expect(await member.getRound(r.round)).toEqual(r);
        await expectState(member, 3, hash(3));
      });

      it('accepts uppercase hex and reports canonical lowercase hashes', async () => {
        const { member } = await makeClient(INITIAL);
        const upper = (h: Hex32) => `0x${h.slice(2).toUpperCase()}` as Hex32;
        const model = hash(0xab);
        const r = await member.recordRound({ round: 1, prevModelHash: upper(INITIAL), modelHash: upper(model), participantCount: 1 });
        expect(r.prevModelHash).toBe(INITIAL);
        expect(r.modelHash).toBe(model);
        expect(await member.headModelHash()).toBe(model);
      });

      it('accepts the largest uint32 participant count', async () => {
        const { member } = await makeClient(INITIAL);
        const r = await member.recordRound({ round: 1, prevModelHash: INITIAL, modelHash: hash(1), participantCount: 2 ** 32 - 1 });
        expect(r.participantCount).toBe(2 ** 32 - 1);
        expect((await member.getRound(1))?.participantCount).toBe(2 ** 32 - 1);
      });
    });

    describe('rules', () => {
      it('CHAIN_NOT_MEMBER: an outsider cannot record', async () => {
        const { outsider, identities } = await makeClient(INITIAL);
        const e = await expectChainError(
          outsider.recordRound({ round: 1, prevModelHash: INITIAL, modelHash: hash(1), participantCount: 1 }),
          'CHAIN_NOT_MEMBER',
        );
        expect(e.fields).toEqual({ account: identities.outsider });
        await expectState(outsider, 0, INITIAL);
      });

      it('CHAIN_UNEXPECTED_ROUND: a round that skips ahead', async () => {
        const { member } = await makeClient(INITIAL);
        const e = await expectChainError(
          member.recordRound({ round: 2, prevModelHash: INITIAL, modelHash: hash(2), participantCount: 1 }),
          'CHAIN_UNEXPECTED_ROUND',
        );
        expect(e.fields).toEqual({ expected: 1, got: 2 });
        await expectState(member, 0, INITIAL);
      });

      it('CHAIN_UNEXPECTED_ROUND: round 0', async () => {
        const { member } = await makeClient(INITIAL);
        const e = await expectChainError(
          member.recordRound({ round: 0, prevModelHash: INITIAL, modelHash: hash(1), participantCount: 1 }),
          'CHAIN_UNEXPECTED_ROUND',
        );
        expect(e.fields).toEqual({ expected: 1, got: 0 });
      });

      it('CHAIN_UNEXPECTED_ROUND: recording a round again, even with identical content', async () => {
        const { member, otherMember } = await makeClient(INITIAL);
        const record: RoundRecord = { round: 1, prevModelHash: INITIAL, modelHash: hash(1), participantCount: 2 };
        const first = await member.recordRound(record);
        const e = await expectChainError(otherMember.recordRound(record), 'CHAIN_UNEXPECTED_ROUND');
        expect(e.fields).toEqual({ expected: 2, got: 1 });
        expect(await member.getRound(1)).toEqual(first);
        await expectState(member, 1, hash(1));
      });

      it('CHAIN_PREV_HASH_MISMATCH: round 1 must link the initial hash', async () => {
        const { member } = await makeClient(INITIAL);
        const e = await expectChainError(
          member.recordRound({ round: 1, prevModelHash: hash(0x55), modelHash: hash(1), participantCount: 1 }),
          'CHAIN_PREV_HASH_MISMATCH',
        );
        expect(e.fields).toEqual({ expected: INITIAL, got: hash(0x55) });
        await expectState(member, 0, INITIAL);
      });

      it('CHAIN_PREV_HASH_MISMATCH: later rounds must link the head, not the initial hash', async () => {
        const { member } = await makeClient(INITIAL);
        await recordChain(member, 2);
        const e = await expectChainError(
          member.recordRound({ round: 3, prevModelHash: INITIAL, modelHash: hash(3), participantCount: 1 }),
          'CHAIN_PREV_HASH_MISMATCH',
        );
        expect(e.fields).toEqual({ expected: hash(2), got: INITIAL });
        await expectState(member, 2, hash(2));
      });

      it('CHAIN_INVALID_RECORD: zero participants', async () => {
        const { member } = await makeClient(INITIAL);
        const e = await expectChainError(
          member.recordRound({ round: 1, prevModelHash: INITIAL, modelHash: hash(1), participantCount: 0 }),
          'CHAIN_INVALID_RECORD',
        );
        expect(e.fields).toEqual({ field: 'participantCount', value: '0', rule: 'must be positive' });
        await expectState(member, 0, INITIAL);
      });

      it('CHAIN_INVALID_RECORD: zero model hash', async () => {
        const { member } = await makeClient(INITIAL);
        const e = await expectChainError(
          member.recordRound({ round: 1, prevModelHash: INITIAL, modelHash: ZERO_HASH, participantCount: 1 }),
          'CHAIN_INVALID_RECORD',
        );
        expect(e.fields).toEqual({ field: 'modelHash', value: ZERO_HASH, rule: 'must not be zero' });
        await expectState(member, 0, INITIAL);
      });

      it('CHAIN_INVALID_RECORD: both empty reports participantCount', async () => {
        const { member } = await makeClient(INITIAL);
        const e = await expectChainError(
          member.recordRound({ round: 1, prevModelHash: INITIAL, modelHash: ZERO_HASH, participantCount: 0 }),
          'CHAIN_INVALID_RECORD',
        );
        expect(e.fields).toMatchObject({ field: 'participantCount' });
      });

      // The checks run in a fixed order: membership, sequence, linkage, content.
      it('membership is checked before everything else', async () => {
        const { outsider, identities } = await makeClient(INITIAL);
        const e = await expectChainError(
          outsider.recordRound({ round: 5, prevModelHash: hash(0x55), modelHash: ZERO_HASH, participantCount: 0 }),
          'CHAIN_NOT_MEMBER',
        );
        expect(e.fields).toEqual({ account: identities.outsider });
      });

      it('the round number is checked before the previous hash and the content', async () => {
        const { member } = await makeClient(INITIAL);
        const e = await expectChainError(
          member.recordRound({ round: 5, prevModelHash: hash(0x55), modelHash: ZERO_HASH, participantCount: 0 }),
          'CHAIN_UNEXPECTED_ROUND',
        );
        expect(e.fields).toEqual({ expected: 1, got: 5 });
      });

      it('the previous hash is checked before the content', async () => {
        const { member } = await makeClient(INITIAL);
        const e = await expectChainError(
          member.recordRound({ round: 1, prevModelHash: hash(0x55), modelHash: ZERO_HASH, participantCount: 0 }),
          'CHAIN_PREV_HASH_MISMATCH',
        );
        expect(e.fields).toEqual({ expected: INITIAL, got: hash(0x55) });
      });

      it('two members racing for the same round: exactly one wins, the other gets CHAIN_UNEXPECTED_ROUND', async () => {
        const { member, otherMember } = await makeClient(INITIAL);
        const results = await Promise.allSettled([
          member.recordRound({ round: 1, prevModelHash: INITIAL, modelHash: hash(1), participantCount: 1 }),
          otherMember.recordRound({ round: 1, prevModelHash: INITIAL, modelHash: hash(2), participantCount: 2 }),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        const e = await expectChainError(Promise.reject(lost[0]!.reason), 'CHAIN_UNEXPECTED_ROUND');
        expect(e.fields).toEqual({ expected: 2, got: 1 });
        expect(await member.getRound(1)).toEqual(won[0]!.value);
        await expectState(member, 1, won[0]!.value.modelHash);
      });
    });

    describe('records that cannot be represented on chain', () => {
      const good: RoundRecord = { round: 1, prevModelHash: INITIAL, modelHash: hash(1), participantCount: 1 };
      const cases: [string, Partial<Record<keyof RoundRecord, unknown>>, string][] = [
        ['fractional round', { round: 1.5 }, 'round'],
        ['negative round', { round: -1 }, 'round'],
        ['NaN round', { round: Number.NaN }, 'round'],
        ['round beyond 2^53 - 1', { round: 2 ** 53 }, 'round'],
        ['prevModelHash without 0x', { prevModelHash: INITIAL.slice(2) }, 'prevModelHash'],
        ['31-byte prevModelHash', { prevModelHash: INITIAL.slice(0, 64) }, 'prevModelHash'],
        ['non-hex modelHash', { modelHash: `0x${'zz'.repeat(32)}` }, 'modelHash'],
        ['33-byte modelHash', { modelHash: `${hash(1)}00` }, 'modelHash'],
        ['participantCount above uint32', { participantCount: 2 ** 32 }, 'participantCount'],
        ['negative participantCount', { participantCount: -1 }, 'participantCount'],
        ['fractional participantCount', { participantCount: 0.5 }, 'participantCount'],
      ];
      for (const [label, patch, field] of cases) {
        it(`CHAIN_INVALID_RECORD: ${label}`, async () => {
          const { member } = await makeClient(INITIAL);
          const e = await expectChainError(member.recordRound({ ...good, ...patch } as RoundRecord), 'CHAIN_INVALID_RECORD');
          expect(e.fields).toMatchObject({ field, value: String(Object.values(patch)[0]) });
          await expectState(member, 0, INITIAL);
        });
      }

      it('shape is checked before membership (an outsider gets CHAIN_INVALID_RECORD for a bad hash)', async () => {
        const { outsider } = await makeClient(INITIAL);
        const e = await expectChainError(outsider.recordRound({ ...good, modelHash: '0x12' as Hex32 }), 'CHAIN_INVALID_RECORD');
        expect(e.fields).toMatchObject({ field: 'modelHash' });
      });

      it('getRound and waitForRound reject a bad round number as INVALID_ARGUMENT', async () => {
        const { member } = await makeClient(INITIAL);
        await expectInvalidArgument(member.getRound(1.5), 'round');
        await expectInvalidArgument(member.getRound(-1), 'round');
        await expectInvalidArgument(member.waitForRound(-1, 10), 'round');
        await expectInvalidArgument(member.waitForRound(1, -1), 'timeoutMs');
        await expectInvalidArgument(member.waitForRound(1, Number.NaN), 'timeoutMs');
      });
    });

    describe('waitForRound', () => {
      it('resolves at once for a recorded round', async () => {
        const { member, otherMember } = await makeClient(INITIAL);
        const [r1] = await recordChain(member, 1);
        expect(await otherMember.waitForRound(1, 0)).toEqual(r1);
      });

      it('resolves when another member records the round', async () => {
        const { member, otherMember } = await makeClient(INITIAL);
        const waiting = otherMember.waitForRound(2, 10_000);
        await new Promise((r) => setTimeout(r, 50));
        const [, r2] = await recordChain(member, 2);
        expect(await waiting).toEqual(r2);
      });

      it('several waiters on one round all resolve', async () => {
        const { member, otherMember, outsider } = await makeClient(INITIAL);
        const waiting = [member, otherMember, outsider].map((c) => c.waitForRound(1, 10_000));
        const [r1] = await recordChain(member, 1);
        for (const w of waiting) expect(await w).toEqual(r1);
      });

      it('CHAIN_TIMEOUT when the round is not recorded in time', async () => {
        const { member, otherMember } = await makeClient(INITIAL);
        await recordChain(member, 1);
        const started = Date.now();
        const e = await expectChainError(otherMember.waitForRound(2, 150), 'CHAIN_TIMEOUT');
        // Timers may fire a millisecond early; the wait must not give up meaningfully before.
        expect(Date.now() - started).toBeGreaterThanOrEqual(140);
        expect(e.fields).toEqual({ round: 2, timeoutMs: 150 });
      });

      it('a timed-out wait does not disturb a later wait for the same round', async () => {
        const { member, otherMember } = await makeClient(INITIAL);
        await expectChainError(otherMember.waitForRound(1, 10), 'CHAIN_TIMEOUT');
        const waiting = otherMember.waitForRound(1, 10_000);
        const [r1] = await recordChain(member, 1);
        expect(await waiting).toEqual(r1);
      });
    });
  });
}
