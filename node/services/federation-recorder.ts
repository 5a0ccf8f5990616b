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
import { getAddress, recoverAddress, type TypedDataDomain, verifyTypedData } from 'ethers';
import { fromHex0x, toHex0x } from '../../protocol/bytes.js';
import { type DeploymentBinding, deploymentBinding } from '../../protocol/chain/deployment-binding.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import { participantEntry, verifyParticipantEntry } from '../../protocol/chain/participant-entry.js';
import {
  canonicalRoundRecord,
  federationDomain,
  fullServiceMask,
  ROUND_RECORD_TYPES,
  roundRecordDigest,
  toTypedValue,
  type OnChainRoundRecord,
} from '../../protocol/chain/record.js';
import { MessageError } from '../../protocol/messages/errors.js';
import { decodeFinalizeSignature, encodeFinalizeSignature } from '../../protocol/messages/finalize.js';
import { topicFor } from '../../protocol/messages/topics.js';
import { validateFinalizeSignature } from '../../protocol/validate.js';
import type { ValidationVerdict } from '../../protocol/round.js';
import { ACCEPT, reject, type Verdict } from '../../protocol/verdict.js';
import { recordedFromFinalized } from '../chain/federation-ledger-view.js';
import type { FederationChainClient, FinalizedRound } from '../chain/federation-types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Gossip, GossipMessage } from '../net/gossip.js';
import type { RecordRequest, RecordResult, RoundRecorder } from './round-recorder.js';

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

export interface FederationRecorderComponents {
  readonly self: string;
  readonly gossip: Gossip;
  readonly fed: FederationChainClient;
  /** Committee of `round` as peer ids, when known (RoundOpener). */
  readonly committeeOf: (round: number) => readonly string[] | undefined;
  /** Registered address of a member's peer id (RoundOpener). */
  readonly addressOf: (peerId: string) => string | undefined;
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
  /** round → digest (hex) → author → signature (hex). */
  private readonly signatures = new Map<number, Map<string, Map<string, string>>>();
  private domain: TypedDataDomain | undefined;
  /** Verdicts of `validSignatures`, by round/digest/author/signature/account; pruned with `signatures`. */
  private readonly checked = new Map<string, boolean>();
  private binding: DeploymentBinding | undefined;

  constructor(
    private readonly init: FederationRecorderInit,
    private readonly c: FederationRecorderComponents,
  ) {
    this.topic = topicFor(init.federation, 'finalize');
  }

  start(): void {
    this.c.gossip.subscribe(
      this.topic,
      (m) => this.validate(m),
      (m) => this.onMessage(m),
    );
  }

  stop(): void {
    this.c.gossip.unsubscribe(this.topic);
  }

  /** Signatures held for `round` and a record digest (author → signature). */
  signaturesFor(round: number, digest: string): ReadonlyMap<string, string> {
    return this.signatures.get(round)?.get(digest.toLowerCase()) ?? new Map();
  }

  private validate(m: GossipMessage): Verdict {
    // The ordered pipeline (protocol/validate.ts): size, decoding, version, federation, round
    // (a round this peer has not opened cannot be judged: ROUND_UNKNOWN), author and
    // signature, replay.
    const { verdict, message: msg } = validateFinalizeSignature(m.data, m.from, {
      federation: this.init.federation,
      committeeOf: this.c.committeeOf,
      addressOf: this.c.addressOf,
      verifyRecord: (account, digest, signature) => {
        try {
          return getAddress(recoverAddress(toHex0x(digest), toHex0x(signature))) === getAddress(account);
        } catch {
          return false;
        }
      },
      isReplay: (f) => this.signatures.get(f.round)?.get(toHex0x(f.digest).toLowerCase())?.has(f.author) === true,
    });
    if (msg === undefined) return verdict;
    // One record per committee member per round (checked once the signature is known to be
    // the member's): a second digest is equivocation, and refusing it bounds what a member can
    // make others store.
    const digest = toHex0x(msg.digest).toLowerCase();
    for (const [d, byAuthor] of this.signatures.get(msg.round) ?? []) {
      if (d !== digest && byAuthor.has(msg.author)) return reject('FINALIZE_EQUIVOCATION');
    }
    return ACCEPT;
  }

