/**
 * One peer's side of a secure-aggregation round (protocol/secure-aggregation/, Bonawitz et
 * al., CCS 2017, §4 and the §6–7 consistency check, with the committee as a quorum server): the
 * round machine's secure strategy (protocol/secure-aggregation/machine/) run by the one driver
 * loop (./round-drive.ts `driveRound`, which also runs ./plain-round.ts). The machine decides
 * *what* to do and *when*; every check, certificate and byte of cryptography is protocol/'s; the
 * loop feeds events (start, received, ticks through the Clock port, effect completions) and
 * executes effects in order. This file adds only what the secure strategy has of its own:
 *   - the machine's configuration from the node's settings, and the roles in its state;
 *   - what its inboxes deliver: every new secagg message (by kind and slot) and masked input,
 *     as one `received` batch;
 *   - its effect ports: publish on the secagg topic, the admission check of a masked input
 *     (`admit`), a refused message's count in the round's error metric; and, when a role that had
 *     ended fails in its last effect, wiping the role objects' secrets before the failure is
 *     rethrown.
 *
 * Phases of round r (t = 0 when this peer opened it) — see the machine's stage files for each
 * rule. Every wait ends as soon as what it waits for has arrived; deadlines only matter when
 * someone is down:
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
import type { MaskedInputPayload } from '../../protocol/messages/masked-input.js';
import { SecAggKind } from '../../protocol/messages/secagg.js';
import type { ModelWeights } from '../../protocol/model.js';
import type { CommitteeStage, RoundPlan } from '../../protocol/round.js';
import type {
  Entropy,
  IdentitySign,
  IdentityVerify,
  SecAggCommitteeMember,
  SecAggConfig,
  SecAggCrypto,
  SecAggParticipant,
  SecAggStage,
} from '../../protocol/secure-aggregation/index.js';
import {
  createRoundState,
  type DropoutPoint,
  type RoundMachineConfig,
  type RoundState,
  slotOf,
  type Trained,
} from '../../protocol/secure-aggregation/machine/index.js';
import { type CommitteeTiming, defaultKeySetGraceMs, validateKeySetGrace } from '../../protocol/secure-aggregation/committee-member.js';
import type { Hex32 } from '../chain/types.js';
import { committeeResult, driveRound, participantResult, type RoundEffectPorts, type RoundInboxFeed } from './round-drive.js';
import type { CommitteeKeys } from './secagg-committee-keys.js';
import type { SecAggInbox } from './secagg-inbox.js';
import type { SecAggPrekeys } from './secagg-prekeys.js';

export type { DropoutPoint };

export interface SecureAggregationInit {
  readonly config: SecAggConfig;
  /** Time from round open to collect every member's key advertisement; share messages get as long again. */
  readonly keysMs: number;
  /**
   * Δ of the key-set omission grace (protocol/secure-aggregation/committee-member.ts
   * `CommitteeTiming`): a member forgives a key set leaving out an advert or share it first held
   * less than Δ before the turn was due. Integer in [0, keysMs − 1]; default ⌊keysMs/2⌋.
   */
  readonly keySetGraceMs?: number;
}

/** The committee member's timing from the node's settings: Δ validated against keysMs, default ⌊keysMs/2⌋. */
export function committeeTiming(init: Pick<SecureAggregationInit, 'keysMs' | 'keySetGraceMs'>): CommitteeTiming {
  return validateKeySetGrace(init.keySetGraceMs ?? defaultKeySetGraceMs(init.keysMs), init.keysMs);
}

export interface SecAggComponents {
  /** The deployment every statement is bound to (protocol/chain/deployment-binding.ts `deploymentBindingBytes`). */
  readonly binding: Uint8Array;
  /**
   * Committee keys derived from identities (./secagg-committee-keys.ts): with them participants
   * encrypt shares to members at once; without, to members' in-round advertisements.
   */
  readonly committeeKeys?: CommitteeKeys;
  /** Signed per-round committee prekeys (./secagg-prekeys.ts): known before the round, erased after it. */
  readonly prekeys?: SecAggPrekeys;
  readonly inbox: SecAggInbox;
  readonly crypto: SecAggCrypto;
  readonly entropy: Entropy;
  readonly sign: IdentitySign;
  readonly verify: IdentityVerify;
}

