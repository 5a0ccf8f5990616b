/**
 * Red team coverage (H-red, 2026-12-07 late; passes): a committee member reveals only for the
 * charge of exactly its lock's U_3 — never when the chain charged a different set.
 *
 * node/services/lock-charger.ts answers `charged` (so the member reveals: b_i shares of U_3) only
 * when the round's `chargedHash` is the participants hash of its own lock's lines; any other
 * charge is the refusal CHAIN_CHARGE_MISMATCH. A charge missing someone of U_3 would release that
 * participant's input uncharged; a charge naming someone outside U_3 would charge a participant
 * whose input is not released (and leave a real survivor uncharged). Either set can reach the
 * chain only with t committee signatures over it (G2 makes a second certified lock impossible
 * below the bound), so this is the member's last line, tested on its own: a chain holding the
 * subset, a superset, the same set under other DP parameters, and (control) exactly U_3.
 *
 * Real contract on in-process Hardhat, the real EthersFederationClient, the real LockCharger.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { encodeDpParams } from '../../protocol/chain/dp-params.js';
import { chargeMember } from './charge-member-fixture.js';
import { chargeFor, chargeWith, DP_PARAMS, deployFed, hash, INITIAL, openNext, recordFor } from './federation-fixture.js';

let chain: InProcessChain;

beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

/** What the member at committee position 1 answers for its lock U_3 = {4, 5} when the chain holds `onChain`. */
async function answerFor(onChain: { participants: number[]; dpParams?: bigint }) {
  const fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5, 6] });
  const { round, committee } = await openNext(chain, fed);
  // The chain's charge: t = 2 committee signatures (the member's own is not needed for it).
  const landedRec = recordFor(chain, round, INITIAL, onChain.participants, { dpParams: onChain.dpParams ?? DP_PARAMS });
  await chargeWith(chain, fed, chargeFor(landedRec, hash(0x51)), [committee[0]!, committee[2]!], 7);
  const member = await chargeMember({ chain, fed, round, committee, me: committee[1]!, lock: hash(0x52), participants: [4, 5] });
  try {
    return await member.answer();
  } finally {
    member.close();
  }
}

describe('a member reveals only for the charge of exactly its U_3', () => {
  it('the chain charged a subset of U_3 (a survivor uncharged): CHAIN_CHARGE_MISMATCH, no reveal', async () => {
    const r = await answerFor({ participants: [4] });
    expect(r).toMatchObject({ charged: false, refusal: { code: 'CHAIN_CHARGE_MISMATCH' } });
  }, 120_000);

  it('the chain charged a superset (someone outside U_3): CHAIN_CHARGE_MISMATCH, no reveal', async () => {
    const r = await answerFor({ participants: [4, 5, 6] });
    expect(r).toMatchObject({ charged: false, refusal: { code: 'CHAIN_CHARGE_MISMATCH' } });
  }, 120_000);

  it('the chain charged U_3 under other DP parameters (a smaller spend): CHAIN_CHARGE_MISMATCH, no reveal', async () => {
    const cheaper = encodeDpParams({ sampleRate: 0.001, noiseMultiplier: 5, clipNorm: 1, steps: 1 });
    const r = await answerFor({ participants: [4, 5], dpParams: cheaper });
    expect(r).toMatchObject({ charged: false, refusal: { code: 'CHAIN_CHARGE_MISMATCH' } });
  }, 120_000);

  it('control: the chain charged exactly U_3: charged (the member reveals)', async () => {
    const r = await answerFor({ participants: [4, 5] });
    expect(r).toMatchObject({ charged: true });
  }, 120_000);
});
