/**
 * Studies on one budget (issue 17 item 7; contracts/IFedmeshStudy.sol), attacked on the real
 * bytecode in the in-process Hardhat network. A study is one deployment; `closeStudy(successor)`
 * ends it and names the one study that may continue its budgets; the successor's
 * `inheritBudgetFrom(predecessor)` makes each member's first registration start from the RDP the
 * chain holds for it, under the cap it had there.
 *
 * Each test performs one attack on the chain and asserts the custom error with its arguments, or
 * that the budgets come out exactly right: the inherited spend is neither dropped (the budget
 * evaded) nor counted twice (an overcharge), and no study raises a cap.
 */
import { ZeroAddress } from 'ethers';
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { addPacked, encodeEpsilonCap, epsilonFromPacked } from '../../protocol/chain/budget.js';
import { declaredSpend, encodeDpParams } from '../../protocol/chain/dp-params.js';
import type { Hex32, OnChainRoundRecord } from '../../protocol/chain/record.js';
import {
  as,
  C_ALPHA,
  DELTA_E18,
  DP_PARAMS,
  deployFed,
  eventTuples,
  expectRevert,
  type Fed,
  FIRST_OUTSIDER,
  finalizeWith,
  openNext,
  PROOF,
  recordFor,
  send,
  signerOf,
  view,
} from './federation-fixture.js';

let chain: InProcessChain;
beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

const addr = (i: number) => signerOf(chain, i).address;
const cap = (e: number) => encodeEpsilonCap(e);
const admin = (fed: Fed) => as(fed.contract, signerOf(chain, 0));
const SPEND = declaredSpend(DP_PARAMS);

/** One finalized round of `fed` with `participants` (signer indices) declaring `dpParams`. */
async function round(fed: Fed, participants: readonly number[], dpParams = DP_PARAMS): Promise<OnChainRoundRecord> {
  const { round: r, committee } = await openNext(chain, fed);
  const head = (await view<Hex32>(fed.contract, 'headModelHash')) as Hex32;
  const rec = recordFor(chain, r, head, participants, { dpParams });
  await finalizeWith(chain, fed, rec, committee.slice(0, fed.t));
  return rec;
}

/** A successor of `pred`: deployed with no member, named by `pred`'s close, inheriting from it. */
async function successorOf(pred: Fed): Promise<Fed> {
  const next = await deployFed(chain, { members: [] });
  await send(admin(pred), 'closeStudy', next.address);
  await send(admin(next), 'inheritBudgetFrom', pred.address);
  return next;
}

async function addMembers(fed: Fed, members: readonly number[], capEps = 10): Promise<void> {
  for (const i of members) await send(admin(fed), 'addMember', addr(i), `peer-${i}`, '', cap(capEps), PROOF);
}

const rdpOf = async (fed: Fed, i: number) => (await view<bigint>(fed.contract, 'rdpOf', addr(i))) as bigint;
const chainOf = async (fed: Fed) => [...(await view<unknown[]>(fed.contract, 'studyChain'))];
const carried = async (fed: Fed, i: number) => [...(await view<unknown[]>(fed.contract, 'carriedBudgetOf', addr(i)))];

