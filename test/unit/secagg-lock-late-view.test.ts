/**
 * F12's lock rule (committee-member.ts "Who may be left out") against a benign race: one
 * participant's masked input reached members 1–5 only, and turn 0's leader holds only the Views of
 * 0, 1, 2, 3 and 6 when it proposes, so its lock leaves that input out. Members 1–5 hold ≥ t = 5
 * Views carrying it (their own among them): they refuse (reason 'omits-held-input') and sign
 * LockRefuses without evidence. Those 5 refusals reach releaseQuorum(7, 5, 0) = 5, so the leader
 * and member 6, which endorsed the first lock, release it; turn 1's lock keeps the input and is
 * certified with all seven endorsements (0 and 6 through LockReleases); the sum is exact over all
 * nine. A refusal needs no evidence to count: the release argument only needs honest refusers to
 * keep their promise.
 */
import { describe, expect, it } from 'vitest';
import { type LockRefuseMsg, type LockReleaseMsg, SecAggKind } from '../../protocol/messages/secagg.js';
import { releaseQuorum } from '../../protocol/secure-aggregation/certify.js';
import type { SecAggError } from '../../protocol/secure-aggregation/errors.js';
import { decodeSum } from '../../protocol/secure-aggregation/quantize.js';
import { config } from './secagg-helpers.js';
import { certifyKeySet, LATE, maskInputs, setupRound, shareKeys, signView } from './secagg-round-harness.js';

const LATE_INPUT = 'peer-008';

describe('a lock leader that holds fewer Views than its members (F12 lock rule)', () => {
  it('is refused by the members whose Views keep the input; its endorsers release; turn 1 locks everyone; exact sum', () => {
    const r = setupRound({ n: 9, m: 7, t: 5, config: config(), seed: 'late-view' });
    shareKeys(r);
    const ks = certifyKeySet(r);
    maskInputs(r, ks, r.parties);
    const [m0, , , , , , m6] = r.committee as [string, string, string, string, string, string, string];
    const reached = r.committee.slice(1, 6);
    const views = r.committee.map((id) => signView(r, id, reached.includes(id) ? r.parties : r.parties.filter((p) => p !== LATE_INPUT)));
    // Everyone holds every View but the leader, which lacks those of 4 and 5.
    for (const id of r.committee)
      for (const v of views)
        if (v.sender !== id && !(id === m0 && (v.sender === r.committee[4] || v.sender === r.committee[5]))) r.members.get(id)!.addView(v);
    const x = r.members.get(m0)!.proposeLock(0);
    expect(x.dropped).toEqual([LATE_INPUT]);
    const xEnd = [];
    const refused: Record<string, string> = {};
    for (const id of r.committee) {
      try {
        const e = r.members.get(id)!.onLockProposal(x, LATE);
        if (e !== undefined) xEnd.push(e);
      } catch (e) {
        refused[id] = String((e as SecAggError).fields.reason);
      }
    }
    expect(xEnd.map((e) => e.sender)).toEqual([m0, m6]);
    expect(refused).toEqual(Object.fromEntries(reached.map((id) => [id, 'omits-held-input'])));
    const refusals = reached.flatMap((id) => r.members.get(id)!.takeOutbox()) as LockRefuseMsg[];
    expect(refusals.map((f) => [f.kind, f.evidence.length])).toEqual(reached.map(() => [SecAggKind.LockRefuse, 0]));
    expect(releaseQuorum(7, 5, 0)).toBe(5);
    for (const id of [m0, m6]) {
      for (const f of refusals) r.members.get(id)!.addLockRefuse(f);
      expect(r.members.get(id)!.releasedLockCount).toBe(1);
    }
    // Turn 1: member 1 holds every View; its lock keeps the late input.
    const y = r.members.get(r.committee[1]!)!.proposeLock(1);
    expect(y.dropped).toEqual([]);
    const yEnd = [];
    for (const id of r.committee) {
      const e = r.members.get(id)!.onLockProposal(y, LATE);
      if (e !== undefined) yEnd.push(e);
    }
    expect(yEnd.map((e) => e.sender)).toEqual(reached);
    const releases = [m0, m6].flatMap((id) => r.members.get(id)!.takeOutbox()) as LockReleaseMsg[];
    expect(releases.map((m) => m.sender)).toEqual([m0, m6]);
    for (const id of r.committee) {
      const m = r.members.get(id)!;
      for (const e of [...xEnd, ...yEnd]) if (e.sender !== id) m.addLockEndorse(e);
      for (const f of releases) if (f.sender !== id) m.addLockRelease(f);
      expect(m.lockCertificate()?.signers).toHaveLength(7);
    }
    const reveals = r.committee.map((id) => r.members.get(id)!.reveal()!);
    expect(reveals.every((rv) => rv !== undefined && rv.proposal.join() === reveals[0]!.proposal.join())).toBe(true);
    const u = r.members.get(m6)!;
    for (const rv of reveals) if (rv.sender !== m6) u.addReveal(rv);
    const res = u.unmask(new Map([...r.payloads].map(([id, p]) => [id, p.masked])));
    expect(res.survivors.map((e) => e.participant)).toEqual(r.parties);
    const { values } = decodeSum(res.sum, r.parties.length, r.ctx.config);
    const want = r.ints.get(r.parties[0]!)!.map((_, k) => r.parties.reduce((a, p) => a + r.ints.get(p)![k]!, 0));
    expect([...values].map((v) => v * 2 ** r.ctx.config.fractionalBits)).toEqual(want);
  });
});
