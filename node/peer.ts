/**
 * A fedmesh peer: the libp2p host's gossip, the round inbox, the secure-aggregation inbox,
 * the round opener, privacy guard and federation recorder, and the round driver, wired over the
 * ports they need (STYLE.md §2: `createPeer(init)(components)`). The chain port is the
 * FedmeshFederation client (`FederationChainClient`): rounds are opened on chain with the
 * contract's committee and finalized by a quorum of committee signatures.
 */
import type { ModelWeights } from '../protocol/model.js';
import type { LabelledData } from '../protocol/data.js';
import { fromHex0x } from '../protocol/bytes.js';
import { isFedmeshError } from '../protocol/errors.js';
import { federationDomain, roundRecordDigest } from '../protocol/chain/record.js';
import { modelHash } from '../protocol/weights-codec.js';
import type { Entropy, IdentitySign, IdentityVerify, SecAggCrypto } from '../protocol/secure-aggregation/crypto.js';
import type { FederationChainClient } from './chain/federation-types.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { Gossip } from './net/gossip.js';
import { ChainError } from './chain/errors.js';
import {
  type AbortedRoundOutcome,
  RoundDriver,
  type RoundDriverInit,
  type LocalTrainer,
  type PeerRoundOutcome,
} from './services/round-driver.js';
import { type RoundFate, watchForStall } from './services/round-abort.js';
import type { RecordRequest } from './services/round-recorder.js';
import { assertGateAllowed, gateCandidate, type Validator } from './services/validation-gate.js';
import { RoundError, type ValidationVerdict } from '../protocol/round.js';
import { ChangeNotifier } from './services/change-notifier.js';
import { RoundInbox } from './services/round-inbox.js';
import { nodeSha256 } from './services/secagg-crypto.js';
import { SecAggInbox } from './services/secagg-inbox.js';
import type { CommitteeKeys } from './services/secagg-committee-keys.js';
import type { PrekeySecretStore } from './services/secagg-prekey-store.js';
import { SecAggPrekeys } from './services/secagg-prekeys.js';
import { FederationRecorder } from './services/federation-recorder.js';
import type { LocalPrivacyLedger } from './store/privacy-ledger.js';
import { PrivacyGuard, type PrivacyStatus } from './services/privacy-guard.js';
import { type PeerProofPolicy, RoundOpener } from './services/round-opener.js';

export interface PeerInit extends RoundDriverInit {
  /** Outgoing chunk size in bytes (default: protocol maximum). */
  readonly chunkSize?: number;
  /**
   * t, the signatures a round record needs (the contract's threshold). Each participant's spend
   * is recomputed from the DP parameters it declares (node/services/federation-recorder.ts).
   */
  readonly finalize: { readonly threshold: number };
  /**
   * The gap between two peers' `abortRound` turns once a round's finalize deadline has passed
   * (ms; node/services/round-abort.ts DEFAULT_ABORT_STAGGER_MS).
   */
  readonly abortStaggerMs?: number;
  /**
   * How members' stored peer id proofs are checked before their peer ids are mapped
   * (node/services/round-opener.ts; issue 14 item 2). The daemon and the simulator always give one.
   */
  readonly peerProofs?: PeerProofPolicy;
  /**
   * How often a peer in a round re-reads the round on chain to learn that it already ended —
   * finalized or aborted by the others (ms; default DEFAULT_ROUND_END_POLL_MS). See
   * `runFederationRound`.
   */
  readonly roundEndPollMs?: number;
  /**
   * Once the chain shows the round finalized, how long the driver may still take to adopt the
   * record from gossip before this peer leaves the round (ms; default DEFAULT_LEAVE_GRACE_MS).
   */
  readonly leaveGraceMs?: number;
}

/** Default interval between a running round's "has it ended on chain?" reads (ms). */
export const DEFAULT_ROUND_END_POLL_MS = 1_000;
/**
 * Default grace after the chain shows the round finalized (ms). An honest participant's driver
 * sees the same record on its own poll (`waitForRoundFinalized`) and holds the aggregate already
 * (the record is signed over it), so it adopts within about one poll; a peer still waiting
 * after this grace missed messages it will not get, and catches up by artifact fetch instead.
 */
