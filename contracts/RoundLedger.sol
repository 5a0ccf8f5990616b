// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IRoundLedger} from "./IRoundLedger.sol";

/**
 * @title RoundLedger
 * @notice Minimal on-chain audit log of fedmesh rounds (see {IRoundLedger}). The member set and
 * the initial model hash are fixed at deployment; there is no admin and no upgrade path. A later
 * issue replaces this contract with the full federation contracts, so it stays deliberately small.
 */
contract RoundLedger is IRoundLedger {
    /// @dev Fixed at deployment; the `prevModelHash` that round 1 must carry. Named like the
    /// other private state (STYLE.md §16, as OpenZeppelin's EIP712 names its immutables).
    // solhint-disable-next-line immutable-vars-naming
    bytes32 private immutable _initialModelHash;

    /// @dev Last recorded round; rounds `1.._latestRound` are all recorded.
    uint64 private _latestRound;

    mapping(uint64 round => Round) private _rounds;

    mapping(address account => bool) private _members;

    /**
     * @param initialModelHash_ Hash of the agreed initial model (round 1's `prevModelHash`).
     * @param members_ Accounts allowed to record rounds. Duplicates are ignored.
     *
     * Emits a {MemberAdded} event per distinct account in `members_`.
     */
    constructor(bytes32 initialModelHash_, address[] memory members_) {
        _initialModelHash = initialModelHash_;
        for (uint256 i = 0; i < members_.length; ++i) {
            _addMember(members_[i]);
        }
    }

    /// @inheritdoc IRoundLedger
    function recordRound(uint64 round, bytes32 prevModelHash, bytes32 modelHash, uint32 participantCount)
        external
    {
        // Checks run in a fixed order (membership, sequence, linkage, content) that the
        // in-memory twin (node/chain/memory-client.ts) mirrors, so both report the same error.
        if (!_members[msg.sender]) {
            revert RoundLedgerNotMember(msg.sender);
        }
        uint64 expected = _latestRound + 1;
        if (round != expected) {
            revert RoundLedgerUnexpectedRound(expected, round);
        }
        bytes32 head = headModelHash();
        if (prevModelHash != head) {
            revert RoundLedgerPrevHashMismatch(head, prevModelHash);
        }
        if (modelHash == bytes32(0) || participantCount == 0) {
            revert RoundLedgerInvalidRecord(modelHash, participantCount);
        }
        _recordRound(round, prevModelHash, modelHash, participantCount, msg.sender);
    }

    /// @inheritdoc IRoundLedger
    function initialModelHash() external view returns (bytes32) {
        return _initialModelHash;
    }

    /// @inheritdoc IRoundLedger
    function latestRound() external view returns (uint64) {
        return _latestRound;
    }

    /// @inheritdoc IRoundLedger
    function headModelHash() public view returns (bytes32) {
        // Derived rather than stored: the head is always the last round's model hash, so a
        // separate slot would only cost a write per round and could drift out of sync.
        uint64 latest = _latestRound;
        return latest == 0 ? _initialModelHash : _rounds[latest].modelHash;
    }

    /// @inheritdoc IRoundLedger
    function getRound(uint64 round) external view returns (Round memory) {
        return _rounds[round];
    }

    /// @inheritdoc IRoundLedger
    function isMember(address account) external view returns (bool) {
        return _members[account];
    }

    /// @dev Appends a round that the caller has validated. Emits a {RoundRecorded} event.
    function _recordRound(
        uint64 round,
        bytes32 prevModelHash,
        bytes32 modelHash,
        uint32 participantCount,
        address recorder
    ) private {
        _rounds[round] = Round({
            prevModelHash: prevModelHash,
            modelHash: modelHash,
            participantCount: participantCount,
            recorder: recorder
        });
        _latestRound = round;
        emit RoundRecorded(round, prevModelHash, modelHash, participantCount, recorder);
    }

    /// @dev Makes `account` a member. Emits a {MemberAdded} event unless it already was one, so
    /// the logs list each member exactly once.
    function _addMember(address account) private {
        if (!_members[account]) {
            _members[account] = true;
            emit MemberAdded(account);
        }
    }
}
