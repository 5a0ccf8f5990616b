/**
 * Red team (H-red) on H-start's liveness rule (a4c9695: members and participants keep following a
 * late key set until `followUntil`, the chain's finalize deadline): does following longer let an
 * honest member reveal for two locks, or a participant's b_i and s_i^SK both reach t members?
 *
 * The round machine on the attack driver's manual clock (attack-machine-driver.ts), (m, t) = (7, 5),
 * 10 parties, followUntil 60 s (input deadline 11 s). The network delays every secure-aggregation
 * message by a seeded random amount per recipient — key-set proposals and endorsements half of the
 * time by 8–20 s, past the input deadline; ShareKeys 30 % of the time by 1–5 s, so leaders of
 * different turns hold different shares and propose different U_2; everything else < 300 ms — so
 * key-set certificates reach parties at
 * very different times, later turns certify other key sets, participants mask under whichever
 * they see first, and members follow different key sets. Invariants (G2, G1's never-both): every
 * reveal names one lock digest; no participant has b-shares and s^SK-shares revealed by t or more
 * members each. The schedules must also exercise the rule: some rounds certify a key set only
 * after the input deadline at some member, and some reveal (checked in aggregate). A second run
 * charges the lock on chain before the reveals (F18; the chain takes the first charge asked for and
 * each member hears of it 0–15 s later): no member reveals before its answer, the revealed lock is
 * the charged one, and every participant whose b_i is revealed was charged.
 */
import { describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { decodeSecAgg, encodeSecAgg, type RevealMsg, SecAggKind } from '../../protocol/messages/secagg.js';
import { createRng } from '../../protocol/rng.js';
import { driveRound } from './attack-machine-driver.js';
import { ids } from './secagg-helpers.js';

const N = 10;
const M = 7;
const T = 5;
const PARTIES = ids(N);
const INPUT_DEADLINE = 11_000;

function schedule(seed: number, chargesLock = false) {
  const rng = createRng(seed, 'attack-late-follow');
  // Key-set messages: a quarter of the copies arrive 8–20 s late (past the input deadline);
  // everything else within 300 ms, so a key set certified late can still finish the round.
  const delay = (keySet: boolean, shares: boolean): number =>
    keySet && rng.next() < 0.5
      ? 8_000 + rng.int(12_000)
      : shares && rng.next() < 0.3
        ? 1_000 + rng.int(4_000) // shares held by some leaders and not others: different U_2
        : rng.int(300);
  const reveals: RevealMsg[] = [];
  /** When each member published each reveal, and when the chain's charge answer reached it. */
  const revealedAt: { member: string; at: number }[] = [];
  const chargedAt = new Map<string, number>();
  let charged: { lock: string; contributors: readonly string[] } | undefined;
  const keySetsSeen = new Set<string>();
  let lateKeySetEndorsement = false;
  const result = driveRound({
    seed: `late-follow-${seed}`,
    n: N,
    m: M,
    t: T,
    extra: { followUntil: 60_000, ...(chargesLock ? { chargesLock: true } : {}) },
    onEffect: (from, e, ctl) => {
      if (e.type === 'charge-lock') {
        // The chain takes the first charge asked for; each member hears of it 0–15 s later.
        charged ??= { lock: e.request.lock, contributors: [...e.request.contributors] };
        const at = ctl.now() + rng.int(15_000);
        chargedAt.set(from, Math.min(chargedAt.get(from) ?? Number.POSITIVE_INFINITY, at));
        ctl.hold(at, from, { type: 'lock-charged', now: 0, lock: charged.lock as `0x${string}` });
        return true;
      }
      if (e.type === 'publish') {
        const m = e.message;
        if (m.kind === SecAggKind.Reveal) {
          reveals.push(m);
          revealedAt.push({ member: from, at: ctl.now() });
        }
        if (m.kind === SecAggKind.KeySetEndorse) keySetsSeen.add(toHex0x(m.digest));
        const bytes = encodeSecAgg(m);
        for (const to of PARTIES) {
          if (to === from) continue;
          const keySetKind = m.kind === SecAggKind.KeySetEndorse || m.kind === SecAggKind.KeySetProposal;
          const at = ctl.now() + delay(keySetKind, m.kind === SecAggKind.ShareKeys);
          if (m.kind === SecAggKind.KeySetEndorse && at > INPUT_DEADLINE) lateKeySetEndorsement = true;
          ctl.hold(at, to, { type: 'received', now: 0, messages: [decodeSecAgg(bytes)], inputs: [] });
        }
        return true;
      }
      return false;
    },
    inputFor: (_from, input) => input,
  });
  return { result, reveals, revealedAt, chargedAt, charged, keySets: keySetsSeen.size, lateKeySetEndorsement };
}

describe('attack: following a late key set until the chain’s deadline, under an adversarial schedule (H-start)', () => {
  it('one lock revealed for, never both kinds, over 12 seeded schedules that certify late and several key sets', () => {
    let revealed = 0;
    let severalKeySets = 0;
    let late = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const { reveals, keySets, lateKeySetEndorsement } = schedule(seed);
      if (reveals.length > 0) revealed++;
      if (keySets > 1) severalKeySets++;
      if (lateKeySetEndorsement) late++;
      // G2: reveals for one lock only.
      expect(new Set(reveals.map((r) => toHex0x(r.proposal))).size).toBeLessThanOrEqual(1);
      // Never both kinds: no participant with b and s^SK each revealed by ≥ t members.
      for (const p of PARTIES) {
        const b = new Set(reveals.filter((r) => r.selfMaskShares.some((s) => s.participant === p)).map((r) => r.sender));
        const sk = new Set(reveals.filter((r) => r.keyShares.some((s) => s.participant === p)).map((r) => r.sender));
        expect(b.size >= T && sk.size >= T).toBe(false);
      }
    }
    // The schedules exercise what the rule changed (measured: 12 of 12 late, 12 of 12 with several
    // endorsed key sets, 8 of 12 revealed).
    expect(late).toBeGreaterThan(0);
    expect(severalKeySets).toBeGreaterThan(0);
    expect(revealed).toBeGreaterThan(0);
  }, 300_000);

  it('with the charge before the reveals (F18), no member reveals before its charge answer, and only the charged lock and survivors', () => {
    let revealed = 0;
    for (let seed = 101; seed <= 108; seed++) {
      const { reveals, revealedAt, chargedAt, charged } = schedule(seed, true);
      if (reveals.length > 0) revealed++;
      expect(new Set(reveals.map((r) => toHex0x(r.proposal))).size).toBeLessThanOrEqual(1);
      for (const r of revealedAt) expect(r.at).toBeGreaterThanOrEqual(chargedAt.get(r.member) ?? Number.POSITIVE_INFINITY);
      if (reveals.length > 0) {
        expect(toHex0x(reveals[0]!.proposal)).toBe(charged!.lock);
        // Every participant whose b_i was revealed was charged.
        for (const r of reveals) for (const sh of r.selfMaskShares) expect(charged!.contributors).toContain(sh.participant);
      }
    }
    expect(revealed).toBeGreaterThan(0);
  }, 300_000);
});
