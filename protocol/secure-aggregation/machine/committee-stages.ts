/**
 * The committee member's stages of a secure round: the server of Bonawitz et al. (CCS 2017,
 * §4 and the §6–7 consistency check) as a quorum, one function per stage (Flower's SecAgg+
 * workflow). Every check, certificate and byte of cryptography is the role object's
 * (committee-member.ts, certify.ts, floors.ts); these functions only decide *when* it acts.
 *
 *   KEY_SET    collect adverts and shares │ the key-set leader of turn 0 (position 0) proposes
 *              once every contributor shared (or at keysMs); turn τ ≥ 1 (position τ mod m) at
 *              keysMs + τ·grace; endorse one key set per turn │ while the chain can still record
 *              the round (`followUntil`; absent: the input deadline)
 *   INPUTS     U_2's inputs (or the input deadline; for a key set certified late, as long after
 *              the certification as the round gives inputs after its key deadline)
 *   ADMISSION  the node checks each held input's admission (effects `admit`, H8 F1; one that
 *              arrives meanwhile is checked too); refused inputs stay out of the view │ sign it
 *   LOCK       the lock leader proposes (U_3, D) with ≥ t views (turn 0 at once, turn τ after τ
 *              grace periods); endorse at most one lock │ once t endorsements certify the lock we
 *              endorsed and we hold U_3's inputs: with a ledger (`chargesLock`), effect
 *              `charge-lock` and wait for `lock-charged` (red team F18: the ledger holds U_3's
 *              spend before anything is released) │ reveal │ until viewAt + (m + 1)·grace, or
 *              once the charge was asked, until the chain answers (F21)
 *   UNMASK     t reveals for every secret and every survivor's input: unmask (retried as reveals
 *              arrive while one liar keeps a reconstruction failing), check the bounds
 *   RECORDING  effect `record`; once it landed: announce the aggregate, sign and publish the result
 *
 * A member that cannot take part — a proposal it cannot verify (SECAGG_CANNOT_FOLLOW), a floor
 * broken (SECAGG_FLOOR: the round aborts before any reveal), no certificate or too few reveals
 * by its deadline, a reconstruction that fails its commitment — *abstains*: it logs the error's
 * code and fields, counts it, signs nothing, and ends with `abstained`. The round goes on with
 * the other members (t of m suffice) or is aborted on chain at its finalize deadline.
 */
import { bytesEqual, fromHex0x, hash256, toHex0x } from '../../bytes.js';
import type { ContributionDeclaration, Hex32 } from '../../chain/record.js';
import { type EndorseMsg, type ProposalMsg, resultStatement, SecAggKind, survivorsHash, type ViewEntry } from '../../messages/secagg.js';
import { encodeSecureAggregate } from '../../messages/update.js';
import { CommitteeStage, committeeMachine } from '../../round.js';
import type { StageMachine } from '../../stage-machine.js';
import { modelHash } from '../../weights-codec.js';
import type { SecAggCommitteeMember, TurnClock, UnmaskResult } from '../committee-member.js';
import { SecAggError } from '../errors.js';
import { scopeOf } from '../participant.js';
import { SecAggStage } from '../stages.js';
import { applyAggregate, decodeSum } from '../quantize.js';
import { followUntilOf, type StageContext } from './participant-stages.js';
import {
  feedComplaints,
  feedLockEvidence,
  type LivenessState,
  livenessState,
  notingConflicts,
  publishOutbox,
  reofferAfterRelease,
} from './liveness.js';
import { Feeder, type ReceivedStore } from './store.js';
import type { CommitteeOutcome, ReceivedInput } from './types.js';

export enum CommitteePhase {
  /** A simulated dropout: silent until the input deadline or a result. */
  Silent = 'silent',
  KeySet = 'key-set',
  Inputs = 'inputs',
  Admission = 'admission',
  Lock = 'lock',
  Unmask = 'unmask',
  Recording = 'recording',
  Done = 'done',
}

/** The unmasked, bounds-checked aggregate (kept for the record and for tests). */
export interface CommitteeAggregate {
  readonly unmasked: UnmaskResult;
  /** Σ n_i·Δ_i per coordinate (quantize.ts decodeSum). */
  readonly values: Float64Array;
  readonly totalSamples: number;
  readonly modelHash: Hex32;
  /** The SecureAggregate payload announced once the record names our model hash. */
  readonly payload: Uint8Array;
}