/**
 * The secure strategy's view of the round and peer, its components, and the node's effect ports
 * (./round-drive.ts RoundEffectPorts: clock, log, round inbox, recorder, entry signature, ledger
 * charge, artifact keeper).
 */
export interface SecureRoundEnv extends RoundEffectPorts {
  readonly plan: RoundPlan;
  /** The federation's L2 bound on each participant's update (defence.updateNormBound); undefined: none. */
  readonly updateNormBound?: number;
  readonly position: number;
  readonly openedAt: number;
  /**
   * Until when (node clock, ms) the machine keeps following a round whose key set is late
   * (RoundMachineConfig.followUntil): the round's on-chain finalize deadline. Absent: the input
   * deadline, as before.
   */
  readonly followUntil?: number;
  readonly head: Hex32;
  readonly global: ModelWeights;
  /** The server optimizer's step for this round (RoundMachineConfig.serverStep); absent: FedAvg. */
  readonly serverStep?: (aggregate: ModelWeights) => ModelWeights;
  readonly self: string;
  readonly members: readonly string[];
  readonly threshold: number;
  readonly recordGraceMs: number;
  readonly secure: SecureAggregationInit;
  readonly dropout: DropoutPoint | undefined;
  /** Committee members whose prekey for this round the participant held at open (RoundMachineConfig.preKeyed). */
  readonly preKeyed?: readonly string[];
  readonly sampleCount: number;
  readonly secagg: SecAggComponents;
  /** Protocol errors caused by other peers' messages, by code (a metric). */
  readonly errors: Map<string, number>;
  /**
   * Admission before any reveal (issue 14 item 3; H8 F1): whether the contract would accept this
   * participant's line (protocol/chain/declaration.ts `checkAdmission`: its own entry signature,
   * the DP policy, its budget). A refused input is left out of this member's view, so it is
   * treated as dropped (its self mask never revealed) and never reaches a record
   * `finalizeRound` would refuse. Absent: every input is admitted (the recorder checks later).
   */
  readonly admit?: (participant: string, input: MaskedInputPayload) => Promise<string | undefined>;
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

function countError(env: SecureRoundEnv, code: string, detail: Record<string, unknown>): void {
  env.errors.set(code, (env.errors.get(code) ?? 0) + 1);
  env.log.debug({ round: env.plan.round, code, ...detail }, 'secure-aggregation message refused');
}

/** Every secagg message kind (a kind added to the wire is delivered to the machine without a change here). */
const KINDS = Object.values(SecAggKind).filter((k): k is SecAggKind => typeof k === 'number');

/** Everything in the inboxes for this round, as one number that grows with every stored message. */
function progressOf(env: SecureRoundEnv): number {
  const r = env.plan.round;
  let n = env.inbox.maskedInputsFor(r).size;
  for (const k of KINDS) n += env.secagg.inbox.count(r, k);
  return n;
}

/** The machine's view of this round and peer (fixed when the round opens). */
function machineConfig(env: SecureRoundEnv): RoundMachineConfig {
  return {
    round: env.plan.round,
    self: env.self,
    committee: env.plan.committee,
    members: env.members,
    threshold: env.threshold,
    position: env.position,
    openedAt: env.openedAt,
    keysMs: env.secure.keysMs,
    collectDeadline: env.plan.collectDeadline,
    ...(env.followUntil !== undefined ? { followUntil: env.followUntil } : {}),
    recordGraceMs: env.recordGraceMs,
    config: env.secure.config,
    head: env.head,
    global: env.global,
    ...(env.serverStep !== undefined ? { serverStep: env.serverStep } : {}),
    sampleCount: env.sampleCount,
    ...(env.updateNormBound !== undefined ? { updateNormBound: env.updateNormBound } : {}),
    dropout: env.dropout,
    committeeKeysKnown: env.secagg.committeeKeys !== undefined,
    ...(env.preKeyed !== undefined ? { preKeyed: env.preKeyed } : {}),
    signsEntry: env.signEntry !== undefined,
    charges: env.beforePublish !== undefined,
    admits: env.admit !== undefined,
    // A recorder with a ledger charges the lock's U_3 on chain before this member reveals (F18).
    chargesLock: env.recorder.charge !== undefined,
    sign: env.secagg.sign,
    verify: env.secagg.verify,
  };
}

/**
 * The secure strategy's inboxes as the driver loop reads them: every secagg message (by kind and
 * slot) and masked input stored for this round that the machine has not been given yet.
 */
function secureFeed(env: SecureRoundEnv): RoundInboxFeed {
  const { secagg, inbox } = env;
  const round = env.plan.round;
  const delivered = new Set<string>();
  const deliveredInputs = new Set<string>();
  const counted = new Map<SecAggKind, number>();
  let seen = -1;
  return {
    notifier: secagg.inbox.notifier,
    next: () => {
      seen = progressOf(env);
      const messages = [];
      for (const k of KINDS) {
        // Only kinds whose count moved are scanned (inboxes only grow within a round).
        const n = secagg.inbox.count(round, k);
        if (counted.get(k) === n) continue;
        counted.set(k, n);
        for (const m of secagg.inbox.messages(round, k)) {
          const key = `${k}/${slotOf(m)}`;
          if (delivered.has(key)) continue;
          delivered.add(key);
          messages.push(m);
        }
      }
      const inputs = [];
      for (const x of inbox.maskedInputsFor(round).values()) {
        if (deliveredInputs.has(x.sender)) continue;
        deliveredInputs.add(x.sender);
        inputs.push({ sender: x.sender, payloadHash: x.payloadHash, input: x.input });
      }
      return messages.length > 0 || inputs.length > 0 ? { type: 'received', messages, inputs } : undefined;
    },
    arrived: () => progressOf(env) !== seen,
  };
}

/** Run `state` (one role of this peer) to its end on the round machine's one driver loop (./round-drive.ts). */
function drive(env: SecureRoundEnv, state: RoundState, signal: AbortSignal, train?: () => Promise<Trained>): Promise<void> {
  return driveRound({
    round: env.plan.round,
    state,
    ports: env,
    strategy: {
      count: (code, detail) => countError(env, code, detail),
      publish: (message) => env.secagg.inbox.publish(message),
      admitInput: (participant, input) => env.admit!(participant, input),
      feed: secureFeed(env),
      // The role had ended: its role objects wipe their secrets and go to FAILED before the rethrow.
      onFailedAfterEnd: () => {
        state.participant?.role.fail();
        state.committee?.member.fail();
      },
    },
    signal,
    ...(train !== undefined ? { train } : {}),
  });
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
  const state = createRoundState(machineConfig(env), { participant });
  await drive(env, state, signal, train);
  return participantResult(state);
}

/** The committee member: certify the key set, sign its view, lock (U_3, D), reveal, unmask, sign the result, record, announce. */
export async function runSecureCommittee(
  env: SecureRoundEnv,
  member: SecAggCommitteeMember,
  signal: AbortSignal,
): Promise<SecureCommitteeResult> {
  const state = createRoundState(machineConfig(env), { member });
  await drive(env, state, signal);
  const outcome = committeeResult(state);
  return {
    path: state.committee!.stages.path,
    secaggPath: member.machine.path,
    recorded: outcome.recorded,
    ...(outcome.survivors !== undefined ? { survivors: outcome.survivors } : {}),
    ...(outcome.dropped !== undefined ? { dropped: outcome.dropped } : {}),
    ...(outcome.abstained !== undefined ? { abstained: outcome.abstained } : {}),
  };
}
