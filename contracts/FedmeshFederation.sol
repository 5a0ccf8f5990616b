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
import {IFedmeshStudy} from "./IFedmeshStudy.sol";
import {CommitteeSelection} from "./libraries/CommitteeSelection.sol";
import {PackedLedger} from "./libraries/PackedLedger.sol";

/**
 * @title FedmeshFederation
 * @notice A fedmesh federation on chain: the member registry ({FedmeshRegistry}), rounds with
 * committees drawn from a membership snapshot and a seed fixed after it, finalization by a
 * quorum of EIP-712 committee signatures over a record whose every line the participant signed
 * itself, contribution credits and a per-member Rényi-DP budget ledger. docs/contracts.md
 * describes the whole and lists the invariants; protocol/chain/ reproduces its committee,
 * record hash, entry digest and budget encoding off chain.
 *
 * Every parameter is fixed at deployment: committee size m and threshold t (t > m/2), the two
 * round durations, the seed delay, the initial model hash, the manifest hash, the DP policy, δ
 * and the c_α constants for δ. There is no upgrade path: a new study is a new deployment, which
 * may continue this one's privacy budgets ({IFedmeshStudy}).
 */
contract FedmeshFederation is FedmeshRegistry, IFedmeshRounds, IFedmeshLedger, IFedmeshStudy, EIP712 {
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
        /// Blocks from a round's snapshot block to its seed block, at most MAX_SEED_DELAY.
        uint8 seedDelay;
        /// Whether every participant must declare DP-SGD parameters.
        bool dpRequired;
        /// Seconds a DEFAULT_ADMIN_ROLE handover waits (AccessControlDefaultAdminRules).
        uint48 adminDelay;
        /// δ in units of 1e-18, in (0, 1).
        uint64 delta;
        /// c_α for δ at the lens's `rdpOrders`, fixed point with 6 decimals, rounded up (protocol/chain/budget.ts).
        int32[8] cAlpha;
    }

    /// @dev Round data; the second word packs the deadlines, the draw's blocks and the status.
    struct RoundData {
        bytes32 seed;
        uint64 inputDeadline;
        uint64 finalizeDeadline;
        uint48 snapshotBlock;
        uint48 seedBlock;
        RoundStatus status;
        bytes32 recordHash;
        bytes32 modelHash;
        address[] committee;
        /// @dev Hash of the participants {chargeRound} charged; zero while uncharged.
        bytes32 chargedHash;
    }

    /// @notice Largest committee: signer deduplication and the service mask use a 32-bit set,
    /// and the selection's repeat check is quadratic in m.
    uint256 public constant MAX_COMMITTEE_SIZE = 32;

    /**
     * @notice Most participants in one record. Bounds {finalizeRound}'s gas: measured by
     * `npm run bench:gas` at about 20k gas per participant (two cold slots, one SSTORE, one
     * ecrecover of its entry signature, its calldata and event data) on top of a fixed part,
     * so the limit stays below 10M gas, a third of a mainnet block (docs/contracts.md, "Gas").
     * It bounds one round's participants, not the membership: the record has no per-member list.
     */
    uint256 public constant MAX_PARTICIPANTS = 400;

    /// @notice Most blocks from a round's snapshot block to its seed block; below 256 so the
    /// seed block's hash stays readable for a while after it.
    uint256 public constant MAX_SEED_DELAY = 64;

    /// @notice Credits per participant of a finalized round.
    uint256 public constant PARTICIPATION_CREDIT = 1;

    /// @notice Credits per committee member credited by the record's service mask.
    uint256 public constant SERVICE_CREDIT = 4;

    /// @notice ε reported for an RDP word whose lanes are all saturated.
    uint256 public constant EPSILON_UNBOUNDED = PackedLedger.EPSILON_UNBOUNDED;

    /// @dev blockhash reaches back this many blocks (Yellow Paper, BLOCKHASH).
    uint256 private constant BLOCKHASH_WINDOW = 256;

    /// @dev 10^18: δ is stored in units of 1e-18.
    uint256 private constant DELTA_ONE = 1e18;

    // Type strings are hashed at compile time; their length costs nothing at run time.
    // solhint-disable-next-line gas-small-strings
    bytes32 private constant PARTICIPANT_TYPEHASH = keccak256("Participant(address member,uint256 dpParams,uint256 spend)");

    // solhint-disable-next-line gas-small-strings
    bytes32 private constant PARTICIPANT_ENTRY_TYPEHASH = keccak256("ParticipantEntry(uint64 round,address member,uint256 dpParams,uint256 spend)");

    /// @dev EIP-712 encodeType: the primary type, then referenced types sorted by name.
    // solhint-disable-next-line gas-small-strings
    bytes32 private constant ROUND_RECORD_TYPEHASH = keccak256(
        "RoundRecord(uint64 round,bytes32 prevModelHash,bytes32 modelHash,bytes32 aggregateHash,"
        "uint256 serviceMask,Participant[] participants)"
        "Participant(address member,uint256 dpParams,uint256 spend)"
    );

    /// @dev What a committee signs to charge a round before any reveal ({chargeRound}).
    // solhint-disable-next-line gas-small-strings
    bytes32 private constant ROUND_CHARGE_TYPEHASH = keccak256(
        "RoundCharge(uint64 round,bytes32 lock,Participant[] participants)"
        "Participant(address member,uint256 dpParams,uint256 spend)"
    );

    /**
     * @dev Lowest admissible c_α per lane, as int32 at bits 32i: floor(1e6 · (ln((α−1)/α) −
     * ln(α)/(α−1))), the δ → 1 limit of Balle et al. 2020 Thm. 21; any δ < 1 gives more.
     */
    uint256 private constant C_ALPHA_FLOOR = uint256(uint32(int32(-2_502_013)))
        | (uint256(uint32(int32(-1_121_687))) << 32) | (uint256(uint32(int32(-749_781))) << 64)
        | (uint256(uint32(int32(-478_470))) << 96) | (uint256(uint32(int32(-312_912))) << 128)
        | (uint256(uint32(int32(-208_964))) << 160) | (uint256(uint32(int32(-143_547))) << 192)
        | (uint256(uint32(int32(-81_763))) << 224);

    // Immutables are named like the rest of the private state (STYLE.md §16, as OpenZeppelin's
    // EIP712 names its own).
    // solhint-disable immutable-vars-naming
    bytes32 private immutable _initialModelHash;
    bytes32 private immutable _manifestHash;
    uint256 private immutable _committeeSize;
    uint256 private immutable _threshold;
    uint256 private immutable _inputDuration;
    uint256 private immutable _finalizeDuration;
    uint256 private immutable _seedDelay;
    bool private immutable _dpRequired;
    uint256 private immutable _delta;
    /// @dev c_α as int32 at bits 32i, read by {PackedLedger-epsilon}.
    uint256 private immutable _cAlphaPacked;
    // solhint-enable immutable-vars-naming

    /// @dev Last opened round; rounds 1.._currentRound exist.
    uint64 private _currentRound;
    /// @dev Last finalized round. Shares the slot with `_currentRound`, `_totalCredits` and
    /// `_studyClosed`, so finalizing writes the counters once and `openRound` reads the flag
    /// from the slot it reads anyway.
    uint64 private _lastFinalizedRound;
    /// @dev At most MAX_PARTICIPANTS + MAX_COMMITTEE_SIZE * 4 per round, so 120 bits never overflow.
    uint120 private _totalCredits;
    /// @dev Set by {closeStudy}: no round opens again.
    bool private _studyClosed;

    /// @dev The round the schedule below is for; valid only when it is `_currentRound + 1`.
    uint64 private _scheduledRound;
    uint48 private _scheduledSnapshot;
    uint48 private _scheduledSeedBlock;

    // Declared after the schedule so that they pack with nothing a round reads or writes.
    /// @dev The study whose budgets this one continues ({inheritBudgetFrom}); zero when none.
    address private _predecessor;
    /// @dev The study {closeStudy} named; zero when none.
    address private _successor;

    mapping(uint64 round => RoundData) private _rounds;

    /**
     * @param admin Gets `DEFAULT_ADMIN_ROLE` (two-step handover after `config.adminDelay`) and
     * `FEDERATION_ADMIN_ROLE`; a TimelockController in production (docs/contracts.md).
     * @param config Committee, durations, seed delay, DP policy, δ, c_α and hashes (see {FederationConfig}).
     *
     * Requirements:
     * - `admin` is not the zero address (else `AccessControlInvalidDefaultAdmin`);
     * - 1 <= threshold <= committeeSize <= MAX_COMMITTEE_SIZE and 2·threshold > committeeSize, so
     *   two disjoint quorums cannot both sign (else `FedmeshRoundsInvalidCommittee`);
     * - both durations are positive (else `FedmeshRoundsInvalidDurations`);
     * - seedDelay <= MAX_SEED_DELAY (else `FedmeshRoundsInvalidSeedDelay`);
     * - the initial model hash is non-zero (else `FedmeshRoundsZeroModelHash`);
     * - 0 < δ < 1 (else `FedmeshLedgerInvalidDelta`);
     * - each c_α is at least its δ → 1 limit (else `FedmeshLedgerInvalidCAlpha`).
     */
    constructor(address admin, FederationConfig memory config)
        FedmeshRegistry(admin, config.adminDelay)
        EIP712("fedmesh", "1")
    {
        uint256 size = config.committeeSize;
        uint256 t = config.threshold;
        if (t == 0 || t > size || size > MAX_COMMITTEE_SIZE || 2 * t <= size) {
            revert FedmeshRoundsInvalidCommittee(size, t);
        }
        if (config.inputDuration == 0 || config.finalizeDuration == 0) {
            revert FedmeshRoundsInvalidDurations(config.inputDuration, config.finalizeDuration);
        }
        if (config.seedDelay > MAX_SEED_DELAY) {
            revert FedmeshRoundsInvalidSeedDelay(config.seedDelay);
        }
        if (config.initialModelHash == bytes32(0)) {
            revert FedmeshRoundsZeroModelHash();
        }
        if (config.delta == 0 || config.delta >= DELTA_ONE) {
            revert FedmeshLedgerInvalidDelta(config.delta);
        }
        uint256 packed = 0;
        for (uint256 i = 0; i < PackedLedger.LANES; ++i) {
            int32 c = config.cAlpha[i];
            if (c < int32(uint32(C_ALPHA_FLOOR >> (i * 32)))) {
                revert FedmeshLedgerInvalidCAlpha(i, c);
            }
            packed |= uint256(uint32(c)) << (i * 32);
        }
        _cAlphaPacked = packed;
        _initialModelHash = config.initialModelHash;
        _manifestHash = config.manifestHash;
        _committeeSize = size;
        _threshold = t;
        _inputDuration = config.inputDuration;
        _finalizeDuration = config.finalizeDuration;
        _seedDelay = config.seedDelay;
        _dpRequired = config.dpRequired;
        _delta = config.delta;
    }

    // ───────────────────────────── rounds ─────────────────────────────

    /// @inheritdoc IFedmeshRounds
    function openRound() external returns (uint64 round) {
        if (_ledgerWord(msg.sender).status() != STATUS_ACTIVE) {
            revert FedmeshRegistryNotActive(msg.sender);
        }
        uint64 current = _currentRound;
        if (_studyClosed) {
            revert FedmeshStudyClosed();
        }
        if (_rounds[current].status == RoundStatus.Open) {
            revert FedmeshRoundsStillOpen(current);
        }
        round = current + 1;
        uint256 size = _committeeSize;
        bool scheduled = _scheduledRound == round;
        uint256 snapshot = _scheduledSnapshot;
        uint256 seedBlock = _scheduledSeedBlock;
        if (scheduled && block.number <= seedBlock) {
            revert FedmeshRoundsSeedNotReady(seedBlock, block.number);
        }
        uint256 n = scheduled ? _activeMemberCountAt(snapshot) : 0;
        if (!scheduled || block.number - seedBlock > BLOCKHASH_WINDOW || n < size) {
            uint256 active = _activeMemberCount();
            if (active < size) {
                revert FedmeshRoundsTooFewActiveMembers(active, size);
            }
            _schedule(round);
            return 0;
        }
        bytes32 seed = keccak256(abi.encode(blockhash(seedBlock), _rounds[_lastFinalizedRound].recordHash, round));
        uint256[] memory drawn = CommitteeSelection.indices(seed, n, size);
        address[] memory committee = new address[](size);
        for (uint256 i = 0; i < size; ++i) {
            committee[i] = _activeMemberAt(drawn[i], snapshot);
        }
        uint64 inputDeadline = uint64(block.timestamp + _inputDuration);
        _openRound(round, seed, committee, inputDeadline, inputDeadline + uint64(_finalizeDuration), snapshot, seedBlock);
    }

    /**
     * @inheritdoc IFedmeshRounds
     * @dev The spend is on the ledger before any committee member reveals a share (F18): the
     * participants are checked and charged by the same {_applyParticipants} as an uncharged
     * {finalizeRound}, so no rule is written twice.
     */
    function chargeRound(
        uint64 round,
        bytes32 lock,
        Participant[] calldata participants,
        EntrySignature[] calldata entrySignatures,
        bytes[] calldata signatures
    ) external {
        RoundData storage data = _checkFinalizable(round);
        bytes32 charged = data.chargedHash;
        if (charged != bytes32(0)) {
            revert FedmeshRoundsAlreadyCharged(round, charged);
        }
        bytes32 participantsHash = _applyParticipants(round, participants, entrySignatures);
        _recoverSigners(
            _hashTypedDataV4(keccak256(abi.encode(ROUND_CHARGE_TYPEHASH, round, lock, participantsHash))),
            signatures,
            data.committee
        );
        _chargeRound(data, round, lock, participantsHash, participants);
    }

    /// @inheritdoc IFedmeshRounds
    function finalizeRound(
        RoundRecord calldata record,
        EntrySignature[] calldata entrySignatures,
        bytes[] calldata signatures
    ) external {
        uint64 round = record.round;
        RoundData storage data = _checkFinalizable(round);
        if (record.prevModelHash != headModelHash()) {
            revert FedmeshRoundsPrevModelHashMismatch(headModelHash(), record.prevModelHash);
        }
        if (record.modelHash == bytes32(0)) {
            revert FedmeshRoundsZeroModelHash();
        }
        address[] memory committee = data.committee;
        if (record.serviceMask >> committee.length != 0) {
            revert FedmeshRoundsInvalidServiceMask(record.serviceMask);
        }
        (bytes32 participantsHash, uint256 minted) = _recordParticipants(data.chargedHash, record, entrySignatures);
        bytes32 recordHash = _hashRoundRecord(record, participantsHash);
        address[] memory signers = _recoverSigners(_hashTypedDataV4(recordHash), signatures, committee);
        address[] memory credited = _applyServiceCredits(record.serviceMask, committee);
        _finalizeRound(round, recordHash, record, signers, credited, minted + credited.length * SERVICE_CREDIT);
        _schedule(round + 1);
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
        _schedule(round + 1);
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
    function getRound(uint64 round) external view returns (RoundInfo memory info) {
        if (round == 0) {
            // Slot 0 holds nothing; reading it as a round would only mislead.
            return info;
        }
        RoundData storage data = _rounds[round];
        info.status = data.status;
        info.seed = data.seed;
        info.inputDeadline = data.inputDeadline;
        info.finalizeDeadline = data.finalizeDeadline;
        info.recordHash = data.recordHash;
        info.modelHash = data.modelHash;
        info.committee = data.committee;
        info.snapshotBlock = data.snapshotBlock;
        info.seedBlock = data.seedBlock;
        info.chargedHash = data.chargedHash;
    }

    /// @inheritdoc IFedmeshRounds
    function nextRoundSchedule() external view returns (uint64 snapshotBlock, uint64 seedBlock) {
        if (_scheduledRound == _currentRound + 1) {
            return (_scheduledSnapshot, _scheduledSeedBlock);
        }
        return (0, 0);
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
    function seedDelay() external view returns (uint256) {
        return _seedDelay;
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
        budget.epsilonCap =
            _ledgerWord(account).status() == STATUS_NONE ? 0 : _epsilonCapAt(account, _currentRound + 1);
        budget.remaining = budget.epsilonSpent >= budget.epsilonCap ? 0 : budget.epsilonCap - budget.epsilonSpent;
    }

    /// @inheritdoc IFedmeshLedger
    function budgetAfter(address member, uint64 round, uint256 spend)
        external
        view
        returns (uint256 epsilonAfter, uint256 cap, bool fits)
    {
        epsilonAfter = _ledgerWord(member).rdp().addRdp(spend & PackedLedger.RDP_MASK).epsilon(_cAlphaPacked);
        cap = _epsilonCapAt(member, round);
        fits = spend <= PackedLedger.RDP_MASK && epsilonAfter <= cap;
    }

    /// @inheritdoc IFedmeshLedger
    function cAlpha() external view returns (int32[8] memory constants) {
        for (uint256 i = 0; i < PackedLedger.LANES; ++i) {
            constants[i] = int32(uint32(_cAlphaPacked >> (i * 32)));
        }
    }

    /// @inheritdoc IFedmeshLedger
    function delta() external view returns (uint256) {
        return _delta;
    }

    /// @inheritdoc IFedmeshLedger
    function dpRequired() external view returns (bool) {
        return _dpRequired;
    }

    // ───────────────────────────── studies ─────────────────────────────

    /// @inheritdoc IFedmeshStudy
    function closeStudy(address successor) external onlyRole(FEDERATION_ADMIN_ROLE) {
        if (_studyClosed) {
            revert FedmeshStudyClosed();
        }
        if (successor == address(this)) {
            revert FedmeshStudyInvalidSuccessor(successor);
        }
        uint64 current = _currentRound;
        if (_rounds[current].status == RoundStatus.Open) {
            revert FedmeshRoundsStillOpen(current);
        }
        _closeStudy(successor);
    }

    /// @inheritdoc IFedmeshStudy
    function inheritBudgetFrom(address predecessor) external onlyRole(FEDERATION_ADMIN_ROLE) {
        if (_studyClosed) {
            revert FedmeshStudyClosed();
        }
        if (_predecessor != address(0)) {
            revert FedmeshStudyAlreadyInherits(_predecessor);
        }
        if (_everHadMember()) {
            revert FedmeshStudyHasMembers();
        }
        (,address named,) = IFedmeshStudy(predecessor).studyChain();
        if (named != address(this)) {
            revert FedmeshStudyNotNamed(predecessor, named);
        }
        uint256 theirDelta = IFedmeshLedger(predecessor).delta();
        if (theirDelta != _delta) {
            revert FedmeshStudyDeltaMismatch(_delta, theirDelta);
        }
        _inheritBudgetFrom(predecessor);
    }

    /// @inheritdoc IFedmeshStudy
    function studyChain() external view returns (address predecessor, address successor, bool closed) {
        return (_predecessor, _successor, _studyClosed);
    }

    /// @inheritdoc IFedmeshStudy
    function carriedBudgetOf(address account) external view returns (uint256 rdp, uint256 cap, bool known) {
        (rdp, cap, known) = _ownBudget(account);
        if (!known) {
            (rdp, cap, known) = _carriedBudget(account);
        }
    }

    // ───────────────────────────── internals ─────────────────────────────

    /// @inheritdoc FedmeshRegistry
    function _carriedBudget(address account) internal view override returns (uint256 rdp, uint256 cap, bool known) {
        address predecessor = _predecessor;
        if (predecessor != address(0)) {
            // A closed study (it named this one), so its answer no longer changes.
            (rdp, cap, known) = IFedmeshStudy(predecessor).carriedBudgetOf(account);
        }
    }

    /// @inheritdoc FedmeshRegistry
    function _nextRound() internal view override returns (uint64) {
        return _currentRound + 1;
    }

    /// @inheritdoc FedmeshRegistry
    function _roundOpenNow() internal view override returns (uint64) {
        uint64 current = _currentRound;
        return _rounds[current].status == RoundStatus.Open ? current : 0;
    }

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

    /**
     * @dev The record's participants hash and the participation credits finalizing mints: an
     * uncharged round is charged now; a charged one must name exactly the charged participants
     * (the release was charged before the reveals) and mints nothing more for them.
     */
    function _recordParticipants(
        bytes32 charged,
        RoundRecord calldata record,
        EntrySignature[] calldata entrySignatures
    ) private returns (bytes32 participantsHash, uint256 minted) {
        if (charged == bytes32(0)) {
            participantsHash = _applyParticipants(record.round, record.participants, entrySignatures);
            minted = record.participants.length * PARTICIPATION_CREDIT;
        } else {
            participantsHash = _participantsHash(record.participants);
            if (participantsHash != charged) {
                revert FedmeshRoundsChargeMismatch(record.round, charged, participantsHash);
            }
        }
    }

    /**
     * @dev Checks the participant count, every participant line and its entry signature, charges
     * the spend and the participation credit; returns the keccak of the lines' EIP-712 struct
     * hashes. The one place a round's participants are charged ({chargeRound}, or
     * {finalizeRound} of an uncharged round).
     */
    function _applyParticipants(
        uint64 round,
        Participant[] calldata participants,
        EntrySignature[] calldata entrySignatures
    ) private returns (bytes32) {
        uint256 count = participants.length;
        if (count == 0) {
            revert FedmeshRoundsNoParticipants();
        }
        if (count > MAX_PARTICIPANTS) {
            revert FedmeshRoundsTooManyParticipants(count, MAX_PARTICIPANTS);
        }
        if (entrySignatures.length != count) {
            revert FedmeshRoundsEntrySignatureCount(entrySignatures.length, count);
        }
        bytes32[] memory hashes = new bytes32[](count);
        address previous = address(0);
        for (uint256 i = 0; i < count; ++i) {
            Participant calldata p = participants[i];
            if (i > 0 && p.member <= previous) {
                revert FedmeshRoundsUnsortedParticipants(i);
            }
            hashes[i] = _applyParticipant(round, p, entrySignatures[i], i);
            previous = p.member;
        }
        return keccak256(abi.encodePacked(hashes));
    }

    /// @dev One participant line: declaration, entry signature, charge; returns its struct hash.
    function _applyParticipant(uint64 round, Participant calldata p, EntrySignature calldata sig, uint256 index)
        private
        returns (bytes32)
    {
        address member = p.member;
        _checkDeclaration(member, p.dpParams, p.spend);
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(_entryDigest(round, member, p.dpParams, p.spend), sig.r, sig.vs);
        if (err != ECDSA.RecoverError.NoError || signer != member) {
            revert FedmeshRoundsInvalidEntrySignature(member, index);
        }
        _charge(round, member, p.spend);
        return keccak256(abi.encode(PARTICIPANT_TYPEHASH, member, p.dpParams, p.spend));
    }

    /// @dev The rules a line's declaration must follow whatever its signatures.
    function _checkDeclaration(address member, uint256 dpParams, uint256 spend) private view {
        if (spend > PackedLedger.RDP_MASK) {
            revert FedmeshRoundsInvalidSpend(member, spend);
        }
        if (dpParams == 0) {
            if (spend != 0) {
                revert FedmeshRoundsSpendWithoutParams(member, spend);
            }
            if (_dpRequired) {
                revert FedmeshRoundsDpRequired(member);
            }
        }
    }

    /// @dev Adds `spend` and `PARTICIPATION_CREDIT` to `member`'s ledger word, within its cap for `round`.
    function _charge(uint64 round, address member, uint256 spend) private {
        uint256 word = _ledgerWord(member);
        uint8 status = word.status();
        // A member suspended mid-round is still charged: its input was released. So is one
        // removed while this round was open. Anyone else cannot be a participant.
        if (status == STATUS_NONE && !_leftIn(member, round)) {
            revert FedmeshRoundsParticipantNotMember(member);
        }
        uint256 rdp = word.rdp().addRdp(spend);
        uint256 epsilon = rdp.epsilon(_cAlphaPacked);
        uint256 cap = _epsilonCapAt(member, round);
        if (epsilon > cap) {
            revert FedmeshLedgerBudgetExceeded(member, epsilon, cap);
        }
        uint256 credits = word.credits() + PARTICIPATION_CREDIT;
        if (credits > PackedLedger.CREDITS_MAX) {
            revert FedmeshLedgerCreditsOverflow(member);
        }
        _setLedgerWord(member, PackedLedger.pack(rdp, status, credits));
    }

    /**
     * @dev The counted signers of `digest`, in signature order, after checking the quorum: at
     * least `_threshold` valid signatures by distinct committee members that are active now.
     * A suspended or removed committee member's signature is checked but not counted.
     */
    function _recoverSigners(bytes32 digest, bytes[] calldata signatures, address[] memory committee)
        private
        view
        returns (address[] memory signers)
    {
        uint256 count = signatures.length;
        if (count < _threshold) {
            revert FedmeshRoundsInsufficientSignatures(count, _threshold);
        }
        signers = new address[](count);
        uint256 counted = 0;
        uint256 used = 0; // bit k set: committee[k] has signed
        for (uint256 i = 0; i < count; ++i) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) {
                revert FedmeshRoundsInvalidSignature(i);
            }
            uint256 position = committee.length;
            for (uint256 k = 0; k < committee.length; ++k) {
                if (committee[k] == signer) {
                    position = k;
                    break;
                }
            }
            if (position == committee.length) {
                revert FedmeshRoundsSignerNotInCommittee(signer);
            }
            if (used & (1 << position) != 0) {
                revert FedmeshRoundsDuplicateSigner(signer);
            }
            used |= 1 << position;
            if (_ledgerWord(signer).status() == STATUS_ACTIVE) {
                signers[counted] = signer;
                ++counted;
            }
        }
        if (counted < _threshold) {
            revert FedmeshRoundsInsufficientSignatures(counted, _threshold);
        }
        // Trim to the counted signers.
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(signers, counted)
        }
    }

    /// @dev Credits `SERVICE_CREDIT` to each active committee member in `mask`; returns them.
    function _applyServiceCredits(uint256 mask, address[] memory committee) private returns (address[] memory credited) {
        credited = new address[](committee.length);
        uint256 count = 0;
        for (uint256 k = 0; k < committee.length; ++k) {
            if (mask & (1 << k) == 0) continue;
            address member = committee[k];
            uint256 word = _ledgerWord(member);
            if (word.status() != STATUS_ACTIVE) continue;
            uint256 credits = word.credits() + SERVICE_CREDIT;
            if (credits > PackedLedger.CREDITS_MAX) {
                revert FedmeshLedgerCreditsOverflow(member);
            }
            _setLedgerWord(member, PackedLedger.pack(word.rdp(), STATUS_ACTIVE, credits));
            credited[count] = member;
            ++count;
        }
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(credited, count)
        }
    }

    /// @dev EIP-712 digest of a `ParticipantEntry`.
    function _entryDigest(uint64 round, address member, uint256 dpParams, uint256 spend)
        private
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(PARTICIPANT_ENTRY_TYPEHASH, round, member, dpParams, spend)));
    }

    /// @dev keccak of the participants' EIP-712 struct hashes, concatenated.
    function _participantsHash(Participant[] calldata participants) private pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](participants.length);
        for (uint256 i = 0; i < participants.length; ++i) {
            Participant calldata p = participants[i];
            hashes[i] = keccak256(abi.encode(PARTICIPANT_TYPEHASH, p.member, p.dpParams, p.spend));
        }
        return keccak256(abi.encodePacked(hashes));
    }

    /**
     * @dev EIP-712 hashStruct(record) (https://eips.ethereum.org/EIPS/eip-712#definition-of-hashstruct):
     * an array is the keccak of its elements' encodings concatenated, and a struct element
     * encodes as its own hashStruct.
     */
    function _hashRoundRecord(RoundRecord calldata record, bytes32 participantsHash) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                ROUND_RECORD_TYPEHASH,
                record.round,
                record.prevModelHash,
                record.modelHash,
                record.aggregateHash,
                record.serviceMask,
                participantsHash
            )
        );
    }

    /// @dev Fixes round `round`'s snapshot (this block) and seed block. Emits a {RoundScheduled} event.
    function _schedule(uint64 round) private {
        uint48 snapshot = uint48(block.number);
        uint48 seedBlock = snapshot + uint48(_seedDelay);
        _scheduledRound = round;
        _scheduledSnapshot = snapshot;
        _scheduledSeedBlock = seedBlock;
        emit RoundScheduled(round, snapshot, seedBlock);
    }

    /// @dev Emits a {RoundOpened} event.
    function _openRound(
        uint64 round,
        bytes32 seed,
        address[] memory committee,
        uint64 inputDeadline,
        uint64 finalizeDeadline,
        uint256 snapshot,
        uint256 seedBlock
    ) private {
        RoundData storage data = _rounds[round];
        data.seed = seed;
        data.inputDeadline = inputDeadline;
        data.finalizeDeadline = finalizeDeadline;
        data.snapshotBlock = uint48(snapshot);
        data.seedBlock = uint48(seedBlock);
        data.status = RoundStatus.Open;
        data.committee = committee;
        _currentRound = round;
        emit RoundOpened(round, seed, committee, inputDeadline, finalizeDeadline);
    }

    /// @dev Emits a {RoundCharged} event. Ledger words were written by the caller.
    function _chargeRound(
        RoundData storage data,
        uint64 round,
        bytes32 lock,
        bytes32 participantsHash,
        Participant[] calldata participants
    ) private {
        data.chargedHash = participantsHash;
        _totalCredits += uint120(participants.length * PARTICIPATION_CREDIT);
        emit RoundCharged(round, lock, participantsHash, participants);
    }

    /// @dev Emits a {RoundFinalized} event. Ledger words were written by the caller.
    function _finalizeRound(
        uint64 round,
        bytes32 recordHash,
        RoundRecord calldata record,
        address[] memory signers,
        address[] memory credited,
        uint256 minted
    ) private {
        RoundData storage data = _rounds[round];
        data.status = RoundStatus.Finalized;
        data.recordHash = recordHash;
        data.modelHash = record.modelHash;
        _lastFinalizedRound = round;
        _totalCredits += uint120(minted);
        emit RoundFinalized(round, recordHash, record, signers, credited);
    }

    /// @dev Emits a {StudyClosed} event.
    function _closeStudy(address successor) private {
        _studyClosed = true;
        _successor = successor;
        emit StudyClosed(successor);
    }

    /// @dev Emits a {BudgetInherited} event.
    function _inheritBudgetFrom(address predecessor) private {
        _predecessor = predecessor;
        emit BudgetInherited(predecessor);
    }

    /// @dev Emits a {RoundAborted} event.
    function _abortRound(uint64 round) private {
        _rounds[round].status = RoundStatus.Aborted;
        emit RoundAborted(round);
    }
}
