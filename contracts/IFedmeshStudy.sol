// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title IFedmeshStudy
 * @notice Studies on one privacy budget (docs/contracts.md, "Studies on one budget"; issue 17).
 *
 * Privacy loss belongs to the patients' data, whatever study spends it. Each deployment is one
 * study (its manifest, model, rounds and records); studies form a chain:
 *
 *     study 1 ──closeStudy(study 2)──▶ closed        study 2 ──inheritBudgetFrom(study 1)──▶ …
 *
 * {closeStudy} (admin, no round open) ends a study for good: no round ever opens again, so its
 * RDP ledger is final, and it names the one study that may continue its budgets. That study's
 * {inheritBudgetFrom} (admin, once, before any member was ever registered, only if the
 * predecessor named it, same δ) makes each member's first registration start from the RDP the
 * chain holds for it ({carriedBudgetOf}) and keep the cap it had there as an upper bound: no
 * new study raises a cap (I9 across studies). Nothing is added per participant, so finalizing
 * costs what it did; `openRound` reads one more flag from a slot it already reads.
 *
 * Studies run one after another, never at the same time: a linear chain is what keeps two
 * studies from spending the same budget at once. A deployment that never calls
 * {inheritBudgetFrom} starts from zero; the contract cannot stop anyone deploying one, so the
 * auditor reports a predecessor whose named successor does not inherit from it.
 */
interface IFedmeshStudy {
    /// @dev The study is closed: no round opens, and it neither closes nor inherits again.
    error FedmeshStudyClosed();

    /// @dev A study cannot name itself as its successor.
    error FedmeshStudyInvalidSuccessor(address successor);

    /// @dev `predecessor` names `named` as its successor, not this study.
    error FedmeshStudyNotNamed(address predecessor, address named);

    /// @dev This study already inherits from `predecessor`.
    error FedmeshStudyAlreadyInherits(address predecessor);

    /// @dev A member was registered before the study inherited: its budget would start from zero.
    error FedmeshStudyHasMembers();

    /// @dev The predecessor's δ (units of 1e-18) is `got`, this study's `expected`: caps in ε
    /// at different δ are not comparable.
    error FedmeshStudyDeltaMismatch(uint256 expected, uint256 got);

    /// @dev The study was closed; `successor` (zero: none) may continue its budgets.
    event StudyClosed(address indexed successor);

    /// @dev Members registered from now on start from `predecessor`'s chain of budgets.
    event BudgetInherited(address indexed predecessor);

    /**
     * @notice Closes this study and names the one study that may continue its budgets.
     *
     * Requirements:
     * - the caller has `FEDERATION_ADMIN_ROLE` (else `AccessControlUnauthorizedAccount`);
     * - the study is not closed (else `FedmeshStudyClosed`);
     * - `successor` is not this contract (else `FedmeshStudyInvalidSuccessor`); zero ends the chain;
     * - no round is open (else `FedmeshRoundsStillOpen`): its participants' spends are not
     *   final until it is finalized or aborted.
     *
     * Emits a {StudyClosed} event.
     */
    function closeStudy(address successor) external;

    /**
     * @notice Makes this study continue `predecessor`'s budgets.
     *
     * Requirements:
     * - the caller has `FEDERATION_ADMIN_ROLE` (else `AccessControlUnauthorizedAccount`);
     * - the study is not closed (else `FedmeshStudyClosed`), which also rules out cycles;
     * - it does not inherit already (else `FedmeshStudyAlreadyInherits`);
     * - no member was ever registered here (else `FedmeshStudyHasMembers`);
     * - `predecessor` is closed and named this study (else `FedmeshStudyNotNamed`);
     * - `predecessor` has this study's δ (else `FedmeshStudyDeltaMismatch`).
     *
     * Emits a {BudgetInherited} event.
     */
    function inheritBudgetFrom(address predecessor) external;

    /// @notice The study this one inherits from (zero: none), the one it named (zero: none),
    /// and whether it is closed.
    function studyChain() external view returns (address predecessor, address successor, bool closed);

    /**
     * @notice What a successor starts `account` from: its packed RDP here and its latest cap
     * here (fixed point, 6 decimals) when it was ever registered here (`known`); otherwise
     * what this study's predecessor carries, recursively; (0, 0, false) when no study of the
     * chain ever registered it.
     */
    function carriedBudgetOf(address account) external view returns (uint256 rdp, uint256 cap, bool known);
}
