/**
 * RoundDriver: runs one peer's side of each round. What the round does is the round machine's
 * (protocol/round-machine/: `step(state, event) → {state, effects}`, pure, with the aggregation
 * mode as its strategy); this driver opens the round against the chain, builds the strategy's
 * configuration, hands it to the mode's effect runner, then waits for the record and adopts:
 *   - plaintext FedAvg (./plain-round.ts, protocol/round-machine/plaintext-*.ts): train locally
 *     from the head model → sign the entry, charge the ledger, publish the update (chunked
 *     gossip) → the committee collects until all members reported or the deadline, admits,
 *     computes FedAvg (then the server optimizer) and records;
 *   - secure aggregation (./secure-round.ts, protocol/secure-aggregation/machine/): participants
 *     publish masked inputs and the committee unmasks only their sum.
 * Either way a member's record needs t committee signatures on FedmeshFederation (member 0
 * finalizes, member k steps in after k grace periods; ./federation-recorder.ts) → members whose
 * aggregate matches the record announce it → every peer adopts the aggregate whose hash equals
 * the chain's record (here, with the participant and committee paths of protocol/round.ts).
 *
 * The chain is the synchroniser: round r is opened on chain (node/services/round-opener.ts,
 * which fixes its committee) and may run only when the last finalized round is below r and our
 * model's hash equals the ledger's head hash. Rounds before r may have been aborted.
 */
import type { DpTrainOptions } from '../ml/trainer.js';
import { bytesEqual, fromHex0x, toHex0x, wipe } from '../../protocol/bytes.js';
import { isFedmeshError } from '../../protocol/errors.js';
import type { LabelledData } from '../../protocol/data.js';
import { participantEntry } from '../../protocol/chain/participant-entry.js';
import { fedAvgWeight } from '../../protocol/privacy/public-statistics.js';
import { checkAdmission, declareDpParams } from '../../protocol/chain/declaration.js';
import type { ModelWeights } from '../../protocol/model.js';
import {
  type ServerOptimizer,
  ServerOptimizerError,
  serverParams,
  serverStep,
  validateServerOptimizer,
} from '../../protocol/server-optimizer.js';
import { createRng } from '../../protocol/rng.js';
import {
  createAdvert,
  effectiveCommittee,
  generateRoundKeys,
  SecAggCommitteeMember,
  SecAggParticipant,
  wipeRoundKeys,
} from '../../protocol/secure-aggregation/index.js';
import type { SecAggStage } from '../../protocol/secure-aggregation/stages.js';
import {
  type CommitteeStage,
  ParticipantStage,
  participantMachine,
  planRound,
  type RoundPlan,
  RoundError,
  type RoundTiming,
  recordTurn,
} from '../../protocol/round.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { SecAggKind } from '../../protocol/messages/secagg.js';
import type { MaskingGraphSource } from '../../protocol/secure-aggregation/graph.js';
import type { FederationChainClient } from '../chain/federation-types.js';
import { recordedFromFinalized } from '../chain/federation-ledger-view.js';
import type { Hex32, RecordedRound } from '../chain/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { withDeadline } from './deadline.js';
import type { RoundRecorder } from './round-recorder.js';
import type { RoundInbox } from './round-inbox.js';
import { type PlainRoundEnv, runPlainCommittee, runPlainParticipant } from './plain-round.js';
import {
  committeeTiming,
  type DropoutPoint,
  runSecureCommittee,
  runSecureParticipant,
  type SecAggComponents,
  type SecureAggregationInit,
  type SecureCommitteeResult,
  type SecureRoundEnv,
} from './secure-round.js';

export type { DropoutPoint, SecAggComponents, SecureAggregationInit } from './secure-round.js';

export interface TrainOptions {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  /** DP-SGD parameters (docs/privacy.md); absent: plain training. */
  readonly dp?: DpTrainOptions;
}

/** What the driver needs from the local trainer (node/ml/trainer.ts implements it). */
export interface LocalTrainer {
  getWeights(): ModelWeights;
  setWeights(w: ModelWeights): void;
  train(data: LabelledData, opts: TrainOptions): Promise<{ loss: number; steps: number; seconds: number }>;
}

