/**
 * Red team (H-red), F26: with m − t members offline only t Views exist and a lock must cite the
 * malicious member's, so F12's lock rule (refuse an omitted input of one's View that ≥ t held
 * Views carry) cannot fire and one active member chose U_3 within the floor.
 *
 * (m, t) = (7, 5), c_a = 1 active member (inside the bound) at committee position 0 (it leads turn 0
 * of the lock), two members crashed (m − t = 2: G4 says the round still completes), 12 participants
 * of which 7 collude (the malicious member's own participant among them). The key set is honest
 * (U_2 = all 12 sharers). The malicious member's View omits four honest inputs; its lock cites the
 * only five Views there are (U_3 = victim + 7 colluders, ⌈2/3·12⌉ = 8, inside the floor). Each
 * honest member sees the omitted inputs in four Views (< t). Before the fix the lock was certified
 * and the colluders read the victim's exact input. Now (committee-member.ts "lock, one view's
 * omission") every honest member refuses it ('omission-by-one-view': each omitted input of its
 * View is lacking from one cited View only), no honest leader can propose any lock (every choice
 * of the five Views is such an omission), and nothing is revealed. The same holds with every
 * member live and the other Views delayed (the rule counts cited Views only). Control: all seven
 * live, all Views delivered: F12's rule fires first ('omits-held-input'). Residual: two active
 * members (c_a = 2 < 2t − m = 3) whose Views omit the same honest inputs still choose U_3 with
 * m − t members offline.
 */
import { describe, expect, it } from 'vitest';
import { type ProposalMsg, SecAggKind, type SignedView } from '../../protocol/messages/secagg.js';
import type { SecAggError } from '../../protocol/secure-aggregation/errors.js';
import { requiredSurvivors } from '../../protocol/secure-aggregation/floors.js';
import { decodeSum } from '../../protocol/secure-aggregation/quantize.js';
import { deriveLock } from '../../protocol/secure-aggregation/views.js';
import { codeOf, config } from './secagg-helpers.js';
import { deliverViews, LATE, lockAndReveal, maskInputs, setupRound, shareKeys, signView } from './secagg-round-harness.js';

const MALICIOUS = 'peer-000';
const OFFLINE = ['peer-005', 'peer-006'];
const COALITION = [MALICIOUS, 'peer-007', 'peer-008', 'peer-010', 'peer-011', 'peer-012', 'peer-013'];
const VICTIM = 'peer-009';
const DROPPED_HONEST = ['peer-001', 'peer-002', 'peer-003', 'peer-004'];
const CLOCK = { now: 1e12, turnStart: (t: number) => t * 1000 };

function offer<T>(to: readonly string[], f: (id: string) => T | undefined) {
  const out: T[] = [];
  const refused = new Map<string, string>();
  for (const id of to) {
    try {
      const e = f(id);
      if (e !== undefined) out.push(e);
    } catch (e) {
      refused.set(id, String((e as SecAggError).fields?.reason ?? (e as SecAggError).code));
    }
  }
  return { out, refused };
}

function run(offline: readonly string[], o: { notSharing?: readonly string[]; omitting?: readonly string[]; delayViews?: boolean } = {}) {
  const notSharing = o.notSharing ?? OFFLINE;
  const omitting = o.omitting ?? [MALICIOUS];
  const r = setupRound({ n: 14, m: 7, t: 5, config: config(), seed: 'offline-members-lock' });
  const live = r.committee.filter((id) => !offline.includes(id));
  shareKeys(r, new Set(notSharing)); // the crashed hosts share nothing either
  const proposal = r.members.get(MALICIOUS)!.proposeKeySet(0);
  const ks = offer(live, (id) => r.members.get(id)!.onKeySetProposal(proposal, CLOCK));
  for (const id of live) {
    const m = r.members.get(id)!;
    m.learnKeySetProposal(proposal);
    for (const e of ks.out) if (e.sender !== id) m.addKeySetEndorse(e);
  }
  maskInputs(r, { proposal, endorsements: ks.out }, proposal.shared);
  const views = live.map((id) => (omitting.includes(id) ? signView(r, id, [VICTIM, ...COALITION].sort()) : signView(r, id)));
  const citedMsgs = views.slice(0, r.ctx.threshold);
  // With delayViews, each member holds only the cited Views when the lock arrives.
  deliverViews(r, o.delayViews === true ? citedMsgs : views, live);
  const cited: SignedView[] = citedMsgs.map((v) => v.view);
  const { survivors, dropped } = deriveLock(cited, proposal.shared);
  const lock: ProposalMsg = {
    kind: SecAggKind.Proposal,
    federation: r.ctx.federation,
    round: r.ctx.round,
    sender: MALICIOUS,
    turn: 0,
    keySet: cited[0]!.keySet,
    survivors: survivors.map((e) => e.participant),
    dropped,
    views: cited,
  };
  const endorsed = offer(live, (id) => r.members.get(id)!.onLockProposal(lock, LATE));
  return { r, live, proposal, lock, endorsed };
}

