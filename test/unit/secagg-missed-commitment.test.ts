/**
 * A committee member that missed one participant's ShareKeys message (so it holds neither its
 * share nor its commitment to b_i). It cannot endorse the key set listing that participant nor
 * a lock listing it as a survivor (SECAGG_CANNOT_FOLLOW, before revealing anything: the
 * simulation lab's 32/64-peer crash was a member that revealed, then could not check b_i);
 * the other members certify both and unmask the exact sum. Once the commitment arrives late
 * (learnCommitment, public data only) the member can endorse the certified lock, reveal, and
 * unmask the same sum.
 */
import { describe, expect, it } from 'vitest';
import type { EndorseMsg, RevealMsg, SecAggKind } from '../../protocol/messages/secagg.js';
import { decodeSum, SecAggStage, TURN_ZERO } from '../../protocol/secure-aggregation/index.js';
import { codeOf, config } from './secagg-helpers.js';
import { LATE, maskInputs, setupRound, signView } from './secagg-round-harness.js';

describe('a committee member that missed a participant’s shares', () => {
  it('refuses the key set and the lock before revealing, then follows once the commitment arrives', () => {
    const r = setupRound({ n: 9, m: 7, t: 5, config: config() });
    const late = r.committee[6]!;
    const missed = 'peer-008';
    for (const [, part] of r.participants) for (const a of r.adverts) part.addAdvert(a);
    for (const [, part] of r.participants) r.shares.push(part.shareKeys());
    for (const [id, m] of r.members) {
      for (const a of r.adverts) m.addAdvert(a);
      m.beginShares();
      for (const s of r.shares) if (!(id === late && s.sender === missed)) m.addShareKeys(s);
    }
    const lateM = r.members.get(late)!;
    // Key set: the late member cannot endorse (no share from `missed`); the others certify it.
    const proposal = r.members.get(r.committee[0]!)!.proposeKeySet(0);
    expect(proposal.shared).toContain(missed);
    const e = codeOf(() => lateM.onKeySetProposal(proposal, TURN_ZERO));
    expect(e).toBe('SECAGG_CANNOT_FOLLOW');
    const endorsements = r.committee.slice(0, 6).map((id) => r.members.get(id)!.onKeySetProposal(proposal, TURN_ZERO)!);
    for (const m of r.members.values()) for (const x of endorsements) if (x.sender !== m.self) m.addKeySetEndorse(x);
    expect(lateM.keySet?.shared).toEqual(proposal.shared); // it learnt the certified key set
    const ks = { proposal, endorsements };
    maskInputs(r, ks, r.parties);
    // Views: the late member's view lacks `missed`; the leader proposes from the six others.
    const views = r.committee.map((id) => signView(r, id));
    expect(views[6]!.view.entries.map((x) => x.participant)).not.toContain(missed);
    for (const id of r.committee) for (const v of views.slice(0, 6)) if (v.sender !== id) r.members.get(id)!.addView(v);
    const lock = r.members.get(r.committee[0]!)!.proposeLock(0);
    expect(lock.survivors).toContain(missed);
    // The late member refuses before revealing anything.
    expect(codeOf(() => lateM.onLockProposal(lock, LATE))).toBe('SECAGG_CANNOT_FOLLOW');
    expect(lateM.endorsedLockDigest).toBeUndefined();
    // The others endorse; t = 5 certify; they reveal and unmask the exact sum.
    const lockEs: EndorseMsg<SecAggKind.LockEndorse>[] = r.committee
      .slice(0, 6)
      .map((id) => r.members.get(id)!.onLockProposal(lock, LATE)!);
    for (const m of r.members.values()) for (const x of lockEs) if (x.sender !== m.self) m.addLockEndorse(x);
    const reveals: RevealMsg[] = r.committee.slice(0, 6).map((id) => r.members.get(id)!.reveal()!);
    expect(lateM.reveal()).toBeUndefined(); // it endorsed nothing
    const sumAt = (id: string) => {
      const m = r.members.get(id)!;
      for (const x of reveals) if (x.sender !== id) m.addReveal(x);
      return m.unmask(new Map([...r.payloads].map(([p, x]) => [p, x.masked])));
    };
    const expected = r.parties.reduce(
      (acc, p) => {
        r.ints.get(p)!.forEach((v, k) => {
          acc.values[k]! += v;
        });
        acc.n += r.counts.get(p)!;
        return acc;
      },
      { values: [0, 0, 0], n: 0 },
    );
    const decoded = decodeSum(sumAt(r.committee[0]!).sum, r.parties.length, r.ctx.config);
    expect(decoded.totalSamples).toBe(expected.n);
    expect([...decoded.values].map((v) => v * 2 ** r.ctx.config.fractionalBits)).toEqual(expected.values);
    // The commitment arrives late: the member can now endorse the certified lock, reveal and unmask.
    lateM.learnCommitment(r.shares.find((s) => s.sender === missed)!);
    const lateE = lateM.onLockProposal(lock, LATE);
    expect(lateE).toBeDefined();
    for (const x of lockEs) lateM.addLockEndorse(x);
    expect(lateM.reveal()).toBeDefined();
    const lateSum = sumAt(late);
    expect([...lateSum.sum]).toEqual([...sumAt(r.committee[1]!).sum]);
    expect(lateM.stage).toBe(SecAggStage.Done);
  });
});
