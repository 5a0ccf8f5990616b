// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title IFedmeshRounds
 * @notice The round lifecycle of a fedmesh federation (docs/contracts.md, "Rounds"):
 *
 *     openRound()  ──▶  Open  ──finalizeRound(record, signatures)──▶  Finalized
 *                        │
 *                        └──abortRound(), after the finalize deadline──▶  Aborted
 *
 * One round is open at a time. Opening draws a seed that nobody can choose and from it a
 * committee of `committeeSize` distinct active members. The committee aggregates off chain and
 * signs an EIP-712 {RoundRecord}; at least `threshold` distinct committee signatures finalize
 * it. The finalized model hashes form an unbroken chain from the initial model hash.
 */
interface IFedmeshRounds {
    /// @dev `None` is the zero value: a round number that was never opened.
    enum RoundStatus {
        None,
        Open,
        Finalized,
        Aborted
    }

    /**
     * @dev One participant of a round, as the committee saw it.
     * - `bucket`: declared sample-count bucket, 0..`MAX_BUCKET` (protocol/chain/credits.ts).
     * - `spend`: the round's Rényi-DP cost for this member, packed like {IFedmeshLedger-rdpOf}:
     *   8 lanes of 28 bits, fixed point with 6 decimals, rounded up; bits 224..255 zero.
     * - `dpParams`: the DP-SGD parameters the participant declared in its signed submission
     *   (sampling rate q, noise multiplier σ, clipping norm C, steps), packed by
     *   protocol/chain/dp-params.ts `encodeDpParams`; 0 when it trained without DP.
     *
     * The committee computes `spend` from `dpParams` (protocol/chain/dp-params.ts
     * `declaredSpend`), so anyone can recompute every spend from the `RoundFinalized` events.
     * On chain, computing Rényi DP would need logarithms and series the EVM cannot afford, so
     * the contract checks only that a participant without declared parameters spends nothing
     * (`FedmeshRoundsSpendWithoutParams`); that `spend` equals `declaredSpend(dpParams)` is
     * what the t committee signatures vouch for and what an auditor re-checks off chain.
     */
    struct Participant {
        address member;
        uint8 bucket;
        uint256 spend;
        uint256 dpParams;
    }

    /**
     * @dev The EIP-712 record a committee signs (domain: name "fedmesh", version "1", the chain
     * id and this contract). `participants` and `dropped` are sorted by address, strictly
     * ascending, and disjoint. `aggregateHash` identifies the aggregate the committee computed
     * (for secure aggregation, the unmasked sum), `modelHash` the resulting model.
     */
    struct RoundRecord {
        uint64 round;
        bytes32 prevModelHash;
        bytes32 modelHash;
        bytes32 aggregateHash;
        Participant[] participants;
        address[] dropped;
    }

    /// @dev What {getRound} returns.
    struct RoundInfo {
        RoundStatus status;
        bytes32 seed;
        uint64 inputDeadline;
        uint64 finalizeDeadline;
        /// EIP-712 struct hash of the finalized record; zero unless finalized.
        bytes32 recordHash;
        /// Model hash of the finalized record; zero unless finalized.
        bytes32 modelHash;
        address[] committee;
    }

    /// @dev Constructor: need 1 <= threshold <= size <= MAX_COMMITTEE_SIZE.
    error FedmeshRoundsInvalidCommittee(uint256 size, uint256 threshold);

    /// @dev Constructor: both durations must be positive.
    error FedmeshRoundsInvalidDurations(uint256 inputDuration, uint256 finalizeDuration);

    /// @dev `round` is still open; finalize or abort it first.
    error FedmeshRoundsStillOpen(uint64 round);

    /// @dev Fewer active members than the committee size.
    error FedmeshRoundsTooFewActiveMembers(uint256 active, uint256 required);

    /// @dev The record is not for the current round `expected`.
    error FedmeshRoundsUnexpectedRound(uint64 expected, uint64 got);

    /// @dev `round` is not open: it was finalized or aborted, or none was ever opened.
    error FedmeshRoundsNotOpen(uint64 round, RoundStatus status);

    /// @dev Too late to finalize `round`: the block is past its finalize deadline.
    error FedmeshRoundsDeadlinePassed(uint64 round, uint64 deadline);

    /// @dev Too early to abort `round`: its finalize deadline has not passed.
    error FedmeshRoundsDeadlineNotPassed(uint64 round, uint64 deadline);

