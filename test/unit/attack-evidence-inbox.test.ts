/**
 * Red team (H-red) on the node's liveness-evidence inbox (H-evidence: node/services/secagg-inbox.ts
 * now stores, and the round machine acts on, Complaint, LockRefuse and LockRelease gossip).
 *
 * Complaints are a member's word: an honest key-set leader leaves a participant out of U_2 once
 * m − t + 1 members cannot hold its share, and every member accepts that omission once c + 1
 * distinct members complained (c = 2t − m − 1 = 2 at (7, 5)). The protocol-level rule is H10's
 * attack-complaints.test.ts. Here the complaints arrive the way a node gets them — through the
 * secagg inbox's validator over gossip — and the adversary uses what the network allows: the two
 * active members (the bound at (7, 5)) flood the inbox with their own complaints (replays, other
 * reasons), sign complaints in an honest member's name, replay complaints from another round or
 * deployment, and a non-committee member, a non-member and a complaint about a made-up name join
 * in. Whatever the inbox stores is then fed to an honest member, as the round machine does
 * (machine/liveness.ts `feedComplaints`): the honest participant must stay in its U_2 (c + 1 holds
 * over the network). A control with a third complainer shows the rule does bite.
 *
 * Releases: a LockRelease counts as an endorsement of its new lock; one that carries too few
 * refusals, its sender's own refusal, or refusals of another lock must not.
 */
import { describe, expect, it } from 'vitest';
import {
  CertPhase,
  type ComplaintMsg,
  ComplaintReason,
  complaintStatement,
  encodeSecAgg,
  endorseStatement,
  type LockReleaseMsg,
  type SecAggMessage,
  SecAggKind,
  type SecAggScope,
} from '../../protocol/messages/secagg.js';
import { MAX_SECAGG_MESSAGE_BYTES } from '../../protocol/messages/limits.js';
import { scopeOf } from '../../protocol/secure-aggregation/participant.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { SecAggInbox } from '../../node/services/secagg-inbox.js';
import { codeOf, config, testSign, testVerify } from './secagg-helpers.js';
import { setupRound, shareKeys, TEST_BINDING } from './secagg-round-harness.js';

const HONEST = 'peer-000';
const ACTIVE = ['peer-005', 'peer-006'];
const VICTIM = 'peer-008';
const NON_COMMITTEE = 'peer-009';
const OUTSIDER = 'peer-999';

function complaint(scope: SecAggScope, signer: string, over: Partial<ComplaintMsg> = {}): ComplaintMsg {
  const sender = over.sender ?? signer;
  const accused = over.accused ?? VICTIM;
  const reason = over.reason ?? ComplaintReason.BadShare;
  return {
    kind: SecAggKind.Complaint,
    federation: scope.federation,
    round: scope.round,
    sender,
    accused,
    reason,
    signature: testSign(signer)(complaintStatement(scope, sender, accused, reason)),
    ...over,
  };
}

const refusal = (scope: SecAggScope, member: string, digest: Uint8Array) => ({
  member,
  signature: testSign(member)(endorseStatement(scope, CertPhase.Refuse, digest)),
});

