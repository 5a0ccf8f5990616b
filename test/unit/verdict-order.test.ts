/**
 * The validation pipeline's order (protocol/validate.ts, issue #9): size → decoding → version →
 * federation → round and stage → signature by a registered member → replay. A message with
 * several defects gets the verdict of its earliest failing step, for every combination of
 * defects (fast-check over subsets), on all three gossip validators: chunks (update and
 * aggregate topics), secure-aggregation messages and finalize signatures.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, hash256, utf8 } from '../../protocol/bytes.js';
import { type Chunk, encodeChunk, PayloadType } from '../../protocol/messages/chunk.js';
import { encodeFinalizeSignature } from '../../protocol/messages/finalize.js';
import { MAX_GOSSIP_MESSAGE_BYTES } from '../../protocol/messages/limits.js';
import { encodeSecAgg, SecAggKind, type SecAggMessage } from '../../protocol/messages/secagg.js';
import { createAdvert, generateRoundKeys } from '../../protocol/secure-aggregation/round-keys.js';
import { VERDICT_STEP, ValidationStep, validateChunk, validateFinalizeSignature, validateSecAggMessage } from '../../protocol/validate.js';
import type { Verdict } from '../../protocol/verdict.js';
import { crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const S = ValidationStep;
const NUM_RUNS = Number(process.env.FUZZ_RUNS_UNIT ?? 300);

/** One defect per step; `variant` picks among the ways a step can fail. */
interface Defects {
  readonly size: boolean;
  readonly decode: boolean;
  readonly version: boolean;
  readonly federation: boolean;
  readonly round: 'none' | 'future' | 'stale';
  readonly signature: 'none' | 'not-signer' | 'non-member' | 'bad-signature';
  readonly replay: boolean;
}

const defectsArb: fc.Arbitrary<Defects> = fc.record({
  size: fc.boolean(),
  decode: fc.boolean(),
  version: fc.boolean(),
  federation: fc.boolean(),
  round: fc.constantFrom('none', 'future', 'stale'),
  signature: fc.constantFrom('none', 'not-signer', 'non-member', 'bad-signature'),
  replay: fc.boolean(),
});

function firstStep(d: Defects): ValidationStep | undefined {
  if (d.size) return S.Size;
  if (d.decode) return S.Decode;
  if (d.version) return S.Version;
  if (d.federation) return S.Federation;
  if (d.round !== 'none') return S.RoundStage;
  if (d.signature !== 'none') return S.Signature;
  if (d.replay) return S.Replay;
  return undefined;
}

/** Byte-level defects: version byte, a truncated frame, and padding beyond the size limit. */
function mangle(bytes: Uint8Array, d: Defects, versionOffset: number, maxBytes: number): Uint8Array {
  let b = bytes.slice();
  if (d.version) b[versionOffset] = (b[versionOffset]! + 1) & 0xff;
  if (d.decode) b = b.subarray(0, b.length - 1);
  if (d.size) b = concatBytes([b, new Uint8Array(maxBytes + 1 - b.length)]);
  return b;
}

function expectStep(v: Verdict, step: ValidationStep | undefined): void {
  if (step === undefined) {
    expect(v).toEqual({ action: 'accept', code: 'OK' });
    return;
  }
  expect(VERDICT_STEP[v.code], `verdict ${v.action}:${v.code}`).toBe(step);
  // Only failures this peer can pin on the sender are penalised.
  if (step === S.RoundStage || step === S.Replay) expect(v.action).toBe('ignore');
  else expect(v.action).toBe('reject');
}