export const DEFAULT_LEAVE_GRACE_MS = 2_000;

export interface PeerComponents {
  readonly gossip: Gossip;
  /** The chain port: this member's FedmeshFederation client (its account signs and sends). */
  readonly federation: FederationChainClient;
  readonly trainer: LocalTrainer;
  readonly data: LabelledData;
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * Secure aggregation's crypto: required when `init.secureAggregation` is set. `sign` must
   * sign with this peer's libp2p identity key; `verify` checks any member's identity.
   */
  readonly secagg?: {
    /** The deployment every secagg statement is bound to (protocol/chain/deployment-binding.ts `deploymentBindingBytes`). */
    readonly binding: Uint8Array;
    readonly crypto: SecAggCrypto;
    readonly entropy: Entropy;
    readonly sign: IdentitySign;
    readonly verify: IdentityVerify;
    /**
     * Committee members' share-encryption keys from identities (./services/secagg-committee-keys.ts,
     * issue 13 item 4): participants encrypt to members at open instead of waiting for their
     * advertisements. Absent: per-round member keys (forward secrecy; docs/secure-aggregation.md).
     */
    readonly committeeKeys?: CommitteeKeys;
    /**
     * Where this member keeps its signed per-round committee prekeys (./services/secagg-prekey-store.ts).
     * Given: the peer publishes prekeys W rounds ahead and participants seal shares to members'
     * prekeys at open (./services/secagg-prekeys.ts; forward secret per round, F13).
     */
    readonly prekeyStore?: PrekeySecretStore;
    /** Prekey window W and republish interval (./services/secagg-prekeys.ts `SecAggPrekeysInit`). */
    readonly prekeyOptions?: { readonly window?: number; readonly republishMs?: number };
  };
  /**
   * Defence (b): this member's validation loss of a model on its own held-out split
   * (node/services/validation-gate.ts). With `init.defence.validationMargin`, the member refuses
   * to sign a round record whose model fails the gate.
   */
  readonly validator?: Validator;
  /**
   * issue 14 item 3 (H5): the node's own ledger of DP releases (node/store/privacy-ledger.ts).
   * Each input or update is charged to it before it is published, and the privacy guard uses
   * the larger of its total and the chain's. Absent: the chain's spend alone.
   */
  readonly privacyLedger?: LocalPrivacyLedger;
  /** A recorded model by hash, for the server optimizer's w_{t−1} (RoundDriverComponents.modelOf). */
  readonly modelOf?: (modelHash: `0x${string}`) => Promise<ModelWeights | undefined>;
  /** Keeps content-addressed bytes for the auditor (RoundDriverComponents.keepArtifact). */
  readonly keepArtifact?: (bytes: Uint8Array) => void;
}

export class Peer {
  readonly inbox: RoundInbox;
  readonly secaggInbox?: SecAggInbox;
  /** Signed committee prekeys (with `components.secagg.prekeyStore`). */
  readonly prekeys?: SecAggPrekeys;
  readonly driver: RoundDriver;
  readonly opener: RoundOpener;
  readonly recorder: FederationRecorder;
  /** Stops training before a round that would pass the member's privacy cap. */
  readonly privacyGuard: PrivacyGuard;
  /** Model hash expected as the base of each round's updates, learned from the ledger. */
  private readonly bases = new Map<number, Uint8Array>();
  /** The head model each round started from (the validation gate's baseline), kept for the round. */
  private readonly heads = new Map<number, ModelWeights>();
  private running = false;

