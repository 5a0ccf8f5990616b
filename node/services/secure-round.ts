/**
 * One peer's side of a secure-aggregation round (protocol/secure-aggregation/, Bonawitz et
 * al., CCS 2017, §4 and the §6–7 consistency check, with the committee as a quorum server).
 * This module only moves messages between the inboxes and the two protocol machines and decides
 * *when* to act; every check, certificate and byte of cryptography is protocol/'s.
 *
 * Phases of round r (t = 0 when this peer opened it). Every wait ends as soon as what it waits
 * for has arrived; deadlines only matter when someone is down:
 *   participant  advertise keys │ every member advertised (≤ keysMs): encrypt shares of b_i, s_i^SK
 *                to the committee │ after training, a certified key set (t endorsements of the
 *                turn leader's (U_1, U_2)): mask with exactly U_2 \ {i}, publish y_i
 *   committee    collect adverts and shares │ the key-set leader of turn 0 (position 0) proposes
 *                once every contributor shared (or at keysMs); turn τ ≥ 1 (position τ mod m)
 *                at keysMs + τ·grace; endorse one key set per turn │ collect U_2's inputs (or
 *                collectMs): sign the view │ the lock leader proposes (U_3, D) with ≥ t views
 *                (turn 0 at once, turn τ after τ grace periods); endorse at most one lock │ reveal
 *                once t endorsements certify the lock we endorsed │ t reveals: unmask, check
 *                the bounds, sign the result, record, announce
 *
 * A member that cannot take part — a proposal it cannot verify (SECAGG_CANNOT_FOLLOW), a floor
 * broken (SECAGG_FLOOR: the round aborts before any reveal), no certificate or too few reveals
 * by its deadline, a reconstruction that fails its commitment — *abstains*: it logs the error's
 * code and fields, counts it, signs nothing, and returns `abstained`. The round goes on with the
 * other members (t of m suffice) or is aborted on chain at its finalize deadline (node/peer.ts).
 * Only the round being stopped, a stage violation (a bug) or a non-protocol error propagates.
 */
