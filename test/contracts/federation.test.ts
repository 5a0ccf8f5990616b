/**
 * FedmeshFederation on the real in-process Hardhat network: every custom error asserted with its
 * arguments, every event with its fields, access control, the model hash chain, the signature
 * quorum, the privacy budget and the credits. The off-chain reproductions in protocol/chain are
 * checked against the contract on the way.
 */
import { Contract, getAddress, keccak256, recoverAddress, toUtf8Bytes, ZeroAddress } from 'ethers';
import { beforeAll, describe, expect, it } from 'vitest';
import { FEDMESH_FEDERATION_ABI } from '../../node/chain/federation-abi.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import {
  addPacked,
  decodePacked,
  EPSILON_UNBOUNDED,
  encodeEpsilonCap,
  encodeRdp,
  epsilonFromPacked,
  ONCHAIN_RDP_ORDERS,
  RDP_LANE_MAX,
} from '../../protocol/chain/budget.js';
import { roundSeed, selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { participationCredit, SERVICE_CREDIT } from '../../protocol/chain/credits.js';
import {
  canonicalRoundRecord,
  federationDomain,
  type Hex32,
  type OnChainParticipant,
  type OnChainRoundRecord,
  roundRecordDigest,
  roundRecordStructHash,
  toTypedValue,
} from '../../protocol/chain/record.js';
import {
  as,
  C_ALPHA,
  CHAIN_ID,
  DP_PARAMS,
  deployFed,
  eventsOf,
  eventTuples,
  expectRevert,
  FED_IFACE,
  type Fed,
  FIRST_OUTSIDER,
  hash,
  INITIAL,
  indexOf,
  MANIFEST,
  latestTimestamp,
  nextBlockAt,
  plain,
  recordTuple,
  send,
  sign,
  signerOf,
  view,
} from './federation-fixture.js';

let chain: InProcessChain;
beforeAll(async () => {
  chain = await startInProcessChain();
});

const S = (i: number) => signerOf(chain, i);
const A = (i: number) => signerOf(chain, i).address;
const ADMIN_ROLE = keccak256(toUtf8Bytes('FEDERATION_ADMIN_ROLE'));
const DEFAULT_ADMIN_ROLE = `0x${'0'.repeat(64)}`;

/** The block's prevrandao (post-merge `mixHash`), read raw: not every provider's Block exposes it. */
async function prevrandao(blockNumber: number): Promise<bigint> {
  const block = (await chain.provider.send('eth_getBlockByNumber', [`0x${blockNumber.toString(16)}`, false])) as { mixHash: string };
  return BigInt(block.mixHash);
}
const SPEND = encodeRdp([0.5, 0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.05]);

interface Opened {
  round: number;
  seed: Hex32;
  committee: string[];
  inputDeadline: number;
  finalizeDeadline: number;
  blockNumber: number;
}

async function open(fed: Fed, opener = 1): Promise<Opened> {
  const receipt = await send(as(fed.contract, S(opener)), 'openRound');
  const ev = eventsOf(receipt, fed.address).find((e) => e.name === 'RoundOpened');
  if (ev === undefined) throw new Error('no RoundOpened');
  return {
    round: Number(ev.args.round),
    seed: ev.args.seed,
    committee: [...ev.args.committee],
    inputDeadline: Number(ev.args.inputDeadline),
    finalizeDeadline: Number(ev.args.finalizeDeadline),
    blockNumber: receipt.blockNumber,
  };
}

/** A participant whose `dpParams` defaults to DP_PARAMS with a spend and to none without. */
type ParticipantInput = Omit<OnChainParticipant, 'dpParams'> & { dpParams?: bigint };

function record(round: number, prev: Hex32, model: Hex32, participants: readonly (number | ParticipantInput)[], dropped: number[] = []) {
  return canonicalRoundRecord({
    round,
    prevModelHash: prev,
    modelHash: model,
    aggregateHash: hash(0xa0 + (round % 16)),
    participants: participants.map((p) =>
      typeof p === 'number'
        ? { member: A(p), bucket: p % 8, spend: SPEND, dpParams: DP_PARAMS }
        : { dpParams: p.spend === 0n ? 0n : DP_PARAMS, ...p },
    ),
    dropped: dropped.map(A),
  });
}

/** Signatures of `record` by the first `count` committee members. */
async function sigs(fed: Fed, r: OnChainRoundRecord, committee: readonly string[], count = fed.t): Promise<string[]> {
  return Promise.all(committee.slice(0, count).map((a) => sign(S(indexOf(chain, a)), fed.address, r)));
}

async function finalize(fed: Fed, r: OnChainRoundRecord, signatures: readonly string[], from = 1) {
  return send(as(fed.contract, S(from)), 'finalizeRound', toTypedValue(r), signatures);
}

function finalizeCall(fed: Fed, r: OnChainRoundRecord, signatures: readonly string[], from = 1) {
  return as(fed.contract, S(from)).getFunction('finalizeRound').send(toTypedValue(r), signatures);
}

/** Opens the next round and finalizes it with `participants`; returns the record. */
async function runRound(fed: Fed, prev: Hex32, participants: readonly (number | ParticipantInput)[], model?: Hex32) {
  const o = await open(fed);
  const r = record(o.round, prev, model ?? hash(o.round), participants);
  await finalize(fed, r, await sigs(fed, r, o.committee));
  return { opened: o, record: r };
}

async function passFinalizeDeadline(o: Opened) {
  await nextBlockAt(chain, o.finalizeDeadline + 1);
}

describe('FedmeshFederation', () => {
  it('the ABI in node/chain matches the compiled artifact; there is no way to transfer credits', async () => {
    const artifact = await chain.hre.artifacts.readArtifact('FedmeshFederation');
    expect(FED_IFACE.format().sort()).toEqual(new Contract(ZeroAddress, artifact.abi).interface.format().sort());
    expect(FEDMESH_FEDERATION_ABI.some((f) => /transfer|approve/i.test(f))).toBe(false);
  });

  describe('deployment', () => {
    it('grants both admin roles to the admin, fixes every parameter, and starts at the initial model', async () => {
      const fed = await deployFed(chain, { m: 3, t: 2, inputDuration: 60, finalizeDuration: 120, members: [] });
      const receipt = await chain.provider.getTransactionReceipt((await chain.provider.getBlock(fed.blockNumber))!.transactions[0]!);
      expect(eventTuples(receipt!, fed.address)).toEqual([
        ['RoleGranted', DEFAULT_ADMIN_ROLE, A(0), A(0)],
        ['RoleGranted', ADMIN_ROLE, A(0), A(0)],
      ]);
      const c = fed.contract;
      expect(await view(c, 'FEDERATION_ADMIN_ROLE')).toBe(ADMIN_ROLE);
      expect(await view(c, 'hasRole', ADMIN_ROLE, A(0))).toBe(true);
      expect(await view(c, 'committeeSize')).toBe(3n);
      expect(await view(c, 'threshold')).toBe(2n);
      expect(await view(c, 'inputDuration')).toBe(60n);
      expect(await view(c, 'finalizeDuration')).toBe(120n);
      expect(plain(await view(c, 'cAlpha'))).toEqual(C_ALPHA);
      expect(plain(await view(c, 'rdpOrders'))).toEqual(ONCHAIN_RDP_ORDERS.map((a) => BigInt(Math.round(a * 100))));
      expect(await view(c, 'initialModelHash')).toBe(INITIAL);
      expect(await view(c, 'manifestHash')).toBe(MANIFEST);
      expect(await view(c, 'headModelHash')).toBe(INITIAL);
      expect(await view(c, 'currentRound')).toBe(0n);
      expect(await view(c, 'lastFinalizedRound')).toBe(0n);
      expect(await view(c, 'totalCredits')).toBe(0n);
      expect(plain(await view(c, 'getRound', 1))).toEqual([0n, hash(0), 0n, 0n, hash(0), hash(0), []]);
      expect(plain(await view(c, 'getRound', 0))).toEqual([0n, hash(0), 0n, 0n, hash(0), hash(0), []]);
      const domain = (await view<unknown[]>(c, 'eip712Domain')).slice(1, 5);
      expect(domain).toEqual(['fedmesh', '1', CHAIN_ID, fed.address]);
    });

    it('refuses bad committee parameters, durations, a zero initial hash and a zero admin', async () => {
      const artifact = await chain.hre.artifacts.readArtifact('FedmeshFederation');
      const deploy = (admin: string, over: Record<string, unknown>) =>
        (async () => {
          const { ContractFactory } = await import('ethers');
          const f = new ContractFactory(artifact.abi, artifact.bytecode, S(0));
          return f.deploy(admin, {
            initialModelHash: INITIAL,
            manifestHash: hash(0),
            committeeSize: 3,
            threshold: 2,
            inputDuration: 1,
            finalizeDuration: 1,
            cAlpha: [...C_ALPHA],
            ...over,
          });
        })();
      await expectRevert(deploy(A(0), { threshold: 0 }), 'FedmeshRoundsInvalidCommittee', [3n, 0n]);
      await expectRevert(deploy(A(0), { threshold: 4 }), 'FedmeshRoundsInvalidCommittee', [3n, 4n]);
      await expectRevert(deploy(A(0), { committeeSize: 33, threshold: 2 }), 'FedmeshRoundsInvalidCommittee', [33n, 2n]);
      await expectRevert(deploy(A(0), { inputDuration: 0 }), 'FedmeshRoundsInvalidDurations', [0n, 1n]);
      await expectRevert(deploy(A(0), { finalizeDuration: 0 }), 'FedmeshRoundsInvalidDurations', [1n, 0n]);
      await expectRevert(deploy(A(0), { initialModelHash: hash(0) }), 'FedmeshRoundsZeroModelHash', []);
      await expectRevert(deploy(ZeroAddress, {}), 'FedmeshRegistryZeroAddress', []);
    });

    it('a zero manifest hash is allowed (no manifest) and reads back as zero', async () => {
      const fed = await deployFed(chain, { manifest: hash(0), members: [] });
      expect(await view(fed.contract, 'manifestHash')).toBe(hash(0));
    });
  });

  describe('registry', () => {
    it('addMember emits MemberAdded and appends to the active list', async () => {
      const fed = await deployFed(chain, { members: [] });
      const receipt = await send(as(fed.contract, S(0)), 'addMember', A(1), '12D3KooWPeer', 'ipfs://meta', 7_500_000);
      expect(eventTuples(receipt, fed.address)).toEqual([['MemberAdded', A(1), '12D3KooWPeer', 'ipfs://meta', 7_500_000n]]);
      await send(as(fed.contract, S(0)), 'addMember', A(2), 'p2', '', 1);
      expect(plain(await view(fed.contract, 'getMember', A(1)))).toEqual([1n, 7_500_000n, 0n, '12D3KooWPeer', 'ipfs://meta']);
      expect(plain(await view(fed.contract, 'getMember', A(9)))).toEqual([0n, 0n, 0n, '', '']);
      expect(await view(fed.contract, 'activeMembers')).toEqual([A(1), A(2)]);
      expect(await view(fed.contract, 'activeMemberCount')).toBe(2n);
      expect(await view(fed.contract, 'isActiveMember', A(2))).toBe(true);
      expect(await view(fed.contract, 'isActiveMember', A(3))).toBe(false);
    });

    it('only FEDERATION_ADMIN_ROLE changes the registry; DEFAULT_ADMIN_ROLE can grant it', async () => {
      const fed = await deployFed(chain, { members: [1, 2] });
      const outsider = as(fed.contract, S(FIRST_OUTSIDER));
      const denied = [A(FIRST_OUTSIDER), ADMIN_ROLE];
      await expectRevert(outsider.getFunction('addMember').send(A(3), 'p', '', 1), 'AccessControlUnauthorizedAccount', denied);
      await expectRevert(outsider.getFunction('suspendMember').send(A(1)), 'AccessControlUnauthorizedAccount', denied);
      await expectRevert(outsider.getFunction('reinstateMember').send(A(1)), 'AccessControlUnauthorizedAccount', denied);
      await expectRevert(outsider.getFunction('removeMember').send(A(1)), 'AccessControlUnauthorizedAccount', denied);
      // A member is no admin either.
      await expectRevert(as(fed.contract, S(1)).getFunction('removeMember').send(A(2)), 'AccessControlUnauthorizedAccount', [
        A(1),
        ADMIN_ROLE,
      ]);
      await expectRevert(outsider.getFunction('grantRole').send(ADMIN_ROLE, A(FIRST_OUTSIDER)), 'AccessControlUnauthorizedAccount', [
        A(FIRST_OUTSIDER),
        DEFAULT_ADMIN_ROLE,
      ]);
      const granted = await send(as(fed.contract, S(0)), 'grantRole', ADMIN_ROLE, A(FIRST_OUTSIDER));
      expect(eventTuples(granted, fed.address)).toEqual([['RoleGranted', ADMIN_ROLE, A(FIRST_OUTSIDER), A(0)]]);
      await send(outsider, 'addMember', A(3), 'p3', '', 1);
      expect(await view(fed.contract, 'isActiveMember', A(3))).toBe(true);
    });

    it('addMember refuses the zero address, a member, and bad peer ids or URIs', async () => {
      const fed = await deployFed(chain, { members: [1] });
      const admin = as(fed.contract, S(0));
      await expectRevert(admin.getFunction('addMember').send(ZeroAddress, 'p', '', 1), 'FedmeshRegistryZeroAddress', []);
      await expectRevert(admin.getFunction('addMember').send(A(1), 'p', '', 1), 'FedmeshRegistryAlreadyMember', [A(1)]);
      await send(admin, 'suspendMember', A(1));
      await expectRevert(admin.getFunction('addMember').send(A(1), 'p', '', 1), 'FedmeshRegistryAlreadyMember', [A(1)]);
      await expectRevert(admin.getFunction('addMember').send(A(2), '', '', 1), 'FedmeshRegistryInvalidPeerId', [0n]);
      await expectRevert(admin.getFunction('addMember').send(A(2), 'x'.repeat(129), '', 1), 'FedmeshRegistryInvalidPeerId', [129n]);
      await expectRevert(admin.getFunction('addMember').send(A(2), 'p', 'u'.repeat(513), 1), 'FedmeshRegistryInvalidMetadataURI', [513n]);
      await send(admin, 'addMember', A(2), 'x'.repeat(128), 'u'.repeat(512), 1);
    });

    it('suspend, reinstate and remove emit their events and keep the active list by swap and pop', async () => {
      const fed = await deployFed(chain, { members: [1, 2, 3, 4] });
      const admin = as(fed.contract, S(0));
      expect(eventTuples(await send(admin, 'suspendMember', A(2)), fed.address)).toEqual([['MemberSuspended', A(2)]]);
      expect(await view(fed.contract, 'activeMembers')).toEqual([A(1), A(4), A(3)]);
      expect(plain(await view(fed.contract, 'getMember', A(2)))[0]).toBe(2n);
      expect(eventTuples(await send(admin, 'reinstateMember', A(2)), fed.address)).toEqual([['MemberReinstated', A(2)]]);
      expect(await view(fed.contract, 'activeMembers')).toEqual([A(1), A(4), A(3), A(2)]);
      expect(eventTuples(await send(admin, 'removeMember', A(1)), fed.address)).toEqual([['MemberRemoved', A(1)]]);
      expect(await view(fed.contract, 'activeMembers')).toEqual([A(2), A(4), A(3)]);
      await send(admin, 'suspendMember', A(3));
      expect(eventTuples(await send(admin, 'removeMember', A(3)), fed.address)).toEqual([['MemberRemoved', A(3)]]);
      expect(await view(fed.contract, 'activeMembers')).toEqual([A(2), A(4)]);
      expect(plain(await view(fed.contract, 'getMember', A(3)))).toEqual([0n, 0n, 0n, 'peer-3', 'https://m3.example']);
    });

    it('suspend needs an active member, reinstate a suspended one, remove a member', async () => {
      const fed = await deployFed(chain, { members: [1, 2] });
      const admin = as(fed.contract, S(0));
      await expectRevert(admin.getFunction('suspendMember').send(A(9)), 'FedmeshRegistryNotActive', [A(9)]);
      await expectRevert(admin.getFunction('reinstateMember').send(A(1)), 'FedmeshRegistryNotSuspended', [A(1)]);
      await expectRevert(admin.getFunction('reinstateMember').send(A(9)), 'FedmeshRegistryNotSuspended', [A(9)]);
      await expectRevert(admin.getFunction('removeMember').send(A(9)), 'FedmeshRegistryNotMember', [A(9)]);
      await send(admin, 'suspendMember', A(1));
      await expectRevert(admin.getFunction('suspendMember').send(A(1)), 'FedmeshRegistryNotActive', [A(1)]);
      await send(admin, 'removeMember', A(1));
      await expectRevert(admin.getFunction('removeMember').send(A(1)), 'FedmeshRegistryNotMember', [A(1)]);
      await expectRevert(admin.getFunction('reinstateMember').send(A(1)), 'FedmeshRegistryNotSuspended', [A(1)]);
    });

    it('a member may lower its own cap, never raise it (suspended members too)', async () => {
      const fed = await deployFed(chain, { members: [1, 2], cap: 5 });
      const me = as(fed.contract, S(1));
      expect(eventTuples(await send(me, 'lowerEpsilonCap', 4_000_000), fed.address)).toEqual([
        ['EpsilonCapLowered', A(1), 5_000_000n, 4_000_000n],
      ]);
      await expectRevert(me.getFunction('lowerEpsilonCap').send(4_000_000), 'FedmeshRegistryCapNotLowered', [A(1), 4_000_000n, 4_000_000n]);
      await expectRevert(me.getFunction('lowerEpsilonCap').send(9_000_000), 'FedmeshRegistryCapNotLowered', [A(1), 4_000_000n, 9_000_000n]);
      await expectRevert(as(fed.contract, S(9)).getFunction('lowerEpsilonCap').send(1), 'FedmeshRegistryNotMember', [A(9)]);
      await send(as(fed.contract, S(0)), 'suspendMember', A(2));
      await send(as(fed.contract, S(2)), 'lowerEpsilonCap', 0);
      expect(plain(await view(fed.contract, 'getMember', A(2)))[1]).toBe(0n);
    });

    it('a member updates its own peer id and metadata URI', async () => {
      const fed = await deployFed(chain, { members: [1] });
      const me = as(fed.contract, S(1));
      expect(eventTuples(await send(me, 'updateMemberInfo', 'new-peer', 'https://new'), fed.address)).toEqual([
        ['MemberInfoUpdated', A(1), 'new-peer', 'https://new'],
      ]);
      expect(plain(await view(fed.contract, 'getMember', A(1))).slice(3)).toEqual(['new-peer', 'https://new']);
      await expectRevert(me.getFunction('updateMemberInfo').send('', ''), 'FedmeshRegistryInvalidPeerId', [0n]);
      await expectRevert(me.getFunction('updateMemberInfo').send('p', 'u'.repeat(600)), 'FedmeshRegistryInvalidMetadataURI', [600n]);
      await expectRevert(as(fed.contract, S(9)).getFunction('updateMemberInfo').send('p', ''), 'FedmeshRegistryNotMember', [A(9)]);
    });
  });

  describe('openRound', () => {
    it('emits RoundOpened with the documented seed, committee and deadlines', async () => {
      const fed = await deployFed(chain, { m: 3, t: 2, inputDuration: 60, finalizeDuration: 90, members: [1, 2, 3, 4, 5, 6] });
      const before = await view<string[]>(fed.contract, 'activeMembers');
      const receipt = await send(as(fed.contract, S(4)), 'openRound');
      const block = await chain.provider.getBlock(receipt.blockNumber);
      const seed = roundSeed(await prevrandao(receipt.blockNumber), hash(0), 1);
      const committee = selectCommitteeOnChain(seed, before, 3);
      const input = block!.timestamp + 60;
      expect(eventTuples(receipt, fed.address)).toEqual([['RoundOpened', 1n, seed, committee, BigInt(input), BigInt(input + 90)]]);
      expect(plain(await view(fed.contract, 'getRound', 1))).toEqual([
        1n,
        seed,
        BigInt(input),
        BigInt(input + 90),
        hash(0),
        hash(0),
        committee,
      ]);
      expect(await view(fed.contract, 'currentRound')).toBe(1n);
      expect(new Set(committee).size).toBe(3);
    });

    it('needs an active caller, a closed previous round and enough active members', async () => {
      const fed = await deployFed(chain, { m: 3, members: [1, 2, 3] });
      await expectRevert(as(fed.contract, S(FIRST_OUTSIDER)).getFunction('openRound').send(), 'FedmeshRegistryNotActive', [
        A(FIRST_OUTSIDER),
      ]);
      await send(as(fed.contract, S(0)), 'suspendMember', A(3));
      await expectRevert(as(fed.contract, S(3)).getFunction('openRound').send(), 'FedmeshRegistryNotActive', [A(3)]);
      await expectRevert(as(fed.contract, S(1)).getFunction('openRound').send(), 'FedmeshRoundsTooFewActiveMembers', [2n, 3n]);
      await send(as(fed.contract, S(0)), 'reinstateMember', A(3));
      await open(fed);
      await expectRevert(as(fed.contract, S(2)).getFunction('openRound').send(), 'FedmeshRoundsStillOpen', [1n]);
    });
  });

  describe('finalizeRound', () => {
    it('emits RoundFinalized with the record, its EIP-712 hash and the signers; moves the head', async () => {
      const fed = await deployFed(chain, { m: 3, t: 2 });
      const o = await open(fed);
      const r = record(o.round, INITIAL, hash(0x11), [1, 2, 4], [5]);
      // The contract and protocol/chain agree on the struct hash and the digest.
      expect(await view(fed.contract, 'hashRoundRecord', toTypedValue(r))).toBe(roundRecordStructHash(r));
      expect(await view(fed.contract, 'roundRecordDigest', toTypedValue(r))).toBe(
        roundRecordDigest(federationDomain(CHAIN_ID, fed.address), r),
      );
      const signatures = await sigs(fed, r, o.committee);
      const receipt = await finalize(fed, r, signatures, FIRST_OUTSIDER); // anyone may submit
      expect(eventTuples(receipt, fed.address)).toEqual([
        ['RoundFinalized', 1n, roundRecordStructHash(r), recordTuple(r), o.committee.slice(0, 2)],
      ]);
      expect(await view(fed.contract, 'headModelHash')).toBe(hash(0x11));
      expect(await view(fed.contract, 'lastFinalizedRound')).toBe(1n);
      const info = plain(await view(fed.contract, 'getRound', 1));
      expect(info.slice(0, 1).concat(info.slice(4, 6))).toEqual([2n, roundRecordStructHash(r), hash(0x11)]);
    });

    it('keeps an unbroken hash chain, and the next seed commits to the last record', async () => {
      const fed = await deployFed(chain);
      const first = await runRound(fed, INITIAL, [1, 2]);
      const o2 = await open(fed);
      expect(o2.seed).toBe(roundSeed(await prevrandao(o2.blockNumber), roundRecordStructHash(first.record), 2));
      const wrong = record(2, INITIAL, hash(2), [1]);
      await expectRevert(finalizeCall(fed, wrong, await sigs(fed, wrong, o2.committee)), 'FedmeshRoundsPrevModelHashMismatch', [
        hash(1),
        INITIAL,
      ]);
      // An aborted round leaves the head where it was.
      await passFinalizeDeadline(o2);
      expect(eventTuples(await send(as(fed.contract, S(FIRST_OUTSIDER)), 'abortRound'), fed.address)).toEqual([['RoundAborted', 2n]]);
      const o3 = await open(fed);
      const r3 = record(3, hash(1), hash(3), [2]);
      await finalize(fed, r3, await sigs(fed, r3, o3.committee));
      expect(await view(fed.contract, 'headModelHash')).toBe(hash(3));
      expect(plain(await view(fed.contract, 'getRound', 2))[0]).toBe(3n);
    });

    it('refuses a record for another round, a closed round or a late one', async () => {
      const fed = await deployFed(chain);
      const early = record(1, INITIAL, hash(1), [1]);
      await expectRevert(finalizeCall(fed, early, []), 'FedmeshRoundsUnexpectedRound', [0n, 1n]);
      const o = await open(fed);
      const r = record(1, INITIAL, hash(1), [1]);
      const s = await sigs(fed, r, o.committee);
      const ahead = record(2, INITIAL, hash(1), [1]);
      await expectRevert(finalizeCall(fed, ahead, s), 'FedmeshRoundsUnexpectedRound', [1n, 2n]);
      await expectRevert(finalizeCall(fed, record(0, INITIAL, hash(1), [1]), s), 'FedmeshRoundsUnexpectedRound', [1n, 0n]);
      // Exactly at the deadline is still in time; finalizing twice is not.
      await nextBlockAt(chain, o.finalizeDeadline);
      await finalize(fed, r, s);
      await expectRevert(finalizeCall(fed, r, s), 'FedmeshRoundsNotOpen', [1n, 2n]);
      const o2 = await open(fed);
      const r2 = record(2, hash(1), hash(2), [1]);
      const s2 = await sigs(fed, r2, o2.committee);
      await expectRevert(finalizeCall(fed, r, s), 'FedmeshRoundsUnexpectedRound', [2n, 1n]);
      await passFinalizeDeadline(o2);
      await expectRevert(finalizeCall(fed, r2, s2), 'FedmeshRoundsDeadlinePassed', [2n, BigInt(o2.finalizeDeadline)]);
      await send(as(fed.contract, S(2)), 'abortRound');
      await expectRevert(finalizeCall(fed, r2, s2), 'FedmeshRoundsNotOpen', [2n, 3n]);
    });

    it('refuses malformed records: zero model hash, empty, oversized, unsorted, overlapping, bad bucket or spend, spend without parameters', async () => {
      const fed = await deployFed(chain);
      const o = await open(fed);
      const base = record(1, INITIAL, hash(1), [1, 2, 3]);
      const raw = (over: Partial<OnChainRoundRecord>) => ({ ...base, ...over });
      const p = base.participants;
      const cases: [OnChainRoundRecord, string, unknown[]][] = [
        [raw({ modelHash: hash(0) }), 'FedmeshRoundsZeroModelHash', []],
        [raw({ participants: [] }), 'FedmeshRoundsNoParticipants', []],
        [raw({ participants: new Array(257).fill(p[0]) }), 'FedmeshRoundsTooManyParticipants', [257n, 256n]],
        [raw({ dropped: new Array(257).fill(A(9)) }), 'FedmeshRoundsTooManyDropped', [257n, 256n]],
        [raw({ participants: [p[0]!, p[2]!, p[1]!] }), 'FedmeshRoundsUnsortedParticipants', [2n]],
        [raw({ participants: [p[0]!, p[0]!] }), 'FedmeshRoundsUnsortedParticipants', [1n]],
        [raw({ participants: [{ ...p[0]!, bucket: 8 }] }), 'FedmeshRoundsInvalidBucket', [p[0]!.member, 8n]],
        [raw({ participants: [{ ...p[0]!, spend: 1n << 224n }] }), 'FedmeshRoundsInvalidSpend', [p[0]!.member, 1n << 224n]],
        [raw({ participants: [p[0]!, { ...p[1]!, dpParams: 0n }] }), 'FedmeshRoundsSpendWithoutParams', [p[1]!.member, SPEND]],
        [raw({ dropped: [A(9), A(8)].sort((a, b) => (BigInt(a) > BigInt(b) ? -1 : 1)) }), 'FedmeshRoundsUnsortedDropped', [1n]],
        [raw({ dropped: [p[1]!.member] }), 'FedmeshRoundsDroppedParticipant', [p[1]!.member]],
      ];
      for (const [r, name, args] of cases) {
        await expectRevert(finalizeCall(fed, r, await sigs(fed, r, o.committee)), name, args);
      }
    });

    describe('signature quorum', () => {
      let fed: Fed;
      let o: Opened;
      let r: OnChainRoundRecord;
      beforeAll(async () => {
        fed = await deployFed(chain, { m: 4, t: 3, members: [1, 2, 3, 4, 5, 6] });
        o = await open(fed);
        r = record(1, INITIAL, hash(1), [1, 2]);
      });
      const nonCommittee = () => [1, 2, 3, 4, 5, 6].find((i) => !o.committee.includes(A(i)))!;

      it('t − 1 signatures are not enough', async () => {
        await expectRevert(finalizeCall(fed, r, await sigs(fed, r, o.committee, 2)), 'FedmeshRoundsInsufficientSignatures', [2n, 3n]);
        await expectRevert(finalizeCall(fed, r, []), 'FedmeshRoundsInsufficientSignatures', [0n, 3n]);
      });

      it('a duplicate signer does not count twice', async () => {
        const [a, b] = await sigs(fed, r, o.committee, 2);
        await expectRevert(finalizeCall(fed, r, [a!, b!, a!]), 'FedmeshRoundsDuplicateSigner', [o.committee[0]]);
      });

      it('a member outside the committee and an outsider are refused by address', async () => {
        const two = await sigs(fed, r, o.committee, 2);
        const member = nonCommittee();
        await expectRevert(finalizeCall(fed, r, [...two, await sign(S(member), fed.address, r)]), 'FedmeshRoundsSignerNotInCommittee', [
          A(member),
        ]);
        await expectRevert(
          finalizeCall(fed, r, [await sign(S(FIRST_OUTSIDER), fed.address, r), ...two]),
          'FedmeshRoundsSignerNotInCommittee',
          [A(FIRST_OUTSIDER)],
        );
      });

      it('a signature for another chain id or another contract recovers a stranger', async () => {
        const two = await sigs(fed, r, o.committee, 2);
        const digest = await view<string>(fed.contract, 'roundRecordDigest', toTypedValue(r));
        const signer = S(indexOf(chain, o.committee[2]!));
        const otherChain = await sign(signer, fed.address, r, 11155111n);
        await expectRevert(finalizeCall(fed, r, [...two, otherChain]), 'FedmeshRoundsSignerNotInCommittee', [
          recoverAddress(digest, otherChain),
        ]);
        const other = await deployFed(chain, { m: 4, t: 3, members: [] });
        const otherContract = await sign(signer, other.address, r);
        await expectRevert(finalizeCall(fed, r, [...two, otherContract]), 'FedmeshRoundsSignerNotInCommittee', [
          recoverAddress(digest, otherContract),
        ]);
        // And a record that differs in any field recovers a stranger too.
        const tampered = await sign(signer, fed.address, { ...r, aggregateHash: hash(0xee) });
        await expectRevert(finalizeCall(fed, r, [...two, tampered]), 'FedmeshRoundsSignerNotInCommittee', [
          recoverAddress(digest, tampered),
        ]);
      });

      it('malformed signatures are refused by index: length, high s, bad v', async () => {
        const [a, b, c] = await sigs(fed, r, o.committee, 3);
        const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
        const highS = `0x${c!.slice(2, 66)}${(n - BigInt(`0x${c!.slice(66, 130)}`)).toString(16).padStart(64, '0')}${c!.slice(130) === '1b' ? '1c' : '1b'}`;
        await expectRevert(finalizeCall(fed, r, [a!, b!, c!.slice(0, 130)]), 'FedmeshRoundsInvalidSignature', [2n]);
        await expectRevert(finalizeCall(fed, r, [a!, highS, c!]), 'FedmeshRoundsInvalidSignature', [1n]);
        await expectRevert(finalizeCall(fed, r, [`${a!.slice(0, 130)}1d`, b!, c!]), 'FedmeshRoundsInvalidSignature', [0n]);
      });

      it('t valid signatures from distinct committee members finalize; all m may sign', async () => {
        const all = await sigs(fed, r, o.committee, 4);
        const receipt = await finalize(fed, r, all);
        expect(eventsOf(receipt, fed.address)[0]?.args.signers).toEqual(o.committee);
      });
    });

    it('every participant must be active; the first bad one is named', async () => {
      const fed = await deployFed(chain, { members: [1, 2, 3, 4] });
      const o = await open(fed);
      const withOutsider = record(1, INITIAL, hash(1), [1, FIRST_OUTSIDER]);
      await expectRevert(finalizeCall(fed, withOutsider, await sigs(fed, withOutsider, o.committee)), 'FedmeshRoundsParticipantNotActive', [
        A(FIRST_OUTSIDER),
      ]);
      await send(as(fed.contract, S(0)), 'suspendMember', A(4));
      const withSuspended = record(1, INITIAL, hash(1), [1, 4]);
      await expectRevert(
        finalizeCall(fed, withSuspended, await sigs(fed, withSuspended, o.committee)),
        'FedmeshRoundsParticipantNotActive',
        [A(4)],
      );
    });
  });

  describe('abortRound', () => {
    it('only after the finalize deadline of an open round; anyone may call it', async () => {
      const fed = await deployFed(chain);
      await expectRevert(as(fed.contract, S(1)).getFunction('abortRound').send(), 'FedmeshRoundsNotOpen', [0n, 0n]);
      const o = await open(fed);
      await nextBlockAt(chain, o.finalizeDeadline);
      await expectRevert(as(fed.contract, S(1)).getFunction('abortRound').send(), 'FedmeshRoundsDeadlineNotPassed', [
        1n,
        BigInt(o.finalizeDeadline),
      ]);
      const receipt = await send(as(fed.contract, S(FIRST_OUTSIDER)), 'abortRound');
      expect(eventTuples(receipt, fed.address)).toEqual([['RoundAborted', 1n]]);
      await expectRevert(as(fed.contract, S(1)).getFunction('abortRound').send(), 'FedmeshRoundsNotOpen', [1n, 3n]);
      const r = await runRound(fed, INITIAL, [1]);
      expect(r.opened.round).toBe(2);
      await expectRevert(as(fed.contract, S(1)).getFunction('abortRound').send(), 'FedmeshRoundsNotOpen', [2n, 2n]);
    });
  });

  describe('privacy budget', () => {
    it('adds each spend lane-wise; spent ε and remaining budget follow the documented rule', async () => {
      const fed = await deployFed(chain, { cap: 3 });
      const spend = encodeRdp([0.1, 0.3, 1e-7, 0, 0.25, 0.125, 2, 0.07]);
      expect(decodePacked(spend).slice(0, 3)).toEqual([100_001n, 300_000n, 1n]); // rounded up
      await runRound(fed, INITIAL, [{ member: A(1), bucket: 0, spend }]);
      expect(await view(fed.contract, 'rdpOf', A(1))).toBe(spend);
      await runRound(fed, hash(1), [{ member: A(1), bucket: 0, spend }]);
      const twice = addPacked(spend, spend);
      expect(await view(fed.contract, 'rdpOf', A(1))).toBe(twice);
      const eps = epsilonFromPacked(twice, C_ALPHA);
      expect(plain(await view(fed.contract, 'privacyBudgetOf', A(1)))).toEqual([twice, eps, 3_000_000n, 3_000_000n - eps]);
      expect(await view(fed.contract, 'epsilonOf', twice)).toBe(eps);
      expect(plain(await view(fed.contract, 'privacyBudgetOf', A(2)))).toEqual([
        0n,
        epsilonFromPacked(0n, C_ALPHA),
        3_000_000n,
        3_000_000n - 100_984n,
      ]);
    });

    it('a spend that would pass the cap reverts naming the member, its ε and its cap; at the cap is allowed', async () => {
      const fed = await deployFed(chain, { cap: 10, members: [1, 2, 3, 4, 5] });
      const spend = encodeRdp([2, 1.5, 1.2, 1, 0.9, 0.85, 0.8, 0.8]);
      const eps = epsilonFromPacked(spend, C_ALPHA);
      await send(as(fed.contract, S(3)), 'lowerEpsilonCap', eps - 1n);
      await send(as(fed.contract, S(4)), 'lowerEpsilonCap', eps);
      const o = await open(fed);
      const over = record(1, INITIAL, hash(1), [1, { member: A(3), bucket: 0, spend }, 5]);
      await expectRevert(finalizeCall(fed, over, await sigs(fed, over, o.committee)), 'FedmeshLedgerBudgetExceeded', [A(3), eps, eps - 1n]);
      // Nothing was applied, not even to the participant before it.
      expect(await view(fed.contract, 'rdpOf', A(1))).toBe(0n);
      const atCap = record(1, INITIAL, hash(1), [1, { member: A(4), bucket: 0, spend }, 5]);
      await finalize(fed, atCap, await sigs(fed, atCap, o.committee));
      expect(plain(await view(fed.contract, 'privacyBudgetOf', A(4))).slice(1)).toEqual([eps, eps, 0n]);
      // A cap lowered below what was spent refuses even a zero spend: spent ε never goes down.
      await send(as(fed.contract, S(4)), 'lowerEpsilonCap', eps - 1n);
      const o2 = await open(fed);
      const zero = record(2, hash(1), hash(2), [{ member: A(4), bucket: 0, spend: 0n }]);
      await expectRevert(finalizeCall(fed, zero, await sigs(fed, zero, o2.committee)), 'FedmeshLedgerBudgetExceeded', [
        A(4),
        eps,
        eps - 1n,
      ]);
    });

    it('saturated lanes drop out of the minimum; all saturated is unbounded and always refused', async () => {
      const fed = await deployFed(chain, { cap: 4000 });
      const inf = Number.POSITIVE_INFINITY;
      const partly = encodeRdp([inf, inf, inf, inf, inf, inf, inf, 1]);
      await runRound(fed, INITIAL, [{ member: A(1), bucket: 0, spend: partly }]);
      expect(decodePacked(await view(fed.contract, 'rdpOf', A(1))).slice(0, 7)).toEqual(new Array(7).fill(RDP_LANE_MAX));
      expect(plain(await view(fed.contract, 'privacyBudgetOf', A(1)))[1]).toBe(1_000_000n + C_ALPHA[7]!);
      const o = await open(fed);
      const all = record(2, hash(1), hash(2), [{ member: A(1), bucket: 0, spend: encodeRdp(new Array(8).fill(300)) }]);
      await expectRevert(finalizeCall(fed, all, await sigs(fed, all, o.committee)), 'FedmeshLedgerBudgetExceeded', [
        A(1),
        EPSILON_UNBOUNDED,
        4_000_000_000n,
      ]);
      expect(await view(fed.contract, 'epsilonOf', encodeRdp(new Array(8).fill(inf)))).toBe(EPSILON_UNBOUNDED);
    });

    it('removal keeps the spent budget and credits; re-adding never resets them', async () => {
      const fed = await deployFed(chain);
      await runRound(fed, INITIAL, [1, 2]);
      const rdp = await view<bigint>(fed.contract, 'rdpOf', A(1));
      const credits = await view<bigint>(fed.contract, 'creditsOf', A(1));
      await send(as(fed.contract, S(0)), 'removeMember', A(1));
      expect(await view(fed.contract, 'rdpOf', A(1))).toBe(rdp);
      expect(plain(await view(fed.contract, 'privacyBudgetOf', A(1))).slice(2)).toEqual([0n, 0n]);
      await send(as(fed.contract, S(0)), 'addMember', A(1), 'again', '', encodeEpsilonCap(2));
      expect(await view(fed.contract, 'rdpOf', A(1))).toBe(rdp);
      expect(plain(await view(fed.contract, 'getMember', A(1)))).toEqual([1n, 2_000_000n, credits, 'again', '']);
    });
  });

  describe('credits', () => {
    it('participation credit by bucket plus a service credit per counted signer; minted = held', async () => {
      const fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5, 6] });
      const o = await open(fed);
      const r = record(1, INITIAL, hash(1), [
        { member: A(1), bucket: 0, spend: 0n },
        { member: A(2), bucket: 3, spend: 0n },
        { member: A(6), bucket: 7, spend: 0n },
      ]);
      const signatures = await sigs(fed, r, o.committee, 3);
      await finalize(fed, r, signatures);
      const expected = new Map<string, bigint>();
      for (const p of r.participants) expected.set(p.member, participationCredit(p.bucket));
      for (const s of o.committee) expected.set(s, (expected.get(s) ?? 0n) + SERVICE_CREDIT);
      let held = 0n;
      for (const i of [1, 2, 3, 4, 5, 6]) {
        const c = await view<bigint>(fed.contract, 'creditsOf', A(i));
        expect([i, c]).toEqual([i, expected.get(A(i)) ?? 0n]);
        held += c;
        expect(plain(await view(fed.contract, 'getMember', A(i)))[2]).toBe(c);
      }
      expect(await view(fed.contract, 'totalCredits')).toBe(held);
      expect(held).toBe(1n + 4n + 8n + 3n * SERVICE_CREDIT);
      expect(await view(fed.contract, 'participationCredit', 7)).toBe(8n);
      expect(await view(fed.contract, 'SERVICE_CREDIT')).toBe(SERVICE_CREDIT);
    });
  });

  it('committee addresses are checksummed and distinct across many opened rounds', async () => {
    const fed = await deployFed(chain, { m: 5, t: 3, members: Array.from({ length: 12 }, (_, i) => i + 1) });
    let prev = INITIAL;
    for (let i = 0; i < 5; i++) {
      const { opened } = await runRound(fed, prev, [1]);
      prev = hash(opened.round);
      expect(opened.committee.map((a) => getAddress(a))).toEqual(opened.committee);
      expect(new Set(opened.committee).size).toBe(5);
    }
    expect(await latestTimestamp(chain)).toBeGreaterThan(0);
  });
});
