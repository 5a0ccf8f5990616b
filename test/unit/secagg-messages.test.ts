/**
 * Secure-aggregation wire formats (protocol/messages/secagg.ts, masked-input.ts, update.ts
 * v2) and their gossip validation (protocol/validate.ts `validateSecAggMessage`, the
 * SecAggInbox's equivocation rule): round trips, typed decode errors, verdicts with reasons.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash256 } from '../../protocol/bytes.js';
import { decodeChunk, encodeChunk, PayloadType } from '../../protocol/messages/chunk.js';
import { splitPayload } from '../../protocol/chunking.js';
import { decodeMaskedInput, encodeMaskedInput, MASKED_INPUT_PAYLOAD_VERSION } from '../../protocol/messages/masked-input.js';
import {
  CertPhase,
  decodeSecAgg,
  encodeSecAgg,
  endorseStatement,
  resultStatement,
  SecAggKind,
  type SecAggMessage,
  viewStatement,
} from '../../protocol/messages/secagg.js';
import { topicFor } from '../../protocol/messages/topics.js';
import { decodeAnyAggregate, decodeUpdate, encodeAggregate, encodeSecureAggregate, encodeUpdate } from '../../protocol/messages/update.js';
import { declaredSpend, encodeDpParams, NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { createAdvert, generateRoundKeys } from '../../protocol/secure-aggregation/round-keys.js';
import { validateChunk, validateSecAggMessage } from '../../protocol/validate.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { SecAggInbox } from '../../node/services/secagg-inbox.js';
import { RoundInbox } from '../../node/services/round-inbox.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { codeOf, config, crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { certifyKeySet, setupRound, shareKeys, TEST_BINDING } from './secagg-round-harness.js';

const h = (b: number) => new Uint8Array(32).fill(b);
const ent = entropies('messages');
const scope = { binding: TEST_BINDING, federation: 'demo', round: 4 };
const advert = createAdvert(scope, 'alice', generateRoundKeys(crypto, ent('alice')), testSign('alice'));
const entries = [
  { participant: 'alice', inputHash: h(1) },
  { participant: 'bob', inputHash: h(2) },
];
const view = (member: string) => ({
  member,
  keySet: h(14),
  entries,
  signature: testSign(member)(viewStatement(scope, member, h(14), entries)),
});
const endorsement = <K extends SecAggKind.KeySetEndorse | SecAggKind.LockEndorse>(kind: K, sender: string, digest: Uint8Array) => ({
  federation: 'demo',
  round: 4,
  kind,
  sender,
  digest,
  signature: testSign(sender)(endorseStatement(scope, kind === SecAggKind.KeySetEndorse ? CertPhase.KeySet : CertPhase.Lock, digest)),
});
const base = { federation: 'demo', round: 4 };
const samples: SecAggMessage[] = [
  advert,
  {
    ...base,
    kind: SecAggKind.ShareKeys,
    sender: 'alice',
    selfMaskCommitment: h(3),
    shares: [
      {
        recipient: 'bob',
        recipientKey: new Uint8Array(32).fill(0x14),
        nonce: new Uint8Array(12).fill(4),
        ciphertext: new Uint8Array(81).fill(5),
      },
      {
        recipient: 'carol',
        recipientKey: new Uint8Array(32).fill(0x15),
        nonce: new Uint8Array(12).fill(6),
        ciphertext: new Uint8Array(81).fill(7),
      },
    ],
  },
  { ...base, kind: SecAggKind.View, sender: 'bob', view: view('bob') },
  {
    ...base,
    kind: SecAggKind.Proposal,
    sender: 'bob',
    turn: 0,
    keySet: h(14),
    survivors: ['alice'],
    dropped: ['dave'],
    views: [view('bob'), view('carol')],
  },
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
      resultStatement(scope, { prevModelHash: h(11), modelHash: h(12), participantsHash: h(13), totalSamples: 455 }),
    ),
  },
  { ...base, kind: SecAggKind.KeySetProposal, sender: 'bob', turn: 1, advertised: ['alice', 'bob', 'dave'], shared: ['alice', 'dave'] },
  endorsement(SecAggKind.KeySetEndorse, 'carol', h(15)),
  endorsement(SecAggKind.LockEndorse, 'erin', h(16)),
];

/** An inbox on `gossip` for federation 'demo', at round 4, every peer a member, `committee` every round's. */
function roundFourInbox(gossip: ConstructorParameters<typeof SecAggInbox>[0], committee: readonly string[]): SecAggInbox {
  const inbox = new SecAggInbox(gossip, {
    binding: TEST_BINDING,
    federation: 'demo',
    isMember: () => true,
    committee: () => committee,
    verify: testVerify,
  });
  inbox.start();
  inbox.setRound(4);
  return inbox;
}

