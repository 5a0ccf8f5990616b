/**
 * Issue 13's three attacks on secure aggregation, each run against the certified-phase
 * protocol with the adversary given exactly what the protocol gives it: every public message
 * and the shares/state of the committee members it controls. Each test asserts that no
 * honest participant's input becomes reconstructable (never both b_i and s_i^SK at t shares
 * for the coalition), or that the round stops before any reveal.
 */
import { describe, expect, it } from 'vitest';
import { type EndorseMsg, type ProposalMsg, SecAggKind, viewStatement } from '../../protocol/messages/secagg.js';
import { validateSecAggConfig } from '../../protocol/secure-aggregation/index.js';
import { codeOf, config, testSign } from './secagg-helpers.js';
import {
  certifyKeySet,
  deliverViews,
  exposedShareCounts,
  LATE,
  lockAndReveal,
  maskInputs,
  type Round,
  setupRound,
  shareKeys,
  signView,
} from './secagg-round-harness.js';

/** Participants whose b AND s^SK the coalition (its members' own shares + every reveal) can reconstruct. */
function bothReconstructable(r: Round, reveals: Parameters<typeof exposedShareCounts>[0], coalition: readonly string[]): string[] {
  const { selfMask, maskKey } = exposedShareCounts(reveals);
  const own = coalition.map((c) => r.committee.indexOf(c) + 1);
  return r.parties.filter((p) => {
    const b = new Set([...(selfMask.get(p) ?? []), ...own]);
    const s = new Set([...(maskKey.get(p) ?? []), ...own]);
    return b.size >= r.ctx.threshold && s.size >= r.ctx.threshold;
  });
}

describe('attack 1: a survivor left alone, or a component of the masking graph', () => {
  it('every participant masks with exactly the certified U_2, so neighbour sets are symmetric by construction', () => {
    const r = setupRound({ n: 8, m: 7, t: 5, config: config() });
    shareKeys(r);
    const ks = certifyKeySet(r);
    maskInputs(r, ks, r.parties);
    for (const p of r.parties) expect(r.payloads.get(p)!.neighbours).toEqual(r.parties.filter((q) => q !== p));
  });

  it('a participant refuses to mask without a t-of-m certificate, or with fewer than k neighbours', () => {
    const r = setupRound({ n: 8, m: 7, t: 5, config: config() });
    shareKeys(r);
    const ks = certifyKeySet(r);
    const partial = { proposal: ks.proposal, endorsements: ks.endorsements.slice(0, 4) };
    expect(codeOf(() => r.participants.get('peer-007')!.neighboursFrom(partial))).toBe('SECAGG_NOT_CERTIFIED');

    const small = setupRound({ n: 8, m: 7, t: 5, config: config({ minNeighbours: 2 }) });
    // Only two participants share: U_2 = {peer-000, peer-001}, too small for any lock.
    shareKeys(small, new Set(small.parties.slice(2)));
    const proposal = small.members.get('peer-000')!.proposeKeySet(0);
    const refusals = small.committee.map((id) => codeOf(() => small.members.get(id)!.onKeySetProposal(proposal, LATE)));
    expect(new Set(refusals)).toEqual(new Set(['SECAGG_FLOOR']));
  });

  it('dropouts that would leave one survivor: the lock is never proposed (SECAGG_FLOOR), nothing revealed', () => {
    const r = setupRound({ n: 8, m: 7, t: 5, config: config({ minSurvivorFraction: 0.1 }) });
    shareKeys(r);
    const ks = certifyKeySet(r);
    maskInputs(r, ks, ['peer-007']); // everyone else drops after sharing keys
    const views = r.committee.map((id) => signView(r, id));
    deliverViews(r, views);
    expect(codeOf(() => r.members.get('peer-000')!.proposeLock(0))).toBe('SECAGG_FLOOR');
    // A leader that proposes it anyway (forged from the same views) is refused by every member.
    const forged: ProposalMsg = {
      kind: SecAggKind.Proposal,
      federation: 'fed',
      round: 7,
      sender: 'peer-000',
      turn: 0,
      keySet: ks.proposal && r.members.get('peer-001')!.keySet!.digest,
      survivors: ['peer-007'],
      dropped: r.parties.filter((p) => p !== 'peer-007'),
      views: views.map((v) => v.view),
    };
    const codes = r.committee.slice(1).map((id) => codeOf(() => r.members.get(id)!.onLockProposal(forged, LATE)));
    expect(new Set(codes)).toEqual(new Set(['SECAGG_FLOOR']));
    expect(r.members.get('peer-001')!.evidence.map((e) => e.code)).toContain('SECAGG_FLOOR');
    expect(lockAndReveal(r, [])).toEqual([]);
  });
});

