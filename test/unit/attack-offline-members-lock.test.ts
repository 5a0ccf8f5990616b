/**
 * Red team (H-red), open item 2: a threat-model claim that no test showed. docs/secure-aggregation.md
 * "What still isolates a victim" says, "argued, not tested": with m − t members offline only t Views
 * exist and a lock must cite the malicious member's, so it still chooses U_3 within the floor; G1's
 * row in docs/threat-model.md points at it. This is that argument run on the protocol objects.
 *
 * (m, t) = (7, 5), c_a = 1 active member (inside the bound) at committee position 0 (it leads turn 0
 * of the lock), two members crashed (m − t = 2: G4 says the round still completes), 12 participants
 * of which 7 collude (the malicious member's own participant among them). The key set is honest
 * (U_2 = all 12 sharers). The malicious member's View omits four honest inputs; its lock cites the
 * only five Views there are. Each honest member holds five Views and sees the omitted inputs in four
 * (< t), so F12's lock rule (`omits-held-input`) cannot fire; the lock is certified, the reveals go
 * out, and the colluders read the victim's exact input from the sum (U_3 = victim + 7 colluders,
 * ⌈2/3·12⌉ = 8, inside the floor). With every member live the same lock is refused (control).
 * Documented residual: kept as a passing "today" test, so a fix that closes it must restate it.
 */
import { describe, expect, it } from 'vitest';
import type { ProposalMsg, SignedView } from '../../protocol/messages/secagg.js';
import type { SecAggError } from '../../protocol/secure-aggregation/errors.js';
import { requiredSurvivors } from '../../protocol/secure-aggregation/floors.js';
import { decodeSum } from '../../protocol/secure-aggregation/quantize.js';
import { deriveLock } from '../../protocol/secure-aggregation/views.js';
import { config } from './secagg-helpers.js';
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

function run(offline: readonly string[], notSharing: readonly string[] = OFFLINE) {
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
  const views = live.map((id) => (id === MALICIOUS ? signView(r, id, [VICTIM, ...COALITION].sort()) : signView(r, id)));
  deliverViews(r, views, live);
  const cited: SignedView[] = views.map((v) => v.view).slice(0, r.ctx.threshold);
  const { survivors, dropped } = deriveLock(cited, proposal.shared);
  const lock: ProposalMsg = {
    ...r.members.get(MALICIOUS)!.proposeLock(0),
    survivors: survivors.map((e) => e.participant),
    dropped,
    views: cited,
  };
  const endorsed = offer(live, (id) => r.members.get(id)!.onLockProposal(lock, LATE));
  return { r, live, proposal, lock, endorsed };
}

describe('attack: one active member chooses U_3 when m − t members are offline (argued residual, now tested)', () => {
  it('today: two members crashed — the honest members cannot tell, the lock is certified and the victim’s input is read exactly', () => {
    const { r, live, proposal, lock, endorsed } = run(OFFLINE);
    expect(proposal.shared).toHaveLength(12);
    expect(lock.survivors).toEqual([VICTIM, ...COALITION].sort());
    expect(lock.survivors.length).toBe(requiredSurvivors(r.ctx.config.minSurvivorFraction, 12)); // inside the floor
    expect(lock.dropped).toEqual(DROPPED_HONEST);
    expect(endorsed.out.map((e) => e.sender)).toEqual(live); // every live member, t = 5
    const reveals = lockAndReveal(r, endorsed.out, live);
    expect(reveals.length).toBeGreaterThanOrEqual(r.ctx.threshold);
    // Reveals are public: the coalition unmasks the sum and subtracts its own inputs.
    const { sum, survivors } = r.members.get(MALICIOUS)!.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked])));
    const { values } = decodeSum(sum, survivors.length, r.ctx.config);
    const f = 2 ** r.ctx.config.fractionalBits;
    const estimate = r.ints.get(VICTIM)!.map((_, k) => Math.round(values[k]! * f - COALITION.reduce((a, p) => a + r.ints.get(p)![k]!, 0)));
    expect(estimate).toEqual(r.ints.get(VICTIM));
  });

  it('control: with every member live (same 12 participants) the same lock is refused by every honest member (omits-held-input)', () => {
    const { r, endorsed } = run([]);
    expect(endorsed.out.map((e) => e.sender)).toEqual([MALICIOUS]);
    expect(new Set([...endorsed.refused.values()])).toEqual(new Set(['omits-held-input']));
    expect([...endorsed.refused.keys()]).toEqual(r.committee.filter((id) => id !== MALICIOUS));
  });
});
