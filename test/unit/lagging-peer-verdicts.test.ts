/**
 * A peer that lags the chain (it has not opened round r + 1 yet, so round r + 1's committee is
 * unknown here) must not REJECT an honest committee member's aggregate for that round: a REJECT
 * lowers the forwarding peer's gossipsub score for a fault that is this peer's own state
 * (issue #6/#9; protocol/validate.ts step 5). It IGNOREs it ROUND_UNKNOWN; once the round is
 * opened here, a non-committee author is still REJECTed PEER_NOT_COMMITTEE.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash256 } from '../../protocol/bytes.js';
import { type Chunk, encodeChunk, PayloadType } from '../../protocol/messages/chunk.js';
import { validateChunk, type ValidationContext } from '../../protocol/validate.js';

const aggregate = (round: number, sender: string): Chunk => ({
  type: PayloadType.Aggregate,
  federation: 'demo',
  round,
  sender,
  payloadHash: hash256(new Uint8Array([9])),
  payloadLength: 3,
  chunkIndex: 0,
  chunkCount: 1,
  data: new Uint8Array([1, 2, 3]),
});

/** A peer at round `current` that opened rounds up to `opened`; committee of every opened round: {alice}. */
function ctxAt(current: number, opened: number): ValidationContext {
  return {
    federation: 'demo',
    currentRound: current,
    expectedType: PayloadType.Aggregate,
    isMember: (p) => p === 'alice' || p === 'bob',
    // As node/peer.ts wires it: an unopened round's committee is empty.
    isCommittee: (p, r) => r <= opened && p === 'alice',
    knowsCommittee: (r) => r <= opened,
  };
}

describe('aggregates of a round this peer has not opened', () => {
  it('IGNORE ROUND_UNKNOWN (not REJECT PEER_NOT_COMMITTEE) for the next round before it is opened here', () => {
    const verdict = validateChunk(encodeChunk(aggregate(4, 'alice')), 'alice', ctxAt(3, 3)).verdict;
    expect(verdict).toEqual({ action: 'ignore', code: 'ROUND_UNKNOWN' });
  });

  it('once opened here: the committee member is accepted, anyone else REJECTed PEER_NOT_COMMITTEE', () => {
    expect(validateChunk(encodeChunk(aggregate(4, 'alice')), 'alice', ctxAt(3, 4)).verdict).toEqual({ action: 'accept', code: 'OK' });
    expect(validateChunk(encodeChunk(aggregate(4, 'bob')), 'bob', ctxAt(3, 4)).verdict).toEqual({
      action: 'reject',
      code: 'PEER_NOT_COMMITTEE',
    });
  });

  it('a round further ahead is IGNOREd ROUND_FUTURE', () => {
    expect(validateChunk(encodeChunk(aggregate(6, 'alice')), 'alice', ctxAt(3, 3)).verdict).toEqual({
      action: 'ignore',
      code: 'ROUND_FUTURE',
    });
  });

  it('no round and no author gets a REJECT for a committee this peer does not know', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom('alice', 'bob'),
        (current, ahead, author) => {
          const round = current + (ahead % 2);
          // This peer opened rounds up to current − 1 + `ahead > 1`: current may be unopened too.
          const opened = current - 1 + (ahead > 1 ? 1 : 0);
          const v = validateChunk(encodeChunk(aggregate(round, author)), author, ctxAt(current, opened)).verdict;
          if (round > opened) expect(v).toEqual({ action: 'ignore', code: 'ROUND_UNKNOWN' });
          else expect(v.code).not.toBe('ROUND_UNKNOWN');
        },
      ),
    );
  });
});
