/**
 * The key-set omission grace Δ (committee-member.ts `CommitteeTiming`, docs/secure-aggregation.md
 * "Excluding someone"). In a 64-peer simulation members refused every key-set proposal because
 * the leader's U_1 omitted adverts (and U_2 shares) that the member had received only shortly
 * before — gossip still carrying them to the leader — and round 1 aborted with 0 inputs. A member
 * now forgives leaving out an advert or share it first held less than Δ before max(now, the turn's
 * due time on its own clock); one held for ≥ Δ by then is refused as before (F9, F12).
 *
 * Times are the driver's clock (ms): every member opened at 0, key deadline (turn 0 due) at
 * KEYS_MS, turn τ due at KEYS_MS + τ·GRACE_MS, Δ = GRACE_MS. So the cutoff for turn 0 is
 * max(now, 10 000) − 5 000.
 */
import { describe, expect, it } from 'vitest';
import type { EndorseMsg, KeySetProposalMsg, ShareKeysMsg } from '../../protocol/messages/secagg.js';
import {
  defaultKeySetGraceMs,
  NO_KEY_SET_GRACE,
  SecAggCommitteeMember,
  type TurnClock,
  validateKeySetGrace,
} from '../../protocol/secure-aggregation/committee-member.js';
import { SecAggError } from '../../protocol/secure-aggregation/errors.js';
import { decodeSum } from '../../protocol/secure-aggregation/quantize.js';
import { config, crypto, testSign, testVerify } from './secagg-helpers.js';
import { deliverViews, LATE, lockAndReveal, maskInputs, type Round, setupRound, signView } from './secagg-round-harness.js';

const KEYS_MS = 10_000;
const GRACE_MS = 5_000;
const LATE_ADVERT = 'peer-010'; // its advert reaches members 1–6 at `arrival`, never turn 0's leader
const LATE_SHARE = 'peer-011'; // its share reaches members 1–6 at `arrival`, never turn 0's leader

/** The driver's TurnClock (machine/committee-stages.ts `clockFrom` with start = KEYS_MS). */
const clockAt = (now: number): TurnClock => ({
  now,
  turnStart: (turn) => (turn === 0 ? Number.NEGATIVE_INFINITY : KEYS_MS + turn * GRACE_MS),
  turnDue: (turn) => KEYS_MS + turn * GRACE_MS,
});

/**
 * A 12-participant round at (7, 5) whose members have Δ = GRACE_MS. Everything reaches every
 * member at t = 1 000, except LATE_ADVERT's advert and LATE_SHARE's share: members 1–6 get them at
 * `arrival`, turn 0's leader (position 0) not before its proposal.
 */
function round(arrival: number, graceMs = GRACE_MS): { r: Round; shares: ShareKeysMsg[]; leader: string } {
  const r = setupRound({ n: 12, m: 7, t: 5, config: config(), seed: 'keyset-grace' });
  const timing = validateKeySetGrace(graceMs, KEYS_MS);
  for (const id of r.committee) {
    r.members.set(
      id,
      new SecAggCommitteeMember(
        r.ctx,
        id,
        r.keys.get(id)!.encryption.secretKey,
        { crypto, sign: testSign(id), verify: testVerify },
        timing,
      ),
    );
  }
  for (const part of r.participants.values()) for (const a of r.adverts) part.addAdvert(a);
  const shares = [...r.participants.values()].map((part) => part.shareKeys());
  const leader = r.committee[0]!;
  for (const [id, m] of r.members) {
    m.beginShares();
    for (const a of r.adverts) if (a.sender !== LATE_ADVERT) m.addAdvert(a, 1_000);
    for (const s of shares) if (s.sender !== LATE_ADVERT && s.sender !== LATE_SHARE) m.addShareKeys(s, 1_000);
    if (id === leader) continue;
    m.addAdvert(r.adverts.find((a) => a.sender === LATE_ADVERT)!, arrival);
    m.addShareKeys(shares.find((s) => s.sender === LATE_ADVERT)!, arrival);
    m.addShareKeys(shares.find((s) => s.sender === LATE_SHARE)!, arrival);
  }
  return { r, shares, leader };
}

function offer(r: Round, p: KeySetProposalMsg, clock: TurnClock) {
  const endorsements: EndorseMsg[] = [];
  const refused: Record<string, SecAggError> = {};
  for (const id of r.committee) {
    try {
      const e = r.members.get(id)!.onKeySetProposal(p, clock);
      if (e !== undefined) endorsements.push(e);
    } catch (e) {
      if (!(e instanceof SecAggError)) throw e;
      refused[id] = e;
    }
  }
  return { endorsements, refused };
}

