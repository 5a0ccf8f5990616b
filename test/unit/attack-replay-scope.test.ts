/**
 * Red team (H10): replaying one round's certificates and signed statements into another round of
 * the same deployment, or into the same round number of another deployment with the same
 * federation name and the same members (what "studies on one budget" produce: a new contract,
 * rounds from 1 again, the same peers). Every statement is bound to (chain id ‖ contract,
 * federation, round) — docs/secure-aggregation.md "Key schedule v2" — so a replayed key-set
 * certificate, view, lock endorsement, lock refusal, complaint or advertisement does not verify, and a
 * participant never masks under a key set certified elsewhere. Resists today; kept as a regression
 * test.
 */
import { describe, expect, it } from 'vitest';
import { CertPhase, endorseStatement, type LockRefuseMsg, SecAggKind } from '../../protocol/messages/secagg.js';
import { checkEndorsement, checkLivenessEvidence } from '../../protocol/secure-aggregation/certify.js';
import { generateRoundKeys, SecAggParticipant, type SecAggRoundContext } from '../../protocol/secure-aggregation/index.js';
import { scopeOf } from '../../protocol/secure-aggregation/participant.js';
import { verifyAdvert } from '../../protocol/secure-aggregation/round-keys.js';
import { checkView } from '../../protocol/secure-aggregation/views.js';
import { codeOf, config, crypto, entropies, testSign, testVerify } from './secagg-helpers.js';
import { certifyKeySet, LATE, maskInputs, setupRound, shareKeys, signView } from './secagg-round-harness.js';

const other = (b: Uint8Array): Uint8Array => {
  const c = b.slice();
  c[51] = (c[51] ?? 0) ^ 1; // another contract on the same chain
  return c;
};

describe('signed secure-aggregation statements do not travel between rounds or deployments', () => {
  const r = setupRound({ n: 8, m: 5, t: 4, config: config({ committeeSize: 5, threshold: 4 }), seed: 'replay' });
  shareKeys(r);
  const ks = certifyKeySet(r);
  maskInputs(r, ks, r.parties);
  const views = r.committee.map((id) => signView(r, id));
  for (const id of r.committee) for (const v of views) if (v.sender !== id) r.members.get(id)!.addView(v);
  const lock = r.members.get(r.committee[0]!)!.proposeLock(0);
  const lockEndorsement = r.members.get(r.committee[1]!)!.onLockProposal(lock, LATE)!;
  // A refusal of the lock, signed in the original scope.
  const refusal: LockRefuseMsg = {
    kind: SecAggKind.LockRefuse,
    federation: r.ctx.federation,
    round: r.ctx.round,
    sender: r.committee[2]!,
    digest: lockEndorsement.digest,
    signature: testSign(r.committee[2]!)(endorseStatement(scopeOf(r.ctx), CertPhase.Refuse, lockEndorsement.digest)),
    evidence: [],
  };

  it('control: in their own round and deployment every one of them verifies', () => {
    const scope = scopeOf(r.ctx);
    const p = new SecAggParticipant(r.ctx, 'peer-006', generateRoundKeys(crypto, entropies('replay/control')('k')), {
      crypto,
      entropy: entropies('replay/control')('p'),
      sign: testSign('peer-006'),
      verify: testVerify,
    });
    for (const a of r.adverts) if (a.sender !== 'peer-006') p.addAdvert(a);
    expect(codeOf(() => p.neighboursFrom(ks))).toBe('none');
    for (const v of views) expect(codeOf(() => checkView(v.view, scope, r.committee, testVerify))).toBe('none');
    expect(codeOf(() => checkEndorsement(scope, CertPhase.Lock, lockEndorsement, r.committee, testVerify))).toBe('none');
    expect(codeOf(() => checkLivenessEvidence(scope, refusal, r.committee, testVerify))).toBe('none');
    for (const a of r.adverts) expect(codeOf(() => verifyAdvert(scope.binding, a, testVerify))).toBe('none');
  });

  const scopes = {
    'next round, same deployment': { ...scopeOf(r.ctx), round: r.ctx.round + 1 },
    'same round, another deployment': { ...scopeOf(r.ctx), binding: other(r.ctx.binding) },
  };

  for (const [label, scope] of Object.entries(scopes)) {
    it(`${label}: a participant refuses the certified key set; views, endorsements, refusals and adverts do not verify`, () => {
      const ctx: SecAggRoundContext = { ...r.ctx, binding: scope.binding, round: scope.round };
      const ent = entropies(`replay/${label}`);
      const p = new SecAggParticipant(ctx, 'peer-006', generateRoundKeys(crypto, ent('k')), {
        crypto,
        entropy: ent('p'),
        sign: testSign('peer-006'),
        verify: testVerify,
      });
      // Relabelled to the new round where the header carries one: the signatures still name the old scope.
      const relabel = <T extends { round: number }>(m: T): T => ({ ...m, round: scope.round });
      const evidence = { proposal: relabel(ks.proposal), endorsements: ks.endorsements.map(relabel) };
      expect(codeOf(() => p.neighboursFrom(evidence))).toBe('SECAGG_NOT_CERTIFIED');
      for (const v of views) expect(codeOf(() => checkView(v.view, scope, r.committee, testVerify))).toBe('SECAGG_BAD_SIGNATURE');
      expect(codeOf(() => checkEndorsement(scope, CertPhase.Lock, relabel(lockEndorsement), r.committee, testVerify))).toBe(
        'SECAGG_BAD_SIGNATURE',
      );
      expect(codeOf(() => checkLivenessEvidence(scope, relabel(refusal), r.committee, testVerify))).toBe('SECAGG_BAD_SIGNATURE');
      for (const a of r.adverts) expect(codeOf(() => verifyAdvert(scope.binding, relabel(a), testVerify))).not.toBe('none');
    });
  }
});
