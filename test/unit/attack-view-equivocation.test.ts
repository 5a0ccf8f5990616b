/**
 * Attack (H8 F7): a committee member signs two different Views and shows one to each half of the
 * committee. Members refuse a lock citing a view that differs from the one they hold (issue 13
 * item 6) and each endorses one lock per round, so the lock citing one version could not reach t
 * and no other lock could either: the round aborted. Now (committee-member.ts "Refusals and
 * release"): a refusal is a signed promise never to endorse that lock, carrying both views; a
 * member that endorsed it releases it once refusals by r ≥ m − t + max(c − p, 0) + 1 members that
 * are not proven equivocators prove it can never reach t; leaders never cite a proven
 * equivocator; and a lock whose content follows from other members' views is endorsed anyway.
 * Each schedule ends with the exact sum — or, for the one schedule that still stalls, with
 * nothing revealed. Since F26 (refuse a lock that leaves out an input of one's own View which
 * every cited View but one carries) the holders of the omitting version refuse it too unless
 * their own Views lack the victim; the release schedules therefore have the victim's input late
 * at those members (`late`).
 */
import { describe, expect, it } from 'vitest';
import {
  CertPhase,
  decodeSecAgg,
  encodeSecAgg,
  endorseStatement,
  type LockRefuseMsg,
  type LockReleaseMsg,
  type ProposalMsg,
  SecAggKind,
  type SignedView,
  type ViewMsg,
  viewStatement,
} from '../../protocol/messages/secagg.js';
import { decodeSum, scopeOf, type SecAggCommitteeMember } from '../../protocol/secure-aggregation/index.js';
import { codeOf, config, testSign } from './secagg-helpers.js';
import { certifyKeySet, LATE, maskInputs, type Round, setupRound, shareKeys, signView } from './secagg-round-harness.js';

const VICTIM = 'peer-008';

/** Through the wire codec, as gossip would carry it. */
const wire = <T>(m: T): T => decodeSecAgg(encodeSecAgg(m as never)) as T;

interface Setup {
  /** Positions shown M's version that omits the victim (the others get its full view). */
  readonly shownOmitting: readonly number[];
  /** Which version M cites in its own lock proposal (M = position 0, turn 0's leader). */
  readonly cites: 'omitting' | 'full';
  /**
   * Positions that receive no other honest View before the lock (gossip delay): they know only the
   * cited views, four of which carry the victim (< t = 5), so the F12 lock rule (refuse a lock that
   * leaves out an input of one's own view carried by ≥ t held views) does not fire for them.
   * `deliverRest` delivers the withheld views. Without a delay every honest member refuses X.
   */
  readonly withhold?: readonly number[];
  /**
   * Positions the victim's input reached late: their own Views lack it, and those Views reach the
   * other honest members only with `deliverRest` (gossip delay). Since F26 a member refuses a lock
   * that leaves out an input of its own View which every cited View but one carries, so a lock
   * citing M's omitting version is endorsed only by members whose own View lacks the victim too:
   * these schedules exercise the release (F7) with such members.
   */
  readonly late?: readonly number[];
}