    /// @dev The record does not extend the chain: `got` is not the head model hash `expected`.
    error FedmeshRoundsPrevModelHashMismatch(bytes32 expected, bytes32 got);

    /// @dev A model hash (initial or recorded) is zero.
    error FedmeshRoundsZeroModelHash();

    /// @dev The record lists no participant.
    error FedmeshRoundsNoParticipants();

    /// @dev The record lists `count` participants, more than `max`.
    error FedmeshRoundsTooManyParticipants(uint256 count, uint256 max);

    /// @dev The record lists `count` dropped members, more than `max`.
    error FedmeshRoundsTooManyDropped(uint256 count, uint256 max);

    /// @dev `participants[index]` is not above `participants[index - 1]` by address.
    error FedmeshRoundsUnsortedParticipants(uint256 index);

    /// @dev `dropped[index]` is not above `dropped[index - 1]` by address.
    error FedmeshRoundsUnsortedDropped(uint256 index);

    /// @dev `member` is listed both as a participant and as dropped.
    error FedmeshRoundsDroppedParticipant(address member);

    /// @dev `member`'s bucket is above `MAX_BUCKET`.
    error FedmeshRoundsInvalidBucket(address member, uint8 bucket);

    /// @dev `member`'s spend has bits set above the 8 RDP lanes.
    error FedmeshRoundsInvalidSpend(address member, uint256 spend);

    /// @dev `member` declared no DP parameters (`dpParams` 0) but is charged a non-zero `spend`.
    error FedmeshRoundsSpendWithoutParams(address member, uint256 spend);

    /// @dev `got` signatures, fewer than the threshold `required`.
    error FedmeshRoundsInsufficientSignatures(uint256 got, uint256 required);

    /// @dev `signatures[index]` is malformed (length, high s, v) or recovers no address.
    error FedmeshRoundsInvalidSignature(uint256 index);

    /// @dev `signer` signed the record but is not on the round's committee.
    error FedmeshRoundsSignerNotInCommittee(address signer);

    /// @dev `signer` signed twice.
    error FedmeshRoundsDuplicateSigner(address signer);

    /// @dev Participant `member` is not an active member.
    error FedmeshRoundsParticipantNotActive(address member);

    /**
     * @dev Round `round` opened with `seed`; `committee` in selection order.
     * Timestamps are seconds (block time).
     */
    // solhint-disable-next-line gas-indexed-events
    event RoundOpened(
        uint64 indexed round, bytes32 seed, address[] committee, uint64 inputDeadline, uint64 finalizeDeadline
    );

    /**
     * @dev Round `round` was finalized with `record` (whose EIP-712 struct hash is `recordHash`),
     * signed by `signers` in signature order. Everything an auditor needs to recompute credits
     * and budgets is in these events (docs/credits.md).
     */
    // solhint-disable-next-line gas-indexed-events
    event RoundFinalized(uint64 indexed round, bytes32 recordHash, RoundRecord record, address[] signers);

    /// @dev Round `round` passed its finalize deadline without a record.
    event RoundAborted(uint64 indexed round);

    /**
     * @notice Opens round `currentRound() + 1` and selects its committee.
     *
     * seed = keccak256(abi.encode(block.prevrandao, prevRecordHash, round)), where
     * prevRecordHash is the record hash of the last finalized round (zero before any). The
     * committee is {selectCommittee}(seed, activeMembers(), committeeSize).
     * inputDeadline = block.timestamp + inputDuration; finalizeDeadline = inputDeadline +
     * finalizeDuration.
     *
     * Requirements:
     * - the caller is an active member (else `FedmeshRegistryNotActive`);
     * - the current round, if any, is finalized or aborted (else `FedmeshRoundsStillOpen`);
     * - at least `committeeSize` members are active (else `FedmeshRoundsTooFewActiveMembers`).
     *
     * Emits a {RoundOpened} event.
     */
    function openRound() external returns (uint64 round);

