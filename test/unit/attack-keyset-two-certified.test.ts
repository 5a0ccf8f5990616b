/**
 * Safety with several certified key sets (H8 F6 fix: one key-set endorsement per member per TURN,
 * protocol/secure-aggregation/certify.ts header). Two key sets K0 (turn 0, U_2 = everyone) and K1
 * (turn 1, U_2 without one participant) are both certified by every member; members learn them in
 * a random order (so their views split between K0 and K1), participants mask under either, leaders
 * 0–2 race lock proposals, and two active members endorse every lock while two more are curious.
 * What must hold: no honest participant has both b and s^SK exposed to the coalition, at most one
 * lock is revealed, and every survivor of the revealed lock masked under exactly that lock's key
 * set (U_2 \ {i}). An active leader also proposes a lock naming the other key set than the views
 * it cites, or with those views relabelled: honest members refuse it (without the key-set check in
 * `checkLock` this test fails: survivors masked under K0 get unmasked as K1's). Non-vacuous: runs
 * with a split, with a reveal under K1, and with such a cross proposal are counted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CertPhase,
  ComplaintReason,
  complaintStatement,
  type EndorseMsg,
  type KeySetProposalMsg,
  keySetDigest,
  lockDigest,
  type ProposalMsg,
  type RevealMsg,
  SecAggKind,
} from '../../protocol/messages/secagg.js';
import { endorse } from '../../protocol/secure-aggregation/certify.js';
import { deriveLock } from '../../protocol/secure-aggregation/views.js';
import { config, testSign } from './secagg-helpers.js';
import { exposedShareCounts, LATE, maskInputs, type Round, setupRound, shareKeys, signView } from './secagg-round-harness.js';

const scopeOf = (r: Round) => ({ binding: r.ctx.binding, federation: r.ctx.federation, round: r.ctx.round });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function exposed(r: Round, reveals: readonly RevealMsg[], coalition: readonly string[]): string[] {
  const { selfMask, maskKey } = exposedShareCounts(reveals);
  const own = coalition.map((c) => r.committee.indexOf(c) + 1);
  return r.parties.filter((p) => {
    if (coalition.includes(p)) return false;
    const b = new Set([...(selfMask.get(p) ?? []), ...own]);
    const s = new Set([...(maskKey.get(p) ?? []), ...own]);
    return b.size >= r.ctx.threshold && s.size >= r.ctx.threshold;
  });
}

describe('two certified key sets in one round', () => {
  it('never both kinds for any honest participant, at most one lock revealed, survivors masked under the lock’s key set', () => {
    const schedule = fc.record({
      coalition: fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6], { minLength: 4, maxLength: 4 }),
      // The participant K1 leaves out.
      left: fc.constantFrom('peer-007', 'peer-008'),
      // Per member: learn K1's endorsements before K0's.
      k1First: fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
      // Which key set participants mask under: all K0, all K1 (those in its U_2), or each its own
      // pick (a split that usually breaks the floors: liveness, never safety).
      masking: fc.constantFrom('K0', 'K1', 'mixed'),
      // Per participant (9), for 'mixed': mask under K1 (if it is in K1's U_2) instead of K0.
      masksK1: fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }),
      // The first active member, as a turn's leader, proposes a lock naming the other key set than
      // the views it cites ('cross'), or with those views relabelled to it ('relabel'); every honest
      // member sees it first.
      cross: fc.constantFrom('none', 'cross', 'relabel'),
      order: fc.array(fc.shuffledSubarray([0, 1, 2], { minLength: 3, maxLength: 3 }), { minLength: 7, maxLength: 7 }),
    });
    let split = 0;
    let revealed = 0;
    let revealedUnderK1 = 0;
    let crossed = 0;
    fc.assert(
      fc.property(schedule, (s) => {
        const r = setupRound({ n: 9, m: 7, t: 5, config: config(), seed: 'two-key-sets' });
        shareKeys(r);
        const scope = scopeOf(r);
        const k0: KeySetProposalMsg = r.members.get(r.committee[0]!)!.proposeKeySet(0);
        const base1 = r.members.get(r.committee[1]!)!.proposeKeySet(1);
        const k1: KeySetProposalMsg = { ...base1, shared: base1.shared.filter((p) => p !== s.left) };
        const e0: EndorseMsg[] = [];
        const e1: EndorseMsg[] = [];
        // K1 may leave `left` out only if it is provably unusable (F12: ≥ c + 1 = 3 complaints,
        // committee-member.ts `provablyUnusable`): complaints reach every member between
        // the two turns (what makes two different certified key sets possible; four, so that each
        // complainer, which counts only the others, sees three).
        const complaints = r.committee.slice(3).map((by) => ({
          kind: SecAggKind.Complaint as const,
          federation: r.ctx.federation,
          round: r.ctx.round,
          sender: by,
          accused: s.left,
          reason: ComplaintReason.BadShare,
          signature: testSign(by)(complaintStatement(scope, by, s.left, ComplaintReason.BadShare)),
        }));
        for (const id of r.committee) {
          const m = r.members.get(id)!;
          // One endorsement per turn: every honest member endorses both.
          const a = m.onKeySetProposal(k0, LATE);
          for (const c of complaints) m.addComplaint(c);
          const b = m.onKeySetProposal(k1, LATE);
          expect(a).toBeDefined();
          expect(b).toBeDefined();
          e0.push(a!);
          e1.push(b!);
        }
        for (const [k, id] of r.committee.entries()) {
          const m = r.members.get(id)!;
          const batches = s.k1First[k] ? [e1, e0] : [e0, e1];
          for (const batch of batches) for (const e of batch) if (e.sender !== id) m.addKeySetEndorse(e);
        }
        const d0 = keySetDigest(scope, k0.advertised, k0.shared);
        const d1 = keySetDigest(scope, k1.advertised, k1.shared);
        const ev0 = { proposal: k0, endorsements: e0 };
        const ev1 = { proposal: k1, endorsements: e1 };
        const underK1 = r.parties.filter((p, i) => p !== s.left && (s.masking === 'K1' || (s.masking === 'mixed' && s.masksK1[i])));
        maskInputs(
          r,
          ev0,
          r.parties.filter((p) => !underK1.includes(p)),
        );
        maskInputs(r, ev1, underK1);
        const views = r.committee.map((id) => signView(r, id));
        if (new Set(views.map((v) => hex(v.view.keySet))).size > 1) split++;
        for (const [k, id] of r.committee.entries()) {
          for (const [j, v] of views.entries()) if (j !== k) r.members.get(id)!.addView(v);
        }
        const active = s.coalition.slice(0, 2).map((k) => r.committee[k]!);
        const coalition = s.coalition.map((k) => r.committee[k]!);
        const proposals: ProposalMsg[] = [];
        for (const k of [0, 1, 2]) {
          try {
            proposals.push(r.members.get(r.committee[k]!)!.proposeLock(k));
          } catch {
            /* no key set with t views, or a floor broken */
          }
        }
        const sharedOf = (d: Uint8Array) => (hex(d) === hex(d0) ? k0.shared : k1.shared);
        let crossProposal: ProposalMsg | undefined;
        if (s.cross !== 'none') {
          const pos = s.coalition[0]!;
          for (const [under, other] of [
            [d0, d1],
            [d1, d0],
          ] as const) {
            const cited = views.map((v) => v.view).filter((v) => hex(v.keySet) === hex(under));
            if (cited.length < r.ctx.threshold) continue;
            const { survivors, dropped } = deriveLock(cited, sharedOf(other));
            crossProposal = {
              kind: SecAggKind.Proposal,
              federation: r.ctx.federation,
              round: r.ctx.round,
              sender: r.committee[pos]!,
              turn: pos,
              keySet: other,
              survivors: survivors.map((e) => e.participant),
              dropped,
              views: s.cross === 'cross' ? cited : cited.map((v) => ({ ...v, keySet: other })),
            };
            crossed++;
            break;
          }
        }
        const honest: EndorseMsg<SecAggKind.LockEndorse>[] = [];
        for (const [k, id] of r.committee.entries()) {
          if (active.includes(id)) continue;
          for (const p of [crossProposal, ...s.order[k]!.map((i) => proposals[i])]) {
            if (p === undefined) continue;
            try {
              const e = r.members.get(id)!.onLockProposal(p, LATE);
              if (e !== undefined) honest.push(e);
            } catch {
              /* one lock per member, floors, … */
            }
          }
        }
        const all = crossProposal === undefined ? proposals : [crossProposal, ...proposals];
        const mal = all.flatMap((p) =>
          active.map((a) => {
            const { survivors, dropped } = deriveLock(p.views, sharedOf(p.keySet));
            return endorse(scope, SecAggKind.LockEndorse, CertPhase.Lock, a, lockDigest(scope, p.keySet, survivors, dropped), testSign(a));
          }),
        );
        const reveals: RevealMsg[] = [];
        for (const id of r.committee) {
          if (active.includes(id)) continue;
          const m = r.members.get(id)!;
          for (const e of [...honest, ...mal]) {
            if (e.sender === id) continue;
            try {
              m.addLockEndorse(e);
            } catch {
              /* conflicting second endorsement */
            }
          }
          try {
            const rv = m.reveal();
            if (rv !== undefined) reveals.push(rv);
          } catch {
            /* two certified locks seen: refuse */
          }
        }
        expect(exposed(r, reveals, coalition)).toEqual([]);
        const locks = new Set(reveals.map((x) => hex(x.proposal)));
        expect(locks.size).toBeLessThanOrEqual(1);
        if (reveals.length > 0) {
          revealed++;
          const follower = r.members.get(reveals[0]!.sender)!;
          const p = all.find((q) => {
            const { survivors, dropped } = deriveLock(q.views, sharedOf(q.keySet));
            return hex(lockDigest(scope, q.keySet, survivors, dropped)) === [...locks][0];
          })!;
          const shared = sharedOf(p.keySet);
          if (hex(p.keySet) === hex(d1)) revealedUnderK1++;
          for (const e of follower.followedSurvivors) {
            expect(r.payloads.get(e.participant)!.neighbours).toEqual(shared.filter((j) => j !== e.participant));
          }
          expect([...follower.followedDropped]).toEqual(shared.filter((j) => !follower.followedSurvivors.some((e) => e.participant === j)));
        }
      }),
      { numRuns: 30, seed: 6, endOnFailure: true },
    );
    expect(split).toBeGreaterThan(0);
    expect(revealed).toBeGreaterThan(0);
    expect(revealedUnderK1).toBeGreaterThan(0);
    expect(crossed).toBeGreaterThan(0);
  });
});