function equivocatingRound(s: Setup) {
  const r = setupRound({ n: 9, m: 7, t: 5, config: config(), seed: 'view-equivocation' });
  shareKeys(r);
  const ks = certifyKeySet(r);
  maskInputs(r, ks, r.parties);
  const isLate = (k: number) => s.late?.includes(k) === true;
  const views = r.committee.map((id, k) =>
    isLate(k)
      ? signView(
          r,
          id,
          r.parties.filter((q) => q !== VICTIM),
        )
      : signView(r, id),
  );
  const M = r.committee[0]!;
  const full = views[0]!.view;
  const entries = full.entries.filter((e) => e.participant !== VICTIM);
  const omitting: SignedView = {
    member: M,
    keySet: full.keySet,
    entries,
    signature: testSign(M)(viewStatement(scopeOf(r.ctx), M, full.keySet, entries)),
  };
  const honest = r.committee.slice(1);
  const withheld = (k: number) => s.withhold?.includes(k) === true;
  for (const id of honest) {
    const k = r.committee.indexOf(id);
    if (!withheld(k))
      for (const v of views.slice(1)) if (v.sender !== id && !isLate(r.committee.indexOf(v.sender))) r.members.get(id)!.addView(v);
    const mine: ViewMsg = { ...views[0]!, view: s.shownOmitting.includes(k) ? omitting : full };
    r.members.get(id)!.addView(wire(mine));
  }
  // M leads turn 0 and cites one of its versions with four honest views.
  const cited = s.cites === 'omitting' ? omitting : full;
  // The first four honest views that carry the victim, then late ones if fewer do.
  const honestViews = [...views.slice(1).filter((_, i) => !isLate(i + 1)), ...views.slice(1).filter((_, i) => isLate(i + 1))]
    .slice(0, 4)
    .map((v) => v.view);
  const u2 = ks.proposal.shared;
  const u3 = u2.filter((p) => cited.entries.some((e) => e.participant === p));
  const x: ProposalMsg = {
    kind: SecAggKind.Proposal,
    federation: 'fed',
    round: 7,
    sender: M,
    turn: 0,
    keySet: full.keySet,
    survivors: u3,
    dropped: u2.filter((p) => !u3.includes(p)),
    views: [cited, ...honestViews].sort((a, b) => (a.member < b.member ? -1 : 1)),
  };
  const deliverRest = () => {
    for (const id of honest) {
      const m = r.members.get(id)!;
      for (const v of views.slice(1)) {
        if (v.sender === id || x.views.some((c) => c.member === v.sender)) continue;
        if (withheld(r.committee.indexOf(id)) || isLate(r.committee.indexOf(v.sender))) m.addView(v);
      }
    }
  };
  return { r, M, honest, x: wire(x), deliverRest };
}

/** Every honest member processes `p`; returns endorsers and the codes of those that refused. */
function offer(r: Round, members: readonly string[], p: ProposalMsg) {
  const ends = [];
  const refused: Record<string, string> = {};
  for (const id of members) {
    const m = r.members.get(id)!;
    try {
      const e = m.onLockProposal(p, LATE);
      if (e !== undefined) ends.push(wire(e));
    } catch (e) {
      refused[id] = (e as { code: string }).code;
    }
  }
  return { ends, refused };
}

/** Deliver every member's outbox (refusals, releases) and endorsements to every other member. */
function exchange(r: Round, members: readonly string[], ends: ReturnType<typeof offer>['ends']) {
  const out = members.flatMap((id) => r.members.get(id)!.takeOutbox().map(wire));
  for (const id of members) {
    const m = r.members.get(id)!;
    for (const e of ends) if (e.sender !== id) m.addLockEndorse(e);
    for (const o of out) {
      if (o.sender === id) continue;
      if (o.kind === SecAggKind.LockRefuse) m.addLockRefuse(o);
      if (o.kind === SecAggKind.LockRelease) m.addLockRelease(o);
    }
  }
  return out;
}

function unmaskAt(r: Round, m: SecAggCommitteeMember, members: readonly string[]) {
  const reveals = members.map((id) => r.members.get(id)!.reveal()).filter((x) => x !== undefined);
  for (const rv of reveals) if (rv.sender !== m.self) m.addReveal(wire(rv));
  const res = m.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked])));
  const u3 = res.survivors.map((e) => e.participant);
  const { values, totalSamples } = decodeSum(res.sum, u3.length, r.ctx.config);
  const want = [0, 0, 0];
  for (const q of u3)
    r.ints.get(q)!.forEach((v, k) => {
      want[k]! += v;
    });
  expect([...values].map((v) => v * 2 ** r.ctx.config.fractionalBits)).toEqual(want);
  expect(totalSamples).toBe(u3.reduce((a, q) => a + r.counts.get(q)!, 0));
  return { u3, reveals };
}

