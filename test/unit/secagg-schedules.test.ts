/**
 * Property tests over random schedules of the certified-phase protocol (issue 13): dropouts at
 * every phase, lost inputs and lost View messages (so members' views differ), racing
 * proposers for several turns delivered to each member in a random order, silent members,
 * and at most one malicious committee member performing one deviation — equivocating views,
 * an early proposal, the {victim, itself} proposal, revealing both kinds of share, lying
 * shares, an out-of-range input, a complaining member (its participant's shares do not open at
 * random positions, and it complains falsely about every honest participant), an equivocating
 * viewer (two views to random halves, it cites the one omitting a victim, refuses every lock and
 * endorses every lock it can, a second one through a LockRelease borrowing others' refusals) —
 * a leader that drops honest participants (red team F12: as key-set leader it proposes a U_2 that
 * keeps the drawn colluding participants and one victim and drops honest ones down to the floor;
 * its View omits the honest inputs down to the lock floor and, as a lock leader, it cites it) —
 * plus one curious (protocol-following) member whose shares the adversary also holds. Every
 * schedule exchanges complaints, lock refusals and releases (committee-member.ts "Refusals and
 * release") and runs a second wave of lock proposals by unbound leaders of turns 3–6, with every
 * proposal offered again. The adversary's knowledge is every public message plus its members'
 * shares. Invariants (and: complaints never push an honest participant out of U_2):
 *   1. never both b_i and s_i^SK reconstructable (t shares) for any honest participant;
 *   2. at most one lock is certified, and if any honest member revealed, every honest
 *      survivor is padded by ≥ k honest surviving neighbours;
 *   3. an unmasked sum equals the plaintext sum of U_3 bit for bit, or (out-of-range input)
 *      decoding refuses it before anything could be recorded;
 *   4. ('drop-honest', with the coalition of participants drawn by the property) if anything is
 *      revealed, U_3 keeps every honest participant that sent its input — so every honest survivor
 *      is padded by ≥ k honest surviving neighbours whenever k + 1 honest participants sent
 *      inputs — or nothing is revealed. These schedules lose no input or View and silence no
 *      member: with m − t members silent only t views exist, one of them the leader's, and the
 *      leader still chooses U_3 within the floor (documented residual, docs/secure-aggregation.md).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash256 } from '../../protocol/bytes.js';
import { encodeMaskedInput } from '../../protocol/messages/masked-input.js';
import {
  CertPhase,
  type ComplaintMsg,
  ComplaintReason,
  complaintStatement,
  type EndorseMsg,
  endorseStatement,
  type KeySetProposalMsg,
  type LockRefuseMsg,
  type ProposalMsg,
  type RevealMsg,
  SecAggKind,
  type SignedView,
  type ViewMsg,
  viewStatement,
} from '../../protocol/messages/secagg.js';
import { decodeSum, deriveLock, requiredSurvivors, type SecAggError, scopeOf, TURN_ZERO } from '../../protocol/secure-aggregation/index.js';
import { config, testSign } from './secagg-helpers.js';
import { setupRound } from './secagg-round-harness.js';

const DEVIATIONS = [
  'none',
  'equivocate-view',
  'early-proposal',
  'victim-proposal',
  'both-kinds',
  'lying-shares',
  'out-of-range',
  'complaining-member',
  'equivocating-viewer',
  'drop-honest',
] as const;
type Deviation = (typeof DEVIATIONS)[number];
const M = 7;
const T = 5;
const K = config().minNeighbours;
/** Every member's clock: turns 0–6 have started (turn τ starts at τ·1000); turn m + pos has not. */
const CLOCK = { now: 6500, turnStart: (t: number) => t * 1000 };

// (fast-check biases integers toward their bounds, so the rare value is an interior one.)
const rare = fc.integer({ min: 0, max: 11 }).map((x) => x === 7);
const veryRare = fc.integer({ min: 0, max: 49 }).map((x) => x === 17);

