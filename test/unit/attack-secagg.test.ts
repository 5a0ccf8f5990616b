/**
 * Red-team attacks on secure aggregation v2 (issue 13), below the node: the certified phases of
 * protocol/secure-aggregation driven message by message (test/unit/secagg-round-harness.ts).
 * The adversary gets every public message and the full state of the committee member it
 * controls (its own shares of every secret, its signing key); it chooses delivery orders. Each
 * test asserts that no honest participant's b_i and s_i^SK both become reconstructable by the
 * coalition (its own shares plus every reveal), or that the round stops before any reveal.
 *
 * Variations on test/unit/secagg-attacks.test.ts: racing honest leaders with different views
 * and a malicious member that endorses every lock in the order that suits it (fast-check over
 * schedules), equivocating endorsements, reveals replayed across rounds and deployments,
 * shares passed off under another position, a lock naming another key set.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CertPhase,
  type EndorseMsg,
  lockDigest,
  type ProposalMsg,
  type RevealMsg,
  SecAggKind,
  type ViewMsg,
} from '../../protocol/messages/secagg.js';
import { endorse } from '../../protocol/secure-aggregation/certify.js';
import { deriveLock } from '../../protocol/secure-aggregation/views.js';
import { codeOf, config, testSign } from './secagg-helpers.js';
import {
  certifyKeySet,
  exposedShareCounts,
  LATE,
  maskInputs,
  type Round,
  setupRound,
  shareKeys,
  signView,
} from './secagg-round-harness.js';

const scopeOf = (r: Round) => ({ binding: r.ctx.binding, federation: r.ctx.federation, round: r.ctx.round });

/** Participants whose b AND s^SK the coalition (its own shares + every reveal) reconstructs. */
function exposed(r: Round, reveals: readonly RevealMsg[], coalition: readonly string[]): string[] {
  const { selfMask, maskKey } = exposedShareCounts(reveals);
  const own = coalition.map((c) => r.committee.indexOf(c) + 1);
  return r.parties.filter((p) => {
    if (coalition.includes(p)) return false; // its own input is not a leak
    const b = new Set([...(selfMask.get(p) ?? []), ...own]);
    const s = new Set([...(maskKey.get(p) ?? []), ...own]);
    return b.size >= r.ctx.threshold && s.size >= r.ctx.threshold;
  });
}

/** A round with every key shared, the key set certified and every participant's input published. */
function maskedRound(n = 9, seed = 'attack') {
  const r = setupRound({ n, m: 7, t: 5, config: config(), seed });
  shareKeys(r);
  const ks = certifyKeySet(r);
  maskInputs(r, ks, r.parties);
  return { r, ks };
}

