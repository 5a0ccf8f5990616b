/**
 * Red team F30 (H-red, 2026-12-07 late): the mirror of F29 — a committee member gives up on a
 * lock's charge because of an abort it read at the head block, and a shallow reorg then makes
 * the charge the canonical history: U_3 is charged for a release that never happens.
 *
 * F21's rule (node/services/lock-charger.ts): a member that signed the charge keeps watching
 * until the chain answers, because the t charge signatures are public and anyone can land them
 * while the round is open; "charged, so released — never the reverse". The answer "the round is
 * no longer open" (`CHAIN_ROUND_NOT_OPEN`) is read at the head, whatever the configured
 * `chain.confirmations`: an `abortRound` mined just past the finalize deadline in one branch, and
 * the charge mined just before it in the other (both are public transactions racing at the
 * deadline), make every member that saw the abort branch refuse for good. When the charge's
 * branch wins, every participant of U_3 is charged (and credited), nobody reveals, and the round
 * aborts later: F21's overcharge, by a one-block reorg instead of a delaying network.
 *
 * Real contract on in-process Hardhat; the daemon's client stack (EthersFederationClient inside
 * ResilientFederationClient, confirmations 3); the real LockCharger at committee position 1.
 * The reorg is `evm_revert` to a snapshot taken before the abort's blocks (depth 2 < 3).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { participantsHash } from '../../protocol/chain/charge.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import { chargeMember, untilStaged } from './charge-member-fixture.js';
import {
  as,
  chargeFor,
  chargeWith,
  DP_PARAMS,
  deployFed,
  hash,
  INITIAL,
  mineAt,
  nextBlockAt,
  openNext,
  recordFor,
  send,
  signerOf,
  view,
} from './federation-fixture.js';

let chain: InProcessChain;

beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

const CONFIRMATIONS = 3;

describe('F30: a member does not give up on an unconfirmed abort', () => {
  /**
   * The member's answer when it reads an abort at the head and a reorg then lands the charge
   * instead. `quick`: the abort is mined in the block right after the round's opening, so the
   * confirmed view (head − 2) is from before the round existed (status none).
   */
  async function answerAfterSwappedAbort(quick: boolean) {
    const fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5] });
    const { round, committee } = await openNext(chain, fed);
    const participants = [4, 5];
    const rec = recordFor(chain, round, INITIAL, participants);
    const lock = hash(0x43);
    const charge = chargeFor(rec, lock);
    const { finalizeDeadline } = (await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', round)) as {
      finalizeDeadline: bigint;
    };

    // Branch B (seen first by the member): anyone's abortRound past the deadline — in a block of
    // its own after an empty one, or (quick) in the very next block after the opening.
    const snapshot = (await chain.provider.send('evm_snapshot', [])) as string;
    const forkBlock = await chain.provider.getBlockNumber();
    if (quick) await nextBlockAt(chain, Number(finalizeDeadline) + 1);
    else await mineAt(chain, Number(finalizeDeadline) + 1);
    await send(as(fed.contract, signerOf(chain, 6)), 'abortRound');

    // Branch A wins (instrumentation): once the member has read the abort, a macrotask later,
    // revert to before branch B and mine the charge before the deadline, plus the blocks the
    // member's confirmations need.
    let reorg: Promise<void> | undefined;
    const switchBranch = async (): Promise<void> => {
      expect(await chain.provider.send('evm_revert', [snapshot])).toBe(true);
      expect(await chain.provider.getBlockNumber()).toBe(forkBlock);
      await chargeWith(chain, fed, charge, [committee[0]!, committee[2]!], 6);
      for (let i = 0; i < CONFIRMATIONS - 1; i++) await chain.provider.send('evm_mine', []);
    };
    // The member under test: the daemon's client stack, confirmations 3, at position 1.
    const member = await chargeMember({
      chain,
      fed,
      round,
      committee,
      me: committee[1]!,
      lock,
      participants,
      confirmations: CONFIRMATIONS,
      onRead: (state) => {
        if (state?.status === 'aborted' && reorg === undefined) {
          reorg = new Promise<void>((resolve, reject) => setTimeout(() => switchBranch().then(resolve, reject), 0));
        }
      },
    });
    const answer = member.answer();
    // Wait (on events) until the member has read the abort and the branch switch is staged.
    await untilStaged(() => reorg !== undefined, answer);
    await reorg;
    // The canonical chain: U_3 charged (spend and credit), the round still open until someone aborts it.
    const state = (await view<{ chargedHash: string; status: bigint }>(fed.contract, 'getRound', round)) as {
      chargedHash: string;
      status: bigint;
    };
    expect(state.chargedHash).toBe(participantsHash(rec.participants));
    for (const i of participants)
      expect(await view<bigint>(fed.contract, 'rdpOf', signerOf(chain, i).address)).toBe(declaredSpend(DP_PARAMS));

    const result = await answer;
    member.close();
    return result;
  }

  it('the abort a member read is reorged away and the charge lands instead: the member still answers "charged" (reveals), never leaves U_3 charged and unrevealed', async () => {
    // Safe (F21's rule): the charge the canonical chain holds is answered "charged", so the
    // member reveals. Before the fix: CHAIN_ROUND_NOT_OPEN from the head block of the losing branch.
    expect(await answerAfterSwappedAbort(false)).toMatchObject({ charged: true });
  }, 120_000);

  // F37 (H-red, 22:50): 5763df2 refuses when the confirmed view is not 'open' — including a
  // confirmed view from before the round was opened (getRound → undefined, status none). A round
  // opened and aborted within the confirmation depth (a finalize window shorter than
  // confirmations × block time; or the open and the abort in consecutive blocks) is then given up
  // on an unconfirmed abort, F30 again.
  it('the same when the abort came in the block right after the opening (confirmed view: no round yet): still "charged"', async () => {
    expect(await answerAfterSwappedAbort(true)).toMatchObject({ charged: true });
  }, 120_000);
});
