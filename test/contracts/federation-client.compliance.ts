/**
 * Compliance suite for the federation chain port (STYLE.md §14, after libp2p's
 * interface-compliance-tests): every `FederationChainClient` implementation must pass it
 * unchanged — `EthersFederationClient` on the contract's bytecode and
 * `ResilientFederationClient` wrapped around it (test/contracts/federation-client.test.ts).
 * Rules, their order, error codes and fields are all pinned here.
 *
 * Each test gets a fresh federation from `make` with an admin, five active members (caps ε = 10)
 * and an outsider. Deadlines are compared relative to the round's own values.
 */
import { keccak256, toUtf8Bytes } from 'ethers';
import { describe, expect, it } from 'vitest';
import type { FederationChainClient, FederationParams, FinalizedRound, OpenedRound } from '../../node/chain/federation-types.js';
import { addPacked, cAlpha, encodeEpsilonCap, epsilonFromPacked } from '../../protocol/chain/budget.js';
import { PARTICIPATION_CREDIT, SERVICE_CREDIT } from '../../protocol/chain/credits.js';
import { declaredSpend, encodeDpParams } from '../../protocol/chain/dp-params.js';
import { participantEntry } from '../../protocol/chain/participant-entry.js';
import {
  canonicalRoundRecord,
  fullServiceMask,
  type Hex32,
  type OnChainRoundRecord,
  roundRecordStructHash,
} from '../../protocol/chain/record.js';
import { expectChainError } from './chain-errors.js';

export interface FederationFixture {
  readonly admin: FederationChainClient;
  /** Five active members, registered in this order with caps of ε = 10. */
  readonly members: readonly FederationChainClient[];
  readonly outsider: FederationChainClient;
  /** Moves block time forward by at least `seconds` before the next transaction. */
  advance(seconds: number): Promise<void>;
}

export type MakeFederation = (params: FederationParams) => Promise<FederationFixture>;

export interface ComplianceOptions {
  /**
   * The implementation never sends a second finalize for a finalized round and returns the
   * chain's record instead (ResilientFederationClient, node/chain/resilient.ts); the raw client
   * reports the contract's CHAIN_ROUND_NOT_OPEN.
   */
  readonly finalizeReturnsWinner?: boolean;
}

const INITIAL: Hex32 = `0x${'a0'.repeat(32)}`;
const h = (n: number): Hex32 => `0x${n.toString(16).padStart(2, '0').repeat(32)}`;
export const COMPLIANCE_PARAMS: FederationParams = {
  initialModelHash: INITIAL,
  manifestHash: `0x${'4d'.repeat(32)}`,
  committeeSize: 3,
  threshold: 2,
  inputDurationSec: 60,
  finalizeDurationSec: 60,
  cAlpha: cAlpha(1e-5),
};
const CAP = encodeEpsilonCap(10);
const ADMIN_ROLE = keccak256(toUtf8Bytes('FEDERATION_ADMIN_ROLE'));
/** Declared DP-SGD parameters of every participant, and the spend they imply (docs/privacy.md). */
const DP_PARAMS = encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 1, clipNorm: 1, steps: 20 });
const SPEND = declaredSpend(DP_PARAMS);

