/**
 * Red team (H-red): random schedules at the documented coalition bound of G1/G2 — at (7, 5) two
 * ACTIVE committee members plus two curious ones (4 < t colluding, 2 < 2t − m active;
 * docs/threat-model.md "Parties"), and a network the adversary controls (every delivery of every
 * message to every member happens when the adversary's program says so, or at the end in FIFO
 * order). secagg-schedules.test.ts covers one malicious member; F14 broke this bound by hand.
 *
 * What the two active members may do, interleaved at random with deliveries:
 *   - key set: propose (as their turn's leader) any U_2 ⊆ U_1, endorse every key set proposed;
 *     members miss some shares at random, so several key sets may be certified, and each
 *     participant masks under the certified key set the adversary shows it (its choice);
 *   - inputs: their own participants may send a second masked input to chosen members (F20);
 *   - views: sign a full View and one omitting chosen honest inputs, and show either to any member;
 *   - lock: propose at their own turns any lock citing t views they know (their own in either
 *     version), to any subset of members; endorse any lock digest seen on the wire, different ones
 *     to different members; refuse any digest without evidence; release any digest with the
 *     valid refusals of others they have seen, endorsing another;
 *   - and they hold their (and the curious members') own share of every secret of both kinds.
 * Honest and curious members follow the protocol as a driver does: they re-offer every proposal
 * after each delivery (also after a release), propose at their turn, publish their outbox
 * (refusals, releases) and reveal once their endorsed lock is certified in their eyes.
 *
 * Safe properties asserted (G1 never-both, G2 one lock):
 *   1. for every honest participant, the coalition never holds t shares of both b_i and s_i^SK
 *      (its own 4 positions plus every public reveal);
 *   2. the protocol-following members that revealed all revealed for one lock digest;
 * Random programs rarely line up the ten coordinated steps of F14's schedule: with the release
 * quorum weakened to 3, 2 or 1 refusals, 200 random schedules each found nothing (checked while
 * writing this test). So a third test runs the F14 family with drawn roles (which followers see which View
 * version and which endorsements), then the random program: with the quorum weakened to 3 or 4
 * refusals regardless of proven equivocators it fails at once (reveals for two locks); as shipped
 * (releaseQuorum, equivocators not counted) it holds.
 *   3. (last test: a network that loses nothing and delivers every View to every member before
 *      any proposal) a lock anyone revealed for keeps every honest input in U_3 — the F12 rules hold
 *      against two active members, not only one. (With delays the network alone can still make
 *      honest inputs look like dropouts: F12's documented residual, not asserted here.)
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash256, toHex0x } from '../../protocol/bytes.js';
import { encodeMaskedInput } from '../../protocol/messages/masked-input.js';
import {
  CertPhase,
  type EndorseMsg,
  endorseStatement,
  type KeySetProposalMsg,
  keySetDigest,
  type LockRefuseMsg,
  type LockReleaseMsg,
  lockDigest,
  type ProposalMsg,
  type RevealMsg,
  SecAggKind,
  type SignedView,
  type ViewMsg,
  viewStatement,
} from '../../protocol/messages/secagg.js';
import { deriveLock, endorse, SecAggCommitteeMember, scopeOf } from '../../protocol/secure-aggregation/index.js';
import { config, crypto, testSign, testVerify } from './secagg-helpers.js';
import { setupRound, valuesOf } from './secagg-round-harness.js';

const M = 7;
const T = 5;
/** Every member's clock: turns 0–6 have started (turn τ starts at τ·1000); turn m + pos has not. */
const CLOCK = { now: 6500, turnStart: (t: number) => t * 1000 };
/** When a late share reaches a follower: within Δ of CLOCK.now. */
const LATE_AT = 6000;

const OPS = [
  'deliver',
  'deliver',
  'deliver',
  'deliver',
  'honest-propose',
  'adv-view',
  'adv-propose',
  'adv-endorse',
  'adv-refuse',
  'adv-release',
] as const;
type Op = (typeof OPS)[number];

const rare = fc.integer({ min: 0, max: 19 }).map((x) => x === 7);

