/**
 * Red team (H-red), threat-model item tried: the secagg inbox's hold buffer for rounds not opened
 * yet (node/services/secagg-inbox.ts `hold`, PENDING_BYTES, PENDING_PER_SENDER) against one member.
 *
 * A member whose chain poll lags keeps messages of the next round (ROUND_UNKNOWN) and runs them
 * through the pipeline once it opens the round; that is how it gets the ShareKeys participants
 * send the moment they open the round (with prekeys or identity-derived committee keys nobody
 * waits). Holding checks only membership and decoding — no signature, no committee role — and
 * the byte bound is global: any one member can fill it. Mallory, a federation member (not on any
 * committee), sends during round 3 a dozen decodable ~0.7 MiB lock proposals "for round 4": they
 * are IGNOREd (no peer-score cost) and held. An honest participant's ShareKeys for round 4 that
 * reaches the lagging member before it opens round 4 is then dropped, for good: the member never
 * holds that share (so it cannot defend the participant's place in U_2 either, F12), and
 * Mallory's junk is refused silently when replayed. Finding F24 (/work/notes/redteam-findings.md).
 */
import { describe, expect, it } from 'vitest';
import { ComplaintReason, encodeSecAgg, type ProposalMsg, SecAggKind, type SecAggMessage } from '../../protocol/messages/secagg.js';
import { topicFor } from '../../protocol/messages/topics.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { PENDING_BYTES, PENDING_PER_SENDER, SecAggInbox } from '../../node/services/secagg-inbox.js';
import { testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const committee = ['bob', 'carol'];
const topic = topicFor('demo', 'secagg');

const shareKeys = (sender: string, round: number): SecAggMessage => ({
  federation: 'demo',
  round,
  kind: SecAggKind.ShareKeys,
  sender,
  selfMaskCommitment: new Uint8Array(32).fill(3),
  shares: committee.map((recipient, i) => ({
    recipient,
    recipientKey: new Uint8Array(32).fill(0x14 + i),
    nonce: new Uint8Array(12).fill(4 + i),
    ciphertext: new Uint8Array(81).fill(5),
  })),
});

/** A well-formed, unsigned lock proposal: `n` participants, `v` views (16 × 1024: ~0.7 MiB). */
function junkProposal(sender: string, round: number, salt: number, n = 1024, v = 16): ProposalMsg {
  const ids = Array.from({ length: n }, (_, i) => `p${String(i).padStart(4, '0')}-${'x'.repeat(110)}`);
  const keySet = new Uint8Array(32).fill(salt);
  const entries = ids.map((participant) => ({ participant, inputHash: new Uint8Array(32).fill(salt) }));
  const views = Array.from({ length: v }, (_, v) => ({
    member: `m${String(v).padStart(2, '0')}`,
    keySet,
    entries,
    signature: new Uint8Array(64).fill(v),
  }));
  return { kind: SecAggKind.Proposal, federation: 'demo', round, sender, turn: 0, keySet, survivors: ids, dropped: [], views };
}

/**
 * Bob's secagg inbox during round 3, lagging: round 4's committee is unknown to it until
 * `open()` (what a member whose chain poll lags the others sees).
 */
function laggingInbox(gossip: ReturnType<MemoryGossipHub['join']>, members: readonly string[]): { inbox: SecAggInbox; open: () => void } {
  let known = false;
  const inbox = new SecAggInbox(gossip, {
    binding: TEST_BINDING,
    federation: 'demo',
    isMember: (p) => members.includes(p),
    committee: (r) => (r === 3 || (r === 4 && known) ? committee : []),
    verify: testVerify,
  });
  inbox.start();
  inbox.setRound(3);
  return {
    inbox,
    open: () => {
      known = true;
      inbox.setRound(4);
    },
  };
}

describe('attack: one member fills the hold buffer of a lagging member (F24)', () => {
  it('F24 (fixed): an honest ShareKeys that reaches a lagging member before it opens the round survives one member’s flood', async () => {
    const hub = new MemoryGossipHub();
    const alice = hub.join('alice');
    const mallory = hub.join('mallory');
    const bob = hub.join('bob');
    const { inbox, open } = laggingInbox(bob, ['alice', 'bob', 'carol', 'mallory']);

    // During round 3: Mallory's junk "for round 4" (decodable, unsigned, not on any committee):
    // large proposals while they fit, then one sized to leave less room than any ShareKeys.
    let held = 0;
    let salt = 1;
    const big = encodeSecAgg(junkProposal('mallory', 4, salt));
    while (held + big.length <= PENDING_BYTES) {
      await mallory.publish(topic, encodeSecAgg(junkProposal('mallory', 4, salt++)));
      held += big.length;
    }
    // Fill the rest: the largest one-view proposal that fits, then complaints of a tuned size.
    const complaintJunk = (len: number): Uint8Array =>
      encodeSecAgg({
        kind: SecAggKind.Complaint,
        federation: 'demo',
        round: 4,
        sender: 'mallory',
        accused: 'a'.repeat(len),
        reason: ComplaintReason.BadShare,
        signature: new Uint8Array(64),
      });
    for (;;) {
      const gap = PENDING_BYTES - held;
      let lo = 0;
      let hi = 1024;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (encodeSecAgg(junkProposal('mallory', 4, salt, mid, 1)).length <= gap) lo = mid;
        else hi = mid - 1;
      }
      let filler = lo > 0 ? encodeSecAgg(junkProposal('mallory', 4, salt, lo, 1)) : undefined;
      for (let len = 128; filler === undefined && len >= 1; len--) if (complaintJunk(len).length <= gap) filler = complaintJunk(len);
      if (filler === undefined) break;
      await mallory.publish(topic, filler);
      held += filler.length;
      salt++;
    }
    await hub.settle();
    // Fixed (H-evidence): lock proposals are never held (not a kind sent right after an open), and
    // Mallory's complaints take at most its own share of the buffer (PENDING_PER_SENDER, and
    // PENDING_BYTES_PER_SENDER); before, every junk message was held.
    expect(inbox.pendingCount).toBeLessThanOrEqual(PENDING_PER_SENDER);
    expect(inbox.pendingCount).toBeLessThan(salt - 1);
    expect(PENDING_BYTES - held).toBeLessThan(encodeSecAgg(shareKeys('alice', 4)).length);
    // IGNOREd (no score cost for Mallory) and held.
    expect(bob.verdicts.get('ignore:ROUND_UNKNOWN')).toBeGreaterThan(0);
    expect(bob.verdicts.get('reject:PEER_NOT_COMMITTEE')).toBeUndefined();

    // Round 4 opens at Alice before it opens at Bob: her ShareKeys arrives at Bob first.
    const honest = shareKeys('alice', 4);
    await alice.publish(topic, encodeSecAgg(honest));
    await hub.settle();
    open();
    // Mallory's junk went nowhere (refused silently on replay, never scored)…
    expect(inbox.messages(4, SecAggKind.Proposal)).toEqual([]);
    // …and the safe property: Bob holds Alice's share (before the fix it was dropped at the full buffer).
    expect(inbox.messages(4, SecAggKind.ShareKeys)).toEqual([honest]);
  });

  it('after the fix, an adaptive flood in the kinds that are held (key-set proposals per turn, complaints) by five colluding members leaves room for every honest ShareKeys', async () => {
    const hub = new MemoryGossipHub();
    const colluders = ['mallory', 'mike', 'mona', 'max', 'mo'];
    const honestSenders = Array.from({ length: 60 }, (_, i) => `honest-${String(i).padStart(2, '0')}`);
    const everyone = ['bob', 'carol', ...colluders, ...honestSenders];
    const gossips = new Map(everyone.map((id) => [id, hub.join(id)]));
    const { inbox, open } = laggingInbox(gossips.get('bob')!, everyone);
    // Each colluder: a maximal key-set proposal for every turn (1024 ids of 118 bytes, ~120 KiB),
    // then complaints about every member: as many bytes as the inbox will hold from it.
    const ids = Array.from({ length: 1024 }, (_, i) => `p${String(i).padStart(4, '0')}-${'x'.repeat(112)}`);
    for (const c of colluders) {
      const g = gossips.get(c)!;
      for (let turn = 0; turn < 16; turn++)
        await g.publish(
          topic,
          encodeSecAgg({ kind: SecAggKind.KeySetProposal, federation: 'demo', round: 4, sender: c, turn, advertised: ids, shared: ids }),
        );
      for (const accused of everyone)
        await g.publish(
          topic,
          encodeSecAgg({
            kind: SecAggKind.Complaint,
            federation: 'demo',
            round: 4,
            sender: c,
            accused,
            reason: ComplaintReason.BadShare,
            signature: new Uint8Array(64),
          }),
        );
    }
    // Then every honest participant's ShareKeys for round 4, before Bob opens it.
    for (const h of honestSenders) await gossips.get(h)!.publish(topic, encodeSecAgg(shareKeys(h, 4)));
    await hub.settle();
    open();
    expect(
      inbox
        .messages(4, SecAggKind.ShareKeys)
        .map((m) => m.sender)
        .sort(),
    ).toEqual(honestSenders);
  });

  it('control: without the flood the same ShareKeys is held and stored', async () => {
    const hub = new MemoryGossipHub();
    const alice = hub.join('alice');
    const bob = hub.join('bob');
    const { inbox, open } = laggingInbox(bob, ['alice', 'bob', 'carol', 'mallory']);
    const honest = shareKeys('alice', 4);
    await alice.publish(topic, encodeSecAgg(honest));
    await hub.settle();
    open();
    expect(inbox.messages(4, SecAggKind.ShareKeys)).toEqual([honest]);
  });
});