export interface CommitteeRoleState {
  readonly member: SecAggCommitteeMember;
  /** The node-level committee path (collecting → aggregating → recording → announcing → done). */
  readonly stages: StageMachine<CommitteeStage>;
  readonly feeder: Feeder;
  /** Complaints, refusals and releases (./liveness.ts). */
  readonly liveness: LivenessState;
  phase: CommitteePhase;
  readonly proposedKeySetTurns: Set<number>;
  /** Inputs whose admission was asked, in order, and those still unanswered. */
  admission?: { readonly asked: ReceivedInput[]; readonly askedIds: Set<string>; readonly pending: Set<string> };
  readonly refusedInputs: Set<string>;
  viewAt?: number;
  readonly proposedLockTurns: Set<number>;
  /**
   * The turn whose lock this member could not propose for want of views (SECAGG_TOO_FEW_VIEWS,
   * e.g. F26: no t views that leave out only inputs ≥ 2 of them lack) and how many views it held:
   * it tries again in that turn once it holds more.
   */
  lockRetry?: { readonly turn: number; readonly views: number };
  /** At most one published lock proposal per member per round (a second is equivocation to every inbox). */
  lockPublished: boolean;
  /** The lock (bytes32 hex) whose charge this member asked for (`charge-lock`), and when. */
  chargeAsked?: Hex32;
  chargeAskedAt?: number;
  /** The lock the chain charged exactly (event `lock-charged`). */
  charged?: Hex32;
  /** Why the lock will never be charged (event `lock-charged` with a refusal): no reveal, abstain. */
  chargeRefusal?: { readonly code: string; readonly message: string };
  /** When the unmask phase gives up (set when the lock phase ends). */
  unmaskUntil?: number;
  unmasked?: UnmaskResult;
  lastFailure?: SecAggError;
  triedWith: number;
  aggregate?: CommitteeAggregate;
  outcome?: CommitteeOutcome;
  /** When this member first held a certified key set (the late input window counts from it). */
  keySetAt?: number;
  /**
   * Since when no contributor's share is still to come although some are missing (provably
   * unusable: KEY_SET); a turn-0 leader proposes one leader turn later, not at the key deadline.
   */
  noneAwaitedAt?: number;
}

export function committeeRole(member: SecAggCommitteeMember, store: ReceivedStore): CommitteeRoleState {
  return {
    member,
    stages: committeeMachine(member.ctx.round),
    feeder: new Feeder(store),
    liveness: livenessState(),
    phase: CommitteePhase.KeySet,
    proposedKeySetTurns: new Set(),
    refusedInputs: new Set(),
    proposedLockTurns: new Set(),
    lockPublished: false,
    triedWith: -1,
  };
}

export function startCommittee(s: CommitteeRoleState, c: StageContext): void {
  // With a ledger, the member itself refuses to reveal before the charge (F18), whatever drives it.
  if (c.cfg.chargesLock === true) s.member.requireCharge();
  s.member.beginShares();
  if (c.cfg.dropout !== undefined) s.phase = CommitteePhase.Silent;
}

// ── Leader turns (certify.ts checkLeader): turn τ starts τ grace periods after `start` ──────────

const turnOf = (c: StageContext, start: number): number => Math.max(0, Math.floor((c.now - start) / c.cfg.recordGraceMs));
const clockFrom = (c: StageContext, start: number): TurnClock => ({
  now: c.now,
  turnStart: (turn: number) => (turn === 0 ? Number.NEGATIVE_INFINITY : start + turn * c.cfg.recordGraceMs),
  // Turn 0 may be proposed at once (fast path), but for the omission grace it is due at `start`
  // (the key deadline): an early proposal forgives nothing more (committee-member.ts).
  turnDue: (turn: number) => start + turn * c.cfg.recordGraceMs,
  // Without committee keys known at open, a participant shares only once it holds every member's
  // advert, or at keysMs when one is down: its share is due keysMs later than its advert, so the
  // grace never forgives a share that was late by design (participant-stages.ts COMMITTEE_KEYS).
  shareDue: (turn: number) => start + turn * c.cfg.recordGraceMs + (c.cfg.committeeKeysKnown ? 0 : c.cfg.keysMs),
});
const nextTurnAt = (c: StageContext, start: number): number => start + (turnOf(c, start) + 1) * c.cfg.recordGraceMs;

/**
 * One pass of a deadline-bounded stage (the old driver's `drive`): `done` if the pass finished
 * it, `timeout` if `until` has passed, else the time to be woken at (the next leader turn, capped
 * at `until`).
 */
function drive(c: StageContext, until: number, wake: number | undefined, pass: () => boolean): 'done' | 'timeout' | number {
  if (pass()) return 'done';
  if (c.now >= until) return 'timeout';
  return wake !== undefined && wake > c.now ? Math.min(wake, until) : until;
}