describe('attack 3 at the key set: a malicious leader certifies U_2 = {victim, its own participants}', () => {
  it('honest members refuse a U_1 that omits advertisers they hold, and a U_2 below ⌈α·|U_1|⌉', () => {
    const r = setupRound({ n: 10, m: 7, t: 5, config: config() });
    shareKeys(r);
    const honest = r.committee.slice(1);
    const leader = r.members.get(r.committee[0]!)!;
    const full = leader.proposeKeySet(0);
    const tiny = { ...full, advertised: ['peer-000', 'peer-008', 'peer-009'], shared: ['peer-000', 'peer-008', 'peer-009'] };
    for (const id of honest) expect(codeOf(() => r.members.get(id)!.onKeySetProposal(tiny, LATE))).toBe('SECAGG_BAD_PROPOSAL');
    const small = { ...full, shared: ['peer-000', 'peer-008', 'peer-009'] };
    for (const id of honest) expect(codeOf(() => r.members.get(id)!.onKeySetProposal(small, LATE))).toBe('SECAGG_FLOOR');
    expect(r.members.get('peer-001')!.evidence.at(-1)?.fields).toMatchObject({
      rule: 'shared-fraction',
      shared: 3,
      advertised: 10,
      required: 7,
    });
    // No certificate: no participant masks with that set.
    expect(r.members.get('peer-001')!.keySet).toBeUndefined();
  });
});

describe('attack 2: honest racing proposers plus one curious member', () => {
  // (m, t) = (5, 3) is what the attack used; it is still accepted with maliciousMembers = 0
  // (2t − m = 1 > 0), and the lock rule alone must stop it.
  const cfg53 = config({ committeeSize: 5, threshold: 3, maliciousMembers: 0 });

  it('two honest proposals with different U: at most one lock is certified; the curious member never holds both kinds', () => {
    expect(validateSecAggConfig(cfg53)).toBe(cfg53);
    const r = setupRound({ n: 8, m: 5, t: 3, config: cfg53 });
    shareKeys(r);
    const ks = certifyKeySet(r);
    maskInputs(r, ks, r.parties);
    // peer-007's input reached members 0–3 but not 4 (load): views differ.
    const all = r.parties;
    const views = r.committee.map((id) => signView(r, id, id === 'peer-004' ? all.filter((p) => p !== 'peer-007') : all));
    deliverViews(r, views);
    // Turn 0 (position 0) proposes from views 0,1,2 (peer-007 ∈ U); turn 1 (position 1) from 2,3,4 (peer-007 ∈ D).
    const p0: ProposalMsg = {
      ...r.members.get('peer-000')!.proposeLock(0),
      views: views.slice(0, 3).map((v) => v.view),
      survivors: all,
      dropped: [],
    };
    const m1 = r.members.get('peer-001')!;
    const p1Full = m1.proposeLock(1);
    const p1: ProposalMsg = {
      ...p1Full,
      views: views.slice(2, 5).map((v) => v.view),
      survivors: all.filter((p) => p !== 'peer-007'),
      dropped: ['peer-007'],
    };
    // Members split: 0 and 1 act on p0, 2 and 3 on p1 (p1 arrives first there), the curious member 4 on p0.
    const endorsements: EndorseMsg<SecAggKind.LockEndorse>[] = [];
    const act = (id: string, first: ProposalMsg, second: ProposalMsg) => {
      const m = r.members.get(id)!;
      for (const p of [first, second]) {
        try {
          const e = m.onLockProposal(p, LATE);
          if (e !== undefined) endorsements.push(e);
        } catch {
          /* refused: at most one lock per member */
        }
      }
    };
    act('peer-000', p0, p1);
    act('peer-001', p0, p1);
    act('peer-002', p1, p0);
    act('peer-003', p1, p0);
    act('peer-004', p0, p1);
    expect(endorsements).toHaveLength(5); // each member endorsed exactly one lock
    const reveals = lockAndReveal(r, endorsements);
    // p1 leaves out peer-007, which 4 ≥ t views carry: members 2 and 3 (whose own views hold it)
    // refuse it (F12, committee-member.ts `checkLock`) and endorse p0. Only p0's lock is certified.
    for (const id of ['peer-002', 'peer-003'])
      expect(r.members.get(id)!.evidence.some((e) => e.code === 'SECAGG_BAD_PROPOSAL' && e.fields.reason === 'omits-held-input')).toBe(
        true,
      );
    expect(reveals.map((x) => x.sender).sort()).toEqual(['peer-000', 'peer-001', 'peer-002', 'peer-003', 'peer-004']);
    expect(bothReconstructable(r, reveals, ['peer-004'])).toEqual([]);
    // And the round completes with p0's U.
    const m0 = r.members.get('peer-000')!;
    expect(m0.canUnmask()).toBe(true);
  });
});

