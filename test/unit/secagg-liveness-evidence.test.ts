/**
 * Gossip validation and inbox storage of the liveness evidence kinds (Complaint 10, LockRefuse 11,
 * LockRelease 12; committee-member.ts "Complaints" and "Refusals and release"): only the round's
 * committee sends them, every signature they carry verifies under this deployment and round, a
 * refusal's evidence is two different views by one member, a release never carries its own
 * sender's refusal nor endorses the digest it releases; the inbox keeps one complaint per
 * (sender, accused) and one refusal or release per (sender, digest), and a different message in
 * the same slot is equivocation.
 */
import { describe, expect, it } from 'vitest';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { SecAggInbox } from '../../node/services/secagg-inbox.js';
import {
  CertPhase,
  type ComplaintMsg,
  ComplaintReason,
  complaintStatement,
  encodeSecAgg,
  endorseStatement,
  type LockRefuseMsg,
  type LockReleaseMsg,
  SecAggKind,
  type SecAggMessage,
  type SignedView,
  type ViewEntry,
  viewStatement,
} from '../../protocol/messages/secagg.js';
import { topicFor } from '../../protocol/messages/topics.js';
import { validateSecAggMessage } from '../../protocol/validate.js';
import { testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const h = (b: number) => new Uint8Array(32).fill(b);
const scope = { binding: TEST_BINDING, federation: 'demo', round: 4 };
const base = { federation: 'demo', round: 4 };
const committee = ['bob', 'carol', 'erin'];

const complaint = (sender: string, accused: string, s = scope): ComplaintMsg => ({
  ...base,
  kind: SecAggKind.Complaint,
  sender,
  accused,
  reason: ComplaintReason.BadShare,
  signature: testSign(sender)(complaintStatement(s, sender, accused, ComplaintReason.BadShare)),
});
const signedView = (member: string, entries: readonly ViewEntry[]): SignedView => ({
  member,
  keySet: h(14),
  entries,
  signature: testSign(member)(viewStatement(scope, member, h(14), entries)),
});
const full = signedView('erin', [
  { participant: 'alice', inputHash: h(1) },
  { participant: 'dave', inputHash: h(2) },
]);
const omitting = signedView('erin', [{ participant: 'alice', inputHash: h(1) }]);
const refuse = (sender: string, digest: Uint8Array, evidence: SignedView[] = []): LockRefuseMsg => ({
  ...base,
  kind: SecAggKind.LockRefuse,
  sender,
  digest,
  signature: testSign(sender)(endorseStatement(scope, CertPhase.Refuse, digest)),
  evidence,
});
const release = (sender: string, released: Uint8Array, digest: Uint8Array, refusers: string[]): LockReleaseMsg => ({
  ...base,
  kind: SecAggKind.LockRelease,
  sender,
  released,
  digest,
  signature: testSign(sender)(endorseStatement(scope, CertPhase.Lock, digest)),
  refusals: refusers.map((member) => ({ member, signature: testSign(member)(endorseStatement(scope, CertPhase.Refuse, released)) })),
});

const ctx = {
  binding: TEST_BINDING,
  federation: 'demo',
  currentRound: 4,
  isMember: (p: string) => p !== 'mallory',
  committee: () => committee,
  verify: testVerify,
};
const v = (m: SecAggMessage, from = m.sender) => validateSecAggMessage(encodeSecAgg(m), from, ctx).verdict;
const ACCEPT = { action: 'accept', code: 'OK' };

describe('liveness evidence: gossip validation', () => {
  it('accepts a complaint, a refusal with equivocation evidence, a bare refusal and a release from committee members', () => {
    expect(v(complaint('bob', 'alice'))).toEqual(ACCEPT);
    expect(v(refuse('carol', h(16), [full, omitting]))).toEqual(ACCEPT);
    expect(v(refuse('carol', h(16)))).toEqual(ACCEPT);
    expect(v(release('bob', h(16), h(17), ['carol', 'erin']))).toEqual(ACCEPT);
  });

  it('rejects them from outside the committee, with a signature for another round or deployment, or forged', () => {
    expect(v(complaint('alice', 'dave'))).toEqual({ action: 'reject', code: 'PEER_NOT_COMMITTEE' });
    expect(v(complaint('bob', 'alice', { ...scope, round: 3 }))).toEqual({ action: 'reject', code: 'SECAGG_BAD_SIGNATURE' });
    expect(v(complaint('bob', 'alice', { ...scope, binding: new Uint8Array(52) }))).toEqual({
      action: 'reject',
      code: 'SECAGG_BAD_SIGNATURE',
    });
    expect(v({ ...complaint('bob', 'alice'), accused: 'dave' })).toEqual({ action: 'reject', code: 'SECAGG_BAD_SIGNATURE' });
    expect(v({ ...refuse('carol', h(16)), digest: h(18) })).toEqual({ action: 'reject', code: 'SECAGG_BAD_SIGNATURE' });
    // A complaint is signed by its sender only: re-sent under another member's name it is refused.
    expect(v({ ...complaint('bob', 'alice'), sender: 'carol' }, 'carol')).toEqual({ action: 'reject', code: 'SECAGG_BAD_SIGNATURE' });
  });

  it('refusal evidence must be two different, valid views by one member', () => {
    expect(v(refuse('carol', h(16), [full, full]))).toEqual({ action: 'reject', code: 'SECAGG_BAD_PROPOSAL' });
    expect(v(refuse('carol', h(16), [full, { ...omitting, signature: new Uint8Array(64) }]))).toEqual({
      action: 'reject',
      code: 'SECAGG_BAD_SIGNATURE',
    });
    // Views by two members are not an equivocation: refused by the encoder and the decoder alike.
    expect(() => encodeSecAgg(refuse('carol', h(16), [full, signedView('bob', omitting.entries)]))).toThrow(/MSG_BAD_FIELD/);
  });

  it('a release: its refusals must verify, never include its sender, and it cannot endorse the lock it releases', () => {
    expect(v(release('bob', h(16), h(17), ['bob', 'carol']))).toEqual({ action: 'reject', code: 'SECAGG_BAD_SIGNATURE' });
    const forged = release('bob', h(16), h(17), ['carol', 'erin']);
    expect(v({ ...forged, refusals: [forged.refusals[0]!, { member: 'erin', signature: new Uint8Array(64) }] })).toEqual({
      action: 'reject',
      code: 'SECAGG_BAD_SIGNATURE',
    });
    expect(v(release('bob', h(16), h(16), ['carol', 'erin']))).toEqual({ action: 'reject', code: 'SECAGG_BAD_PROPOSAL' });
  });
});

describe('liveness evidence: the inbox', () => {
  it('keeps one complaint per (sender, accused) and one refusal or release per (sender, digest); a different one in a slot is equivocation', async () => {
    const hub = new MemoryGossipHub();
    const bob = hub.join('bob');
    const dave = hub.join('dave');
    const inbox = new SecAggInbox(dave, {
      binding: TEST_BINDING,
      federation: 'demo',
      isMember: () => true,
      committee: () => committee,
      verify: testVerify,
    });
    inbox.start();
    inbox.setRound(4);
    const topic = topicFor('demo', 'secagg');
    const send = (m: SecAggMessage) => bob.publish(topic, encodeSecAgg(m));
    await send(complaint('bob', 'alice'));
    await send(complaint('bob', 'dave')); // another accused: a second slot
    await send(refuse('bob', h(16)));
    await send(refuse('bob', h(18))); // another lock: a second slot
    await send(refuse('bob', h(16), [full, omitting])); // same slot, different bytes: equivocation
    await send(release('bob', h(16), h(17), ['carol', 'erin']));
    await send(release('bob', h(18), h(19), ['carol', 'erin']));
    await hub.settle();
    expect(Object.fromEntries(dave.verdicts)).toEqual({ 'accept:OK': 6, 'reject:SECAGG_EQUIVOCATION': 1 });
    expect(inbox.messages(4, SecAggKind.Complaint).map((c) => c.accused)).toEqual(['alice', 'dave']);
    expect(inbox.count(4, SecAggKind.LockRefuse)).toBe(2);
    expect(inbox.messages(4, SecAggKind.LockRelease).map((r) => r.digest)).toEqual([h(17), h(19)]);
  });

  it('at most m refusals per sender and round (a bound on memory)', async () => {
    const hub = new MemoryGossipHub();
    const bob = hub.join('bob');
    const dave = hub.join('dave');
    const inbox = new SecAggInbox(dave, {
      binding: TEST_BINDING,
      federation: 'demo',
      isMember: () => true,
      committee: () => committee,
      verify: testVerify,
    });
    inbox.start();
    inbox.setRound(4);
    const topic = topicFor('demo', 'secagg');
    for (let d = 20; d < 20 + committee.length + 1; d++) await bob.publish(topic, encodeSecAgg(refuse('bob', h(d))));
    await hub.settle();
    expect(Object.fromEntries(dave.verdicts)).toEqual({ 'accept:OK': committee.length, 'reject:SECAGG_DUPLICATE': 1 });
    expect(inbox.count(4, SecAggKind.LockRefuse)).toBe(committee.length);
  });
});
