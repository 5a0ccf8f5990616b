// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title IRoundLedger
 * @notice Interface of the minimal fedmesh round ledger: an append-only hash chain of
 * federated-learning rounds. Round `n` links the model hash agreed after round `n - 1`
 * (the deployed initial model hash for round 1) to the model hash agreed after round `n`,
 * so an auditor can replay the chain from the initial model and check every step.
 *
 * Errors and events live here, not in the implementation, so that off-chain code can decode
 * reverts and logs from the interface ABI alone (STYLE.md §16, after OpenZeppelin
 * `IAccessControl`).
 */
interface IRoundLedger {
    /**
     * @dev One recorded round. Packed into three slots: the two hashes take one slot each and
     * `participantCount` (4 bytes) shares the third with `recorder` (20 bytes).
     * `recorder == address(0)` marks a round that has not been recorded.
     */
    struct Round {
        bytes32 prevModelHash;
        bytes32 modelHash;
        uint32 participantCount;
        address recorder;
    }

    /// @dev `account` is not a federation member and may not record rounds.
    error RoundLedgerNotMember(address account);

    /// @dev Rounds are recorded strictly in sequence: `got` is not `latestRound() + 1`.
    error RoundLedgerUnexpectedRound(uint64 expected, uint64 got);

    /// @dev The round does not extend the head of the chain: `got` is not `headModelHash()`.
    error RoundLedgerPrevHashMismatch(bytes32 expected, bytes32 got);

    /// @dev The record is empty: the model hash is zero or no participant contributed.
    error RoundLedgerInvalidRecord(bytes32 modelHash, uint32 participantCount);

    /// @dev `account` was made a member. Emitted once per distinct member at deployment.
    event MemberAdded(address indexed account);

    /// @dev Round `round` was recorded by `recorder`. Indexed by what auditors look up (a round,
    /// a member's records); nobody filters by hash or count.
    // solhint-disable-next-line gas-indexed-events
    event RoundRecorded(
        uint64 indexed round,
        bytes32 prevModelHash,
        bytes32 modelHash,
        uint32 participantCount,
        address indexed recorder
    );

    /**
     * @notice Records round `round`, moving the head of the chain to `modelHash`.
     *
     * Requirements:
     * - the caller is a member (else `RoundLedgerNotMember`);
     * - `round` is `latestRound() + 1` (else `RoundLedgerUnexpectedRound`);
     * - `prevModelHash` is `headModelHash()` (else `RoundLedgerPrevHashMismatch`);
     * - `modelHash` is non-zero and `participantCount` is positive (else `RoundLedgerInvalidRecord`).
     *
     * Emits a {RoundRecorded} event.
     */
    function recordRound(uint64 round, bytes32 prevModelHash, bytes32 modelHash, uint32 participantCount)
        external;

    /// @notice Hash of the agreed initial model, fixed at deployment.
    function initialModelHash() external view returns (bytes32);

    /// @notice Number of the last recorded round; 0 before any.
    function latestRound() external view returns (uint64);

    /// @notice Model hash of the last recorded round, or the initial model hash when none.
    function headModelHash() external view returns (bytes32);

    /// @notice The record of `round`; all fields zero (recorder included) when not recorded.
    function getRound(uint64 round) external view returns (Round memory);

    /// @notice Whether `account` may record rounds.
    function isMember(address account) external view returns (bool);
}