  constructor(
    readonly init: PeerInit,
    readonly components: PeerComponents,
  ) {
    const { gossip, federation: fed } = components;
    if (!(Number.isInteger(init.finalize.threshold) && init.finalize.threshold >= 1)) {
      throw new RoundError('ROUND_BAD_CONFIG', `finalize.threshold=${init.finalize.threshold}: an integer >= 1`, {
        field: 'finalize.threshold',
        value: init.finalize.threshold,
        rule: 'an integer >= 1',
      });
    }
    assertGateAllowed(init.training.dp, init.defence?.validationMargin);
    const opener = new RoundOpener(fed, components.log, undefined, init.peerProofs);
    this.opener = opener;
    this.privacyGuard = new PrivacyGuard(
      {
        ...(init.training.dp !== undefined ? { dp: init.training.dp } : {}),
        epochs: init.training.epochs,
        // Masked inputs are settled against the chain's charge (a late masker is not charged for good).
        masked: init.secureAggregation !== undefined,
      },
      { fed, log: components.log, ...(components.privacyLedger !== undefined ? { ledger: components.privacyLedger } : {}) },
    );
    this.recorder = new FederationRecorder(
      { federation: init.federation, members: init.members, ...init.finalize },
      {
        self: gossip.self,
        gossip,
        fed,
        committeeOf: (r) => opener.committeeOf(r),
        ...(init.defence?.validationMargin !== undefined && components.validator !== undefined
          ? { approve: (req: RecordRequest) => this.approve(req, components.validator!, init.defence!.validationMargin!) }
          : {}),
        addressOf: (p) => opener.addressOf(p),
        clock: components.clock,
        log: components.log,
      },
    );
    // Membership: the registry's active list as read when the latest round was opened here
    // (RoundOpener refreshes it every round), so a member suspended on chain is refused from the
    // next round on and one added mid-run is accepted; before the first round, the configured list.
    const members = new Set(init.members);
    const isMember = (p: string): boolean => (opener.membersRound > 0 ? opener.isActive(p) : members.has(p));
    const membersNow = (): readonly string[] => (opener.membersRound > 0 ? opener.activeMembers() : init.members);
    // The chain's committee once the round is opened here; before that nobody is on it (a
    // message that needs the role is refused rather than judged against the wrong committee).
    const committee = (round: number): readonly string[] => opener.committeeOf(round) ?? [];
    const notifier = new ChangeNotifier();
    // Peer scoring: non-members get a negative app-specific score (node/net/peer-scoring.ts).
    gossip.setMembership?.(isMember);
    this.inbox = new RoundInbox(gossip, {
      federation: init.federation,
      isMember,
      isCommittee: (p, round) => committee(round).includes(p),
      // A round not opened here yet (this peer lags): its aggregates get IGNORE, not REJECT.
      knowsCommittee: (round: number) => opener.committeeOf(round) !== undefined,
      notifier,
      template: components.trainer.getWeights(),
      expectedBase: (round) => this.bases.get(round),
      modelHash,
      log: components.log,
      ...(init.chunkSize !== undefined ? { chunkSize: init.chunkSize } : {}),
      // Native SHA-256 for whole payloads (a masked input is 8·(d + 1) bytes; ~11× noble's speed).
      sha256: nodeSha256,
    });
    let secagg: (NonNullable<PeerComponents['secagg']> & { inbox: SecAggInbox }) | undefined;
    if (init.secureAggregation !== undefined) {
      if (components.secagg === undefined)
        throw new TypeError('secure aggregation needs components.secagg (crypto, entropy, sign, verify)');
      this.secaggInbox = new SecAggInbox(gossip, {
        binding: components.secagg.binding,
        federation: init.federation,
        isMember,
        committee,
        verify: components.secagg.verify,
        notifier,
        log: components.log,
      });
      const { prekeyStore, prekeyOptions, ...sa } = components.secagg;
      if (prekeyStore !== undefined) {
        this.prekeys = new SecAggPrekeys(
          { federation: init.federation, binding: sa.binding, ...prekeyOptions },
          {
            gossip,
            crypto: sa.crypto,
            entropy: sa.entropy,
            sign: sa.sign,
            verify: sa.verify,
            isMember,
            store: prekeyStore,
            log: components.log,
          },
        );
      }
      secagg = { ...sa, inbox: this.secaggInbox, ...(this.prekeys !== undefined ? { prekeys: this.prekeys } : {}) };
    }
    const { secagg: _crypto, federation: _federation, validator: _validator, ...rest } = components;
    const guard = this.privacyGuard;
    this.driver = new RoundDriver(init, {
      ...rest,
      chain: fed,
      self: gossip.self,
      inbox: this.inbox,
      ...(secagg !== undefined ? { secagg } : {}),
      recorder: this.recorder,
      committeeOf: (r: number) => opener.committeeOf(r),
      mayTrain: (r: number) => guard.mayTrain(r),
      beforePublish: (r: number, dpParams: bigint) => guard.charge(r, dpParams),
      addressOf: (p: string) => opener.addressOf(p),
      membersOf: () => membersNow(),
      finalizeDeadlineOf: (r: number) => opener.stateOf(r)?.finalizeDeadline,
      // SecAgg+ graph source (used only with an explicit maskingDegree): the round's on-chain seed
      // and the members at its snapshot block (chain state only: the same on every peer).
      maskingGraphOf: (r: number) => {
        const state = opener.stateOf(r);
        const nodes = opener.snapshotMembersOf(r);
        return state === undefined || nodes === undefined ? undefined : { seed: fromHex0x(state.seed), nodes: [...new Set(nodes)].sort() };
      },
    });
  }

