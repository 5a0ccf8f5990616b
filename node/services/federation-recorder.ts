/**
 * The federation recorder: a round is finalized on FedmeshFederation by t committee signatures
 * of one EIP-712 round record (protocol/chain/record.ts), not by one member's transaction.
 *
 * Every committee member whose aggregate is computed builds the canonical record, signs it
 * (`signRecord`) and gossips the signature on `/fedmesh/<federation>/finalize/1`
 * (protocol/messages/finalize.ts). Position 0 submits `finalizeRound` as soon as it holds t
 * signatures of its own record's digest; position k submits only from its turn (k grace
 * periods later) and only if the round is still not finalized. Whoever loses the race sees the
 * winner's `RoundFinalized` through `waitForRoundFinalized` and stops; its revert never surfaces.
 *
 * Record contents:
 * - participants: the contributing members' addresses (under secure aggregation, the survivors
 *   whose masked inputs are in the unmasked sum), each with the DP-SGD parameters `dpParams`
 *   it declared in its signed submission (`RecordRequest.declarations`,
 *   protocol/chain/dp-params.ts) and the spend `declaredSpend(dpParams)`, recomputed here,
 *   never taken from the participant, so every honest committee member signs the same record;
 * - each participant's own EIP-712 `ParticipantEntry` signature over exactly that line for this
 *   round and deployment (protocol/chain/participant-entry.ts), checked here before signing:
 *   the contract refuses a line its member did not sign, so a contributor without a valid one
 *   makes this member refuse to sign (MSG_BAD_FIELD naming `entrySignature`) rather than submit a record that
 *   reverts;
 * - serviceMask: every committee position (docs/credits.md); signed, so whoever submits cannot
 *   strip service credits by resubmitting with fewer signatures.
 * There is no list of dropped members and no sample-count bucket (issue 14).
 */
import type { TypedDataDomain } from 'ethers';
import { type DeploymentBinding, deploymentBinding } from '../../protocol/chain/deployment-binding.js';
import {
  canonicalRoundRecord,
  federationDomain,
  fullServiceMask,
  ROUND_RECORD_TYPES,
  roundRecordDigest,
  toTypedValue,
  type OnChainRoundRecord,
} from '../../protocol/chain/record.js';
import { topicFor } from '../../protocol/messages/topics.js';
import type { ValidationVerdict } from '../../protocol/round.js';
import { recordedFromFinalized } from '../chain/federation-ledger-view.js';
import type { FederationChainClient, FinalizedRound } from '../chain/federation-types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { CommitteeSignatures, type CommitteeSignaturesComponents } from './committee-signatures.js';
import { LockCharger, onChainParticipants } from './lock-charger.js';
import type { LockChargeResult, RecordRequest, RecordResult, RoundRecorder, SecureChargeRequest } from './round-recorder.js';

/** How often the submit loop re-checks signatures and its turn (ms). */
const SUBMIT_POLL_MS = 50;
/** Default wait for the round's finalization beyond this member's turn (ms). */
const DEFAULT_FINALIZE_TIMEOUT_MS = 60_000;

export interface FederationRecorderInit {
  readonly federation: string;
  /** All federation members (peer ids). No longer recorded (no dropped list); kept for callers. */
  readonly members?: readonly string[];
  /** Signatures needed (the contract's t). */
  readonly threshold: number;
  readonly finalizeTimeoutMs?: number;
}

export interface FederationRecorderComponents extends CommitteeSignaturesComponents {
  readonly self: string;
  readonly fed: FederationChainClient;
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * The signing gate (defence (b), node/services/validation-gate.ts): asked before this member
   * signs `req`'s record; `sign: false` means it will not. Absent: always sign.
   */
  readonly approve?: (req: RecordRequest) => Promise<ValidationVerdict | undefined>;
}