export interface RoundDriverInit {
  readonly federation: string;
  /** Member peer ids (libp2p peer id strings). */
  readonly members: readonly string[];
  readonly committeeSize: number;
  readonly timing: RoundTiming;
  readonly training: Omit<TrainOptions, 'seed'> & { readonly seed: number };
  /** Whether this peer trains and contributes (false: observer that only adopts). */
  readonly participate?: boolean;
  /** Extra time beyond the committee's last recording turn to wait for the record (ms). */
  readonly resultSlackMs?: number;
  /**
   * Secure aggregation (Bonawitz et al. 2017 §4, docs/secure-aggregation.md); absent: the
   * plaintext FedAvg path. The committee then has min(m, members) members (effectiveCommittee).
   */
  readonly secureAggregation?: SecureAggregationInit;
  /**
   * Simulations only: whether this peer drops out of `round`, and where. 'after-keys': it
   * advertises and shares keys (plaintext: nothing) but sends no input; 'after-input': it
   * sends its input and then goes silent. Either way it stops any committee work for the
   * round, and still adopts the recorded result so it can take part in the next round.
   */
  readonly dropout?: (round: number) => DropoutPoint | undefined;
  /**
   * Poisoning containment (docs/threat-model.md, "Poisoning containment"), both off by default:
   * - `updateNormBound` B: every participant's update (trained − head model) is clipped to L2
   *   norm B before it is quantized and masked (secure) or published (plaintext; the committee
   *   also clips every update it receives);
   * - `validationMargin`: a committee member evaluates the candidate aggregate on its own
   *   validation split (components.validate) and refuses to sign the round record when the loss
   *   exceeds the head model's by more than this margin (in loss units). Without t signatures the
   *   round is aborted at its deadline and the next one opens.
   */
  readonly defence?: DefenceOptions;
  /**
   * How the committee turns the round's plain average into the next model (the manifest's
   * `serverOptimizer`, protocol/server-optimizer.ts); absent: FedAvg. With momentum the committee
   * needs the model before the head, w_{t−1}: from this driver's memory or `components.modelOf`.
   */
  readonly serverOptimizer?: ServerOptimizer;
}

/** See RoundDriverInit.defence. */
export interface DefenceOptions {
  readonly updateNormBound?: number;
  readonly validationMargin?: number;
}

/** Validated defence options: a typed ROUND_BAD_CONFIG naming the field, value and rule otherwise. */
export function validateDefence(d: DefenceOptions | undefined): DefenceOptions | undefined {
  if (d === undefined) return undefined;
  const bad = (field: string, value: unknown, rule: string): RoundError =>
    new RoundError('ROUND_BAD_CONFIG', `defence.${field}=${String(value)}: ${rule}`, { field: `defence.${field}`, value, rule });
  if (d.updateNormBound !== undefined && !(Number.isFinite(d.updateNormBound) && d.updateNormBound > 0)) {
    throw bad('updateNormBound', d.updateNormBound, 'a finite number > 0');
  }
  if (d.validationMargin !== undefined && !(Number.isFinite(d.validationMargin) && d.validationMargin >= 0)) {
    throw bad('validationMargin', d.validationMargin, 'a finite number >= 0');
  }
  return d;
}

export interface RoundDriverComponents {
  readonly self: string;
  readonly inbox: RoundInbox;
  /**
   * The chain port: the driver reads the last finalized round, the head model hash and waits
   * for the round's `RoundFinalized` through it.
   */
  readonly chain: FederationChainClient;
  readonly trainer: LocalTrainer;
  readonly data: LabelledData;
  readonly clock: Clock;
  readonly log: Logger;
  /** Required with `secureAggregation`. */
  readonly secagg?: SecAggComponents;
  /** How the committee gets the round's record finalized (./federation-recorder.ts). */
  readonly recorder: RoundRecorder;
  /**
   * The committee of `round` as the chain chose it (FedmeshFederation's RoundOpened, read by
   * ./round-opener.ts), in position order; undefined until the round is opened here, and then
   * nobody is on it.
   */
  readonly committeeOf: (round: number) => readonly string[] | undefined;
  /**
   * Whether this peer may train in `round` (false: it abstains, as an observer, e.g. because
   * its next round would pass its privacy cap; node/services/privacy-guard.ts). Default: yes.
   */
  readonly mayTrain?: (round: number) => boolean;
  /**
   * issue 14 item 3 (H5): charges this round's release (its declared DP-SGD word) to the node's
   * own privacy ledger; called immediately BEFORE the masked input or update is published —
   * not after training: a secure-round input waits for a certified key set and may never leave
   * (H8 F8) — and durable when it returns (node/services/privacy-guard.ts `charge`).
   */
  readonly beforePublish?: (round: number, dpParams: bigint) => void;
  /**
   * The registered account of a member's peer id (node/services/round-opener.ts `addressOf`), for
   * the committee's admission check (issue 14 item 3, H8 F1): every input's record line is checked
   * with protocol/chain/declaration.ts `checkAdmission` before it enters the aggregate (plaintext)
   * or this member's view (secure), so a line `finalizeRound` would refuse is treated as dropped
   * instead of stopping the round after the honest inputs were released. Absent: no check.
   */
  readonly addressOf?: (peerId: string) => string | undefined;
  /**
   * The federation's members for `round` (FedmeshFederation's registry, refreshed every round);
   * undefined: `init.members`. Used for "has everyone sent?" fast paths, never for committee
   * sizes (the contract's m and t are fixed).
   */
  readonly membersOf?: (round: number) => readonly string[];
  /**
   * The SecAgg+ masking graph's source for `round` (protocol/secure-aggregation/graph.ts: the
   * round's on-chain seed and the member set), used only when the federation sets an explicit
   * `maskingDegree`; absent or undefined: every participant masks with all of U_2.
   */
  readonly maskingGraphOf?: (round: number) => MaskingGraphSource | undefined;
  /**
   * The round's on-chain finalize deadline (block time, seconds; RoundState.finalizeDeadline read
   * by ./round-opener.ts), or undefined before the round is opened here. A secure round keeps
   * following a late key set until then (RoundMachineConfig.followUntil); absent: until the
   * input deadline.
   */
  readonly finalizeDeadlineOf?: (round: number) => number | undefined;
  /**
   * A recorded model by hash (the node store, else a member over the artifact protocol), or
   * undefined when none can be had. Read only with a momentum server optimizer, when the model
   * before the head (w_{t−1}) is not in this driver's memory: after a restart or a late join.
   */
  readonly modelOf?: (modelHash: Hex32) => Promise<ModelWeights | undefined>;
  /**
   * Keeps content-addressed bytes the auditor may ask for by their SHA-256 (the node store, served
   * over the artifact protocol): under a server optimizer, the round's average payload, whose hash
   * the record binds as aggregateHash (protocol/audit/server-step.ts).
   */
  readonly keepArtifact?: (bytes: Uint8Array) => void;
}

