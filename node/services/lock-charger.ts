/**
 * Charge before release (red team F18): a secure round's certified lock is charged on chain with
 * `chargeRound` before any committee member reveals a share, because the reveals release the sum
 * over U_3 to anyone reading the gossip — whether or not the round is recorded afterwards (a sum
 * nobody accepts, an admin suspending committee members, an abort). Bonawitz et al. 2017 §4 have
 * the server learn nothing before the consistency check; here nothing is released before the
 * ledger holds the spend.
 *
 * Every committee member whose lock is certified and who holds U_3's inputs (the machine's
 * `charge-lock` effect) builds the same charge — the lock digest and U_3's on-chain lines, each
 * with the participant's own entry signature, sorted by address as in a record — signs its
 * EIP-712 `RoundCharge` and gossips the signature on `/fedmesh/<federation>/charge/1`
 * (./committee-signatures.ts). Who submits: position 0 as soon as it holds t signatures,
 * position k from k grace periods on, as for `finalizeRound` (./federation-recorder.ts): the
 * contract makes a second charge revert (`CHAIN_ALREADY_CHARGED`, read as success when the hash
 * is ours), so racing is safe, and the turns keep a public chain from mining m copies. The chain
 * is the synchroniser: every member, submitter or not, reads the round's `chargedHash` and
 * answers the machine only when the chain holds exactly its own participants hash.
 *
 * A charge the contract refuses (a participant over its cap, the round closed, too few active
 * signers) or a different charge on chain is a refusal: the member never reveals, and the round
 * ends with the on-chain abort.
 */
import { getAddress, type TypedDataDomain } from 'ethers';
import {
  canonicalRoundCharge,
  participantsHash,
  ROUND_CHARGE_TYPES,
  roundChargeDigest,
  toChargeValue,
} from '../../protocol/chain/charge.js';
import type { DeploymentBinding } from '../../protocol/chain/deployment-binding.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import { participantEntry, verifyParticipantEntry } from '../../protocol/chain/participant-entry.js';
import type { ContributionDeclaration, Hex32, OnChainParticipant } from '../../protocol/chain/record.js';
import { FedmeshError } from '../../protocol/errors.js';
import { MessageError } from '../../protocol/messages/errors.js';
import { topicFor } from '../../protocol/messages/topics.js';
import type { FederationChainClient } from '../chain/federation-types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { CommitteeSignatures, type CommitteeSignaturesComponents } from './committee-signatures.js';
import type { LockChargeResult, SecureChargeRequest } from './round-recorder.js';

/** How often the submit loop re-checks signatures and its turn (ms): as the record's. */
const SUBMIT_POLL_MS = 50;
/** How often the loop reads the round's charge from the chain once t signatures are here (ms). */
const CHAIN_POLL_MS = 100;
/**
 * How often it reads the chain before that (ms): a charge needs t signatures, which reach this
 * member about when they reach the submitter, so a fast poll before then only loads the RPC (every
 * member of a simulated federation polls one in-process chain); the slow poll still finds a charge
 * landed by anyone (F21: a member that never gets t signatures must still see it).
 */
const CHAIN_POLL_SLOW_MS = 1_000;

/**
 * The on-chain lines of `contributors` with their entry signatures: each member's registered
 * address, the DP parameters it declared and the spend they imply (recomputed, never taken from
 * the participant), its EIP-712 ParticipantEntry signature checked. Throws MSG_BAD_FIELD naming
 * `peer` (no registered address) or `entrySignature` (none, or not the member's). Shared by the
 * record (./federation-recorder.ts) and the charge: one rule for both.
 */
export function onChainParticipants(
  round: number,
  contributors: readonly string[],
  declarations: ReadonlyMap<string, ContributionDeclaration> | undefined,
  addressOf: (peer: string) => string | undefined,
  binding: DeploymentBinding,
): { participants: OnChainParticipant[]; signatureOf: Map<string, string> } {
  const signatureOf = new Map<string, string>();
  const participants = contributors.map((p) => {
    const a = addressOf(p);
    if (a === undefined) throw new MessageError('MSG_BAD_FIELD', `no registered address for ${p}`, { field: 'peer', value: p });
    const member = getAddress(a);
    const declared = declarations?.get(p);
    const entry = participantEntry(round, member, declared?.dpParams ?? 0n);
    const signature = declared?.entrySignature;
    if (signature === undefined || !verifyParticipantEntry(binding, entry, signature)) {
      throw new MessageError('MSG_BAD_FIELD', `participant ${p} did not sign its entry for round ${round}`, {
        field: 'entrySignature',
        value: p,
      });
    }
    signatureOf.set(member, signature);
    return { member, dpParams: entry.dpParams, spend: declaredSpend(entry.dpParams) };
  });
  return { participants, signatureOf };
}

