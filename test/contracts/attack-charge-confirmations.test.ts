/**
 * Red team F29 (H-red, 2026-12-07 late): a committee member reveals on a charge that has no
 * confirmations, whatever `chain.confirmations` says.
 *
 * A secure round's members reveal their shares only once the chain holds the charge of their
 * lock's U_3 (F18, node/services/lock-charger.ts). The member learns that by polling
 * `getRound(round).chargedHash` at the latest block; the daemon's `chain.confirmations`
 * ("blocks on top of a transaction before it counts", node/config/node-config.ts) is applied by
 * ResilientFederationClient to the member's own writes only. So a member configured with
 * confirmations: 3 reveals on a charge in the head block. A one-block reorg that drops it — at
 * the finalize deadline, so the re-broadcast charge reverts `FedmeshRoundsDeadlinePassed` —
 * leaves a released U_3 that no ledger on the canonical chain charges (F18's "released but never
 * charged", by the chain rather than by a member).
 *
 * Real contract on in-process Hardhat, the real EthersFederationClient inside the daemon's
 * ResilientFederationClient (confirmations 3), the real LockCharger at committee position 1.
 * The reorg is `evm_revert` to a snapshot taken before the charge's block: depth 1, less than
 * the configured 3.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { systemClock } from '../../node/clock.js';
import { chargeMember, untilStaged } from './charge-member-fixture.js';
import {
  as,
  chargeFor,
  chargeWith,
  deployFed,
  FED_IFACE,
  hash,
  INITIAL,
  mineAt,
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

describe('F29: the reveal gate honours the configured confirmations', () => {
  /** The member at position 1 answers a charge the other two submitted; `withReorg`: a one-block reorg right after it first reads it. */
  async function memberAnswer(withReorg: boolean) {
    const fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5] });
    const { round, committee } = await openNext(chain, fed);
    const participants = [4, 5];
    const lock = hash(0x42);
    const charge = chargeFor(recordFor(chain, round, INITIAL, participants), lock);

    // Instrumentation only: once the member has read the charge, stage the reorg right after
    // (a macrotask later, so whatever the member does synchronously with that read is done).
    let reorg: Promise<void> | undefined;
    /** How many of the member's state reads found the charge. */
    let seen = 0;
    const snapshot = (await chain.provider.send('evm_snapshot', [])) as string;
    const doReorg = async (): Promise<void> => {
      expect(await chain.provider.send('evm_revert', [snapshot])).toBe(true);
    };
    // The member under test: the daemon's client stack, confirmations 3.
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
        if (state?.chargedHash !== undefined) seen++;
        if (state?.chargedHash !== undefined && reorg === undefined && withReorg) {
          reorg = new Promise<void>((resolve, reject) => setTimeout(() => doReorg().then(resolve, reject), 0));
        }
      },
    });

    // The other two members' charge signatures reach the chain (any peer may submit them).
    const landed = await chargeWith(chain, fed, charge, [committee[0]!, committee[2]!], 6);
    const chargeBlock = landed.blockNumber;
    expect(((await view<{ chargedHash: string }>(fed.contract, 'getRound', round)) as { chargedHash: string }).chargedHash).not.toBe(
      `0x${'00'.repeat(32)}`,
    );

    const answer = member.answer();
    if (!withReorg) {
      // Control: no reorg. Mine the two blocks the member waits for; its answer must come after them.
      let answered = false;
      const resolvedAt = answer.then(async (r) => {
        answered = true;
        return { r, head: await chain.provider.getBlockNumber() };
      });
      // The member has read the charge twice (it polls) and still not answered: 0 blocks on top.
      while (seen < 2 && !answered) await systemClock.sleep(20);
      expect(answered).toBe(false);
      for (let i = 0; i < CONFIRMATIONS - 1; i++) await chain.provider.send('evm_mine', []);
      const { r, head } = await resolvedAt;
      member.close();
      return { result: r, head, chargeBlock };
    }
    // Wait (on events, not time) until the member has read the charge and the reorg is staged.
    await untilStaged(() => reorg !== undefined, answer);
    await reorg;
    // The head moved back to before the charge's block: depth 1 < confirmations.
    expect(await chain.provider.getBlockNumber()).toBe(chargeBlock - 1);
    // The reorg lands at the finalize deadline: the re-broadcast charge is too late.
    const info = (await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', round)) as { finalizeDeadline: bigint };
    await mineAt(chain, Number(info.finalizeDeadline) + 1);
    const again = await chargeWith(chain, fed, charge, [committee[0]!, committee[2]!], 6).catch((e: { data?: string }) => e);
    expect(FED_IFACE.parseError((again as { data?: string }).data ?? '0x')?.name).toBe('FedmeshRoundsDeadlinePassed');
    await send(as(fed.contract, signerOf(chain, 1)), 'abortRound');
    // The chain goes on: the abort gets the confirmations the member waits for before it gives up (F30).
    for (let i = 0; i < CONFIRMATIONS - 1; i++) await chain.provider.send('evm_mine', []);
    // On the canonical chain nobody in U_3 is charged.
    for (const i of participants) expect(await view<bigint>(fed.contract, 'rdpOf', signerOf(chain, i).address)).toBe(0n);

    const result = await answer;
    member.close();
    return { result, head: await chain.provider.getBlockNumber(), chargeBlock };
  }

  it('a member configured with confirmations: 3 is not told "charged" for a charge a one-block reorg removes', async () => {
    // Safe: a member never hears "charged" (and so never reveals) for a charge the canonical
    // chain does not hold. Before the fix: charged: true, read from the head block, 0 blocks on top.
    const { result } = await memberAnswer(true);
    expect(result.charged).toBe(false);
  }, 120_000);

  it('control: without a reorg the same member answers "charged" once the charge has 2 blocks on top, not before', async () => {
    const { result, head, chargeBlock } = await memberAnswer(false);
    expect(result.charged).toBe(true);
    expect(head).toBeGreaterThanOrEqual(chargeBlock + CONFIRMATIONS - 1);
  }, 120_000);
});
