/**
 * What a participant declares about one round's contribution, and what it implies for its
 * privacy budget (docs/privacy.md, "Declared parameters"). Pure: the node calls these before
 * training (to decide whether it may train at all) and after (to declare what it ran); the
 * committee and auditors recompute the same numbers from the declared word alone.
 *
 * - `declareDpParams(dp, steps)`: the packed word (./dp-params.ts `encodeDpParams`) of the
 *   DP-SGD parameters and the number of steps actually run; NO_DP_PARAMS without DP (or when
 *   no step ran: no mechanism was applied, so nothing is spent).
 * - `budgetAfter(...)`: the member's ε after adding a round's declared spend to what the chain
 *   holds, by the contract's own rule (lane-wise saturating sum, then min over lanes of
 *   rdp_α + c_α; ./budget.ts), and whether that would pass its cap. The contract reverts
 *   `FedmeshLedgerBudgetExceeded` in exactly that case, so a node that abstains when
 *   `exceeds` is true never makes a round revert for its overspend.
 */
import type { DpSgdParams } from '../privacy/dp-sgd.js';
import { dpSgdSteps } from '../privacy/dp-sgd.js';
import { addPacked, EPSILON_UNBOUNDED, epsilonFromPacked } from './budget.js';
import type { DeploymentBinding } from './deployment-binding.js';
import { declaredSpend, encodeDpParams, NO_DP_PARAMS } from './dp-params.js';
import { participantEntry, verifyParticipantEntry } from './participant-entry.js';

/** The declared word for a round that ran `steps` DP-SGD steps with `dp`; NO_DP_PARAMS without DP. */
export function declareDpParams(dp: DpSgdParams | undefined, steps: number): bigint {
  if (dp === undefined || steps === 0) return NO_DP_PARAMS;
  return encodeDpParams({ sampleRate: dp.sampleRate, noiseMultiplier: dp.noiseMultiplier, clipNorm: dp.clipNorm, steps });
}

/** The word a participant expects to declare for `epochs` local epochs (⌈1/q⌉ steps each). */
export function plannedDpParams(dp: DpSgdParams | undefined, epochs: number): bigint {
  return dp === undefined ? NO_DP_PARAMS : declareDpParams(dp, dpSgdSteps(epochs, dp.sampleRate));
}

export interface BudgetAfter {
  /** ε already spent, fixed point (1e-6); EPSILON_UNBOUNDED when every lane is saturated. */
  readonly epsilonSpent: bigint;
  /** ε after the round's declared spend, fixed point (1e-6). */
  readonly epsilonAfter: bigint;
  /** Whether the contract would refuse the round for this member (ε after > cap). */
  readonly exceeds: boolean;
}

/**
 * ε before and after adding `declaredSpend(dpParams)` to the packed RDP `spentRdp`, under the
 * federation's c_α, against `cap` (all fixed point, 1e-6). A round without DP adds nothing,
 * but is still refused once the spent ε is already above the cap (the contract checks ε after
 * every participant's spend, zero or not).
 */
export function budgetAfter(spentRdp: bigint, dpParams: bigint, cAlphaConsts: readonly bigint[], cap: bigint): BudgetAfter {
  const epsilonSpent = epsilonFromPacked(spentRdp, cAlphaConsts);
  const after = addPacked(spentRdp, declaredSpend(dpParams));
  const epsilonAfter = epsilonFromPacked(after, cAlphaConsts);
  return { epsilonSpent, epsilonAfter, exceeds: epsilonAfter === EPSILON_UNBOUNDED || epsilonAfter > cap };
}

/** Why a committee leaves an input out before revealing anything (issue 14 item 3). */
export type AdmissionRefusal = 'ENTRY_UNSIGNED' | 'DP_REQUIRED' | 'OVER_CAP';

export interface AdmissionInput {
  readonly binding: DeploymentBinding;
  readonly round: number;
  /** The participant's registered account. */
  readonly member: string;
  /** Its declared DP parameters (./dp-params.ts), NO_DP_PARAMS without DP. */
  readonly dpParams: bigint;
  /** Its ParticipantEntry signature (65-byte hex), if any. */
  readonly entrySignature?: string;
  /** The federation's DP policy (the contract's `dpRequired()`). */
  readonly dpRequired: boolean;
  /** The member's packed RDP on chain (`rdpOf`). */
  readonly spentRdp: bigint;
  readonly cAlpha: readonly bigint[];
  /** Its cap for this round (`epsilonCapAt(member, round)`), fixed point 1e-6. */
  readonly cap: bigint;
}

/**
 * Whether the contract would accept this participant's line in `round`: its own entry signature
 * (./participant-entry.ts), the DP policy, and its budget (`budgetAfter`). A committee runs it on
 * every input before revealing any share and treats a refused input as dropped, so a round is
 * never unmasked with a line `finalizeRound` would refuse (that would release the honest inputs
 * and charge nobody). Undefined when admissible.
 */
export function checkAdmission(a: AdmissionInput): AdmissionRefusal | undefined {
  const entry = participantEntry(a.round, a.member, a.dpParams);
  if (a.entrySignature === undefined || !verifyParticipantEntry(a.binding, entry, a.entrySignature)) return 'ENTRY_UNSIGNED';
  if (a.dpRequired && a.dpParams === NO_DP_PARAMS) return 'DP_REQUIRED';
  if (budgetAfter(a.spentRdp, a.dpParams, a.cAlpha, a.cap).exceeds) return 'OVER_CAP';
  return undefined;
}