const lagged = (c: StageContext, what: string): SecAggError =>
  new SecAggError('SECAGG_TOO_FEW_VIEWS', `round ${c.cfg.round} was recorded by other members before this member's ${what}`, {
    have: 0,
    threshold: c.cfg.threshold,
    completedByOthers: true,
  });

/**
 * Adverts, shares and other members' complaints, whenever they arrive (a ShareKeys may overtake
 * its sender's advert: retried). The member's own complaints, refusals and releases are published
 * after every pass (`advanceCommittee`, ./liveness.ts).
 */
function feedKeys(s: CommitteeRoleState, c: StageContext): void {
  const { member } = s;
  // `c.now` is when the member first holds each advert and share (the omission grace: a key-set
  // proposal may leave out what it received less than keySetGraceMs before the turn was due).
  s.feeder.feed(c.out, SecAggKind.AdvertiseKeys, (x) => member.addAdvert(x, c.now));
  s.feeder.feedRetrying(c.out, SecAggKind.ShareKeys, ['SECAGG_UNKNOWN_KEY'], (x) => {
    if (
      member.stage !== SecAggStage.Unmask &&
      x.shares.some((sh) => sh.recipient === c.cfg.self) &&
      !member.shareHolders.includes(x.sender)
    )
      member.addShareKeys(x, c.now);
    else member.learnCommitment(x);
  });
  feedComplaints(s.feeder, member, c);
}

/** KEY_SET: certify (U_1, U_2). */
function keySet(s: CommitteeRoleState, c: StageContext): number | 'next' {
  const { cfg, store, out } = c;
  const { member } = s;
  const keysDeadline = cfg.openedAt + cfg.keysMs;
  // Every member advertised and every contributor's share is held: propose at once. Or none is
  // still to come — the missing ones are provably never held by t members (complaints, unaddressed:
  // `awaitingShares`), so waiting for the key deadline gains nothing: propose one leader turn
  // (recordGraceMs) after that became true, so that the complaints it rests on, gossiped by other
  // members, have reached the endorsers too (an endorser that lacks them refuses the omission, F12).
  const allShared = (): boolean => {
    const adverts = store.messages(SecAggKind.AdvertiseKeys);
    if (adverts.length < cfg.members.length) {
      s.noneAwaitedAt = undefined;
      return false;
    }
    const contributors = adverts.filter((a) => a.contributes).map((a) => a.sender);
    if (contributors.every((p) => member.shareHolders.includes(p))) return true;
    if (member.awaitingShares(contributors).length > 0) {
      s.noneAwaitedAt = undefined;
      return false;
    }
    s.noneAwaitedAt ??= c.now;
    return c.now >= s.noneAwaitedAt + cfg.recordGraceMs;
  };
  // Issue #13 liveness under load (the F21 rule: never give up for good at a local deadline while
  // the chain can still act): with no certified key set at the input deadline the member goes on
  // collecting, proposing in its turns and endorsing (one key set per turn, H8 F6: nothing is
  // revealed for a key set, only for the one certified lock) until the chain can no longer record
  // the round. Waiting adds no lock and no reveal: those come only after a view under a certified
  // key set, as before.
  const r = drive(c, followUntilOf(cfg), c.now < keysDeadline ? keysDeadline : nextTurnAt(c, keysDeadline), () => {
    if (store.resultSeen) return true;
    feedKeys(s, c);
    const turn = c.now < keysDeadline ? 0 : turnOf(c, keysDeadline);
    // One key-set proposal per turn we lead (τ, τ + m, …): inboxes keep them per (sender, turn).
    // A leader whose proposal was refused (adverts still arriving under load: a member refuses a
    // U_1 omitting an advert it holds, F9) proposes again at its next turn, with what it holds then.
    if (
      cfg.committee[turn % cfg.committee.length] === cfg.self &&
      !s.proposedKeySetTurns.has(turn) &&
      (allShared() || (c.now >= keysDeadline && member.keySetReady()))
    ) {
      s.proposedKeySetTurns.add(turn);
      out.publish(member.proposeKeySet(turn));
    }
    const endorsements: EndorseMsg[] = [];
    s.feeder.feedRetrying(out, SecAggKind.KeySetProposal, ['SECAGG_CANNOT_FOLLOW', 'SECAGG_EARLY_PROPOSAL'], (x) => {
      const e = member.onKeySetProposal(x, clockFrom(c, keysDeadline));
      if (e !== undefined) endorsements.push(e);
    });
    for (const e of endorsements) out.publish(e);
    s.feeder.feed(out, SecAggKind.KeySetEndorse, (x) => member.addKeySetEndorse(x));
    return member.keySet !== undefined;
  });
  if (typeof r === 'number') {
    // Wake for the early turn-0 proposal (above) when it comes before the next planned wake.
    const early = s.noneAwaitedAt !== undefined ? s.noneAwaitedAt + cfg.recordGraceMs : undefined;
    return early !== undefined && early > c.now && early < r && !s.proposedKeySetTurns.has(0) ? early : r;
  }
  const done = r === 'done';
  out.log('debug', { keySet: member.keySet?.shared.length, done }, 'secure aggregation: key set phase over');
  if (store.resultSeen) throw lagged(c, 'key set');
  if (!done || member.keySet === undefined) {
    throw new SecAggError('SECAGG_NOT_CERTIFIED', `no key set certified for round ${cfg.round} while the chain could record it`, {
      phase: 'key-set',
      deadline: true,
    });
  }
  s.keySetAt = c.now;
  member.beginInputs();
  s.phase = CommitteePhase.Inputs;
  return 'next';
}

