/**
 * The FedmeshFederation constructor's rules, checked again on the contract's views (red team
 * F19). The code check (./code.ts) compares the runtime code with the immutables masked, and
 * the runtime says nothing about which constructor wrote them: creation code of anyone's making
 * can install the genuine runtime with t = 1 at m = 3. So every immutable the constructor
 * validates is validated here as well, with the contract's bounds
 * (contracts/FedmeshFederation.sol constructor: `FedmeshRoundsInvalidCommittee`,
 * `FedmeshRoundsInvalidDurations`, `FedmeshRoundsInvalidSeedDelay`, `FedmeshRoundsZeroModelHash`,
 * `FedmeshLedgerInvalidDelta`; c_α is ./privacy-constants.ts's question). The EIP-712
 * immutables need no check of their own: the audit recovers every signature under the canonical
 * domain (name "fedmesh", version "1", chain id, address), so a contract verifying under another
 * domain shows as signatures that do not verify.
 */
import { finding, type LocalFinding } from './findings.js';
import { DELTA_UNITS_PER_ONE } from './privacy-constants.js';
import type { ChainViews } from './types.js';

/** FedmeshFederation.MAX_COMMITTEE_SIZE. */
export const CONTRACT_MAX_COMMITTEE_SIZE = 32;
/** FedmeshFederation.MAX_SEED_DELAY (blocks). */
export const CONTRACT_MAX_SEED_DELAY = 64;

const ZERO_HASH = `0x${'0'.repeat(64)}`;

/** One CONSTRUCTOR_RULE_BROKEN finding per rule the views break. */
export function checkConstructorRules(views: ChainViews): LocalFinding[] {
  const out: LocalFinding[] = [];
  const broken = (rule: string, evidence: Record<string, unknown>): void => {
    out.push(
      finding(
        'CONSTRUCTOR_RULE_BROKEN',
        'error',
        `the contract's immutables break the constructor's rule ${rule}: it was not deployed by FedmeshFederation's constructor`,
        { rule, ...evidence },
      ),
    );
  };
  const m = views.committeeSize;
  const t = views.threshold;
  if (!(t >= 1 && t <= m && m <= CONTRACT_MAX_COMMITTEE_SIZE && 2 * t > m)) {
    broken(`1 ≤ t ≤ m ≤ ${CONTRACT_MAX_COMMITTEE_SIZE} and 2t > m`, { committeeSize: m, threshold: t });
  }
  if (
    views.inputDuration !== undefined &&
    views.finalizeDuration !== undefined &&
    (views.inputDuration <= 0 || views.finalizeDuration <= 0)
  ) {
    broken('inputDuration > 0 and finalizeDuration > 0', { inputDuration: views.inputDuration, finalizeDuration: views.finalizeDuration });
  }
  if (views.seedDelay !== undefined && views.seedDelay > CONTRACT_MAX_SEED_DELAY) {
    broken(`seedDelay ≤ ${CONTRACT_MAX_SEED_DELAY}`, { seedDelay: views.seedDelay });
  }
  if (views.initialModelHash.toLowerCase() === ZERO_HASH) broken('initialModelHash ≠ 0', { initialModelHash: views.initialModelHash });
  if (!(views.delta > 0n && views.delta < DELTA_UNITS_PER_ONE)) broken('0 < δ < 1', { deltaUnits: views.delta });
  return out;
}