  private onMessage(m: GossipMessage): void {
    const msg = decodeFinalizeSignature(m.data);
    this.store(msg.round, toHex0x(msg.digest), msg.author, toHex0x(msg.signature));
  }

  private store(round: number, digest: string, author: string, signature: string): void {
    let byDigest = this.signatures.get(round);
    if (byDigest === undefined) {
      byDigest = new Map();
      this.signatures.set(round, byDigest);
      // Keep the last few rounds only: a late signature for an old round has no use.
      for (const r of this.signatures.keys()) if (r < round - 2) this.signatures.delete(r);
    }
    let byAuthor = byDigest.get(digest.toLowerCase());
    if (byAuthor === undefined) {
      byAuthor = new Map();
      byDigest.set(digest.toLowerCase(), byAuthor);
    }
    if (!byAuthor.has(author)) byAuthor.set(author, signature);
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
    const address = (peer: string): string => {
      const a = this.c.addressOf(peer);
      if (a === undefined) throw new MessageError('MSG_BAD_FIELD', `no registered address for ${peer}`, { field: 'peer', value: peer });
      return a;
    };
    const binding = this.binding!;
    const signatureOf = new Map<string, string>();
    const participants = req.contributors.map((p) => {
      const member = getAddress(address(p));
      const declared = req.declarations?.get(p);
      const entry = participantEntry(req.round, member, declared?.dpParams ?? 0n);
      const signature = declared?.entrySignature;
      if (signature === undefined || !verifyParticipantEntry(binding, entry, signature)) {
        throw new MessageError('MSG_BAD_FIELD', `participant ${p} did not sign its entry for round ${req.round}`, {
          field: 'entrySignature',
          value: p,
        });
      }
      signatureOf.set(member, signature);
      return { member, dpParams: entry.dpParams, spend: declaredSpend(entry.dpParams) };
    });
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
    this.store(req.round, digest, self, signature);
    await this.c.gossip.publish(
      this.topic,
      encodeFinalizeSignature({
        federation: this.init.federation,
        round: req.round,
        author: self,
        digest: fromHex0x(digest),
        signature: fromHex0x(signature),
      }),
    );

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
      const sigs = this.validSignatures(domain, record, req.round, digest);
      if (clock.now() >= turnAt && sigs.length >= this.init.threshold) {
        try {
          finalized = await fed.finalizeRound(record, entrySignatures, sigs);
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
    for (const r of this.signatures.keys()) if (r < req.round - 1) this.signatures.delete(r);
    for (const k of this.checked.keys()) if (Number(k.slice(0, k.indexOf('/'))) < req.round) this.checked.delete(k);
    return { record: recordedFromFinalized(finalized), recorded };
  }

  /**
   * Held signatures of `record` that recover to their author's registered address (EIP-712).
   * Each (digest, author, signature) is recovered once and the verdict kept (`checked`): the
   * submit loop asks every SUBMIT_POLL_MS while a member waits for its turn, and re-recovering
   * every held signature each time (pure-JS secp256k1 in ethers) took ~16 s of 69 s CPU in a
   * 16-peer, 2-round simulation and delayed position 0's finalizeRound by ~10 s.
   */
  private validSignatures(domain: TypedDataDomain, record: OnChainRoundRecord, round: number, digest: string): string[] {
    const out: string[] = [];
    let value: ReturnType<typeof toTypedValue> | undefined;
    for (const [author, sig] of this.signaturesFor(round, digest)) {
      const account = this.c.addressOf(author);
      if (account === undefined) continue;
      const key = `${round}/${digest.toLowerCase()}/${author}/${sig}/${account}`;
      let ok = this.checked.get(key);
      if (ok === undefined) {
        value ??= toTypedValue(record);
        try {
          ok = getAddress(verifyTypedData(domain, ROUND_RECORD_TYPES, value, sig)) === getAddress(account);
        } catch {
          // A malformed signature never counts.
          ok = false;
        }
        this.checked.set(key, ok);
      }
      if (ok) out.push(sig);
    }
    return out;
  }
}