  /** Gossip topics this peer subscribes to. */
  get topics(): string[] {
    return [
      this.inbox.updateTopic,
      this.inbox.aggregateTopic,
      ...(this.secaggInbox !== undefined ? [this.secaggInbox.topic] : []),
      ...(this.prekeys !== undefined ? [this.prekeys.topic] : []),
      this.recorder.topic,
      this.recorder.chargeTopic,
    ];
  }

  /**
   * The member's privacy budget as of the last round it prepared for, or undefined before the
   * first: `{round, epsilonSpent, epsilonCap, epsilonAfterRound, exhausted}` in ε units.
   * `exhausted` means the node abstains from training (node/services/privacy-guard.ts).
   */
  privacy(): PrivacyStatus | undefined {
    return this.privacyGuard.status();
  }

  get id(): string {
    return this.components.gossip.self;
  }

  get weights(): ModelWeights {
    return this.components.trainer.getWeights();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.inbox.start();
    this.secaggInbox?.start();
    this.prekeys?.start();
    this.recorder.start();
  }

  /** Idempotent: a crashed-and-stopped peer (simulations, tests) may be stopped again on teardown. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.recorder.stop();
    this.prekeys?.stop();
    this.secaggInbox?.stop();
    this.inbox.stop();
  }

  private signedFinalized(round: number, fed: FederationChainClient): Promise<boolean> {
    return signedFinalizedRecord(round, this.id, fed, this.recorder);
  }

  /** The validation gate on a candidate record (defence (b)); undefined: nothing to judge, sign. */
  private async approve(req: RecordRequest, validator: Validator, margin: number): Promise<ValidationVerdict | undefined> {
    const base = this.heads.get(req.round);
    if (req.candidate === undefined || base === undefined) return undefined;
    return gateCandidate(validator, base, req.candidate, margin);
  }

  /**
   * Runs round `round` to its end: opens it on chain (or reads it, when another member opened
   * it) and runs it. Resolves `{status: 'finalized', …}` once the round's record is on chain and
   * this peer adopted its model, or `{status: 'aborted', round, committee, abortedBySelf}` when
   * the round's finalize deadline passed
   * without a quorum and it was aborted (by this peer or another; node/services/round-abort.ts).
   * After an abort the model is still the head and `runRound(round + 1)` opens the next round
   * with a fresh committee. Rejects on anything else (stale or future round, hash mismatch, a
   * round finalized without a matching aggregate, RPC failures while opening).
   */
  async runRound(round: number): Promise<PeerRoundOutcome> {
    const fed = this.components.federation;
    if (this.components.validator !== undefined) this.heads.set(round, this.components.trainer.getWeights());
    try {
      // The head, the privacy budget (would this round pass the member's cap? then it abstains as
      // an observer) and the round's opening read the chain independently: one round trip for
      // all three (issue #13, round start cost; a late start misses the key set).
      const [head, , committee] = await Promise.all([fed.headModelHash(), this.privacyGuard.beforeRound(round), this.opener.open(round)]);
      this.bases.set(round, fromHex0x(head));
      return await this.runFederationRound(round, committee, fed);
    } finally {
      this.bases.delete(round - 1);
      this.heads.delete(round);
    }
  }