export interface LockChargerInit {
  readonly federation: string;
  /** Signatures needed (the contract's t). */
  readonly threshold: number;
}

/** The committee's signature pool's components (gossip, committee, addresses) and the chain. */
export interface LockChargerComponents extends CommitteeSignaturesComponents {
  readonly self: string;
  readonly fed: FederationChainClient;
  readonly clock: Clock;
  readonly log: Logger;
  /** The federation's EIP-712 domain and deployment binding (read once from the chain). */
  readonly signingDomain: () => Promise<{ domain: TypedDataDomain; binding: DeploymentBinding }>;
}

/**
 * Whether a failed submission is no answer from the contract: a transport failure, or a revert
 * without data, which is what ethers makes of a JSON-RPC error answer to `eth_estimateGas` or
 * `eth_call` (CALL_EXCEPTION); FedmeshFederation always reverts with a custom error.
 */
function transient(e: unknown): boolean {
  // Not a classified chain error (e.g. "nonce too low" on broadcast): no answer either (F36).
  if (!(e instanceof FedmeshError)) return true;
  if (e.code === 'CHAIN_UNAVAILABLE' || e.code === 'CHAIN_RETRY_EXHAUSTED') return true;
  const f = e.fields as { data?: unknown; errorName?: unknown };
  return e.code === 'CHAIN_REVERTED' && f.data === undefined && f.errorName === undefined;
}

export class LockCharger {
  readonly topic: string;
  private readonly pool: CommitteeSignatures;
  /** Participants hash the chain holds per round, once read (the recorder then sends no entry signatures). */
  private readonly charged = new Map<number, Hex32>();

  constructor(
    private readonly init: LockChargerInit,
    private readonly c: LockChargerComponents,
  ) {
    this.topic = topicFor(init.federation, 'charge');
    this.pool = new CommitteeSignatures(this.topic, init.federation, c);
  }

  start(): void {
    this.pool.start();
  }

  stop(): void {
    this.pool.stop();
  }

  /** The participants hash the chain charged for `round`, when this member has read it. */
  chargedHash(round: number): Hex32 | undefined {
    return this.charged.get(round);
  }

  /** Forgets rounds before `round − 1`. */
  prune(round: number): void {
    this.pool.prune(round, 1);
    for (const r of this.charged.keys()) if (r < round - 1) this.charged.delete(r);
  }

