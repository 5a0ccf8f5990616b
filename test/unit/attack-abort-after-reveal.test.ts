/**
 * Red team (H10, F18's second route): one participant, alone, makes a round abort AFTER the reveals
 * and still learns the exact sum. It adds a large value to one coordinate of its masked input after
 * masking (the pads cancel, the addition stays): every honest member's `decodeSum` refuses the sum
 * (SECAGG_OUT_OF_RANGE), nothing is signed or recorded, so the chain charges no participant. But the
 * reveals are public gossip, so the attacker unmasks like a member, subtracts its own addition and
 * has the exact sum over U_3 — a release the on-chain ledger never sees (each honest node's local
 * ledger does: it charged before its input left). docs/secure-aggregation.md lists the abort as
 * denial of service only.
 *
 * F18's fix: a committee member reveals only once the ledger charged exactly the certified lock's
 * U_3 (committee-member.ts `requireCharge`, `lockToCharge`, `lockCharged`; the node charges with
 * `chargeRound` on chain, test/contracts/federation-charge.test.ts). The attacker may still get the
 * sum; the safe property is now: every participant whose input the reveals release is charged
 * before the first reveal. The ledger here is the members' view of the chain's charge (a map of
 * what `chargeRound` charged); without a charge no member reveals.
 */
import { describe, expect, it } from 'vitest';
import { decodeSum } from '../../protocol/secure-aggregation/quantize.js';
import { addRing, subRing } from '../../protocol/secure-aggregation/ring.js';
import { codeOf, config } from './secagg-helpers.js';
import { certifyKeySet, deliverViews, LATE, lockAndReveal, maskInputs, setupRound, shareKeys, signView } from './secagg-round-harness.js';

const ATTACKER = 'peer-009';

interface Outcome {
  /** The attacker's sum equals the plain sum of every input, coordinate by coordinate. */
  readonly exact: boolean;
  /** Reveals made before the ledger charged anything. */
  readonly revealsBeforeCharge: number;
  /** Participants whose inputs the unmasked sum contains (U_3). */
  readonly released: readonly string[];
  /** Participants the ledger charged before the first reveal. */
  readonly chargedBeforeFirstReveal: readonly string[];
}

/** Runs the round with every member requiring the charge before it reveals. */
function attack(): Outcome {
  const r = setupRound({ n: 10, m: 7, t: 5, config: config(), seed: 'abort-after-reveal' });
  for (const id of r.committee) r.members.get(id)!.requireCharge();
  shareKeys(r);
  const ks = certifyKeySet(r);
  maskInputs(r, ks, r.parties);
  // After masking: + 2^62 on coordinate 0 (and nothing else).
  const bump = new Uint32Array(r.payloads.get(ATTACKER)!.masked.length);
  bump[1] = 1 << 30; // high word of coordinate 0: 2^62
  addRing(r.payloads.get(ATTACKER)!.masked, bump);
  deliverViews(
    r,
    r.committee.map((id) => signView(r, id)),
  );
  const lock = r.members.get(r.committee[0]!)!.proposeLock(0);
  const endorsements = r.committee.map((id) => r.members.get(id)!.onLockProposal(lock, LATE)!);
  // Certified, not yet charged: nobody reveals.
  const revealsBeforeCharge = lockAndReveal(r, endorsements).length;
  // The chain charges the certified lock's U_3 (chargeRound); each member sees the charge.
  const toCharge = r.members.get(r.committee[0]!)!.lockToCharge()!;
  const ledger = new Set(toCharge.survivors.map((e) => e.participant));
  const chargedBeforeFirstReveal = [...ledger];
  for (const id of r.committee) r.members.get(id)!.lockCharged(toCharge.digest);
  const reveals = lockAndReveal(r, []);
  expect(reveals).toHaveLength(7);
  const inputs = new Map([...r.payloads].map(([id, x]) => [id, x.masked]));
  let unmasked: { sum: Uint32Array; survivors: number } | undefined;
  for (const id of r.committee) {
    const { sum, survivors } = r.members.get(id)!.unmask(inputs);
    expect(codeOf(() => decodeSum(sum, survivors.length, r.ctx.config))).toBe('SECAGG_OUT_OF_RANGE');
    unmasked = { sum: sum.slice(), survivors: survivors.length };
  }
  // The attacker: the same unmasking from public messages (reveals and masked inputs are gossip;
  // the sum above is what any holder of them computes), minus its own addition.
  const { sum, survivors } = unmasked!;
  subRing(sum, bump);
  const { values } = decodeSum(sum, survivors, r.ctx.config);
  const f = 2 ** r.ctx.config.fractionalBits;
  const exact = values.every((v, k) => Math.round(v * f) === r.parties.reduce((a, p) => a + r.ints.get(p)![k]!, 0));
  const released = r.members.get(r.committee[0]!)!.followedSurvivors.map((e) => e.participant);
  return { exact, revealsBeforeCharge, released, chargedBeforeFirstReveal };
}

describe('a participant aborts the round after the reveals and keeps the sum (F18, second route)', () => {
  it('the route remains: every honest member refuses the sum; the attacker, from public reveals, has it exactly', () => {
    expect(attack().exact).toBe(true);
  });

  it('safe behaviour: every participant whose input the reveals release is charged before the first reveal', () => {
    const o = attack();
    expect(o.revealsBeforeCharge).toBe(0);
    expect(o.released).toHaveLength(10);
    expect([...o.chargedBeforeFirstReveal].sort()).toEqual([...o.released].sort());
  });
});