  /**
   * The driver's round raced against the stall watcher: whichever of "the driver adopted a
   * finalized model" and "the round was aborted on chain" happens first decides the outcome.
   */
  private async runFederationRound(round: number, committee: readonly string[], fed: FederationChainClient): Promise<PeerRoundOutcome> {
    const { clock, log } = this.components;
    const state = this.opener.stateOf(round)!;
    const position = committee.indexOf(this.id);
    const others = this.opener.activeMembers().filter((p) => !committee.includes(p));
    // Committee members first (they know first that no quorum formed), then everyone else.
    const rank = position >= 0 ? position : committee.length + Math.max(0, others.indexOf(this.id));
    const stopWatch = new AbortController();
    const stopRound = new AbortController();
    const abortedOutcome = (fate: Extract<RoundFate, { status: 'aborted' }>, reason?: string): AbortedRoundOutcome => ({
      status: 'aborted',
      round,
      committee,
      abortedBySelf: fate.bySelf,
      ...(fate.txHash !== undefined ? { txHash: fate.txHash } : {}),
      ...(reason !== undefined ? { reason } : {}),
    });
    // The stall watcher's verdict, once known (it decides whether the abort was ours).
    let stallFate: RoundFate | undefined;
    const watch = watchForStall(
      {
        round,
        finalizeDeadline: state.finalizeDeadline,
        rank,
        ...(this.init.abortStaggerMs !== undefined ? { staggerMs: this.init.abortStaggerMs } : {}),
      },
      { fed, clock, log },
      stopWatch.signal,
    );
    watch.catch(() => {});
    // When the chain says aborted, stop the driver's waits at once.
    void watch.then(
      (fate) => {
        stallFate = fate;
        if (fate.status === 'aborted') stopRound.abort(new ChainError('CHAIN_ROUND_ABORTED', `round ${round} was aborted`, { round }));
      },
      () => {},
    );
    // A peer that missed the round's key messages (it joined late, or was cut off) would sit
    // out its own deadlines — a minute or more — after the others have finalized the round and
    // opened the next. So it also watches the round's status on chain: ended (finalized, or
    // aborted by another member) while the driver still waits → cut the driver's waits. For a
    // finalized round the driver first gets a grace to adopt the record from gossip itself.
    // After the cut the driver publishes nothing more for this round (its waits reject, the
    // trainer is set back to the head); the caller catches up to the recorded model instead.
    let ended: 'finalized' | 'aborted' | undefined;
    const endPoll = this.init.roundEndPollMs ?? DEFAULT_ROUND_END_POLL_MS;
    const leaveGrace = this.init.leaveGraceMs ?? DEFAULT_LEAVE_GRACE_MS;
    const endWatch = watchRoundEnd(round, fed, clock, endPoll, stopWatch.signal);
    endWatch.catch(() => {});
    void endWatch
      .then(
        async (status) => {
          ended = status;
          // The grace ends early (rejects) when the driver resolves first: nothing to cut then.
          if (status === 'finalized') await clock.sleep(leaveGrace, stopWatch.signal).catch(() => {});
          if (stopWatch.signal.aborted || stopRound.signal.aborted) return;
          // A committee member that signed the record the chain finalized holds that aggregate: it
          // announces it and adopts it (its own deadlines bound both), so it does not leave. If the
          // signers left too, nobody would announce the model and every peer would lose the round's
          // result (seen in `npm run demo` on a loaded machine: all 8 peers left round 6).
          if (status === 'finalized' && (await this.signedFinalized(round, fed))) return;
          if (stopWatch.signal.aborted || stopRound.signal.aborted) return;
          log.info({ round, status }, 'round ended on chain while this peer still waited in it; leaving it');
          stopRound.abort(
            status === 'aborted'
              ? new ChainError('CHAIN_ROUND_ABORTED', `round ${round} was aborted`, { round })
              : new RoundError('ROUND_LEFT', `round ${round} was finalized on chain without this peer; catching up`, { round }),
          );
        },
        () => {},
      )
      .catch(() => {});
    try {
      return await this.driver.runRound(round, { signal: stopRound.signal });
    } catch (e) {
      // This peer could not take part at all (stale or future round, local model not the head,
      // bad configuration): the round's fate does not change that, so say so at once.
      if (isFedmeshError(e) && PRECONDITION_CODES.has(e.code)) throw e;
      // The driver stopped first (its own deadlines passed, or it saw the abort): the chain's
      // verdict decides. Aborted: an outcome, not an error. Finalized without us: the error stands.
      const reason = errorCode(e);
      // Whichever watcher learns the round's end first (the stall watcher only after the deadline).
      const fate: RoundFate = stallFate ?? (ended !== undefined ? fateOf(ended) : await Promise.race([watch, endWatch.then(fateOf)]));
      if (fate.status === 'aborted') {
        log.debug({ round, reason }, 'round ended without a record');
        return abortedOutcome(fate, stopRound.signal.aborted ? undefined : reason);
      }
      // Finalized without us and we cut the driver: say so (ROUND_LEFT), whatever error the
      // cut wait turned into (e.g. the aggregate wait reports ROUND_NO_AGGREGATE).
      const cut: unknown = stopRound.signal.aborted ? stopRound.signal.reason : undefined;
      if (isFedmeshError(cut, 'ROUND_LEFT')) throw cut;
      throw e;
    } finally {
      stopWatch.abort();
    }
  }
}