describe('attack F26: one active member chooses U_3 when m − t members are offline — now refused', () => {
  it('two members crashed: every honest member refuses the lock (omission-by-one-view, LockRefuse), no honest leader can propose one, nothing is revealed', () => {
    const { r, live, proposal, lock, endorsed } = run(OFFLINE);
    const honest = live.filter((id) => id !== MALICIOUS);
    expect(proposal.shared).toHaveLength(12);
    expect(lock.survivors).toEqual([VICTIM, ...COALITION].sort());
    expect(lock.survivors.length).toBe(requiredSurvivors(r.ctx.config.minSurvivorFraction, 12)); // inside the floor
    expect(lock.dropped).toEqual(DROPPED_HONEST);
    expect(endorsed.out.map((e) => e.sender)).toEqual([MALICIOUS]);
    expect(Object.fromEntries(endorsed.refused)).toEqual(Object.fromEntries(honest.map((id) => [id, 'omission-by-one-view'])));
    for (const id of honest) {
      const e = r.members.get(id)!.evidence.at(-1)!;
      expect(e.code).toBe('SECAGG_BAD_PROPOSAL');
      expect(e.fields.participants).toEqual(DROPPED_HONEST);
      expect(e.fields.omittedBy).toEqual(DROPPED_HONEST.map(() => MALICIOUS));
      const out = r.members.get(id)!.takeOutbox();
      expect(out.map((m) => [m.kind, m.sender])).toEqual([[SecAggKind.LockRefuse, id]]);
    }
    // Honest leaders of turns 1–4: every choice of t Views is the five there are, which leaves out
    // the four inputs on the malicious View's say alone — they propose nothing.
    for (const id of honest) expect(codeOf(() => r.members.get(id)!.proposeLock(r.committee.indexOf(id)))).toBe('SECAGG_TOO_FEW_VIEWS');
    // The lock has one endorsement: no certificate, no reveal.
    const reveals = lockAndReveal(r, endorsed.out, live);
    expect(reveals).toEqual([]);
    for (const id of live) expect(r.members.get(id)!.lockCertificate()).toBeUndefined();
  });

  it('every member live but the other Views delayed (each holds the cited five and its own): the cited honest members refuse it as one View’s omission, 5–6 by F12', () => {
    const { r, endorsed } = run([], { delayViews: true });
    expect(endorsed.out.map((e) => e.sender)).toEqual([MALICIOUS]);
    // 1–4 see the omitted inputs in four Views (< t): only F26's rule fires there.
    expect(Object.fromEntries(endorsed.refused)).toEqual({
      ...Object.fromEntries(r.committee.slice(1, 5).map((id) => [id, 'omission-by-one-view'])),
      ...Object.fromEntries(r.committee.slice(5).map((id) => [id, 'omits-held-input'])),
    });
  });

  it('control: with every member live (same 12 participants) the same lock is refused by every honest member (omits-held-input)', () => {
    const { r, endorsed } = run([]);
    expect(endorsed.out.map((e) => e.sender)).toEqual([MALICIOUS]);
    expect(new Set([...endorsed.refused.values()])).toEqual(new Set(['omits-held-input']));
    expect([...endorsed.refused.keys()]).toEqual(r.committee.filter((id) => id !== MALICIOUS));
  });

  it('residual (documented): two active members (c_a = 2 < 2t − m) whose Views omit the same four honest inputs — the lock is certified and the victim’s input is read exactly', () => {
    const SECOND = 'peer-004';
    const { r, live, lock, endorsed } = run(OFFLINE, { omitting: [MALICIOUS, SECOND] });
    expect(lock.dropped).toEqual(DROPPED_HONEST);
    expect(endorsed.out.map((e) => e.sender)).toEqual(live); // each omission is two Views' say
    const reveals = lockAndReveal(r, endorsed.out, live);
    expect(reveals.length).toBeGreaterThanOrEqual(r.ctx.threshold);
    const { sum, survivors } = r.members.get(MALICIOUS)!.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked])));
    const { values } = decodeSum(sum, survivors.length, r.ctx.config);
    const f = 2 ** r.ctx.config.fractionalBits;
    const estimate = r.ints.get(VICTIM)!.map((_, k) => Math.round(values[k]! * f - COALITION.reduce((a, p) => a + r.ints.get(p)![k]!, 0)));
    expect(estimate).toEqual(r.ints.get(VICTIM));
  });
});