/** INPUTS: U_2's inputs, or the input deadline; then admission (if the node checks it) or the view. */
function inputs(s: CommitteeRoleState, c: StageContext): number | 'next' {
  const { cfg, store } = c;
  const shared = s.member.keySet!.shared;
  const arrived = shared.every((p) => store.inputs.has(p)) || store.resultSeen;
  const until = inputsUntil(s, c);
  if (!arrived && c.now < until) return until;
  if (store.resultSeen) throw lagged(c, 'view');
  feedKeys(s, c);
  if (cfg.admits) {
    s.admission = { asked: [], askedIds: new Set(), pending: new Set() };
    s.phase = CommitteePhase.Admission;
    return 'next';
  }
  signView(s, c, [...store.inputs.values()]);
  return 'next';
}

/**
 * The end of the input wait. A key set certified in time: the input deadline, as before. One
 * certified late (issue #13, above): participants mask only once they see it, so inputs get as
 * long after the certification as the round gives them after its key deadline (collectMs − keysMs,
 * at least keysMs), never past `followUntil`.
 */
function inputsUntil(s: CommitteeRoleState, c: StageContext): number {
  const { cfg } = c;
  const window = Math.max(cfg.keysMs, cfg.collectDeadline - cfg.openedAt - cfg.keysMs);
  return Math.max(cfg.collectDeadline, Math.min((s.keySetAt ?? cfg.collectDeadline) + window, followUntilOf(cfg)));
}

function signView(s: CommitteeRoleState, c: StageContext, held: readonly ReceivedInput[]): void {
  const view = s.member.signView(
    held
      .filter((x) => !s.refusedInputs.has(x.sender))
      .map((x) => ({ participant: x.sender, inputHash: x.payloadHash, neighbours: x.input.neighbours })),
  );
  c.out.publish(view);
  s.stages.to(CommitteeStage.Aggregating);
  s.viewAt = c.now;
  s.phase = CommitteePhase.Lock;
}

/** An admission answer (event `admitted`): a refused input is counted and left out of the view. */
export function onAdmitted(s: CommitteeRoleState, c: StageContext, participant: string, refusal: string | undefined): void {
  if (s.phase !== CommitteePhase.Admission || s.admission?.pending.delete(participant) !== true) return;
  if (refusal === undefined) return;
  s.refusedInputs.add(participant);
  c.out.count('SECAGG_INADMISSIBLE', { participant, reason: refusal });
  c.out.log(
    'warn',
    { participant, reason: refusal },
    'secure aggregation: input refused before any reveal (its line would not be recorded)',
  );
}

/**
 * ADMISSION (H8 F1): every held input is checked (effect `admit`) before the view, and inputs
 * whose line the contract would refuse stay out of it. An input that arrives while the checks
 * run is checked too, so the view covers every input held and no unchecked one. Once every
 * answer is in: sign the view.
 */
function admission(s: CommitteeRoleState, c: StageContext): undefined | 'next' {
  const a = s.admission!;
  for (const x of c.store.inputs.values()) {
    if (a.askedIds.has(x.sender)) continue;
    a.asked.push(x);
    a.askedIds.add(x.sender);
    a.pending.add(x.sender);
    c.out.push({ type: 'admit', participant: x.sender, input: x.input });
  }
  if (a.pending.size > 0) return undefined;
  signView(s, c, a.asked);
  return 'next';
}

const lockDeadline = (s: CommitteeRoleState, c: StageContext): number => s.viewAt! + (c.cfg.committee.length + 1) * c.cfg.recordGraceMs;