const scheduleArb = fc.record({
  n: fc.integer({ min: 8, max: 10 }),
  // [active, active, curious, curious] committee positions.
  roles: fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6], { minLength: 4, maxLength: 4 }),
  missShare: fc.array(rare, { minLength: M * 10, maxLength: M * 10 }),
  // Shares that reach a follower late, within the omission grace Δ (forgiven if left out).
  lateShare: fc.array(
    fc.integer({ min: 0, max: 3 }).map((x) => x === 3),
    { minLength: M * 10, maxLength: M * 10 },
  ),
  ksMode: fc.array(fc.constantFrom('honest', 'drop-late', 'drop-mask'), { minLength: 2, maxLength: 2 }),
  // Active key-set leaders: honest-looking, drop every participant late somewhere, or drop a mask.
  ksDrop: fc.array(fc.nat({ max: 1023 }), { minLength: 2, maxLength: 2 }),
  // (ksMode 'drop-mask': the participants in ksDrop's bits.)
  ksOrder: fc.array(fc.integer(), { minLength: M * M, maxLength: M * M }),
  ksChoice: fc.array(fc.nat(), { minLength: 10, maxLength: 10 }),
  noInput: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
  missInput: fc.array(rare, { minLength: M * 10, maxLength: M * 10 }),
  // Honest inputs each active member's second View omits.
  altOmit: fc.array(fc.nat({ max: 1023 }), { minLength: 2, maxLength: 2 }),
  // The active members' own participants send a second masked input to the followers whose bit is set (F20).
  equivocate: fc.array(
    fc.nat({ max: 511 }).map((x) => (x < 384 ? 0 : x & 127)),
    { minLength: 2, maxLength: 2 },
  ),
  program: fc.array(fc.record({ op: fc.constantFrom<Op>(...OPS), a: fc.nat(), b: fc.nat(), c: fc.nat({ max: 127 }) }), {
    minLength: 40,
    maxLength: 160,
  }),
  seed: fc.integer({ min: 0, max: 1e6 }),
});

type Wire = ViewMsg | ProposalMsg | EndorseMsg<SecAggKind.LockEndorse> | LockRefuseMsg | LockReleaseMsg;

const stats = { runs: 0, keySets: 0, multiKeySet: 0, revealed: 0, released: 0, twoCertifiedInSomeEyes: 0 };

type Schedule = typeof scheduleArb extends fc.Arbitrary<infer X> ? X : never;
type Stats = typeof stats;

/**
 * One schedule. `benign`: the network delivers every View to every follower before any
 * proposal, loses no share or input and delays no share (then also: U_3 keeps every honest input).
 */
