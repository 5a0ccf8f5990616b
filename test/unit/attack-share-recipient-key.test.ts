/**
 * Attack tests for shares that name their recipient key (ShareKeys v3, protocol/messages/secagg.ts;
 * committee-member.ts `addShareKeys`/`otherKey`) and for the re-keying of a member that lost its
 * prekey state (prekeys.ts "Re-keying", node/services/secagg-prekeys.ts; red team F25).
 *
 * At (7, 5), c = 2t − m − 1 = 2: RESTORED (peer-004) is an honest member whose prekey state was
 * lost; it re-keyed, but two participants sealed its share to the lost key before its new bundle
 * reached them. LIAR (peer-009) lies about the named key twice: to RESTORED it names RESTORED's
 * own key over a share that does not open under it, to peer-001 it names a key peer-001 never had
 * over a share sealed correctly to peer-001. What must hold:
 *   - RESTORED complains about exactly the share that names its own key and does not open (no
 *     silent misbehaviour in its stale round), never about a share sealed to its lost key (no
 *     false complaint): two active members' complaints then leave an honest participant usable;
 *   - a member that is not stale complains about a share naming another key and never opens it,
 *     even when the ciphertext would open (what the share names is what it is judged by);
 *   - the round still unmasks the exact sum, no participant has both kinds of share revealed, and
 *     no member reveals a share of a participant whose share it does not hold;
 *   - forward secrecy: the re-keyed member's round secret is erased at the round's open.
 * The control (no `staleKeys`) is F25 as found: the restored member complains about everyone who
 * used the lost key and two active members make an honest participant provably unusable.
 */