/**
 * The lock phase's end: its deadline; once the charge was asked (F18), only the chain's answer. A
 * member that signed the charge must not
 * stop waiting while the chain still accepts it: the t signatures are public gossip, so anyone can
 * land the charge later, and a charge that lands after every member gave up charges U_3 for a
 * release that never happens (red team F21). The node answers when the charge lands (reveal),
 * when the contract refuses it or the round is no longer open on chain (no reveal), and the round
 * is stopped when it ends on chain; waiting costs only liveness.
 */
const lockUntil = (s: CommitteeRoleState, c: StageContext): number =>
  s.chargeAskedAt === undefined ? lockDeadline(s, c) : Number.POSITIVE_INFINITY;

/** Each survivor's declaration as it signed it with its masked input (the record and the charge carry exactly these). */
function declarationsOf(store: ReceivedStore, survivors: readonly ViewEntry[]): Map<string, ContributionDeclaration> {
  return new Map(
    survivors.map((e) => {
      const input = store.inputs.get(e.participant)!.input;
      const signed = input.entrySignature.some((b) => b !== 0);
      return [e.participant, { dpParams: input.dpParams, ...(signed ? { entrySignature: toHex0x(input.entrySignature) } : {}) }] as const;
    }),
  );
}

/**
 * With a ledger (F18): once the lock this member endorsed is certified and it holds every
 * survivor's input under the hash the lock certified (the declarations come from them), ask the
 * node to charge U_3 on chain (effect `charge-lock`), once. Nothing is revealed before the answer.
 */
function askCharge(s: CommitteeRoleState, c: StageContext): void {
  if (c.cfg.chargesLock !== true || s.chargeAsked !== undefined) return;
  const lock = s.member.lockToCharge();
  if (lock === undefined) return;
  const held = lock.survivors.every((e) => {
    const x = c.store.inputs.get(e.participant);
    return x !== undefined && bytesEqual(x.payloadHash, e.inputHash);
  });
  if (!held) return;
  const digest = toHex0x(lock.digest) as Hex32;
  s.chargeAsked = digest;
  s.chargeAskedAt = c.now;
  c.out.log(
    'debug',
    { lock: digest, survivors: lock.survivors.length },
    'secure aggregation: lock certified; charging U_3 before any reveal',
  );
  c.out.push({
    type: 'charge-lock',
    request: {
      round: c.cfg.round,
      position: c.cfg.position,
      turnDelayMs: c.cfg.position * c.cfg.recordGraceMs,
      until: lockUntil(s, c),
      lock: digest,
      contributors: lock.survivors.map((e) => e.participant),
      declarations: declarationsOf(c.store, lock.survivors),
    },
  });
}

/**
 * The answer to `charge-lock` (event `lock-charged`): the chain charged exactly our lock's U_3,
 * so the member may reveal; or a refusal, and it never will (the lock phase abstains with
 * SECAGG_NOT_CHARGED).
 */
export function onLockCharged(
  s: CommitteeRoleState,
  lock: Hex32,
  refusal: { readonly code: string; readonly message: string } | undefined,
): void {
  if (s.phase !== CommitteePhase.Lock || s.chargeAsked === undefined || s.charged !== undefined || s.chargeRefusal !== undefined) return;
  if (refusal !== undefined) {
    s.chargeRefusal = refusal;
    return;
  }
  if (lock.toLowerCase() !== s.chargeAsked.toLowerCase()) {
    s.chargeRefusal = { code: 'SECAGG_NOT_CHARGED', message: `the chain charged lock ${lock}, not ${s.chargeAsked}` };
    return;
  }
  s.member.lockCharged(fromHex0x(lock));
  s.charged = s.chargeAsked;
}

