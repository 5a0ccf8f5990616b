/**
 * F26's lock rule against benign late inputs (committee-member.ts "lock, one view's omission"):
 * a member refuses a lock whose U_3 leaves out an input of its own View that every cited View but
 * one carries, and an honest leader cites t Views so that every input it leaves out is missing
 * from 0 or ≥ 2 of them (`chooseViews`). With all seven members live that choice exists for a
 * late input, whether one honest View lacks it (the lock keeps it) or it reached only t − 1
 * members (the lock drops it, missing from ≥ 2 cited Views); every member endorses and the sum is
 * exact. The cost, safety first: with m − t members offline and one View lacking the input, no
 * lock exists and the leader proposes nothing (SECAGG_TOO_FEW_VIEWS, reason
 * 'omission-by-one-view').
 */
import { describe, expect, it } from 'vitest';
import { type ProposalMsg, SecAggKind } from '../../protocol/messages/secagg.js';
import type { SecAggError } from '../../protocol/secure-aggregation/errors.js';
import { decodeSum } from '../../protocol/secure-aggregation/quantize.js';
import { deriveLock } from '../../protocol/secure-aggregation/views.js';
import { codeOf, config } from './secagg-helpers.js';
import { certifyKeySet, deliverViews, LATE, lockAndReveal, maskInputs, setupRound, shareKeys, signView } from './secagg-round-harness.js';

const LATE_INPUT = 'peer-008';

/** (7, 5), 9 participants; `reached`: the committee positions whose Views carry LATE_INPUT. */
function round(reached: readonly number[], live: readonly number[] = [0, 1, 2, 3, 4, 5, 6]) {
  const r = setupRound({ n: 9, m: 7, t: 5, config: config(), seed: 'one-view-late' });
  shareKeys(r);
  const ks = certifyKeySet(r);
  maskInputs(r, ks, r.parties);
  const members = live.map((k) => r.committee[k]!);
  const views = members.map((id) =>
    signView(r, id, reached.includes(r.committee.indexOf(id)) ? r.parties : r.parties.filter((p) => p !== LATE_INPUT)),
  );
  deliverViews(r, views, members);
  return { r, members, views };
}

function lockAll(reached: readonly number[], leader: number) {
  const { r, members } = round(reached);
  const lock = r.members.get(r.committee[leader]!)!.proposeLock(leader);
  const ends = [];
  const refused: Record<string, string> = {};
  for (const id of members) {
    try {
      const e = r.members.get(id)!.onLockProposal(lock, LATE);
      if (e !== undefined) ends.push(e);
    } catch (e) {
      refused[id] = String((e as SecAggError).fields.reason ?? (e as SecAggError).code);
    }
  }
  expect(refused).toEqual({});
  expect(ends.map((e) => e.sender)).toEqual(members);
  const reveals = lockAndReveal(r, ends, members);
  expect(reveals).toHaveLength(7);
  const res = r.members.get(r.committee[3]!)!.unmask(new Map([...r.payloads].map(([id, p]) => [id, p.masked])));
  const u3 = res.survivors.map((e) => e.participant);
  const { values } = decodeSum(res.sum, u3.length, r.ctx.config);
  const want = r.ints.get(u3[0]!)!.map((_, k) => u3.reduce((a, p) => a + r.ints.get(p)![k]!, 0));
  expect([...values].map((v) => v * 2 ** r.ctx.config.fractionalBits)).toEqual(want);
  return { r, lock, u3 };
}

describe('F26 lock rule: liveness with a late input, all seven members live', () => {
  it('one honest View lacks the input (six carry it): the leader cites five that carry it, every member endorses, exact sum over all nine', () => {
    // Position 6 got the input late. Leader position 6 itself: its own View cannot be cited.
    for (const leader of [0, 6]) {
      const { r, lock, u3 } = lockAll([0, 1, 2, 3, 4, 5], leader);
      expect(lock.views.map((v) => v.member)).not.toContain(r.committee[6]);
      expect(lock.dropped).toEqual([]);
      expect(u3).toEqual(r.parties);
    }
  });

  it('the input reached only t − 1 = 4 members: the lock leaves it out with ≥ 2 cited Views lacking it, every member endorses, exact sum over the other eight', () => {
    for (const leader of [0, 4]) {
      const { r, lock, u3 } = lockAll([0, 1, 2, 3], leader);
      const lacking = lock.views.filter((v) => !v.entries.some((e) => e.participant === LATE_INPUT));
      expect(lacking.length).toBeGreaterThanOrEqual(2);
      expect(lock.dropped).toEqual([LATE_INPUT]);
      expect(u3).toEqual(r.parties.filter((p) => p !== LATE_INPUT));
    }
  });

  it('the cost: with positions 5 and 6 offline and position 4’s View lacking the input, every lock is one View’s omission — the leader proposes nothing, and a lock dropping it is refused', () => {
    const { r, members, views } = round([0, 1, 2, 3], [0, 1, 2, 3, 4]);
    for (const id of members) {
      const m = r.members.get(id)!;
      let fields: Record<string, unknown> = {};
      expect(
        codeOf(() => {
          try {
            m.proposeLock(r.committee.indexOf(id));
          } catch (e) {
            fields = (e as SecAggError).fields;
            throw e;
          }
        }),
      ).toBe('SECAGG_TOO_FEW_VIEWS');
      expect(fields.reason).toBe('omission-by-one-view');
    }
    // The lock the five Views give (what the old leader proposed): 0–3 carry the input and refuse it.
    const ks = r.members.get(members[0]!)!.keySet!;
    const cited = views.map((v) => v.view);
    const { survivors, dropped } = deriveLock(cited, ks.shared);
    expect(dropped).toEqual([LATE_INPUT]);
    const lock: ProposalMsg = {
      kind: SecAggKind.Proposal,
      federation: r.ctx.federation,
      round: r.ctx.round,
      sender: members[0]!,
      turn: 0,
      keySet: ks.digest,
      survivors: survivors.map((e) => e.participant),
      dropped,
      views: cited,
    };
    const refused: Record<string, string> = {};
    const ends: string[] = [];
    for (const id of members) {
      try {
        const e = r.members.get(id)!.onLockProposal(lock, LATE);
        if (e !== undefined) ends.push(e.sender);
      } catch (e) {
        refused[id] = String((e as SecAggError).fields.reason);
      }
    }
    expect(ends).toEqual([members[4]]);
    expect(refused).toEqual(Object.fromEntries(members.slice(0, 4).map((id) => [id, 'omission-by-one-view'])));
  });
});
