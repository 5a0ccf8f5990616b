import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash256 } from '../../protocol/bytes.js';
import { Reassembler, splitPayload } from '../../protocol/chunking.js';
import { isFedmeshError } from '../../protocol/errors.js';
import { type Chunk, decodeChunk, encodeChunk, PayloadType } from '../../protocol/messages/chunk.js';
import { MessageError } from '../../protocol/messages/errors.js';
import { MAX_GOSSIP_MESSAGE_BYTES } from '../../protocol/messages/limits.js';
import { topicFor } from '../../protocol/messages/topics.js';
import { decodeAggregate, decodeUpdate, encodeAggregate, encodeUpdate } from '../../protocol/messages/update.js';
import { createRng, shuffleInPlace } from '../../protocol/rng.js';
import { validateChunk, type ValidationContext } from '../../protocol/validate.js';

const weights = {
  tensors: [
    { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) },
    { shape: [2], data: Float32Array.from([5, 6]) },
  ],
};
const base = hash256(new Uint8Array([1]));
const chunk = (over: Partial<Chunk> = {}): Chunk => ({
  type: PayloadType.Update,
  federation: 'demo',
  round: 3,
  sender: 'peerA',
  payloadHash: hash256(new Uint8Array([9])),
  payloadLength: 3,
  chunkIndex: 0,
  chunkCount: 1,
  data: new Uint8Array([1, 2, 3]),
  ...over,
});

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isFedmeshError(e) ? e.code : `untyped:${String(e)}`;
  }
  return 'none';
}

describe('topics', () => {
  it('carry the federation and the message version', () => {
    expect(topicFor('demo', 'update')).toBe('/fedmesh/demo/update/1');
    expect(topicFor('demo', 'aggregate')).toBe('/fedmesh/demo/aggregate/1');
  });
});