import { fromHex0x, hash256, toHex0x } from '../../protocol/bytes.js';
import { NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { type FedmeshError, isFedmeshError } from '../../protocol/errors.js';
import { encodeMaskedInput, type MaskedInputPayload } from '../../protocol/messages/masked-input.js';
import {
  type EndorseMsg,
  type KeySetProposalMsg,
  type ProposalMsg,
  resultStatement,
  SecAggKind,
  type SecAggMessage,
  survivorsHash,
} from '../../protocol/messages/secagg.js';
import { encodeSecureAggregate } from '../../protocol/messages/update.js';
import type { ModelWeights } from '../../protocol/model.js';
import { CommitteeStage, committeeMachine, type RoundPlan } from '../../protocol/round.js';
import {
  applyAggregate,
  decodeSum,
  type Entropy,
  type IdentitySign,
  type IdentityVerify,
  type SecAggCommitteeMember,
  type SecAggConfig,
  type SecAggCrypto,
  SecAggError,
  type SecAggParticipant,
  SecAggStage,
  scopeOf,
  verifyKeySet,
  weightedDelta,
} from '../../protocol/secure-aggregation/index.js';
import { modelHash } from '../../protocol/weights-codec.js';
import type { Hex32 } from '../chain/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { waitFor } from './deadline.js';
import { recordAndAnnounce } from './record-and-announce.js';
import type { RoundInbox } from './round-inbox.js';
import type { RoundRecorder } from './round-recorder.js';
import type { CommitteeKeys } from './secagg-committee-keys.js';
import { type SecAggInbox, slotOf } from './secagg-inbox.js';

export interface SecureAggregationInit {
  readonly config: SecAggConfig;
  /** Time from round open to collect every member's key advertisement; share messages get as long again. */
  readonly keysMs: number;
}

export interface SecAggComponents {
  /** The deployment every statement is bound to (protocol/chain/deployment-binding.ts `deploymentBindingBytes`). */
  readonly binding: Uint8Array;
  /**
   * Committee keys derived from identities (./secagg-committee-keys.ts): with them participants
   * encrypt shares to members at once; without, to members' in-round advertisements.
   */
  readonly committeeKeys?: CommitteeKeys;
  readonly inbox: SecAggInbox;
  readonly crypto: SecAggCrypto;
  readonly entropy: Entropy;
  readonly sign: IdentitySign;
  readonly verify: IdentityVerify;
}

/** Where a simulated dropout leaves the round (simulations only). */
export type DropoutPoint = 'after-keys' | 'after-input';

export interface SecureRoundEnv {
  readonly plan: RoundPlan;
  /** The federation's L2 bound on each participant's update (defence.updateNormBound); undefined: none. */
  readonly updateNormBound?: number;
  readonly position: number;
  readonly openedAt: number;
  readonly head: Hex32;
  readonly global: ModelWeights;
  readonly self: string;
  readonly members: readonly string[];
  readonly threshold: number;
  readonly recordGraceMs: number;
  readonly secure: SecureAggregationInit;
  readonly dropout: DropoutPoint | undefined;
  readonly sampleCount: number;
  readonly inbox: RoundInbox;
  readonly secagg: SecAggComponents;
  readonly recorder: RoundRecorder;
  readonly clock: Clock;
  readonly log: Logger;
  /** Protocol errors caused by other peers' messages, by code (a metric). */
  readonly errors: Map<string, number>;
  /**
   * The participant's EIP-712 ParticipantEntry signature for this round's declaration
   * (protocol/chain/participant-entry.ts `signParticipantEntry`), 65 bytes; absent: the masked
   * input carries 65 zero bytes (unsigned).
   */
  readonly signEntry?: (dpParams: bigint) => Promise<Uint8Array>;
  /**
   * Admission before any reveal (issue 14 item 3; H8 F1): whether the contract would accept this
   * participant's line (protocol/chain/declaration.ts `checkAdmission`: its own entry signature,
   * the DP policy, its budget). A refused input is left out of this member's view, so it is
   * treated as dropped (its self mask never revealed) and never reaches a record
   * `finalizeRound` would refuse. Absent: every input is admitted (the recorder checks later).
   */
  readonly admit?: (participant: string, input: MaskedInputPayload) => Promise<string | undefined>;
  /**
   * Charges the release to the node's own privacy ledger (issue 14 item 3; H8 F8), called right
   * before the masked input is published — only once a key set is certified — and durable when it
   * returns, so an input that never leaves is never charged and one that leaves always is.
   */
  readonly beforePublish?: (dpParams: bigint) => Promise<void> | void;
}

export interface SecureCommitteeResult {
  readonly path: readonly CommitteeStage[];
  readonly secaggPath: readonly SecAggStage[];
  readonly recorded: boolean;
  readonly survivors?: number;
  readonly dropped?: number;
  /** Set when this member abstained: the SecAggError code that made it (it signed nothing). */
  readonly abstained?: string;
}

/** Feeds stored messages to a machine once each, counting the protocol errors they raise. */
class Feeder {
  private readonly fed = new Map<SecAggKind, Set<string>>();
  /** SECAGG_CANNOT_FOLLOW refusals not (yet) resolved, by kind/sender. */
  private readonly pending = new Map<string, FedmeshError<string>>();

  /** Count and log the refusals still pending: this member could never verify those proposals. */
  countPending(): void {
    for (const [key, e] of this.pending) {
      countError(this.env, e.code, { key, error: e.message });
      this.env.log.warn(
        { round: this.env.plan.round, code: e.code, ...e.fields },
        'secure aggregation: could not verify a proposal (material never arrived); not endorsed',
      );
    }
    this.pending.clear();
  }

  constructor(private readonly env: SecureRoundEnv) {}

  /**
   * Like `feed`, but a message whose handler throws one of `retryOn` is offered again on the
   * next call (its missing material may arrive); other errors are counted once.
   */
  feedRetrying<K extends SecAggKind>(kind: K, retryOn: readonly string[], fn: (m: Extract<SecAggMessage, { kind: K }>) => void): void {
    const { secagg, plan } = this.env;
    let done = this.fed.get(kind);
    if (done === undefined) {
      done = new Set();
      this.fed.set(kind, done);
    }
    for (const m of secagg.inbox.messages(plan.round, kind)) {
      const slot = slotOf(m);
      if (done.has(slot)) continue;
      try {
        fn(m);
        done.add(slot);
        this.pending.delete(`${kind}/${slot}`);
      } catch (e) {
        if (!isFedmeshError(e)) throw e;
        if (retryOn.includes(e.code)) {
          // Offered again as material arrives; a refusal still pending when this member gives up
          // is counted then (`countPending`), so a transient gossip race is not an error.
          if (e.code === 'SECAGG_CANNOT_FOLLOW') this.pending.set(`${kind}/${slot}`, e);
          continue;
        }
        this.pending.delete(`${kind}/${slot}`);
        done.add(slot);
        countError(this.env, e.code, { kind, sender: m.sender, error: e.message, ...e.fields });
        this.env.log.warn({ round: plan.round, code: e.code, sender: m.sender, ...e.fields }, `secure aggregation: refused (${e.message})`);
      }
    }
  }

  feed<K extends SecAggKind>(kind: K, fn: (m: Extract<SecAggMessage, { kind: K }>) => void): void {
    const { secagg, plan } = this.env;
    let done = this.fed.get(kind);
    if (done === undefined) {
      done = new Set();
      this.fed.set(kind, done);
    }
    for (const m of secagg.inbox.messages(plan.round, kind)) {
      const slot = slotOf(m);
      if (done.has(slot)) continue;
      done.add(slot);
      try {
        fn(m);
      } catch (e) {
        if (!isFedmeshError(e)) throw e;
        countError(this.env, e.code, { kind, sender: m.sender, error: e.message });
      }
    }
  }
}

function countError(env: SecureRoundEnv, code: string, detail: Record<string, unknown>): void {
  env.errors.set(code, (env.errors.get(code) ?? 0) + 1);
  env.log.debug({ round: env.plan.round, code, ...detail }, 'secure-aggregation message refused');
}

/**
 * Another committee member's signed result for this round arrived: the round was recorded
 * without waiting for us (a peer that lags under load). Every wait below also ends on it, so
 * a lagging peer stops at once instead of sitting out its own deadlines.
 */
const resultSeen = (env: SecureRoundEnv): boolean => env.secagg.inbox.count(env.plan.round, SecAggKind.Result) > 0;

const advertsOf = (env: SecureRoundEnv) => env.secagg.inbox.messages(env.plan.round, SecAggKind.AdvertiseKeys);
const contributors = (env: SecureRoundEnv): string[] =>
  advertsOf(env)
    .filter((a) => a.contributes)
    .map((a) => a.sender);

/** Everything in the inbox for this round, as one number that grows with every stored message. */
function progressOf(env: SecureRoundEnv): number {
  const r = env.plan.round;
  let n = env.inbox.maskedInputsFor(r).size;
  for (let k = SecAggKind.AdvertiseKeys; k <= SecAggKind.LockEndorse; k++) n += env.secagg.inbox.count(r, k);
  return n;
}

/**
 * Run `step` (feed what arrived, act) until it returns true, re-running it on every new message
 * and at each time in `wakeAt()` (leader turn starts); false at `until`.
 */
async function drive(
  env: SecureRoundEnv,
  signal: AbortSignal,
  until: number,
  wakeAt: () => number | undefined,
  step: () => Promise<boolean>,
): Promise<boolean> {
  const { clock, secagg } = env;
  for (;;) {
    if (await step()) return true;
    const now = clock.now();
    if (now >= until) return false;
    const before = progressOf(env);
    const wake = wakeAt();
    const next = wake !== undefined && wake > now ? Math.min(wake, until) : until;
    await waitFor(
      clock,
      next - now,
      signal,
      (p, s) => secagg.inbox.notifier.waitUntil(p, s),
      () => progressOf(env) !== before,
    );
  }
}

/** The key-set evidence for the first proposal that t endorsements certify, if any. */
function certifiedKeySet(env: SecureRoundEnv, participant: SecAggParticipant): KeySetProposalMsg | undefined {
  const round = env.plan.round;
  const endorsements = env.secagg.inbox.messages(round, SecAggKind.KeySetEndorse);
  if (endorsements.length < env.threshold) return undefined;
  for (const p of env.secagg.inbox.messages(round, SecAggKind.KeySetProposal)) {
    try {
      verifyKeySet(
        scopeOf(participant.ctx),
        { proposal: p, endorsements },
        participant.ctx.committee,
        participant.ctx.threshold,
        env.secagg.verify,
      );
      return p;
    } catch (e) {
      if (!(e instanceof SecAggError)) throw e;
    }
  }
  return undefined;
}

/**
 * The participant: shares its keys to the committee, then (after training) masks with exactly
 * the certified U_2 and publishes its input. `train` runs local training and returns the trained
 * weights' loss and the DP-SGD parameters it ran (`dpParams`; absent: no DP), which the masked
 * input declares; it is not called when the peer drops right after sharing its keys.
 */
export async function runSecureParticipant(
  env: SecureRoundEnv,
  participant: SecAggParticipant,
  train: () => Promise<{ loss: number; weights: () => ModelWeights; dpParams?: bigint }>,
  signal: AbortSignal,
): Promise<{ trainLoss?: number }> {
  const { clock, plan, secagg, openedAt, secure } = env;
  const round = plan.round;
  const feeder = new Feeder(env);
  const wait = (p: () => boolean, s: AbortSignal) => secagg.inbox.notifier.waitUntil(p, s);
  const training = env.dropout === 'after-keys' ? undefined : train();
  training?.catch(() => {});
  try {
    const lagging = (): boolean => {
      if (!resultSeen(env)) return false;
      participant.fail();
      env.log.debug({ round }, 'round already recorded by the committee: no input from this peer');
      return true;
    };
    // The committee's encryption keys: derived from identities (no wait), or every member's
    // advertisement (fast path) or keysMs.
    const committeeAdvertised = (): boolean =>
      secagg.committeeKeys !== undefined || plan.committee.every((c) => secagg.inbox.has(round, SecAggKind.AdvertiseKeys, c));
    await waitFor(clock, openedAt + secure.keysMs - clock.now(), signal, wait, () => committeeAdvertised() || resultSeen(env));
    if (lagging()) return {};
    feeder.feed(SecAggKind.AdvertiseKeys, (m) => participant.addAdvert(m));
    await secagg.inbox.publish(participant.shareKeys());
    if (training === undefined) {
      participant.fail();
      env.log.debug({ round }, 'simulated dropout after sharing keys');
      return {};
    }
    const trained = await training;
    // Mask only with the certified U_2: wait for the key-set certificate (and the adverts of
    // every certified neighbour), never for a timer of our own.
    let keySet: KeySetProposalMsg | undefined;
    let refused: SecAggError | undefined;
    const ready = (): boolean => {
      if (resultSeen(env)) return true;
      feeder.feed(SecAggKind.AdvertiseKeys, (m) => participant.addAdvert(m));
      keySet ??= certifiedKeySet(env, participant);
      if (keySet === undefined) return false;
      try {
        participant.neighboursFrom({ proposal: keySet, endorsements: secagg.inbox.messages(round, SecAggKind.KeySetEndorse) });
        return true;
      } catch (e) {
        if (!(e instanceof SecAggError)) throw e;
        if (e.code === 'SECAGG_UNKNOWN_KEY') return false;
        refused = e;
        return true;
      }
    };
    await waitFor(clock, plan.collectDeadline - clock.now(), signal, wait, ready);
    if (lagging()) return { trainLoss: trained.loss };
    if (refused !== undefined || keySet === undefined) {
      participant.fail();
      const code = refused?.code ?? 'SECAGG_NOT_CERTIFIED';
      countError(env, code, { step: 'mask', ...(refused?.fields ?? {}) });
      env.log.info(
        { round, code, ...(refused?.fields ?? {}) },
        'secure aggregation: no input this round (key set not certified or too small)',
      );
      return { trainLoss: trained.loss };
    }
    // Defence (a): the update is clipped to the federation's L2 bound before quantizing and
    // masking (protocol/secure-aggregation/quantize.ts weightedDelta).
    const values = weightedDelta(trained.weights(), env.global, env.sampleCount, env.updateNormBound);
    const payload = participant.maskInput(
      values,
      env.sampleCount,
      fromHex0x(env.head),
      { proposal: keySet, endorsements: secagg.inbox.messages(round, SecAggKind.KeySetEndorse) },
      trained.dpParams ?? NO_DP_PARAMS,
      env.signEntry !== undefined ? await env.signEntry(trained.dpParams ?? NO_DP_PARAMS) : undefined,
    );
    await env.beforePublish?.(trained.dpParams ?? NO_DP_PARAMS);
    await env.inbox.publishMaskedInput(round, encodeMaskedInput(payload));
    return { trainLoss: trained.loss };
  } catch (e) {
    participant.fail();
    throw e;
  }
}

/** The committee member: certify the key set, sign its view, lock (U_3, D), reveal, unmask, sign the result, record, announce. */
export async function runSecureCommittee(
  env: SecureRoundEnv,
  member: SecAggCommitteeMember,
  signal: AbortSignal,
): Promise<SecureCommitteeResult> {
  const { clock, plan, secagg, inbox, position, recordGraceMs, log, openedAt, secure } = env;
  const round = plan.round;
  const committee = plan.committee;
  const m = committeeMachine(round);
  const feeder = new Feeder(env);
  const wait = (p: () => boolean, s: AbortSignal) => secagg.inbox.notifier.waitUntil(p, s);
  const result = (extra: Partial<SecureCommitteeResult> = {}): SecureCommitteeResult => ({
    path: m.path,
    secaggPath: member.machine.path,
    recorded: false,
    ...extra,
  });
  const lagged = (what: string): SecAggError =>
    new SecAggError('SECAGG_TOO_FEW_VIEWS', `round ${round} was recorded by other members before this member's ${what}`, {
      have: 0,
      threshold: env.threshold,
      completedByOthers: true,
    });
  const turnOf = (start: number): number => Math.max(0, Math.floor((clock.now() - start) / recordGraceMs));
  const clockFrom = (start: number) => ({
    now: clock.now(),
    turnStart: (turn: number) => (turn === 0 ? Number.NEGATIVE_INFINITY : start + turn * recordGraceMs),
  });
  const nextTurnAt = (start: number): number => start + (turnOf(start) + 1) * recordGraceMs;
  try {
    member.beginShares();
    if (env.dropout !== undefined) {
      // A simulated dropout: this member stays silent for the whole round.
      await waitFor(clock, plan.collectDeadline - clock.now(), signal, wait, () => resultSeen(env));
      member.fail();
      m.to(CommitteeStage.Failed);
      log.debug({ round, dropout: env.dropout }, 'simulated dropout: committee member silent');
      return result();
    }

    // Phase 1: certify the key set (U_1, U_2).
    const feedKeys = (): void => {
      feeder.feed(SecAggKind.AdvertiseKeys, (x) => member.addAdvert(x));
      // A ShareKeys may overtake its sender's advertisement (participants share as soon as they
      // advertised): SECAGG_UNKNOWN_KEY is retried once the advertisement arrives.
      feeder.feedRetrying(SecAggKind.ShareKeys, ['SECAGG_UNKNOWN_KEY'], (x) => {
        if (
          member.stage !== SecAggStage.Unmask &&
          x.shares.some((s) => s.recipient === env.self) &&
          !member.shareHolders.includes(x.sender)
        )
          member.addShareKeys(x);
        else member.learnCommitment(x);
      });
    };
    // Turn 0's leader proposes once every contributor shared, or at keysMs; turn τ ≥ 1 at keysMs + τ·grace.
    const keysDeadline = openedAt + secure.keysMs;
    const allShared = (): boolean => {
      const contributing = contributors(env);
      return advertsOf(env).length >= env.members.length && contributing.every((p) => member.shareHolders.includes(p));
    };
    const proposedKeySetTurns = new Set<number>();
    const keySetDone = await drive(
      env,
      signal,
      plan.collectDeadline,
      () => (clock.now() < keysDeadline ? keysDeadline : nextTurnAt(keysDeadline)),
      async () => {
        if (resultSeen(env)) return true;
        feedKeys();
        const now = clock.now();
        const turn = now < keysDeadline ? 0 : turnOf(keysDeadline);
        // One key-set proposal per turn we lead (τ, τ + m, …): inboxes keep them per (sender, turn).
        // A leader whose proposal was refused (adverts still arriving under load: a member refuses a
        // U_1 omitting an advert it holds, F9) proposes again at its next turn, with what it holds then.
        if (
          committee[turn % committee.length] === env.self &&
          !proposedKeySetTurns.has(turn) &&
          (allShared() || (now >= keysDeadline && member.keySetReady()))
        ) {
          proposedKeySetTurns.add(turn);
          await secagg.inbox.publish(member.proposeKeySet(turn));
        }
        const endorsements: EndorseMsg[] = [];
        feeder.feedRetrying(SecAggKind.KeySetProposal, ['SECAGG_CANNOT_FOLLOW', 'SECAGG_EARLY_PROPOSAL'], (x) => {
          const e = member.onKeySetProposal(x, clockFrom(keysDeadline));
          if (e !== undefined) endorsements.push(e);
        });
        for (const e of endorsements) await secagg.inbox.publish(e);
        feeder.feed(SecAggKind.KeySetEndorse, (x) => member.addKeySetEndorse(x));
        return member.keySet !== undefined;
      },
    );
    log.debug({ round, keySet: member.keySet?.shared.length, done: keySetDone }, 'secure aggregation: key set phase over');
    if (resultSeen(env)) throw lagged('key set');
    if (!keySetDone || member.keySet === undefined) {
      throw new SecAggError('SECAGG_NOT_CERTIFIED', `no key set certified for round ${round} by the input deadline`, {
        phase: 'key-set',
        deadline: true,
      });
    }
    member.beginInputs();

    // Phase 2: U_2's inputs (or the input deadline), then the view.
    const shared = member.keySet.shared;
    await waitFor(clock, plan.collectDeadline - clock.now(), signal, wait, () => {
      const inputs = inbox.maskedInputsFor(round);
      return shared.every((p) => inputs.has(p)) || resultSeen(env);
    });
    if (resultSeen(env)) throw lagged('view');
    feedKeys();
    // Admission (H8 F1): inputs whose line the contract would refuse stay out of our view.
    const refusedInputs = new Set<string>();
    if (env.admit !== undefined) {
      for (const x of inbox.maskedInputsFor(round).values()) {
        const why = await env.admit(x.sender, x.input);
        if (why === undefined) continue;
        refusedInputs.add(x.sender);
        countError(env, 'SECAGG_INADMISSIBLE', { participant: x.sender, reason: why });
        log.warn(
          { round, participant: x.sender, reason: why },
          'secure aggregation: input refused before any reveal (its line would not be recorded)',
        );
      }
    }
    const held = () =>
      [...inbox.maskedInputsFor(round).values()]
        .filter((x) => !refusedInputs.has(x.sender))
        .map((x) => ({
          participant: x.sender,
          inputHash: x.payloadHash,
          neighbours: x.input.neighbours,
        }));
    await secagg.inbox.publish(member.signView(held()));
    m.to(CommitteeStage.Aggregating);

    // Phase 3: lock (U_3, D); reveal once the lock we endorsed is certified.
    const viewAt = clock.now();
    const deadline = viewAt + (committee.length + 1) * recordGraceMs;
    const proposedLockTurns = new Set<number>();
    // At most one published lock proposal per member per round (a second is equivocation to every inbox).
    let lockPublished = false;
    const locked = await drive(
      env,
      signal,
      deadline,
      () => nextTurnAt(viewAt),
      async () => {
        if (resultSeen(env)) return true;
        feedKeys();
        feeder.feedRetrying(SecAggKind.View, [], (x) => member.addView(x));
        // Key sets certified late (one endorsement per turn, H8 F6): a lock may name any of them.
        for (const x of secagg.inbox.messages(round, SecAggKind.KeySetProposal)) member.learnKeySetProposal(x);
        feeder.feed(SecAggKind.KeySetEndorse, (x) => member.addKeySetEndorse(x));
        const turn = turnOf(viewAt);
        if (
          committee[turn % committee.length] === env.self &&
          !lockPublished &&
          !proposedLockTurns.has(turn) &&
          member.viewCount >= env.threshold &&
          member.endorsedLockDigest === undefined
        ) {
          proposedLockTurns.add(turn);
          let proposal: ProposalMsg | undefined;
          try {
            proposal = member.proposeLock(turn);
          } catch (e) {
            if (!(e instanceof SecAggError)) throw e;
            // A floor broken (or too few views): the round aborts before any reveal.
            if (e.code === 'SECAGG_FLOOR') throw e;
            countError(env, e.code, { step: 'propose', error: e.message });
          }
          if (proposal !== undefined) {
            lockPublished = true;
            await secagg.inbox.publish(proposal);
          }
        }
        const endorsements: EndorseMsg[] = [];
        feeder.feedRetrying(SecAggKind.Proposal, ['SECAGG_CANNOT_FOLLOW', 'SECAGG_EARLY_PROPOSAL'], (x) => {
          const e = member.onLockProposal(x, clockFrom(viewAt));
          if (e !== undefined) endorsements.push(e);
        });
        for (const e of endorsements) await secagg.inbox.publish(e);
        feeder.feed(SecAggKind.LockEndorse, (x) => member.addLockEndorse(x));
        const reveal = member.reveal();
        if (reveal !== undefined) await secagg.inbox.publish(reveal);
        return member.followedDigest !== undefined;
      },
    );
    log.debug({ round, locked, views: member.viewCount }, 'secure aggregation: lock phase over');
    if (resultSeen(env) && member.followedDigest === undefined) throw lagged('lock');
    if (!locked) {
      throw new SecAggError('SECAGG_NOT_CERTIFIED', `no certified lock this member endorsed for round ${round} by the unmask deadline`, {
        phase: 'lock',
        have: member.viewCount,
        threshold: env.threshold,
        endorsed: member.endorsedLockDigest !== undefined,
        deadline: true,
      });
    }

    // Phase 4: t reveals for every secret, and every survivor's input.
    const survivorsHeld = (): boolean => {
      const inputs = inbox.maskedInputsFor(round);
      feedKeys();
      return member.canUnmask() && member.followedSurvivors.every((e) => inputs.has(e.participant));
    };
    const ready = (): boolean => {
      feeder.feed(SecAggKind.Reveal, (x) => member.addReveal(x));
      return survivorsHeld();
    };
    // A reconstruction that fails (a lying reveal among exactly t) is retried as more reveals
    // arrive, until the unmask deadline: one liar must not make honest members give up.
    let unmasked: ReturnType<SecAggCommitteeMember['unmask']> | undefined;
    let lastFailure: SecAggError | undefined;
    let triedWith = -1;
    await drive(
      env,
      signal,
      deadline,
      () => undefined,
      async () => {
        if (!ready()) return resultSeen(env);
        const have = secagg.inbox.count(round, SecAggKind.Reveal);
        if (have === triedWith) return resultSeen(env);
        triedWith = have;
        try {
          unmasked = member.unmask(new Map([...inbox.maskedInputsFor(round)].map(([id, x]) => [id, x.input.masked])));
          return true;
        } catch (e) {
          if (!(e instanceof SecAggError) || e.code !== 'SECAGG_TOO_FEW_SHARES') throw e;
          lastFailure = e;
          return resultSeen(env);
        }
      },
    );
    if (unmasked === undefined) {
      if (lastFailure !== undefined) throw lastFailure;
      throw new SecAggError('SECAGG_TOO_FEW_SHARES', `round ${round}: fewer than ${env.threshold} reveals by the unmask deadline`, {
        have: secagg.inbox.count(round, SecAggKind.Reveal),
        threshold: env.threshold,
        deadline: true,
        completedByOthers: resultSeen(env),
      });
    }
    const inputs = inbox.maskedInputsFor(round);
    member.dispose();
    // Bounds before anything is recorded (quantize.ts checkAggregateBounds): every coordinate within
    // |U|·L and |U| ≤ Σ n_i ≤ |U|·maxSampleCount, else SECAGG_* and this member abstains.
    const { values, totalSamples } = decodeSum(unmasked.sum, unmasked.survivors.length, env.secure.config);
    const aggregate = applyAggregate(env.global, values, totalSamples);
    const hash = toHex0x(modelHash(aggregate));
    const readyAt = clock.now();
    log.debug({ round, survivors: unmasked.survivors.length, totalSamples }, 'secure aggregation: unmasked');

    // Each survivor's declaration, as it signed it with its masked input: the record charges
    // exactly the inputs in the sum. Dropped participants declared nothing that counts.
    const declarations = new Map(
      unmasked.survivors.map((e) => {
        const input = inputs.get(e.participant)!.input;
        const signed = input.entrySignature.some((b) => b !== 0);
        return [e.participant, { dpParams: input.dpParams, ...(signed ? { entrySignature: toHex0x(input.entrySignature) } : {}) }] as const;
      }),
    );
    const payload = encodeSecureAggregate({
      prevModelHash: fromHex0x(env.head),
      totalSamples,
      participants: unmasked.survivors,
      weights: aggregate,
    });
    const { recorded } = await recordAndAnnounce(
      {
        round,
        position,
        turnAt: readyAt + position * recordGraceMs,
        prevModelHash: env.head,
        modelHash: hash,
        candidate: aggregate,
        aggregateHash: toHex0x(hash256(payload)),
        contributors: unmasked.survivors.map((e) => e.participant),
        declarations,
        announce: () => inbox.publishAggregate(round, payload),
      },
      m,
      env,
      signal,
    );
    // The result statement every member signs (published after recording, off the critical path).
    const statement = {
      prevModelHash: fromHex0x(env.head),
      modelHash: fromHex0x(hash),
      participantsHash: survivorsHash(unmasked.survivors),
      totalSamples,
    };
    await secagg.inbox.publish({
      kind: SecAggKind.Result,
      federation: member.ctx.federation,
      round,
      sender: env.self,
      result: statement,
      signature: env.secagg.sign(resultStatement(scopeOf(member.ctx), statement)),
    });

    return result({ recorded, survivors: unmasked.survivors.length, dropped: unmasked.dropped.length });
  } catch (e) {
    member.fail();
    feeder.countPending();
    if (!m.is(CommitteeStage.Done, CommitteeStage.Failed)) m.to(CommitteeStage.Failed);
    // A protocol condition (this member cannot verify, follow or unmask, or a floor is broken):
    // abstain, sign nothing. The round's fate is decided by the other members or by the
    // on-chain abort path.
    if (!signal.aborted && e instanceof SecAggError) {
      if ((e.fields as { completedByOthers?: unknown }).completedByOthers === true) {
        log.info({ round, code: e.code }, 'secure aggregation: round recorded by the other members first; committee member abstains');
        return result({ abstained: e.code });
      }
      countError(env, e.code, { step: 'committee', error: e.message });
      // No certificate or too few reveals by the deadline is the expected face of members being
      // down (the round's abort on chain is the outcome): info. A broken floor aborts the round
      // cleanly (info, counted). Anything else is inconsistent material from someone: warn.
      const atDeadline = (e.fields as { deadline?: unknown }).deadline === true || e.code === 'SECAGG_FLOOR';
      (atDeadline ? log.info : log.warn).call(
        log,
        { round, code: e.code, ...e.fields },
        `secure aggregation: committee member abstains (${e.message})`,
      );
      return result({ abstained: e.code });
    }
    throw e;
  }
}
