/**
 * One peer's side of a secure-aggregation round (protocol/secure-aggregation/, Bonawitz et
 * al., CCS 2017, §4, with the committee as the server). This module only moves messages
 * between the inboxes and the two protocol state machines, and decides *when* to act
 * (deadlines from the Clock port); every check and every byte of cryptography is protocol/'s.
 *
 * Timeline of round r, from the moment this peer opened it (t = 0):
 *   0          advertise keys (signed); start local training
 *   ≤ keysMs   all members advertised (or the deadline): encrypt shares of b_i, s_i^SK to the committee
 *   after training, ≤ 2·keysMs: all contributors shared (or the deadline): mask and publish y_i
 *   committee: inputs from every contributor (or collectMs): sign its view
 *              position 0 proposes U as soon as it holds t views (its own among them: a
 *              smaller intersection is never smaller than a larger one's);
 *              position k proposes after k grace periods if no proposal came
 *              act on the first valid proposal: reveal shares; wait for t reveals; unmask;
 *              sign the result; record (position k after k grace periods); announce
 *
 * A member that cannot take part — it cannot verify a proposal (SECAGG_CANNOT_FOLLOW: it
 * never received a survivor's commitment), no proposal or too few reveals by its deadline, a
 * reconstruction that fails its commitment — *abstains*: it logs a warning with the error's
 * code and fields, signs nothing, and returns `abstained`; it never throws for such a
 * protocol condition. The round goes on with the other members (t of m suffice) or is aborted
 * on chain at its finalize deadline (node/peer.ts). Only the round being stopped, a stage
 * violation (a bug) or a non-protocol error propagates.
 */
import { fromHex0x, hash256, toHex0x } from '../../protocol/bytes.js';
import { NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { isFedmeshError } from '../../protocol/errors.js';
import { encodeMaskedInput } from '../../protocol/messages/masked-input.js';
import { resultStatement, SecAggKind, type SecAggMessage, survivorsHash } from '../../protocol/messages/secagg.js';
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
  weightedDelta,
} from '../../protocol/secure-aggregation/index.js';
import { modelHash } from '../../protocol/weights-codec.js';
import type { ChainClient, Hex32 } from '../chain/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { waitFor } from './deadline.js';
import { recordAndAnnounce } from './record-and-announce.js';
import type { RoundInbox } from './round-inbox.js';
import type { RoundRecorder } from './round-recorder.js';
import type { SecAggInbox } from './secagg-inbox.js';

export interface SecureAggregationInit {
  readonly config: SecAggConfig;
  /** Time from round open to collect every member's key advertisement; share messages get as long again. */
  readonly keysMs: number;
}

export interface SecAggComponents {
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
  readonly chain: ChainClient;
  readonly recorder: RoundRecorder;
  readonly clock: Clock;
  readonly log: Logger;
  /** Protocol errors caused by other peers' messages, by code (a metric). */
  readonly errors: Map<string, number>;
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

  constructor(private readonly env: SecureRoundEnv) {}