export interface SecureRoundOutcome {
  readonly participantPath?: readonly SecAggStage[];
  readonly committeePath?: readonly SecAggStage[];
  /** |U| and |D| as this committee member unmasked them. */
  readonly survivors?: number;
  readonly dropped?: number;
  /** Committee members whose signed result statement for the recorded model we hold. */
  readonly resultSigners: readonly string[];
  /** Protocol errors raised by received messages, by code. */
  readonly errors: Readonly<Record<string, number>>;
}

export interface RoundOutcome {
  /** The round was finalized (recorded) and this peer adopted its model. */
  readonly status: 'finalized';
  readonly round: number;
  readonly committee: readonly string[];
  readonly record: RecordedRound;
  /** Set when this peer sent the recording transaction. */
  readonly recordedBySelf: boolean;
  readonly participants: number;
  readonly trainLoss?: number;
  readonly participantPath: readonly ParticipantStage[];
  readonly committeePath?: readonly CommitteeStage[];
  /** Set when this peer dropped out of the round (simulations). */
  readonly dropout?: DropoutPoint;
  readonly secure?: SecureRoundOutcome;
}

/**
 * A round that ended without a record: on FedmeshFederation, its finalize deadline passed
 * without t committee signatures and a member called `abortRound()` (node/services/round-abort.ts).
 * The model stays at the head; the next round opens with a fresh committee.
 */
export interface AbortedRoundOutcome {
  readonly status: 'aborted';
  readonly round: number;
  /** The round's committee (peer ids, position order). */
  readonly committee: readonly string[];
  /** Whether this peer's `abortRound` transaction is the one that landed. */
  readonly abortedBySelf: boolean;
  /** The abort transaction, when this peer sent it. */
  readonly txHash?: Hex32;
  /** What stopped this peer's side of the round first (an error code), when it stopped before the abort. */
  readonly reason?: string;
}

/** What `Peer.runRound` resolves with: the round finalized and adopted, or aborted on chain. */
export type PeerRoundOutcome = RoundOutcome | AbortedRoundOutcome;

/** `o` when the round was finalized; else a RoundError ROUND_ABORTED (for callers that need a record). */
export function assertFinalized(o: PeerRoundOutcome): RoundOutcome {
  if (o.status === 'finalized') return o;
  throw new RoundError('ROUND_ABORTED', `round ${o.round} was aborted on chain`, { round: o.round, abortedBySelf: o.abortedBySelf });
}

export interface RunRoundOptions {
  /**
   * Stops the round from outside (the round was aborted on chain): every wait rejects with the
   * signal's reason, the trainer is set back to the head model, and runRound rejects.
   */
  readonly signal?: AbortSignal;
}

const DEFAULT_RESULT_SLACK_MS = 30_000;

