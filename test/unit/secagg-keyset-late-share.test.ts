/**
 * F12's key-set rule (committee-member.ts "Who may be left out") against a benign race: one
 * participant's ShareKeys reaches every member but turn 0's leader before its proposal (load).
 * The leader leaves it out of U_2; the members holding its share refuse that U_2
 * (SECAGG_BAD_PROPOSAL, reason 'omits-held-share') — it is not provably unusable. One endorsement
 * per TURN (H8 F6) lets turn 1's leader, which holds the share, certify a U_2 with it: a late share
 * costs a turn, not the round, and the sum is exact over everyone.
 */
import { describe, expect, it } from 'vitest';
import type { EndorseMsg, KeySetProposalMsg } from '../../protocol/messages/secagg.js';
import type { SecAggError } from '../../protocol/secure-aggregation/errors.js';
import { decodeSum } from '../../protocol/secure-aggregation/quantize.js';
import { config } from './secagg-helpers.js';
import { deliverViews, LATE, lockAndReveal, maskInputs, type Round, setupRound, signView } from './secagg-round-harness.js';

const LATE_PARTICIPANT = 'peer-010';
const CLOCK = { now: 1e12, turnStart: (t: number) => t * 1000 };

function offer(r: Round, p: KeySetProposalMsg) {
  const endorsements: EndorseMsg[] = [];
  const refused: Record<string, string> = {};
  for (const id of r.committee) {
    try {
      const e = r.members.get(id)!.onKeySetProposal(p, CLOCK);
      if (e !== undefined) endorsements.push(e);
    } catch (e) {
      refused[id] = String((e as SecAggError).fields.reason ?? (e as SecAggError).code);
    }
  }
  return { endorsements, refused };
}

describe('a share that reaches turn 0’s leader late does not stall the key set (F12 rule)', () => {
  it('turn 0 (without it) is refused by its holders; turn 1 certifies U_2 with it; exact sum over all 12', () => {
    const r = setupRound({ n: 12, m: 7, t: 5, config: config(), seed: 'late-share' });
    for (const part of r.participants.values()) for (const a of r.adverts) part.addAdvert(a);
    const shares = [...r.participants.values()].map((part) => part.shareKeys());
    const late = shares.find((s) => s.sender === LATE_PARTICIPANT)!;
    const leader0 = r.committee[0]!;
    for (const [id, m] of r.members) {
      for (const a of r.adverts) m.addAdvert(a);
      m.beginShares();
      for (const s of shares) if (s !== late || id !== leader0) m.addShareKeys(s);
    }
    const p0 = r.members.get(leader0)!.proposeKeySet(0);
    expect(p0.shared).not.toContain(LATE_PARTICIPANT);
    const first = offer(r, p0);
    expect(first.endorsements.map((e) => e.sender)).toEqual([leader0]);
    expect(first.refused).toEqual(Object.fromEntries(r.committee.slice(1).map((id) => [id, 'omits-held-share'])));
    // The share reaches turn 0's leader; turn 1's leader holds everything.
    r.members.get(leader0)!.addShareKeys(late);
    const p1 = r.members.get(r.committee[1]!)!.proposeKeySet(1);
    expect(p1.shared).toEqual(r.parties);
    const second = offer(r, p1);
    expect(second.endorsements).toHaveLength(7);
    for (const m of r.members.values()) {
      m.learnKeySetProposal(p0);
      m.learnKeySetProposal(p1);
      for (const e of [...first.endorsements, ...second.endorsements]) if (e.sender !== m.self) m.addKeySetEndorse(e);
      expect(m.keySet?.shared).toEqual(r.parties);
    }
    maskInputs(r, { proposal: p1, endorsements: second.endorsements }, r.parties);
    deliverViews(
      r,
      r.committee.map((id) => signView(r, id)),
    );
    const lock = r.committee.map((id) => r.members.get(id)!.onLockProposal(r.members.get(leader0)!.proposeLock(0), LATE)!);
    lockAndReveal(r, lock);
    const { sum, survivors } = r.members.get(leader0)!.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked])));
    expect(survivors.map((e) => e.participant)).toEqual(r.parties);
    const { values } = decodeSum(sum, survivors.length, r.ctx.config);
    const want = r.ints.get(r.parties[0]!)!.map((_, k) => r.parties.reduce((a, p) => a + r.ints.get(p)![k]!, 0));
    expect([...values].map((v) => v * 2 ** r.ctx.config.fractionalBits)).toEqual(want);
  });
});