describe('closing a study', () => {
  it('only the admin closes, never with a round open, never naming itself, and only once', async () => {
    const fed = await deployFed(chain);
    const next = await deployFed(chain, { members: [] });
    // Read the role before sending: an `await` among expectRevert's arguments would leave the
    // send's rejection unhandled while it runs (the CI unhandled error of this file).
    const role = await view(fed.contract, 'FEDERATION_ADMIN_ROLE');
    await expectRevert(send(as(fed.contract, signerOf(chain, 1)), 'closeStudy', next.address), 'AccessControlUnauthorizedAccount', [
      addr(1),
      role,
    ]);
    await expectRevert(send(admin(fed), 'closeStudy', fed.address), 'FedmeshStudyInvalidSuccessor', [fed.address]);
    const { round: r } = await openNext(chain, fed);
    // With round 1 open its participants' spends are not final: closing now would freeze a ledger still moving.
    await expectRevert(send(admin(fed), 'closeStudy', next.address), 'FedmeshRoundsStillOpen', [BigInt(r)]);
    const info = await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', r);
    await chain.provider.send('evm_setNextBlockTimestamp', [Number(info.finalizeDeadline) + 1]);
    await send(admin(fed), 'abortRound');
    const receipt = await send(admin(fed), 'closeStudy', next.address);
    expect(eventTuples(receipt, fed.address)).toEqual([['StudyClosed', next.address]]);
    expect(await chainOf(fed)).toEqual([ZeroAddress, next.address, true]);
    // A second close cannot re-point the budgets to another study.
    await expectRevert(send(admin(fed), 'closeStudy', addr(FIRST_OUTSIDER)), 'FedmeshStudyClosed');
  });

  it('no round opens after the close, scheduled or not; the registry still reads and caps can still be lowered', async () => {
    const fed = await deployFed(chain);
    await round(fed, [1, 2]);
    // Round 2 is scheduled by the finalization: the close must still stop it.
    await send(admin(fed), 'closeStudy', ZeroAddress);
    await chain.provider.send('hardhat_mine', ['0x3']);
    await expectRevert(send(as(fed.contract, signerOf(chain, 1)), 'openRound'), 'FedmeshStudyClosed');
    await expectRevert(send(admin(fed), 'abortRound'), 'FedmeshRoundsNotOpen', [1n, 2n]);
    expect(await view(fed.contract, 'currentRound')).toBe(1n);
    await send(as(fed.contract, signerOf(chain, 1)), 'lowerEpsilonCap', cap(5));
    expect((await view<{ epsilonCap: bigint }>(fed.lens, 'getMember', addr(1))).epsilonCap).toBe(cap(5));
  });
});