/** `p`, or the signal's reason as soon as `signal` aborts (p keeps running; its rejection is absorbed). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Models a driver keeps by hash for the server optimizer: the head and the one before, with slack. */
const REMEMBERED_MODELS = 4;

export class RoundDriver {
  private readonly recorder: RoundRecorder;
  /** Recent models by lowercase hash, oldest first (w_{t−1} for the server optimizer). */
  private readonly remembered = new Map<string, ModelWeights>();

  constructor(
    private readonly init: RoundDriverInit,
    private readonly c: RoundDriverComponents,
  ) {
    validateDefence(init.defence);
    if (init.serverOptimizer !== undefined) validateServerOptimizer(init.serverOptimizer);
    this.recorder = c.recorder;
  }

  private remember(hash: string, weights: ModelWeights): void {
    const key = hash.toLowerCase();
    this.remembered.delete(key);
    this.remembered.set(key, weights);
    while (this.remembered.size > REMEMBERED_MODELS) this.remembered.delete(this.remembered.keys().next().value!);
  }

  /**
   * w_{t−1} for the server optimizer (protocol/server-optimizer.ts): the model the chain's last
   * finalized record names as its prevModelHash, or the head itself when nothing is finalized (a
   * new deployment: v = 0). From memory, else `modelOf`; checked against its hash. Throws
   * SERVER_OPTIMIZER_PREVIOUS_MISSING when it cannot be had: this member cannot aggregate.
   */
  private async previousModel(latest: number, head: Hex32, global: ModelWeights): Promise<ModelWeights> {
    if (latest === 0) return global;
    const finalized = await this.c.chain.getFinalizedRound(latest);
    const hash = finalized?.record.prevModelHash;
    if (finalized === undefined || hash === undefined || finalized.record.modelHash.toLowerCase() !== head.toLowerCase()) {
      throw new ServerOptimizerError('SERVER_OPTIMIZER_PREVIOUS_MISSING', `round ${latest}'s record does not lead to the head ${head}`, {
        round: latest,
        head,
        ...(finalized !== undefined ? { recordModelHash: finalized.record.modelHash } : {}),
      });
    }
    const known = this.remembered.get(hash.toLowerCase());
    if (known !== undefined) return known;
    const loaded = await this.c.modelOf?.(hash);
    if (loaded === undefined || toHex0x(modelHash(loaded)) !== hash.toLowerCase()) {
      throw new ServerOptimizerError(
        'SERVER_OPTIMIZER_PREVIOUS_MISSING',
        `the model before the head (${hash}, round ${latest}'s prevModelHash) is ${loaded === undefined ? 'not available' : 'not the one recorded'}`,
        { round: latest, modelHash: hash, ...(loaded !== undefined ? { got: toHex0x(modelHash(loaded)) } : {}) },
      );
    }
    this.remember(hash, loaded);
    return loaded;
  }

  /**
   * The committee's step from the round's plain average to the next model, or undefined for
   * FedAvg. A member that cannot have w_{t−1} gets a step that throws (it abstains from
   * aggregating; the round is recorded by the others).
   */
  private async serverStepFor(
    latest: number,
    head: Hex32,
    global: ModelWeights,
  ): Promise<((aggregate: ModelWeights) => ModelWeights) | undefined> {
    const o = this.init.serverOptimizer;
    if (o === undefined || o.kind === 'fedavg') return undefined;
    let previous: ModelWeights;
    try {
      // β = 0 needs no history: (2) of server-optimizer.ts does not read w_{t−1}.
      previous = serverParams(o).momentum === 0 ? global : await this.previousModel(latest, head, global);
    } catch (e) {
      this.c.log.warn({ head, code: isFedmeshError(e) ? e.code : String(e) }, 'server optimizer: no previous model; not aggregating');
      return () => {
        throw e;
      };
    }
    return (aggregate) => serverStep(o, { previous, head: global, aggregate });
  }

  /** The committee size in use: the configured one, or secure aggregation's effective m. */
  get committeeSize(): number {
    const sa = this.init.secureAggregation;
    return sa === undefined ? this.init.committeeSize : effectiveCommittee(sa.config, this.init.members.length).committeeSize;
  }

  private membersOf(round: number): readonly string[] {
    return this.c.membersOf?.(round) ?? this.init.members;
  }

  plan(round: number, openedAt: number): RoundPlan {
    const plan = planRound(
      { federation: this.init.federation, committeeSize: this.committeeSize, timing: this.init.timing },
      round,
      this.init.members,
      openedAt,
    );
    return { ...plan, committee: [...(this.c.committeeOf(round) ?? [])] };
  }