  /**
   * Signs and gossips the charge of `req`'s lock, submits it at this position's turn with t
   * signatures, and answers once the chain holds a charge for the round: `charged` when it is
   * exactly ours, a refusal otherwise, when the contract refuses it or when the round is no longer
   * open on chain (aborted after its finalize deadline, so the charge can no longer land); a
   * refusal `CHARGE_DEADLINE` at `req.until` when the member set one (by default +∞: a member that
   * signed keeps watching while the chain still accepts the charge, red team F21). Rejects only
   * when `signal` aborts (the round ended on chain, or the peer stops).
   */
  async charge(req: SecureChargeRequest, signal: AbortSignal): Promise<LockChargeResult> {
    const { fed, clock, log, self } = this.c;
    const { round, lock } = req;
    const refuse = (code: string, message: string): LockChargeResult => {
      log.warn({ round, lock, code, reason: message }, 'secure aggregation: the lock is not charged; this member reveals nothing');
      return { charged: false, lock, refusal: { code, message } };
    };
    let ours: Hex32;
    let submit: () => Promise<Hex32>;
    let signatures: () => string[];
    try {
      const { domain, binding } = await this.c.signingDomain();
      const built = onChainParticipants(round, req.contributors, req.declarations, this.c.addressOf, binding);
      const charge = canonicalRoundCharge({ round, lock, participants: built.participants });
      ours = participantsHash(charge.participants);
      const digest = roundChargeDigest(domain, charge);
      await this.pool.publish(round, self, digest, await fed.signRoundCharge(charge));
      const entrySignatures = charge.participants.map((p) => built.signatureOf.get(p.member)!);
      signatures = () => this.pool.valid(domain, ROUND_CHARGE_TYPES, () => toChargeValue(charge), round, digest);
      submit = async () => {
        const landed = await fed.chargeRound(charge, entrySignatures, signatures());
        log.info(
          { round, lock, tx: landed.txHash, participants: charge.participants.length, participantsHash: landed.participantsHash },
          'round charged on chain before the reveals',
        );
        return landed.participantsHash;
      };
    } catch (e) {
      if (e instanceof FedmeshError) return refuse(e.code, e.message);
      throw e;
    }
    const turnAt = req.position === 0 ? 0 : req.turnAt;
    let submitted = false;
    let readAt = Number.NEGATIVE_INFINITY;
    /** The participants hash the chain held at the last read, confirmed or not. */
    let onChain: Hex32 | undefined;
    const landed = (hash: Hex32): LockChargeResult => {
      const h = hash.toLowerCase() as Hex32;
      this.charged.set(round, h);
      if (h !== ours) return refuse('CHAIN_CHARGE_MISMATCH', `round ${round} was charged for ${h}, not this lock's U_3 (${ours})`);
      return { charged: true, lock, participantsHash: h, submitted };
    };
    /**
     * What the chain says of the round, final only where it is confirmed: as of the newest block
     * with the configured confirmations on top (`getRoundConfirmed`). Both ends are irreversible
     * for this member: "charged" lets it reveal (red team F29: a charge in the head block that a
     * reorg drops at the finalize deadline would leave a released U_3 that no ledger charges),
     * and "not open" makes it give up (F30: a reorged abort, with the charge landing on the
     * winning branch, would charge U_3 for a release that never comes). Until the head's answer
     * is confirmed the member keeps polling.
     */
    let headOpen = true;
    const read = async (): Promise<LockChargeResult | undefined> => {
      const head = await fed.getRound(round);
      onChain = head?.chargedHash;
      headOpen = head?.status === 'open';
      if (headOpen && onChain === undefined) return undefined;
      const sure = fed.getRoundConfirmed === undefined ? head : await fed.getRoundConfirmed(round);
      if (sure?.chargedHash !== undefined) return landed(sure.chargedHash);
      // Closed only on the confirmed view's own word: a view from before the round opened (a
      // round opened and aborted within the confirmation depth) is no answer (red team F37).
      if ((sure?.status === 'aborted' || sure?.status === 'finalized') && !headOpen && onChain === undefined) {
        return refuse('CHAIN_ROUND_NOT_OPEN', `round ${round} is ${head?.status ?? 'unknown'}, not open`);
      }
      return undefined;
    };
    /**
     * A failed read is not the chain's answer (red team F32): an RPC error on one `eth_call`
     * (a rate limit, "header not found" from a load-balanced backend) must not make a member
     * give up on a charge it signed, which may still land. It keeps polling; the round's end on
     * chain, the stop signal and `until` still bound the wait. `failed`: the read threw.
     */
    let failedReads = 0;
    const tryRead = async (): Promise<{ final?: LockChargeResult; failed: boolean }> => {
      try {
        const final = await read();
        failedReads = 0;
        return final === undefined ? { failed: false } : { final, failed: false };
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        if (failedReads++ === 0)
          log.warn({ round, lock, err: (e as Error).message }, 'chain read failed while waiting for the charge; reading again');
        return { failed: true };
      }
    };
    for (;;) {
      if (signal.aborted) throw signal.reason;
      try {
        const held = signatures().length;
        if (clock.now() - readAt >= (held >= this.init.threshold ? CHAIN_POLL_MS : CHAIN_POLL_SLOW_MS)) {
          readAt = clock.now();
          // The chain is the synchroniser: whoever submitted, every member reads the charge here.
          const { final } = await tryRead();
          if (final !== undefined) return final;
        }
        if (clock.now() >= req.until) return refuse('CHARGE_DEADLINE', `round ${round}: no charge on chain by the lock deadline`);
        // A charge (or an abort) at the head that is not confirmed yet is waited for, never raced.
        if (onChain === undefined && headOpen && clock.now() >= turnAt && held >= this.init.threshold) {
          try {
            submitted = true;
            // The write resolves once the chain's height passes its block by the confirmations
            // (resilient.ts); the next read decides, since a reorg may have dropped it meanwhile.
            onChain = await submit();
          } catch (e) {
            submitted = false;
            // Lost a race, or refused: whatever the chain now holds decides, once it counts. A
            // refusal on a round still open at the head with no charge is this lock's own fault.
            const { final, failed } = await tryRead();
            if (final !== undefined) return final;
            // Only the contract's own answer refuses this lock (red team F34): an RPC error on the
            // gas estimate or the send (no revert data) is no answer; submit again next poll.
            if (!failed && headOpen && onChain === undefined && !transient(e)) throw e;
            if (transient(e))
              log.warn({ round, lock, err: (e as Error).message }, 'charge submission failed without a contract answer; retrying');
            // The chain could not be read or answered nothing: poll at the usual pace, not at once.
            if (failed || transient(e)) await clock.sleep(SUBMIT_POLL_MS, signal);
          }
          readAt = Number.NEGATIVE_INFINITY;
          continue;
        }
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        if (e instanceof FedmeshError) return refuse(e.code, e.message);
        throw e;
      }
      await clock.sleep(SUBMIT_POLL_MS, signal);
    }
  }
}
