// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

// The rules read as stated ("past the deadline", "strictly ascending"); a strict rewrite saves
// 3 gas and costs clarity.
// solhint-disable gas-strict-inequalities

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {FedmeshRegistry} from "./FedmeshRegistry.sol";
import {IFedmeshLedger} from "./IFedmeshLedger.sol";
import {IFedmeshRounds} from "./IFedmeshRounds.sol";
import {CommitteeSelection} from "./libraries/CommitteeSelection.sol";
import {PackedLedger} from "./libraries/PackedLedger.sol";

/**
 * @title FedmeshFederation
 * @notice A fedmesh federation on chain: the member registry ({FedmeshRegistry}), rounds with
 * committees drawn from an on-chain seed, finalization by a quorum of EIP-712 committee
 * signatures, contribution credits and a per-member Rényi-DP budget ledger. docs/contracts.md
 * describes the whole; protocol/chain/ reproduces its committee, record hash and budget
 * encoding off chain.
 *
 * Every parameter is fixed at deployment: committee size m and threshold t, the two round
 * durations, the initial model hash, the manifest hash and the c_α constants for the
 * federation's δ. There is no
 * upgrade path; a new federation is a new deployment.
 */
contract FedmeshFederation is FedmeshRegistry, IFedmeshRounds, IFedmeshLedger, EIP712 {
    using PackedLedger for uint256;

    /// @dev Constructor parameters (see docs/contracts.md, "Deployment").
    struct FederationConfig {
        bytes32 initialModelHash;
        /// SHA-256 of the canonical federation manifest (protocol/manifest.ts); zero when none.
        bytes32 manifestHash;
        uint8 committeeSize;
        uint8 threshold;
        uint32 inputDuration;
        uint32 finalizeDuration;
        /// c_α for δ at {rdpOrders}, fixed point with 6 decimals, rounded up (protocol/chain/budget.ts).
        int32[8] cAlpha;
    }

    /// @dev Round data. Slot 3 packs the deadlines with the status.
    struct RoundData {
        bytes32 seed;
        bytes32 recordHash;
        bytes32 modelHash;
        uint64 inputDeadline;
        uint64 finalizeDeadline;
        RoundStatus status;
        address[] committee;
    }

    /// @notice Largest committee: signer deduplication uses a 32-bit set, and the selection's
    /// repeat check is quadratic in m.
    uint256 public constant MAX_COMMITTEE_SIZE = 32;

    /// @notice Most participants, and most dropped members, in one record; bounds the gas of
    /// {finalizeRound} (about 3.5M at the limit) well below a block.
    uint256 public constant MAX_ENTRIES = 256;

    /// @notice Highest sample-count bucket (protocol/chain/credits.ts: 8 buckets).
    uint8 public constant MAX_BUCKET = 7;

    /// @notice Credits per committee signature carried by the finalizing transaction.
    uint256 public constant SERVICE_CREDIT = 4;

    /// @notice ε reported for an RDP word whose lanes are all saturated.
    uint256 public constant EPSILON_UNBOUNDED = PackedLedger.EPSILON_UNBOUNDED;

    // Type strings are hashed at compile time; their length costs nothing at run time.
    // solhint-disable-next-line gas-small-strings
    bytes32 private constant PARTICIPANT_TYPEHASH = keccak256("Participant(address member,uint8 bucket,uint256 spend,uint256 dpParams)");

    /// @dev EIP-712 encodeType: the primary type, then referenced types sorted by name.
    // solhint-disable-next-line gas-small-strings
    bytes32 private constant ROUND_RECORD_TYPEHASH = keccak256(
        "RoundRecord(uint64 round,bytes32 prevModelHash,bytes32 modelHash,bytes32 aggregateHash,"
        "Participant[] participants,address[] dropped)"
        "Participant(address member,uint8 bucket,uint256 spend,uint256 dpParams)"
    );

    /// @dev The 8 RDP orders times 100, packed as uint32 at bits 32i (1.25, 2.5, 4, 7, 12, 20, 32, 64).
    uint256 private constant RDP_ORDERS_X100 =
        125 | (250 << 32) | (400 << 64) | (700 << 96) | (1200 << 128) | (2000 << 160) | (3200 << 192) | (6400 << 224);

    // Immutables are named like the rest of the private state (STYLE.md §16, as OpenZeppelin's
    // EIP712 names its own).
    // solhint-disable immutable-vars-naming
    bytes32 private immutable _initialModelHash;
    bytes32 private immutable _manifestHash;
    uint256 private immutable _committeeSize;
    uint256 private immutable _threshold;
    uint256 private immutable _inputDuration;
    uint256 private immutable _finalizeDuration;
    /// @dev c_α as int32 at bits 32i, read by {PackedLedger-epsilon}.
    uint256 private immutable _cAlphaPacked;
    // solhint-enable immutable-vars-naming

    /// @dev Last opened round; rounds 1.._currentRound exist.
    uint64 private _currentRound;
    /// @dev Last finalized round. Shares the slot with `_currentRound` and `_totalCredits`, so
    /// finalizing writes the counters once.
    uint64 private _lastFinalizedRound;
    uint128 private _totalCredits;

    mapping(uint64 round => RoundData) private _rounds;

    /**
     * @param admin Gets `DEFAULT_ADMIN_ROLE` and `FEDERATION_ADMIN_ROLE`.
     * @param config Committee, durations, initial model hash and c_α (see {FederationConfig}).
     *
     * Requirements:
     * - `admin` is not the zero address (else `FedmeshRegistryZeroAddress`);
     * - 1 <= threshold <= committeeSize <= MAX_COMMITTEE_SIZE (else `FedmeshRoundsInvalidCommittee`);
     * - both durations are positive (else `FedmeshRoundsInvalidDurations`);
     * - the initial model hash is non-zero (else `FedmeshRoundsZeroModelHash`).
     */
    constructor(address admin, FederationConfig memory config) FedmeshRegistry(admin) EIP712("fedmesh", "1") {
        if (config.threshold == 0 || config.threshold > config.committeeSize || config.committeeSize > MAX_COMMITTEE_SIZE)
        {
            revert FedmeshRoundsInvalidCommittee(config.committeeSize, config.threshold);
        }
        if (config.inputDuration == 0 || config.finalizeDuration == 0) {
            revert FedmeshRoundsInvalidDurations(config.inputDuration, config.finalizeDuration);
        }
        if (config.initialModelHash == bytes32(0)) {
            revert FedmeshRoundsZeroModelHash();
        }
        _initialModelHash = config.initialModelHash;
        _manifestHash = config.manifestHash;
        _committeeSize = config.committeeSize;
        _threshold = config.threshold;
        _inputDuration = config.inputDuration;
        _finalizeDuration = config.finalizeDuration;
        uint256 packed = 0;
        for (uint256 i = 0; i < PackedLedger.LANES; ++i) {
            packed |= uint256(uint32(config.cAlpha[i])) << (i * 32);
        }
        _cAlphaPacked = packed;
    }

    // ───────────────────────────── rounds ─────────────────────────────

    /// @inheritdoc IFedmeshRounds
    function openRound() external returns (uint64 round) {
        if (_ledgerWord(msg.sender).status() != STATUS_ACTIVE) {
            revert FedmeshRegistryNotActive(msg.sender);
        }
        uint64 current = _currentRound;
        if (_rounds[current].status == RoundStatus.Open) {
            revert FedmeshRoundsStillOpen(current);
        }
        uint256 active = _activeMemberCount();
        uint256 size = _committeeSize;
        if (active < size) {
            revert FedmeshRoundsTooFewActiveMembers(active, size);
        }
        round = current + 1;
        bytes32 seed = keccak256(abi.encode(block.prevrandao, _rounds[_lastFinalizedRound].recordHash, round));
        uint256[] memory drawn = CommitteeSelection.indices(seed, active, size);
        address[] memory committee = new address[](size);
        for (uint256 i = 0; i < size; ++i) {
            committee[i] = _activeMemberAt(drawn[i]);
        }
        uint64 inputDeadline = uint64(block.timestamp + _inputDuration);
        _openRound(round, seed, committee, inputDeadline, inputDeadline + uint64(_finalizeDuration));
    }

    /// @inheritdoc IFedmeshRounds
    function finalizeRound(RoundRecord calldata record, bytes[] calldata signatures) external {
        uint64 round = record.round;
        RoundData storage data = _checkFinalizable(round);
        if (record.prevModelHash != headModelHash()) {
            revert FedmeshRoundsPrevModelHashMismatch(headModelHash(), record.prevModelHash);
        }
        if (record.modelHash == bytes32(0)) {
            revert FedmeshRoundsZeroModelHash();
        }
        _checkEntries(record.participants, record.dropped);
        bytes32 recordHash = _hashRoundRecord(record);
        address[] memory signers = _recoverSigners(_hashTypedDataV4(recordHash), signatures, data.committee);
        uint256 minted = _applyParticipants(record.participants);
        minted += _applyServiceCredits(signers);
        _finalizeRound(round, recordHash, record, signers, minted);
    }

    /// @inheritdoc IFedmeshRounds
    function abortRound() external {
        uint64 round = _currentRound;
        RoundData storage data = _rounds[round];
        if (data.status != RoundStatus.Open) {
            revert FedmeshRoundsNotOpen(round, data.status);
        }
        if (block.timestamp <= data.finalizeDeadline) {
            revert FedmeshRoundsDeadlineNotPassed(round, data.finalizeDeadline);
        }
        _abortRound(round);
    }

    /// @inheritdoc IFedmeshRounds
    function initialModelHash() external view returns (bytes32) {
        return _initialModelHash;
    }

    /// @inheritdoc IFedmeshRounds
    function manifestHash() external view returns (bytes32) {
        return _manifestHash;
    }

    /// @inheritdoc IFedmeshRounds
    function headModelHash() public view returns (bytes32) {
        // Derived, not stored: the head is always the last finalized round's model hash.
        uint64 last = _lastFinalizedRound;
        return last == 0 ? _initialModelHash : _rounds[last].modelHash;
    }

    /// @inheritdoc IFedmeshRounds
    function currentRound() external view returns (uint64) {
        return _currentRound;
    }

    /// @inheritdoc IFedmeshRounds
    function lastFinalizedRound() external view returns (uint64) {
        return _lastFinalizedRound;
    }

    /// @inheritdoc IFedmeshRounds
    function getRound(uint64 round) external view returns (RoundInfo memory) {
        RoundData storage data = _rounds[round];
        if (round == 0) {
            // Slot 0 holds nothing; reading it as a round would only mislead.
            return RoundInfo(RoundStatus.None, 0, 0, 0, 0, 0, new address[](0));
        }
        return RoundInfo({
            status: data.status,
            seed: data.seed,
            inputDeadline: data.inputDeadline,
            finalizeDeadline: data.finalizeDeadline,
            recordHash: data.recordHash,
            modelHash: data.modelHash,
            committee: data.committee
        });
    }

    /// @inheritdoc IFedmeshRounds
    function committeeSize() external view returns (uint256) {
        return _committeeSize;
    }

    /// @inheritdoc IFedmeshRounds
    function threshold() external view returns (uint256) {
        return _threshold;
    }

    /// @inheritdoc IFedmeshRounds
    function inputDuration() external view returns (uint256) {
        return _inputDuration;
    }

    /// @inheritdoc IFedmeshRounds
    function finalizeDuration() external view returns (uint256) {
        return _finalizeDuration;
    }

    /// @inheritdoc IFedmeshRounds
    function selectCommittee(bytes32 seed, address[] calldata members, uint256 size)
        external
        pure
        returns (address[] memory committee)
    {
        if (size > members.length) {
            revert FedmeshRoundsTooFewActiveMembers(members.length, size);
        }
        uint256[] memory drawn = CommitteeSelection.indices(seed, members.length, size);
        committee = new address[](size);
        for (uint256 i = 0; i < size; ++i) {
            committee[i] = members[drawn[i]];
        }
    }

    /// @inheritdoc IFedmeshRounds
    function hashRoundRecord(RoundRecord calldata record) external pure returns (bytes32) {
        return _hashRoundRecord(record);
    }

    /// @inheritdoc IFedmeshRounds
    function roundRecordDigest(RoundRecord calldata record) external view returns (bytes32) {
        return _hashTypedDataV4(_hashRoundRecord(record));
    }

    // ───────────────────────────── ledger ─────────────────────────────

    /// @inheritdoc IFedmeshLedger
    function creditsOf(address account) external view returns (uint256) {
        return _ledgerWord(account).credits();
    }

    /// @inheritdoc IFedmeshLedger
    function totalCredits() external view returns (uint256) {
        return _totalCredits;
    }

    /// @inheritdoc IFedmeshLedger
    function rdpOf(address account) external view returns (uint256) {
        return _ledgerWord(account).rdp();
    }

    /// @inheritdoc IFedmeshLedger
    function privacyBudgetOf(address account) external view returns (PrivacyBudget memory budget) {
        budget.rdp = _ledgerWord(account).rdp();
        budget.epsilonSpent = budget.rdp.epsilon(_cAlphaPacked);
        budget.epsilonCap = _ledgerWord(account).status() == STATUS_NONE ? 0 : _epsilonCap(account);
        budget.remaining = budget.epsilonSpent >= budget.epsilonCap ? 0 : budget.epsilonCap - budget.epsilonSpent;
    }

    /// @inheritdoc IFedmeshLedger
    function epsilonOf(uint256 rdp) external view returns (uint256) {
        return (rdp & PackedLedger.RDP_MASK).epsilon(_cAlphaPacked);
    }

    /// @inheritdoc IFedmeshLedger
    function cAlpha() external view returns (int32[8] memory constants) {
        for (uint256 i = 0; i < PackedLedger.LANES; ++i) {
            constants[i] = int32(uint32(_cAlphaPacked >> (i * 32)));
        }
    }

    /// @inheritdoc IFedmeshLedger
    function rdpOrders() external pure returns (uint32[8] memory orders) {
        for (uint256 i = 0; i < PackedLedger.LANES; ++i) {
            orders[i] = uint32(RDP_ORDERS_X100 >> (i * 32));
        }
    }

    /// @inheritdoc IFedmeshLedger
    function participationCredit(uint8 bucket) public pure returns (uint256) {
        return uint256(bucket) + 1;
    }

    // ───────────────────────────── internals ─────────────────────────────

    /// @dev The storage of `round` after checking that it can be finalized now.
    function _checkFinalizable(uint64 round) private view returns (RoundData storage data) {
        uint64 current = _currentRound;
        if (round != current) {
            revert FedmeshRoundsUnexpectedRound(current, round);
        }
        data = _rounds[round];
        if (data.status != RoundStatus.Open) {
            revert FedmeshRoundsNotOpen(round, data.status);
        }
        if (block.timestamp > data.finalizeDeadline) {
            revert FedmeshRoundsDeadlinePassed(round, data.finalizeDeadline);
        }
    }

    /// @dev Shape of the record's lists: sizes, order, buckets, spends, declared parameters, disjointness.
    function _checkEntries(Participant[] calldata participants, address[] calldata dropped) private pure {
        uint256 count = participants.length;
        if (count == 0) {
            revert FedmeshRoundsNoParticipants();
        }
        if (count > MAX_ENTRIES) {
            revert FedmeshRoundsTooManyParticipants(count, MAX_ENTRIES);
        }
        if (dropped.length > MAX_ENTRIES) {
            revert FedmeshRoundsTooManyDropped(dropped.length, MAX_ENTRIES);
        }
        address previous = address(0);
        for (uint256 i = 0; i < count; ++i) {
            Participant calldata p = participants[i];
            if (i > 0 && p.member <= previous) {
                revert FedmeshRoundsUnsortedParticipants(i);
            }
            if (p.bucket > MAX_BUCKET) {
                revert FedmeshRoundsInvalidBucket(p.member, p.bucket);
            }
            if (p.spend > PackedLedger.RDP_MASK) {
                revert FedmeshRoundsInvalidSpend(p.member, p.spend);
            }
            // The only RDP rule the EVM can afford: no declared mechanism, no spend. That the
            // spend matches the declared parameters is vouched for by the committee's signatures
            // and re-checked by auditors off chain (docs/privacy.md).
            if (p.dpParams == 0 && p.spend != 0) {
                revert FedmeshRoundsSpendWithoutParams(p.member, p.spend);
            }
            previous = p.member;
        }
        // Both lists ascend, so one merge walk finds any address on both.
        uint256 j = 0;
        for (uint256 i = 0; i < dropped.length; ++i) {
            address d = dropped[i];
            if (i > 0 && d <= dropped[i - 1]) {
                revert FedmeshRoundsUnsortedDropped(i);
            }
            while (j < count && participants[j].member < d) {
                ++j;
            }
            if (j < count && participants[j].member == d) {
                revert FedmeshRoundsDroppedParticipant(d);
            }
        }
    }

    /**
     * @dev The signers of `digest`, in signature order, after checking the quorum: at least
     * `_threshold` valid signatures by distinct members of `committee`.
     */
    function _recoverSigners(bytes32 digest, bytes[] calldata signatures, address[] storage committee)
        private
        view
        returns (address[] memory signers)
    {
        uint256 count = signatures.length;
        if (count < _threshold) {
            revert FedmeshRoundsInsufficientSignatures(count, _threshold);
        }
        address[] memory members = committee;
        signers = new address[](count);
        uint256 used = 0; // bit k set: members[k] has signed
        for (uint256 i = 0; i < count; ++i) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) {
                revert FedmeshRoundsInvalidSignature(i);
            }
            uint256 position = members.length;
            for (uint256 k = 0; k < members.length; ++k) {
                if (members[k] == signer) {
                    position = k;
                    break;
                }
            }
            if (position == members.length) {
                revert FedmeshRoundsSignerNotInCommittee(signer);
            }
            if (used & (1 << position) != 0) {
                revert FedmeshRoundsDuplicateSigner(signer);
            }
            used |= 1 << position;
            signers[i] = signer;
        }
    }

    /// @dev Checks each participant and writes its new ledger word; returns the credits minted.
    function _applyParticipants(Participant[] calldata participants) private returns (uint256 minted) {
        uint256 cAlphaPacked = _cAlphaPacked;
        for (uint256 i = 0; i < participants.length; ++i) {
            Participant calldata p = participants[i];
            address member = p.member;
            uint256 word = _ledgerWord(member);
            if (word.status() != STATUS_ACTIVE) {
                revert FedmeshRoundsParticipantNotActive(member);
            }
            uint256 rdp = word.rdp().addRdp(p.spend);
            uint256 epsilon = rdp.epsilon(cAlphaPacked);
            uint256 cap = _epsilonCap(member);
            if (epsilon > cap) {
                revert FedmeshLedgerBudgetExceeded(member, epsilon, cap);
            }
            uint256 credit = participationCredit(p.bucket);
            uint256 credits = word.credits() + credit;
            if (credits > PackedLedger.CREDITS_MAX) {
                revert FedmeshLedgerCreditsOverflow(member);
            }
            _setLedgerWord(member, PackedLedger.pack(rdp, STATUS_ACTIVE, credits));
            minted += credit;
        }
    }

    /// @dev Credits `SERVICE_CREDIT` to each signer, whatever its status now; returns the credits minted.
    function _applyServiceCredits(address[] memory signers) private returns (uint256 minted) {
        for (uint256 i = 0; i < signers.length; ++i) {
            address signer = signers[i];
            uint256 word = _ledgerWord(signer);
            uint256 credits = word.credits() + SERVICE_CREDIT;
            if (credits > PackedLedger.CREDITS_MAX) {
                revert FedmeshLedgerCreditsOverflow(signer);
            }
            _setLedgerWord(signer, PackedLedger.pack(word.rdp(), word.status(), credits));
        }
        minted = signers.length * SERVICE_CREDIT;
    }

    /**
     * @dev EIP-712 hashStruct(record) (https://eips.ethereum.org/EIPS/eip-712#definition-of-hashstruct):
     * arrays are the keccak of their elements' encodings concatenated, a struct element encodes
     * as its own hashStruct and an address as a 32-byte word.
     */
    function _hashRoundRecord(RoundRecord calldata record) private pure returns (bytes32) {
        Participant[] calldata participants = record.participants;
        bytes32[] memory hashes = new bytes32[](participants.length);
        for (uint256 i = 0; i < participants.length; ++i) {
            Participant calldata p = participants[i];
            hashes[i] = keccak256(abi.encode(PARTICIPANT_TYPEHASH, p.member, p.bucket, p.spend, p.dpParams));
        }
        return keccak256(
            abi.encode(
                ROUND_RECORD_TYPEHASH,
                record.round,
                record.prevModelHash,
                record.modelHash,
                record.aggregateHash,
                keccak256(abi.encodePacked(hashes)),
                keccak256(abi.encodePacked(record.dropped))
            )
        );
    }

    /// @dev Emits a {RoundOpened} event.
    function _openRound(
        uint64 round,
        bytes32 seed,
        address[] memory committee,
        uint64 inputDeadline,
        uint64 finalizeDeadline
    ) private {
        RoundData storage data = _rounds[round];
        data.seed = seed;
        data.inputDeadline = inputDeadline;
        data.finalizeDeadline = finalizeDeadline;
        data.status = RoundStatus.Open;
        data.committee = committee;
        _currentRound = round;
        emit RoundOpened(round, seed, committee, inputDeadline, finalizeDeadline);
    }

    /// @dev Emits a {RoundFinalized} event. Ledger words were written by the caller.
    function _finalizeRound(
        uint64 round,
        bytes32 recordHash,
        RoundRecord calldata record,
        address[] memory signers,
        uint256 minted
    ) private {
        RoundData storage data = _rounds[round];
        data.status = RoundStatus.Finalized;
        data.recordHash = recordHash;
        data.modelHash = record.modelHash;
        _lastFinalizedRound = round;
        // At most MAX_ENTRIES * 8 + MAX_COMMITTEE_SIZE * 4 per round: no uint128 overflow.
        _totalCredits += uint128(minted);
        emit RoundFinalized(round, recordHash, record, signers);
    }

    /// @dev Emits a {RoundAborted} event.
    function _abortRound(uint64 round) private {
        _rounds[round].status = RoundStatus.Aborted;
        emit RoundAborted(round);
    }
}