describe('racing honest leaders with different views, plus two active members endorsing every lock and two curious ones', () => {
  // docs/secure-aggregation.md "Which coalitions learn nothing": at (7, 5), up to 2 active members
  // and up to 4 members in total learn nothing beyond the sum.
  it('never both kinds for any honest participant, and at most one lock revealed, over random schedules', () => {
    const schedule = fc.record({
      // Positions: the first two are active, the next two passive (curious, protocol-following).
      coalition: fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6], { minLength: 4, maxLength: 4 }),
      // Per member: participants whose input it did not get (load), 0–2 of the non-committee ones.
      missing: fc.array(fc.subarray(['peer-007', 'peer-008'], { maxLength: 2 }), { minLength: 7, maxLength: 7 }),
      // Per leader (turns 0–2): which other members' views reached it before it proposed.
      reached: fc.array(fc.subarray([0, 1, 2, 3, 4, 5, 6], { minLength: 4 }), { minLength: 3, maxLength: 3 }),
      // Per member: the order proposals reach it; and the order the malicious endorsements do.
      order: fc.array(fc.shuffledSubarray([0, 1, 2], { minLength: 3, maxLength: 3 }), { minLength: 7, maxLength: 7 }),
      malOrder: fc.array(fc.shuffledSubarray([0, 1, 2], { minLength: 3, maxLength: 3 }), { minLength: 7, maxLength: 7 }),
    });
    let revealed = 0;
    let raced = 0;
    fc.assert(
      fc.property(schedule, (s) => {
        const { r } = maskedRound();
        const active = s.coalition.slice(0, 2).map((k) => r.committee[k]!);
        const coalition = s.coalition.map((k) => r.committee[k]!);
        const all = r.parties;
        const views: ViewMsg[] = r.committee.map((id, k) =>
          signView(
            r,
            id,
            all.filter((p) => !s.missing[k]!.includes(p)),
          ),
        );
        // Leaders 0–2 propose from the views that reached them; others get every view.
        const leaders = [0, 1, 2];
        const proposals: ProposalMsg[] = [];
        for (const k of leaders) {
          const id = r.committee[k]!;
          const m = r.members.get(id)!;
          for (const j of s.reached[k]!) if (j !== k) m.addView(views[j]!);
          try {
            proposals.push(m.proposeLock(k));
          } catch {
            /* this leader's views give no lock that passes the floors */
          }
        }
        for (const [k, id] of r.committee.entries()) {
          for (const [j, v] of views.entries()) {
            if (j === k) continue;
            try {
              r.members.get(id)!.addView(v);
            } catch {
              /* already recorded from a proposal: same view */
            }
          }
        }
        const scope = scopeOf(r);
        const ksDigest = r.members.get(r.committee[0]!)!.keySet!.digest;
        const shared = r.members.get(r.committee[0]!)!.keySet!.shared;
        const endorsements = new Map<string, EndorseMsg<SecAggKind.LockEndorse>[]>(); // to each member
        for (const id of r.committee) endorsements.set(id, []);
        const honestEndorsements: EndorseMsg<SecAggKind.LockEndorse>[] = [];
        for (const [k, id] of r.committee.entries()) {
          if (active.includes(id)) continue;
          for (const i of s.order[k]!) {
            const p = proposals[i];
            if (p === undefined) continue;
            try {
              const e = r.members.get(id)!.onLockProposal(p, LATE);
              if (e !== undefined) honestEndorsements.push(e);
            } catch {
              /* refused: one lock per member, floors, … */
            }
          }
        }
        // The active members endorse every proposal, each member seeing them in the order they like.
        const malEndorse = proposals.map((p) =>
          active.map((mal) => {
            const { survivors, dropped } = deriveLock(p.views, shared);
            return endorse(
              scope,
              SecAggKind.LockEndorse,
              CertPhase.Lock,
              mal,
              lockDigest(scope, ksDigest, survivors, dropped),
              testSign(mal),
            );
          }),
        );
        for (const [k, id] of r.committee.entries()) {
          if (active.includes(id)) continue;
          const inbox = [...honestEndorsements.filter((e) => e.sender !== id), ...s.malOrder[k]!.flatMap((i) => malEndorse[i] ?? [])];
          for (const e of inbox) {
            try {
              r.members.get(id)!.addLockEndorse(e);
            } catch {
              /* a second, conflicting endorsement from the same member */
            }
          }
        }
        const reveals: RevealMsg[] = [];
        for (const id of r.committee) {
          if (active.includes(id)) continue;
          try {
            const rv = r.members.get(id)!.reveal();
            if (rv !== undefined) reveals.push(rv);
          } catch {
            /* two certified locks seen: refuse */
          }
        }
        expect(exposed(r, reveals, coalition)).toEqual([]);
        if (reveals.length > 0) revealed++;
        if (new Set(proposals.map((p) => p.survivors.join())).size > 1) raced++;
        expect(new Set(reveals.map((x) => Buffer.from(x.proposal).toString('hex'))).size).toBeLessThanOrEqual(1);
      }),
      { numRuns: 15, seed: 13, endOnFailure: true },
    );
    // The schedules did exercise reveals and racing proposals with different U_3 (not vacuous).
    expect(revealed).toBeGreaterThan(0);
    expect(raced).toBeGreaterThan(0);
  }, 60_000);
});