/** LOCK: lock (U_3, D); reveal once the lock we endorsed is certified. */
function lock(s: CommitteeRoleState, c: StageContext): number | 'next' {
  const { cfg, store, out } = c;
  const { member } = s;
  const viewAt = s.viewAt!;
  const r = drive(c, lockUntil(s, c), nextTurnAt(c, viewAt), () => {
    if (s.chargeRefusal !== undefined) {
      throw new SecAggError('SECAGG_NOT_CHARGED', `round ${cfg.round}: lock ${s.chargeAsked} not charged (${s.chargeRefusal.message})`, {
        lock: s.chargeAsked,
        reason: s.chargeRefusal.code,
      });
    }
    // Once the charge was asked, a Result (genuine or not) does not end the wait: the charge may
    // still land, and then this member reveals (F21/F22: charged, so released, never the reverse).
    if (store.resultSeen && s.chargeAsked === undefined) return true;
    feedKeys(s, c);
    s.feeder.feedRetrying(out, SecAggKind.View, [], (x) => member.addView(x));
    // Key sets certified late (one endorsement per turn, H8 F6): a lock may name any of them.
    for (const x of store.messages(SecAggKind.KeySetProposal)) member.learnKeySetProposal(x);
    s.feeder.feed(out, SecAggKind.KeySetEndorse, (x) => member.addKeySetEndorse(x));
    const turn = turnOf(c, viewAt);
    if (
      cfg.committee[turn % cfg.committee.length] === cfg.self &&
      !s.lockPublished &&
      !s.proposedLockTurns.has(turn) &&
      !(s.lockRetry?.turn === turn && member.viewCount <= s.lockRetry.views) &&
      member.viewCount >= cfg.threshold &&
      member.endorsedLockDigest === undefined
    ) {
      s.proposedLockTurns.add(turn);
      let proposal: ProposalMsg | undefined;
      try {
        proposal = member.proposeLock(turn);
      } catch (e) {
        if (!(e instanceof SecAggError)) throw e;
        // A floor broken with every member's view held: the round aborts before any reveal. With
        // views still to come, a short view (a member that holds few shares: its prekey state was
        // lost, shares to it did not open) may be what broke it: try again as views arrive.
        if (e.code === 'SECAGG_FLOOR' && member.viewCount >= cfg.committee.length) throw e;
        out.count(e.code, { step: 'propose', error: e.message });
        // Too few views (under one key set, or to cite t without a one-view omission, F26): nothing
        // is proposed; another view in this turn may make a lock possible.
        // A floor broken while views are still missing is retried the same way.
        if (e.code === 'SECAGG_TOO_FEW_VIEWS' || e.code === 'SECAGG_FLOOR') {
          s.proposedLockTurns.delete(turn);
          s.lockRetry = { turn, views: member.viewCount };
        }
      }
      if (proposal !== undefined) {
        s.lockPublished = true;
        out.publish(proposal);
      }
    }
    // Refusals first: they may release our endorsement, and a proposal turned down for it is offered again.
    feedLockEvidence(s.feeder, member, c);
    const endorsements: EndorseMsg[] = [];
    const offer = (x: ProposalMsg): void => {
      const e = member.onLockProposal(x, clockFrom(c, viewAt));
      if (e !== undefined) endorsements.push(e);
    };
    s.feeder.feedRetrying(out, SecAggKind.Proposal, ['SECAGG_CANNOT_FOLLOW', 'SECAGG_EARLY_PROPOSAL'], notingConflicts(s.liveness, offer));
    reofferAfterRelease(s.liveness, member, c, offer);
    for (const e of endorsements) out.publish(e);
    s.feeder.feed(out, SecAggKind.LockEndorse, (x) => member.addLockEndorse(x));
    askCharge(s, c);
    const reveal = member.reveal();
    if (reveal !== undefined) out.publish(reveal);
    return member.followedDigest !== undefined;
  });
  if (typeof r === 'number') return r;
  const locked = r === 'done';
  out.log('debug', { locked, views: member.viewCount }, 'secure aggregation: lock phase over');
  if (store.resultSeen && member.followedDigest === undefined) throw lagged(c, 'lock');
  if (!locked && s.chargeAsked !== undefined) {
    throw new SecAggError('SECAGG_NOT_CHARGED', `round ${cfg.round}: lock ${s.chargeAsked} not charged by the deadline; nothing revealed`, {
      lock: s.chargeAsked,
      reason: 'deadline',
      deadline: true,
    });
  }
  if (!locked) {
    throw new SecAggError('SECAGG_NOT_CERTIFIED', `no certified lock this member endorsed for round ${cfg.round} by the unmask deadline`, {
      phase: 'lock',
      have: member.viewCount,
      threshold: cfg.threshold,
      endorsed: member.endorsedLockDigest !== undefined,
      deadline: true,
    });
  }
  // The reveals follow the charge: give them as long after it as the lock phase had.
  s.unmaskUntil =
    s.charged !== undefined ? Math.max(lockDeadline(s, c), c.now + (cfg.committee.length + 1) * cfg.recordGraceMs) : lockDeadline(s, c);
  s.phase = CommitteePhase.Unmask;
  return 'next';
}

