/**
 * Red team (issue 13 attack 3 moved to the key set; H8's finding F9, fixed in b3fc38a): one
 * malicious committee member leading the key-set turn, plus two colluding participants S1 and
 * S2, proposes a key set whose U_2 is {victim, S1, S2}. Before the fix every honest member
 * endorsed it (|U_2| ≥ 3 was the only floor), the victim masked with exactly S1 and S2, every
 * lock floor (relative to U_2) passed, and the sum minus S1's and S2's inputs was the victim's
 * exact input. Now an honest member refuses a U_1 that omits an advertiser it holds and a U_2
 * below ⌈α·|U_1|⌉, so no such key set is certified and the helper below recovers nothing.
 */
import { describe, expect, it } from 'vitest';
import type { KeySetProposalMsg } from '../../protocol/messages/secagg.js';
import { decodeSum } from '../../protocol/secure-aggregation/quantize.js';
import { config } from './secagg-helpers.js';
import { LATE, maskInputs, setupRound, shareKeys, signView } from './secagg-round-harness.js';

function isolate(advertisedAll: boolean): { certified: boolean; recovered: number | undefined; truth: number } {
  // 12 parties; committee = the first 7 (peer-000 leads turn 0 and is malicious).
  const r = setupRound({ n: 12, m: 7, t: 5, config: config(), seed: 'isolation' });
  shareKeys(r);
  const victim = 'peer-009';
  const sybils = ['peer-010', 'peer-011'];
  const all = r.parties;
  const crafted: KeySetProposalMsg = {
    kind: r.members.get('peer-000')!.proposeKeySet(0).kind,
    federation: r.ctx.federation,
    round: r.ctx.round,
    sender: 'peer-000',
    turn: 0,
    advertised: advertisedAll ? all : [victim, ...sybils].sort(),
    shared: [victim, ...sybils].sort(),
  };
  const endorsements = [];
  for (const id of r.committee) {
    try {
      const e = r.members.get(id)!.onKeySetProposal(crafted, { now: 0, turnStart: (t) => t * 1000 });
      if (e !== undefined) endorsements.push(e);
    } catch {
      /* refused */
    }
  }
  for (const m of r.members.values()) {
    m.learnKeySetProposal(crafted);
    for (const e of endorsements) if (e.sender !== m.self) m.addKeySetEndorse(e);
  }
  let recovered: number | undefined;
  if (endorsements.length >= r.ctx.threshold) {
    const ks = { proposal: crafted, endorsements };
    maskInputs(r, ks, [victim, ...sybils]);
    const views = r.committee.map((id) => signView(r, id));
    for (const id of r.committee) for (const v of views) if (v.sender !== id) r.members.get(id)!.addView(v);
    const lock = r.members.get('peer-000')!.proposeLock(0);
    const ends = r.committee.map((id) => r.members.get(id)!.onLockProposal(lock, LATE)!);
    for (const id of r.committee) for (const e of ends) if (e.sender !== id) r.members.get(id)!.addLockEndorse(e);
    const reveals = r.committee.map((id) => r.members.get(id)!.reveal()!);
    const m0 = r.members.get('peer-000')!;
    for (const rv of reveals.slice(1)) m0.addReveal(rv);
    const { sum, survivors } = m0.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked])));
    const { values } = decodeSum(sum, survivors.length, r.ctx.config);
    // The coalition knows S1's and S2's inputs: the rest is the victim's, coordinate 0.
    const f = 2 ** r.ctx.config.fractionalBits;
    recovered = Math.round((values[0]! - sybils.reduce((a, s) => a + r.ints.get(s)![0]! / f, 0)) * f);
  }
  return { certified: endorsements.length >= r.ctx.threshold, recovered, truth: r.ints.get(victim)![0]! };
}

describe('a key-set leader cannot isolate a victim with two colluding participants', () => {
  it('U_1 = everyone, U_2 = {victim, S1, S2}: refused (U_2 below α·|U_1|), nothing recovered', () => {
    expect(isolate(true)).toMatchObject({ certified: false, recovered: undefined });
  });
  it('U_1 = U_2 = {victim, S1, S2}: refused (U_1 omits advertisers the members hold), nothing recovered', () => {
    expect(isolate(false)).toMatchObject({ certified: false, recovered: undefined });
  });
});