  feed<K extends SecAggKind>(kind: K, fn: (m: Extract<SecAggMessage, { kind: K }>) => void): void {
    const { secagg, plan } = this.env;
    let done = this.fed.get(kind);
    if (done === undefined) {
      done = new Set();
      this.fed.set(kind, done);
    }
    for (const m of secagg.inbox.messages(plan.round, kind)) {
      if (done.has(m.sender)) continue;
      done.add(m.sender);
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

/**
 * The participant: shares its keys, then (after training) masks and publishes its input.
 * `train` runs local training and returns the trained weights' loss and the DP-SGD parameters
 * it ran (`dpParams`, protocol/chain/declaration.ts `declareDpParams`; absent: no DP), which the
 * masked input declares together with the sample-count bucket; it is not called when the peer
 * drops right after sharing its keys.
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
    await waitFor(
      clock,
      openedAt + secure.keysMs - clock.now(),
      signal,
      wait,
      () => advertsOf(env).length >= env.members.length || resultSeen(env),
    );
    if (lagging()) return {};
    feeder.feed(SecAggKind.AdvertiseKeys, (m) => participant.addAdvert(m));
    await secagg.inbox.publish(participant.shareKeys());
    if (training === undefined) {
      participant.fail();
      env.log.debug({ round }, 'simulated dropout after sharing keys');
      return {};
    }
    const trained = await training;
    const shared = (): boolean => contributors(env).every((p) => secagg.inbox.has(round, SecAggKind.ShareKeys, p));
    await waitFor(clock, openedAt + 2 * secure.keysMs - clock.now(), signal, wait, () => shared() || resultSeen(env));
    if (lagging()) return { trainLoss: trained.loss };
    feeder.feed(SecAggKind.AdvertiseKeys, (m) => participant.addAdvert(m));
    feeder.feed(SecAggKind.ShareKeys, (m) => participant.addShareKeys(m));
    // Defence (a): the update is clipped to the federation's L2 bound before quantizing and
    // masking (protocol/secure-aggregation/quantize.ts weightedDelta).
    const values = weightedDelta(trained.weights(), env.global, env.sampleCount, env.updateNormBound);
    const payload = participant.maskInput(values, env.sampleCount, fromHex0x(env.head), trained.dpParams ?? NO_DP_PARAMS);
    await env.inbox.publishMaskedInput(round, encodeMaskedInput(payload));
    return { trainLoss: trained.loss };
  } catch (e) {
    participant.fail();
    throw e;
  }
}

/** The committee member: agree on U, reveal, unmask, sign the result, record, announce. */
export async function runSecureCommittee(
  env: SecureRoundEnv,
  member: SecAggCommitteeMember,
  signal: AbortSignal,
): Promise<SecureCommitteeResult> {
  const { clock, plan, secagg, inbox, position, recordGraceMs, log } = env;
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
  try {
    member.beginShares();
    member.beginInputs();
    // Collecting: a masked input from every contributor, or the input deadline.
    const complete = (): boolean => {
      if (advertsOf(env).length < env.members.length) return false;
      const inputs = inbox.maskedInputsFor(round);
      return contributors(env).every((p) => inputs.has(p));
    };
    await waitFor(clock, plan.collectDeadline - clock.now(), signal, wait, () => complete() || resultSeen(env));
    if (resultSeen(env)) {
      throw new SecAggError('SECAGG_TOO_FEW_VIEWS', `round ${round} was recorded by other members before this member's view`, {
        have: 0,
        threshold: env.threshold,
        completedByOthers: true,
      });
    }
    if (env.dropout !== undefined) {
      member.fail();
      m.to(CommitteeStage.Failed);
      log.debug({ round, dropout: env.dropout }, 'simulated dropout: committee member silent');
      return result();
    }
    feeder.feed(SecAggKind.AdvertiseKeys, (x) => member.addAdvert(x));
    // Our share where one is addressed to us; otherwise the public commitment alone, so we can
    // still check b_i if a proposal built on other members' views lists its sender.
    const feedShares = (): void =>
      feeder.feed(SecAggKind.ShareKeys, (x) => {
        if (member.stage === SecAggStage.MaskedInput && x.shares.some((s) => s.recipient === env.self)) member.addShareKeys(x);
        else member.learnCommitment(x);
      });
    feedShares();
    const held = () =>
      [...inbox.maskedInputsFor(round).values()].map((x) => ({
        participant: x.sender,
        inputHash: x.payloadHash,
        neighbours: x.input.neighbours,
      }));
    await secagg.inbox.publish(member.signView(held()));
    m.to(CommitteeStage.Aggregating);

    // Agreeing on U: follow the first valid proposal; propose on our turn if none came.
    const viewAt = clock.now();
    const deadline = viewAt + (committee.length + 1) * recordGraceMs;
    const myTurn = viewAt + position * recordGraceMs;
    let proposed = false;
    const pending: SecAggMessage[] = [];
    /** Valid proposals we could not verify (SECAGG_CANNOT_FOLLOW), retried as late commitments arrive. */
    const refused: Extract<SecAggMessage, { kind: SecAggKind.Proposal }>[] = [];
    // Another member's signed result: the round was recorded without us.
    const othersDone = (): boolean => resultSeen(env);
    const progress = (): number =>
      secagg.inbox.count(round, SecAggKind.View) * 1_000_000 +
      secagg.inbox.count(round, SecAggKind.Proposal) * 1000 +
      secagg.inbox.count(round, SecAggKind.ShareKeys) +
      secagg.inbox.count(round, SecAggKind.Result) * 1_000_000_000;
    const tryProposal = (x: Extract<SecAggMessage, { kind: SecAggKind.Proposal }>, retry: boolean): void => {
      if (member.followedDigest !== undefined) return;
      try {
        const reveal = member.onProposal(x);
        if (reveal !== undefined) pending.push(reveal);
      } catch (e) {
        if (!(e instanceof SecAggError) || e.code !== 'SECAGG_CANNOT_FOLLOW') throw e;
        if (!retry) {
          refused.push(x);
          countError(env, e.code, { kind: SecAggKind.Proposal, sender: x.sender, error: e.message });
          log.warn(
            { round, code: e.code, ...e.fields },
            'secure aggregation: cannot verify the proposal; not revealing (will retry if the missing commitments arrive)',
          );
        }
      }
    };
    while (member.followedDigest === undefined) {
      feedShares();
      feeder.feed(SecAggKind.View, (x) => member.addView(x));
      for (const x of refused.splice(0)) {
        try {
          tryProposal(x, true);
        } catch (e) {
          if (!isFedmeshError(e)) throw e;
          countError(env, e.code, { kind: SecAggKind.Proposal, sender: x.sender, error: e.message });
          continue;
        }
        if (member.followedDigest === undefined && member.missingMaterial(x.survivors, x.dropped) !== undefined) refused.push(x);
      }
      feeder.feed(SecAggKind.Proposal, (x) => tryProposal(x, false));
      for (const r of pending.splice(0)) await secagg.inbox.publish(r);
      if (member.followedDigest !== undefined) break;
      const now = clock.now();
      if (!proposed && member.viewCount >= env.threshold && (position === 0 || now >= myTurn)) {
        proposed = true;
        try {
          await secagg.inbox.publish(member.propose());
        } catch (e) {
          if (!isFedmeshError(e)) throw e;
          countError(env, e.code, { step: 'propose', error: e.message });
        }
        continue;
      }
      if (now >= deadline || othersDone()) {
        throw new SecAggError('SECAGG_TOO_FEW_VIEWS', `no proposal this member could follow for round ${round} by the unmask deadline`, {
          have: member.viewCount,
          threshold: env.threshold,
          refused: refused.length,
          completedByOthers: othersDone(),
          deadline: true,
        });
      }
      const before = progress();
      const until = !proposed && now < myTurn ? myTurn : deadline;
      await waitFor(clock, until - now, signal, wait, () => progress() !== before);
    }

    // Unmasking: t reveals for every secret, and every survivor's input.
    const survivorsHeld = (): boolean => {
      const inputs = inbox.maskedInputsFor(round);
      for (const h of held()) member.learnInput(h);
      return member.canUnmask() && [...survivorIds(member)].every((p) => inputs.has(p));
    };
    const ready = (): boolean => {
      feeder.feed(SecAggKind.Reveal, (x) => member.addReveal(x));
      return survivorsHeld();
    };
    // Stop waiting once another member's result arrived: if we still cannot unmask, we abstain.
    await waitFor(clock, deadline - clock.now(), signal, wait, () => ready() || othersDone());
    if (!survivorsHeld()) {
      throw new SecAggError('SECAGG_TOO_FEW_SHARES', `round ${round}: fewer than ${env.threshold} reveals by the unmask deadline`, {
        have: secagg.inbox.count(round, SecAggKind.Reveal),
        threshold: env.threshold,
        deadline: true,
      });
    }
    const inputs = inbox.maskedInputsFor(round);
    const unmasked = member.unmask(new Map([...inputs].map(([id, x]) => [id, x.input.masked])));
    member.dispose();
    // decodeSum checks the sum against |U|·L and |U| ≤ Σ n_i ≤ |U|·maxSampleCount first (SECAGG_OUT_OF_RANGE).
    const { values, totalSamples } = decodeSum(unmasked.sum, unmasked.survivors.length, env.secure.config);
    const aggregate = applyAggregate(env.global, values, totalSamples);
    const hash = toHex0x(modelHash(aggregate));
    const readyAt = clock.now();

    // Each survivor's declaration, as it signed it with its masked input: the record charges
    // exactly the inputs in the sum. Dropped participants declared nothing that counts.
    const declarations = new Map(
      unmasked.survivors.map((e) => {
        const input = inputs.get(e.participant)!.input;
        return [e.participant, { bucket: input.bucket, dpParams: input.dpParams }] as const;
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
    // The result statement every member signs: the seam for on-chain quorum signatures
    // (published after recording, off the round's critical path).
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
      signature: env.secagg.sign(resultStatement(member.ctx.federation, round, statement)),
    });

    return result({ recorded, survivors: unmasked.survivors.length, dropped: unmasked.dropped.length });
  } catch (e) {
    member.fail();
    if (!m.is(CommitteeStage.Done, CommitteeStage.Failed)) m.to(CommitteeStage.Failed);
    // A protocol condition (this member cannot verify, follow or unmask): abstain, sign nothing.
    // The round's fate is decided by the other members or by the on-chain abort path.
    if (!signal.aborted && e instanceof SecAggError) {
      // Recorded by the others before we could help: lag, not a protocol error by anyone.
      // (A refused proposal was already counted and warned about when it was refused.)
      if ((e.fields as { completedByOthers?: unknown }).completedByOthers === true) {
        log.info({ round, code: e.code }, 'secure aggregation: round recorded by the other members first; committee member abstains');
        return result({ abstained: e.code });
      }
      countError(env, e.code, { step: 'committee', error: e.message });
      // Too few views or reveals by the deadline is the expected face of members being down
      // (the round's abort on chain is the outcome, logged there): info. Anything else — a
      // reconstruction that fails its commitment, a survivor's input or keys missing — is
      // inconsistent material from someone: warn.
      const atDeadline = (e.fields as { deadline?: unknown }).deadline === true;
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

function survivorIds(member: SecAggCommitteeMember): string[] {
  return member.followedSurvivors.map((e) => e.participant);
}