/** UNMASK: t reveals for every secret and every survivor's input; then the bounds and the record request. */
function unmask(s: CommitteeRoleState, c: StageContext): number | 'next' {
  const { cfg, store, out } = c;
  const { member } = s;
  const inputsHeld = (): Map<string, Uint32Array> => new Map([...store.inputs].map(([id, x]) => [id, x.input.masked]));
  const r = drive(c, s.unmaskUntil ?? lockDeadline(s, c), undefined, () => {
    s.feeder.feed(out, SecAggKind.Reveal, (x) => member.addReveal(x));
    feedKeys(s, c);
    // Red team F20: a participant may send different masked inputs to different members; the lock
    // names one copy per survivor (its input hash). Unmask, and take declarations, only from that
    // copy: a member holding another abstains rather than sign a record over a different sum.
    const otherCopy = member.followedSurvivors.filter((e) => {
      const x = store.inputs.get(e.participant);
      return x !== undefined && !bytesEqual(x.payloadHash, e.inputHash);
    });
    if (otherCopy.length > 0) {
      throw new SecAggError(
        'SECAGG_CANNOT_FOLLOW',
        `round ${cfg.round}: this member holds another input than the lock names for ${otherCopy.length} survivor(s)`,
        {
          reason: 'input-copy',
          participants: otherCopy.map((e) => e.participant),
        },
      );
    }
    const ready = member.canUnmask() && member.followedSurvivors.every((e) => store.inputs.has(e.participant));
    if (!ready) return store.resultSeen;
    // A reconstruction that fails (a lying reveal among exactly t) is retried as more reveals
    // arrive, until the unmask deadline: one liar must not make honest members give up.
    const have = store.count(SecAggKind.Reveal);
    if (have === s.triedWith) return store.resultSeen;
    s.triedWith = have;
    try {
      s.unmasked = member.unmask(inputsHeld());
      return true;
    } catch (e) {
      if (!(e instanceof SecAggError) || e.code !== 'SECAGG_TOO_FEW_SHARES') throw e;
      s.lastFailure = e;
      return store.resultSeen;
    }
  });
  if (typeof r === 'number') return r;
  const unmasked = s.unmasked;
  if (unmasked === undefined) {
    if (s.lastFailure !== undefined) throw s.lastFailure;
    throw new SecAggError('SECAGG_TOO_FEW_SHARES', `round ${cfg.round}: fewer than ${cfg.threshold} reveals by the unmask deadline`, {
      have: store.count(SecAggKind.Reveal),
      threshold: cfg.threshold,
      deadline: true,
      completedByOthers: store.resultSeen,
    });
  }
  member.dispose();
  // Bounds before anything is recorded (quantize.ts checkAggregateBounds): every coordinate within
  // |U|·L and |U| ≤ Σ n_i ≤ |U|·maxSampleCount, else SECAGG_* and this member abstains.
  const { values, totalSamples } = decodeSum(unmasked.sum, unmasked.survivors.length, cfg.config);
  const average = applyAggregate(cfg.global, values, totalSamples);
  const aggregate = cfg.serverStep === undefined ? average : cfg.serverStep(average);
  const hash = toHex0x(modelHash(aggregate));
  out.log('debug', { survivors: unmasked.survivors.length, totalSamples }, 'secure aggregation: unmasked');
  // Each survivor's declaration, as it signed it with its masked input: the record charges
  // exactly the inputs in the sum. Dropped participants declared nothing that counts.
  const declarations = declarationsOf(store, unmasked.survivors);
  const payload = encodeSecureAggregate({
    prevModelHash: fromHex0x(cfg.head),
    totalSamples,
    participants: unmasked.survivors,
    weights: aggregate,
  });
  s.aggregate = { unmasked, values, totalSamples, modelHash: hash, payload };
  // Under a server optimizer the record binds the average (protocol/audit/server-step.ts).
  const averagePayload =
    cfg.serverStep === undefined
      ? payload
      : encodeSecureAggregate({ prevModelHash: fromHex0x(cfg.head), totalSamples, participants: unmasked.survivors, weights: average });
  out.push({
    type: 'record',
    request: {
      round: cfg.round,
      position: cfg.position,
      // Position p records p grace periods after the aggregate is ready, counted when the node
      // starts recording (after this step's work, as the old driver read its clock then).
      turnDelayMs: cfg.position * cfg.recordGraceMs,
      prevModelHash: cfg.head,
      modelHash: hash,
      candidate: aggregate,
      aggregateHash: toHex0x(hash256(averagePayload)),
      ...(cfg.serverStep !== undefined ? { averagePayload } : {}),
      contributors: unmasked.survivors.map((e) => e.participant),
      declarations,
    },
  });
  s.phase = CommitteePhase.Recording;
  return 'next';
}

/**
 * The record landed (event `recorded`): announce the aggregate if the record names our model
 * (the plaintext strategy's protocol/round-machine/plaintext-committee.ts `onPlainRecorded`, the
 * same steps), then sign and publish the result
 * statement (off the critical path).
 */