export function federationClientCompliance(name: string, make: MakeFederation, options: ComplianceOptions = {}): void {
  describe(`FederationChainClient compliance: ${name}`, () => {
    /** A federation with its five members registered; clients by address. */
    async function setup(params: FederationParams = COMPLIANCE_PARAMS) {
      const f = await make(params);
      const addresses = await Promise.all(f.members.map((m) => m.account()));
      const outsider = await f.outsider.account();
      const byAddress = new Map(addresses.map((a, i) => [a, f.members[i]!]));
      const client = (address: string) => {
        const c = byAddress.get(address);
        if (c === undefined) throw new Error(`${address} is not a fixture member`);
        return c;
      };
      return { ...f, addresses, outsiderAddress: outsider, client };
    }

    type Setup = Awaited<ReturnType<typeof setup>>;

    function rec(round: number, prev: Hex32, participants: readonly string[], over: Partial<OnChainRoundRecord> = {}): OnChainRoundRecord {
      return canonicalRoundRecord({
        round,
        prevModelHash: prev,
        modelHash: h(round),
        aggregateHash: h(0xb0 + round),
        serviceMask: fullServiceMask(COMPLIANCE_PARAMS.committeeSize),
        participants: participants.map((member) => ({ member, spend: SPEND, dpParams: DP_PARAMS })),
        ...over,
      });
    }

    /** Each participant's own ParticipantEntry signature, in the record's order (an outsider signs as itself). */
    async function entries(s: Setup, r: OnChainRoundRecord): Promise<string[]> {
      return Promise.all(
        r.participants.map((p) =>
          (p.member === s.outsiderAddress ? s.outsider : s.client(p.member)).signParticipantEntry({
            ...participantEntry(r.round, p.member, p.dpParams),
            spend: p.spend,
          }),
        ),
      );
    }

    async function signBy(s: Setup, opened: OpenedRound, r: OnChainRoundRecord, count: number): Promise<string[]> {
      return Promise.all(opened.committee.slice(0, count).map((a) => s.client(a).signRecord(r)));
    }

    async function fullRound(s: Setup, prev: Hex32, participants: readonly string[]): Promise<FinalizedRound> {
      const opened = await s.members[0]!.openRound();
      const r = rec(opened.round, prev, participants);
      return s.members[0]!.finalizeRound(r, await entries(s, r), await signBy(s, opened, r, 2));
    }

    describe('federation and registry', () => {
      it('reports its parameters and the members in registry order', async () => {
        const s = await setup();
        const info = await s.outsider.info();
        expect(info).toMatchObject({ ...COMPLIANCE_PARAMS, cAlpha: [...COMPLIANCE_PARAMS.cAlpha] });
        expect(typeof info.chainId).toBe('bigint');
        expect(await s.outsider.activeMembers()).toEqual(s.addresses);
        expect(await s.outsider.getMember(s.addresses[0]!)).toEqual({
          account: s.addresses[0],
          status: 'active',
          peerId: 'peer-0',
          metadataURI: 'https://member-0.example',
          epsilonCap: CAP,
          credits: 0n,
          peerProof: `0x${'00'.repeat(64)}`,
        });
        expect(await s.outsider.getMember(s.outsiderAddress)).toEqual({
          account: s.outsiderAddress,
          status: 'none',
          peerId: '',
          metadataURI: '',
          epsilonCap: 0n,
          credits: 0n,
          peerProof: '0x',
        });
        expect(await s.outsider.currentRound()).toBe(0);
        expect(await s.outsider.lastFinalizedRound()).toBe(0);
        expect(await s.outsider.headModelHash()).toBe(INITIAL);
        expect(await s.outsider.manifestHash()).toBe(COMPLIANCE_PARAMS.manifestHash);
        expect(await s.outsider.getRound(1)).toBeUndefined();
        expect(await s.outsider.totalCredits()).toBe(0n);
      });

      it('the manifest hash is the zero hash when the deployer gives none', async () => {
        const { manifestHash: _, ...withoutManifest } = COMPLIANCE_PARAMS;
        const s = await setup(withoutManifest);
        expect(await s.outsider.manifestHash()).toBe(`0x${'0'.repeat(64)}`);
        expect((await s.outsider.info()).manifestHash).toBe(`0x${'0'.repeat(64)}`);
      });

      it('admin operations need the admin role: CHAIN_UNAUTHORIZED names the caller and role', async () => {
        const s = await setup();
        const e = await expectChainError(s.members[0]!.suspendMember(s.addresses[1]!), 'CHAIN_UNAUTHORIZED');
        expect(e.fields).toEqual({ account: s.addresses[0], role: ADMIN_ROLE });
        const add = await expectChainError(
          s.outsider.addMember({ account: s.outsiderAddress, peerId: 'p', metadataURI: '', epsilonCap: 1n }),
          'CHAIN_UNAUTHORIZED',
        );
        expect(add.fields).toEqual({ account: s.outsiderAddress, role: ADMIN_ROLE });
      });

      it('suspend, reinstate and remove, with swap-and-pop order and their errors', async () => {
        const s = await setup();
        const [a, b, c, d, e] = s.addresses as [string, string, string, string, string];
        await s.admin.suspendMember(b);
        expect(await s.admin.activeMembers()).toEqual([a, e, c, d]);
        expect((await s.admin.getMember(b)).status).toBe('suspended');
        expect((await expectChainError(s.admin.suspendMember(b), 'CHAIN_MEMBER_NOT_ACTIVE')).fields).toEqual({ account: b });
        expect((await expectChainError(s.admin.reinstateMember(a), 'CHAIN_MEMBER_NOT_SUSPENDED')).fields).toEqual({ account: a });
        await s.admin.reinstateMember(b);
        expect(await s.admin.activeMembers()).toEqual([a, e, c, d, b]);
        await s.admin.removeMember(a);
        expect(await s.admin.activeMembers()).toEqual([b, e, c, d]);
        expect((await expectChainError(s.admin.removeMember(a), 'CHAIN_NOT_MEMBER')).fields).toEqual({ account: a });
        const again = await expectChainError(
          s.admin.addMember({ account: b, peerId: 'x', metadataURI: '', epsilonCap: 1n }),
          'CHAIN_ALREADY_MEMBER',
        );
        expect(again.fields).toEqual({ account: b });
      });

      it('member info and caps: CHAIN_INVALID_MEMBER, CHAIN_CAP_NOT_LOWERED', async () => {
        const s = await setup();
        const me = s.members[0]!;
        const bad = await expectChainError(
          s.admin.addMember({ account: s.outsiderAddress, peerId: '', metadataURI: '', epsilonCap: 1n }),
          'CHAIN_INVALID_MEMBER',
        );
        expect(bad.fields).toEqual({ field: 'peerId', value: '0 bytes', rule: 'must be 1..128 bytes' });
        const notAddress = await expectChainError(
          s.admin.addMember({ account: '0x1234', peerId: 'p', metadataURI: '', epsilonCap: 1n }),
          'CHAIN_INVALID_MEMBER',
        );
        expect(notAddress.fields).toMatchObject({ field: 'account' });
        await me.updateMetadataURI('ipfs://x');
        expect(await me.getMember(s.addresses[0]!)).toMatchObject({ peerId: 'peer-0', metadataURI: 'ipfs://x' });
        await me.lowerEpsilonCap(CAP - 1n);
        const raise = await expectChainError(me.lowerEpsilonCap(CAP), 'CHAIN_CAP_NOT_LOWERED');
        expect(raise.fields).toEqual({ account: s.addresses[0], current: Number(CAP - 1n), requested: Number(CAP) });
        expect((await expectChainError(s.outsider.lowerEpsilonCap(1n), 'CHAIN_NOT_MEMBER')).fields).toEqual({ account: s.outsiderAddress });
      });
    });

    describe('rounds', () => {
      it('openRound returns the round, its committee and deadlines; getRound and waitForRoundOpened agree', async () => {
        const s = await setup();
        const waiting = s.outsider.waitForRoundOpened(1, 5_000);
        const opened = await s.members[2]!.openRound();
        expect(opened).toMatchObject({ round: 1, status: 'open' });
        expect(opened.committee).toHaveLength(3);
        expect(new Set(opened.committee).size).toBe(3);
        expect(opened.committee.every((a) => s.addresses.includes(a))).toBe(true);
        expect(opened.finalizeDeadline - opened.inputDeadline).toBe(60);
        expect(opened.seed).toMatch(/^0x[0-9a-f]{64}$/);
        const { txHash, blockNumber, ...state } = opened;
        expect(txHash).toMatch(/^0x[0-9a-f]{64}$/);
        expect(blockNumber).toBeGreaterThan(0);
        expect(await s.outsider.getRound(1)).toEqual(state);
        expect(await waiting).toEqual(state);
        expect(await s.outsider.currentRound()).toBe(1);
      });

      it('openRound errors: not active, still open, too few members', async () => {
        const s = await setup();
        expect((await expectChainError(s.outsider.openRound(), 'CHAIN_MEMBER_NOT_ACTIVE')).fields).toEqual({ account: s.outsiderAddress });
        await s.members[0]!.openRound();
        expect((await expectChainError(s.members[1]!.openRound(), 'CHAIN_ROUND_STILL_OPEN')).fields).toEqual({ round: 1 });
        const small = await setup({ ...COMPLIANCE_PARAMS, committeeSize: 5, threshold: 5 });
        await small.admin.suspendMember(small.addresses[4]!);
        expect((await expectChainError(small.members[0]!.openRound(), 'CHAIN_TOO_FEW_MEMBERS')).fields).toEqual({ active: 4, required: 5 });
      });

      it('finalizeRound: the signed record, its hash and signers; others see it; head, credits and budgets move', async () => {
        const s = await setup();
        const opened = await s.members[0]!.openRound();
        const r = rec(1, INITIAL, [s.addresses[0]!, s.addresses[3]!]);
        const sigs = await signBy(s, opened, r, 2);
        const watcher = s.outsider.waitForRoundFinalized(1, 5_000);
        const done = await s.members[4]!.finalizeRound(r, await entries(s, r), sigs);
        expect(done).toMatchObject({ round: 1, recordHash: roundRecordStructHash(r), record: r, signers: opened.committee.slice(0, 2) });
        expect(await watcher).toEqual(done);
        expect(await s.outsider.getFinalizedRound(1)).toEqual(done);
        expect(await s.outsider.getRound(1)).toMatchObject({ status: 'finalized', recordHash: done.recordHash, modelHash: h(1) });
        expect(await s.outsider.headModelHash()).toBe(h(1));
        expect(await s.outsider.lastFinalizedRound()).toBe(1);
        // Credits: PARTICIPATION_CREDIT per participant, SERVICE_CREDIT per credited committee
        // member (the signed service mask: here every position); all held = minted.
        expect([...done.credited].sort()).toEqual([...opened.committee].sort());
        const expected = new Map<string, bigint>();
        for (const p of r.participants) expected.set(p.member, BigInt(PARTICIPATION_CREDIT));
        for (const a of done.credited) expected.set(a, (expected.get(a) ?? 0n) + BigInt(SERVICE_CREDIT));
        let held = 0n;
        for (const a of s.addresses) {
          const c = await s.outsider.creditsOf(a);
          expect(c).toBe(expected.get(a) ?? 0n);
          held += c;
        }
        expect(await s.outsider.totalCredits()).toBe(held);
        const budget = await s.outsider.budgetOf(s.addresses[3]!);
        const eps = epsilonFromPacked(SPEND, COMPLIANCE_PARAMS.cAlpha);
        expect(budget).toEqual({ rdp: SPEND, epsilonSpent: eps, epsilonCap: CAP, remaining: CAP - eps });
      });

      it('the member that loses the race to submit gets CHAIN_ROUND_NOT_OPEN (or the record) and sees the winner', async () => {
        const s = await setup();
        const opened = await s.members[0]!.openRound();
        const r = rec(1, INITIAL, [s.addresses[1]!]);
        const sigs = await signBy(s, opened, r, 2);
        const es = await entries(s, r);
        const winner = await s.client(opened.committee[0]!).finalizeRound(r, es, sigs);
        if (options.finalizeReturnsWinner === true) {
          expect(await s.client(opened.committee[1]!).finalizeRound(r, es, sigs)).toEqual(winner);
        } else {
          const late = await expectChainError(s.client(opened.committee[1]!).finalizeRound(r, es, sigs), 'CHAIN_ROUND_NOT_OPEN');
          expect(late.fields).toEqual({ round: 1, status: 'finalized' });
        }
        expect(await s.client(opened.committee[1]!).waitForRoundFinalized(1, 1_000)).toEqual(winner);
      });

      it('quorum errors: CHAIN_QUORUM_NOT_MET, CHAIN_DUPLICATE_SIGNER, CHAIN_SIGNER_NOT_IN_COMMITTEE, CHAIN_INVALID_SIGNATURE', async () => {
        const s = await setup();
        const opened = await s.members[0]!.openRound();
        const r = rec(1, INITIAL, [s.addresses[1]!]);
        const [a, b] = await signBy(s, opened, r, 2);
        const es = await entries(s, r);
        const m = s.members[0]!;
        expect((await expectChainError(m.finalizeRound(r, es, [a!]), 'CHAIN_QUORUM_NOT_MET')).fields).toEqual({ got: 1, required: 2 });
        expect((await expectChainError(m.finalizeRound(r, es, [a!, a!]), 'CHAIN_DUPLICATE_SIGNER')).fields).toEqual({
          signer: opened.committee[0],
        });
        const stranger = await s.outsider.signRecord(r);
        expect((await expectChainError(m.finalizeRound(r, es, [stranger, b!]), 'CHAIN_SIGNER_NOT_IN_COMMITTEE')).fields).toEqual({
          signer: s.outsiderAddress,
        });
        expect((await expectChainError(m.finalizeRound(r, es, [a!, b!.slice(0, 20)]), 'CHAIN_INVALID_SIGNATURE')).fields).toEqual({
          index: 1,
        });
      });

      it('record errors in order: round, linkage, shape, participants, budget', async () => {
        const s = await setup();
        const [x, y, , , z] = s.addresses as [string, string, string, string, string];
        // A lowered cap binds from the next round opened: lowered now, it holds in round 1.
        await s.client(z).lowerEpsilonCap(1n);
        const opened = await s.members[0]!.openRound();
        const m = s.members[0]!;
        const tryRecord = async (r: OnChainRoundRecord) => m.finalizeRound(r, await entries(s, r), await signBy(s, opened, r, 2));
        expect((await expectChainError(tryRecord(rec(2, INITIAL, [x])), 'CHAIN_UNEXPECTED_ROUND')).fields).toEqual({ expected: 1, got: 2 });
        expect((await expectChainError(tryRecord(rec(1, h(9), [x])), 'CHAIN_PREV_HASH_MISMATCH')).fields).toEqual({
          expected: INITIAL,
          got: h(9),
        });
        const unsorted = { ...rec(1, INITIAL, [x, y]) };
        const swapped = { ...unsorted, participants: [...unsorted.participants].reverse() };
        expect((await expectChainError(tryRecord(swapped), 'CHAIN_INVALID_RECORD')).fields).toEqual({
          field: 'participants',
          value: 'index 1',
          rule: 'must ascend strictly by address',
        });
        expect((await expectChainError(tryRecord(rec(1, INITIAL, [])), 'CHAIN_INVALID_RECORD')).fields).toMatchObject({
          field: 'participants',
        });
        const unencodable = { ...rec(1, INITIAL, [x]), serviceMask: 1n << 40n };
        expect(
          (await expectChainError(m.finalizeRound(unencodable, await entries(s, unencodable), []), 'CHAIN_INVALID_RECORD')).fields,
        ).toMatchObject({
          field: 'serviceMask',
        });
        const noParams = { ...rec(1, INITIAL, [x]), participants: [{ member: x, spend: SPEND, dpParams: 0n }] };
        expect((await expectChainError(tryRecord(noParams), 'CHAIN_INVALID_RECORD')).fields).toEqual({
          field: 'dpParams',
          value: `0 (${x}, spend ${SPEND})`,
          rule: 'a non-zero spend needs declared DP parameters',
        });
        expect((await expectChainError(tryRecord(rec(1, INITIAL, [x, s.outsiderAddress])), 'CHAIN_PARTICIPANT_NOT_ACTIVE')).fields).toEqual(
          {
            account: s.outsiderAddress,
          },
        );
        const over = await expectChainError(tryRecord(rec(1, INITIAL, [x, z])), 'CHAIN_BUDGET_EXCEEDED');
        expect(over.fields).toEqual({ account: z, epsilon: Number(epsilonFromPacked(SPEND, COMPLIANCE_PARAMS.cAlpha)), cap: 1 });
        // Nothing was applied by any refused record.
        expect(await s.outsider.budgetOf(x)).toMatchObject({ rdp: 0n });
        expect(await s.outsider.totalCredits()).toBe(0n);
      });

      it('deadlines: abort only after the finalize deadline, finalize only before; waiters see the abort', async () => {
        const s = await setup();
        expect((await expectChainError(s.outsider.abortRound(), 'CHAIN_ROUND_NOT_OPEN')).fields).toEqual({ round: 0, status: 'none' });
        const opened = await s.members[0]!.openRound();
        const r = rec(1, INITIAL, [s.addresses[0]!]);
        const sigs = await signBy(s, opened, r, 2);
        const es = await entries(s, r);
        const early = await expectChainError(s.outsider.abortRound(), 'CHAIN_DEADLINE_NOT_PASSED');
        expect(early.fields).toEqual({ round: 1, deadline: opened.finalizeDeadline });
        const waiting = s.members[1]!.waitForRoundFinalized(1, 10_000);
        waiting.catch(() => {});
        await s.advance(121);
        const late = await expectChainError(s.members[0]!.finalizeRound(r, es, sigs), 'CHAIN_DEADLINE_PASSED');
        expect(late.fields).toEqual({ round: 1, deadline: opened.finalizeDeadline });
        const aborted = await s.outsider.abortRound();
        expect(aborted).toMatchObject({ round: 1 });
        expect((await expectChainError(waiting, 'CHAIN_ROUND_ABORTED')).fields).toEqual({ round: 1 });
        expect((await expectChainError(s.members[0]!.finalizeRound(r, es, sigs), 'CHAIN_ROUND_NOT_OPEN')).fields).toEqual({
          round: 1,
          status: 'aborted',
        });
        expect(await s.outsider.getRound(1)).toMatchObject({ status: 'aborted' });
        // The chain resumes from the last finalized model.
        const next = await fullRound(s, INITIAL, [s.addresses[0]!]);
        expect(next.round).toBe(2);
      });

      it('a hash chain over three rounds; budgets only grow', async () => {
        const s = await setup();
        const a = s.addresses[0]!;
        let prev = INITIAL;
        let rdp = 0n;
        for (let round = 1; round <= 3; round++) {
          const done = await fullRound(s, prev, [a]);
          expect(done.record.prevModelHash).toBe(prev);
          prev = done.record.modelHash;
          rdp = addPacked(rdp, SPEND);
          expect((await s.outsider.budgetOf(a)).rdp).toBe(rdp);
        }
        expect(await s.outsider.headModelHash()).toBe(h(3));
      });

      it('waiting times out with CHAIN_TIMEOUT', async () => {
        const s = await setup();
        expect((await expectChainError(s.outsider.waitForRoundOpened(1, 50), 'CHAIN_TIMEOUT')).fields).toEqual({ round: 1, timeoutMs: 50 });
        await s.members[0]!.openRound();
        expect((await expectChainError(s.outsider.waitForRoundFinalized(1, 50), 'CHAIN_TIMEOUT')).fields).toEqual({
          round: 1,
          timeoutMs: 50,
        });
      });
    });
  });
}