  /**
   * Run round `round` to adoption. Throws RoundError if the chain already finalized `round` or
   * a later one. On any failure (or `opts.signal`), the trainer is set back to the head model
   * before rejecting.
   */
  async runRound(round: number, opts: RunRoundOptions = {}): Promise<RoundOutcome> {
    const { chain, trainer, inbox, clock, log, self } = this.c;
    // Both reads at once (issue #13: round start cost is counted in dependent round trips).
    const [latest, head] = await Promise.all([chain.lastFinalizedRound(), chain.headModelHash()]);
    // Rounds can be aborted, so the last finalized round may lie further back than r − 1; any
    // earlier one is fine (the head hash check below still holds). Whether r itself is open is
    // the opener's business (./round-opener.ts).
    if (latest >= round) {
      throw new RoundError('ROUND_STALE', `ledger is at round ${latest}, cannot run round ${round}`, { round, current: latest });
    }
    const global = trainer.getWeights();
    const localHash = modelHash(global);
    if (!bytesEqual(localHash, fromHex0x(head))) {
      throw new RoundError('ROUND_HASH_MISMATCH', `local model ${toHex0x(localHash)} is not the ledger head ${head}`, {
        round,
        local: toHex0x(localHash),
        head,
      });
    }
    this.remember(head, global);
    inbox.setRound(round);
    this.c.secagg?.inbox.setRound(round);
    const plan = this.plan(round, clock.now());
    const position = plan.committee.indexOf(self);
    const step = position >= 0 ? await this.serverStepFor(latest, head, global) : undefined;
    const participant = participantMachine(round);
    const abort = new AbortController();
    const outer = opts.signal;
    const onOuter = (): void => abort.abort(outer?.reason);
    if (outer?.aborted) onOuter();
    else outer?.addEventListener('abort', onOuter, { once: true });
    const dropout = this.init.dropout?.(round);
    const participates = this.init.participate !== false && this.c.mayTrain?.(round) !== false;
    const secure = this.init.secureAggregation !== undefined ? this.secureEnv(plan, position, head, global, dropout, step) : undefined;

    let secureParticipant: SecAggParticipant | undefined;
    let committeeTask: Promise<{ path: readonly CommitteeStage[]; recorded: boolean; secure?: SecureCommitteeResult } | undefined>;
    if (secure !== undefined) {
      const { crypto, entropy, sign, verify } = secure.secagg;
      const ctx = {
        binding: secure.secagg.binding,
        federation: this.init.federation,
        round,
        committee: plan.committee,
        threshold: secure.threshold,
        config: secure.secure.config,
        // SecAgg+ (H-sparse): only with an explicit maskingDegree — the node set must be the same on every peer.
        ...(typeof secure.secure.config.maskingDegree === 'number' && this.c.maskingGraphOf?.(round) !== undefined
          ? { maskingGraph: this.c.maskingGraphOf(round)! }
          : {}),
      };
      // Every member advertises every round — an observer with contributes = 0 — so "every
      // member advertised" is a fast path that never waits for a deadline.
      // Signed prekeys (./secagg-prekeys.ts; issue 13 item 4, F13): rounds before this one ended on
      // chain (their secrets are erased) and this round's pair leaves the store now. A member uses
      // it as its c_k and advertises it, so participants holding its bundle and those falling back
      // to its advert seal to the same key.
      const prekeys = secure.secagg.prekeys;
      const prekey = await prekeys?.roundOpened(round);
      const fresh = generateRoundKeys(crypto, entropy);
      const keys = prekey !== undefined && position >= 0 ? { encryption: prekey, mask: fresh.mask } : fresh;
      if (keys !== fresh) wipe(fresh.encryption.secretKey);
      else if (prekey !== undefined) wipe(prekey.secretKey); // not on the committee: the prekey is not needed
      // Committee keys from identities when the node has them (issue 13 item 4; H1): members decrypt
      // with their identity-derived X25519 key, participants encrypt to members' keys at once.
      const committeeKeys = secure.secagg.committeeKeys;
      const member =
        position >= 0
          ? new SecAggCommitteeMember(
              ctx,
              self,
              committeeKeys?.own ?? keys.encryption.secretKey,
              // No complaints about shares naming another key of ours in a round an earlier, lost prekey state of ours may have keyed (F25).
              { crypto, sign, verify, ...(prekeys?.mayHoldStaleKey(round) === true ? { staleKeys: true } : {}) },
              committeeTiming(secure.secure),
            )
          : undefined;
      secureParticipant = participates
        ? new SecAggParticipant(ctx, self, keys, {
            crypto,
            entropy,
            sign,
            verify,
            ...(committeeKeys !== undefined ? { committeeKey: committeeKeys.of } : {}),
            // A member's signed advert, when already held, wins over its bundle (F25: they differ only
            // for a member that lost its prekey state; the advert carries the key it holds).
            ...(committeeKeys === undefined && prekeys !== undefined
              ? { committeeKey: (m: string) => (secureParticipant?.hasAdvert(m) ? undefined : prekeys.keyFor(m, round)) }
              : {}),
          })
        : undefined;
      const advert =
        secureParticipant?.advertise() ??
        createAdvert({ binding: secure.secagg.binding, federation: this.init.federation, round }, self, keys, sign, false);
      if (secureParticipant === undefined) wipeRoundKeys(keys);
      await secure.secagg.inbox.publish(advert);
      committeeTask =
        member !== undefined
          ? runSecureCommittee(secure, member, abort.signal).then((r) => ({ path: r.path, recorded: r.recorded, secure: r }))
          : Promise.resolve(undefined);
    } else {
      committeeTask =
        position >= 0
          ? runPlainCommittee(this.plainEnv(plan, position, head, global, dropout, step), abort.signal)
          : Promise.resolve(undefined);
    }
    // Surface committee failures without an unhandled rejection while we train.
    committeeTask.catch(() => {});

    let trainLoss: number | undefined;
    /** Local training in flight, so a failure can wait for it before resetting the model. */
    let training: Promise<unknown> | undefined;
    try {
      if (participates) {
        participant.to(ParticipantStage.Training);
        const seed = createRng(`${this.init.training.seed}/${self}/${round}`, 'fedmesh/train-seed/v1').int(0x7fffffff);
        const train = async () => {
          const running = trainer.train(this.c.data, { ...this.init.training, seed });
          training = running;
          const res = await running;
          // The DP-SGD parameters and steps actually run: declared with the submission.
          const dpParams = declareDpParams(this.init.training.dp, res.steps);
          return { loss: res.loss, seconds: res.seconds, weights: () => trainer.getWeights(), dpParams };
        };
        if (secure !== undefined && secureParticipant !== undefined) {
          try {
            const res = await runSecureParticipant(
              secure,
              secureParticipant,
              async () => {
                const r = await train();
                participant.to(ParticipantStage.Publishing);
                return r;
              },
              abort.signal,
            );
            trainLoss = res.trainLoss;
          } catch (e) {
            // A protocol failure of this peer's own contribution (e.g. fewer than t committee
            // members advertised keys in time) loses only its input: the round may still be
            // recorded from the others', and this peer still adopts it (its secure-aggregation
            // path ends 'failed'). Anything else — or the round being stopped — ends the round.
            if (abort.signal.aborted || !isFedmeshError(e) || !e.code.startsWith('SECAGG_')) throw e;
            log.debug({ round, code: e.code }, 'secure-aggregation contribution abandoned; awaiting the round result');
          }
          if (participant.is(ParticipantStage.Training)) participant.to(ParticipantStage.Publishing);
        } else {
          // The plaintext strategy of the round machine (./plain-round.ts): train, sign the entry,
          // charge the ledger, publish the update — or nothing after a simulated 'after-keys' dropout.
          const res = await runPlainParticipant(
            this.plainEnv(plan, position, head, global, dropout, step),
            async () => {
              const r = await train();
              participant.to(ParticipantStage.Publishing);
              log.debug({ round, loss: r.loss, seconds: r.seconds }, 'local training done');
              return r;
            },
            abort.signal,
          );
          trainLoss = res.trainLoss;
          if (participant.is(ParticipantStage.Training)) participant.to(ParticipantStage.Publishing);
        }
      }
      participant.to(ParticipantStage.AwaitingResult);

      const slack = this.init.resultSlackMs ?? DEFAULT_RESULT_SLACK_MS;
      // Secure rounds add views, a proposal and reveals after the input deadline: up to
      // m + 1 grace periods, then m more recording turns.
      const lastTurn =
        secure !== undefined
          ? plan.collectDeadline + (2 * plan.committee.length + 2) * this.init.timing.recordGraceMs
          : recordTurn(plan, plan.committee.length, this.init.timing);
      const record = recordedFromFinalized(
        await untilAborted(chain.waitForRoundFinalized(round, Math.max(1, lastTurn - clock.now() + slack)), abort.signal),
      );
      const recorded = fromHex0x(record.modelHash);
      await withDeadline(clock, slack, abort.signal, (s) =>
        inbox.waitUntil(() => inbox.aggregateFor(round, recorded) !== undefined, s),
      ).catch((e) => {
        throw new RoundError(
          'ROUND_NO_AGGREGATE',
          `round ${round} recorded ${record.modelHash} but no matching aggregate arrived in ${slack} ms`,
          {
            round,
            modelHash: record.modelHash,
            cause: String(e),
          },
        );
      });
      const agg = inbox.aggregateFor(round, recorded)!;
      await training?.catch(() => {});
      trainer.setWeights(agg.aggregate.weights);
      const adopted = modelHash(trainer.getWeights());
      if (!bytesEqual(adopted, recorded)) {
        throw new RoundError('ROUND_HASH_MISMATCH', `adopted model ${toHex0x(adopted)} differs from the record ${record.modelHash}`, {
          round,
          local: toHex0x(adopted),
          head: record.modelHash,
        });
      }
      this.remember(record.modelHash, agg.aggregate.weights);
      participant.to(ParticipantStage.Adopted);
      if (secureParticipant !== undefined && secureParticipant.stage === 'unmask') secureParticipant.finish();
      // A committee member without w_{t−1} (SERVER_OPTIMIZER_PREVIOUS_MISSING) only abstained from
      // aggregating; it adopted the record like any participant, so its round still counts.
      const committee = await committeeTask.catch((e: unknown) => {
        if (isFedmeshError(e, 'SERVER_OPTIMIZER_PREVIOUS_MISSING')) return undefined;
        throw e;
      });
      return {
        status: 'finalized',
        round,
        committee: plan.committee,
        record,
        recordedBySelf: committee?.recorded === true,
        participants: record.participantCount,
        ...(trainLoss !== undefined ? { trainLoss } : {}),
        participantPath: participant.path,
        ...(committee !== undefined ? { committeePath: committee.path } : {}),
        ...(dropout !== undefined ? { dropout } : {}),
        ...(secure !== undefined ? { secure: this.secureOutcome(secure, record, secureParticipant, committee?.secure) } : {}),
      };
    } catch (e) {
      if (!participant.is(ParticipantStage.Adopted, ParticipantStage.Failed)) participant.to(ParticipantStage.Failed);
      secureParticipant?.fail();
      abort.abort(e);
      // The round produced nothing this peer adopted: the model stays at the head (once local
      // training, which cannot be interrupted, has settled).
      await training?.catch(() => {});
      trainer.setWeights(global);
      throw e;
    } finally {
      outer?.removeEventListener('abort', onOuter);
    }
  }

