/**
 * Red team (H10, finding F12): one malicious committee member (c_a = 1 < 2t − m = 3 at (7, 5))
 * that leads turn 0 of both certified phases — position 0 does — chooses WHICH participants the
 * floors let it drop, and drops the honest ones. The key-set floor only bounds how many
 * (|U_2| ≥ ⌈α·|U_1|⌉, U_1 ⊇ every advertiser); the lock floor the same (|U_3| ≥ ⌈α·|U_2|⌉,
 * U_3 = ∩ of the cited views, one of them the leader's own view that omits honest inputs). With
 * α = 2/3 the leader keeps ⌈α²·n⌉ participants, so a coalition of ⌈α²·n⌉ − 1 participants
 * (5 of 12 here: the malicious member and 4 others) is every survivor but the victim: the sum
 * minus the coalition's own inputs is the victim's exact input. Every honest member endorses both
 * proposals (every rule holds), every honest survivor check passes (≥ k surviving neighbours,
 * connected) — but the victim has no honest surviving neighbour, which G1 in docs/threat-model.md
 * promises ("every honest survivor is padded by ≥ k honest surviving neighbours"). Without the
 * malicious leader the same 5 of 12 recover nothing (control test below): one member turns
 * "all other participants collude" into "5/12 collude".
 *
 * H8's F9 (attack-keyset-isolation.test.ts) is the extreme case (U_2 = 3) and is fixed; this is
 * the same attack inside the floors. The last test asserts the safe behaviour and fails today
 * (`it.fails`, F12 in /work/notes/redteam-findings.md).
 */
import { describe, expect, it } from 'vitest';
import type { KeySetProposalMsg } from '../../protocol/messages/secagg.js';
import { requiredSurvivors } from '../../protocol/secure-aggregation/floors.js';
import { decodeSum } from '../../protocol/secure-aggregation/quantize.js';
import { config } from './secagg-helpers.js';
import { deliverViews, LATE, lockAndReveal, maskInputs, setupRound, shareKeys, signView } from './secagg-round-harness.js';

const MALICIOUS = 'peer-000'; // committee position 0: leads turn 0 of the key set and of the lock
const COALITION = [MALICIOUS, 'peer-007', 'peer-008', 'peer-010', 'peer-011']; // colluding participants
const VICTIM = 'peer-009';
const KEPT_HONEST = ['peer-001', 'peer-002']; // honest participants the key set keeps, the lock drops

interface Outcome {
  keySetCertified: boolean;
  survivors: readonly string[];
  /** The coalition's estimate of the victim's integer input (sum minus its own inputs), per coordinate. */
  estimate: number[] | undefined;
  truth: number[];
}

function attack(malicious: boolean): Outcome {
  const r = setupRound({ n: 12, m: 7, t: 5, config: config(), seed: 'targeted-exclusion' });
  shareKeys(r);
  const all = [...r.parties];
  // Key set, turn 0. Malicious: U_1 = every advertiser, U_2 = victim + coalition + 2 honest (8 = ⌈2/3·12⌉).
  const honestProposal = r.members.get(MALICIOUS)!.proposeKeySet(0);
  const proposal: KeySetProposalMsg = malicious
    ? { ...honestProposal, advertised: all, shared: [VICTIM, ...COALITION, ...KEPT_HONEST].sort() }
    : honestProposal;
  if (malicious) expect(proposal.shared.length).toBe(requiredSurvivors(r.ctx.config.minSurvivorFraction, all.length));
  const endorsements = [];
  for (const id of r.committee) {
    const e = r.members.get(id)!.onKeySetProposal(proposal, { now: 0, turnStart: (t) => t * 1000 });
    if (e !== undefined) endorsements.push(e);
  }
  for (const m of r.members.values()) {
    m.learnKeySetProposal(proposal);
    for (const e of endorsements) if (e.sender !== m.self) m.addKeySetEndorse(e);
  }
  const truth = r.ints.get(VICTIM)!;
  if (endorsements.length < r.ctx.threshold) return { keySetCertified: false, survivors: [], estimate: undefined, truth };
  maskInputs(r, { proposal, endorsements }, proposal.shared);
  // Views: honest members list every input they hold; the malicious one omits the kept honest ones.
  const views = r.committee.map((id) =>
    id === MALICIOUS && malicious
      ? signView(
          r,
          id,
          proposal.shared.filter((p) => !KEPT_HONEST.includes(p)),
        )
      : signView(r, id),
  );
  deliverViews(r, views);
  // The lock, turn 0: the malicious leader's greedy choice starts from its own view.
  const lock = r.members.get(MALICIOUS)!.proposeLock(0);
  const lockEndorsements = r.committee.map((id) => r.members.get(id)!.onLockProposal(lock, LATE)!);
  const reveals = lockAndReveal(r, lockEndorsements);
  expect(reveals.length).toBeGreaterThanOrEqual(r.ctx.threshold);
  // Reveals are public: the coalition unmasks with its own member's state.
  const { sum, survivors } = r.members.get(MALICIOUS)!.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked])));
  const { values } = decodeSum(sum, survivors.length, r.ctx.config);
  const f = 2 ** r.ctx.config.fractionalBits;
  const estimate = truth.map((_, k) => Math.round(values[k]! * f - COALITION.reduce((a, p) => a + r.ints.get(p)![k]!, 0)));
  return { keySetCertified: true, survivors: survivors.map((e) => e.participant), estimate, truth };
}

describe('a turn-0 leader chooses which participants the floors drop (F12)', () => {
  it('control: with honest leaders, the same 5-of-12 coalition learns only victim + 6 honest inputs', () => {
    const o = attack(false);
    expect(o.survivors).toHaveLength(12);
    expect(o.estimate).not.toEqual(o.truth);
  });

  it('today: every honest member endorses both proposals; U_3 = victim + coalition; the victim’s input is recovered exactly', () => {
    const o = attack(true);
    expect(o.keySetCertified).toBe(true);
    expect([...o.survivors].sort()).toEqual([VICTIM, ...COALITION].sort());
    expect(o.estimate).toEqual(o.truth);
  });

  // F12: fails today — nothing stops a leader from dropping exactly the honest participants.
  it.fails('safe behaviour: no honest survivor is left without an honest surviving neighbour (nothing recovered)', () => {
    const o = attack(true);
    expect(o.estimate).not.toEqual(o.truth);
  });
});
