/**
 * Red team (H10, finding F18): docs/threat-model.md I6 says "no participant or admin action after
 * the opening makes a round revert (M-1, released but never charged)". The admin suspending
 * committee members is such an action: suspended members' signatures are not counted (L-7, on
 * purpose), so suspending m − t + 1 members of a round's committee after the committee unmasked
 * the sum (the inputs are released to it) leaves no quorum; the round can only be aborted, and the
 * chain charges none of its participants. Each node's local privacy ledger still holds the charge
 * (node/store/privacy-ledger.ts: charged before the input left), so the nodes' own guards stay
 * right; the chain's budgets and the audit under-state the release.
 *
 * F18's fix: the committee charges U_3 with `chargeRound` before any share is revealed (the
 * reveals are what release the inputs), so the suspension can still stop the record but no
 * longer the charge. The first test shows the suspension still blocks the record; the second
 * asserts the safe property: every participant whose input the reveals release is charged on
 * chain before the first reveal, and the abort leaves the charge.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import {
  as,
  chargeFor,
  chargeWith,
  deployFed,
  FED_IFACE,
  finalizeWith,
  latestTimestamp,
  nextBlockAt,
  openNext,
  recordFor,
  send,
  signerOf,
  view,
} from './federation-fixture.js';

let chain: InProcessChain;
const addr = (i: number) => signerOf(chain, i).address;

/**
 * A round at (3, 2): the committee charges U_3 (as every honest member requires before it
 * reveals), reveals and unmasks the sum and signs its record; then the admin suspends 2 of the 3.
 */
async function suspendedAfterRelease(): Promise<{
  charged: bigint[];
  chargedBeforeReveal: bigint[];
  finalized: boolean;
  revert: string | undefined;
}> {
  const fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5] });
  const { round, committee } = await openNext(chain, fed);
  const participants = [1, 2, 3, 4, 5];
  const head = (await view<Hex32>(fed.contract, 'headModelHash')) as Hex32;
  const rec = recordFor(chain, round, head, participants);
  // The charge lands before any reveal (the committee member's gate); the reveals happen here.
  await chargeWith(chain, fed, chargeFor(rec), committee.slice(0, 2));
  const chargedBeforeReveal = await Promise.all(participants.map((i) => view<bigint>(fed.contract, 'rdpOf', addr(i))));
  for (const k of committee.slice(0, 2)) await send(as(fed.contract, signerOf(chain, 0)), 'suspendMember', addr(k));
  // A quorum of the committee's signatures exists, but only one counts: nobody can record the round.
  const revert = await finalizeWith(chain, fed, rec, committee).then(
    () => undefined,
    (e: { data?: string }) => FED_IFACE.parseError(e.data ?? '0x')?.name ?? String(e),
  );
  const finalized = revert === undefined;
  if (!finalized) {
    const info = await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', round);
    await nextBlockAt(chain, Math.max(Number(info.finalizeDeadline), await latestTimestamp(chain)) + 1);
    await send(as(fed.contract, signerOf(chain, committee[2]!)), 'abortRound');
  }
  const charged = await Promise.all(participants.map((i) => view<bigint>(fed.contract, 'rdpOf', addr(i))));
  return { charged, chargedBeforeReveal, finalized, revert };
}

describe('suspending committee members after the unmasking (F18)', () => {
  beforeAll(async () => {
    chain = await startInProcessChain();
  }, 120_000);

  it('the suspension still blocks the record: the round cannot be finalized and is aborted', async () => {
    const o = await suspendedAfterRelease();
    expect(o.finalized).toBe(false);
    expect(o.revert).toBe('FedmeshRoundsInsufficientSignatures');
  }, 120_000);

  it('safe behaviour: every participant whose input the reveals release is charged on chain before the first reveal, and stays charged', async () => {
    const o = await suspendedAfterRelease();
    expect(o.chargedBeforeReveal.every((c) => c > 0n)).toBe(true);
    expect(o.charged).toEqual(o.chargedBeforeReveal);
  }, 120_000);
});