  private secureEnv(
    plan: RoundPlan,
    position: number,
    head: Hex32,
    global: ModelWeights,
    dropout: DropoutPoint | undefined,
    step: ((aggregate: ModelWeights) => ModelWeights) | undefined,
  ): SecureRoundEnv {
    const secagg = this.c.secagg;
    const sa = this.init.secureAggregation!;
    if (secagg === undefined)
      throw new RoundError('ROUND_BAD_CONFIG', 'secure aggregation needs the secagg components', { field: 'secagg' });
    // The chain's deadline on the node clock, as the stall watcher maps it (./round-abort.ts).
    const finalizeDeadline = this.c.finalizeDeadlineOf?.(plan.round);
    return {
      plan,
      position,
      openedAt: this.c.clock.now(),
      ...(finalizeDeadline !== undefined ? { followUntil: finalizeDeadline * 1000 } : {}),
      head,
      global,
      ...(step !== undefined ? { serverStep: step } : {}),
      ...(step !== undefined && this.c.keepArtifact !== undefined ? { keepArtifact: this.c.keepArtifact } : {}),
      self: this.c.self,
      members: this.membersOf(plan.round),
      ...(this.init.defence?.updateNormBound !== undefined ? { updateNormBound: this.init.defence.updateNormBound } : {}),
      threshold: effectiveCommittee(sa.config, this.init.members.length).threshold,
      recordGraceMs: this.init.timing.recordGraceMs,
      secure: sa,
      dropout,
      ...(secagg.prekeys !== undefined
        ? { preKeyed: plan.committee.filter((m) => secagg.prekeys!.keyFor(m, plan.round) !== undefined) }
        : {}),
      sampleCount: fedAvgWeight(this.init.training.dp, this.c.data.n),
      inbox: this.c.inbox,
      secagg,
      recorder: this.recorder,
      clock: this.c.clock,
      log: this.c.log,
      errors: new Map(),
      // The participant's ParticipantEntry signature travels in its masked input (issue 13/14; H1).
      signEntry: async (dpParams: bigint) =>
        fromHex0x(await this.c.chain.signParticipantEntry(participantEntry(plan.round, await this.c.chain.account(), dpParams))),
      // The local-ledger charge, called by secure-round right before the masked input is published (H8 F8).
      ...(this.c.beforePublish !== undefined ? { beforePublish: (dpParams: bigint) => this.c.beforePublish!(plan.round, dpParams) } : {}),
      ...(this.c.addressOf !== undefined
        ? {
            admit: (participant: string, input: { dpParams: bigint; entrySignature: Uint8Array }) =>
              this.admission(plan.round, participant, input.dpParams, input.entrySignature),
          }
        : {}),
    };
  }

