// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title IFedmeshLedger
 * @notice Per-member contribution credits and privacy budget (docs/credits.md,
 * docs/contracts.md "Privacy budget"). Both change only when a round is finalized.
 *
 * Credits are a non-transferable count: participation credit `bucket + 1` per participant
 * and `SERVICE_CREDIT` per committee signer whose signature the finalizing transaction carried.
 *
 * The privacy budget is each member's cumulative Rényi-DP at 8 fixed orders
 * α = 1.25, 2.5, 4, 7, 12, 20, 32, 64 ({rdpOrders}), packed into one word: lane i (bits
 * 28i..28i+27) holds RDP at α_i in units of 1e-6, saturating at 2^28 - 1 (268.435455), which
 * stands for "unbounded". Spends are rounded up off chain (protocol/chain/budget.ts), so the
 * ledger never under-counts. The spent ε at the federation's δ is
 * ε = max(0, min_i (rdp_i + c_i)) over non-saturated lanes (Balle et al. 2020, "Hypothesis
 * testing interpretations and Rényi DP", Thm. 21, as Opacus uses), where the c_i are the
 * constants {cAlpha} computed off chain for δ at deployment.
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

    /// @notice Credits held by `account` (kept after removal).
    function creditsOf(address account) external view returns (uint256);

    /// @notice Credits minted by all finalized rounds; always the sum of {creditsOf} over all accounts.
    function totalCredits() external view returns (uint256);

    /// @notice `account`'s packed cumulative RDP; never decreases.
    function rdpOf(address account) external view returns (uint256);

    /// @notice `account`'s spent ε, cap and remaining budget.
    function privacyBudgetOf(address account) external view returns (PrivacyBudget memory);

    /// @notice ε of a packed RDP word under this federation's c_α (the rule {finalizeRound} applies).
    function epsilonOf(uint256 rdp) external view returns (uint256);

    /// @notice The c_α constants for the federation's δ, fixed point with 6 decimals, rounded up.
    function cAlpha() external view returns (int32[8] memory);

    /// @notice The RDP orders α of the 8 lanes, times 100.
    function rdpOrders() external pure returns (uint32[8] memory);

    /// @notice Participation credit for a participant declaring sample-count `bucket`.
    function participationCredit(uint8 bucket) external pure returns (uint256);
}
