// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title IFedmeshRounds
 * @notice The round lifecycle of a fedmesh federation (docs/contracts.md, "Rounds"):
 *
 *     (closed) ──openRound(): schedule──▶ Scheduled ──openRound(), after the seed block──▶ Open
 *     Open ──chargeRound(round, lock, participants, entrySignatures, signatures)──▶ Open, charged
 *     Open ──finalizeRound(record, entrySignatures, signatures)──▶ Finalized ──┐
 *     Open ──abortRound(), after the finalize deadline──▶ Aborted ─────────────┴─▶ next round Scheduled
 *
 * One round is open at a time. A round's committee is drawn from the active list at a snapshot
 * block with a seed read from the hash of a seed block `seedDelay` blocks after it; both are
 * fixed before the seed exists (when the previous round closes, or by a scheduling call), so
 * whoever opens the round knows the seed only once nothing about the draw can change. The
 * committee aggregates off chain and signs an EIP-712 {RoundRecord}; at least `threshold`
 * distinct, active committee members' signatures finalize it. Every participant line carries
 * the participant's own EIP-712 `ParticipantEntry` signature, so no quorum can charge a member
 * that did not agree to that spend in that round. The finalized model hashes form an unbroken
 * chain from the initial model hash.
 *
 * Charge before release (red team F18): under secure aggregation the committee's reveals release
 * the sum of U_3's inputs to anyone who reads the gossip, whether or not a record is finalized
 * afterwards. So the committee first charges U_3 with {chargeRound} (t signatures over the lock,
 * every participant's own entry signature) and reveals only once that charge is on chain; no
 * later event (an abort, a suspension of committee members, a sum nobody accepts) can leave the
 * release uncharged. {finalizeRound} of a charged round then only checks that its record names
 * exactly the charged participants. A round finalized without a charge (no secure aggregation)
 * is charged by {finalizeRound}, as before.
 *
 * Seed bias that remains (docs/contracts.md, "Committee selection"): the proposer of the seed
 * block can choose among the block hashes it can build (a validator colluding with a member
 * can grind); nobody else can. A member can discard one draw only by having no active member
 * open the round for 256 blocks (the seed block's hash then expires and the next call
 * schedules anew), or by letting a round abort (each abort costs a whole round and schedules a
 * fresh snapshot and seed).
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
     * @dev One participant of a round, as it signed its entry.
     * - `dpParams`: the DP-SGD parameters the participant declared (sampling rate q, noise
     *   multiplier σ, clipping norm C, steps), packed by protocol/chain/dp-params.ts
     *   `encodeDpParams`; 0 when it trained without DP (refused in a DP federation).
     * - `spend`: the round's Rényi-DP cost for this member, packed like {IFedmeshLedger-rdpOf}:
     *   8 lanes of 28 bits, fixed point with 6 decimals, rounded up; bits 224..255 zero.
     *
     * The participant signs EIP-712
     * `ParticipantEntry(uint64 round,address member,uint256 dpParams,uint256 spend)` for the
     * round; {finalizeRound} recovers that signature. Computing Rényi DP on chain would need
     * logarithms and series the EVM cannot afford, so that `spend` equals
     * `declaredSpend(dpParams)` is checked by the committee before it admits the input and by
     * auditors afterwards; the signature means a wrong spend can only be the member's own.
     */
    struct Participant {
        address member;
        uint256 dpParams;
        uint256 spend;
    }

    /// @dev A participant's ECDSA signature of its `ParticipantEntry` in EIP-2098 compact form.
    struct EntrySignature {
        bytes32 r;
        bytes32 vs;
    }

    /**
     * @dev The EIP-712 record a committee signs (domain: name "fedmesh", version "1", the chain
     * id and this contract). `participants` are sorted by address, strictly ascending.
     * `aggregateHash` identifies the aggregate the committee computed (for secure aggregation,
     * the unmasked sum), `modelHash` the resulting model. Bit k of `serviceMask` credits
     * committee position k with `SERVICE_CREDIT` (the members whose work is in the round's
     * certificate); it is signed, so whoever submits cannot strip credits (audit finding L-3).
     * There is no list of dropped members: it had no meaning on chain and made a record grow
     * with the membership (audit finding H-1).
     */
    struct RoundRecord {
        uint64 round;
        bytes32 prevModelHash;
        bytes32 modelHash;
        bytes32 aggregateHash;
        uint256 serviceMask;
        Participant[] participants;
    }

    /// @dev What {getRound} returns; a return value, never stored, so its packing costs nothing.
    // solhint-disable-next-line gas-struct-packing
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
        /// Block whose active list the committee was drawn from.
        uint64 snapshotBlock;
        /// Block whose hash seeded the draw.
        uint64 seedBlock;
        /// Hash of the participants {chargeRound} charged (as in {RoundCharged}); zero when uncharged.
        bytes32 chargedHash;
    }

    /// @dev Constructor: need 1 <= threshold <= size <= MAX_COMMITTEE_SIZE and 2·threshold > size.
    error FedmeshRoundsInvalidCommittee(uint256 size, uint256 threshold);

    /// @dev Constructor: both durations must be positive.
    error FedmeshRoundsInvalidDurations(uint256 inputDuration, uint256 finalizeDuration);

    /// @dev Constructor: the seed delay is above `MAX_SEED_DELAY` blocks.
    error FedmeshRoundsInvalidSeedDelay(uint256 seedDelay);

    /// @dev `round` is still open; finalize or abort it first.
    error FedmeshRoundsStillOpen(uint64 round);

    /// @dev Fewer active members than the committee size.
    error FedmeshRoundsTooFewActiveMembers(uint256 active, uint256 required);

    /// @dev The next round's seed block `seedBlock` is not yet in the past.
    error FedmeshRoundsSeedNotReady(uint256 seedBlock, uint256 blockNumber);

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

    /// @dev `participants[index]` is not above `participants[index - 1]` by address.
    error FedmeshRoundsUnsortedParticipants(uint256 index);

    /// @dev `member`'s spend has bits set above the 8 RDP lanes.
    error FedmeshRoundsInvalidSpend(address member, uint256 spend);

    /// @dev `member` declared no DP parameters (`dpParams` 0) but is charged a non-zero `spend`.
    error FedmeshRoundsSpendWithoutParams(address member, uint256 spend);

    /// @dev The federation requires DP (fixed at deployment) and `member` declared none.
    error FedmeshRoundsDpRequired(address member);

    /// @dev `got` entry signatures for `expected` participants.
    error FedmeshRoundsEntrySignatureCount(uint256 got, uint256 expected);

    /// @dev `entrySignatures[index]` is not `member`'s signature of its `ParticipantEntry`.
    error FedmeshRoundsInvalidEntrySignature(address member, uint256 index);

    /// @dev The service mask has bits at or above the committee size.
    error FedmeshRoundsInvalidServiceMask(uint256 serviceMask);

    /// @dev `got` counted committee signatures, fewer than the threshold `required`.
    error FedmeshRoundsInsufficientSignatures(uint256 got, uint256 required);

    /// @dev `signatures[index]` is malformed (length, high s, v) or recovers no address.
    error FedmeshRoundsInvalidSignature(uint256 index);

    /// @dev `signer` signed the record but is not on the round's committee.
    error FedmeshRoundsSignerNotInCommittee(address signer);

    /// @dev `signer` signed twice.
    error FedmeshRoundsDuplicateSigner(address signer);

    /// @dev Participant `member` is not a member (and was not removed during the round).
    error FedmeshRoundsParticipantNotMember(address member);

    /// @dev `round` was already charged, for the participants hashing to `chargedHash`.
    error FedmeshRoundsAlreadyCharged(uint64 round, bytes32 chargedHash);

    /// @dev `round` was charged for participants hashing to `charged`; the record's hash to `got`.
    error FedmeshRoundsChargeMismatch(uint64 round, bytes32 charged, bytes32 got);

    /// @dev Round `round`'s committee will be drawn from the active list at `snapshotBlock`
    /// with the hash of `seedBlock`.
    // solhint-disable-next-line gas-indexed-events
    event RoundScheduled(uint64 indexed round, uint64 snapshotBlock, uint64 seedBlock);

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
     * signed by `signers` (the counted ones, in signature order); `credited` are the committee
     * members that got `SERVICE_CREDIT`. Everything an auditor needs to recompute credits and
     * budgets is in these events (docs/credits.md).
     */
    // solhint-disable-next-line gas-indexed-events
    event RoundFinalized(
        uint64 indexed round, bytes32 recordHash, RoundRecord record, address[] signers, address[] credited
    );

    /**
     * @dev Round `round`'s participants were charged before any reveal: `lock` is the secure
     * aggregation lock (U_3, D) the committee certified, `participantsHash` the keccak of the
     * participants' EIP-712 struct hashes (as in a record), `participants` the lines charged.
     */
    // solhint-disable-next-line gas-indexed-events
    event RoundCharged(uint64 indexed round, bytes32 lock, bytes32 participantsHash, Participant[] participants);

    /// @dev Round `round` passed its finalize deadline without a record.
    event RoundAborted(uint64 indexed round);

    /**
     * @notice Opens round `currentRound() + 1` and selects its committee, or schedules it.
     *
     * The next round's snapshot block is fixed when the previous round closes (the closing
     * block), its seed block `seedDelay` blocks later. Without a schedule (before round 1), or
     * when the seed block's hash has expired (more than 256 blocks ago), or when the snapshot
     * held fewer than `committeeSize` active members but the list now holds enough, this call
     * schedules: snapshot = this block, seed block = this block + `seedDelay`, and returns 0.
     * Otherwise, once the seed block is past:
     * seed = keccak256(abi.encode(blockhash(seedBlock), prevRecordHash, round)), where
     * prevRecordHash is the record hash of the last finalized round (zero before any); the
     * committee is `selectCommittee`(seed, `activeMembersAt`(snapshotBlock), committeeSize)
     * (both in the registry lens, {IFedmeshRegistry-registryLens}).
     * inputDeadline = block.timestamp + inputDuration; finalizeDeadline = inputDeadline +
     * finalizeDuration. Gas does not depend on the number of members.
     *
     * Requirements:
     * - the caller is an active member (else `FedmeshRegistryNotActive`);
     * - the current round, if any, is finalized or aborted (else `FedmeshRoundsStillOpen`);
     * - the seed block is in the past (else `FedmeshRoundsSeedNotReady`);
     * - at least `committeeSize` members are active (else `FedmeshRoundsTooFewActiveMembers`).
     *
     * Emits a {RoundScheduled} or a {RoundOpened} event.
     */
    function openRound() external returns (uint64 round);

    /**
     * @notice Charges the open round's participants before their inputs are released (red team
     * F18; Bonawitz et al. 2017 §4: the server learns nothing before the consistency check, and
     * here the ledger holds the spend before the reveals). At least `threshold` active committee
     * members sign EIP-712
     * `RoundCharge(uint64 round,bytes32 lock,Participant[] participants)` under this
     * deployment's domain; every participant line is checked and charged exactly as
     * {finalizeRound} charges an uncharged round (spend and `PARTICIPATION_CREDIT`). An abort
     * afterwards leaves the charge: the release happened.
     *
     * Requirements: those of {finalizeRound} that do not concern the record (round, status,
     * deadline; participant count and entry signatures; each line; the quorum over the charge
     * digest), and the round not charged before (else `FedmeshRoundsAlreadyCharged`, carrying
     * the charged hash: a second submitter of the same charge reads it as success).
     *
     * Emits a {RoundCharged} event.
     */
    function chargeRound(
        uint64 round,
        bytes32 lock,
        Participant[] calldata participants,
        EntrySignature[] calldata entrySignatures,
        bytes[] calldata signatures
    ) external;

    /**
     * @notice Finalizes the open round with a record signed by its committee and entries signed
     * by its participants, applies the credits and privacy spends, and moves the head of the
     * model chain. For a round {chargeRound} charged, the record's participants must hash to the
     * charged hash (else `FedmeshRoundsChargeMismatch`), are not charged again, and
     * `entrySignatures` is not read (pass an empty list).
     *
     * Requirements, checked in this order:
     * - `record.round` is `currentRound()` (else `FedmeshRoundsUnexpectedRound`), which is open
     *   (else `FedmeshRoundsNotOpen`) and not past its finalize deadline (else
     *   `FedmeshRoundsDeadlinePassed`);
     * - `record.prevModelHash` is `headModelHash()` (else `FedmeshRoundsPrevModelHashMismatch`);
     * - `record.modelHash` is non-zero (else `FedmeshRoundsZeroModelHash`);
     * - for an uncharged round: 1..MAX_PARTICIPANTS participants (else `FedmeshRoundsNoParticipants`,
     *   `FedmeshRoundsTooManyParticipants`) and one entry signature each (else
     *   `FedmeshRoundsEntrySignatureCount`); the service mask within the committee (else
     *   `FedmeshRoundsInvalidServiceMask`);
     * - for an uncharged round, per participant in order: sorted (else `FedmeshRoundsUnsortedParticipants`), spend within
     *   the lanes (else `FedmeshRoundsInvalidSpend`), no spend without declared DP parameters
     *   (else `FedmeshRoundsSpendWithoutParams`), DP declared in a DP federation (else
     *   `FedmeshRoundsDpRequired`), its entry signed by the member (else
     *   `FedmeshRoundsInvalidEntrySignature`), a member, active or suspended, or removed while
     *   this round was open (else `FedmeshRoundsParticipantNotMember`), within its cap for this
     *   round after the spend (else `FedmeshLedgerBudgetExceeded`), credits within 24 bits (else
     *   `FedmeshLedgerCreditsOverflow`);
     * - each signature, in order, valid over the record's EIP-712 digest (else
     *   `FedmeshRoundsInvalidSignature`) by a committee member of the round (else
     *   `FedmeshRoundsSignerNotInCommittee`) that has not signed before in the list (else
     *   `FedmeshRoundsDuplicateSigner`); signers that are not active now are not counted;
     * - at least `threshold` counted signatures (else `FedmeshRoundsInsufficientSignatures`).
     *
     * A participant's cap for the round is fixed when the round opens ({lowerEpsilonCap} takes
     * effect from the next round) and its spend is fixed by its own signature, so a committee
     * that ran `budgetAfter` before admitting an input cannot be made to revert by it.
     *
     * Emits a {RoundFinalized} event.
     */
    function finalizeRound(
        RoundRecord calldata record,
        EntrySignature[] calldata entrySignatures,
        bytes[] calldata signatures
    ) external;

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

    /// @notice The next round's snapshot and seed blocks; zeros when it is not scheduled.
    function nextRoundSchedule() external view returns (uint64 snapshotBlock, uint64 seedBlock);

    /// @notice Committee size m.
    function committeeSize() external view returns (uint256);

    /// @notice Signatures needed to finalize, t (> m/2).
    function threshold() external view returns (uint256);

    /// @notice Seconds from opening to the input deadline.
    function inputDuration() external view returns (uint256);

    /// @notice Seconds from the input deadline to the finalize deadline.
    function finalizeDuration() external view returns (uint256);

    /// @notice Blocks from a round's snapshot block to its seed block.
    function seedDelay() external view returns (uint256);



}