describe('inheriting a budget', () => {
  it('refuses a predecessor that did not name this study: still open, closed naming another, or closed naming none', async () => {
    const pred = await deployFed(chain);
    const next = await deployFed(chain, { members: [] });
    const other = await deployFed(chain, { members: [] });
    await expectRevert(send(admin(next), 'inheritBudgetFrom', pred.address), 'FedmeshStudyNotNamed', [pred.address, ZeroAddress]);
    await send(admin(pred), 'closeStudy', other.address);
    await expectRevert(send(admin(next), 'inheritBudgetFrom', pred.address), 'FedmeshStudyNotNamed', [pred.address, other.address]);
    const ended = await deployFed(chain);
    await send(admin(ended), 'closeStudy', ZeroAddress);
    await expectRevert(send(admin(next), 'inheritBudgetFrom', ended.address), 'FedmeshStudyNotNamed', [ended.address, ZeroAddress]);
    expect(await chainOf(next)).toEqual([ZeroAddress, ZeroAddress, false]);
    const role = await view(other.contract, 'FEDERATION_ADMIN_ROLE'); // before the send: see the first test
    await expectRevert(
      send(as(other.contract, signerOf(chain, 1)), 'inheritBudgetFrom', pred.address),
      'AccessControlUnauthorizedAccount',
      [addr(1), role],
    );
  });

  it('inherits once: a second inheritBudgetFrom, even from the same predecessor, is refused', async () => {
    const pred = await deployFed(chain);
    const next = await deployFed(chain, { members: [] });
    await send(admin(pred), 'closeStudy', next.address);
    const receipt = await send(admin(next), 'inheritBudgetFrom', pred.address);
    expect(eventTuples(receipt, next.address)).toEqual([['BudgetInherited', pred.address]]);
    expect(await chainOf(next)).toEqual([pred.address, ZeroAddress, false]);
    await expectRevert(send(admin(next), 'inheritBudgetFrom', pred.address), 'FedmeshStudyAlreadyInherits', [pred.address]);
  });

  it('refuses to inherit after any member was registered, even one removed since (its budget would have started at zero)', async () => {
    const pred = await deployFed(chain);
    await round(pred, [1, 2]);
    const next = await deployFed(chain, { members: [1] });
    await send(admin(pred), 'closeStudy', next.address);
    await send(admin(next), 'removeMember', addr(1));
    await expectRevert(send(admin(next), 'inheritBudgetFrom', pred.address), 'FedmeshStudyHasMembers');
    // Member 1 kept the zero budget it was registered with here: the refusal is what stops the evasion.
    expect(await rdpOf(next, 1)).toBe(0n);
  });

  it('a closed study cannot inherit (so no chain can loop), and δ must match', async () => {
    const pred = await deployFed(chain);
    const closed = await deployFed(chain, { members: [] });
    await send(admin(pred), 'closeStudy', closed.address);
    await send(admin(closed), 'closeStudy', pred.address);
    await expectRevert(send(admin(closed), 'inheritBudgetFrom', pred.address), 'FedmeshStudyClosed');
    // Caps are ε at δ: an ε cap at δ = 1e-3 would be a looser promise than the same ε at 1e-5.
    const pred2 = await deployFed(chain);
    const looser = await deployFed(chain, { members: [], delta: 10n ** 15n });
    await send(admin(pred2), 'closeStudy', looser.address);
    await expectRevert(send(admin(looser), 'inheritBudgetFrom', pred2.address), 'FedmeshStudyDeltaMismatch', [10n ** 15n, DELTA_E18]);
  });

  it('two successors cannot spend the same budget: the predecessor names one, forever', async () => {
    const pred = await deployFed(chain);
    await round(pred, [1, 2, 3]);
    const s2 = await successorOf(pred);
    const s3 = await deployFed(chain, { members: [] });
    // s3 claims the same budget: pred did not name it, and pred cannot be re-closed to name it.
    await expectRevert(send(admin(s3), 'inheritBudgetFrom', pred.address), 'FedmeshStudyNotNamed', [pred.address, s2.address]);
    await expectRevert(send(admin(pred), 'closeStudy', s3.address), 'FedmeshStudyClosed');
    // Nor can s3 run beside s2 on s2's budget: s2 names nobody until it is closed itself.
    await expectRevert(send(admin(s3), 'inheritBudgetFrom', s2.address), 'FedmeshStudyNotNamed', [s2.address, ZeroAddress]);
    // And pred, the budget's first holder, runs no more rounds beside s2.
    await expectRevert(send(as(pred.contract, signerOf(chain, 1)), 'openRound'), 'FedmeshStudyClosed');
  });
});

