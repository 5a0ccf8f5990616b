/**
 * A late masker no longer charges its local privacy ledger for good (issue #13): a masked input
 * is charged PENDING (node/store/privacy-ledger.ts `chargePending`, counted) and the privacy guard
 * settles it by the chain's charge of its round (node/services/privacy-guard.ts `settle`) — on the
 * compiled contract, in-process Hardhat, through the real chain port (EthersFederationClient).
 *
 * Round 1: the committee charges U_3 = {1, 2, 4} (`chargeRound`, F18: before any reveal); member 3
 * masked too (after the lock) and is not in it: its entry becomes withheld and stops counting,
 * member 1's stays. Round 2 is aborted before any charge: every pending masked input of it is
 * withheld. The guard's ε then equals the chain's (never below it: member 1's charge is counted on
 * both sides); a plaintext release (`masked` off) is never settled away.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { createLogger } from '../../node/logger.js';
import { PrivacyGuard } from '../../node/services/privacy-guard.js';
import { MemoryPrivacyLedger } from '../../node/store/privacy-ledger.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import {
  as,
  CHAIN_ID,
  chargeFor,
  chargeWith,
  DP_PARAMS,
  deployFed,
  INITIAL,
  latestTimestamp,
  nextBlockAt,
  openNext,
  recordFor,
  send,
  signerOf,
  view,
} from './federation-fixture.js';
import { memberClient } from './charge-member-fixture.js';

let chain: InProcessChain;

beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

const silent = createLogger('silent');

describe('privacy guard: masked inputs settled by the chain’s charge', () => {
  it('an input the chain charged stays; one it charged without (a late masker) or of a round aborted uncharged stops counting', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2 });
    const deployment = { chainId: CHAIN_ID, contract: fed.address };
    // The bare ethers client (a block counts once mined); F31's reorg case: attack-ledger-settle-reorg.
    const node = (i: number, masked: boolean) => {
      const ledger = new MemoryPrivacyLedger(deployment);
      const guard = new PrivacyGuard({ epochs: 1, masked }, { fed: memberClient(chain, fed, i).client, log: silent, ledger });
      return { ledger, guard };
    };
    const charged = node(1, true);
    const late = node(3, true);
    const plain = node(5, false);

    // Round 1: every node charges itself before its input leaves; the committee charges U_3 = {1, 2, 4}.
    const r1 = await openNext(chain, fed);
    for (const n of [charged, late, plain]) n.guard.charge(r1.round, DP_PARAMS);
    expect(late.ledger.pending().map((e) => e.round)).toEqual([r1.round]);
    expect(plain.ledger.pending()).toEqual([]);
    const spend = declaredSpend(DP_PARAMS);
    expect(late.ledger.spent()).toBe(spend); // pending counts
    // While the round is unsettled on chain (open, uncharged) nothing moves.
    expect(await late.guard.settle(r1.round + 1)).toEqual([]);
    expect(late.ledger.spent()).toBe(spend);
    await chargeWith(chain, fed, chargeFor(recordFor(chain, r1.round, INITIAL, [1, 2, 4])), r1.committee.slice(0, 2));

    expect(await late.guard.settle(r1.round + 1)).toEqual([{ round: r1.round, outcome: 'withheld' }]);
    expect(late.ledger.spent()).toBe(0n);
    expect(late.ledger.entries()).toEqual([{ ...deployment, round: r1.round, dpParams: DP_PARAMS, status: 'withheld' }]);
    expect(await charged.guard.settle(r1.round + 1)).toEqual([{ round: r1.round, outcome: 'charged' }]);
    expect(charged.ledger.entries()).toEqual([{ ...deployment, round: r1.round, dpParams: DP_PARAMS }]);
    expect(charged.ledger.spent()).toBe(spend);
    // Never below the chain: the local ledgers equal what the contract charged each member.
    expect(await view<bigint>(fed.contract, 'rdpOf', signerOf(chain, 1).address)).toBe(charged.ledger.spent());
    expect(await view<bigint>(fed.contract, 'rdpOf', signerOf(chain, 3).address)).toBe(late.ledger.spent());
    // A plaintext update is released when published: nothing to settle.
    expect(await plain.guard.settle(r1.round + 1)).toEqual([]);
    expect(plain.ledger.spent()).toBe(spend);

    // Round 2 is aborted before any charge (no b_i was revealed: reveals wait for the charge).
    const state = await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', r1.round);
    await nextBlockAt(chain, Math.max(Number(state.finalizeDeadline), await latestTimestamp(chain)) + 1);
    await send(as(fed.contract, signerOf(chain, 1)), 'abortRound'); // round 1 (charged) closes
    const r2 = await openNext(chain, fed);
    for (const n of [charged, late]) n.guard.charge(r2.round, DP_PARAMS);
    // Settling runs in beforeRound: round 2 is still open, so it stays counted there.
    const before = await charged.guard.beforeRound(r2.round + 1);
    expect(charged.ledger.pending().map((e) => e.round)).toEqual([r2.round]);
    expect(before?.epsilonSpent).toBeGreaterThan(0);
    const s2 = await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', r2.round);
    await nextBlockAt(chain, Math.max(Number(s2.finalizeDeadline), await latestTimestamp(chain)) + 1);
    await send(as(fed.contract, signerOf(chain, 1)), 'abortRound');
    await charged.guard.beforeRound(r2.round + 1);
    await late.guard.beforeRound(r2.round + 1);
    expect(charged.ledger.pending()).toEqual([]);
    expect(charged.ledger.spent()).toBe(spend); // round 1 only, as on chain
    expect(late.ledger.spent()).toBe(0n);
    // The guard's ε for the late masker is now the chain's for a member charged nothing (as member 3 is).
    expect(late.guard.status()!.epsilonSpent).toBeLessThan(charged.guard.status()!.epsilonSpent);
    expect(await view<bigint>(fed.contract, 'rdpOf', signerOf(chain, 3).address)).toBe(0n);
  }, 180_000);
});