function runSchedule(drawn: Schedule, mode: 'random' | 'benign' | 'guided', stats: Stats): void {
  const benign = mode === 'benign';
  const none = (k: number): boolean[] => new Array<boolean>(k).fill(false);
  const s: Schedule =
    mode === 'random'
      ? drawn
      : {
          ...drawn,
          missShare: none(M * 10),
          lateShare: none(M * 10),
          missInput: none(M * 10),
          equivocate: [0, 0],
          ...(mode === 'guided' ? { ksMode: ['honest', 'honest'] as Schedule['ksMode'] } : {}),
        };
  const r = setupRound({ n: s.n, m: M, t: T, config: config(), seed: `two-active/${s.seed}` });
  // Members with an omission grace Δ = 1 s (the node's default is ⌊keysMs/2⌋).
  for (const c of r.committee)
    r.members.set(
      c,
      new SecAggCommitteeMember(
        r.ctx,
        c,
        r.keys.get(c)!.encryption.secretKey,
        { crypto, sign: testSign(c), verify: testVerify },
        { keySetGraceMs: 1000 },
      ),
    );
  const scope = scopeOf(r.ctx);
  const active = [r.committee[s.roles[0]!]!, r.committee[s.roles[1]!]!];
  const curious = [r.committee[s.roles[2]!]!, r.committee[s.roles[3]!]!];
  const coalition = new Set([...active, ...curious]);
  const followers = r.committee.filter((id) => !active.includes(id));
  const honestParticipant = (p: string) => !coalition.has(p);
  const mem = (id: string): SecAggCommitteeMember => r.members.get(id)!;
  const swallow = (f: () => void): void => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof Error) || !('code' in e)) throw e; // only typed protocol refusals
    }
  };

  // ── Key set ──
  for (const [, part] of r.participants) for (const a of r.adverts) part.addAdvert(a);
  for (const [, part] of r.participants) r.shares.push(part.shareKeys());
  r.committee.forEach((id, k) => {
    const m = mem(id);
    for (const a of r.adverts) m.addAdvert(a);
    m.beginShares();
    for (const sh of r.shares) {
      const i = r.parties.indexOf(sh.sender);
      // Active members hold everything; a follower may miss a share (network).
      if (!active.includes(id) && s.missShare[k * 10 + i]) continue;
      const late = !active.includes(id) && s.lateShare[k * 10 + i] === true;
      m.addShareKeys(sh, late ? LATE_AT : Number.NEGATIVE_INFINITY);
    }
  });
  const ksProposals: KeySetProposalMsg[] = [];
  const ksEndorse = new Map<string, EndorseMsg[]>();
  for (let turn = 0; turn < M; turn++) {
    const leader = r.committee[turn]!;
    let p = mem(leader).proposeKeySet(turn);
    const ai = active.indexOf(leader);
    if (ai >= 0 && s.ksMode[ai] === 'drop-mask') {
      const shared = p.shared.filter((q) => !((s.ksDrop[ai]! >> r.parties.indexOf(q)) & 1));
      p = { ...p, shared };
    }
    if (ai >= 0 && s.ksMode[ai] === 'drop-late') {
      // Every participant whose share reached some follower late (the grace forgives it there).
      const late = (q: string) => r.committee.some((_, k) => s.lateShare[k * 10 + r.parties.indexOf(q)] === true);
      p = { ...p, shared: p.shared.filter((q) => !late(q)) };
    }
    ksProposals.push(p);
    const hex = toHex0x(keySetDigest(scope, p.advertised, p.shared));
    const ends = ksEndorse.get(hex) ?? [];
    for (const id of r.committee) {
      if (active.includes(id)) {
        if (!ends.some((e) => e.sender === id))
          ends.push(
            endorse(scope, SecAggKind.KeySetEndorse, CertPhase.KeySet, id, keySetDigest(scope, p.advertised, p.shared), testSign(id)),
          );
        continue;
      }
      swallow(() => {
        const e = mem(id).onKeySetProposal(p, CLOCK);
        if (e !== undefined) ends.push(e);
      });
    }
    ksEndorse.set(hex, ends);
  }
  const certified = ksProposals.filter(
    (p, i, all) =>
      (ksEndorse.get(toHex0x(keySetDigest(scope, p.advertised, p.shared)))?.length ?? 0) >= T &&
      all.findIndex(
        (q) => toHex0x(keySetDigest(scope, q.advertised, q.shared)) === toHex0x(keySetDigest(scope, p.advertised, p.shared)),
      ) === i,
  );
  if (certified.length === 0) return; // the key set stalled: nothing can be revealed
  stats.keySets++;
  if (certified.length > 1) stats.multiKeySet++;
  // Each member learns the proposals and endorsements in an order the adversary picks, so
  // members may take their views under different certified key sets.
  r.committee.forEach((id, k) => {
    const order = ksProposals.map((p, i) => ({ p, key: s.ksOrder[k * M + i]! })).sort((a, b) => a.key - b.key);
    for (const { p } of order) {
      mem(id).learnKeySetProposal(p);
      for (const e of ksEndorse.get(toHex0x(keySetDigest(scope, p.advertised, p.shared)))!)
        if (e.sender !== id) mem(id).addKeySetEndorse(e);
    }
  });
  const evidenceOf = (p: KeySetProposalMsg) => ({
    proposal: p,
    endorsements: ksEndorse.get(toHex0x(keySetDigest(scope, p.advertised, p.shared)))!,
  });

  // ── Inputs ── (participants outside the committee may drop before their input)
  r.parties.forEach((p, i) => {
    const ks = certified[s.ksChoice[i]! % certified.length]!;
    if ((i >= M && s.noInput[i]) || !ks.shared.includes(p)) {
      r.participants.get(p)!.fail();
      return;
    }
    const payload = r.participants.get(p)!.maskInput(valuesOf(r, p), r.counts.get(p)!, new Uint8Array(32), evidenceOf(ks));
    r.payloads.set(p, payload);
    r.payloadHashes.set(p, hash256(encodeMaskedInput(payload)));
  });
  const inputs = [...r.payloads.keys()];
  // F20: an active member's participant shows some followers a second version of its input.
  const secondHash = new Map<string, Uint8Array>();
  active.forEach((a, ai) => {
    const payload = r.payloads.get(a);
    if (payload === undefined || s.equivocate[ai] === 0) return;
    const masked = payload.masked.slice();
    masked[0] = (masked[0]! + 1) >>> 0;
    secondHash.set(a, hash256(encodeMaskedInput({ ...payload, masked })));
  });
  const hashFor = (follower: number, p: string): Uint8Array => {
    const ai = active.indexOf(p);
    const second = secondHash.get(p);
    return second !== undefined && (s.equivocate[ai]! >> follower) & 1 ? second : r.payloadHashes.get(p)!;
  };

  // ── Views ── followers sign one; each active member signs a full one and one omitting honest inputs.
  const views = new Map<string, ViewMsg>();
  const altViews = new Map<string, ViewMsg>();
  const signed = (id: string, keySet: Uint8Array, entries: SignedView['entries']): ViewMsg => ({
    kind: SecAggKind.View,
    federation: r.ctx.federation,
    round: r.ctx.round,
    sender: id,
    view: { member: id, keySet, entries, signature: testSign(id)(viewStatement(scope, id, keySet, entries)) },
  });
  r.committee.forEach((id, k) => {
    const ai = active.indexOf(id);
    if (ai >= 0) {
      // Under a certified key set of its choice: every input masked under it, and a second
      // version without the honest inputs altOmit picks.
      const ks = certified[(s.ksChoice[ai]! >> 4) % certified.length]!;
      const full = inputs
        .filter((p) => ks.shared.includes(p) && r.payloads.get(p)!.neighbours.join() === ks.shared.filter((q) => q !== p).join())
        .sort()
        .map((p) => ({ participant: p, inputHash: r.payloadHashes.get(p)! }));
      const ksd = keySetDigest(scope, ks.advertised, ks.shared);
      views.set(id, signed(id, ksd, full));
      altViews.set(
        id,
        signed(
          id,
          ksd,
          full.filter((e) => !(honestParticipant(e.participant) && (s.altOmit[ai]! >> r.parties.indexOf(e.participant)) & 1)),
        ),
      );
      return;
    }
    const holds = inputs.filter((p) => !s.missInput[k * 10 + r.parties.indexOf(p)]);
    const m = mem(id);
    m.beginInputs();
    views.set(id, m.signView(holds.map((p) => ({ participant: p, inputHash: hashFor(k, p), neighbours: r.payloads.get(p)!.neighbours }))));
  });

  // ── The network ──
  const pending: { to: string; msg: Wire }[] = [];
  const wire: Wire[] = []; // everything ever published (the adversary reads all of it)
  const publish = (msg: Wire, to: readonly string[] = followers): void => {
    wire.push(msg);
    for (const f of to) if (f !== msg.sender) pending.push({ to: f, msg });
  };
  const proposalsSeen = new Map<string, ProposalMsg[]>(followers.map((f) => [f, []]));
  const reveals: RevealMsg[] = [];
  const proposedTurns = new Set<number>();
  const flushFollower = (f: string): void => {
    const m = mem(f);
    // A driver re-offers every proposal (retrying after a release).
    for (const p of proposalsSeen.get(f)!) {
      if (m.followedDigest !== undefined) break;
      swallow(() => {
        const e = m.onLockProposal(p, CLOCK);
        if (e !== undefined) publish(e);
      });
    }
    for (const o of m.takeOutbox()) if (o.kind === SecAggKind.LockRefuse || o.kind === SecAggKind.LockRelease) publish(o);
    const rv = m.reveal();
    if (rv !== undefined) reveals.push(rv);
  };
  const deliver = (to: string, msg: Wire): void => {
    const m = mem(to);
    swallow(() => {
      switch (msg.kind) {
        case SecAggKind.View:
          m.addView(msg);
          break;
        case SecAggKind.Proposal:
          proposalsSeen.get(to)!.push(msg);
          break;
        case SecAggKind.LockEndorse:
          m.addLockEndorse(msg);
          break;
        case SecAggKind.LockRefuse:
          m.addLockRefuse(msg);
          break;
        case SecAggKind.LockRelease:
          m.addLockRelease(msg);
          break;
      }
    });
    flushFollower(to);
  };
  for (const f of followers) publish(views.get(f)!);
  if (benign) {
    // Every follower holds every honest View before anything else happens.
    while (pending.length > 0) {
      const d = pending.shift()!;
      deliver(d.to, d.msg);
    }
  }

  // What the adversary knows: lock digests (from proposals it saw or made, endorsements,
  // refusals), views (all published + its own two versions each), refusals.
  const digests = (): Uint8Array[] => {
    const seen = new Map<string, Uint8Array>();
    for (const w of wire) {
      if (w.kind === SecAggKind.LockEndorse || w.kind === SecAggKind.LockRefuse || w.kind === SecAggKind.LockRelease)
        seen.set(toHex0x(w.digest), w.digest);
      if (w.kind === SecAggKind.Proposal) {
        const ks = certified.find((k) => toHex0x(keySetDigest(scope, k.advertised, k.shared)) === toHex0x(w.keySet));
        if (ks === undefined) continue;
        const l = deriveLock(w.views, ks.shared);
        const d = lockDigest(scope, w.keySet, l.survivors, l.dropped);
        seen.set(toHex0x(d), d);
      }
    }
    return [...seen.values()];
  };
  const subset = (mask: number): string[] => {
    const to = followers.filter((_, i) => (mask >> i) & 1);
    return to.length > 0 ? to : followers;
  };
  const advSigned = (a: string, kind: 'endorse' | 'refuse', d: Uint8Array) =>
    testSign(a)(endorseStatement(scope, kind === 'endorse' ? CertPhase.Lock : CertPhase.Refuse, d));

  if (mode === 'guided') {
    // The F14 family, roles drawn: active A_eq signs two Views (one without victim v), active A_lead
    // leads a lock X citing the one without v; the network shows that version and only the cited
    // Views to S ∪ {H1} (so the F12 rule cannot fire there), the full one and every View to R.
    // S ∪ {H1} endorse X; R refuse it (conflicting view, evidence); A_lead refuses X bare; the
    // actives' endorsements of X reach H1 only (H1 sees X certified and reveals: v ∈ D); S hold
    // R's and A_lead's refusals and never see X certified. A release there would let S lock Y ∋ v
    // with R and A_lead, and R reveal b_v: both kinds of v with the coalition's own shares.
    const [aEq, aLead] = [active[0]!, active[1]!];
    const rot = s.seed % followers.length;
    const fs = [...followers.slice(rot), ...followers.slice(0, rot)];
    const S = fs.slice(0, 2);
    const H1 = fs[2]!;
    const R = fs.slice(3);
    const ks = certified[0]!;
    const ksd = keySetDigest(scope, ks.advertised, ks.shared);
    const v = inputs.find((p) => honestParticipant(p) && ks.shared.includes(p));
    const sendNow = (msg: Wire, to: readonly string[]): void => {
      wire.push(msg);
      for (const f of to) deliver(f, msg);
    };
    const flushWhere = (pred: (d: { to: string; msg: Wire }) => boolean): void => {
      for (;;) {
        const i = pending.findIndex(pred);
        if (i < 0) return;
        const [d] = pending.splice(i, 1);
        deliver(d!.to, d!.msg);
      }
    };
    if (v !== undefined && views.get(aEq)!.view.entries.some((e) => e.participant === v)) {
      const near = [...S, H1];
      const alt = signed(
        aEq,
        ksd,
        views.get(aEq)!.view.entries.filter((e) => e.participant !== v),
      );
      flushWhere((d) => d.msg.kind === SecAggKind.View && near.includes(d.to) && near.includes(d.msg.sender));
      flushWhere((d) => d.msg.kind === SecAggKind.View && R.includes(d.to));
      sendNow(views.get(aLead)!, followers);
      sendNow(views.get(aEq)!, R);
      sendNow(alt, near);
      const cited = [alt.view, views.get(aLead)!.view, ...near.map((f) => views.get(f)!.view)].sort((x, y) =>
        x.member < y.member ? -1 : 1,
      );
      const lx = deriveLock(cited, ks.shared);
      const X: ProposalMsg = {
        kind: SecAggKind.Proposal,
        federation: r.ctx.federation,
        round: r.ctx.round,
        sender: aLead,
        turn: r.committee.indexOf(aLead),
        keySet: ksd,
        survivors: lx.survivors.map((e) => e.participant),
        dropped: lx.dropped,
        views: cited,
      };
      const xd = lockDigest(scope, ksd, lx.survivors, lx.dropped);
      sendNow(X, near);
      sendNow(X, R);
      flushWhere((d) => d.msg.kind === SecAggKind.LockEndorse);
      for (const a of [aEq, aLead])
        sendNow(
          {
            kind: SecAggKind.LockEndorse,
            federation: r.ctx.federation,
            round: r.ctx.round,
            sender: a,
            digest: xd,
            signature: advSigned(a, 'endorse', xd),
          },
          [H1],
        );
      sendNow(
        {
          kind: SecAggKind.LockRefuse,
          federation: r.ctx.federation,
          round: r.ctx.round,
          sender: aLead,
          digest: xd,
          signature: advSigned(aLead, 'refuse', xd),
          evidence: [],
        },
        S,
      );
      flushWhere((d) => d.msg.kind === SecAggKind.LockRefuse && S.includes(d.to));
      if (S.some((f) => mem(f).releasedLockCount > 0)) {
        stats.released++;
        // S take every View, propose Y at their turns, endorse it (LockRelease); A_lead endorses Y to R.
        flushWhere((d) => d.msg.kind === SecAggKind.View);
        for (const f of S) {
          const turn = r.committee.indexOf(f);
          if (proposedTurns.has(turn) || mem(f).endorsedLockDigest !== undefined) continue;
          proposedTurns.add(turn);
          swallow(() => {
            const y = mem(f).proposeLock(turn);
            publish(y);
            proposalsSeen.get(f)!.push(y);
            flushFollower(f);
          });
        }
        flushWhere((d) => d.msg.kind === SecAggKind.Proposal);
        for (const d of digests())
          if (toHex0x(d) !== toHex0x(xd))
            sendNow(
              {
                kind: SecAggKind.LockEndorse,
                federation: r.ctx.federation,
                round: r.ctx.round,
                sender: aLead,
                digest: d,
                signature: advSigned(aLead, 'endorse', d),
              },
              R,
            );
        flushWhere((d) => d.msg.kind === SecAggKind.LockRelease || d.msg.kind === SecAggKind.LockEndorse);
      }
    }
  }

  for (const step of s.program) {
    const a = active[step.a % 2]!;
    switch (step.op) {
      case 'deliver': {
        if (pending.length === 0) break;
        const [d] = pending.splice(step.b % pending.length, 1);
        deliver(d!.to, d!.msg);
        break;
      }
      case 'honest-propose': {
        const f = followers[step.b % followers.length]!;
        const turn = r.committee.indexOf(f);
        const m = mem(f);
        if (proposedTurns.has(turn) || m.endorsedLockDigest !== undefined || m.viewCount < T) break;
        proposedTurns.add(turn);
        swallow(() => {
          const p = m.proposeLock(turn);
          publish(p);
          proposalsSeen.get(f)!.push(p);
          flushFollower(f);
        });
        break;
      }
      case 'adv-view':
        publish((step.b & 1) === 0 ? views.get(a)! : altViews.get(a)!, [followers[step.c % followers.length]!]);
        break;
      case 'adv-propose': {
        // Cite t views under one certified key set, chosen by the mask, either version of each active one's.
        const ks = certified[step.b % certified.length]!;
        const ksd = keySetDigest(scope, ks.advertised, ks.shared);
        const pool: SignedView[] = [];
        for (const id of r.committee) {
          const versions = active.includes(id) ? [views.get(id)!.view, altViews.get(id)!.view] : [views.get(id)!.view];
          const v = versions[(step.b >> (3 + r.committee.indexOf(id))) & (versions.length - 1)]!;
          if (toHex0x(v.keySet) === toHex0x(ksd)) pool.push(v);
        }
        if (pool.length < T) break;
        const start = step.a % pool.length;
        const cited = [...pool.slice(start), ...pool.slice(0, start)].slice(0, T).sort((x, y) => (x.member < y.member ? -1 : 1));
        const l = deriveLock(cited, ks.shared);
        publish(
          {
            kind: SecAggKind.Proposal,
            federation: r.ctx.federation,
            round: r.ctx.round,
            sender: a,
            turn: r.committee.indexOf(a),
            keySet: ksd,
            survivors: l.survivors.map((e) => e.participant),
            dropped: l.dropped,
            views: cited,
          },
          subset(step.c),
        );
        break;
      }
      case 'adv-endorse': {
        const ds = digests();
        if (ds.length === 0) break;
        const d = ds[step.b % ds.length]!;
        publish(
          {
            kind: SecAggKind.LockEndorse,
            federation: r.ctx.federation,
            round: r.ctx.round,
            sender: a,
            digest: d,
            signature: advSigned(a, 'endorse', d),
          },
          subset(step.c),
        );
        break;
      }
      case 'adv-refuse': {
        const ds = digests();
        if (ds.length === 0) break;
        const d = ds[step.b % ds.length]!;
        publish(
          {
            kind: SecAggKind.LockRefuse,
            federation: r.ctx.federation,
            round: r.ctx.round,
            sender: a,
            digest: d,
            signature: advSigned(a, 'refuse', d),
            evidence: [],
          },
          subset(step.c),
        );
        break;
      }
      case 'adv-release': {
        const ds = digests();
        if (ds.length < 2) break;
        const x = ds[step.b % ds.length]!;
        const y = ds[(step.b + 1 + (step.a % (ds.length - 1))) % ds.length]!;
        const refusers = new Map<string, LockRefuseMsg>();
        for (const w of wire)
          if (w.kind === SecAggKind.LockRefuse && w.sender !== a && toHex0x(w.digest) === toHex0x(x)) refusers.set(w.sender, w);
        if (refusers.size < M - T + 1) break;
        publish(
          {
            kind: SecAggKind.LockRelease,
            federation: r.ctx.federation,
            round: r.ctx.round,
            sender: a,
            released: x,
            digest: y,
            signature: advSigned(a, 'endorse', y),
            refusals: [...refusers.values()]
              .map((f) => ({ member: f.sender, signature: f.signature }))
              .sort((p, q) => (p.member < q.member ? -1 : 1)),
          },
          subset(step.c),
        );
        break;
      }
    }
  }
  // The rest of the traffic arrives in FIFO order; leaders that have not proposed do so.
  for (let pass = 0; pass < 2; pass++) {
    for (const f of followers) {
      const turn = r.committee.indexOf(f);
      const m = mem(f);
      if (proposedTurns.has(turn) || m.endorsedLockDigest !== undefined || m.viewCount < T) continue;
      proposedTurns.add(turn);
      swallow(() => {
        const p = m.proposeLock(turn);
        publish(p);
        proposalsSeen.get(f)!.push(p);
        flushFollower(f);
      });
    }
    while (pending.length > 0) {
      const d = pending.shift()!;
      deliver(d.to, d.msg);
    }
  }

  // Invariant 2: followers that revealed, revealed for one lock.
  const followed = new Set(reveals.map((rv) => toHex0x(rv.proposal)));
  expect(followed.size, 'reveals for two locks').toBeLessThanOrEqual(1);
  const certs = new Set(
    followers
      .map((f) => mem(f).lockCertificate())
      .filter((c) => c !== undefined)
      .map((c) => toHex0x(c.digest)),
  );
  if (certs.size > 1) stats.twoCertifiedInSomeEyes++;

  // Invariant 1: never both kinds. The coalition's own positions hold a share of each kind of every secret.
  const own = [...coalition].map((c) => r.committee.indexOf(c) + 1);
  for (const p of r.parties.filter(honestParticipant)) {
    const b = new Set(own);
    const sk = new Set(own);
    for (const rv of reveals) {
      for (const x of rv.selfMaskShares) if (x.participant === p) b.add(x.x);
      for (const x of rv.keyShares) if (x.participant === p) sk.add(x.x);
    }
    expect(b.size >= T && sk.size >= T, `both kinds of ${p}`).toBe(false);
  }
  // Benign network: a lock that anyone revealed for keeps every honest input (F12 with two active members).
  if (benign && reveals.length > 0) {
    const u3 = mem(reveals[0]!.sender).followedSurvivors.map((e) => e.participant);
    expect(
      inputs.filter((p) => honestParticipant(p) && !u3.includes(p)),
      'honest inputs left out of U_3',
    ).toEqual([]);
  }
  stats.runs++;
  if (reveals.length > 0) stats.revealed++;
  stats.released += followers.filter((f) => mem(f).releasedLockCount > 0).length;
}

