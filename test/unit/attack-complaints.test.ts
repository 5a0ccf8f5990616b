/**
 * Red team (H10): share complaints (committee-member.ts "Complaints") let honest key-set leaders
 * leave a participant out of U_2 once unusable(i) ≥ m − t + 1 members cannot hold its share. This
 * checks that active members cannot use them against an honest participant: at (7, 5) the
 * documented bound allows 2 active members, and their 2 complaints (unusable 2 < 3) leave the
 * honest participant in every honest leader's U_2 and certified; complaints are scope-bound
 * (another round or deployment: refused), a non-member's complaint is refused, and a complaint
 * carries nothing secret (the accused's share is never published in answer). Resists today.
 */
import { describe, expect, it } from 'vitest';
import { type ComplaintMsg, ComplaintReason, complaintStatement, SecAggKind } from '../../protocol/messages/secagg.js';
import { scopeOf } from '../../protocol/secure-aggregation/participant.js';
import { codeOf, config, testSign } from './secagg-helpers.js';
import { certifyKeySet, setupRound, shareKeys, TEST_BINDING } from './secagg-round-harness.js';

const ACTIVE = ['peer-005', 'peer-006'];
const VICTIM = 'peer-008';

function complaint(r: ReturnType<typeof setupRound>, sender: string, scope = scopeOf(r.ctx)): ComplaintMsg {
  return {
    kind: SecAggKind.Complaint,
    federation: scope.federation,
    round: scope.round,
    sender,
    accused: VICTIM,
    reason: ComplaintReason.BadShare,
    signature: testSign(sender)(complaintStatement(scope, sender, VICTIM, ComplaintReason.BadShare)),
  };
}

describe('complaints by active members against an honest participant', () => {
  it('two active members (the bound at (7, 5)) complain: the victim stays in every honest U_2 and is certified', () => {
    const r = setupRound({ n: 10, m: 7, t: 5, config: config(), seed: 'complaints' });
    shareKeys(r);
    const forged = ACTIVE.map((id) => complaint(r, id));
    const messages: string[] = [];
    for (const [id, m] of r.members) {
      for (const c of forged) if (c.sender !== id) m.addComplaint(c);
      // Honest members never complain about an honest participant: their shares decrypt.
      messages.push(...m.takeOutbox().map((x) => `${id}:${SecAggKind[x.kind]}`));
    }
    expect(messages).toEqual([]);
    for (const id of r.committee.filter((c) => !ACTIVE.includes(c))) {
      const m = r.members.get(id)!;
      expect(m.complainers(VICTIM)).toEqual(ACTIVE);
      expect(m.unusable(VICTIM)).toBe(2);
      expect(m.excluded(VICTIM)).toBe(false);
      expect(m.proposeKeySet(0).shared).toContain(VICTIM);
    }
    const ks = certifyKeySet(r, r.committee, 'peer-000');
    expect(ks.endorsements.length).toBeGreaterThanOrEqual(r.ctx.threshold);
    expect(ks.proposal.shared).toContain(VICTIM);
    // The rule does bite at m − t + 1 = 3 (a third complaint, as if a third member could not decrypt).
    const m0 = r.members.get('peer-000')!;
    m0.addComplaint(complaint(r, 'peer-004'));
    expect(m0.excluded(VICTIM)).toBe(true);
  });

  it('a complaint for another round or deployment, by a non-member, or with a bad signature is refused', () => {
    const r = setupRound({ n: 10, m: 7, t: 5, config: config(), seed: 'complaints-replay' });
    shareKeys(r);
    const m = r.members.get('peer-000')!;
    const otherBinding = TEST_BINDING.slice();
    otherBinding[51] = (otherBinding[51] ?? 0) ^ 1;
    // Signed for another deployment (same federation, round and ids): the signature does not verify here.
    const crossDeployment = complaint(r, 'peer-005', { ...scopeOf(r.ctx), binding: otherBinding });
    expect(codeOf(() => m.addComplaint(crossDeployment))).toBe('SECAGG_BAD_SIGNATURE');
    // Signed for another round and relabelled: refused by round, or by signature if relabelled.
    const otherRound = complaint(r, 'peer-005', { ...scopeOf(r.ctx), round: r.ctx.round + 1 });
    expect(codeOf(() => m.addComplaint(otherRound))).toBe('SECAGG_WRONG_ROUND');
    expect(codeOf(() => m.addComplaint({ ...otherRound, round: r.ctx.round }))).toBe('SECAGG_BAD_SIGNATURE');
    expect(codeOf(() => m.addComplaint(complaint(r, 'peer-009')))).toBe('SECAGG_NOT_COMMITTEE');
    expect(codeOf(() => m.addComplaint({ ...complaint(r, 'peer-005'), sender: 'peer-004' }))).toBe('SECAGG_BAD_SIGNATURE');
    expect(m.complainers(VICTIM)).toEqual([]);
  });
});