import { describe, expect, it } from 'vitest';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { MemoryPrekeyStore } from '../../node/services/secagg-prekey-store.js';
import { isFedmeshError } from '../../protocol/errors.js';
import {
  type ComplaintMsg,
  ComplaintReason,
  complaintStatement,
  type EndorseMsg,
  type KeySetProposalMsg,
  SecAggKind,
  type ShareKeysMsg,
} from '../../protocol/messages/secagg.js';
import { decodeSum, SecAggCommitteeMember, SecAggParticipant } from '../../protocol/secure-aggregation/index.js';
import { scopeOf } from '../../protocol/secure-aggregation/participant.js';
import { config, crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { prekeyNode, runThenLoseState } from './prekey-helpers.js';
import { exposedShareCounts, LATE, maskInputs, type Round, setupRound, signView } from './secagg-round-harness.js';

const RESTORED = 'peer-004';
const PLAIN = 'peer-001'; // an honest member that never lost anything
const STALE_SEALERS = ['peer-007', 'peer-008'];
const LIAR = 'peer-009';
const ACTIVE = ['peer-005', 'peer-006'];
const VICTIM = 'peer-008';

interface Sent {
  readonly r: Round;
  /** What each member's addShareKeys threw, by member and sender. */
  readonly errors: Map<string, Map<string, unknown>>;
  readonly complaints: ComplaintMsg[];
}

/** The key-share phase of the round described in the header; RESTORED's role gets `staleKeys` or not. */
function shareRound(staleKeys: boolean): Sent {
  const r = setupRound({ n: 10, m: 7, t: 5, config: config(), seed: 'recipient-key' });
  // RESTORED's member role as round-driver builds it in a round its lost state may have keyed.
  r.members.set(
    RESTORED,
    new SecAggCommitteeMember(r.ctx, RESTORED, r.keys.get(RESTORED)!.encryption.secretKey, {
      crypto,
      sign: testSign(RESTORED),
      verify: testVerify,
      ...(staleKeys ? { staleKeys: true } : {}),
    }),
  );
  const lost = crypto.x25519.publicKey(new Uint8Array(32).fill(42));
  const ent = entropies('recipient-key/stale-sealers');
  for (const p of STALE_SEALERS) {
    // Same keys as the harness's advert; RESTORED's share goes to the lost key its directory held.
    const part = new SecAggParticipant(r.ctx, p, r.keys.get(p)!, {
      crypto,
      entropy: ent(p),
      sign: testSign(p),
      verify: testVerify,
      committeeKey: (m: string) => (m === RESTORED ? lost : undefined),
    });
    part.advertise();
    r.participants.set(p, part);
  }
  const junk = crypto.x25519.publicKey(new Uint8Array(32).fill(43));
  for (const [p, part] of r.participants) {
    for (const a of r.adverts) part.addAdvert(a);
    const sh = part.shareKeys();
    const sent: ShareKeysMsg =
      p !== LIAR
        ? sh
        : {
            ...sh,
            shares: sh.shares.map((e) => {
              // To RESTORED: its own key named over a share that does not open under it.
              if (e.recipient === RESTORED) return { ...e, ciphertext: e.ciphertext.map((b) => b ^ 0xff) };
              // To PLAIN: a key it never had named over a share sealed correctly to it.
              if (e.recipient === PLAIN) return { ...e, recipientKey: junk };
              return e;
            }),
          };
    r.shares.push(sent);
  }
  const errors = new Map<string, Map<string, unknown>>();
  for (const [id, m] of r.members) {
    const mine = new Map<string, unknown>();
    errors.set(id, mine);
    for (const a of r.adverts) m.addAdvert(a);
    m.beginShares();
    for (const sh of r.shares) {
      try {
        m.addShareKeys(sh);
      } catch (e) {
        mine.set(sh.sender, e);
      }
    }
  }
  const complaints = r.committee.flatMap((id) => r.members.get(id)!.takeOutbox()) as ComplaintMsg[];
  return { r, errors, complaints };
}

const forged = (r: Round, by: string, accused: string): ComplaintMsg => ({
  kind: SecAggKind.Complaint,
  federation: 'fed',
  round: r.ctx.round,
  sender: by,
  accused,
  reason: ComplaintReason.BadShare,
  signature: testSign(by)(complaintStatement(scopeOf(r.ctx), by, accused, ComplaintReason.BadShare)),
});

describe('attack: lying about the named recipient key (ShareKeys v3) next to a re-keyed member (F25)', () => {
  it('the stale member complains only about a bad share naming its own key; a plain member complains about a share naming another key and never opens it', () => {
    const { r, errors, complaints } = shareRound(true);
    const by = (m: string) => complaints.filter((c) => c.sender === m).map((c) => c.accused);
    expect(by(RESTORED)).toEqual([LIAR]);
    expect(by(PLAIN)).toEqual([LIAR]);
    expect(complaints.filter((c) => c.sender !== RESTORED && c.sender !== PLAIN)).toEqual([]);
    // RESTORED knows exactly which shares it cannot open: sealed to its lost key, not bad ones.
    for (const p of STALE_SEALERS) {
      const e = errors.get(RESTORED)!.get(p);
      expect(isFedmeshError(e, 'SECAGG_WRONG_RECIPIENT_KEY')).toBe(true);
      expect((e as { fields: Record<string, unknown> }).fields).toMatchObject({ sender: p, complained: false });
    }
    expect(isFedmeshError(errors.get(RESTORED)!.get(LIAR), 'SECAGG_DECRYPT_FAILED')).toBe(true);
    expect((errors.get(PLAIN)!.get(LIAR) as { fields: Record<string, unknown> }).fields).toMatchObject({ complained: true });
    const restored = r.members.get(RESTORED)!;
    expect(restored.shareHolders).toEqual(r.parties.filter((p) => !STALE_SEALERS.includes(p) && p !== LIAR));
    // It keeps no commitment from a share it did not open: it cannot check, so never endorses, a
    // lock that includes them (its endorsement would bring no share of their b_i).
    expect(restored.missingMaterial(STALE_SEALERS, [])).toEqual({ reason: 'no-commitment', participants: STALE_SEALERS });
    // The liar gains nothing by naming a junk key over a good share: PLAIN never opened it, though
    // the same ciphertext under the true name opens at a fresh member role of PLAIN.
    expect(r.members.get(PLAIN)!.shareHolders).not.toContain(LIAR);
    const fresh = new SecAggCommitteeMember(r.ctx, PLAIN, r.keys.get(PLAIN)!.encryption.secretKey, {
      crypto,
      sign: testSign(PLAIN),
      verify: testVerify,
    });
    for (const a of r.adverts) fresh.addAdvert(a);
    fresh.beginShares();
    const liar = r.shares.find((s) => s.sender === LIAR)!;
    const trueName = r.shares.find((s) => s.sender === 'peer-000')!.shares.find((e) => e.recipient === PLAIN)!.recipientKey;
    fresh.addShareKeys({ ...liar, shares: liar.shares.map((e) => (e.recipient === PLAIN ? { ...e, recipientKey: trueName } : e)) });
    expect(fresh.shareHolders).toEqual([LIAR]);
    // Two active members add their complaints about a participant that sealed to the lost key:
    // 2 < c + 1 = 3, so every honest member still refuses to leave it out.
    const honest = r.members.get('peer-000')!;
    for (const c of [...complaints, ...ACTIVE.map((a) => forged(r, a, VICTIM))]) if (c.sender !== honest.self) honest.addComplaint(c);
    expect(honest.complainers(VICTIM)).toEqual(ACTIVE);
    expect(honest.provablyUnusable(VICTIM)).toBe(false);
    expect(honest.proposeKeySet(0).shared).toContain(VICTIM);
    expect(honest.provablyUnusable(LIAR)).toBe(false); // 2 complaints: the liar stays, as any participant bad to c members
  });

  it('control (F25 as found): without staleKeys the restored member complains about everyone who used its lost key', () => {
    const { r, complaints } = shareRound(false);
    expect(complaints.filter((c) => c.sender === RESTORED).map((c) => c.accused)).toEqual([...STALE_SEALERS, LIAR]);
    const honest = r.members.get('peer-000')!;
    for (const c of [...complaints, ...ACTIVE.map((a) => forged(r, a, VICTIM))]) if (c.sender !== honest.self) honest.addComplaint(c);
    expect(honest.provablyUnusable(VICTIM)).toBe(true);
  });

  it('the round unmasks the exact sum; no member reveals a share it does not hold, no participant has both kinds revealed', () => {
    const { r, complaints } = shareRound(true);
    for (const id of r.committee) for (const c of complaints) if (c.sender !== id) r.members.get(id)!.addComplaint(c);
    // Turn 0's leader holds every share; RESTORED and PLAIN cannot endorse (shares they lack), the other five can.
    const proposal: KeySetProposalMsg = r.members.get('peer-000')!.proposeKeySet(0);
    expect(proposal.shared).toEqual(r.parties);
    const endorsements: EndorseMsg[] = [];
    for (const id of r.committee) {
      try {
        const e = r.members.get(id)!.onKeySetProposal(proposal, { now: 0, turnStart: (t) => t * 1000 });
        if (e !== undefined) endorsements.push(e);
      } catch (e) {
        expect([RESTORED, PLAIN]).toContain(id);
        expect(isFedmeshError(e, 'SECAGG_CANNOT_FOLLOW')).toBe(true);
      }
    }
    expect(endorsements.map((e) => e.sender).sort()).toEqual(['peer-000', 'peer-002', 'peer-003', 'peer-005', 'peer-006']);
    for (const m of r.members.values()) {
      m.learnKeySetProposal(proposal);
      for (const e of endorsements) if (e.sender !== m.self) m.addKeySetEndorse(e);
    }
    const ks = { proposal, endorsements };
    maskInputs(r, ks, r.parties);
    const views = r.committee.map((id) => signView(r, id));
    for (const id of r.committee) for (const v of views) if (v.sender !== id) r.members.get(id)!.addView(v);
    const leader = r.members.get('peer-000')!;
    const lock = leader.proposeLock(0);
    // RESTORED and PLAIN hold no commitment from the liar's unopened share: they cannot check b_LIAR
    // and abstain from the lock (their endorsement would bring no share of it); the other five endorse.
    const lockEnds: EndorseMsg<SecAggKind.LockEndorse>[] = [];
    for (const id of r.committee) {
      try {
        lockEnds.push(r.members.get(id)!.onLockProposal(lock, LATE)!);
      } catch (e) {
        expect([RESTORED, PLAIN]).toContain(id);
        expect(isFedmeshError(e, 'SECAGG_CANNOT_FOLLOW')).toBe(true);
      }
    }
    expect(lockEnds).toHaveLength(5);
    for (const id of r.committee) for (const e of lockEnds) if (e.sender !== id) r.members.get(id)!.addLockEndorse(e);
    const reveals = r.committee.flatMap((id) => r.members.get(id)!.reveal() ?? []);
    expect(reveals.map((rv) => rv.sender).sort()).toEqual(['peer-000', 'peer-002', 'peer-003', 'peer-005', 'peer-006']);
    for (const rv of reveals) {
      const held = new Set(r.members.get(rv.sender)!.shareHolders);
      for (const s of [...rv.selfMaskShares, ...rv.keyShares]) expect(held.has(s.participant)).toBe(true);
    }
    const { selfMask, maskKey } = exposedShareCounts(reveals);
    for (const p of r.parties) expect(selfMask.has(p) && maskKey.has(p)).toBe(false);
    for (const rv of reveals) if (rv.sender !== leader.self) leader.addReveal(rv);
    const res = leader.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked])));
    const u3 = res.survivors.map((e) => e.participant);
    expect(u3).toEqual(r.parties);
    const { values, totalSamples } = decodeSum(res.sum, u3.length, r.ctx.config);
    const scale = 2 ** r.ctx.config.fractionalBits;
    const want = [0, 1, 2].map((k) => u3.reduce((a, q) => a + r.ints.get(q)![k]!, 0));
    expect([...values].map((v) => v * scale)).toEqual(want);
    expect(totalSamples).toBe(u3.reduce((a, q) => a + r.counts.get(q)!, 0));
  });

  it('forward secrecy after re-keying: the new generation’s round secret leaves the store at the round’s open', async () => {
    const hub = new MemoryGossipHub();
    const participant = prekeyNode(hub, 'peer-008', new MemoryPrekeyStore(), 'recipient-key/participant');
    // Rounds 1–4 closed; rebuilt with an empty store; round 5 opens: a new generation, round 5 keyed and taken at once.
    const { after, store } = await runThenLoseState(hub, RESTORED, [participant], 4, 'recipient-key');
    const pair = await after.roundOpened(5);
    await hub.settle();
    expect(after.generation).toBe(4);
    expect(pair?.publicKey).toEqual(participant.keyFor(RESTORED, 5)); // participants that seal now use it
    expect(after.heldRounds()).not.toContain(5);
    const stolen = store.load();
    expect([...stolen.secrets.keys()].every((round) => round > 5)).toBe(true);
    expect(stolen.secrets.size).toBe(8);
  });
});