describe('secagg message codec', () => {
  it('round-trips every kind', () => {
    for (const m of samples) expect(decodeSecAgg(encodeSecAgg(m))).toEqual(m);
    expect(topicFor('demo', 'secagg')).toBe('/fedmesh/demo/secagg/1');
  });

  it('decode errors are typed', () => {
    const bytes = encodeSecAgg(samples[2]!);
    expect(codeOf(() => decodeSecAgg(Uint8Array.from([13, ...bytes.subarray(1)])))).toBe('MSG_BAD_TYPE'); // 10–12: liveness evidence
    // v1 (before certified phases) is refused: its statements were not bound to the deployment.
    expect(codeOf(() => decodeSecAgg(Uint8Array.from([bytes[0]!, 1, ...bytes.subarray(2)])))).toBe('MSG_BAD_VERSION');
    expect(codeOf(() => encodeSecAgg({ ...samples[6]!, shared: ['zed'] } as SecAggMessage))).toBe('MSG_BAD_FIELD');
    expect(codeOf(() => encodeSecAgg({ ...samples[3]!, turn: 1000 } as SecAggMessage))).toBe('MSG_BAD_FIELD');
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
    binding: TEST_BINDING,
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
    // Certificates: proposals and endorsements only from the committee, endorsements signed for this deployment.
    expect(v({ ...samples[6]!, sender: 'alice' } as SecAggMessage)).toEqual({ action: 'reject', code: 'PEER_NOT_COMMITTEE' });
    expect(v({ ...samples[7]!, digest: h(99) } as SecAggMessage)).toEqual({ action: 'reject', code: 'SECAGG_BAD_SIGNATURE' });
    expect(v(samples[8]!, 'erin', { binding: new Uint8Array(52) })).toEqual({ action: 'reject', code: 'SECAGG_BAD_SIGNATURE' });
    expect(v(endorsement(SecAggKind.LockEndorse, 'alice', h(16)))).toEqual({ action: 'reject', code: 'PEER_NOT_COMMITTEE' });
  });

  it('the inbox rejects a second, different message of one kind from one sender (equivocation)', async () => {
    const hub = new MemoryGossipHub();
    const alice = hub.join('alice');
    const bobGossip = hub.join('bob');
    const inbox = roundFourInbox(bobGossip, committee);
    const topic = topicFor('demo', 'secagg');
    await alice.publish(topic, encodeSecAgg(advert));
    await alice.publish(topic, encodeSecAgg(advert)); // the same bytes: a replay, IGNOREd (no penalty, not forwarded)
    const other = createAdvert(scope, 'alice', generateRoundKeys(crypto, ent('alice-2')), testSign('alice'));
    await alice.publish(topic, encodeSecAgg(other));
    await hub.settle();
    expect(Object.fromEntries(bobGossip.verdicts)).toEqual({ 'accept:OK': 1, 'ignore:MSG_REPLAY': 1, 'reject:SECAGG_EQUIVOCATION': 1 });
    expect(inbox.messages(4, SecAggKind.AdvertiseKeys)).toEqual([advert]);
    expect(hash256(encodeSecAgg(advert))).not.toEqual(hash256(encodeSecAgg(other)));
  });

  it('key-set messages are kept per turn (H8 F6): one proposal per (sender, turn), one endorsement per (sender, digest)', async () => {
    const hub = new MemoryGossipHub();
    const bob = hub.join('bob');
    const carol = hub.join('carol');
    const dave = hub.join('dave');
    const inbox = roundFourInbox(dave, committee);
    const topic = topicFor('demo', 'secagg');
    const p1 = samples[6]! as Extract<SecAggMessage, { kind: SecAggKind.KeySetProposal }>;
    const later = { ...p1, turn: p1.turn + committee.length, advertised: ['alice', 'bob', 'carol', 'dave'] };
    await bob.publish(topic, encodeSecAgg(p1));
    await bob.publish(topic, encodeSecAgg(later)); // bob leads again: a new turn, accepted
    await bob.publish(topic, encodeSecAgg({ ...p1, shared: ['alice'] })); // a second, different turn-1 proposal
    await carol.publish(topic, encodeSecAgg(endorsement(SecAggKind.KeySetEndorse, 'carol', h(15))));
    await carol.publish(topic, encodeSecAgg(endorsement(SecAggKind.KeySetEndorse, 'carol', h(17)))); // a later turn's key set
    await carol.publish(topic, encodeSecAgg(endorsement(SecAggKind.LockEndorse, 'carol', h(16))));
    await carol.publish(topic, encodeSecAgg(endorsement(SecAggKind.LockEndorse, 'carol', h(18)))); // locks: one per round
    await hub.settle();
    expect(Object.fromEntries(dave.verdicts)).toEqual({ 'accept:OK': 5, 'reject:SECAGG_EQUIVOCATION': 2 });
    expect(inbox.messages(4, SecAggKind.KeySetProposal)).toEqual([p1, later]);
    expect(inbox.messages(4, SecAggKind.KeySetEndorse).map((e) => (e as { digest: Uint8Array }).digest)).toEqual([h(15), h(17)]);
    expect(inbox.messages(4, SecAggKind.LockEndorse).map((e) => (e as { digest: Uint8Array }).digest)).toEqual([h(16)]);
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

describe('declarations in signed submissions (DP parameters and the entry signature for the round record; no bucket)', () => {
  const dp = encodeDpParams({ sampleRate: 0.04, noiseMultiplier: 1.2, clipNorm: 1.5, steps: 75 });
  /** Offsets in MaskedInputPayload v3: version 1 | base 32 | dpParams 32 | entrySignature 65. */
  const DP_AT = 33;
  const SIG_AT = 65;
  const sig = new Uint8Array(65).map((_, i) => i + 1);
  const base = { baseModelHash: h(1), neighbours: ['a', 'b'], masked: Uint32Array.from([7, 8, 9, 10]) };

  it('a masked input carries its declared dpParams and entry signature through encoding, and no bucket', () => {
    const bytes = encodeMaskedInput({ ...base, dpParams: dp, entrySignature: sig });
    const back = decodeMaskedInput(bytes, 4);
    expect(back.dpParams).toBe(dp);
    expect([...back.entrySignature]).toEqual([...sig]);
    expect([...bytes.subarray(SIG_AT, SIG_AT + 65)]).toEqual([...sig]);
    expect('bucket' in back).toBe(false);
    expect(declaredSpend(back.dpParams)).toBe(declaredSpend(dp));
    const none = decodeMaskedInput(encodeMaskedInput(base));
    expect([none.dpParams, none.entrySignature.every((b) => b === 0)]).toEqual([NO_DP_PARAMS, true]);
    expect(bytes[0]).toBe(MASKED_INPUT_PAYLOAD_VERSION);
    expect(MASKED_INPUT_PAYLOAD_VERSION).toBe(3);
    const v2 = bytes.slice();
    v2[0] = 2;
    expect(codeOf(() => decodeMaskedInput(v2))).toBe('MSG_BAD_VERSION');
    expect(codeOf(() => encodeMaskedInput({ ...base, entrySignature: new Uint8Array(64) }))).toBe('MSG_BAD_FIELD');
  });

  it('malformed declarations are refused by the decoder with MSG_BAD_FIELD naming the field', () => {
    const good = encodeMaskedInput({ ...base, dpParams: dp });
    const fieldOf = (bytes: Uint8Array): unknown => {
      try {
        decodeMaskedInput(bytes);
      } catch (e) {
        expect((e as { code: string }).code).toBe('MSG_BAD_FIELD');
        return (e as { fields: { field: string } }).fields.field;
      }
      return 'accepted';
    };
    // q = 0 (the low 64 bits of the word are the sampling rate).
    const zeroQ = good.slice();
    zeroQ.fill(0, DP_AT + 24, DP_AT + 32);
    expect(fieldOf(zeroQ)).toBe('dpParams');
    // q > 1 (1e15 units is q = 1).
    const bigQ = good.slice();
    new DataView(bigQ.buffer).setBigUint64(DP_AT + 24, 1_000_000_000_000_001n);
    expect(fieldOf(bigQ)).toBe('dpParams');
    // σ = 0: bits 64..95.
    const zeroSigma = good.slice();
    zeroSigma.fill(0, DP_AT + 20, DP_AT + 24);
    expect(fieldOf(zeroSigma)).toBe('dpParams');
    // Bits above 160 set.
    const high = good.slice();
    high[DP_AT] = 1;
    expect(fieldOf(high)).toBe('dpParams');
    // Steps = 0: bits 128..159.
    const zeroSteps = good.slice();
    zeroSteps.fill(0, DP_AT + 12, DP_AT + 16);
    expect(fieldOf(zeroSteps)).toBe('dpParams');
    expect(fieldOf(good)).toBe('accepted');
    // The encoder refuses what the decoder would.
    expect(codeOf(() => encodeMaskedInput({ ...base, dpParams: 1n << 200n }))).toBe('MSG_BAD_FIELD');
  });

  it('a participant declares the DP parameters and entry signature it is given, and masks with the certified U_2', () => {
    const r = setupRound({ n: 4, m: 3, t: 3, config: config({ committeeSize: 3, threshold: 3, maliciousMembers: 1 }) });
    shareKeys(r);
    const ks = certifyKeySet(r);
    const payload = r.participants.get('peer-000')!.maskInput([0.5, -0.25], 300, h(3), ks, dp, sig);
    expect([payload.dpParams, [...payload.entrySignature]]).toEqual([dp, [...sig]]);
    expect(payload.neighbours).toEqual(['peer-001', 'peer-002', 'peer-003']);
    const plain = r.participants.get('peer-001')!.maskInput([0.5, -0.25], 40, h(3), ks);
    expect([plain.dpParams, plain.entrySignature.every((b) => b === 0)]).toEqual([NO_DP_PARAMS, true]);
  });

  it('a plaintext update declares dpParams (its sample count gives the bucket); malformed words are refused', () => {
    const weights = { tensors: [{ shape: [2], data: Float32Array.from([1, 2]) }] };
    const u = decodeUpdate(encodeUpdate({ baseModelHash: h(1), sampleCount: 70, dpParams: dp, weights }), weights);
    expect(u.dpParams).toBe(dp);
    expect(decodeUpdate(encodeUpdate({ baseModelHash: h(1), sampleCount: 70, weights })).dpParams).toBe(NO_DP_PARAMS);
    const bad = encodeUpdate({ baseModelHash: h(1), sampleCount: 70, dpParams: dp, weights });
    bad.fill(0, 37 + 24, 37 + 32); // q = 0; dpParams starts after version 1 | base 32 | sampleCount 4
    expect(codeOf(() => decodeUpdate(bad))).toBe('MSG_BAD_FIELD');
    expect(codeOf(() => encodeUpdate({ baseModelHash: h(1), sampleCount: 70, dpParams: -1n, weights }))).toBe('MSG_BAD_FIELD');
  });

  it('the round inbox REJECTs a masked input with a malformed declaration and keeps a well-formed one with its declaration', async () => {
    const hub = new MemoryGossipHub();
    const [ga, gb, gc] = [hub.join('a'), hub.join('b'), hub.join('c')];
    const template = { tensors: [{ shape: [2], data: new Float32Array(2) }] };
    const inbox = new RoundInbox(ga!, {
      federation: 'demo',
      isMember: (p) => ['a', 'b', 'c'].includes(p),
      isCommittee: () => true,
      template,
      expectedBase: () => h(1),
      modelHash,
    });
    inbox.start();
    const topic = inbox.updateTopic;
    for (const g of [gb, gc])
      g.subscribe(
        topic,
        () => ({ action: 'accept', code: 'OK' }),
        () => {},
      );
    const send = async (from: typeof gb, payload: Uint8Array) => {
      for (const c of splitPayload(payload, { type: PayloadType.MaskedInput, federation: 'demo', round: 1, sender: from.self })) {
        await from.publish(topic, encodeChunk(c));
      }
    };
    const good = encodeMaskedInput({
      baseModelHash: h(1),
      dpParams: dp,
      neighbours: [],
      masked: Uint32Array.from([1, 2, 3, 4, 5, 6]),
    }); // 2 params + n: 3 Z_{2^64} elements
    const bad = good.slice();
    bad.fill(0, DP_AT + 24, DP_AT + 32); // q = 0
    await send(gb, bad);
    await send(gc, good);
    await hub.settle();
    expect(ga.verdicts.get('reject:MSG_BAD_FIELD')).toBe(1);
    expect(inbox.maskedInputsFor(1).has('b')).toBe(false);
    expect(inbox.maskedInputsFor(1).get('c')?.input).toMatchObject({ dpParams: dp });
    inbox.stop();
  });
});