describe('attack F7: a member that signs two different Views', () => {
  it('since F26, 2/4 split with the other views delayed: the holders of the omitting version refuse it too (omission-by-one-view), no release needed, the next lock keeps the victim', () => {
    const { r, M, honest, x, deliverRest } = equivocatingRound({ shownOmitting: [1, 2], cites: 'omitting', withhold: [1, 2] });
    // Positions 1–2 hold only the cited views: four carry the victim (< t, F12 quiet), but every
    // cited view but M's carries it, so the omission is one view's choice (F26).
    const first = offer(r, honest, x);
    expect(first.ends).toEqual([]);
    expect(first.refused).toEqual(
      Object.fromEntries([
        ...r.committee.slice(1, 3).map((id) => [id, 'SECAGG_BAD_PROPOSAL']),
        ...r.committee.slice(3).map((id) => [id, 'SECAGG_EQUIVOCATION']),
      ]),
    );
    for (const id of r.committee.slice(1, 3)) {
      const e = r.members.get(id)!.evidence.at(-1)!;
      expect(e.fields.reason).toBe('omission-by-one-view');
      expect(e.fields.participants).toEqual([VICTIM]);
      expect(e.fields.omittedBy).toEqual([M]);
    }
    const out = exchange(r, honest, first.ends);
    expect(out.filter((o) => o.kind === SecAggKind.LockRefuse).map((o) => o.sender)).toEqual(honest);
    deliverRest();
    const y = wire(r.members.get(r.committee[1]!)!.proposeLock(1));
    expect(y.views.map((v) => v.member)).not.toContain(M);
    expect(y.survivors).toContain(VICTIM);
    const second = offer(r, honest, y);
    expect(second.ends).toHaveLength(6);
    exchange(r, honest, second.ends);
    const { u3 } = unmaskAt(r, r.members.get(r.committee[3]!)!, honest);
    expect(u3).toEqual(r.parties);
  });

  it('1/5 split, the victim late at position 1 (its View lacks it, delayed to the others), the lock cites the version that omits it: 2–6 refuse, their 5 refusals release 1, the next leader locks everyone, exact sum', () => {
    const { r, M, honest, x, deliverRest } = equivocatingRound({ shownOmitting: [1], cites: 'omitting', withhold: [1], late: [1] });
    // M withholds its own endorsement. Position 1 (holds the cited version; its own View lacks the
    // victim, so F26 is quiet there) endorses; 2–6 (hold M's full version) refuse.
    const first = offer(r, honest, x);
    expect(first.ends.map((e) => e.sender)).toEqual(r.committee.slice(1, 2));
    expect(first.refused).toEqual(Object.fromEntries(r.committee.slice(2).map((id) => [id, 'SECAGG_EQUIVOCATION'])));
    const out = exchange(r, honest, first.ends);
    const refusals = out.filter((o): o is LockRefuseMsg => o.kind === SecAggKind.LockRefuse);
    expect(refusals.map((o) => o.sender)).toEqual(r.committee.slice(2));
    expect(refusals.every((o) => o.evidence.length === 2 && o.evidence[0]!.member === M)).toBe(true);
    // 5 refusals ≥ m − t + max(c − p, 0) + 1 = 2 + (2 − 1) + 1 (c = 2t − m − 1 = 2; p = 1: M is a
    // proven equivocator): released.
    const m1 = r.members.get(r.committee[1]!)!;
    expect(m1.provenEquivocators).toEqual([M]);
    expect(m1.endorsedLockDigest).toBeUndefined();
    expect(m1.lockCertificate()).toBeUndefined();
    // Turn 1's leader (position 1) proposes once the delayed views arrived; it cites no view of M
    // and, since five honest Views carry the victim (≥ t), keeps it.
    deliverRest();
    const y = wire(m1.proposeLock(1));
    expect(y.views.map((v) => v.member)).not.toContain(M);
    expect(y.survivors).toContain(VICTIM);
    const second = offer(r, honest, y);
    // 2–6 endorse directly; 1 endorses through a LockRelease carrying the refusals.
    expect(second.ends.map((e) => e.sender)).toEqual(r.committee.slice(2));
    expect(second.refused).toEqual({});
    const out2 = exchange(r, honest, second.ends);
    const releases = out2.filter((o): o is LockReleaseMsg => o.kind === SecAggKind.LockRelease);
    expect(releases.map((o) => o.sender)).toEqual(r.committee.slice(1, 2));
    // It released as the quorum's fourth refusal arrived (2–5, in delivery order).
    expect(releases.every((o) => o.refusals.map((f) => f.member).join() === r.committee.slice(2, 6).join())).toBe(true);
    // One lock certified everywhere (six endorsers), and it is Y.
    for (const id of honest) expect(r.members.get(id)!.lockCertificate()?.signers).toEqual(honest);
    const { u3, reveals } = unmaskAt(r, r.members.get(r.committee[4]!)!, honest);
    expect(u3).toEqual(r.parties);
    expect(reveals).toHaveLength(6);
    // Nobody revealed for X.
    expect(reveals.every((rv) => rv.proposal.join() === m1.followedDigest!.join())).toBe(true);
  });

  it('3/3 split with every honest view delivered (F12 lock rule): the holders of the omitting version refuse X too — no stall, the next leader locks everyone, exact sum', () => {
    const { r, honest, x } = equivocatingRound({ shownOmitting: [1, 2, 3], cites: 'omitting' });
    const first = offer(r, honest, x);
    expect(first.ends).toEqual([]);
    // 1–3 hold the cited version but their own views and ≥ t = 5 held views carry the victim; 4–6 hold the other version.
    expect(first.refused).toEqual(
      Object.fromEntries([
        ...r.committee.slice(1, 4).map((id) => [id, 'SECAGG_BAD_PROPOSAL']),
        ...r.committee.slice(4).map((id) => [id, 'SECAGG_EQUIVOCATION']),
      ]),
    );
    for (const id of r.committee.slice(1, 4)) expect(r.members.get(id)!.evidence.at(-1)?.fields.reason).toBe('omits-held-input');
    const out = exchange(r, honest, first.ends);
    expect(out.filter((o) => o.kind === SecAggKind.LockRefuse).map((o) => o.sender)).toEqual(honest);
    const y = wire(r.members.get(r.committee[4]!)!.proposeLock(4));
    expect(y.survivors).toContain(VICTIM);
    const second = offer(r, honest, y);
    expect(second.ends).toHaveLength(6);
    exchange(r, honest, second.ends);
    const { u3 } = unmaskAt(r, r.members.get(r.committee[1]!)!, honest);
    expect(u3).toEqual(r.parties);
  });

  it('the lock cites the full version (the halves shown the other refuse nothing): the content follows from honest views, endorsed at once', () => {
    const { r, honest, x } = equivocatingRound({ shownOmitting: [4, 5, 6], cites: 'full' });
    const first = offer(r, honest, x);
    expect(first.ends).toHaveLength(6);
    const out = exchange(r, honest, first.ends);
    expect(out).toEqual([]);
    // The equivocation is still kept as evidence by those that saw the other version.
    for (const id of r.committee.slice(4)) expect(r.members.get(id)!.evidence.at(-1)?.code).toBe('SECAGG_EQUIVOCATION');
    const { u3 } = unmaskAt(r, r.members.get(r.committee[1]!)!, honest);
    expect(u3).toEqual(r.parties);
  });

  it('still stalls (documented): 3/3 split, the victim late at 1–3 and their Views delayed to 4–6 — 3 refusals cannot release (one refuser could be a second active member), nothing is certified, nothing revealed', () => {
    const { r, honest, x, deliverRest } = equivocatingRound({
      shownOmitting: [1, 2, 3],
      cites: 'omitting',
      withhold: [1, 2, 3],
      late: [1, 2, 3],
    });
    const first = offer(r, honest, x);
    expect(first.ends).toHaveLength(3);
    exchange(r, honest, first.ends);
    for (const id of r.committee.slice(1, 4)) expect(r.members.get(id)!.endorsedLockDigest).toBeDefined();
    // Once the delayed Views arrive, three honest Views of six lack the victim: every lock of
    // honest Views drops it (it is missing from ≥ 2 cited, F26), which is X's content — the digest
    // 4–6 promised never to endorse, and 1–3 already did. (Before F26 the same split without the
    // late input stalled the same way: 3 endorsements each, no release.)
    deliverRest();
    const y = r.members.get(r.committee[4]!)!.proposeLock(4);
    expect(y.dropped).toEqual([VICTIM]);
    const second = offer(r, honest, y);
    expect(second.ends).toEqual([]);
    expect(second.refused).toEqual(Object.fromEntries(r.committee.slice(4).map((id) => [id, 'SECAGG_CONFLICTING_PROPOSAL'])));
    exchange(r, honest, second.ends);
    for (const id of honest) {
      expect(r.members.get(id)!.lockCertificate()).toBeUndefined();
      expect(r.members.get(id)!.reveal()).toBeUndefined();
    }
  });

  it('why 3 refusals are not enough at (7, 5): a second active member refuses the lock, then endorses it late — it is certified alone and only its endorsers reveal', () => {
    // F14 (red team H10): with the quorum for c = maliciousMembers = 1 (3 refusals), 1–3 would
    // release X and could endorse another lock with 4–5 (certified), and the late endorsements of M
    // and position 6 would certify X as well: two locks. With c = 2t − m − 1 = 2 (4 refusals) nobody
    // releases. (The victim is late at 1–3 so that, since F26, they endorse X at all.)
    const { r, M, honest, x, deliverRest } = equivocatingRound({
      shownOmitting: [1, 2, 3],
      cites: 'omitting',
      withhold: [1, 2, 3],
      late: [1, 2, 3],
    });
    const second = r.committee[6]!; // active too: it refuses X (with evidence), then endorses it
    const first = offer(r, honest, x);
    exchange(r, honest, first.ends);
    deliverRest();
    const y = r.members.get(r.committee[4]!)!.proposeLock(4);
    const others = honest.filter((id) => id !== second);
    const ys = offer(r, others, y);
    exchange(r, others, ys.ends);
    const xDigest = first.ends[0]!.digest;
    for (const by of [M, second]) {
      const late = wire({
        kind: SecAggKind.LockEndorse as const,
        federation: 'fed',
        round: 7,
        sender: by,
        digest: xDigest,
        signature: testSign(by)(endorseStatement(scopeOf(r.ctx), CertPhase.Lock, xDigest)),
      });
      for (const id of others) r.members.get(id)!.addLockEndorse(late);
    }
    for (const id of others) expect(r.members.get(id)!.lockCertificate()?.digest).toEqual(xDigest);
    const reveals = others.map((id) => r.members.get(id)!.reveal());
    expect(reveals.map((rv) => rv?.sender)).toEqual([...r.committee.slice(1, 4), undefined, undefined]);
    for (const rv of reveals.slice(0, 3)) expect(rv!.proposal).toEqual(xDigest);
  });

  it('a release needs refusals by members that are not proven equivocators; a release message with too few refusals is refused', () => {
    const { r, M, honest, x } = equivocatingRound({ shownOmitting: [1, 2], cites: 'omitting', withhold: [1, 2], late: [1, 2] });
    const first = offer(r, honest, x);
    const xDigest = first.ends[0]!.digest;
    const m1 = r.members.get(r.committee[1]!)!;
    // Three honest refusals (positions 3–5) and one by M itself, which is a proven equivocator
    // once the evidence arrives: 3 < 4, so m1 keeps its endorsement.
    for (const id of r.committee.slice(3, 6)) for (const o of r.members.get(id)!.takeOutbox()) m1.addLockRefuse(wire(o as LockRefuseMsg));
    const byM: LockRefuseMsg = {
      kind: SecAggKind.LockRefuse,
      federation: 'fed',
      round: 7,
      sender: M,
      digest: xDigest,
      signature: testSign(M)(endorseStatement(scopeOf(r.ctx), CertPhase.Refuse, xDigest)),
      evidence: [],
    };
    m1.addLockRefuse(wire(byM));
    expect(m1.provenEquivocators).toEqual([M]);
    expect(m1.endorsedLockDigest).toEqual(xDigest);
    // The fourth honest refusal releases it.
    for (const o of r.members.get(r.committee[6]!)!.takeOutbox()) m1.addLockRefuse(wire(o as LockRefuseMsg));
    expect(m1.endorsedLockDigest).toBeUndefined();
    // A second endorsement that carries fewer than m − t + 1 refusals is refused.
    const other = new Uint8Array(32).fill(7);
    const bare: LockReleaseMsg = {
      kind: SecAggKind.LockRelease,
      federation: 'fed',
      round: 7,
      sender: r.committee[2]!,
      released: xDigest,
      digest: other,
      signature: testSign(r.committee[2]!)(endorseStatement(scopeOf(r.ctx), CertPhase.Lock, other)),
      refusals: [],
    };
    expect(codeOf(() => m1.addLockRelease(wire(bare)))).toBe('SECAGG_NOT_CERTIFIED');
    // A refusal signature that does not verify makes the whole release invalid.
    const forged = { ...bare, refusals: ['peer-004', 'peer-005', 'peer-006'].map((member) => ({ member, signature: new Uint8Array(64) })) };
    expect(codeOf(() => m1.addLockRelease(wire(forged)))).toBe('SECAGG_BAD_SIGNATURE');
  });
});