describe('attack: complaints and releases through the node’s secagg inbox', () => {
  const setup = () => {
    const r = setupRound({ n: 10, m: 7, t: 5, config: config(), seed: 'evidence-inbox' });
    shareKeys(r);
    const scope = scopeOf(r.ctx);
    const hub = new MemoryGossipHub();
    const members = new Set([...r.parties]);
    const gossip = hub.join(HONEST);
    const inbox = new SecAggInbox(gossip, {
      binding: TEST_BINDING,
      federation: r.ctx.federation,
      isMember: (p) => members.has(p),
      committee: (round) => (round === r.ctx.round ? r.committee : []),
      verify: testVerify,
    });
    inbox.start();
    inbox.setRound(r.ctx.round);
    const senders = new Map([...ACTIVE, NON_COMMITTEE, OUTSIDER].map((id) => [id, hub.join(id)]));
    const send = async (from: string, m: SecAggMessage | Uint8Array): Promise<void> => {
      await senders.get(from)!.publish(inbox.topic, m instanceof Uint8Array ? m : encodeSecAgg(m));
    };
    return { r, scope, hub, gossip, inbox, send };
  };

  it('two active members cannot push an honest participant out of U_2 over the network (c + 1 holds)', async () => {
    const { r, scope, hub, gossip, inbox, send } = setup();
    const [a, b] = ACTIVE as [string, string];
    // Each active member's own complaint, then a flood of the same bytes. (Another reason byte is
    // not even encodable: ComplaintReason has one value, and the decoder refuses others.)
    for (const m of ACTIVE) await send(m, complaint(scope, m));
    for (let i = 0; i < 20; i++) await send(a, complaint(scope, a));
    // Complaints in honest members' names, signed by the active member, or relayed by it.
    await send(a, complaint(scope, a, { sender: 'peer-004' }));
    await send(a, complaint(scope, 'peer-004'));
    // Another round's and another deployment's complaint of an honest member, relabelled for this round.
    const otherRound = complaint({ ...scope, round: scope.round - 1 }, 'peer-003');
    await send(a, { ...otherRound, round: scope.round });
    const ownOtherRound = complaint({ ...scope, round: scope.round - 1 }, b, { accused: 'peer-007' });
    await send(b, { ...ownOtherRound, round: scope.round });
    const otherBinding = TEST_BINDING.slice();
    otherBinding[51] = (otherBinding[51] ?? 0) ^ 1;
    await send(b, complaint({ ...scope, binding: otherBinding }, b, { accused: 'peer-007' }));
    // A member outside the committee, a non-member, a made-up accused, an oversized message.
    await send(NON_COMMITTEE, complaint(scope, NON_COMMITTEE));
    await send(OUTSIDER, complaint(scope, OUTSIDER));
    await send(b, complaint(scope, b, { accused: 'ghost-participant' }));
    await send(a, new Uint8Array(MAX_SECAGG_MESSAGE_BYTES + 1));
    await hub.settle();

    const stored = inbox.messages(r.ctx.round, SecAggKind.Complaint);
    expect(stored.map((c) => `${c.sender}/${c.accused}`).sort()).toEqual([`${a}/${VICTIM}`, `${b}/${VICTIM}`]);
    const v = gossip.verdicts;
    expect(v.get('accept:OK')).toBe(2);
    expect(v.get('ignore:MSG_REPLAY')).toBe(20);
    expect(v.get('reject:MSG_SENDER_NOT_SIGNER')).toBe(3);
    expect(v.get('reject:SECAGG_BAD_SIGNATURE')).toBe(2);
    expect(v.get('reject:PEER_NOT_COMMITTEE')).toBe(1);
    expect(v.get('reject:PEER_NOT_MEMBER')).toBe(1);
    expect(v.get('reject:MSG_TOO_LARGE')).toBe(1);
    expect(v.get('reject:SECAGG_COMPLAINT_NOT_MEMBER')).toBe(1);

    // What the inbox holds, fed to an honest member as the round machine does.
    const honest = r.members.get(HONEST)!;
    for (const c of stored) honest.addComplaint(c);
    expect(honest.complainers(VICTIM)).toEqual(ACTIVE);
    expect(honest.excluded(VICTIM)).toBe(false);
    expect(honest.provablyUnusable(VICTIM)).toBe(false);
    expect(honest.proposeKeySet(0).shared).toContain(VICTIM);

    // Control: a third member's complaint (as if its share really did not open) crosses the
    // network too and makes the participant provably unusable — the rule bites at c + 1.
    const third = 'peer-004';
    await hub.join(third).publish(inbox.topic, encodeSecAgg(complaint(scope, third)));
    await hub.settle();
    const after = inbox.messages(r.ctx.round, SecAggKind.Complaint).filter((c) => c.sender === third);
    expect(after).toHaveLength(1);
    honest.addComplaint(after[0]!);
    expect(honest.provablyUnusable(VICTIM)).toBe(true);
  });

  it('a LockRelease with too few, self-signed or foreign refusals never counts as an endorsement', async () => {
    const { r, scope, hub, gossip, inbox, send } = setup();
    const [a, b] = ACTIVE as [string, string];
    const x = new Uint8Array(32).fill(1); // the lock the active member claims to release
    const y = new Uint8Array(32).fill(2); // the lock it wants endorsed a second time
    const release = (refusals: ReturnType<typeof refusal>[], released = x): LockReleaseMsg => ({
      kind: SecAggKind.LockRelease,
      federation: scope.federation,
      round: scope.round,
      sender: a,
      released,
      digest: y,
      signature: testSign(a)(endorseStatement(scope, CertPhase.Lock, y)),
      refusals: [...refusals].sort((p, q) => (p.member < q.member ? -1 : 1)),
    });
    // Its own refusal among them: refused by the inbox.
    await send(a, release([refusal(scope, a, x), refusal(scope, b, x), refusal(scope, 'peer-004', x)]));
    // Refusals of another lock: refused by the inbox (they do not verify for `released`).
    await send(a, release([refusal(scope, b, y), refusal(scope, 'peer-003', y), refusal(scope, 'peer-004', y)]));
    await hub.settle();
    expect(gossip.verdicts.get('reject:SECAGG_BAD_SIGNATURE')).toBe(2);
    // Two valid refusals (the other active member's and one honest): accepted as evidence by the
    // inbox, but an honest member does not count it (the least any release needs is m − t + 1 = 3).
    await send(a, release([refusal(scope, b, x), refusal(scope, 'peer-004', x)]));
    await hub.settle();
    const held = inbox.messages(r.ctx.round, SecAggKind.LockRelease);
    expect(held).toHaveLength(1);
    const honest = r.members.get(HONEST)!;
    expect(codeOf(() => honest.addLockRelease(held[0]!))).toBe('SECAGG_NOT_CERTIFIED');
    expect(honest.lockCertificate()).toBeUndefined();
  });
});
