/**
 * Red team (H10, finding F12): one malicious committee member (c_a = 1 < 2t − m = 3 at (7, 5))
 * that leads turn 0 of both certified phases — position 0 does — chose WHICH participants the
 * floors let it drop, and dropped the honest ones: key set U_2 = victim + coalition + 2 honest
 * (8 = ⌈2/3·12⌉), lock U_3 = ∩ of cited views with its own view omitting the 2 honest
 * (6 = ⌈2/3·8⌉). 5 of 12 colluding participants then recovered the victim's exact input.
 *
 * Fixed (committee-member.ts, F12): an honest member refuses a U_2 that leaves out a U_1
 * participant whose share and commitment it holds unless that participant is provably unusable
 * (`provablyUnusable`: ≥ m − t + 1 members not addressed, or ≥ c + 1 = 3 complaints), and a lock
 * whose U_3 leaves out an input of its own view that ≥ t views it holds carry (`checkLock`). The
 * tests below: the original attack (key-set half refused by every honest member: nothing
 * certified, nothing revealed), the lock half alone (refused; the next leader keeps everyone),
 * the control, and what still isolates a victim — real dropouts (F12 cannot tell a participant
 * that never sent its shares or input from one a leader dropped, and need not: the floors bound
 * how many real dropouts a sum may have, never which).
 */
import { describe, expect, it } from 'vitest';
import type { KeySetProposalMsg, ProposalMsg, SignedView } from '../../protocol/messages/secagg.js';
import type { SecAggError } from '../../protocol/secure-aggregation/errors.js';
import { requiredSurvivors } from '../../protocol/secure-aggregation/floors.js';
import { decodeSum } from '../../protocol/secure-aggregation/quantize.js';
import { deriveLock } from '../../protocol/secure-aggregation/views.js';
import { config } from './secagg-helpers.js';
import { deliverViews, LATE, lockAndReveal, maskInputs, type Round, setupRound, shareKeys, signView } from './secagg-round-harness.js';

const MALICIOUS = 'peer-000'; // committee position 0: leads turn 0 of the key set and of the lock
const COALITION = [MALICIOUS, 'peer-007', 'peer-008', 'peer-010', 'peer-011']; // colluding participants
const VICTIM = 'peer-009';
const KEPT_HONEST = ['peer-001', 'peer-002']; // honest participants the key set keeps, the lock drops
const DROPPED_HONEST = ['peer-003', 'peer-004', 'peer-005', 'peer-006']; // honest participants the key set drops
const CLOCK = { now: 1e12, turnStart: (t: number) => t * 1000 };

/** The coalition's estimate of the victim's integer input: the unmasked sum minus its own inputs. */
function estimate(r: Round, by = MALICIOUS): { survivors: string[]; estimate: number[] } {
  // Reveals are public: any member's unmask is the coalition's.
  const { sum, survivors } = r.members.get(by)!.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked])));
  const { values } = decodeSum(sum, survivors.length, r.ctx.config);
  const f = 2 ** r.ctx.config.fractionalBits;
  const truth = r.ints.get(VICTIM)!;
  return {
    survivors: survivors.map((e) => e.participant),
    estimate: truth.map((_, k) => Math.round(values[k]! * f - COALITION.reduce((a, p) => a + r.ints.get(p)![k]!, 0))),
  };
}

/** Offer a key-set proposal to every member; endorsements, and the refusal reasons by member. */
function offerKeySet(r: Round, proposal: KeySetProposalMsg) {
  const endorsements = [];
  const refused = new Map<string, string>();
  for (const id of r.committee) {
    try {
      const e = r.members.get(id)!.onKeySetProposal(proposal, CLOCK);
      if (e !== undefined) endorsements.push(e);
    } catch (e) {
      refused.set(id, String((e as SecAggError).fields.reason ?? (e as SecAggError).code));
    }
  }
  if (endorsements.length >= r.ctx.threshold)
    for (const m of r.members.values()) {
      m.learnKeySetProposal(proposal);
      for (const e of endorsements) if (e.sender !== m.self) m.addKeySetEndorse(e);
    }
  return { endorsements, refused };
}

/** Offer a lock proposal to every member; endorsements, and the refusal reasons by member. */
function offerLock(r: Round, lock: ProposalMsg) {
  const endorsements = [];
  const refused = new Map<string, string>();
  for (const id of r.committee) {
    try {
      const e = r.members.get(id)!.onLockProposal(lock, LATE);
      if (e !== undefined) endorsements.push(e);
    } catch (e) {
      refused.set(id, String((e as SecAggError).fields.reason ?? (e as SecAggError).code));
    }
  }
  return { endorsements, refused };
}

/** The malicious leader's lock: its own view (omitting `omit`) and four honest views; U_3 = their intersection. */
function maliciousLock(r: Round, views: readonly SignedView[], shared: readonly string[], turn = 0): ProposalMsg {
  const cited = views.filter((v) => ['peer-000', 'peer-001', 'peer-002', 'peer-003', 'peer-004'].includes(v.member));
  const { survivors, dropped } = deriveLock(cited, shared);
  const base = r.members.get(MALICIOUS)!.proposeLock(turn);
  return { ...base, survivors: survivors.map((e) => e.participant), dropped, views: cited };
}

