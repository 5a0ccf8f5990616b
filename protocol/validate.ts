/**
 * Gossip validation of chunk envelopes, in the order STYLE.md and the threat model fix:
 * size → decode → version → federation → round → author (signature is checked by gossipsub
 * StrictSign before this; here: the envelope's sender must be the signer, and a member) →
 * role (aggregates only from the round's committee). Replays are deduplicated by gossipsub's
 * seen-cache (content-addressed message ids) and by the reassembler.
 *
 * Secure-aggregation control messages (`validateSecAggMessage`) follow the same order and add
 * what can be checked without other messages: role (views, proposals, reveals and results
 * only from the round's committee; shares only addressed to it) and every Ed25519 signature
 * the message carries. Checks that need other messages (is the sender's key advertised?
 * does the share decrypt?) are the state machines' (protocol/secure-aggregation/).
 */
import { type Chunk, decodeChunk, PayloadType } from './messages/chunk.js';
import { MessageError } from './messages/errors.js';
import { MAX_GOSSIP_MESSAGE_BYTES, MAX_SECAGG_MESSAGE_BYTES } from './messages/limits.js';
import { decodeSecAgg, resultStatement, SecAggKind, type SecAggMessage } from './messages/secagg.js';
import { classifyRound } from './round.js';
import type { IdentityVerify } from './secure-aggregation/crypto.js';
import { SecAggError } from './secure-aggregation/errors.js';
import { verifyAdvert } from './secure-aggregation/round-keys.js';
import { checkView } from './secure-aggregation/views.js';
import { ACCEPT, ignore, reject, type Verdict } from './verdict.js';

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
}

export interface ValidationResult {
  readonly verdict: Verdict;
  readonly chunk?: Chunk;
}

export function validateChunk(data: Uint8Array, from: string, ctx: ValidationContext): ValidationResult {
  if (data.length > MAX_GOSSIP_MESSAGE_BYTES) return { verdict: reject('MSG_TOO_LARGE') };
  let chunk: Chunk;
  try {
    chunk = decodeChunk(data);
  } catch (e) {
    if (e instanceof MessageError) return { verdict: reject(e.code) };
    throw e;
  }
  const expected = typeof ctx.expectedType === 'number' ? [ctx.expectedType] : ctx.expectedType;
  if (!expected.includes(chunk.type)) return { verdict: reject('MSG_BAD_TYPE') };
  if (chunk.federation !== ctx.federation) return { verdict: reject('MSG_WRONG_FEDERATION') };
  const when = classifyRound(chunk.round, ctx.currentRound);
  // An aggregate for the round we just finished may arrive after we moved on: still useful
  // to late peers, and harmless, so ignore rather than reject.
  if (when === 'stale') return { verdict: ignore('ROUND_STALE') };
  if (when === 'future') return { verdict: ignore('ROUND_FUTURE') };
  if (chunk.sender !== from) return { verdict: reject('MSG_SENDER_NOT_SIGNER') };
  if (!ctx.isMember(from)) return { verdict: reject('PEER_NOT_MEMBER') };
  if (chunk.type === PayloadType.Aggregate && ctx.isCommittee !== undefined && !ctx.isCommittee(from, chunk.round)) {
    return { verdict: reject('PEER_NOT_COMMITTEE') };
  }
  return { verdict: ACCEPT, chunk };
}

export interface SecAggValidationContext {
  readonly federation: string;
  readonly currentRound: number;
  readonly isMember: (peer: string) => boolean;
  /** The secure-aggregation committee of `round`, in position order. */
  readonly committee: (round: number) => readonly string[];
  /** Ed25519 verification against a peer id's identity key. */
  readonly verify: IdentityVerify;
}

export interface SecAggValidationResult {
  readonly verdict: Verdict;
  readonly message?: SecAggMessage;
}

export function validateSecAggMessage(data: Uint8Array, from: string, ctx: SecAggValidationContext): SecAggValidationResult {
  if (data.length > MAX_SECAGG_MESSAGE_BYTES) return { verdict: reject('MSG_TOO_LARGE') };
  let m: SecAggMessage;
  try {
    m = decodeSecAgg(data);
  } catch (e) {
    if (e instanceof MessageError) return { verdict: reject(e.code) };
    throw e;
  }
  if (m.federation !== ctx.federation) return { verdict: reject('MSG_WRONG_FEDERATION') };
  const when = classifyRound(m.round, ctx.currentRound);
  // Result signatures follow the recording, so they may reach a peer that has already moved
  // on: keep the just-finished round's (an auditor's quorum evidence), ignore older ones.
  const lateResult = m.kind === SecAggKind.Result && m.round === ctx.currentRound - 1;
  if (when === 'stale' && !lateResult) return { verdict: ignore('ROUND_STALE') };
  if (when === 'future') return { verdict: ignore('ROUND_FUTURE') };
  if (m.sender !== from) return { verdict: reject('MSG_SENDER_NOT_SIGNER') };
  if (!ctx.isMember(from)) return { verdict: reject('PEER_NOT_MEMBER') };
  const committee = ctx.committee(m.round);
  try {
    switch (m.kind) {
      case SecAggKind.AdvertiseKeys:
        verifyAdvert(m, ctx.verify);
        break;
      case SecAggKind.ShareKeys:
        if (m.shares.some((s) => !committee.includes(s.recipient))) return { verdict: reject('SECAGG_NOT_COMMITTEE') };
        break;
      case SecAggKind.View:
        checkView(m.view, { federation: m.federation, round: m.round, committee, verify: ctx.verify });
        break;
      case SecAggKind.Proposal:
        if (!committee.includes(m.sender)) return { verdict: reject('PEER_NOT_COMMITTEE') };
        for (const v of m.views) checkView(v, { federation: m.federation, round: m.round, committee, verify: ctx.verify });
        break;
      case SecAggKind.Reveal:
        if (!committee.includes(m.sender)) return { verdict: reject('PEER_NOT_COMMITTEE') };
        break;
      case SecAggKind.Result:
        if (!committee.includes(m.sender)) return { verdict: reject('PEER_NOT_COMMITTEE') };
        if (!ctx.verify(m.sender, resultStatement(m.federation, m.round, m.result), m.signature))
          return { verdict: reject('SECAGG_BAD_SIGNATURE') };
        break;
    }
  } catch (e) {
    if (e instanceof SecAggError) return { verdict: reject(e.code === 'SECAGG_NOT_COMMITTEE' ? 'PEER_NOT_COMMITTEE' : e.code) };
    throw e;
  }
  return { verdict: ACCEPT, message: m };
}
