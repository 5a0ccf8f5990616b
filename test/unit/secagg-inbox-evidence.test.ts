/**
 * The secagg inbox's evidence records of the liveness kinds (node/services/secagg-evidence.ts,
 * issue 13 #13): every accepted complaint, refusal and release — received or our own — is one
 * structured record (`event: 'complaint' | 'lock-refusal' | 'lock-release'`) in the log and in
 * `liveness`, with what an auditor needs to check it (signer, signature, the digests of an
 * equivocator's two signed view statements); a refusal's two views are also one `equivocation`
 * record per (round, member). Bad ones are REJECTed with a stable code before anything is
 * recorded: forged or cross-deployment signatures, senders outside the round's committee, a
 * complaint accusing a non-member, oversized bytes.
 */
import { describe, expect, it } from 'vitest';
import { hash256, toHex0x } from '../../protocol/bytes.js';
import { MAX_SECAGG_MESSAGE_BYTES } from '../../protocol/messages/limits.js';
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
import type { Logger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { SecAggInbox } from '../../node/services/secagg-inbox.js';
import { testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const h = (b: number) => new Uint8Array(32).fill(b);
const scope = { binding: TEST_BINDING, federation: 'demo', round: 4 };
const base = { federation: 'demo', round: 4 };
const committee = ['bob', 'carol', 'erin'];
const members = new Set(['alice', 'bob', 'carol', 'dave', 'erin']);

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

/** A logger that keeps every record. */
function recordingLog(): Logger & { records: { level: string; obj: Record<string, unknown> }[] } {
  const records: { level: string; obj: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (obj: Record<string, unknown>): void => {
      records.push({ level, obj });
    };
  const log = { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger & {
    records: typeof records;
  };
  (log as unknown as { child: () => Logger }).child = () => log;
  return log;
}

function setup() {
  const hub = new MemoryGossipHub();
  const senders = new Map(['alice', 'bob', 'carol', 'erin', 'mallory'].map((id) => [id, hub.join(id)]));
  const dave = hub.join('dave');
  const log = recordingLog();
  const inbox = new SecAggInbox(dave, {
    binding: TEST_BINDING,
    federation: 'demo',
    isMember: (p) => members.has(p),
    committee: () => committee,
    verify: testVerify,
    log,
  });
  inbox.start();
  inbox.setRound(4);
  const topic = topicFor('demo', 'secagg');
  const send = (m: SecAggMessage, from = m.sender) => senders.get(from)!.publish(topic, encodeSecAgg(m));
  return { hub, dave, inbox, log, send, topic, senders };
}

describe('secagg inbox: liveness evidence records', () => {
  it('a complaint, a refusal with two views, a bare refusal and a release: one record each, in the log and in memory', async () => {
    const { hub, dave, inbox, log, send } = setup();
    await send(complaint('bob', 'alice'));
    await send(refuse('carol', h(16), [full, omitting]));
    await send(refuse('bob', h(16)));
    await send(release('erin', h(16), h(17), ['bob', 'carol']));
    await hub.settle();
    expect(Object.fromEntries(dave.verdicts)).toEqual({ 'accept:OK': 4 });
    const hex = (b: Uint8Array) => toHex0x(b);
    const statement = (v: SignedView) => viewStatement(scope, v.member, v.keySet, v.entries);
    expect(inbox.liveness).toEqual([
      {
        event: 'complaint',
        round: 4,
        member: 'bob',
        accused: 'alice',
        reason: 'bad-share',
        signature: hex(complaint('bob', 'alice').signature),
      },
      {
        event: 'lock-refusal',
        round: 4,
        member: 'carol',
        lock: hex(h(16)),
        signature: hex(refuse('carol', h(16)).signature),
        equivocator: 'erin',
        views: [full, omitting].map((v) => ({
          member: 'erin',
          keySet: hex(h(14)),
          entries: v.entries.length,
          statementSha256: hex(hash256(statement(v))).slice(2),
          statementBytes: statement(v).length,
          signature: hex(v.signature),
        })),
      },
      { event: 'lock-refusal', round: 4, member: 'bob', lock: hex(h(16)), signature: hex(refuse('bob', h(16)).signature) },
      {
        event: 'lock-release',
        round: 4,
        member: 'erin',
        released: hex(h(16)),
        lock: hex(h(17)),
        signature: hex(release('erin', h(16), h(17), []).signature),
        refusers: ['bob', 'carol'],
      },
    ]);
    // The log holds the same records (warn: someone misbehaved; info: a release), and the
    // refusal's two views as one equivocation record against erin.
    const events = log.records.filter((r) => r.obj.event !== undefined).map((r) => [r.level, r.obj.event]);
    expect(events).toEqual([
      ['warn', 'complaint'],
      ['warn', 'lock-refusal'],
      ['warn', 'equivocation'],
      ['warn', 'lock-refusal'],
      ['info', 'lock-release'],
    ]);
    expect(inbox.evidence).toEqual([
      {
        kind: 'secagg-View',
        round: 4,
        sender: 'erin',
        first: { sha256: hex(hash256(statement(full))).slice(2), bytes: statement(full).length },
        second: { sha256: hex(hash256(statement(omitting))).slice(2), bytes: statement(omitting).length },
      },
    ]);
  });

  it('our own published complaints and refusals are recorded too; the same equivocation carried by two refusals is one equivocation record', async () => {
    const { hub, inbox, senders, topic } = setup();
    await inbox.publish({
      ...refuse('dave', h(20), [full, omitting]),
      signature: testSign('dave')(endorseStatement(scope, CertPhase.Refuse, h(20))),
    });
    await senders.get('carol')!.publish(topic, encodeSecAgg(refuse('carol', h(20), [omitting, full])));
    await hub.settle();
    expect(inbox.liveness.map((e) => [e.event, e.member])).toEqual([
      ['lock-refusal', 'dave'],
      ['lock-refusal', 'carol'],
    ]);
    expect(inbox.evidence.map((e) => [e.kind, e.sender])).toEqual([['secagg-View', 'erin']]);
  });

  it('REJECTs bad ones with a stable code and records nothing: forged, other deployment, outside the committee, accusing a non-member, oversized', async () => {
    const { hub, dave, inbox, send, senders, topic } = setup();
    await send({ ...complaint('bob', 'alice'), accused: 'dave' }); // signature over another accused
    await send(complaint('bob', 'alice', { ...scope, binding: new Uint8Array(52) })); // another deployment
    await send(complaint('alice', 'dave')); // a participant, not on the committee
    await send(refuse('mallory', h(16)), 'mallory'); // not a member at all
    await send(complaint('bob', 'zed')); // a validly signed complaint about nobody in the federation
    await send(release('erin', h(16), h(17), ['bob', 'erin'])); // its own refusal among the evidence
    const big = new Uint8Array(MAX_SECAGG_MESSAGE_BYTES + 1);
    big.set(encodeSecAgg(complaint('bob', 'alice')));
    await senders.get('bob')!.publish(topic, big);
    await hub.settle();
    expect(Object.fromEntries(dave.verdicts)).toEqual({
      'reject:SECAGG_BAD_SIGNATURE': 3,
      'reject:PEER_NOT_COMMITTEE': 1,
      'reject:PEER_NOT_MEMBER': 1,
      'reject:SECAGG_COMPLAINT_NOT_MEMBER': 1,
      'reject:MSG_TOO_LARGE': 1,
    });
    expect(inbox.liveness).toEqual([]);
    expect(inbox.count(4, SecAggKind.Complaint)).toBe(0);
  });
});
