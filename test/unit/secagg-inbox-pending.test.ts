/**
 * SecAggInbox holds messages of a round it has not opened yet (ROUND_UNKNOWN) and runs them
 * through the pipeline once the round's committee is known (node/services/secagg-inbox.ts
 * header). Without it, a member whose opener lagged dropped for good the ShareKeys that
 * participants send at once with identity-derived committee keys (issue 13 item 4), and then
 * lacked those shares.
 */
import { describe, expect, it } from 'vitest';
import { ComplaintReason, encodeSecAgg, SecAggKind, type SecAggMessage } from '../../protocol/messages/secagg.js';
import { topicFor } from '../../protocol/messages/topics.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { PENDING_BYTES_PER_SENDER, PENDING_PER_SENDER, SecAggInbox } from '../../node/services/secagg-inbox.js';
import { testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const committee = ['bob', 'carol'];
const shareKeys = (sender: string, round: number, fill = 5): SecAggMessage => ({
  federation: 'demo',
  round,
  kind: SecAggKind.ShareKeys,
  sender,
  selfMaskCommitment: new Uint8Array(32).fill(3),
  shares: committee.map((recipient, i) => ({
    recipient,
    recipientKey: new Uint8Array(32).fill(0x14 + i),
    nonce: new Uint8Array(12).fill(4 + i),
    ciphertext: new Uint8Array(81).fill(fill),
  })),
});

/** An unsigned complaint (its signature is checked only when the round's committee is known). */
const complaint = (sender: string, accused: string): SecAggMessage => ({
  federation: 'demo',
  round: 4,
  kind: SecAggKind.Complaint,
  sender,
  accused,
  reason: ComplaintReason.BadShare,
  signature: new Uint8Array(64),
});

/** An inbox at round 3 whose committee of round 4 is unknown until `open()`. */
function laggingMember(members: readonly string[] = ['alice', 'bob', 'carol']) {
  const hub = new MemoryGossipHub();
  const alice = hub.join('alice');
  const mallory = hub.join('mallory');
  const bob = hub.join('bob');
  let known = false;
  const inbox = new SecAggInbox(bob, {
    binding: TEST_BINDING,
    federation: 'demo',
    isMember: (p) => members.includes(p),
    committee: (r) => (r === 3 || (r === 4 && known) ? committee : []),
    verify: testVerify,
  });
  inbox.start();
  inbox.setRound(3);
  const open = (): void => {
    known = true;
    inbox.setRound(4);
  };
  return { hub, alice, mallory, bob, inbox, open };
}

describe('SecAggInbox: messages of a round not opened yet', () => {
  const topic = topicFor('demo', 'secagg');

  it('a ShareKeys that arrives before the member opened the round is kept and stored once the committee is known', async () => {
    const { hub, alice, bob, inbox, open } = laggingMember();
    const m = shareKeys('alice', 4);
    await alice.publish(topic, encodeSecAgg(m));
    await hub.settle();
    // The pipeline cannot judge it yet: IGNOREd (not forwarded, no penalty), not stored…
    expect(Object.fromEntries(bob.verdicts)).toEqual({ 'ignore:ROUND_UNKNOWN': 1 });
    expect(inbox.messages(4, SecAggKind.ShareKeys)).toEqual([]);
    expect(inbox.pendingCount).toBe(1);
    // …but held: once the round opens it goes through the pipeline and is stored.
    open();
    expect(inbox.messages(4, SecAggKind.ShareKeys)).toEqual([m]);
    expect(inbox.pendingCount).toBe(0);
  });

  it('held messages are checked in full when replayed: a ShareKeys addressed outside the committee is still refused', async () => {
    const { hub, alice, inbox, open } = laggingMember();
    const bad = {
      ...shareKeys('alice', 4),
      shares: [{ recipient: 'zed', recipientKey: new Uint8Array(32), nonce: new Uint8Array(12), ciphertext: new Uint8Array(81) }],
    };
    await alice.publish(topic, encodeSecAgg(bad as SecAggMessage));
    await hub.settle();
    expect(inbox.pendingCount).toBe(1);
    open();
    expect(inbox.messages(4, SecAggKind.ShareKeys)).toEqual([]);
    expect(inbox.pendingCount).toBe(0);
  });

  it('holds nothing from non-members, one message per slot, and at most PENDING_PER_SENDER messages per sender', async () => {
    const { hub, alice, mallory, inbox } = laggingMember();
    await mallory.publish(topic, encodeSecAgg(shareKeys('mallory', 4)));
    // One ShareKeys slot per sender and round: other versions are not held (equivocation is judged on replay).
    for (let i = 0; i < 3; i++) await alice.publish(topic, encodeSecAgg(shareKeys('alice', 4, i)));
    await hub.settle();
    expect(inbox.pendingCount).toBe(1);
    // Complaints have a slot per accused: the count bound applies.
    for (let i = 0; i < PENDING_PER_SENDER + 5; i++) await alice.publish(topic, encodeSecAgg(complaint('alice', `p${i}`)));
    await hub.settle();
    expect(inbox.pendingCount).toBe(PENDING_PER_SENDER);
  });

  it('F24: holds only the kinds sent right after an open, written by their gossip author, within a per-sender byte bound', async () => {
    const { hub, alice, bob, inbox } = laggingMember();
    const reveal: SecAggMessage = {
      kind: SecAggKind.Reveal,
      federation: 'demo',
      round: 4,
      sender: 'alice',
      proposal: new Uint8Array(32),
      selfMaskShares: [],
      keyShares: [],
    };
    await alice.publish(topic, encodeSecAgg(reveal)); // a reveal cannot precede an open
    await alice.publish(topic, encodeSecAgg(shareKeys('carol', 4))); // carol's ShareKeys, gossiped by alice
    await hub.settle();
    expect(inbox.pendingCount).toBe(0);
    expect(bob.verdicts.get('ignore:ROUND_UNKNOWN')).toBe(2);
    // Key-set proposals of ≤ 135 KiB are held, but one sender gets at most PENDING_BYTES_PER_SENDER.
    const ids = Array.from({ length: 1024 }, (_, i) => `p${String(i).padStart(4, '0')}${'x'.repeat(120)}`);
    for (let turn = 0; turn < 4; turn++)
      await alice.publish(
        topic,
        encodeSecAgg({
          kind: SecAggKind.KeySetProposal,
          federation: 'demo',
          round: 4,
          sender: 'alice',
          turn,
          advertised: ids,
          shared: ids,
        }),
      );
    await hub.settle();
    expect(inbox.pendingCount).toBe(
      Math.floor(
        PENDING_BYTES_PER_SENDER /
          encodeSecAgg({
            kind: SecAggKind.KeySetProposal,
            federation: 'demo',
            round: 4,
            sender: 'alice',
            turn: 0,
            advertised: ids,
            shared: ids,
          }).length,
      ),
    );
  });

  it('F24: a sender whose held message fails the pipeline on replay loses the rest of its held messages for the round', async () => {
    const { hub, alice, inbox, open } = laggingMember();
    // An unsigned complaint fails its signature step once the committee is known; alice is not on it anyway.
    await alice.publish(topic, encodeSecAgg(complaint('alice', 'carol')));
    await alice.publish(topic, encodeSecAgg(shareKeys('alice', 4)));
    await hub.settle();
    expect(inbox.pendingCount).toBe(2);
    open();
    expect(inbox.pendingCount).toBe(0);
    expect(inbox.messages(4, SecAggKind.ShareKeys)).toEqual([]);
  });

  it('held messages of a round that has passed are dropped, not replayed', async () => {
    const { hub, alice, inbox } = laggingMember();
    await alice.publish(topic, encodeSecAgg(shareKeys('alice', 4)));
    await hub.settle();
    inbox.setRound(5);
    expect(inbox.pendingCount).toBe(0);
    expect(inbox.messages(4, SecAggKind.ShareKeys)).toEqual([]);
  });
});