describe('attack 3: one malicious member signs the view {victim, itself} and proposes it', () => {
  function attack(maliciousPosition: number) {
    const r = setupRound({ n: 10, m: 7, t: 5, config: config() });
    shareKeys(r);
    const ks = certifyKeySet(r);
    maskInputs(r, ks, r.parties);
    const mal = r.committee[maliciousPosition]!;
    const victim = 'peer-009';
    const honestViews = r.committee.filter((id) => id !== mal).map((id) => signView(r, id));
    // The malicious member's view lists only the victim and itself.
    const malView = signView(r, mal, [victim, mal].sort());
    deliverViews(r, [...honestViews, malView]);
    const forged: ProposalMsg = {
      kind: SecAggKind.Proposal,
      federation: 'fed',
      round: 7,
      sender: mal,
      turn: maliciousPosition,
      keySet: r.members.get(mal)!.keySet!.digest,
      survivors: [victim, mal].sort(),
      dropped: r.parties.filter((p) => p !== victim && p !== mal),
      views: [malView, ...honestViews.slice(0, 4)].map((v) => v.view).sort((a, b) => (a.member < b.member ? -1 : 1)),
    };
    const honest = r.committee.filter((id) => id !== mal);
    const codes = honest.map((id) => codeOf(() => r.members.get(id)!.onLockProposal(forged, LATE)));
    // Whatever the malicious member signs itself, no honest member endorses, so no lock is
    // certified and no honest member reveals; its own shares are counted in the coalition's.
    const reveals = lockAndReveal(r, []);
    return { r, codes, reveals, mal, honest };
  }

  it('as the turn leader: every honest member refuses (SECAGG_FLOOR), keeps the evidence, reveals nothing', () => {
    const { r, codes, reveals, mal, honest } = attack(0);
    expect(new Set(codes)).toEqual(new Set(['SECAGG_FLOOR']));
    for (const id of honest) expect(r.members.get(id)!.evidence.at(-1)?.fields).toMatchObject({ rule: 'survivor-fraction', survivors: 2 });
    expect(reveals).toEqual([]);
    expect(bothReconstructable(r, reveals, [mal])).toEqual([]);
  });

  it('out of turn: refused as SECAGG_NOT_LEADER (position 3 proposing for turn 0) or SECAGG_EARLY_PROPOSAL (its own turn, too early)', () => {
    const r = attack(3);
    expect(new Set(r.codes)).toEqual(new Set(['SECAGG_FLOOR'])); // LATE clock: turn 3 reached, floors refuse
    const fresh = setupRound({ n: 10, m: 7, t: 5, config: config() });
    shareKeys(fresh);
    const ks = certifyKeySet(fresh);
    maskInputs(fresh, ks, fresh.parties);
    const views = fresh.committee.map((id) => signView(fresh, id));
    deliverViews(fresh, views);
    const p = { ...fresh.members.get('peer-003')!.proposeLock(3) };
    const early = { now: 0, turnStart: (t: number) => (t === 0 ? 0 : t * 1000) };
    expect(codeOf(() => fresh.members.get('peer-001')!.onLockProposal(p, early))).toBe('SECAGG_EARLY_PROPOSAL');
    expect(codeOf(() => fresh.members.get('peer-001')!.onLockProposal({ ...p, turn: 0 }, early))).toBe('SECAGG_NOT_LEADER');
  });

  it('a cited view that differs from the View its member published is equivocation, both kept', () => {
    const r = setupRound({ n: 8, m: 7, t: 5, config: config() });
    shareKeys(r);
    const ks = certifyKeySet(r);
    maskInputs(r, ks, r.parties);
    const views = r.committee.map((id) => signView(r, id));
    deliverViews(r, views);
    // peer-000 (malicious leader) re-signs a different view of its own and cites it.
    const entries = views[0]!.view.entries.filter((e) => e.participant !== 'peer-005');
    const sig = testSign('peer-000')(
      viewStatement({ binding: r.ctx.binding, federation: 'fed', round: 7 }, 'peer-000', views[0]!.view.keySet, entries),
    );
    const honest = r.members.get('peer-000')!.proposeLock(0);
    const p: ProposalMsg = {
      ...honest,
      views: honest.views.map((v) =>
        v.member === 'peer-000' ? { member: 'peer-000', keySet: views[0]!.view.keySet, entries, signature: sig } : v,
      ),
    };
    expect(codeOf(() => r.members.get('peer-002')!.onLockProposal(p, LATE))).toBe('SECAGG_EQUIVOCATION');
    const ev = r.members.get('peer-002')!.evidence.at(-1)!;
    expect(ev.fields).toMatchObject({ member: 'peer-000', proposer: 'peer-000' });
    expect((ev.fields as { received: { entries: unknown[] } }).received.entries).toHaveLength(8);
    expect((ev.fields as { cited: { entries: unknown[] } }).cited.entries).toHaveLength(7);
  });
});

describe('configuration names the field and the rule', () => {
  it('(5, 3) does not tolerate one malicious member', () => {
    const e = (() => {
      try {
        validateSecAggConfig(config({ committeeSize: 5, threshold: 3 }));
      } catch (x) {
        return x as { code: string; fields: { field: string; rule: string } };
      }
      return undefined;
    })();
    expect(e?.code).toBe('SECAGG_BAD_CONFIG');
    expect(e?.fields.field).toBe('threshold');
    expect(e?.fields.rule).toMatch(/2·threshold − committeeSize > maliciousMembers/);
    expect(validateSecAggConfig(config())).toBeDefined();
  });
});
