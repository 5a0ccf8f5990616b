/**
 * Red team F38 (H-red, 2026-12-07 late): two participants stall every lock — no member needed —
 * by having their masked inputs reach different sets of exactly t members before the Views.
 *
 * F12's lock rule (committee-member.ts `onLockProposal`, 'omits-held-input'): a member refuses a
 * lock that leaves out an input of its own View that ≥ t Views it holds carry. F26's rule
 * ('omission-by-one-view'; honest leaders' `chooseViews`) adds: no input may be left out that
 * every cited View but one carries. Participant X1's input carried by exactly t Views (S1) must
 * then be in U_3, so a lock must cite exactly S1; participant X2's input carried by another t
 * Views (S2 ≠ S1) must be in U_3 too, so the lock must cite exactly S2. No lock keeps both: any lock
 * leaves one out and every member whose View carries it refuses — t members, so at most m − t
 * endorse and no lock is ever certified. The round aborts at its deadline with nothing revealed;
 * the next round the same two participants do it again (availability of the whole federation,
 * by two participants, every round; the same split can also happen by itself under load, when
 * two inputs land near the View deadline).
 *
 * How they do it: each sends its masked input late, directly to its t chosen members just before
 * their View deadline (or sends two versions, G13's "first stands" fixing who holds which) — the
 * harness models it by the Views each member signs. At (7, 5), 10 participants: X1 = peer-008
 * lacking at peer-000 and peer-001, X2 = peer-009 lacking at peer-002 and peer-003. Every member
 * honest and live; every View delivered to every member.
 */
import { describe, expect, it } from 'vitest';
import type { EndorseMsg, ProposalMsg, SecAggKind, ViewMsg } from '../../protocol/messages/secagg.js';
import { config } from './secagg-helpers.js';
import { certifyKeySet, deliverViews, LATE, maskInputs, setupRound, shareKeys, signView } from './secagg-round-harness.js';

const X1 = 'peer-008';
const X2 = 'peer-009';

/** Runs the lock phase's leader turns 0 … m − 1 and returns the certified lock (t endorsements), if any. */
function lockPhase(lacking: ReadonlyMap<string, readonly string[]>) {
  const r = setupRound({ n: 10, m: 7, t: 5, config: config(), seed: 'two-late-inputs' });
  shareKeys(r);
  const keySet = certifyKeySet(r);
  expect(keySet.endorsements).toHaveLength(7);
  maskInputs(r, keySet, keySet.proposal.shared);
  const views: ViewMsg[] = r.committee.map((id) =>
    signView(
      r,
      id,
      [...r.payloads.keys()].filter((p) => !(lacking.get(p) ?? []).includes(id)),
    ),
  );
  deliverViews(r, views);
  const turns: { leader: string; proposed: boolean; endorsers: string[]; refusals: string[] }[] = [];
  let certified: ProposalMsg | undefined;
  for (let turn = 0; turn < r.committee.length && certified === undefined; turn++) {
    const leader = r.committee[turn]!;
    let proposal: ProposalMsg | undefined;
    try {
      proposal = r.members.get(leader)!.proposeLock(turn);
    } catch {
      // SECAGG_TOO_FEW_VIEWS (no F26-safe choice) or a floor: nothing proposed this turn.
    }
    if (proposal === undefined) {
      turns.push({ leader, proposed: false, endorsers: [], refusals: [] });
      continue;
    }
    const endorsements: EndorseMsg<SecAggKind.LockEndorse>[] = [];
    const refusals: string[] = [];
    for (const id of r.committee) {
      try {
        const e = r.members.get(id)!.onLockProposal(proposal, LATE);
        if (e !== undefined) endorsements.push(e);
      } catch {
        refusals.push(id);
      }
    }
    turns.push({ leader, proposed: true, endorsers: endorsements.map((e) => e.sender), refusals });
    if (endorsements.length >= r.ctx.threshold) certified = proposal;
  }
  return { r, turns, certified };
}

describe('F38: two participants whose inputs reach different t-sets of members stall every lock', () => {
  it('control: one such participant (X1 held by five members) — the first honest lock keeps it and is certified', () => {
    const { certified } = lockPhase(new Map([[X1, ['peer-000', 'peer-001']]]));
    expect(certified).toBeDefined();
    expect(certified!.survivors).toContain(X1);
  });

  it.fails('two of them (X1 lacking at peer-000/001, X2 at peer-002/003), every member honest and live: some lock is still certified within the m leader turns', () => {
    const { certified, turns } = lockPhase(
      new Map([
        [X1, ['peer-000', 'peer-001']],
        [X2, ['peer-002', 'peer-003']],
      ]),
    );
    // Today: a proposal that keeps X1 is refused by X2's five carriers (and vice versa); the
    // leaders that endorsed one lock cannot endorse another; nothing is ever certified.
    expect({ certified: certified !== undefined, turns }).toMatchObject({ certified: true });
  });
});
