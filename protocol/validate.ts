/**
 * Gossip validation: every inbound message gets a verdict (protocol/verdict.ts) from one
 * pipeline whose steps run in a fixed order (issue #9, docs/threat-model.md "Verdicts"):
 *
 *   1. size       — the byte length, before any parsing (STYLE.md §7)            MSG_TOO_LARGE
 *   2. decoding   — the frame parses, field bounds hold, the type fits the topic  MSG_TRUNCATED, MSG_BAD_TYPE, …
 *   3. version    — the envelope version is the topic's                          MSG_BAD_VERSION
 *   4. federation — the message names this federation                           MSG_WRONG_FEDERATION
 *   5. round and stage — the round is one this peer can judge: current or next
 *                   (further ahead: IGNORE ROUND_FUTURE; behind: IGNORE ROUND_STALE, except
 *                   the kinds a late peer still needs); role-restricted kinds need
 *                   the round's committee to be known here (else IGNORE ROUND_UNKNOWN)
 *   6. signature  — by a registered, active member's identity: gossipsub StrictSign has
 *                   verified the gossip signature of `from`; here the envelope's sender must
 *                   be `from` and a member, hold the role the kind needs, and every signature
 *                   the message carries must verify                               MSG_SENDER_NOT_SIGNER, PEER_NOT_MEMBER, …
 *   7. replay     — the same message again (IGNORE MSG_REPLAY). Gossipsub's seen-cache
 *                   drops same-id copies within its TTL before validation; this step
 *                   catches replays after the TTL and re-publications. A message for an old round is
 *                   caught at step 5: with the round forgotten, its committee cannot be
 *                   judged, so the old message must be IGNOREd before step 6 could REJECT it.
 *
 * Checks that need the payload or other messages (reassembly, equivocation, "is the sender's
 * key advertised?") run after the pipeline, in the inboxes and state machines.
 *
 * A failure at step k always yields step k's verdict, whatever else is wrong with the message
 * (test/unit/verdict-order.test.ts): cheap, unauthenticated checks come first and a REJECT —
 * which penalises the forwarding peer through gossipsub scoring — is only ever given for a
 * defect the sender cannot blame on this peer's state.
 */
import { type Chunk, CHUNK_VERSION, decodeChunk, PayloadType } from './messages/chunk.js';
import { MessageError } from './messages/errors.js';
import {
  decodeFinalizeSignature,
  FINALIZE_SIGNATURE_VERSION,
  type FinalizeSignature,
  MAX_FINALIZE_MESSAGE_BYTES,
} from './messages/finalize.js';
import { MAX_GOSSIP_MESSAGE_BYTES, MAX_SECAGG_MESSAGE_BYTES } from './messages/limits.js';
import { CertPhase, decodeSecAgg, resultStatement, SECAGG_MESSAGE_VERSION, SecAggKind, type SecAggMessage } from './messages/secagg.js';
import { checkEndorsement, checkLivenessEvidence } from './secure-aggregation/certify.js';
import { classifyRound } from './round.js';
import type { IdentityVerify } from './secure-aggregation/crypto.js';
import { SecAggError } from './secure-aggregation/errors.js';
import { verifyAdvert } from './secure-aggregation/round-keys.js';
import { checkView } from './secure-aggregation/views.js';
import { ACCEPT, ignore, reject, type Verdict } from './verdict.js';

/** The pipeline's steps, in the order they run. */
export enum ValidationStep {
  Size = 1,
  Decode = 2,
  Version = 3,
  Federation = 4,
  RoundStage = 5,
  Signature = 6,
  Replay = 7,
}

/**
 * The step that gives each pipeline verdict code. Codes from later checks (reassembly,
 * equivocation: `UPDATE_*`, `SECAGG_EQUIVOCATION`, `FINALIZE_EQUIVOCATION`) are not listed.
 */
