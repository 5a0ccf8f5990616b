/**
 * Question 4 of the audit: did any institution exceed its privacy budget?
 *
 * Per participant and round, the RDP spend is recomputed from the declared DP-SGD parameters
 * (q, σ, steps; protocol/chain/dp-params.ts `declaredSpend`, the subsampled Gaussian RDP of
 * Mironov, Talwar & Zhang 2019 at the 8 on-chain orders) and must equal the packed spend in the
 * record bit for bit. The spends are then summed lane by lane (`addPacked`) and converted to ε
 * at the federation's δ (`epsilonFromPacked`, Balle et al. 2020 Thm. 21), which must never
 * exceed the member's cap at that point of the stream.
 */
import { declaredSpend } from '../chain/dp-params.js';
import { finding, type LocalFinding } from './findings.js';
import type { AuditParticipant } from './types.js';

/** The finding for one participant whose declared parameters do not give its recorded spend, if any. */
export function checkDeclaredSpend(round: number, p: AuditParticipant): LocalFinding | undefined {
  let expected: bigint;
  try {
    expected = declaredSpend(p.dpParams);
  } catch (e) {
    return finding(
      'PRIVACY_PARAMS_INVALID',
      'error',
      `round ${round}: ${p.member}'s declared DP parameters do not decode (${(e as Error).message})`,
      {
        member: p.member,
        dpParams: p.dpParams,
      },
    );
  }
  if (expected === p.spend) return undefined;
  return finding(
    'PRIVACY_SPEND_MISMATCH',
    'error',
    `round ${round}: ${p.member}'s declared DP parameters give a different spend than the one recorded`,
    { member: p.member, dpParams: p.dpParams, recordedSpend: p.spend, recomputedSpend: expected },
  );
}