/** `p`, or the signal's reason once `signal` aborts (p's own rejection is then absorbed). */
function raceSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  p.catch(() => {});
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class FederationRecorder implements RoundRecorder {
  readonly topic: string;
  private readonly pool: CommitteeSignatures;
  /** Charges U_3 before any reveal (red team F18), on its own topic. */
  readonly charger: LockCharger;
  private domain: TypedDataDomain | undefined;
  private binding: DeploymentBinding | undefined;

  constructor(
    private readonly init: FederationRecorderInit,
    private readonly c: FederationRecorderComponents,
  ) {
    this.topic = topicFor(init.federation, 'finalize');
    this.pool = new CommitteeSignatures(this.topic, init.federation, c);
    this.charger = new LockCharger(
      { federation: init.federation, threshold: init.threshold },
      { ...c, signingDomain: () => this.signingDomain().then((domain) => ({ domain, binding: this.binding! })) },
    );
  }

  /** The topic of the charge signatures (subscribe it too). */
  get chargeTopic(): string {
    return this.charger.topic;
  }

  start(): void {
    this.pool.start();
    this.charger.start();
  }

  stop(): void {
    this.charger.stop();
    this.pool.stop();
  }

  /** Signatures held for `round` and a record digest (author → signature). */
  signaturesFor(round: number, digest: string): ReadonlyMap<string, string> {
    return this.pool.signaturesFor(round, digest);
  }

  /** Charges the certified lock's U_3 on chain before any reveal (./lock-charger.ts). */
  charge(req: SecureChargeRequest, signal: AbortSignal): Promise<LockChargeResult> {
    return this.charger.charge(req, signal);
  }

  private async signingDomain(): Promise<TypedDataDomain> {
    if (this.domain === undefined) {
      const info = await this.c.fed.info();
      this.domain = federationDomain(info.chainId, info.address);
      this.binding = deploymentBinding(info.chainId, info.address);
    }
    return this.domain;
  }

  /**
   * The canonical record of `req` and the participants' entry signatures in its order; throws
   * MSG_BAD_FIELD naming `entrySignature` and the participant for a contributor whose
   * declaration carries no valid ParticipantEntry signature.
   */
  private buildRecord(req: RecordRequest): { record: OnChainRoundRecord; entrySignatures: string[] } {
    const { participants, signatureOf } = onChainParticipants(
      req.round,
      req.contributors,
      req.declarations,
      this.c.addressOf,
      this.binding!,
    );
    const committee = this.c.committeeOf(req.round) ?? [];
    const record = canonicalRoundRecord({
      round: req.round,
      prevModelHash: req.prevModelHash,
      modelHash: req.modelHash,
      aggregateHash: req.aggregateHash,
      serviceMask: fullServiceMask(committee.length),
      participants,
    });
    return { record, entrySignatures: record.participants.map((p) => signatureOf.get(p.member)!) };
  }

  async record(req: RecordRequest, signal: AbortSignal): Promise<RecordResult> {
    const { fed, clock, log, self } = this.c;
    // Defence (b): the signing gate. A member that refuses neither signs nor submits; it only
    // learns the round's fate (finalized by others' signatures, or aborted at the deadline).
    const verdict = this.c.approve !== undefined ? await this.c.approve(req) : undefined;
    if (verdict !== undefined && !verdict.sign) {
      log.info(
        {
          round: req.round,
          modelHash: req.modelHash,
          baseLoss: verdict.baseLoss,
          candidateLoss: verdict.candidateLoss,
          margin: verdict.margin,
        },
        'refusing to sign the round record: the candidate fails the validation gate',
      );
      const timeoutMs = Math.max(1, req.turnAt - clock.now()) + (this.init.finalizeTimeoutMs ?? DEFAULT_FINALIZE_TIMEOUT_MS);
      const finalized = await raceSignal(fed.waitForRoundFinalized(req.round, timeoutMs), signal);
      return { record: recordedFromFinalized(finalized), recorded: false };
    }
    const domain = await this.signingDomain();
    const { record, entrySignatures } = this.buildRecord(req);
    const digest = roundRecordDigest(domain, record);
    const signature = await fed.signRecord(record);
    await this.pool.publish(req.round, self, digest, signature);
    // A round charged before its reveals (F18): the contract checks the participants hash and
    // reads no entry signature, so none is sent (64 bytes of calldata per participant saved).
    const charged = this.charger.chargedHash(req.round) !== undefined;

    // Position 0 submits as soon as it has t signatures; position k from its turn on.
    const turnAt = req.position === 0 ? 0 : req.turnAt;
    const timeoutMs = Math.max(1, req.turnAt - clock.now()) + (this.init.finalizeTimeoutMs ?? DEFAULT_FINALIZE_TIMEOUT_MS);
    let finalized: FinalizedRound | undefined;
    let failure: unknown;
    const watch = fed.waitForRoundFinalized(req.round, timeoutMs).then(
      (f) => {
        finalized = f;
      },
      (e) => {
        failure = e;
      },
    );
    let recorded = false;
    while (finalized === undefined && failure === undefined) {
      if (signal.aborted) throw signal.reason;
      const sigs = this.pool.valid(domain, ROUND_RECORD_TYPES, () => toTypedValue(record), req.round, digest);
      if (clock.now() >= turnAt && sigs.length >= this.init.threshold) {
        try {
          finalized = await fed.finalizeRound(record, charged ? [] : entrySignatures, sigs);
          recorded = true;
          log.info({ round: req.round, modelHash: req.modelHash, tx: finalized.txHash, signers: sigs.length }, 'round finalized');
        } catch (e) {
          // Lost the race: another member's finalizeRound landed first; read its record.
          finalized = await fed.getFinalizedRound(req.round);
          if (finalized === undefined) throw e;
          log.debug({ round: req.round, err: String(e) }, 'finalizeRound lost the race');
        }
        break;
      }
      await Promise.race([watch, clock.sleep(SUBMIT_POLL_MS, signal)]);
    }
    if (finalized === undefined) throw failure;
    this.pool.prune(req.round, 1);
    this.charger.prune(req.round);
    return { record: recordedFromFinalized(finalized), recorded };
  }
}