describe('a turn-0 leader chooses which participants the floors drop (F12)', () => {
  it('control: with honest leaders, the same 5-of-12 coalition learns only victim + 6 honest inputs', () => {
    const r = setupRound({ n: 12, m: 7, t: 5, config: config(), seed: 'targeted-exclusion' });
    shareKeys(r);
    const proposal = r.members.get(MALICIOUS)!.proposeKeySet(0);
    const ks = offerKeySet(r, proposal);
    expect(ks.endorsements).toHaveLength(7);
    maskInputs(r, { proposal, endorsements: ks.endorsements }, proposal.shared);
    const views = r.committee.map((id) => signView(r, id));
    deliverViews(r, views);
    const lock = offerLock(r, r.members.get(MALICIOUS)!.proposeLock(0));
    lockAndReveal(r, lock.endorsements);
    const o = estimate(r);
    expect(o.survivors).toHaveLength(12);
    expect(o.estimate).not.toEqual(r.ints.get(VICTIM));
  });

  it('the attack: every honest member refuses the U_2 that leaves out honest participants whose shares it holds — nothing certified, nothing revealed', () => {
    const r = setupRound({ n: 12, m: 7, t: 5, config: config(), seed: 'targeted-exclusion' });
    shareKeys(r);
    const all = [...r.parties];
    const proposal: KeySetProposalMsg = {
      ...r.members.get(MALICIOUS)!.proposeKeySet(0),
      advertised: all,
      shared: [VICTIM, ...COALITION, ...KEPT_HONEST].sort(),
    };
    expect(proposal.shared.length).toBe(requiredSurvivors(r.ctx.config.minSurvivorFraction, all.length)); // inside the floor
    const { endorsements, refused } = offerKeySet(r, proposal);
    // (The malicious member's own instance follows the rules too here; it would endorse in the attack.)
    expect(endorsements.filter((e) => e.sender !== MALICIOUS)).toEqual([]);
    expect([...refused.keys()].filter((id) => id !== MALICIOUS)).toEqual(r.committee.slice(1));
    expect(new Set([...refused.values()])).toEqual(new Set(['omits-held-share']));
    for (const id of r.committee.slice(1)) {
      expect(r.members.get(id)!.keySet).toBeUndefined();
      expect(r.members.get(id)!.evidence.at(-1)?.fields.participants).toEqual(DROPPED_HONEST);
    }
    // The next turn's honest leader keeps everyone; the coalition's sum then hides the victim.
    const next = r.members.get('peer-001')!.proposeKeySet(1);
    expect(next.shared).toEqual(all);
    const ks = offerKeySet(r, next);
    expect(ks.endorsements).toHaveLength(7); // the malicious member may endorse too: one key set per turn
  });

  it('the lock half alone: the leader cites its own view that drops honest inputs — refused by every honest member (LockRefuse signed), the next leader keeps all 12', () => {
    const r = setupRound({ n: 12, m: 7, t: 5, config: config(), seed: 'targeted-exclusion' });
    shareKeys(r);
    const proposal = r.members.get(MALICIOUS)!.proposeKeySet(0);
    const ks = offerKeySet(r, proposal);
    maskInputs(r, { proposal, endorsements: ks.endorsements }, proposal.shared);
    // The malicious view keeps victim + coalition + 2 honest: 8 = ⌈2/3·12⌉ (inside the lock floor).
    const views = r.committee.map((id) =>
      id === MALICIOUS ? signView(r, id, [VICTIM, ...COALITION, ...KEPT_HONEST].sort()) : signView(r, id),
    );
    deliverViews(r, views);
    const x = maliciousLock(
      r,
      views.map((v) => v.view),
      proposal.shared,
    );
    expect(x.dropped).toEqual(DROPPED_HONEST);
    const first = offerLock(r, x);
    expect(first.endorsements.map((e) => e.sender)).toEqual([MALICIOUS]); // its own view: nothing of it left out
    expect([...first.refused.keys()]).toEqual(r.committee.slice(1));
    expect(new Set([...first.refused.entries()].filter(([id]) => id !== MALICIOUS).map(([, why]) => why))).toEqual(
      new Set(['omits-held-input']),
    );
    for (const id of r.committee.slice(1)) {
      const refusals = r.members.get(id)!.takeOutbox();
      expect(refusals.map((m) => m.kind)).toHaveLength(1); // a LockRefuse: a promise never to endorse X
    }
    // Turn 1's honest leader cites t views that keep every input ≥ t views carry.
    const y = r.members.get('peer-001')!.proposeLock(1);
    expect(y.survivors).toEqual(proposal.shared);
    const second = offerLock(r, y);
    expect(second.endorsements.length).toBeGreaterThanOrEqual(6);
    lockAndReveal(r, second.endorsements);
    const o = estimate(r, 'peer-001');
    expect(o.survivors).toHaveLength(12);
    expect(o.estimate).not.toEqual(r.ints.get(VICTIM));
  });

  it('what still isolates a victim: real dropouts — 4 honest participants never share, 2 more never send inputs; the floors hold and the victim is recovered', () => {
    const r = setupRound({ n: 12, m: 7, t: 5, config: config(), seed: 'targeted-exclusion' });
    shareKeys(r, new Set(DROPPED_HONEST));
    const proposal = r.members.get(MALICIOUS)!.proposeKeySet(0); // proposed by the rules: every share it holds
    expect(proposal.shared).toEqual([VICTIM, ...COALITION, ...KEPT_HONEST].sort());
    const ks = offerKeySet(r, proposal);
    expect(Object.fromEntries(ks.refused)).toEqual({});
    expect(ks.endorsements).toHaveLength(7);
    maskInputs(r, { proposal, endorsements: ks.endorsements }, [VICTIM, ...COALITION]);
    const views = r.committee.map((id) => signView(r, id));
    deliverViews(r, views);
    const lock = offerLock(r, r.members.get(MALICIOUS)!.proposeLock(0));
    expect(lock.endorsements).toHaveLength(7);
    lockAndReveal(r, lock.endorsements);
    const o = estimate(r);
    expect([...o.survivors].sort()).toEqual([VICTIM, ...COALITION].sort());
    expect(o.estimate).toEqual(r.ints.get(VICTIM));
  });
});