describe('chunk envelope', () => {
  it('round-trips', () => {
    const c = chunk();
    expect(decodeChunk(encodeChunk(c))).toEqual({ ...c });
  });

  it('rejects wrong version, type, length and field values with typed codes', () => {
    const good = encodeChunk(chunk());
    const m = (f: (b: Uint8Array) => void) => {
      const b = good.slice();
      f(b);
      return b;
    };
    expect(codeOf(() => decodeChunk(m((b) => (b[1] = 2))))).toBe('MSG_BAD_VERSION');
    expect(codeOf(() => decodeChunk(m((b) => (b[0] = 9))))).toBe('MSG_BAD_TYPE');
    expect(codeOf(() => decodeChunk(good.subarray(0, good.length - 1)))).toBe('MSG_TRUNCATED');
    const extra = new Uint8Array(good.length + 1);
    extra.set(good);
    expect(codeOf(() => decodeChunk(extra))).toBe('MSG_TRAILING_BYTES');
    expect(codeOf(() => decodeChunk(new Uint8Array(MAX_GOSSIP_MESSAGE_BYTES + 1)))).toBe('MSG_TOO_LARGE');
    expect(codeOf(() => decodeChunk(encodeChunk(chunk({ round: 0 }))))).toBe('MSG_BAD_FIELD');
    expect(codeOf(() => decodeChunk(encodeChunk(chunk({ chunkIndex: 1, chunkCount: 1 }))))).toBe('MSG_BAD_CHUNK');
    expect(codeOf(() => decodeChunk(encodeChunk(chunk({ sender: '' }))))).toBe('MSG_BAD_FIELD');
  });

  it('decodes random bytes only to a value or a MessageError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          decodeChunk(b);
        } catch (e) {
          expect(e).toBeInstanceOf(MessageError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('update and aggregate payloads', () => {
  it('round-trip', () => {
    const u = decodeUpdate(encodeUpdate({ baseModelHash: base, sampleCount: 57, weights }), weights);
    expect(u.sampleCount).toBe(57);
    expect(u.baseModelHash).toEqual(base);
    expect(Array.from(u.weights.tensors[1]!.data)).toEqual([5, 6]);
    const a = decodeAggregate(
      encodeAggregate({ prevModelHash: base, participants: [{ participant: 'p1', sampleCount: 3, updateHash: base }], weights }),
      weights,
    );
    expect(a.participants).toEqual([{ participant: 'p1', sampleCount: 3, updateHash: base }]);
  });

  it('rejects a wrong shape, a bad version and a zero sample count', () => {
    const other = {
      tensors: [
        { shape: [4], data: new Float32Array(4) },
        { shape: [2], data: new Float32Array(2) },
      ],
    };
    const enc = encodeUpdate({ baseModelHash: base, sampleCount: 5, weights });
    expect(codeOf(() => decodeUpdate(enc, other))).toBe('MSG_BAD_SHAPE');
    const v1 = enc.slice();
    v1[0] = 1; // v1 carried no DP declaration (UpdatePayload v2)
    expect(codeOf(() => decodeUpdate(v1))).toBe('MSG_BAD_VERSION');
    const zero = enc.slice();
    new DataView(zero.buffer).setUint32(33, 0, true);
    expect(codeOf(() => decodeUpdate(zero))).toBe('MSG_BAD_FIELD');
    expect(codeOf(() => decodeUpdate(enc.subarray(0, 20)))).toBe('MSG_TRUNCATED');
    const dup = encodeAggregate({
      prevModelHash: base,
      participants: [
        { participant: 'p1', sampleCount: 3, updateHash: base },
        { participant: 'p2', sampleCount: 3, updateHash: base },
      ],
      weights,
    });
    // Rename p2 → p1: a participant listed twice.
    const i = dup.indexOf(0x32, 33 + 2 + 2 + 2 + 4 + 32 + 2 + 1);
    dup[i] = 0x31;
    expect(codeOf(() => decodeAggregate(dup))).toBe('MSG_BAD_FIELD');
  });
});

describe('validation order and verdicts', () => {
  const ctx: ValidationContext = {
    federation: 'demo',
    currentRound: 3,
    expectedType: PayloadType.Update,
    isMember: (p) => p === 'peerA',
  };
  const v = (c: Chunk, from = 'peerA', x: Partial<ValidationContext> = {}) => validateChunk(encodeChunk(c), from, { ...ctx, ...x }).verdict;

  it('accepts a member’s chunk for the current or next round', () => {
    expect(v(chunk())).toEqual({ action: 'accept', code: 'OK' });
    expect(v(chunk({ round: 4 })).action).toBe('accept');
  });

  it('rejects or ignores with reason codes', () => {
    expect(validateChunk(new Uint8Array([1]), 'peerA', ctx).verdict).toEqual({ action: 'reject', code: 'MSG_TRUNCATED' });
    expect(v(chunk({ federation: 'other' }))).toEqual({ action: 'reject', code: 'MSG_WRONG_FEDERATION' });
    expect(v(chunk({ round: 2 }))).toEqual({ action: 'ignore', code: 'ROUND_STALE' });
    expect(v(chunk({ round: 9 }))).toEqual({ action: 'ignore', code: 'ROUND_FUTURE' });
    expect(v(chunk(), 'peerB')).toEqual({ action: 'reject', code: 'MSG_SENDER_NOT_SIGNER' });
    expect(v(chunk({ sender: 'peerB' }), 'peerB')).toEqual({ action: 'reject', code: 'PEER_NOT_MEMBER' });
    expect(v(chunk({ type: PayloadType.Aggregate }))).toEqual({ action: 'reject', code: 'MSG_BAD_TYPE' });
    expect(v(chunk({ type: PayloadType.Aggregate }), 'peerA', { expectedType: PayloadType.Aggregate, isCommittee: () => false })).toEqual({
      action: 'reject',
      code: 'PEER_NOT_COMMITTEE',
    });
  });
});

describe('chunking', () => {
  const header = { type: PayloadType.Update, federation: 'demo', round: 1, sender: 'peerA' };

  it('reassembles any payload from chunks in any order, with duplicates', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 5000 }),
        fc.integer({ min: 1, max: 700 }),
        fc.integer(),
        (payload, size, seed) => {
          const chunks = splitPayload(payload, header, size);
          expect(chunks.every((c) => c.data.length <= size)).toBe(true);
          expect(chunks.length).toBe(Math.ceil(payload.length / size));
          const order = shuffleInPlace([...chunks, chunks[0]!], createRng(seed));
          const r = new Reassembler();
          let done: Uint8Array | undefined;
          for (const c of order) {
            const res = r.add(decodeChunk(encodeChunk(c)));
            if (res.status === 'complete') done = res.payload;
          }
          expect(done).toEqual(payload);
          expect(r.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('detects a tampered chunk by the whole-payload hash', () => {
    const chunks = splitPayload(new Uint8Array(100).fill(7), header, 40);
    const r = new Reassembler();
    r.add(chunks[0]!);
    r.add(chunks[1]!);
    const bad = { ...chunks[2]!, data: new Uint8Array(chunks[2]!.data.length).fill(8) };
    expect(codeOf(() => r.add(bad))).toBe('MSG_HASH_MISMATCH');
  });

  it('bounds payloads in flight per sender and frees old rounds', () => {
    const r = new Reassembler({ maxPendingPerSender: 2, maxBufferedBytes: 1000 });
    const part = (n: number) => splitPayload(new Uint8Array(50).fill(n), header, 10)[0]!;
    r.add(part(1));
    r.add(part(2));
    expect(codeOf(() => r.add(part(3)))).toBe('MSG_BAD_CHUNK');
    expect(r.pendingCount).toBe(2);
    r.dropRoundsBefore(2);
    expect(r.pendingCount).toBe(0);
    expect(r.bufferedBytes).toBe(0);
  });

  it('rejects chunks that disagree about the payload', () => {
    const chunks = splitPayload(new Uint8Array(30), header, 10);
    const r = new Reassembler();
    r.add(chunks[0]!);
    expect(codeOf(() => r.add({ ...chunks[1]!, chunkCount: 4 }))).toBe('MSG_BAD_CHUNK');
  });
});