export const VERDICT_STEP: Readonly<Record<string, ValidationStep>> = {
  MSG_TOO_LARGE: ValidationStep.Size,
  MSG_TRUNCATED: ValidationStep.Decode,
  MSG_TRAILING_BYTES: ValidationStep.Decode,
  MSG_BAD_TYPE: ValidationStep.Decode,
  MSG_BAD_FIELD: ValidationStep.Decode,
  MSG_BAD_SHAPE: ValidationStep.Decode,
  MSG_BAD_CHUNK: ValidationStep.Decode,
  MSG_BAD_VERSION: ValidationStep.Version,
  MSG_WRONG_FEDERATION: ValidationStep.Federation,
  ROUND_STALE: ValidationStep.RoundStage,
  ROUND_FUTURE: ValidationStep.RoundStage,
  ROUND_UNKNOWN: ValidationStep.RoundStage,
  MSG_SENDER_NOT_SIGNER: ValidationStep.Signature,
  PEER_NOT_MEMBER: ValidationStep.Signature,
  PEER_NOT_COMMITTEE: ValidationStep.Signature,
  SECAGG_NOT_COMMITTEE: ValidationStep.Signature,
  SECAGG_BAD_SIGNATURE: ValidationStep.Signature,
  FINALIZE_BAD_SIGNATURE: ValidationStep.Signature,
  MSG_REPLAY: ValidationStep.Replay,
};

type Decoded<T> = { readonly value: T } | { readonly verdict: Verdict };

/**
 * Steps 2 and 3. Every fedmesh envelope reads its version byte (at `versionOffset`) before
 * the body, so a decoder alone would report MSG_BAD_VERSION for a message that is also
 * malformed. To keep decoding before version, a version mismatch is re-decoded as the
 * current version: if the rest of the frame is malformed, that decoding error is the verdict.
 */
function decodeStep<T>(data: Uint8Array, decode: (b: Uint8Array) => T, versionOffset: number, version: number): Decoded<T> {
  try {
    return { value: decode(data) };
  } catch (e) {
    if (!(e instanceof MessageError)) throw e;
    if (e.code !== 'MSG_BAD_VERSION') return { verdict: reject(e.code) };
  }
  const patched = data.slice();
  patched[versionOffset] = version;
  try {
    decode(patched);
  } catch (e) {
    if (!(e instanceof MessageError)) throw e;
    if (e.code !== 'MSG_BAD_VERSION') return { verdict: reject(e.code) };
  }
  return { verdict: reject('MSG_BAD_VERSION') };
}

export interface ValidationContext {
  readonly federation: string;
  /** The round this peer is working on. */
  readonly currentRound: number;
  /** The payload type(s) this topic carries. */
  readonly expectedType: PayloadType | readonly PayloadType[];
  /** Is `peer` an active member of the federation? */
  readonly isMember: (peer: string) => boolean;
  /** For aggregates: is `peer` on round `round`'s committee? */
  readonly isCommittee?: (peer: string, round: number) => boolean;
  /**
   * For aggregates: is round `round`'s committee known here (the round opened here)? When it
   * is not, `isCommittee` cannot judge the sender, so the aggregate is IGNOREd ROUND_UNKNOWN
   * rather than REJECTed PEER_NOT_COMMITTEE: a lagging peer must not penalise honest ones.
   */
  readonly knowsCommittee?: (round: number) => boolean;
  /** Step 7: has this very chunk (type, round, sender, payload hash, index) been taken before? */
  readonly isReplay?: (chunk: Chunk) => boolean;
}

export interface ValidationResult {
  readonly verdict: Verdict;
  readonly chunk?: Chunk;
}

/** The chunk envelope's version byte follows its type byte (protocol/messages/chunk.ts). */
const CHUNK_VERSION_OFFSET = 1;

export function validateChunk(data: Uint8Array, from: string, ctx: ValidationContext): ValidationResult {
  // 1. size
  if (data.length > MAX_GOSSIP_MESSAGE_BYTES) return { verdict: reject('MSG_TOO_LARGE') };
  // 2–3. decoding, version; the payload type must be one this topic carries
  const d = decodeStep(data, decodeChunk, CHUNK_VERSION_OFFSET, CHUNK_VERSION);
  if ('verdict' in d) return d;
  const chunk = d.value;
  const expected = typeof ctx.expectedType === 'number' ? [ctx.expectedType] : ctx.expectedType;
  if (!expected.includes(chunk.type)) return { verdict: reject('MSG_BAD_TYPE') };
  // 4. federation
  if (chunk.federation !== ctx.federation) return { verdict: reject('MSG_WRONG_FEDERATION') };
  // 5. round. An aggregate for the round we just finished may arrive after we moved on: still
  // useful to late peers, and harmless, so ignore rather than reject.
  const when = classifyRound(chunk.round, ctx.currentRound);
  if (when === 'stale') return { verdict: ignore('ROUND_STALE') };
  if (when === 'future') return { verdict: ignore('ROUND_FUTURE') };
  // An aggregate's author is judged against the round's committee: unknown before this peer
  // opened the round (it lags the chain), and that is no fault of the sender.
  if (chunk.type === PayloadType.Aggregate && ctx.knowsCommittee?.(chunk.round) === false) return { verdict: ignore('ROUND_UNKNOWN') };
  // 6. author: the gossip signer (StrictSign), a member, and for aggregates on the committee
  if (chunk.sender !== from) return { verdict: reject('MSG_SENDER_NOT_SIGNER') };
  if (!ctx.isMember(from)) return { verdict: reject('PEER_NOT_MEMBER') };
  if (chunk.type === PayloadType.Aggregate && ctx.isCommittee !== undefined && !ctx.isCommittee(from, chunk.round)) {
    return { verdict: reject('PEER_NOT_COMMITTEE') };
  }
  // 7. replay
  if (ctx.isReplay?.(chunk) === true) return { verdict: ignore('MSG_REPLAY') };
  return { verdict: ACCEPT, chunk };
}

