/**
 * Red-team attacks on FedmeshFederation v2 (issue 14), on the real bytecode in the in-process
 * Hardhat network. Each test gives the adversary exactly what the protocol gives it (the
 * participants' entry signatures it collected as a committee, its own keys, the chain's public
 * state) and performs one attack; the test asserts the transaction reverts with the right custom
 * error and arguments, or that the attack changes nothing. Variations of the audit findings that
 * test/contracts/federation.test.ts does not perform: replays of entry signatures across rounds,
 * deployments, lines and spends; outsiders and former members as participants; duplicated lines;
 * malleated committee signatures; cap games across remove/re-add inside an open round.
 */
import { Signature } from 'ethers';
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { encodeEpsilonCap } from '../../protocol/chain/budget.js';
import { roundSeed, selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { declaredSpend, NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { canonicalRoundRecord, type OnChainRoundRecord, toTypedValue } from '../../protocol/chain/record.js';
import {
  as,
  DP_PARAMS,
  deployFed,
  entrySig,
  entrySigs,
  eventsOf,
  expectRevert,
  type Fed,
  FIRST_OUTSIDER,
  finalizeWith,
  hash,
  INITIAL,
  openNext,
  PROOF,
  recordFor,
  send,
  sign,
  signerOf,
  view,
} from './federation-fixture.js';

let chain: InProcessChain;
beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

const addr = (i: number) => signerOf(chain, i).address;
type EntrySig = { r: string; vs: string };

/** finalizeRound with entry signatures and committee signatures chosen by the attacker. */
async function finalizeRaw(fed: Fed, record: OnChainRoundRecord, entries: EntrySig[], signers: readonly number[]) {
  const sigs = await Promise.all(signers.map((i) => sign(signerOf(chain, i), fed.address, record)));
  return send(as(fed.contract, signerOf(chain, FIRST_OUTSIDER)), 'finalizeRound', toTypedValue(record), entries, sigs);
}

/** Members that are not on `committee` (signer indices), in order. */
const outside = (members: readonly number[], committee: readonly number[]) => members.filter((i) => !committee.includes(i));

describe('overcharging: a quorum cannot charge a member beyond what it signed', () => {
  it('an entry signature from an earlier round does not charge the member in a later one', async () => {
    const fed = await deployFed(chain, { members: [1, 2, 3, 4, 5, 6] });
    const r1 = await openNext(chain, fed);
    const victim = outside([1, 2, 3, 4, 5, 6], r1.committee)[0]!;
    const rec1 = recordFor(chain, r1.round, INITIAL, [victim]);
    const stolen = (await entrySigs(chain, fed.address, rec1))[0]!;
    await finalizeWith(chain, fed, rec1, r1.committee.slice(0, 2));
    const spent = await view<bigint>(fed.contract, 'rdpOf', addr(victim));

    const r2 = await openNext(chain, fed);
    const rec2 = recordFor(chain, r2.round, rec1.modelHash, [victim]);
    await expectRevert(finalizeRaw(fed, rec2, [stolen], r2.committee.slice(0, 2)), 'FedmeshRoundsInvalidEntrySignature', [
      addr(victim),
      0n,
    ]);
    expect(await view(fed.contract, 'rdpOf', addr(victim))).toBe(spent);
  });

  it('an entry signature made for another deployment on the same chain does not charge the member here', async () => {
    const fed = await deployFed(chain);
    const other = await deployFed(chain);
    const { round, committee } = await openNext(chain, fed);
    const victim = outside([1, 2, 3, 4, 5], committee)[0]!;
    const rec = recordFor(chain, round, INITIAL, [victim]);
    const forOther = await entrySig(signerOf(chain, victim), other.address, round, DP_PARAMS);
    await expectRevert(finalizeRaw(fed, rec, [forOther], committee.slice(0, 2)), 'FedmeshRoundsInvalidEntrySignature', [addr(victim), 0n]);
    // … nor one for the same contract address on another chain id.
    const otherChain = await entrySig(signerOf(chain, victim), fed.address, round, DP_PARAMS, undefined, 1n);
    await expectRevert(finalizeRaw(fed, rec, [otherChain], committee.slice(0, 2)), 'FedmeshRoundsInvalidEntrySignature', [
      addr(victim),
      0n,
    ]);
    expect(await view(fed.contract, 'rdpOf', addr(victim))).toBe(0n);
  });

  it('raising the spend, or swapping the DP parameters, of a line the member signed breaks its signature', async () => {
    const fed = await deployFed(chain);
    const { round, committee } = await openNext(chain, fed);
    const victim = outside([1, 2, 3, 4, 5], committee)[0]!;
    const honest = recordFor(chain, round, INITIAL, [victim]);
    const signed = (await entrySigs(chain, fed.address, honest))[0]!;
    const line = honest.participants[0]!;
    const inflated = { ...honest, participants: [{ ...line, spend: line.spend + 1n }] };
    await expectRevert(finalizeRaw(fed, inflated, [signed], committee.slice(0, 2)), 'FedmeshRoundsInvalidEntrySignature', [
      addr(victim),
      0n,
    ]);
    const otherParams = DP_PARAMS + 1n;
    const swapped = { ...honest, participants: [{ ...line, dpParams: otherParams, spend: declaredSpend(otherParams) }] };
    await expectRevert(finalizeRaw(fed, swapped, [signed], committee.slice(0, 2)), 'FedmeshRoundsInvalidEntrySignature', [
      addr(victim),
      0n,
    ]);
  });

  it('one member’s entry signature on another member’s line, or lines in swapped order, is refused', async () => {
    const fed = await deployFed(chain, { members: [1, 2, 3, 4, 5, 6] });
    const { round, committee } = await openNext(chain, fed);
    const [a, b] = outside([1, 2, 3, 4, 5, 6], committee) as [number, number];
    const rec = recordFor(chain, round, INITIAL, [a, b]);
    const sigs = await entrySigs(chain, fed.address, rec);
    // The attacker (say a, colluding with the quorum) signs for itself and puts its signature on b's line too.
    await expectRevert(finalizeRaw(fed, rec, [sigs[0]!, sigs[0]!], committee.slice(0, 2)), 'FedmeshRoundsInvalidEntrySignature', [
      rec.participants[1]!.member,
      1n,
    ]);
    await expectRevert(finalizeRaw(fed, rec, [sigs[1]!, sigs[0]!], committee.slice(0, 2)), 'FedmeshRoundsInvalidEntrySignature', [
      rec.participants[0]!.member,
      0n,
    ]);
  });

  it('a line duplicated to charge a member twice in one round is refused', async () => {
    const fed = await deployFed(chain);
    const { round, committee } = await openNext(chain, fed);
    const victim = outside([1, 2, 3, 4, 5], committee)[0]!;
    const once = recordFor(chain, round, INITIAL, [victim]);
    const sig = (await entrySigs(chain, fed.address, once))[0]!;
    const twice = { ...once, participants: [once.participants[0]!, once.participants[0]!] };
    await expectRevert(finalizeRaw(fed, twice, [sig, sig], committee.slice(0, 2)), 'FedmeshRoundsUnsortedParticipants', [1n]);
  });

  it('an outsider, or a member removed before the round opened, is no participant even with its own valid signature', async () => {
    const fed = await deployFed(chain, { members: [1, 2, 3, 4, 5, 6] });
    // Member 6 (or whoever is outside the committee) is removed between rounds.
    const r1 = await openNext(chain, fed);
    await finalizeWith(chain, fed, recordFor(chain, r1.round, INITIAL, r1.committee.slice(0, 1)), r1.committee.slice(0, 2));
    const head = await view<string>(fed.contract, 'headModelHash');
    const removed = outside([1, 2, 3, 4, 5, 6], r1.committee).at(-1)!;
    await send(as(fed.contract, signerOf(chain, 0)), 'removeMember', addr(removed));
    const r2 = await openNext(chain, fed, r1.committee[0]);
    // The committee comes from the snapshot taken at round 1's close, before the removal; the
    // removed member may sit on it, but only active members sign here.
    const signers = r2.committee.filter((i) => i !== removed).slice(0, 2);
    const stranger = FIRST_OUTSIDER + 1;
    for (const who of [stranger, removed]) {
      const rec = canonicalRoundRecord({
        round: r2.round,
        prevModelHash: head as `0x${string}`,
        modelHash: hash(9),
        aggregateHash: hash(10),
        serviceMask: 7n,
        participants: [{ member: addr(who), dpParams: DP_PARAMS, spend: declaredSpend(DP_PARAMS) }],
      });
      const own = await entrySig(signerOf(chain, who), fed.address, r2.round, DP_PARAMS);
      await expectRevert(finalizeRaw(fed, rec, [own], signers), 'FedmeshRoundsParticipantNotMember', [addr(who)]);
    }
  });
});

describe('quorum forgery: signatures that must not count', () => {
  it('a malleated (high-s) copy of one committee signature is refused, so one signer cannot count twice', async () => {
    const fed = await deployFed(chain);
    const { round, committee } = await openNext(chain, fed);
    const rec = recordFor(chain, round, INITIAL, outside([1, 2, 3, 4, 5], committee).slice(0, 1));
    const good = await sign(signerOf(chain, committee[0]!), fed.address, rec);
    const s = Signature.from(good);
    const n = BigInt('0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141');
    const highS = `0x${(n - BigInt(s.s)).toString(16).padStart(64, '0')}`;
    const malleated = `${s.r}${highS.slice(2)}${(s.v === 27 ? 28 : 27).toString(16)}`;
    const entries = await entrySigs(chain, fed.address, rec);
    await expectRevert(
      send(as(fed.contract, signerOf(chain, FIRST_OUTSIDER)), 'finalizeRound', toTypedValue(rec), entries, [good, malleated]),
      'FedmeshRoundsInvalidSignature',
      [1n],
    );
    // The plain duplicate is refused by signer identity.
    await expectRevert(
      send(as(fed.contract, signerOf(chain, FIRST_OUTSIDER)), 'finalizeRound', toTypedValue(rec), entries, [good, good]),
      'FedmeshRoundsDuplicateSigner',
      [addr(committee[0]!)],
    );
  });

  it('a committee member suspended before the open and reinstated after it is still on the committee, but a member added after the snapshot never is', async () => {
    const fed = await deployFed(chain, { members: [1, 2, 3, 4, 5, 6, 7, 8], seedDelay: 3 });
    const r1 = await openNext(chain, fed);
    await finalizeWith(chain, fed, recordFor(chain, r1.round, INITIAL, r1.committee.slice(0, 1)), r1.committee.slice(0, 2));
    const [snapshot] = (await view<bigint[]>(fed.contract, 'nextRoundSchedule')).map(Number);
    const list = [...(await view<string[]>(fed.lens, 'activeMembersAt', snapshot!))];
    // After the snapshot the admin floods the registry with fresh accounts of its own.
    const c = as(fed.contract, signerOf(chain, 0));
    for (let k = 0; k < 8; k++) {
      await send(c, 'addMember', addr(FIRST_OUTSIDER + 10 + k), `sybil-${k}`, '', encodeEpsilonCap(10), PROOF);
    }
    const r2 = await openNext(chain, fed, r1.committee[0]);
    const sybils = new Set(Array.from({ length: 8 }, (_, k) => FIRST_OUTSIDER + 10 + k));
    expect(r2.committee.some((i) => sybils.has(i))).toBe(false);
    for (const i of r2.committee) expect(list).toContain(addr(i));
  });
});

describe('caps: nobody raises a cap, not inside an open round either', () => {
  it('lower, remove and re-add with the original cap while a round is open: the open round keeps its cap, later rounds the lowered one', async () => {
    const fed = await deployFed(chain, { members: [1, 2, 3, 4, 5, 6], cap: 10 });
    const { round, committee } = await openNext(chain, fed);
    const m = outside([1, 2, 3, 4, 5, 6], committee)[0]!;
    await send(as(fed.contract, signerOf(chain, m)), 'lowerEpsilonCap', encodeEpsilonCap(1));
    const c = as(fed.contract, signerOf(chain, 0));
    await send(c, 'removeMember', addr(m));
    await send(c, 'addMember', addr(m), `peer-${m}`, '', encodeEpsilonCap(10), PROOF);
    expect(await view(fed.contract, 'epsilonCapAt', addr(m), round)).toBe(encodeEpsilonCap(10));
    expect(await view(fed.contract, 'epsilonCapAt', addr(m), round + 1)).toBe(encodeEpsilonCap(1));
    expect(await view(fed.contract, 'epsilonCapAt', addr(m), round + 5)).toBe(encodeEpsilonCap(1));
    // Lowering again and re-adding twice more never gets above the lowest cap ever set.
    await send(as(fed.contract, signerOf(chain, m)), 'lowerEpsilonCap', encodeEpsilonCap(0.5));
    for (let k = 0; k < 2; k++) {
      await send(c, 'removeMember', addr(m));
      await send(c, 'addMember', addr(m), `peer-${m}`, '', encodeEpsilonCap(100), PROOF);
    }
    expect(await view(fed.contract, 'epsilonCapAt', addr(m), round + 1)).toBe(encodeEpsilonCap(0.5));
    expect(await view(fed.contract, 'epsilonCapAt', addr(m), round)).toBe(encodeEpsilonCap(10));
  });

  it('a member whose spend passes its cap cannot be slipped into a record: the round reverts naming it, so committees must leave it out', async () => {
    const fed = await deployFed(chain, { members: [1, 2, 3, 4, 5, 6], cap: 10 });
    const r1 = await openNext(chain, fed);
    await finalizeWith(chain, fed, recordFor(chain, r1.round, INITIAL, r1.committee.slice(0, 1)), r1.committee.slice(0, 2));
    const m = outside([1, 2, 3, 4, 5, 6], r1.committee)[0]!;
    // Between rounds: the member lowers its cap below one round's spend; it applies to round 2.
    await send(as(fed.contract, signerOf(chain, m)), 'lowerEpsilonCap', 1);
    const r2 = await openNext(chain, fed, r1.committee[0]);
    const [, capNow, fits] = await view<[bigint, bigint, boolean]>(
      fed.contract,
      'budgetAfter',
      addr(m),
      r2.round,
      declaredSpend(DP_PARAMS),
    );
    expect([capNow, fits]).toEqual([1n, false]);
    const head = (await view<string>(fed.contract, 'headModelHash')) as `0x${string}`;
    const rec = recordFor(chain, r2.round, head, [m]);
    // ε after the spend: the contract's own budgetAfter (epsilonOf left for EIP-170 room, F18).
    const [e] = await view<[bigint, bigint, boolean]>(fed.contract, 'budgetAfter', addr(m), r2.round, declaredSpend(DP_PARAMS));
    await expectRevert(finalizeWith(chain, fed, rec, r2.committee.slice(0, 2)), 'FedmeshLedgerBudgetExceeded', [addr(m), e, 1n]);
  });
});

describe('DP policy', () => {
  it('a DP federation refuses a line without DP parameters, even signed by its member', async () => {
    const fed = await deployFed(chain, { dpRequired: true });
    const { round, committee } = await openNext(chain, fed);
    const m = outside([1, 2, 3, 4, 5], committee)[0]!;
    const rec = recordFor(chain, round, INITIAL, [m], { dpParams: NO_DP_PARAMS });
    expect(rec.participants[0]!.spend).toBe(0n);
    await expectRevert(finalizeWith(chain, fed, rec, committee.slice(0, 2)), 'FedmeshRoundsDpRequired', [addr(m)]);
  });
});

describe('committee grinding', () => {
  /** Schedules round 1 (first openRound) and returns its snapshot and seed blocks. */
  async function scheduled(fed: Fed): Promise<{ snapshot: number; seedBlock: number }> {
    await send(as(fed.contract, signerOf(chain, 1)), 'openRound');
    const [snapshot, seedBlock] = (await view<bigint[]>(fed.contract, 'nextRoundSchedule')).map(Number);
    return { snapshot: snapshot!, seedBlock: seedBlock! };
  }
  const mine = (blocks: number) => chain.provider.send('hardhat_mine', [`0x${blocks.toString(16)}`]);

  it('once the seed block is mined the committee is fixed: waiting 250 blocks, suspending the drawn members or opening as another member changes nothing', async () => {
    const fed = await deployFed(chain, { members: [1, 2, 3, 4, 5, 6, 7, 8], seedDelay: 2 });
    const { snapshot, seedBlock } = await scheduled(fed);
    await mine(3);
    const seedHash = (await chain.provider.getBlock(seedBlock))!.hash as `0x${string}`;
    const list = [...(await view<string[]>(fed.lens, 'activeMembersAt', snapshot))];
    const predicted = selectCommitteeOnChain(roundSeed(seedHash, `0x${'00'.repeat(32)}`, 1), list, 3);
    // The admin, seeing the prediction, suspends the drawn members it dislikes and waits.
    const c = as(fed.contract, signerOf(chain, 0));
    for (const a of predicted.slice(0, 2)) await send(c, 'suspendMember', a);
    await mine(250);
    const opener = [1, 2, 3, 4, 5, 6, 7, 8].find((i) => !predicted.slice(0, 2).includes(addr(i)))!;
    const r = await openNext(chain, fed, opener);
    expect(r.round).toBe(1);
    expect(r.committee.map(addr)).toEqual(predicted);
  });

  it('a fresh draw needs the seed block to leave the 256-block window unopened (the documented bias): one block earlier, the old seed holds', async () => {
    const fed = await deployFed(chain, { members: [1, 2, 3, 4, 5], seedDelay: 0 });
    const { seedBlock } = await scheduled(fed);
    const head = await chain.provider.getBlockNumber();
    // openRound's own block is head + 1 after mining: reach block.number − seedBlock = 256 exactly.
    await mine(seedBlock + 256 - head - 1);
    const receipt = await send(as(fed.contract, signerOf(chain, 2)), 'openRound');
    expect(eventsOf(receipt, fed.address).map((e) => e.name)).toEqual(['RoundOpened']);
    const fed2 = await deployFed(chain, { members: [1, 2, 3, 4, 5], seedDelay: 0 });
    const s2 = await scheduled(fed2);
    const head2 = await chain.provider.getBlockNumber();
    await mine(s2.seedBlock + 257 - head2 - 1);
    const late = await send(as(fed2.contract, signerOf(chain, 2)), 'openRound');
    expect(eventsOf(late, fed2.address).map((e) => e.name)).toEqual(['RoundScheduled']);
  });
});