  /**
   * Why the contract would refuse `participant`'s record line in `round`, or undefined when it
   * would accept it (protocol/chain/declaration.ts `checkAdmission`, read against the chain: the
   * deployment, the DP policy, the member's spend and its cap for the round). A peer with no
   * registered account is refused ('NOT_MEMBER'); a failed check refuses too ('UNCHECKED <code>'):
   * an input the committee cannot show admissible must not be unmasked.
   */
  private async admission(
    round: number,
    participant: string,
    dpParams: bigint,
    entrySignature: Uint8Array | undefined,
  ): Promise<string | undefined> {
    const member = this.c.addressOf?.(participant);
    if (member === undefined) return this.c.addressOf === undefined ? undefined : 'NOT_MEMBER';
    try {
      const { chain } = this.c;
      const [info, budget, cap] = await Promise.all([chain.info(), chain.budgetOf(member), chain.epsilonCapAt(member, round)]);
      return checkAdmission({
        binding: { chainId: info.chainId, contract: info.address },
        round,
        member,
        dpParams,
        ...(entrySignature?.some((b) => b !== 0) ? { entrySignature: toHex0x(entrySignature) } : {}),
        dpRequired: info.dpRequired,
        spentRdp: budget.rdp,
        cAlpha: info.cAlpha,
        cap,
      });
    } catch (e) {
      // A malformed declaration (declaredSpend refuses the word) or an unreadable chain.
      return `UNCHECKED ${isFedmeshError(e) ? e.code : String(e)}`;
    }
  }

