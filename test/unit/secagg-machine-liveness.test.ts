/**
 * The round machine publishes and consumes the liveness evidence (issue 13 #13;
 * protocol/secure-aggregation/machine/liveness.ts): the attacks of attack-complaint-split and
 * attack-view-equivocation (F7), but driven only through `step`, as the node drives it
 * (./attack-machine-driver.ts: one FIFO queue of wire-decoded messages, a manual clock). Before
 * this wiring the member's outbox was never published, so both attacks stalled the round in the
 * node although the protocol objects handled them.
 */
import { describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import {
  decodeSecAgg,
  encodeSecAgg,
  type ProposalMsg,
  SecAggKind,
  type SecAggMessage,
  type ShareKeysMsg,
  type SignedView,
  type ViewMsg,
  viewStatement,
} from '../../protocol/messages/secagg.js';
import type { RoundEvent } from '../../protocol/secure-aggregation/machine/index.js';
import { type Control, driveRound, ROUND } from './attack-machine-driver.js';
import { testSign } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const wire = <T extends SecAggMessage>(m: T): T => decodeSecAgg(encodeSecAgg(m)) as T;
const received = (ctl: Control, m: SecAggMessage): RoundEvent => ({ type: 'received', now: ctl.now(), messages: [wire(m)], inputs: [] });
const scope = { binding: TEST_BINDING, federation: 'fed', round: ROUND };

/** Round 1 of the integration test, in the machine: peer-008 sends shares that do not open to positions 0–2. */
function badShares(deliverComplaints: boolean) {
  const attacker = 'peer-008';
  const published: SecAggMessage[] = [];
  const r = driveRound({
    seed: 'machine-complaints',
    n: 9,
    m: 7,
    t: 5,
    onEffect: (from, e, ctl) => {
      if (e.type !== 'publish') return false;
      published.push(e.message);
      const m = e.message;
      if (m.kind === SecAggKind.ShareKeys && from === attacker) {
        const victims = new Set(['peer-000', 'peer-001', 'peer-002']);
        const spoiled: ShareKeysMsg = {
          ...m,
          shares: m.shares.map((s) =>
            victims.has(s.recipient) ? { ...s, ciphertext: s.ciphertext.map((b, k) => (k === 0 ? b ^ 1 : b)) } : s,
          ),
        };
        for (let i = 0; i < 9; i++) if (`peer-00${i}` !== from) ctl.push(`peer-00${i}`, received(ctl, spoiled));
        return true;
      }
      // The control: complaints never leave their member.
      return m.kind === SecAggKind.Complaint && !deliverComplaints;
    },
  });
  return { ...r, attacker, published };
}

describe('round machine: complaints', () => {
  it('the members whose share does not open publish a complaint; U_2 leaves the attacker out; every record sums the other eight', () => {
    const { records, published, attacker } = badShares(true);
    const complaints = published.filter((m) => m.kind === SecAggKind.Complaint);
    expect(complaints.map((c) => [c.sender, c.kind === SecAggKind.Complaint ? c.accused : ''])).toEqual([
      ['peer-000', attacker],
      ['peer-001', attacker],
      ['peer-002', attacker],
    ]);
    expect(records.length).toBeGreaterThanOrEqual(5);
    for (const x of records) {
      expect(x.request.contributors).toHaveLength(8);
      expect(x.request.contributors).not.toContain(attacker);
      expect(x.request.modelHash).toBe(records[0]!.request.modelHash);
    }
  });

  it('control: without the complaints crossing the network no key set is certified and nothing is recorded', () => {
    const { records, reveals } = badShares(false);
    expect(records).toEqual([]);
    expect(reveals).toEqual([]);
  });
});

describe('round machine: refusals and release (F7)', () => {
  it('position 0 shows an omitting view to positions 1–2 and cites it: 3–6 refuse with both views, 1–2 refuse it as one view’s omission (F26), a later lock keeps the victim', () => {
    const M = 'peer-000';
    const victim = 'peer-008';
    const shownOmitting = new Set(['peer-001', 'peer-002']);
    const views = new Map<string, SignedView>();
    let omitting: SignedView | undefined;
    const published: { from: string; m: SecAggMessage }[] = [];
    const revealed: string[] = [];
    const r = driveRound({
      seed: 'machine-release',
      n: 9,
      m: 7,
      t: 5,
      onEffect: (from, e, ctl) => {
        if (e.type !== 'publish') return false;
        const m = e.message;
        published.push({ from, m });
        if (m.kind === SecAggKind.Reveal) revealed.push(toHex0x(m.proposal));
        const others = ['peer-000', 'peer-001', 'peer-002', 'peer-003', 'peer-004', 'peer-005', 'peer-006', 'peer-007', victim].filter(
          (to) => to !== from,
        );
        if (m.kind === SecAggKind.View) {
          views.set(from, m.view);
          if (from === M) {
            // Two views: the full one to 3–6 (and participants), one without the victim to 1–2.
            const entries = m.view.entries.filter((x) => x.participant !== victim);
            omitting = { ...m.view, entries, signature: testSign(M)(viewStatement(scope, M, m.view.keySet, entries)) };
            const second: ViewMsg = { ...m, view: omitting };
            for (const to of others) ctl.push(to, received(ctl, shownOmitting.has(to) ? second : m));
            return true;
          }
          // 1–2 get the other honest Views only later (gossip delay), so the cited views are all
          // they know when the lock arrives (four carry the victim: < t, the F12 lock rule stays quiet).
          const late = from !== 'peer-001' && from !== 'peer-002';
          for (const to of others) {
            if (late && shownOmitting.has(to)) ctl.hold(ctl.now() + 4_000, to, received(ctl, m));
            else ctl.push(to, received(ctl, m));
          }
          return true;
        }
        if (m.kind === SecAggKind.Proposal && from === M && m.turn === 0) {
          // Cite the omitting view with the views of 1–4; U_3 and D follow from them.
          const u2 = [...m.survivors, ...m.dropped].sort();
          const cited = [omitting!, ...['peer-001', 'peer-002', 'peer-003', 'peer-004'].map((id) => views.get(id)!)];
          const x: ProposalMsg = {
            ...m,
            views: cited.sort((a, b) => (a.member < b.member ? -1 : 1)),
            survivors: u2.filter((p) => p !== victim),
            dropped: [victim],
          };
          for (const to of others) ctl.push(to, received(ctl, x));
          return true;
        }
        return false;
      },
    });
    const of = (kind: SecAggKind) => published.filter((p) => p.m.kind === kind);
    const refusals = of(SecAggKind.LockRefuse);
    // Before F26, 1–2 (which hold only the cited views) endorsed the lock and were released by the
    // four refusals of 3–6 through LockReleases. Now every cited view but the omitting one carries
    // the victim, an input of their own Views: they refuse it too (bare refusals, no evidence).
    expect(refusals.map((p) => p.from).sort()).toEqual(['peer-001', 'peer-002', 'peer-003', 'peer-004', 'peer-005', 'peer-006']);
    for (const { from, m } of refusals)
      if (m.kind === SecAggKind.LockRefuse) expect(m.evidence.map((v) => v.member)).toEqual(shownOmitting.has(from) ? [] : [M, M]);
    const refused = new Set<string>(refusals.map(({ m }) => (m.kind === SecAggKind.LockRefuse ? toHex0x(m.digest) : '')));
    expect(refused.size).toBe(1);
    expect(of(SecAggKind.LockRelease)).toEqual([]);
    // Nobody revealed for the refused lock; one model with all nine was recorded (M's machine is the
    // unchanged one: only what left it was altered, so it may follow the later lock too).
    expect(revealed.filter((d) => refused.has(d))).toEqual([]);
    expect(r.records.length).toBeGreaterThanOrEqual(5);
    for (const x of r.records) {
      expect(x.request.contributors).toEqual(r.parties);
      expect(x.request.modelHash).toBe(r.records[0]!.request.modelHash);
    }
  });
});