describe('equivocating endorsements, replays and forged shares', () => {
  it('a member endorsing two different locks to one member: the second is refused as SECAGG_DUPLICATE, and no second lock is certified', () => {
    const { r } = maskedRound(9, 'equivocate');
    const views = r.committee.map((id) => signView(r, id));
    for (const id of r.committee) for (const v of views) if (v.sender !== id) r.members.get(id)!.addView(v);
    const p = r.members.get('peer-000')!.proposeLock(0);
    const scope = scopeOf(r);
    const e = r.members.get('peer-001')!.onLockProposal(p, LATE)!;
    const other = endorse(scope, SecAggKind.LockEndorse, CertPhase.Lock, 'peer-006', new Uint8Array(32).fill(9), testSign('peer-006'));
    const genuine = endorse(scope, SecAggKind.LockEndorse, CertPhase.Lock, 'peer-006', e.digest, testSign('peer-006'));
    const m2 = r.members.get('peer-002')!;
    m2.addLockEndorse(other);
    expect(codeOf(() => m2.addLockEndorse(genuine))).toBe('SECAGG_DUPLICATE');
  });

  it('endorsements and views from another deployment or round do not count', () => {
    const { r } = maskedRound(9, 'replay');
    const views = r.committee.map((id) => signView(r, id));
    for (const id of r.committee) for (const v of views) if (v.sender !== id) r.members.get(id)!.addView(v);
    const p = r.members.get('peer-000')!.proposeLock(0);
    const m1 = r.members.get('peer-001')!;
    const own = m1.onLockProposal(p, LATE)!;
    const foreign = { ...scopeOf(r), binding: r.ctx.binding.map((b, i) => (i === 51 ? b ^ 1 : b)) };
    // Every other member's endorsement of the SAME digest, but signed under another deployment.
    for (const id of r.committee.slice(2)) {
      const e = endorse(foreign, SecAggKind.LockEndorse, CertPhase.Lock, id, own.digest, testSign(id));
      expect(codeOf(() => m1.addLockEndorse(e))).toBe('SECAGG_BAD_SIGNATURE');
    }
    expect(m1.reveal()).toBeUndefined();
    // … and one from round 8 names the wrong round.
    const late = endorse({ ...scopeOf(r), round: 8 }, SecAggKind.LockEndorse, CertPhase.Lock, 'peer-003', own.digest, testSign('peer-003'));
    expect(codeOf(() => m1.addLockEndorse(late))).not.toBe('none');
    // A view signed under another deployment is refused when cited.
    const fv = { ...views[3]!.view, signature: testSign('peer-003')(new Uint8Array([1, 2, 3])) };
    const cited: ProposalMsg = { ...p, views: p.views.map((v) => (v.member === 'peer-003' ? fv : v)) };
    expect(codeOf(() => r.members.get('peer-004')!.onLockProposal(cited, LATE))).not.toBe('none');
  });

  it('a share passed off under another member’s position is ignored: the coalition gains no share count from it', () => {
    const { r } = maskedRound(9, 'forge');
    const views = r.committee.map((id) => signView(r, id));
    for (const id of r.committee) for (const v of views) if (v.sender !== id) r.members.get(id)!.addView(v);
    const p = r.members.get('peer-000')!.proposeLock(0);
    const ends = r.committee.map((id) => r.members.get(id)!.onLockProposal(p, LATE)!);
    for (const id of r.committee) for (const e of ends) if (e.sender !== id) r.members.get(id)!.addLockEndorse(e);
    const honest = r.committee.slice(0, 4).map((id) => r.members.get(id)!.reveal()!);
    // peer-006 (malicious) reveals for the lock with every share relabelled to positions it does not hold.
    const mal = r.members.get('peer-006')!.reveal()!;
    const forged: RevealMsg = {
      ...mal,
      selfMaskShares: mal.selfMaskShares.map((s) => ({ ...s, x: 5 })),
      keyShares: mal.keyShares.map((s) => ({ ...s, x: 5 })),
    };
    const m0 = r.members.get('peer-000')!;
    for (const rv of [forged, ...honest.slice(1)]) m0.addReveal(rv);
    // Only 4 genuine shares per secret so far: no reconstruction can succeed on the forged one.
    expect(codeOf(() => m0.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked]))))).not.toBe('none');
    // With a 5th genuine reveal the forged shares are left out and the sum is the plaintext sum.
    m0.addReveal(r.members.get('peer-004')!.reveal()!);
    const { sum } = m0.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked])));
    const want = r.parties.reduce((acc, p) => acc + BigInt(r.ints.get(p)![0]!), 0n);
    const low = BigInt(sum[0]!) | (BigInt(sum[1]!) << 32n);
    expect(BigInt.asIntN(64, low)).toBe(want);
  });

  it('a lock proposal naming a key set other than the certified one is refused before any endorsement', () => {
    const { r } = maskedRound(9, 'keyset');
    const views = r.committee.map((id) => signView(r, id));
    for (const id of r.committee) for (const v of views) if (v.sender !== id) r.members.get(id)!.addView(v);
    const p = r.members.get('peer-000')!.proposeLock(0);
    const bad: ProposalMsg = { ...p, keySet: new Uint8Array(32).fill(1) };
    expect(codeOf(() => r.members.get('peer-001')!.onLockProposal(bad, LATE))).toBe('SECAGG_BAD_PROPOSAL');
    expect(r.members.get('peer-001')!.endorsedLockDigest).toBeUndefined();
  });
});