const scheduleArb = fc
  .record({
    n: fc.integer({ min: 8, max: 10 }),
    exits: fc.array(fc.constantFrom(0, 0, 0, 0, 1, 2, 3), { minLength: 10, maxLength: 10 }),
    silent: fc.array(fc.boolean(), { minLength: M, maxLength: M }),
    malicious: fc.integer({ min: -1, max: M - 1 }),
    curious: fc.integer({ min: 0, max: M - 1 }),
    deviation: fc.constantFrom(...DEVIATIONS),
    // Each (member, input) pair is lost with probability 1/50 (members wait for U_2's inputs
    // before their view, so a loss is rare), each (member, View) pair with probability 1/12.
    missInput: fc.array(veryRare, { minLength: M * 10, maxLength: M * 10 }),
    loseView: fc.array(rare, { minLength: M * M, maxLength: M * M }),
    order: fc.array(fc.integer(), { minLength: M * 5, maxLength: M * 5 }),
    // 'complaining-member': the positions its participant sends garbage shares to; 'equivocating-viewer':
    // the positions shown its view that omits the victim.
    targets: fc.array(fc.boolean(), { minLength: M, maxLength: M }),
    order2: fc.array(fc.integer(), { minLength: M * 4, maxLength: M * 4 }),
    // Members that get lock endorsements late: after the refusals and releases of each exchange.
    lateEndorsements: fc.array(fc.boolean(), { minLength: M, maxLength: M }),
    // 'drop-honest': participants (by index) that collude with the malicious member.
    colluders: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .map((s) => {
    // Silent members: at most m − t, never the malicious or curious one (none for 'drop-honest').
    const silent = new Set<number>();
    s.silent.forEach((b, k) => {
      if (b && k !== s.malicious && k !== s.curious && silent.size < M - T && s.deviation !== 'drop-honest') silent.add(k);
    });
    return { ...s, silent };
  });

/** What the runs exercised (printed with SECAGG_SCHEDULE_STATS=1; asserted non-vacuous below). */
const stats = {
  runs: 0,
  certified: 0,
  unmasked: 0,
  refusedOutOfRange: 0,
  released: 0,
  byDeviation: new Map<string, number>(),
  refusals: new Map<string, number>(),
};

describe('random schedules with one malicious member', () => {
  it('never both kinds, one lock, padded survivors, exact sums', () => {
    fc.assert(
      fc.property(scheduleArb, (s) => {
        const r = setupRound({ n: s.n, m: M, t: T, config: config(), seed: `schedule/${s.seed}` });
        const mal = s.malicious >= 0 ? r.committee[s.malicious]! : undefined;
        const curious = r.committee[s.curious]!;
        const coalition = [...new Set([mal, curious].filter((x): x is string => x !== undefined))];
        const deviation: Deviation = mal === undefined ? 'none' : s.deviation;
        const honestParticipant = (p: string) => !coalition.includes(p);
        // 'drop-honest': the drawn colluding participants, and those the property calls honest.
        const dropHonest = deviation === 'drop-honest';
        const colluding = dropHonest ? r.parties.filter((_, i) => s.colluders[i] === true) : [];
        const trulyHonest = (p: string) => honestParticipant(p) && !colluding.includes(p);
        // Committee members stay to the end as participants (their member role may be silent).
        const exit = (i: number) => (i < M ? 0 : s.exits[i]!);
        const afterAdvert = new Set(r.parties.filter((_, i) => exit(i) === 1));
        const noInput = new Set(r.parties.filter((_, i) => exit(i) === 1 || exit(i) === 2));
        const live = r.committee.filter((_, k) => !s.silent.has(k));

        // Phase 1: shares, and the key set certified by the live members (leader: first live position).
        // 'complaining-member': its participant sends garbage shares to the target positions, and the
        // member complains (falsely) about every honest participant.
        const garbageTo = new Set(deviation === 'complaining-member' ? r.committee.filter((_, k) => s.targets[k]) : []);
        for (const [p, part] of r.participants) {
          for (const a of r.adverts) part.addAdvert(a);
          if (afterAdvert.has(p)) continue;
          const sh = part.shareKeys();
          r.shares.push(
            p === mal && garbageTo.size > 0
              ? {
                  ...sh,
                  shares: sh.shares.map((e) => (garbageTo.has(e.recipient) ? { ...e, ciphertext: e.ciphertext.map((b) => b ^ 0xa5) } : e)),
                }
              : sh,
          );
        }
        for (const id of live) {
          const m = r.members.get(id)!;
          for (const a of r.adverts) m.addAdvert(a);
          m.beginShares();
          for (const sh of r.shares)
            if (sh.shares.some((x) => x.recipient === id)) {
              try {
                m.addShareKeys(sh);
              } catch (e) {
                expect((e as SecAggError).code).toBe('SECAGG_DECRYPT_FAILED'); // only the malicious participant's
                expect(sh.sender).toBe(mal);
              }
            }
        }
        const complaints = live.flatMap((id) => r.members.get(id)!.takeOutbox()) as ComplaintMsg[];
        if (deviation === 'complaining-member' && mal !== undefined && live.includes(mal)) {
          for (const accused of r.parties.filter(honestParticipant)) {
            const reason = ComplaintReason.BadShare;
            complaints.push({
              kind: SecAggKind.Complaint,
              federation: 'fed',
              round: 7,
              sender: mal,
              accused,
              reason,
              signature: testSign(mal)(complaintStatement(scopeOf(r.ctx), mal, accused, reason)),
            });
          }
        }
        for (const id of live) for (const c of complaints) r.members.get(id)!.addComplaint(c);
        // Leaders of turns in order until one key set gathers t endorsements among the live members.
        let ksProposal: KeySetProposalMsg | undefined;
        const ksEndorse: EndorseMsg[] = [];
        for (const leader of live) {
          const lead = r.committee.indexOf(leader);
          const ksClock = { now: lead, turnStart: (t: number) => t };
          let proposal = r.members.get(leader)!.proposeKeySet(lead);
          if (dropHonest && leader === mal) proposal = dropToFloor(proposal, trulyHonest);
          if (proposal.shared.length < requiredSurvivors(r.ctx.config.minSurvivorFraction, proposal.advertised.length)) {
            // Too many left after advertising: every member refuses the key set; nothing happens.
            for (const id of live) expect(() => r.members.get(id)!.onKeySetProposal(proposal, ksClock)).toThrow(/SECAGG_FLOOR/);
            return;
          }
          const ends: EndorseMsg[] = [];
          for (const id of live) {
            try {
              const e = r.members.get(id)!.onKeySetProposal(proposal, ksClock);
              if (e !== undefined) ends.push(e);
            } catch (e) {
              if (dropHonest && leader === mal) {
                // F12: a member holding a dropped honest participant's share refuses.
                expect((e as SecAggError).fields.reason).toBe('omits-held-share');
                continue;
              }
              // F12: a leader that cannot open the malicious participant's share leaves it out, and
              // its holders refuse unless c + 1 = 3 members complained (the documented stall).
              if ((e as SecAggError).code === 'SECAGG_BAD_PROPOSAL') {
                expect((e as SecAggError).fields.reason).toBe('omits-held-share');
                expect((e as SecAggError).fields.participants).toEqual([mal]);
                continue;
              }
              // Only a member that cannot open the malicious participant's share may refuse.
              expect((e as SecAggError).code).toBe('SECAGG_CANNOT_FOLLOW');
              expect(garbageTo.has(id)).toBe(true);
            }
          }
          if (ends.length >= T) {
            ksProposal = proposal;
            ksEndorse.push(...ends);
            break;
          }
        }
        // Every live leader's key set failing needs the garbage to split the live members (liveness, not safety).
        if (ksProposal === undefined) {
          expect(garbageTo.size).toBeGreaterThan(0);
          stats.refusals.set('keyset:stalled', (stats.refusals.get('keyset:stalled') ?? 0) + 1);
          return;
        }
        for (const id of live) {
          r.members.get(id)!.learnKeySetProposal(ksProposal);
          for (const e of ksEndorse) r.members.get(id)!.addKeySetEndorse(e);
        }
        const keySet = { proposal: ksProposal, endorsements: ksEndorse };
        // Complaints never push an honest participant out of U_2 (one active member's word is 1 < m − t + 1).
        expect(ksProposal.shared.filter(honestParticipant)).toEqual(r.parties.filter((p) => !afterAdvert.has(p) && honestParticipant(p)));
        if (deviation !== 'complaining-member') expect(ksProposal.shared).toEqual(r.parties.filter((p) => !afterAdvert.has(p)));

        // Phase 2: masked inputs (the malicious participant may add an out-of-range value).
        for (const p of r.parties) {
          if (noInput.has(p) || !ksProposal.shared.includes(p)) {
            if (!afterAdvert.has(p)) r.participants.get(p)!.fail();
            continue;
          }
          const payload = r.participants.get(p)!.maskInput(
            Float64Array.from(r.ints.get(p)!, (x) => x / 2 ** r.ctx.config.fractionalBits),
            r.counts.get(p)!,
            new Uint8Array(32),
            keySet,
          );
          if (deviation === 'out-of-range' && p === mal) payload.masked[1] = (payload.masked[1]! + 0x40000000) >>> 0;
          r.payloads.set(p, payload);
          r.payloadHashes.set(p, hash256(encodeMaskedInput(payload)));
        }

        // Phase 3: views (each member may miss inputs), delivery with losses, equivocation.
        const inputs = [...r.payloads.keys()];
        const views = new Map<string, ViewMsg>();
        let altView: SignedView | undefined;
        for (const id of live) {
          const k = r.committee.indexOf(id);
          const holds = inputs.filter((p) => dropHonest || !s.missInput[k * 10 + r.parties.indexOf(p)]);
          const m = r.members.get(id)!;
          m.beginInputs();
          views.set(
            id,
            m.signView(
              holds.map((p) => ({ participant: p, inputHash: r.payloadHashes.get(p)!, neighbours: r.payloads.get(p)!.neighbours })),
            ),
          );
        }
        const victim = inputs.find((p) => p !== mal && honestParticipant(p))!;
        const scope = { binding: r.ctx.binding, federation: 'fed', round: 7 };
        if ((deviation === 'equivocate-view' || deviation === 'equivocating-viewer') && mal !== undefined && views.has(mal)) {
          // Two signed views: the full one to even positions, one omitting the victim to odd ones.
          const entries = views.get(mal)!.view.entries.filter((e) => e.participant !== victim);
          const keySet = views.get(mal)!.view.keySet;
          altView = { member: mal, keySet, entries, signature: testSign(mal)(viewStatement(scope, mal, keySet, entries)) };
        }
        let victimView: SignedView | undefined;
        if (deviation === 'victim-proposal' && mal !== undefined && views.has(mal)) {
          // Attack 3: its only View is {victim, itself}.
          const entries = views.get(mal)!.view.entries.filter((e) => e.participant === victim || e.participant === mal);
          const keySet = views.get(mal)!.view.keySet;
          victimView = { member: mal, keySet, entries, signature: testSign(mal)(viewStatement(scope, mal, keySet, entries)) };
          views.set(mal, { ...views.get(mal)!, view: victimView });
        }
        if (dropHonest && mal !== undefined && views.has(mal)) {
          // F12: its only View omits honest inputs (all but one victim) down to the lock floor.
          const v = views.get(mal)!.view;
          const floor = requiredSurvivors(r.ctx.config.minSurvivorFraction, ksProposal.shared.length);
          const keepFirst = v.entries.find((e) => trulyHonest(e.participant))?.participant;
          const entries = [...v.entries];
          for (const e of v.entries)
            if (entries.length > floor && trulyHonest(e.participant) && e.participant !== keepFirst) entries.splice(entries.indexOf(e), 1);
          const dropView: SignedView = { ...v, entries, signature: testSign(mal)(viewStatement(scope, mal, v.keySet, entries)) };
          views.set(mal, { ...views.get(mal)!, view: dropView });
        }
        for (const to of live) {
          const kt = r.committee.indexOf(to);
          for (const [from, v] of views) {
            if (from === to || (!dropHonest && s.loseView[kt * M + r.committee.indexOf(from)])) continue;
            const shownAlt = deviation === 'equivocating-viewer' ? s.targets[kt] === true : kt % 2 === 1;
            const sent = altView !== undefined && from === mal && shownAlt ? { ...v, view: altView } : v;
            r.members.get(to)!.addView(sent);
          }
        }

        // Racing proposers: the live leaders of turns 0–2 (the malicious one per its deviation).
        const proposals: ProposalMsg[] = [];
        for (let turn = 0; turn <= 2; turn++) {
          const id = r.committee[turn]!;
          if (!live.includes(id)) continue;
          const m = r.members.get(id)!;
          try {
            const p = m.proposeLock(turn);
            if (id === mal && (deviation === 'equivocate-view' || deviation === 'equivocating-viewer') && altView !== undefined)
              proposals.push(withAltView(p, altView, ksProposal.shared));
            else if (id === mal && dropHonest) {
              // F12: it cites its own View and t − 1 others: U_3 = their intersection.
              const own = views.get(mal)!.view;
              const cited = [own, ...[...views.values()].map((v) => v.view).filter((v) => v.member !== mal)].slice(0, T);
              proposals.push(withAltView({ ...p, views: cited.sort((a, b) => (a.member < b.member ? -1 : 1)) }, own, ksProposal.shared));
            } else proposals.push(p);
          } catch (e) {
            // Too few views or a floor broken: no proposal.
            const code = `propose:${(e as SecAggError).code}`;
            stats.refusals.set(code, (stats.refusals.get(code) ?? 0) + 1);
          }
        }
        if (mal !== undefined && live.includes(mal)) {
          const pos = r.committee.indexOf(mal);
          const ownViews = [...views.values()].map((v) => v.view).sort((a, b) => (a.member < b.member ? -1 : 1));
          if (deviation === 'equivocating-viewer' && altView !== undefined && pos > 2) {
            // It leads a later turn (started on every clock): it cites the version that omits the victim.
            try {
              proposals.push(withAltView(r.members.get(mal)!.proposeLock(pos), altView, ksProposal.shared));
            } catch {
              /* too few views */
            }
          }
          if (deviation === 'early-proposal' && ownViews.length >= T) {
            proposals.push({
              ...(proposals[0] ?? dummyProposal(r.members.get(mal)!.keySet!.digest, mal, ownViews)),
              sender: mal,
              turn: pos + M,
            });
          }
          if (deviation === 'victim-proposal' && victimView !== undefined) {
            const survivors = [victim, mal].sort();
            // It races ahead: every member sees this proposal first.
            proposals.unshift({
              kind: SecAggKind.Proposal,
              federation: 'fed',
              round: 7,
              sender: mal,
              turn: pos,
              keySet: r.members.get(mal)!.keySet!.digest,
              survivors,
              dropped: ksProposal.shared.filter((p) => !survivors.includes(p)),
              views: [victimView, ...ownViews.filter((v) => v.member !== mal).slice(0, T - 1)].sort((a, b) =>
                a.member < b.member ? -1 : 1,
              ),
            });
          }
        }

        // Every live member processes the proposals in its own random order; at most one lock each.
        const lockEndorse: EndorseMsg<SecAggKind.LockEndorse>[] = [];
        const refusals: SecAggError[] = [];
        for (const id of live) {
          const k = r.committee.indexOf(id);
          const first = deviation === 'victim-proposal' && proposals[0]?.sender === mal ? 1 : 0;
          const order = proposals
            .map((p, i) => ({ p, key: i < first ? Number.NEGATIVE_INFINITY : (s.order[k * 5 + i] ?? i) }))
            .sort((a, b) => a.key - b.key);
          for (const { p } of order) {
            try {
              const e = r.members.get(id)!.onLockProposal(p, id === mal ? TURN_ZERO : CLOCK);
              if (e !== undefined) lockEndorse.push(e);
            } catch (e) {
              refusals.push(e as SecAggError);
            }
          }
        }
        const late = (id: string): boolean => s.lateEndorsements[r.committee.indexOf(id)] === true;
        for (const id of live) if (!late(id)) for (const e of lockEndorse) r.members.get(id)!.addLockEndorse(e);

        // Refusals and releases (F7): every live member's outbox is delivered to every other; the
        // malicious member also refuses every lock it sees (to trigger early releases) and, as
        // 'equivocating-viewer', endorses every lock it can (a second one through a LockRelease
        // borrowing other members' refusals). Then the leaders of turns 3–6 that are bound to no
        // lock propose, every member is offered every proposal again in a random order (a driver
        // retries SECAGG_CONFLICTING_PROPOSAL after a release), and everything is exchanged again.
        const refuseMsgs: LockRefuseMsg[] = [];
        const digests = new Map<string, Uint8Array>();
        const malEndorsed = new Set<string>();
        const exchange = (): void => {
          for (const e of lockEndorse) digests.set(String(e.digest), e.digest);
          const out = live.flatMap((id) => r.members.get(id)!.takeOutbox());
          for (const o of out) if (o.kind !== SecAggKind.Complaint) digests.set(String(o.digest), o.digest);
          if (mal !== undefined && live.includes(mal)) {
            for (const d of digests.values()) {
              if (refuseMsgs.some((x) => x.sender === mal && String(x.digest) === String(d))) continue;
              out.push({
                kind: SecAggKind.LockRefuse,
                federation: 'fed',
                round: 7,
                sender: mal,
                digest: d,
                signature: testSign(mal)(endorseStatement(scope, CertPhase.Refuse, d)),
                evidence: [],
              });
            }
          }
          for (const o of out) if (o.kind === SecAggKind.LockRefuse) refuseMsgs.push(o);
          if (deviation === 'equivocating-viewer' && mal !== undefined && live.includes(mal)) {
            for (const e of lockEndorse) if (e.sender === mal) malEndorsed.add(String(e.digest));
            for (const d of digests.values()) {
              if (malEndorsed.has(String(d))) continue;
              const signature = testSign(mal)(endorseStatement(scope, CertPhase.Lock, d));
              if (malEndorsed.size === 0) {
                lockEndorse.push({ kind: SecAggKind.LockEndorse, federation: 'fed', round: 7, sender: mal, digest: d, signature });
                malEndorsed.add(String(d));
                continue;
              }
              // Borrow the refusals of any other digest that has m − t + 1 of them.
              for (const x of digests.values()) {
                if (String(x) === String(d)) continue;
                const by = refuseMsgs.filter((f) => String(f.digest) === String(x) && f.sender !== mal);
                const refusers = [...new Map(by.map((f) => [f.sender, f])).values()].sort((a, b) => (a.sender < b.sender ? -1 : 1));
                if (refusers.length < M - T + 1) continue;
                out.push({
                  kind: SecAggKind.LockRelease,
                  federation: 'fed',
                  round: 7,
                  sender: mal,
                  released: x,
                  digest: d,
                  signature,
                  refusals: refusers.map((f) => ({ member: f.sender, signature: f.signature })),
                });
                malEndorsed.add(String(d));
                break;
              }
            }
          }
          for (const id of live) {
            const m = r.members.get(id)!;
            const endorsements = (): void => {
              for (const e of lockEndorse) if (e.sender !== id) codeOfAdd(() => m.addLockEndorse(e));
            };
            if (!late(id)) endorsements();
            for (const o of out) {
              if (o.sender === id) continue;
              if (o.kind === SecAggKind.LockRefuse) m.addLockRefuse(o);
              else if (o.kind === SecAggKind.LockRelease) m.addLockRelease(o);
              else m.addComplaint(o);
            }
            if (late(id)) endorsements();
          }
        };
        exchange();
        for (let turn = 3; turn < M; turn++) {
          const id = r.committee[turn]!;
          if (!live.includes(id) || id === mal || r.members.get(id)!.endorsedLockDigest !== undefined) continue;
          try {
            proposals.push(r.members.get(id)!.proposeLock(turn));
          } catch (e) {
            const code = `propose2:${(e as SecAggError).code}`;
            stats.refusals.set(code, (stats.refusals.get(code) ?? 0) + 1);
          }
        }
        for (const id of live) {
          const k = r.committee.indexOf(id);
          const order = proposals.map((p, i) => ({ p, key: s.order2[(k * 4 + i) % (M * 4)] ?? i })).sort((a, b) => a.key - b.key);
          for (const { p } of order) {
            try {
              const e = r.members.get(id)!.onLockProposal(p, id === mal ? TURN_ZERO : CLOCK);
              if (e !== undefined) lockEndorse.push(e);
            } catch (e) {
              refusals.push(e as SecAggError);
            }
          }
        }
        exchange();
        stats.released += live.filter((id) => id !== mal && r.members.get(id)!.releasedLockCount > 0).length;
        stats.runs++;
        stats.byDeviation.set(deviation, (stats.byDeviation.get(deviation) ?? 0) + 1);
        for (const e of refusals) stats.refusals.set(e.code, (stats.refusals.get(e.code) ?? 0) + 1);
        const certs = new Set(
          live
            .map((id) => r.members.get(id)!.lockCertificate())
            .filter((c) => c !== undefined)
            .map((c) => String(c.digest)),
        );
        expect(certs.size).toBeLessThanOrEqual(1); // invariant 2: one lock
        stats.certified += certs.size;

        // Reveals: honest members only for their certified lock; the malicious one per its deviation.
        const reveals: RevealMsg[] = [];
        for (const id of live) {
          const rv = r.members.get(id)!.reveal();
          if (rv === undefined) continue;
          if (id === mal && deviation === 'lying-shares') {
            const flip = (x: { participant: string; x: number; y: Uint8Array }) => ({ ...x, y: x.y.map((b) => b ^ 0x5a) });
            reveals.push({ ...rv, selfMaskShares: rv.selfMaskShares.map(flip), keyShares: rv.keyShares.map(flip) });
          } else reveals.push(rv);
        }
        const honestRevealers = reveals.filter((x) => !coalition.includes(x.sender));

        // Invariant 1: never both kinds for an honest participant. The coalition holds its members'
        // own shares of both kinds for everyone ('both-kinds': it reveals them too) plus every reveal.
        const own = coalition.map((c) => r.committee.indexOf(c) + 1);
        for (const p of r.parties.filter(honestParticipant)) {
          const b = new Set(own);
          const sk = new Set(own);
          for (const rv of honestRevealers) {
            for (const x of rv.selfMaskShares) if (x.participant === p) b.add(x.x);
            for (const x of rv.keyShares) if (x.participant === p) sk.add(x.x);
          }
          expect(b.size >= T && sk.size >= T, `both kinds of ${p}`).toBe(false);
        }

        // Invariant 2: padding of every honest survivor, if anything was revealed.
        const locked = live.map((id) => r.members.get(id)!).find((m) => m.followedDigest !== undefined);
        if (honestRevealers.length > 0) {
          const u3 = locked!.followedSurvivors.map((e) => e.participant);
          for (const p of u3.filter(honestParticipant)) {
            expect(u3.filter((q) => q !== p && honestParticipant(q)).length).toBeGreaterThanOrEqual(K);
          }
        }

        // Invariant 4 ('drop-honest'): U_3 keeps every honest participant that sent its input.
        if (dropHonest && honestRevealers.length > 0) {
          const u3 = locked!.followedSurvivors.map((e) => e.participant);
          const sent = [...r.payloads.keys()].filter(trulyHonest);
          expect(sent.filter((p) => !u3.includes(p))).toEqual([]);
          if (sent.length >= K + 1)
            for (const p of sent) expect(sent.filter((q) => q !== p && u3.includes(q)).length).toBeGreaterThanOrEqual(K);
        }

        // Invariant 3: exact sum of U_3 (an honest member unmasks), or a refused out-of-range sum.
        const unmasker = live.find((id) => id !== mal && r.members.get(id)!.followedDigest !== undefined);
        if (unmasker === undefined) return;
        const m = r.members.get(unmasker)!;
        for (const rv of reveals) if (rv.sender !== unmasker) m.addReveal(rv);
        if (!m.canUnmask()) return; // too few reveals (silent or malicious members): nothing unmasked
        const masked = new Map([...r.payloads].map(([p, x]) => [p, x.masked]));
        if (deviation === 'lying-shares' && reveals.some((x) => x.sender === mal) && reveals.length - 1 < T) {
          // One liar among exactly t reveals: no verified reconstruction exists. The member
          // refuses to unmask (denial of service, logged), never a wrong sum.
          expect(() => m.unmask(masked)).toThrow(/SECAGG_TOO_FEW_SHARES/);
          return;
        }
        const res = m.unmask(masked);
        const u3 = res.survivors.map((e) => e.participant);
        if (deviation === 'out-of-range' && mal !== undefined && u3.includes(mal)) {
          expect(() => decodeSum(res.sum, u3.length, r.ctx.config)).toThrow(/SECAGG_/);
          stats.refusedOutOfRange++;
          return;
        }
        const { values, totalSamples } = decodeSum(res.sum, u3.length, r.ctx.config);
        stats.unmasked++;
        const scale = 2 ** r.ctx.config.fractionalBits;
        const want = [0, 0, 0];
        for (const p of u3) {
          const xs = r.ints.get(p)!;
          for (let k = 0; k < xs.length; k++) want[k]! += xs[k]!;
        }
        expect([...values].map((v) => v * scale)).toEqual(want);
        expect(totalSamples).toBe(u3.reduce((a, p) => a + r.counts.get(p)!, 0));
        void refusals;
      }),
      { numRuns: Number(process.env.SECAGG_PROP_RUNS ?? 100) },
    );
    if (process.env.SECAGG_SCHEDULE_STATS === '1')
      console.log(JSON.stringify({ ...stats, byDeviation: [...stats.byDeviation], refusals: [...stats.refusals] }));
    // Not vacuous: many schedules certify a lock and unmask (refusals are exercised by the
    // deviations). Since F26's lock rule (an omission by one cited View is refused) a malicious
    // member's short View more often ends the round before any reveal: 33–43 % of schedules
    // unmasked in three 100-run samples (SECAGG_SCHEDULE_STATS=1). With 100 runs, fewer than one
    // in 8 is ~10^-6 likely at that rate (it was one in 4 of 30 runs: an 18 % flake, seen in CI).
    expect(stats.unmasked).toBeGreaterThan(stats.runs / 8);
  }, 120_000);
});

/** `p` with the malicious member's own view replaced by `alt`, U_3 and D re-derived from the cited views. */
function withAltView(p: ProposalMsg, alt: SignedView, shared: readonly string[]): ProposalMsg {
  const views = p.views.map((v) => (v.member === alt.member ? alt : v));
  const { survivors, dropped } = deriveLock(views, shared);
  return { ...p, views, survivors: survivors.map((e) => e.participant), dropped };
}

/** 'drop-honest' (F12): `p`'s U_2 without the participants `honest` says are honest (but one), down to ⌈α·|U_1|⌉. */
function dropToFloor(p: KeySetProposalMsg, honest: (p: string) => boolean): KeySetProposalMsg {
  const floor = requiredSurvivors(config().minSurvivorFraction, p.advertised.length);
  const keepFirst = p.shared.find(honest);
  const shared = [...p.shared];
  for (const q of p.shared) if (shared.length > floor && honest(q) && q !== keepFirst) shared.splice(shared.indexOf(q), 1);
  return { ...p, shared };
}

/** A second LockEndorse from one member is SECAGG_DUPLICATE (one per member; later ones travel as LockRelease). */
function codeOfAdd(f: () => void): void {
  try {
    f();
  } catch (e) {
    expect((e as SecAggError).code).toBe('SECAGG_DUPLICATE');
  }
}

function dummyProposal(keySet: Uint8Array, sender: string, views: SignedView[]): ProposalMsg {
  return {
    kind: SecAggKind.Proposal,
    federation: 'fed',
    round: 7,
    sender,
    turn: 0,
    keySet,
    survivors: [],
    dropped: [],
    views: views.slice(0, T),
  };
}
