/**
 * A member that lost its prekey state (red team F25; node/services/secagg-prekeys.ts
 * `checkHistory`, `mayHoldStaleKey`; committee-member.ts `CommitteeDeps.staleKeys`). Rebuilt with an
 * empty store in the daemon's start sequence, it starts a new key generation from the next round
 * (receivers replace its old keys: no equivocation, no skipped rounds) and remembers, across
 * restarts, the rounds participants may have sealed to a key it no longer holds. In such a round
 * its member role signs no complaint about a share naming another key (ShareKeys v3) — without
 * that, its complaint about every participant gave two active members the c + 1 = 3rd complaint
 * about whom they chose (the control below shows it).
 */
import { describe, expect, it } from 'vitest';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { MemoryPrekeyStore } from '../../node/services/secagg-prekey-store.js';
import { type ComplaintMsg, ComplaintReason, complaintStatement, SecAggKind } from '../../protocol/messages/secagg.js';
import { SecAggCommitteeMember, SecAggParticipant } from '../../protocol/secure-aggregation/index.js';
import { scopeOf } from '../../protocol/secure-aggregation/participant.js';
import { config, crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { prekeyNode, runThenLoseState } from './prekey-helpers.js';
import { setupRound } from './secagg-round-harness.js';

const RESTORED = 'peer-004';
const ACTIVE = ['peer-005', 'peer-006'];
const VICTIM = 'peer-008';

describe('prekeys: a member rebuilt without its prekey state (F25)', () => {
  it('re-keys from the next round in a new generation, receivers switch at once, and it remembers the rounds its lost state may have keyed', async () => {
    const hub = new MemoryGossipHub();
    const participant = prekeyNode(hub, VICTIM, new MemoryPrekeyStore(), 'stale/victim');
    const { lost: lost7, after, store } = await runThenLoseState(hub, RESTORED, [participant], 6, 'stale');
    after.endedThrough(6);
    await after.topUp(7);
    await hub.settle();
    expect(participant.verdicts.get('reject:PREKEY_EQUIVOCATION')).toBeUndefined();
    expect(after.generation).toBe(6);
    expect(after.heldRounds()).toEqual([7, 8, 9, 10, 11, 12, 13, 14]);
    // The participant seals round 7 to a key the member holds (before: the lost one, for 8 rounds).
    expect(participant.keyFor(RESTORED, 7)).not.toEqual(lost7);
    for (let r = 7; r <= 14; r++) expect(participant.keyFor(RESTORED, r)).toEqual(after.keyFor(RESTORED, r));
    // The old generation reached at most round 6 + W + 1: shares there may still name a lost key.
    for (let r = 7; r <= 15; r++) expect(after.mayHoldStaleKey(r)).toBe(true);
    expect(after.mayHoldStaleKey(16)).toBe(false);
    // Restarted again (store intact): the generation and the memory survive, no further re-key.
    after.stop();
    hub.leave(RESTORED);
    const again = prekeyNode(hub, RESTORED, store, 'stale/again');
    expect(again.generation).toBe(6);
    expect(again.mayHoldStaleKey(9)).toBe(true);
    const pair = await again.roundOpened(7);
    expect(pair?.publicKey).toEqual(participant.keyFor(RESTORED, 7));
    expect(again.generation).toBe(6);
    expect(again.heldRounds()).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
  });

  for (const staleKeys of [true, false]) {
    it(`${staleKeys ? 'with' : 'control, without'} staleKeys: two active members ${staleKeys ? 'cannot' : 'can'} make an honest participant provably unusable`, () => {
      const r = setupRound({ n: 10, m: 7, t: 5, config: config(), seed: 'prekey-stale-state' });
      // The restored member's role as the driver builds it (round-driver.ts: `mayHoldStaleKey`).
      const restored = new SecAggCommitteeMember(r.ctx, RESTORED, r.keys.get(RESTORED)!.encryption.secretKey, {
        crypto,
        sign: testSign(RESTORED),
        verify: testVerify,
        ...(staleKeys ? { staleKeys: true } : {}),
      });
      r.members.set(RESTORED, restored);
      // Participants seal to the stale prekey their directory holds for RESTORED.
      const stale = crypto.x25519.publicKey(new Uint8Array(32).fill(42));
      const ent = entropies('prekey-stale-state/participants');
      const parts = r.parties.map(
        (p) =>
          new SecAggParticipant(r.ctx, p, r.keys.get(p)!, {
            crypto,
            entropy: ent(p),
            sign: testSign(p),
            verify: testVerify,
            committeeKey: (member: string) => (member === RESTORED ? stale : undefined),
          }),
      );
      for (const part of parts) {
        part.advertise();
        for (const a of r.adverts) part.addAdvert(a);
      }
      const shares = parts.map((part) => part.shareKeys());
      const complaints: ComplaintMsg[] = [];
      for (const [, m] of r.members) {
        for (const a of r.adverts) m.addAdvert(a);
        m.beginShares();
        for (const s of shares) {
          try {
            m.addShareKeys(s);
          } catch {
            // RESTORED opens no share sealed to the stale key (SECAGG_DECRYPT_FAILED).
          }
        }
        complaints.push(...(m.takeOutbox().filter((x) => x.kind === SecAggKind.Complaint) as ComplaintMsg[]));
      }
      expect(complaints.filter((c) => c.sender === RESTORED)).toHaveLength(staleKeys ? 0 : 10);
      expect(complaints.filter((c) => c.sender !== RESTORED)).toEqual([]);
      const scope = scopeOf(r.ctx);
      for (const a of ACTIVE)
        complaints.push({
          kind: SecAggKind.Complaint,
          federation: scope.federation,
          round: scope.round,
          sender: a,
          accused: VICTIM,
          reason: ComplaintReason.BadShare,
          signature: testSign(a)(complaintStatement(scope, a, VICTIM, ComplaintReason.BadShare)),
        });
      const honest = r.members.get('peer-000')!;
      for (const c of complaints) honest.addComplaint(c);
      expect(honest.provablyUnusable(VICTIM)).toBe(!staleKeys);
    });
  }
});