  private secureOutcome(
    env: SecureRoundEnv,
    record: RecordedRound,
    participant: SecAggParticipant | undefined,
    committee: SecureCommitteeResult | undefined,
  ): SecureRoundOutcome {
    const signers = env.secagg.inbox
      .messages(record.round, SecAggKind.Result)
      .filter((m) => toHex0x(m.result.modelHash) === record.modelHash && toHex0x(m.result.prevModelHash) === record.prevModelHash)
      .map((m) => m.sender)
      .sort();
    return {
      ...(participant !== undefined ? { participantPath: participant.machine.path } : {}),
      ...(committee !== undefined ? { committeePath: committee.secaggPath } : {}),
      ...(committee?.survivors !== undefined ? { survivors: committee.survivors } : {}),
      ...(committee?.dropped !== undefined ? { dropped: committee.dropped } : {}),
      resultSigners: signers,
      errors: Object.fromEntries(env.errors),
    };
  }

  /** The plaintext strategy's view of this round and peer, and the node's effect ports (./plain-round.ts). */
  private plainEnv(
    plan: RoundPlan,
    position: number,
    head: Hex32,
    global: ModelWeights,
    dropout: DropoutPoint | undefined,
    step: ((aggregate: ModelWeights) => ModelWeights) | undefined,
  ): PlainRoundEnv {
    const bound = this.init.defence?.updateNormBound;
    return {
      cfg: {
        mode: 'plaintext',
        plan,
        timing: this.init.timing,
        self: this.c.self,
        members: this.membersOf(plan.round),
        position,
        head,
        global,
        ...(step !== undefined ? { serverStep: step } : {}),
        // issue 15: with DP the FedAvg weight is public (protocol/privacy/public-statistics.ts).
        sampleCount: fedAvgWeight(this.init.training.dp, this.c.data.n),
        ...(bound !== undefined ? { updateNormBound: bound } : {}),
        dropout,
        // The participant's own authorization of its record line (issue 14 item 4): without it
        // FedmeshFederation refuses the record.
        signsEntry: true,
        charges: this.c.beforePublish !== undefined,
        admits: this.c.addressOf !== undefined,
      },
      inbox: this.c.inbox,
      recorder: this.recorder,
      clock: this.c.clock,
      log: this.c.log,
      signEntry: async (dpParams: bigint) =>
        fromHex0x(await this.c.chain.signParticipantEntry(participantEntry(plan.round, await this.c.chain.account(), dpParams))),
      ...(this.c.beforePublish !== undefined ? { beforePublish: (dpParams: bigint) => this.c.beforePublish!(plan.round, dpParams) } : {}),
      admit: (participant, dpParams, entrySignature) => this.admission(plan.round, participant, dpParams, entrySignature),
      ...(step !== undefined && this.c.keepArtifact !== undefined ? { keepArtifact: this.c.keepArtifact } : {}),
    };
  }
}