describe('chunk validation order (update and aggregate topics)', () => {
  const current = 3;
  const validate = (d: Defects): Verdict => {
    const sender = d.signature === 'non-member' ? 'mallory' : 'alice';
    const from = d.signature === 'not-signer' ? 'bob' : sender;
    const c: Chunk = {
      type: PayloadType.Aggregate,
      federation: d.federation ? 'other' : 'demo',
      round: d.round === 'future' ? current + 5 : d.round === 'stale' ? current - 2 : current,
      sender,
      payloadHash: hash256(utf8('payload')),
      payloadLength: 7,
      chunkIndex: 0,
      chunkCount: 1,
      data: utf8('payload'),
    };
    const bytes = mangle(encodeChunk(c), d, 1, MAX_GOSSIP_MESSAGE_BYTES);
    return validateChunk(bytes, from, {
      federation: 'demo',
      currentRound: current,
      expectedType: PayloadType.Aggregate,
      isMember: (p) => p !== 'mallory',
      // 'bad-signature' for a chunk: the author lacks the role (gossipsub checked the signature itself)
      isCommittee: () => d.signature !== 'bad-signature',
      isReplay: () => d.replay,
    }).verdict;
  };

  it('named cases', () => {
    const none: Defects = {
      size: false,
      decode: false,
      version: false,
      federation: false,
      round: 'none',
      signature: 'none',
      replay: false,
    };
    expect(validate(none)).toEqual({ action: 'accept', code: 'OK' });
    // An oversized message with a bad author is rejected for its size.
    expect(validate({ ...none, size: true, signature: 'non-member' })).toEqual({ action: 'reject', code: 'MSG_TOO_LARGE' });
    // A valid-size, undecodable message with a wrong version is rejected for decoding.
    expect(validate({ ...none, decode: true, version: true })).toEqual({ action: 'reject', code: 'MSG_TRUNCATED' });
    expect(validate({ ...none, version: true, federation: true })).toEqual({ action: 'reject', code: 'MSG_BAD_VERSION' });
    expect(validate({ ...none, federation: true, round: 'future' })).toEqual({ action: 'reject', code: 'MSG_WRONG_FEDERATION' });
    // An old round from a non-member is ignored: this peer cannot judge a forgotten round's roles.
    expect(validate({ ...none, round: 'stale', signature: 'non-member' })).toEqual({ action: 'ignore', code: 'ROUND_STALE' });
    expect(validate({ ...none, signature: 'not-signer', replay: true })).toEqual({ action: 'reject', code: 'MSG_SENDER_NOT_SIGNER' });
    expect(validate({ ...none, replay: true })).toEqual({ action: 'ignore', code: 'MSG_REPLAY' });
  });

  it('every combination of defects gets the earliest failing step’s verdict', () => {
    fc.assert(
      fc.property(defectsArb, (d) => expectStep(validate(d), firstStep(d))),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('secure-aggregation message validation order', () => {
  const current = 4;
  const ent = entropies('verdict-order');
  const keys = generateRoundKeys(crypto, ent('alice'));
  const validate = (d: Defects): Verdict => {
    const sender = d.signature === 'non-member' ? 'mallory' : 'alice';
    const from = d.signature === 'not-signer' ? 'bob' : sender;
    const round = d.round === 'future' ? current + 5 : d.round === 'stale' ? current - 2 : current;
    const advert = createAdvert(
      { binding: TEST_BINDING, federation: d.federation ? 'other' : 'demo', round },
      sender,
      keys,
      testSign(sender),
    );
    const m: SecAggMessage = d.signature === 'bad-signature' ? { ...advert, signature: new Uint8Array(advert.signature.length) } : advert;
    const bytes = mangle(encodeSecAgg(m), d, 1, MAX_GOSSIP_MESSAGE_BYTES);
    return validateSecAggMessage(bytes, from, {
      binding: TEST_BINDING,
      federation: 'demo',
      currentRound: current,
      isMember: (p) => p !== 'mallory',
      committee: () => ['bob', 'carol', 'erin'],
      verify: testVerify,
      isReplay: () => d.replay,
    }).verdict;
  };

  it('every combination of defects gets the earliest failing step’s verdict', () => {
    fc.assert(
      fc.property(defectsArb, (d) => expectStep(validate(d), firstStep(d))),
      { numRuns: NUM_RUNS },
    );
  });

  it('a committee message for a round whose committee is not known here is ignored, not rejected', () => {
    const ctx = {
      binding: TEST_BINDING,
      federation: 'demo',
      currentRound: current,
      isMember: (p: string) => p !== 'mallory',
      committee: () => [] as string[],
      verify: testVerify,
    };
    const view: SecAggMessage = {
      kind: SecAggKind.View,
      federation: 'demo',
      round: current,
      sender: 'bob',
      view: { member: 'bob', keySet: new Uint8Array(32), entries: [], signature: new Uint8Array(64) },
    };
    expect(validateSecAggMessage(encodeSecAgg(view), 'bob', ctx).verdict).toEqual({ action: 'ignore', code: 'ROUND_UNKNOWN' });
    // Key advertisements need no committee: taken before the round is opened here, so none is lost.
    const advert = createAdvert({ binding: TEST_BINDING, federation: 'demo', round: current }, 'alice', keys, testSign('alice'));
    expect(validateSecAggMessage(encodeSecAgg(advert), 'alice', ctx).verdict).toEqual({ action: 'accept', code: 'OK' });
  });
});

describe('finalize-signature validation order', () => {
  const digest = hash256(utf8('record'));
  const goodSig = new Uint8Array(65).fill(1);
  const validate = (d: Defects): Verdict => {
    const author = d.signature === 'non-member' ? 'mallory' : 'alice';
    const from = d.signature === 'not-signer' ? 'bob' : author;
    const bytes = mangle(
      encodeFinalizeSignature({
        federation: d.federation ? 'other' : 'demo',
        round: d.round !== 'none' ? 9 : 2,
        author,
        digest,
        signature: d.signature === 'bad-signature' ? new Uint8Array(65).fill(2) : goodSig,
      }),
      d,
      0,
      512,
    );
    return validateFinalizeSignature(bytes, from, {
      federation: 'demo',
      committeeOf: (r) => (r === 2 ? ['alice', 'bob', 'mallory'] : undefined),
      addressOf: (p) => (p === 'mallory' ? undefined : `acct-${p}`),
      verifyRecord: (account, dg, sig) => account === 'acct-alice' && dg.length === 32 && sig[0] === 1,
      isReplay: () => d.replay,
    }).verdict;
  };

  it('every combination of defects gets the earliest failing step’s verdict', () => {
    fc.assert(
      fc.property(defectsArb, (d) => expectStep(validate(d), firstStep(d))),
      { numRuns: NUM_RUNS },
    );
  });
});