describe('key-set omission grace Δ (late adverts and shares under load)', () => {
  it('an advert and a share received < Δ before turn 0 was due do not block it: certified at once, exact sum', () => {
    const { r, leader } = round(9_000); // held 1 s before the key deadline: 9 000 > 10 000 − 5 000
    const p0 = r.members.get(leader)!.proposeKeySet(0);
    expect(p0.advertised).not.toContain(LATE_ADVERT);
    expect(p0.shared).not.toContain(LATE_SHARE);
    expect(p0.advertised).toContain(LATE_SHARE);
    const { endorsements, refused } = offer(r, p0, clockAt(KEYS_MS));
    expect(refused).toEqual({});
    expect(endorsements).toHaveLength(7);
    for (const m of r.members.values()) {
      m.learnKeySetProposal(p0);
      for (const e of endorsements) if (e.sender !== m.self) m.addKeySetEndorse(e);
      expect(m.keySet?.shared).toEqual(p0.shared);
    }
    // The round goes on without the two late ones: exact sum over U_2.
    const u2 = p0.shared;
    maskInputs(r, { proposal: p0, endorsements }, u2);
    deliverViews(
      r,
      r.committee.map((id) => signView(r, id)),
    );
    const lock = r.committee.map((id) => r.members.get(id)!.onLockProposal(r.members.get(leader)!.proposeLock(0), LATE)!);
    lockAndReveal(r, lock);
    const { sum, survivors } = r.members.get(r.committee[3]!)!.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked])));
    expect(survivors.map((e) => e.participant)).toEqual(u2);
    const { values } = decodeSum(sum, survivors.length, r.ctx.config);
    const want = r.ints.get(u2[0]!)!.map((_, k) => u2.reduce((a, p) => a + r.ints.get(p)![k]!, 0));
    expect([...values].map((v) => v * 2 ** r.ctx.config.fractionalBits)).toEqual(want);
  });

  it('an advert and a share held ≥ Δ before the turn was due are still refused (F9 and F12 rules), naming Δ', () => {
    const { r, leader } = round(4_000); // held 6 s before the key deadline
    const p0 = r.members.get(leader)!.proposeKeySet(0);
    const { endorsements, refused } = offer(r, p0, clockAt(KEYS_MS));
    expect(endorsements.map((e) => e.sender)).toEqual([leader]);
    for (const id of r.committee.slice(1)) {
      const e = refused[id]!;
      expect(e.code).toBe('SECAGG_BAD_PROPOSAL');
      expect(e.fields).toMatchObject({
        reason: 'omits-held-advert',
        participants: [LATE_ADVERT],
        graceMs: GRACE_MS,
        cutoff: 5_000,
        forgiven: 0,
      });
      expect(r.members.get(id)!.evidence.at(-1)).toBe(e);
    }
    // The share rule on its own: a U_2 without LATE_SHARE from a leader holding LATE_ADVERT's advert.
    const { r: r2, leader: l2 } = round(4_000);
    r2.members.get(l2)!.addAdvert(r2.adverts.find((a) => a.sender === LATE_ADVERT)!, 1_000);
    const p = r2.members.get(l2)!.proposeKeySet(0);
    expect(p.advertised).toContain(LATE_ADVERT);
    const second = offer(r2, p, clockAt(KEYS_MS));
    for (const id of r2.committee.slice(1)) {
      expect(second.refused[id]!.fields).toMatchObject({
        reason: 'omits-held-share',
        participants: [LATE_ADVERT, LATE_SHARE],
        graceMs: GRACE_MS,
        forgiven: 0,
      });
    }
  });

  it('a leader cannot widen the window: an early turn-0 proposal (fast path) or a late decision forgives nothing more', () => {
    // Received at 1 500, proposal at 2 000 (long before the key deadline): cutoff = max(2 000, 10 000) − Δ = 5 000.
    const early = round(1_500);
    const p0 = early.r.members.get(early.leader)!.proposeKeySet(0);
    const a = offer(early.r, p0, clockAt(2_000));
    expect(a.endorsements.map((e) => e.sender)).toEqual([early.leader]);
    expect(Object.values(a.refused).map((e) => e.fields.reason)).toEqual(Array(6).fill('omits-held-advert'));
    // Received at 9 000 (< Δ before the deadline), but decided at 20 000 (a retried proposal): held 11 s ≥ Δ.
    const late = round(9_000);
    const p = late.r.members.get(late.leader)!.proposeKeySet(0);
    const b = offer(late.r, p, clockAt(20_000));
    expect(b.endorsements.map((e) => e.sender)).toEqual([late.leader]);
    expect(Object.values(b.refused).map((e) => e.fields.cutoff)).toEqual(Array(6).fill(15_000));
  });

  it('turn τ is judged at its own due time: what turn 0 forgave, turn 2 does not', () => {
    // Received at 9 000: forgiven at turn 0 (cutoff 5 000), not at turn 2 (due 20 000, cutoff 15 000).
    const { r, shares } = round(9_000);
    const leader2 = r.committee[2]!;
    // Turn 2's leader lacks the late share (as if it had not reached it either).
    const strict = new SecAggCommitteeMember(
      r.ctx,
      leader2,
      r.keys.get(leader2)!.encryption.secretKey,
      { crypto, sign: testSign(leader2), verify: testVerify },
      NO_KEY_SET_GRACE,
    );
    strict.beginShares();
    for (const a of r.adverts) strict.addAdvert(a);
    for (const s of shares) if (s.sender !== LATE_SHARE) strict.addShareKeys(s);
    const p2 = strict.proposeKeySet(2);
    expect(p2.shared).not.toContain(LATE_SHARE);
    const { refused } = offer(r, p2, clockAt(KEYS_MS + 2 * GRACE_MS));
    expect(refused[r.committee[1]!]!.fields).toMatchObject({ reason: 'omits-held-share', participants: [LATE_SHARE], cutoff: 15_000 });
  });

  it('shares due keysMs later (no committee keys at open: a participant may wait keysMs) are judged against that', () => {
    // The leader holds every advert but not the two late shares (received by members 1–6 at 9 000).
    const { r, leader } = round(9_000);
    r.members.get(leader)!.addAdvert(r.adverts.find((a) => a.sender === LATE_ADVERT)!, 1_000);
    const p = r.members.get(leader)!.proposeKeySet(0);
    expect(p.shared).not.toContain(LATE_SHARE);
    // Committee keys known at open (the simulator): shares are due with adverts, 9 000 > 5 000: forgiven.
    expect(offer(r, p, clockAt(KEYS_MS)).endorsements).toHaveLength(7);
    // Per-round member keys (the daemon): the share cutoff is max(now, 10 000 + keysMs) − Δ = 15 000.
    const { r: r2, leader: l2 } = round(9_000);
    r2.members.get(l2)!.addAdvert(r2.adverts.find((a) => a.sender === LATE_ADVERT)!, 1_000);
    const p2 = r2.members.get(l2)!.proposeKeySet(0);
    const perRound: TurnClock = { ...clockAt(KEYS_MS), shareDue: (turn) => KEYS_MS + turn * GRACE_MS + KEYS_MS };
    const { refused } = offer(r2, p2, perRound);
    expect(Object.keys(refused)).toHaveLength(6);
    expect(refused[r2.committee[1]!]!.fields).toMatchObject({
      reason: 'omits-held-share',
      participants: [LATE_ADVERT, LATE_SHARE],
      cutoff: 15_000,
    });
  });

  it('without a time (in-memory rounds, Δ = 0) every held item counts, as before', () => {
    const { r, leader } = round(9_000, 0);
    const p0 = r.members.get(leader)!.proposeKeySet(0);
    const { refused } = offer(r, p0, clockAt(KEYS_MS));
    expect(Object.keys(refused)).toHaveLength(6);
  });

  it('Δ is validated against the key window (SECAGG_BAD_CONFIG naming the field, value and rule)', () => {
    expect(validateKeySetGrace(0, KEYS_MS)).toEqual({ keySetGraceMs: 0 });
    expect(defaultKeySetGraceMs(KEYS_MS)).toBe(5_000);
    for (const bad of [KEYS_MS, KEYS_MS + 1, -1, 2.5, Number.NaN]) {
      let err: unknown;
      try {
        validateKeySetGrace(bad, KEYS_MS);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SecAggError);
      expect((err as SecAggError).code).toBe('SECAGG_BAD_CONFIG');
      expect((err as SecAggError).fields).toMatchObject({ field: 'keySetGraceMs', rule: 'integer in [0, keysMs − 1 = 9999]' });
    }
    const r = setupRound({ n: 4, m: 3, t: 2, config: config(), seed: 'grace-config' });
    const id = r.committee[0]!;
    expect(
      () =>
        new SecAggCommitteeMember(
          r.ctx,
          id,
          r.keys.get(id)!.encryption.secretKey,
          { crypto, sign: testSign(id), verify: testVerify },
          { keySetGraceMs: -5 },
        ),
    ).toThrow(expect.objectContaining({ code: 'SECAGG_BAD_CONFIG' }));
  });
});