export interface SecAggValidationContext {
  /** The deployment every secagg signature is bound to (`deploymentBindingBytes`). */
  readonly binding: Uint8Array;
  readonly federation: string;
  readonly currentRound: number;
  readonly isMember: (peer: string) => boolean;
  /** The secure-aggregation committee of `round`, in position order; empty when not known here. */
  readonly committee: (round: number) => readonly string[];
  /** Ed25519 verification against a peer id's identity key. */
  readonly verify: IdentityVerify;
  /** Step 7: is this message (same kind, round, sender and bytes) already held? */
  readonly isReplay?: (m: SecAggMessage, data: Uint8Array) => boolean;
}

export interface SecAggValidationResult {
  readonly verdict: Verdict;
  readonly message?: SecAggMessage;
}

/** The secagg envelope's version byte follows its kind byte (protocol/messages/secagg.ts). */
const SECAGG_VERSION_OFFSET = 1;

export function validateSecAggMessage(data: Uint8Array, from: string, ctx: SecAggValidationContext): SecAggValidationResult {
  // 1. size
  if (data.length > MAX_SECAGG_MESSAGE_BYTES) return { verdict: reject('MSG_TOO_LARGE') };
  // 2–3. decoding, version
  const d = decodeStep(data, decodeSecAgg, SECAGG_VERSION_OFFSET, SECAGG_MESSAGE_VERSION);
  if ('verdict' in d) return d;
  const m = d.value;
  // 4. federation
  if (m.federation !== ctx.federation) return { verdict: reject('MSG_WRONG_FEDERATION') };
  // 5. round and stage. Result signatures follow the recording, so they may reach a peer that
  // has already moved on: keep the just-finished round's (an auditor's quorum evidence),
  // ignore older ones. Every kind is judged against the round's committee, so the committee
  // must be known here (a peer that has not opened the round cannot blame the sender).
  const when = classifyRound(m.round, ctx.currentRound);
  const lateResult = m.kind === SecAggKind.Result && m.round === ctx.currentRound - 1;
  if (when === 'stale' && !lateResult) return { verdict: ignore('ROUND_STALE') };
  if (when === 'future') return { verdict: ignore('ROUND_FUTURE') };
  // Key advertisements need no committee (every participant advertises), so they are taken
  // even before this peer has opened the round: dropping them would lose them for good.
  const committee = ctx.committee(m.round);
  if (committee.length === 0 && m.kind !== SecAggKind.AdvertiseKeys) return { verdict: ignore('ROUND_UNKNOWN') };
  // 6. author and signatures
  if (m.sender !== from) return { verdict: reject('MSG_SENDER_NOT_SIGNER') };
  if (!ctx.isMember(from)) return { verdict: reject('PEER_NOT_MEMBER') };
  const scope = { binding: ctx.binding, federation: m.federation, round: m.round };
  try {
    switch (m.kind) {
      case SecAggKind.AdvertiseKeys:
        verifyAdvert(ctx.binding, m, ctx.verify);
        break;
      case SecAggKind.ShareKeys:
        if (m.shares.some((s) => !committee.includes(s.recipient))) return { verdict: reject('SECAGG_NOT_COMMITTEE') };
        break;
      case SecAggKind.View:
        checkView(m.view, scope, committee, ctx.verify);
        break;
      case SecAggKind.Proposal:
        if (!committee.includes(m.sender)) return { verdict: reject('PEER_NOT_COMMITTEE') };
        for (const v of m.views) checkView(v, scope, committee, ctx.verify);
        break;
      case SecAggKind.KeySetProposal:
      case SecAggKind.Reveal:
        if (!committee.includes(m.sender)) return { verdict: reject('PEER_NOT_COMMITTEE') };
        break;
      case SecAggKind.KeySetEndorse:
        checkEndorsement(scope, CertPhase.KeySet, m, committee, ctx.verify);
        break;
      case SecAggKind.LockEndorse:
        checkEndorsement(scope, CertPhase.Lock, m, committee, ctx.verify);
        break;
      case SecAggKind.Result:
        if (!committee.includes(m.sender)) return { verdict: reject('PEER_NOT_COMMITTEE') };
        if (!ctx.verify(m.sender, resultStatement(scope, m.result), m.signature)) return { verdict: reject('SECAGG_BAD_SIGNATURE') };
        break;
      case SecAggKind.Complaint:
      case SecAggKind.LockRefuse:
      case SecAggKind.LockRelease:
        // Liveness evidence (issue 13, H8 F6–F7): signatures and roles, certify.ts `checkLivenessEvidence`.
        checkLivenessEvidence(scope, m, committee, ctx.verify);
        break;
    }
  } catch (e) {
    if (e instanceof SecAggError) return { verdict: reject(e.code === 'SECAGG_NOT_COMMITTEE' ? 'PEER_NOT_COMMITTEE' : e.code) };
    throw e;
  }
  // 7. replay
  if (ctx.isReplay?.(m, data) === true) return { verdict: ignore('MSG_REPLAY') };
  return { verdict: ACCEPT, message: m };
}