/**
 * Whether `peer` signed the record the chain finalized for `round` (its signature is stored under
 * the record's EIP-712 digest by the federation recorder). False when unknown (RPC down).
 */
async function signedFinalizedRecord(
  round: number,
  peer: string,
  fed: FederationChainClient,
  recorder: FederationRecorder,
): Promise<boolean> {
  try {
    const finalized = await fed.getFinalizedRound(round);
    if (finalized === undefined) return false;
    const info = await fed.info();
    const digest = roundRecordDigest(federationDomain(info.chainId, info.address), finalized.record);
    return recorder.signaturesFor(round, digest).has(peer);
  } catch {
    return false;
  }
}

/** Resolves once round `round` is no longer open on chain: 'finalized' or 'aborted'. */
async function watchRoundEnd(
  round: number,
  fed: FederationChainClient,
  clock: Clock,
  pollMs: number,
  signal: AbortSignal,
): Promise<'finalized' | 'aborted'> {
  for (;;) {
    await clock.sleep(pollMs, signal);
    try {
      const state = await fed.getRound(round);
      if (state?.status === 'finalized' || state?.status === 'aborted') {
        // Counted once confirmed (chain.confirmations; red team F30): an abort a shallow reorg
        // swaps for a charge must not cut a member that would then reveal for that charge.
        const sure = fed.getRoundConfirmed === undefined ? state : await fed.getRoundConfirmed(round);
        if (sure?.status === state.status) return state.status;
      }
    } catch {
      if (signal.aborted) throw signal.reason;
      // The RPC is down: the driver's own deadlines still bound the round; read again later.
    }
  }
}

function fateOf(status: 'finalized' | 'aborted'): RoundFate {
  return status === 'finalized' ? { status } : { status, bySelf: false };
}

/** Driver errors raised before this peer did anything in the round (RoundDriver.runRound's checks). */
const PRECONDITION_CODES: ReadonlySet<string> = new Set(['ROUND_STALE', 'ROUND_FUTURE', 'ROUND_HASH_MISMATCH', 'ROUND_BAD_CONFIG']);

function errorCode(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string')
    return (e as { code: string }).code;
  return e instanceof Error ? e.name : String(e);
}

export function createPeer(init: PeerInit): (components: PeerComponents) => Peer {
  return (components) => new Peer(init, components);
}
