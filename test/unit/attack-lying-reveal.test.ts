/**
 * Red team (H8's finding F3, fixed in a93c93d): one active committee member sends its Reveal
 * first with lying shares — wrong values, or shares relabelled to another member's position.
 * Relabelled shares are never counted (canUnmask stays false until t shares that can count are
 * in); wrong values make the reconstruction at exactly t shares fail with SECAGG_TOO_FEW_SHARES,
 * after which the same member unmasks the exact sum once one more honest reveal arrives — the
 * property secure-round's retry relies on (before the fix it abstained at the first failure).
 */
import { describe, expect, it } from 'vitest';
import type { RevealMsg } from '../../protocol/messages/secagg.js';
import { codeOf, config } from './secagg-helpers.js';
import { certifyKeySet, LATE, maskInputs, setupRound, shareKeys, signView } from './secagg-round-harness.js';

function lockedRound() {
  const r = setupRound({ n: 9, m: 7, t: 5, config: config(), seed: 'liar' });
  shareKeys(r);
  const ks = certifyKeySet(r);
  maskInputs(r, ks, r.parties);
  const views = r.committee.map((id) => signView(r, id));
  for (const id of r.committee) for (const v of views) if (v.sender !== id) r.members.get(id)!.addView(v);
  const p = r.members.get('peer-000')!.proposeLock(0);
  const ends = r.committee.map((id) => r.members.get(id)!.onLockProposal(p, LATE)!);
  for (const id of r.committee) for (const e of ends) if (e.sender !== id) r.members.get(id)!.addLockEndorse(e);
  const reveals = new Map(r.committee.map((id) => [id, r.members.get(id)!.reveal()!]));
  return { r, reveals };
}

const inputsOf = (r: ReturnType<typeof lockedRound>['r']) => new Map([...r.payloads].map(([id, x]) => [id, x.masked]));

describe('a lying reveal does not stop an honest member from unmasking', () => {
  for (const lie of ['wrong share values', 'shares relabelled to another position'] as const) {
    it(`${lie}: the member still unmasks the exact sum once t honest shares are in`, () => {
      const { r, reveals } = lockedRound();
      const liar = reveals.get('peer-006')!;
      const bad: RevealMsg =
        lie === 'wrong share values'
          ? { ...liar, selfMaskShares: liar.selfMaskShares.map((s) => ({ ...s, y: s.y.map((b) => b ^ 0x5a) })) }
          : { ...liar, selfMaskShares: liar.selfMaskShares.map((s) => ({ ...s, x: 5 })) };
      const m0 = r.members.get('peer-000')!;
      // The liar's reveal arrives first, then honest reveals one by one.
      m0.addReveal(bad);
      for (const id of ['peer-001', 'peer-002', 'peer-003']) m0.addReveal(reveals.get(id)!);
      // Own + 3 honest + liar: secure-round sees canUnmask() and unmasks now…
      if (lie === 'shares relabelled to another position') {
        // Shares under a position the sender does not hold are not counted at all.
        expect(m0.canUnmask()).toBe(false);
      } else {
        // Wrong values cannot be told apart before reconstruction: it fails, and the member stays
        // able to retry (the node waits for more reveals instead of abstaining).
        expect(m0.canUnmask()).toBe(true);
        expect(codeOf(() => m0.unmask(inputsOf(r)))).toBe('SECAGG_TOO_FEW_SHARES');
      }
      m0.addReveal(reveals.get('peer-004')!);
      expect(m0.canUnmask()).toBe(true);
      const { sum } = m0.unmask(inputsOf(r));
      const want = r.parties.reduce((acc, p) => acc + BigInt(r.ints.get(p)![0]!), 0n);
      expect(BigInt.asIntN(64, BigInt(sum[0]!) | (BigInt(sum[1]!) << 32n))).toBe(want);
    });
  }
});
