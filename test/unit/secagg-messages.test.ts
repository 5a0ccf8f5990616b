/**
 * Secure-aggregation wire formats (protocol/messages/secagg.ts, masked-input.ts, update.ts
 * v2) and their gossip validation (protocol/validate.ts `validateSecAggMessage`, the
 * SecAggInbox's equivocation rule): round trips, typed decode errors, verdicts with reasons.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash256 } from '../../protocol/bytes.js';
import { decodeChunk, encodeChunk, PayloadType } from '../../protocol/messages/chunk.js';
import { decodeMaskedInput, encodeMaskedInput } from '../../protocol/messages/masked-input.js';
import {
  decodeSecAgg,
  encodeSecAgg,
  resultStatement,
  SecAggKind,
  type SecAggMessage,
  viewStatement,
} from '../../protocol/messages/secagg.js';
import { topicFor } from '../../protocol/messages/topics.js';
import { decodeAnyAggregate, encodeAggregate, encodeSecureAggregate } from '../../protocol/messages/update.js';
import { createAdvert, generateRoundKeys } from '../../protocol/secure-aggregation/round-keys.js';
import { validateChunk, validateSecAggMessage } from '../../protocol/validate.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { SecAggInbox } from '../../node/services/secagg-inbox.js';
import { codeOf, crypto, entropies, testSign, testVerify } from './secagg-helpers.js';

const h = (b: number) => new Uint8Array(32).fill(b);
const ent = entropies('messages');
const advert = createAdvert('demo', 4, 'alice', generateRoundKeys(crypto, ent('alice')), testSign('alice'));
const entries = [
  { participant: 'alice', inputHash: h(1) },
  { participant: 'bob', inputHash: h(2) },
];
const view = (member: string) => ({ member, entries, signature: testSign(member)(viewStatement('demo', 4, member, entries)) });
const base = { federation: 'demo', round: 4 };
const samples: SecAggMessage[] = [
  advert,
  {
    ...base,
    kind: SecAggKind.ShareKeys,
    sender: 'alice',
    selfMaskCommitment: h(3),
    shares: [
      { recipient: 'bob', nonce: new Uint8Array(12).fill(4), ciphertext: new Uint8Array(81).fill(5) },
      { recipient: 'carol', nonce: new Uint8Array(12).fill(6), ciphertext: new Uint8Array(81).fill(7) },
    ],
  },
  { ...base, kind: SecAggKind.View, sender: 'bob', view: view('bob') },
  { ...base, kind: SecAggKind.Proposal, sender: 'bob', survivors: ['alice'], dropped: ['dave'], views: [view('bob'), view('carol')] },
  {
    ...base,
    kind: SecAggKind.Reveal,
    sender: 'carol',
    proposal: h(8),
    selfMaskShares: [{ participant: 'alice', x: 3, y: h(9) }],
    keyShares: [{ participant: 'dave', x: 3, y: h(10) }],
  },
  {
    ...base,
    kind: SecAggKind.Result,
    sender: 'carol',
    result: { prevModelHash: h(11), modelHash: h(12), participantsHash: h(13), totalSamples: 455 },
    signature: testSign('carol')(
      resultStatement('demo', 4, { prevModelHash: h(11), modelHash: h(12), participantsHash: h(13), totalSamples: 455 }),
    ),
  },
];

describe('secagg message codec', () => {
  it('round-trips every kind', () => {
    for (const m of samples) expect(decodeSecAgg(encodeSecAgg(m))).toEqual(m);
    expect(topicFor('demo', 'secagg')).toBe('/fedmesh/demo/secagg/1');
  });

  it('decode errors are typed', () => {
    const bytes = encodeSecAgg(samples[2]!);
    expect(codeOf(() => decodeSecAgg(Uint8Array.from([9, ...bytes.subarray(1)])))).toBe('MSG_BAD_TYPE');
    expect(codeOf(() => decodeSecAgg(Uint8Array.from([bytes[0]!, 2, ...bytes.subarray(2)])))).toBe('MSG_BAD_VERSION');
    expect(codeOf(() => decodeSecAgg(Uint8Array.from([...bytes, 0])))).toBe('MSG_TRAILING_BYTES');
    expect(codeOf(() => decodeSecAgg(bytes.subarray(0, bytes.length - 1)))).toBe('MSG_TRUNCATED');
    expect(codeOf(() => decodeSecAgg(new Uint8Array(1024 * 1024 + 1)))).toBe('MSG_TOO_LARGE');
    // Lists must be strictly sorted: canonical bytes, no duplicates.
    const unsorted = { ...samples[2]!, view: { ...view('bob'), entries: [...entries].reverse() } } as SecAggMessage;
    expect(codeOf(() => encodeSecAgg(unsorted))).toBe('MSG_BAD_FIELD');
    expect(codeOf(() => encodeSecAgg({ ...samples[3]!, survivors: ['b', 'a'] } as SecAggMessage))).toBe('MSG_BAD_FIELD');
  });

  it('never decodes garbage into a half-filled message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const c = codeOf(() => decodeSecAgg(b));
        expect(c === 'none' || c.startsWith('MSG_')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('masked inputs and secure aggregates round-trip; v1 aggregates still decode', () => {
    const masked = Uint32Array.from([0, 1, 0xffffffff, 12345]);
    const p = { baseModelHash: h(1), neighbours: ['a', 'b'], masked };
    const back = decodeMaskedInput(encodeMaskedInput(p), 4);
    expect([...back.masked]).toEqual([...masked]);
    expect(back.neighbours).toEqual(['a', 'b']);
    expect(codeOf(() => decodeMaskedInput(encodeMaskedInput(p), 5))).toBe('MSG_BAD_SHAPE');
    expect(codeOf(() => encodeMaskedInput({ ...p, neighbours: ['b', 'a'] }))).toBe('MSG_BAD_FIELD');
    const weights = { tensors: [{ shape: [2], data: Float32Array.from([1, 2]) }] };
    const v2 = decodeAnyAggregate(encodeSecureAggregate({ prevModelHash: h(2), totalSamples: 99, participants: entries, weights }));
    expect(v2).toMatchObject({ version: 2, totalSamples: 99, participants: entries });
    const v1 = decodeAnyAggregate(
      encodeAggregate({ prevModelHash: h(2), participants: [{ participant: 'a', sampleCount: 3, updateHash: h(4) }], weights }),
    );
    expect(v1.version).toBe(1);
    const chunk = decodeChunk(
      encodeChunk({
        type: PayloadType.MaskedInput,
        federation: 'demo',
        round: 1,
        sender: 'a',
        payloadHash: h(5),
        payloadLength: 3,
        chunkIndex: 0,
        chunkCount: 1,
        data: new Uint8Array(3),
      }),
    );
    expect(chunk.type).toBe(PayloadType.MaskedInput);
  });
});

describe('secagg gossip validation', () => {
  const committee = ['bob', 'carol', 'erin'];
  const ctx = {
    federation: 'demo',
    currentRound: 4,
    isMember: (p: string) => p !== 'mallory',
    committee: () => committee,
    verify: testVerify,
  };
  const v = (m: SecAggMessage, from = m.sender, over: Partial<typeof ctx> = {}) =>
    validateSecAggMessage(encodeSecAgg(m), from, { ...ctx, ...over }).verdict;

  it('accepts well-formed messages from the right roles', () => {
    for (const m of samples) expect(v(m)).toEqual({ action: 'accept', code: 'OK' });
  });

  it('rejects or ignores with a reason code', () => {
    expect(v(samples[0]!, 'bob')).toEqual({ action: 'reject', code: 'MSG_SENDER_NOT_SIGNER' });
    expect(v(samples[0]!, 'alice', { federation: 'other' })).toEqual({ action: 'reject', code: 'MSG_WRONG_FEDERATION' });
    expect(v(samples[0]!, 'alice', { currentRound: 5 })).toEqual({ action: 'ignore', code: 'ROUND_STALE' });
    expect(v(samples[0]!, 'alice', { currentRound: 2 })).toEqual({ action: 'ignore', code: 'ROUND_FUTURE' });
    expect(v(samples[0]!, 'alice', { isMember: () => false })).toEqual({ action: 'reject', code: 'PEER_NOT_MEMBER' });
    expect(v({ ...advert, maskKey: h(1) })).toEqual({ action: 'reject', code: 'SECAGG_BAD_SIGNATURE' });
    // A share addressed to someone outside the round's committee.
    expect(v(samples[1]!, 'alice', { committee: () => ['bob', 'erin'] })).toEqual({ action: 'reject', code: 'SECAGG_NOT_COMMITTEE' });
    expect(v({ ...samples[2]!, sender: 'alice', view: view('alice') } as SecAggMessage)).toEqual({
      action: 'reject',
      code: 'PEER_NOT_COMMITTEE',
    });
    expect(v({ ...samples[4]!, sender: 'alice' } as SecAggMessage)).toEqual({ action: 'reject', code: 'PEER_NOT_COMMITTEE' });
    const forgedView = { ...samples[2]!, view: { ...view('bob'), signature: view('carol').signature } } as SecAggMessage;
    expect(v(forgedView)).toEqual({ action: 'reject', code: 'SECAGG_BAD_SIGNATURE' });
    const badResult = { ...samples[5]!, result: { ...(samples[5] as { result: object }).result, totalSamples: 456 } } as SecAggMessage;
    expect(v(badResult)).toEqual({ action: 'reject', code: 'SECAGG_BAD_SIGNATURE' });
    // A proposal whose proof includes a view by a non-member of the committee.
    expect(v({ ...samples[3]!, views: [view('alice'), view('bob')] } as SecAggMessage)).toEqual({
      action: 'reject',
      code: 'PEER_NOT_COMMITTEE',
    });
    // The last round's result signatures are still accepted; older ones are stale.
    expect(v(samples[5]!, 'carol', { currentRound: 5 })).toEqual({ action: 'accept', code: 'OK' });
    expect(v(samples[5]!, 'carol', { currentRound: 6 })).toEqual({ action: 'ignore', code: 'ROUND_STALE' });
  });

  it('the inbox rejects a second, different message of one kind from one sender (equivocation)', async () => {
    const hub = new MemoryGossipHub();
    const alice = hub.join('alice');
    const bobGossip = hub.join('bob');
    const inbox = new SecAggInbox(bobGossip, { federation: 'demo', isMember: () => true, committee: () => committee, verify: testVerify });
    inbox.start();
    inbox.setRound(4);
    const topic = topicFor('demo', 'secagg');
    await alice.publish(topic, encodeSecAgg(advert));
    await alice.publish(topic, encodeSecAgg(advert)); // the same bytes: a replay, IGNOREd (no penalty, not forwarded)
    const other = createAdvert('demo', 4, 'alice', generateRoundKeys(crypto, ent('alice-2')), testSign('alice'));
    await alice.publish(topic, encodeSecAgg(other));
    await hub.settle();
    expect(Object.fromEntries(bobGossip.verdicts)).toEqual({ 'accept:OK': 1, 'ignore:MSG_REPLAY': 1, 'reject:SECAGG_EQUIVOCATION': 1 });
    expect(inbox.messages(4, SecAggKind.AdvertiseKeys)).toEqual([advert]);
    expect(hash256(encodeSecAgg(advert))).not.toEqual(hash256(encodeSecAgg(other)));
  });

  it('the update topic carries plaintext updates and masked inputs, nothing else', () => {
    const chunk = (type: PayloadType) =>
      encodeChunk({
        type,
        federation: 'demo',
        round: 4,
        sender: 'alice',
        payloadHash: h(1),
        payloadLength: 3,
        chunkIndex: 0,
        chunkCount: 1,
        data: new Uint8Array(3),
      });
    const c = { federation: 'demo', currentRound: 4, expectedType: [PayloadType.Update, PayloadType.MaskedInput], isMember: () => true };
    expect(validateChunk(chunk(PayloadType.MaskedInput), 'alice', c).verdict.action).toBe('accept');
    expect(validateChunk(chunk(PayloadType.Update), 'alice', c).verdict.action).toBe('accept');
    expect(validateChunk(chunk(PayloadType.Aggregate), 'alice', c).verdict).toEqual({ action: 'reject', code: 'MSG_BAD_TYPE' });
  });
});