export interface FinalizeValidationContext {
  readonly federation: string;
  /** Committee of `round` as peer ids; undefined when this peer has not opened the round. */
  readonly committeeOf: (round: number) => readonly string[] | undefined;
  /** Registered account (EVM address) of a member's peer id. */
  readonly addressOf: (peer: string) => string | undefined;
  /**
   * Does `signature` over `digest` recover `account`? (secp256k1 ecrecover, injected so this
   * module stays free of the chain library; false for a malformed signature.)
   */
  readonly verifyRecord: (account: string, digest: Uint8Array, signature: Uint8Array) => boolean;
  /** Step 7: is this exact signature already held? */
  readonly isReplay?: (m: FinalizeSignature) => boolean;
}

export interface FinalizeValidationResult {
  readonly verdict: Verdict;
  readonly message?: FinalizeSignature;
}

/** The finalize message starts with its version byte (protocol/messages/finalize.ts). */
const FINALIZE_VERSION_OFFSET = 0;

/** Committee members' EIP-712 round-record signatures on `/fedmesh/<federation>/finalize/1`. */
export function validateFinalizeSignature(data: Uint8Array, from: string, ctx: FinalizeValidationContext): FinalizeValidationResult {
  // 1. size
  if (data.length > MAX_FINALIZE_MESSAGE_BYTES) return { verdict: reject('MSG_TOO_LARGE') };
  // 2–3. decoding, version
  const d = decodeStep(data, decodeFinalizeSignature, FINALIZE_VERSION_OFFSET, FINALIZE_SIGNATURE_VERSION);
  if ('verdict' in d) return d;
  const msg = d.value;
  // 4. federation
  if (msg.federation !== ctx.federation) return { verdict: reject('MSG_WRONG_FEDERATION') };
  // 5. round: one this peer has opened (or not yet forgotten); otherwise it cannot judge the author
  const committee = ctx.committeeOf(msg.round);
  if (committee === undefined) return { verdict: ignore('ROUND_UNKNOWN') };
  // 6. author: the gossip signer, on the round's committee, a registered member whose
  // account signed the record digest
  if (msg.author !== from) return { verdict: reject('MSG_SENDER_NOT_SIGNER') };
  if (!committee.includes(msg.author)) return { verdict: reject('PEER_NOT_COMMITTEE') };
  const account = ctx.addressOf(msg.author);
  if (account === undefined) return { verdict: reject('PEER_NOT_MEMBER') };
  if (!ctx.verifyRecord(account, msg.digest, msg.signature)) return { verdict: reject('FINALIZE_BAD_SIGNATURE') };
  // 7. replay
  if (ctx.isReplay?.(msg) === true) return { verdict: ignore('MSG_REPLAY') };
  return { verdict: ACCEPT, message: msg };
}