describe('random schedules with two active and two curious members at (7, 5) and an adversarial network', () => {
  it('never both kinds for an honest participant, one lock revealed for', () => {
    fc.assert(
      fc.property(scheduleArb, (s) => {
        runSchedule(s, 'random', stats);
      }),
      {
        numRuns: Number(process.env.SECAGG_PROP_RUNS ?? 15),
        seed: Number(process.env.FCSEED ?? 13),
        ...(process.env.FCPATH ? { path: process.env.FCPATH, endOnFailure: true } : {}),
      },
    );
    if (process.env.SECAGG_SCHEDULE_STATS === '1') console.log(JSON.stringify(stats));
    // Not vacuous (the default seed and run count: deterministic): followers reveal in a good share
    // of the schedules, some release a lock and some schedules certify two key sets.
    if (process.env.FCSEED === undefined && process.env.SECAGG_PROP_RUNS === undefined) {
      expect(stats.revealed).toBeGreaterThan(stats.runs / 8);
      expect(stats.released).toBeGreaterThan(0);
      expect(stats.multiKeySet).toBeGreaterThan(0);
    }
  }, 120_000);

  it('guided: the F14 family with drawn roles (a release that is not safe would show here)', () => {
    const guided = { runs: 0, keySets: 0, multiKeySet: 0, revealed: 0, released: 0, twoCertifiedInSomeEyes: 0 };
    fc.assert(
      fc.property(scheduleArb, (s) => {
        runSchedule(s, 'guided', guided);
      }),
      { numRuns: Number(process.env.SECAGG_PROP_RUNS ?? 10), seed: Number(process.env.FCSEED ?? 13) },
    );
    if (process.env.SECAGG_SCHEDULE_STATS === '1') console.log(JSON.stringify(guided));
    if (process.env.FCSEED === undefined && process.env.SECAGG_PROP_RUNS === undefined)
      expect(guided.revealed).toBeGreaterThan(guided.runs / 2);
  }, 120_000);

  it('with a network that delivers every View first, a lock anyone reveals for keeps every honest input', () => {
    const benign = { runs: 0, keySets: 0, multiKeySet: 0, revealed: 0, released: 0, twoCertifiedInSomeEyes: 0 };
    fc.assert(
      fc.property(scheduleArb, (s) => {
        runSchedule(s, 'benign', benign);
      }),
      { numRuns: Number(process.env.SECAGG_PROP_RUNS ?? 10), seed: Number(process.env.FCSEED ?? 13) },
    );
    if (process.env.SECAGG_SCHEDULE_STATS === '1') console.log(JSON.stringify(benign));
    if (process.env.FCSEED === undefined && process.env.SECAGG_PROP_RUNS === undefined)
      expect(benign.revealed).toBeGreaterThan(benign.runs / 2);
  }, 120_000);
});