    /**
     * @notice Finalizes the open round with a record signed by its committee, applies the
     * credits and privacy spends, and moves the head of the model chain.
     *
     * Requirements, checked in this order:
     * - `record.round` is `currentRound()` (else `FedmeshRoundsUnexpectedRound`), which is open
     *   (else `FedmeshRoundsNotOpen`) and not past its finalize deadline (else
     *   `FedmeshRoundsDeadlinePassed`);
     * - `record.prevModelHash` is `headModelHash()` (else `FedmeshRoundsPrevModelHashMismatch`);
     * - `record.modelHash` is non-zero (else `FedmeshRoundsZeroModelHash`);
     * - 1..MAX_ENTRIES participants and at most MAX_ENTRIES dropped (else
     *   `FedmeshRoundsNoParticipants`, `FedmeshRoundsTooManyParticipants`,
     *   `FedmeshRoundsTooManyDropped`);
     * - per participant in order: sorted, bucket in range, spend within the lanes, no spend
     *   without declared DP parameters (else `FedmeshRoundsUnsortedParticipants`,
     *   `FedmeshRoundsInvalidBucket`, `FedmeshRoundsInvalidSpend`,
     *   `FedmeshRoundsSpendWithoutParams`); then dropped sorted and disjoint from the participants
     *   (else `FedmeshRoundsUnsortedDropped`, `FedmeshRoundsDroppedParticipant`);
     * - at least `threshold` signatures (else `FedmeshRoundsInsufficientSignatures`), each, in
     *   order, a valid signature of the record's EIP-712 digest (else
     *   `FedmeshRoundsInvalidSignature`) by a committee member of the round (else
     *   `FedmeshRoundsSignerNotInCommittee`) that has not signed before in the list (else
     *   `FedmeshRoundsDuplicateSigner`);
     * - per participant in order: active (else `FedmeshRoundsParticipantNotActive`) and within
     *   its cap after the spend (else `FedmeshLedgerBudgetExceeded`).
     *
     * Emits a {RoundFinalized} event.
     */
    function finalizeRound(RoundRecord calldata record, bytes[] calldata signatures) external;

    /**
     * @notice Aborts the open round once its finalize deadline has passed. Anyone may call it,
     * so a silent committee cannot stall the federation.
     *
     * Requirements:
     * - the current round is open (else `FedmeshRoundsNotOpen`);
     * - the block is past its finalize deadline (else `FedmeshRoundsDeadlineNotPassed`).
     *
     * Emits a {RoundAborted} event.
     */
    function abortRound() external;

    /// @notice Hash of the agreed initial model: round 1's `prevModelHash`.
    function initialModelHash() external view returns (bytes32);

    /**
     * @notice SHA-256 of the federation manifest every member must share (protocol/manifest.ts
     * `manifestHash`: the canonical JSON's UTF-8), fixed at deployment; zero when the deployer
     * gave none. A node whose manifest hashes differently refuses to join.
     */
    function manifestHash() external view returns (bytes32);

    /// @notice Model hash of the last finalized round, or the initial model hash when none.
    function headModelHash() external view returns (bytes32);

    /// @notice Number of the last opened round (whatever its status); 0 before any.
    function currentRound() external view returns (uint64);

    /// @notice Number of the last finalized round; 0 before any.
    function lastFinalizedRound() external view returns (uint64);

    /// @notice Round `round`; status `None` and zero fields when never opened.
    function getRound(uint64 round) external view returns (RoundInfo memory);

    /// @notice Committee size m.
    function committeeSize() external view returns (uint256);

    /// @notice Signatures needed to finalize, t.
    function threshold() external view returns (uint256);

    /// @notice Seconds from opening to the input deadline.
    function inputDuration() external view returns (uint256);

    /// @notice Seconds from the input deadline to the finalize deadline.
    function finalizeDuration() external view returns (uint256);

    /**
     * @notice The committee procedure itself, for auditors and tests: `size` distinct entries of
     * `members` drawn with `seed` (docs/contracts.md, "Committee selection"). For k = 0, 1, …:
     * j = uint256(keccak256(abi.encode(seed, k))) mod members.length; j is taken unless already
     * taken; stop at `size` entries. Returns them in the order taken.
     *
     * Requirements:
     * - `size` <= `members.length` (else `FedmeshRoundsTooFewActiveMembers`).
     */
    function selectCommittee(bytes32 seed, address[] calldata members, uint256 size)
        external
        pure
        returns (address[] memory);

    /// @notice EIP-712 struct hash of `record` (hashStruct, without the domain).
    function hashRoundRecord(RoundRecord calldata record) external pure returns (bytes32);

    /// @notice EIP-712 digest of `record` under this contract's domain: what committees sign.
    function roundRecordDigest(RoundRecord calldata record) external view returns (bytes32);
}
