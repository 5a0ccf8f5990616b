/**
 * Gossip validation of chunk envelopes, in the order STYLE.md and the threat model fix:
 * size → decode → version → federation → round → author (signature is checked by gossipsub
 * StrictSign before this; here: the envelope's sender must be the signer, and a member) →
 * role (aggregates only from the round's committee). Replays are deduplicated by gossipsub's
 * seen-cache (content-addressed message ids) and by the reassembler.
 */
import { type Chunk, decodeChunk, PayloadType } from './messages/chunk.js';
import { MessageError } from './messages/errors.js';
import { MAX_GOSSIP_MESSAGE_BYTES } from './messages/limits.js';
import { classifyRound } from './round.js';
import { ACCEPT, ignore, reject, type Verdict } from './verdict.js';

export interface ValidationContext {
  readonly federation: string;
  /** The round this peer is working on. */
  readonly currentRound: number;
  readonly expectedType: PayloadType;
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
  if (chunk.type !== ctx.expectedType) return { verdict: reject('MSG_BAD_TYPE') };
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
