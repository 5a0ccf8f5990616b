// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title IFedmeshLedger
 * @notice Per-member contribution credits and privacy budget (docs/credits.md,
 * docs/contracts.md "Privacy budget"). Both change only when a round is finalized.
 *
 * Credits are a non-transferable count: `PARTICIPATION_CREDIT` per participant and
 * `SERVICE_CREDIT` per committee member that the signed record's service mask credits. Neither
 * depends on anything a participant declares about itself (no sample-count bucket), and the
 * mask is signed by the quorum, so resubmitting with fewer signatures strips nothing.
 *
 * The privacy budget is each member's cumulative Rényi-DP at 8 fixed orders
 * α = 1.25, 2.5, 4, 7, 12, 20, 32, 64 (the registry lens's `rdpOrders`), packed into one
 * word: lane i (bits 28i..28i+27) holds RDP at α_i in units of 1e-6, saturating at 2^28 - 1
 * (268.435455), which stands for "unbounded". Spends are rounded up off chain (protocol/chain/budget.ts), so the
 * ledger never under-counts. The spent ε at the federation's δ is
 * ε = max(0, min_i (rdp_i + c_i)) over non-saturated lanes (Balle et al. 2020, "Hypothesis
 * testing interpretations and Rényi DP", Thm. 21, as Opacus uses), where the c_i are the
 * constants {cAlpha} computed off chain for δ at deployment. δ itself is stored ({delta}); the
 * constructor refuses a c_i below its δ → 1 limit ln((α−1)/α) − ln(α)/(α−1), which no δ < 1
 * can give, and auditors check c_i = cAlpha(δ) (protocol/chain/budget.ts) off chain.
 *
 * The DP policy is fixed at deployment ({dpRequired}): a DP federation refuses a participant
 * that declares no DP parameters (`FedmeshRoundsDpRequired`), so non-DP participation is never
 * recorded as zero privacy loss there (audit finding M-4).
 */
interface IFedmeshLedger {
    /// @dev What {privacyBudgetOf} returns. ε values are fixed point with 6 decimals.
    struct PrivacyBudget {
        /// Packed cumulative RDP (8 lanes, see the contract notice).
        uint256 rdp;
        /// ε spent at δ; `EPSILON_UNBOUNDED` when every lane is saturated.
        uint256 epsilonSpent;
        uint256 epsilonCap;
        /// epsilonCap - epsilonSpent, or 0 when the cap is reached or passed.
        uint256 remaining;
    }

    /// @dev Finalizing would take `member`'s ε to `epsilon`, above its `cap`.
    error FedmeshLedgerBudgetExceeded(address member, uint256 epsilon, uint256 cap);

    /// @dev `member`'s credits would pass the 24-bit counter (16,777,215).
    error FedmeshLedgerCreditsOverflow(address member);

    /// @dev Constructor: δ (units of 1e-18) must be in (0, 1).
    error FedmeshLedgerInvalidDelta(uint256 delta);

    /// @dev Constructor: c_α at lane `index` is below what any δ < 1 gives.
    error FedmeshLedgerInvalidCAlpha(uint256 index, int32 value);

    /// @notice Credits held by `account` (kept after removal).
    function creditsOf(address account) external view returns (uint256);

    /// @notice Credits minted by all finalized rounds; always the sum of {creditsOf} over all accounts.
    function totalCredits() external view returns (uint256);

    /// @notice `account`'s packed cumulative RDP; never decreases.
    function rdpOf(address account) external view returns (uint256);

    /// @notice `account`'s spent ε, cap and remaining budget.
    function privacyBudgetOf(address account) external view returns (PrivacyBudget memory);

    /// @notice The c_α constants for the federation's δ, fixed point with 6 decimals, rounded up.
    function cAlpha() external view returns (int32[8] memory);

    /// @notice The federation's δ, in units of 1e-18, fixed at deployment.
    function delta() external view returns (uint256);

    /// @notice Whether every participant must declare DP-SGD parameters (fixed at deployment).
    function dpRequired() external view returns (bool);

    /**
     * @notice What {finalizeRound} would compute for `member` charged `spend` in `round`:
     * its ε after the spend, its cap for that round, and whether it fits. Committees run this
     * (or protocol/chain/declaration.ts `budgetAfter`, its pure twin) on every input before
     * admitting it, so a member that cannot pay is left out before any share is revealed.
     */
    function budgetAfter(address member, uint64 round, uint256 spend)
        external
        view
        returns (uint256 epsilonAfter, uint256 cap, bool fits);
}