export function onRecorded(s: CommitteeRoleState, c: StageContext, recorded: boolean, recordedHash: Hex32): void {
  if (s.phase !== CommitteePhase.Recording || s.aggregate === undefined) return;
  const { cfg, out } = c;
  const a = s.aggregate;
  // The path shows Recording only for the member whose transaction landed.
  if (recorded) s.stages.to(CommitteeStage.Recording);
  if (recordedHash === a.modelHash) {
    s.stages.to(CommitteeStage.Announcing);
    out.push({ type: 'announce', payload: a.payload });
  } else {
    out.log('warn', { ours: a.modelHash, recorded: recordedHash }, 'recorded aggregate differs from ours (different update set)');
  }
  s.stages.to(CommitteeStage.Done);
  const statement = {
    prevModelHash: fromHex0x(cfg.head),
    modelHash: fromHex0x(a.modelHash),
    participantsHash: survivorsHash(a.unmasked.survivors),
    totalSamples: a.totalSamples,
  };
  out.publish({
    kind: SecAggKind.Result,
    federation: s.member.ctx.federation,
    round: cfg.round,
    sender: cfg.self,
    result: statement,
    signature: cfg.sign(resultStatement(scopeOf(s.member.ctx), statement)),
  });
  s.phase = CommitteePhase.Done;
  s.outcome = { kind: 'done', recorded, survivors: a.unmasked.survivors.length, dropped: a.unmasked.dropped.length };
}

/** SILENT (a simulated dropout): stay silent for the whole round. */
function silent(s: CommitteeRoleState, c: StageContext): number | undefined {
  if (!c.store.resultSeen && c.now < c.cfg.collectDeadline) return c.cfg.collectDeadline;
  s.member.fail();
  s.stages.to(CommitteeStage.Failed);
  c.out.log('debug', { dropout: c.cfg.dropout }, 'simulated dropout: committee member silent');
  s.phase = CommitteePhase.Done;
  s.outcome = { kind: 'done', recorded: false };
  return undefined;
}

/** Run the member's stages as far as what it holds allows; the time it wants a tick at, or undefined. */
export function advanceCommittee(s: CommitteeRoleState, c: StageContext): number | undefined {
  try {
    return advanceStages(s, c);
  } finally {
    // What the member signed this pass (complaints, refusals, releases) goes out even if it abstained.
    publishOutbox(s.member, c);
  }
}

function advanceStages(s: CommitteeRoleState, c: StageContext): number | undefined {
  try {
    for (;;) {
      let r: number | undefined | 'next';
      switch (s.phase) {
        case CommitteePhase.Silent:
          return silent(s, c);
        case CommitteePhase.KeySet:
          r = keySet(s, c);
          break;
        case CommitteePhase.Inputs:
          r = inputs(s, c);
          break;
        case CommitteePhase.Admission:
          r = admission(s, c);
          break;
        case CommitteePhase.Lock:
          r = lock(s, c);
          break;
        case CommitteePhase.Unmask:
          r = unmask(s, c);
          break;
        case CommitteePhase.Recording:
        case CommitteePhase.Done:
          return undefined;
      }
      if (r !== 'next') return r;
    }
  } catch (e) {
    failCommittee(s, c, e, false);
    return undefined;
  }
}

/**
 * End the role on an error. A protocol condition (this member cannot verify, follow or unmask,
 * or a floor is broken) is an abstention: it signs nothing; the round's fate is decided by the
 * other members or by the on-chain abort path. The round being stopped, a stage violation (a
 * bug) or any other error ends the role with `thrown`.
 */
export function failCommittee(s: CommitteeRoleState, c: StageContext, e: unknown, stopped: boolean): void {
  const { out } = c;
  s.member.fail();
  s.feeder.countPending(out);
  if (!s.stages.is(CommitteeStage.Done, CommitteeStage.Failed)) s.stages.to(CommitteeStage.Failed);
  s.phase = CommitteePhase.Done;
  if (!stopped && e instanceof SecAggError) {
    if ((e.fields as { completedByOthers?: unknown }).completedByOthers === true) {
      out.log('info', { code: e.code }, 'secure aggregation: round recorded by the other members first; committee member abstains');
      s.outcome = { kind: 'done', recorded: false, abstained: e.code };
      return;
    }
    out.count(e.code, { step: 'committee', error: e.message });
    // No certificate or too few reveals by the deadline is the expected face of members being
    // down (the round's abort on chain is the outcome): info. A broken floor aborts the round
    // cleanly (info, counted). Anything else is inconsistent material from someone: warn.
    const atDeadline = (e.fields as { deadline?: unknown }).deadline === true || e.code === 'SECAGG_FLOOR';
    out.log(atDeadline ? 'info' : 'warn', { code: e.code, ...e.fields }, `secure aggregation: committee member abstains (${e.message})`);
    s.outcome = { kind: 'done', recorded: false, abstained: e.code };
    return;
  }
  s.outcome = { kind: 'thrown', error: e };
}