describe('the budget across studies', () => {
  it('budget evaded: a member starts study 2 from study 1’s RDP, and a round that fits alone but not on top is refused', async () => {
    const heavy = encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 0.9, clipNorm: 1, steps: 100 });
    const one = declaredSpend(heavy);
    const epsOne = epsilonFromPacked(one, C_ALPHA);
    const epsTwo = epsilonFromPacked(addPacked(one, one), C_ALPHA);
    expect(epsTwo).toBeGreaterThan(epsOne);
    // A cap between one round's ε and two rounds': each study alone could afford its round.
    const capEps = Number((epsOne + epsTwo) / 2n) / 1e6;
    const capUnits = cap(capEps);
    const pred = await deployFed(chain, { members: [1, 2, 3, 4], cap: capEps });
    await round(pred, [4], heavy);
    expect(await rdpOf(pred, 4)).toBe(one);
    const next = await successorOf(pred);
    await addMembers(next, [1, 2, 3, 4], capEps);
    expect(await rdpOf(next, 4)).toBe(one);
    const budget = await view<{ epsilonSpent: bigint; remaining: bigint }>(next.contract, 'privacyBudgetOf', addr(4));
    expect(budget.epsilonSpent).toBe(epsOne);
    const { round: r, committee } = await openNext(chain, next);
    const [, , fits] = await view<[bigint, bigint, boolean]>(next.contract, 'budgetAfter', addr(4), r, one);
    expect(fits).toBe(false);
    const head = (await view<Hex32>(next.contract, 'headModelHash')) as Hex32;
    const rec = recordFor(chain, r, head, [4], { dpParams: heavy });
    await expectRevert(finalizeWith(chain, next, rec, committee.slice(0, 2)), 'FedmeshLedgerBudgetExceeded', [addr(4), epsTwo, capUnits]);
    // A member that spent nothing in study 1 can still pay the same round.
    const rec1 = recordFor(chain, r, head, [1], { dpParams: heavy });
    await finalizeWith(chain, next, rec1, committee.slice(0, 2));
    expect(await rdpOf(next, 1)).toBe(one);
  });

  it('a cap raised by the new study is lowered to the one the member had, also on remove and re-add; a newcomer keeps its own', async () => {
    const pred = await deployFed(chain, { members: [1, 2, 3], cap: 10 });
    await send(as(pred.contract, signerOf(chain, 2)), 'lowerEpsilonCap', cap(2));
    const next = await successorOf(pred);
    const r = await send(admin(next), 'addMember', addr(2), 'peer-2', '', cap(50), PROOF);
    expect(eventTuples(r, next.address, ['MemberAdded'])).toEqual([['MemberAdded', addr(2), 'peer-2', '', cap(2)]]);
    expect(await view(next.contract, 'epsilonCapAt', addr(2), 1)).toBe(cap(2));
    await send(admin(next), 'removeMember', addr(2));
    await send(admin(next), 'addMember', addr(2), 'peer-2', '', cap(100), PROOF);
    expect((await view<{ epsilonCap: bigint }>(next.lens, 'getMember', addr(2))).epsilonCap).toBe(cap(2));
    // A lower cap than the predecessor's is the member's choice and stands.
    await send(admin(next), 'addMember', addr(1), 'peer-1', '', cap(3), PROOF);
    expect((await view<{ epsilonCap: bigint }>(next.lens, 'getMember', addr(1))).epsilonCap).toBe(cap(3));
    // Never in the chain: nothing carried, its cap as given.
    expect(await carried(next, 7)).toEqual([0n, 0n, false]);
    await send(admin(next), 'addMember', addr(7), 'peer-7', '', cap(40), PROOF);
    expect((await view<{ epsilonCap: bigint }>(next.lens, 'getMember', addr(7))).epsilonCap).toBe(cap(40));
  });

  it('overcharge: the inherited spend is counted once — through later rounds, remove and re-add, and a chain of three', async () => {
    const s1 = await deployFed(chain, { members: [1, 2, 3, 4, 5] });
    await round(s1, [1, 4, 5]);
    const s2 = await successorOf(s1);
    // 4 joins study 2; 5 skips it and returns in study 3.
    await addMembers(s2, [1, 2, 3, 4]);
    expect(await rdpOf(s2, 4)).toBe(SPEND);
    await round(s2, [4]);
    const two = addPacked(SPEND, SPEND);
    expect(await rdpOf(s2, 4)).toBe(two);
    await send(admin(s2), 'removeMember', addr(4));
    await send(admin(s2), 'addMember', addr(4), 'peer-4', '', cap(10), PROOF);
    expect(await rdpOf(s2, 4)).toBe(two);
    expect(await carried(s2, 4)).toEqual([two, cap(10), true]);
    // 5 was never registered in s2: s2 carries s1's answer for it.
    expect(await carried(s2, 5)).toEqual([SPEND, cap(10), true]);
    const s3 = await successorOf(s2);
    await addMembers(s3, [1, 2, 3, 4, 5]);
    expect(await rdpOf(s3, 4)).toBe(two);
    expect(await rdpOf(s3, 5)).toBe(SPEND);
    expect(await rdpOf(s3, 1)).toBe(SPEND);
    expect(await rdpOf(s3, 2)).toBe(0n);
    // Credits are per study: nothing is inherited, so Σ creditsOf = totalCredits = 0 here.
    expect(await view(s3.contract, 'creditsOf', addr(4))).toBe(0n);
    expect(await view(s3.contract, 'totalCredits')).toBe(0n);
  });
});
