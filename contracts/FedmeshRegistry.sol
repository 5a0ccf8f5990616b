// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

// The rules read as stated ("below the current cap", "at most N bytes"); a strict rewrite saves
// 3 gas and costs clarity.
// solhint-disable gas-strict-inequalities

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {FedmeshRegistryLens} from "./FedmeshRegistryLens.sol";
import {IFedmeshRegistry} from "./IFedmeshRegistry.sol";
import {PackedLedger} from "./libraries/PackedLedger.sol";
import {MemberRecord, RegistrySlots} from "./libraries/RegistryLayout.sol";

/**
 * @title FedmeshRegistry
 * @notice The member registry of {FedmeshFederation} (see {IFedmeshRegistry}).
 *
 * Storage per member: the ledger word (status, credits and RDP lanes, see {PackedLedger}) that
 * round finalization reads and writes, and a cold record with the caps, the position in the
 * active list, the round a removal happened in, the peer id binding and the strings. The
 * active list is kept as one checkpoint trace per position plus one for its length
 * (OpenZeppelin `Checkpoints`, keyed by block number), so committee selection reads only the
 * m entries it draws, from the list as it was at the round's snapshot block.
 *
 * Admin: `DEFAULT_ADMIN_ROLE` follows OpenZeppelin `AccessControlDefaultAdminRules`: one holder,
 * handed over in two steps after a delay fixed at deployment, never renounced silently. The
 * holder is meant to be a timelock (OpenZeppelin `TimelockController`, docs/contracts.md
 * "Roles and the timelock path") that holds `FEDERATION_ADMIN_ROLE` too.
 */
abstract contract FedmeshRegistry is IFedmeshRegistry, AccessControlDefaultAdminRules {
    using PackedLedger for uint256;
    using Checkpoints for Checkpoints.Trace208;

    /// @inheritdoc IFedmeshRegistry
    bytes32 public constant FEDERATION_ADMIN_ROLE = keccak256("FEDERATION_ADMIN_ROLE");

    /**
     * @notice Longest peer id, in bytes. A libp2p peer id is a multihash, printed in base58btc
     * (52 characters for Ed25519 keys) or as a CIDv1 in base32 (about 62); 128 leaves room for
     * RSA-less key types without letting a member bloat every reader's calls.
     */
    uint256 public constant MAX_PEER_ID_LENGTH = 128;

    /// @notice Longest metadata URI, in bytes; an https or ipfs URI fits comfortably.
    uint256 public constant MAX_METADATA_URI_LENGTH = 512;

    /// @notice Length of a peer id proof: an Ed25519 signature (RFC 8032 §5.1.6).
    uint256 public constant PEER_PROOF_LENGTH = 64;

    uint8 internal constant STATUS_NONE = uint8(MemberStatus.None);
    uint8 internal constant STATUS_ACTIVE = uint8(MemberStatus.Active);
    uint8 internal constant STATUS_SUSPENDED = uint8(MemberStatus.Suspended);

    mapping(address account => uint256) private _ledger;

    mapping(address account => MemberRecord) private _records;

    mapping(bytes32 peerIdHash => address) private _peerOwners;

    /// @dev Position i of the active list over time (address as uint208), keyed by block number.
    mapping(uint256 index => Checkpoints.Trace208) private _activeAt;

    /// @dev Length of the active list over time, keyed by block number.
    Checkpoints.Trace208 private _activeLength;

    uint256 private _memberInfoVersion;

    // Named like the rest of the private state (STYLE.md §16).
    // solhint-disable-next-line immutable-vars-naming
    address private immutable _registryLens;

    /**
     * @param admin Gets `DEFAULT_ADMIN_ROLE` (manages roles) and `FEDERATION_ADMIN_ROLE`; not the
     * zero address (else OpenZeppelin's `AccessControlInvalidDefaultAdmin`).
     * @param adminDelay Seconds a `DEFAULT_ADMIN_ROLE` handover waits between its two steps.
     */
    constructor(address admin, uint48 adminDelay) AccessControlDefaultAdminRules(adminDelay, admin) {
        _grantRole(FEDERATION_ADMIN_ROLE, admin);
        // The compiler's own slots, so that the lens never holds a hand-kept number.
        RegistrySlots memory slots;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(slots, _ledger.slot)
            mstore(add(slots, 0x20), _records.slot)
            mstore(add(slots, 0x40), _peerOwners.slot)
            mstore(add(slots, 0x60), _activeAt.slot)
            mstore(add(slots, 0x80), _activeLength.slot)
        }
        _registryLens = address(new FedmeshRegistryLens(address(this), slots));
    }

    /// @inheritdoc IFedmeshRegistry
    function addMember(
        address account,
        string calldata peerId,
        string calldata metadataURI,
        uint32 epsilonCap,
        bytes calldata peerProof
    ) external onlyRole(FEDERATION_ADMIN_ROLE) {
        if (account == address(0)) {
            revert FedmeshRegistryZeroAddress();
        }
        if (_ledger[account].status() != STATUS_NONE) {
            revert FedmeshRegistryAlreadyMember(account);
        }
        _checkMetadataURI(metadataURI);
        bytes32 peerIdHash = _checkPeerId(account, peerId, peerProof);
        MemberRecord storage record = _records[account];
        if (record.capFrom != 0) {
            // A former member: nobody can raise a cap, not even by removing and re-adding it.
            if (record.epsilonCap < epsilonCap) epsilonCap = record.epsilonCap;
        } else {
            epsilonCap = _startFromChain(account, epsilonCap);
        }
        _addMember(account, peerId, peerIdHash, metadataURI, epsilonCap, peerProof);
    }

    /// @inheritdoc IFedmeshRegistry
    function suspendMember(address account) external onlyRole(FEDERATION_ADMIN_ROLE) {
        if (_ledger[account].status() != STATUS_ACTIVE) {
            revert FedmeshRegistryNotActive(account);
        }
        _suspendMember(account);
    }

    /// @inheritdoc IFedmeshRegistry
    function reinstateMember(address account) external onlyRole(FEDERATION_ADMIN_ROLE) {
        if (_ledger[account].status() != STATUS_SUSPENDED) {
            revert FedmeshRegistryNotSuspended(account);
        }
        _reinstateMember(account);
    }

    /// @inheritdoc IFedmeshRegistry
    function removeMember(address account) external onlyRole(FEDERATION_ADMIN_ROLE) {
        if (_ledger[account].status() == STATUS_NONE) {
            revert FedmeshRegistryNotMember(account);
        }
        _removeMember(account);
    }

    /// @inheritdoc IFedmeshRegistry
    function setPeerId(address account, string calldata peerId, bytes calldata peerProof)
        external
        onlyRole(FEDERATION_ADMIN_ROLE)
    {
        if (_ledger[account].status() == STATUS_NONE) {
            revert FedmeshRegistryNotMember(account);
        }
        bytes32 peerIdHash = _checkPeerId(account, peerId, peerProof);
        _setPeerId(account, peerId, peerIdHash, peerProof);
    }

    /// @inheritdoc IFedmeshRegistry
    function lowerEpsilonCap(uint32 newCap) external {
        if (_ledger[msg.sender].status() == STATUS_NONE) {
            revert FedmeshRegistryNotMember(msg.sender);
        }
        uint32 current = _records[msg.sender].epsilonCap;
        if (newCap >= current) {
            revert FedmeshRegistryCapNotLowered(msg.sender, current, newCap);
        }
        _setEpsilonCap(msg.sender, current, newCap);
    }

    /// @inheritdoc IFedmeshRegistry
    function updateMetadataURI(string calldata metadataURI) external {
        if (_ledger[msg.sender].status() == STATUS_NONE) {
            revert FedmeshRegistryNotMember(msg.sender);
        }
        _checkMetadataURI(metadataURI);
        _setMetadataURI(msg.sender, metadataURI);
    }

    /// @inheritdoc IFedmeshRegistry
    function registryLens() external view returns (address) {
        return _registryLens;
    }

    /// @inheritdoc IFedmeshRegistry
    function extsload(bytes32[] calldata slots) external view returns (bytes32[] memory) {
        // Written in assembly to keep it small (EIP-170): the ABI encoding of a bytes32[] is
        // the offset 0x20, the length, then the words, returned straight from memory.
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let start := mload(0x40)
            mstore(start, 0x20)
            mstore(add(start, 0x20), slots.length)
            let out := add(start, 0x40)
            let end := add(out, shl(5, slots.length))
            for { let p := slots.offset } lt(out, end) {
                out := add(out, 0x20)
                p := add(p, 0x20)
            } { mstore(out, sload(calldataload(p))) }
            return(start, sub(end, start))
        }
    }

    /// @inheritdoc IFedmeshRegistry
    function memberInfoVersion() external view returns (uint256) {
        return _memberInfoVersion;
    }

    /// @inheritdoc IFedmeshRegistry
    function epsilonCapAt(address account, uint64 round) external view returns (uint256) {
        return _epsilonCapAt(account, round);
    }

    /// @inheritdoc IFedmeshRegistry
    function isActiveMember(address account) external view returns (bool) {
        return _ledger[account].status() == STATUS_ACTIVE;
    }

    /// @inheritdoc IFedmeshRegistry
    function activeMemberCount() external view returns (uint256) {
        return _activeLength.latest();
    }

    /**
     * @dev What an earlier study of the chain carries for `account` (IFedmeshStudy-carriedBudgetOf):
     * packed RDP, latest cap, and whether any study registered it. Read once, at its first
     * registration here.
     */
    function _carriedBudget(address account) internal view virtual returns (uint256 rdp, uint256 cap, bool known);

    /// @dev `account`'s packed RDP and latest cap here, when it was ever registered here.
    function _ownBudget(address account) internal view returns (uint256 rdp, uint256 cap, bool known) {
        MemberRecord storage record = _records[account];
        known = record.capFrom != 0;
        if (known) {
            rdp = _ledger[account].rdp();
            cap = record.epsilonCap;
        }
    }

    /// @dev Whether a member was ever registered (every registration moves the version).
    function _everHadMember() internal view returns (bool) {
        return _memberInfoVersion != 0;
    }

    /// @dev The round a registry change applies from: the one after the round open or last opened.
    function _nextRound() internal view virtual returns (uint64);

    /// @dev The round open now, or 0 when none is.
    function _roundOpenNow() internal view virtual returns (uint64);

    /// @dev `account`'s ledger word (see {PackedLedger}).
    function _ledgerWord(address account) internal view returns (uint256) {
        return _ledger[account];
    }

    /**
     * @dev Replaces `account`'s ledger word. Only round finalization calls it, and it emits the
     * round's event, whose record carries every credit and spend (docs/credits.md).
     */
    function _setLedgerWord(address account, uint256 word) internal {
        _ledger[account] = word;
    }

    /// @dev `account`'s cap in `round`, fixed point with 6 decimals.
    function _epsilonCapAt(address account, uint64 round) internal view returns (uint256) {
        MemberRecord storage record = _records[account];
        return round >= record.capFrom ? record.epsilonCap : record.previousCap;
    }

    /// @dev Whether `account` was removed while `round` was open (it is still charged there).
    function _leftIn(address account, uint64 round) internal view returns (bool) {
        return round != 0 && _records[account].leftRound == round;
    }

    /// @dev The member at `index` (0-based) of the active list at the end of block `blockNumber`.
    function _activeMemberAt(uint256 index, uint256 blockNumber) internal view returns (address) {
        return address(uint160(_lookup(_activeAt[index], blockNumber)));
    }

    /// @dev Length of the active list at the end of block `blockNumber`.
    function _activeMemberCountAt(uint256 blockNumber) internal view returns (uint256) {
        return _lookup(_activeLength, blockNumber);
    }

    /**
     * @dev `trace`'s value at the end of block `blockNumber`. A round's snapshot is almost always
     * after the trace's last change, so the latest checkpoint is tried first: one read, whatever
     * the number of members or changes; otherwise OpenZeppelin's search over the recent end.
     */
    function _lookup(Checkpoints.Trace208 storage trace, uint256 blockNumber) private view returns (uint256) {
        (bool exists, uint48 key, uint208 value) = trace.latestCheckpoint();
        if (!exists) return 0;
        if (key <= blockNumber) return value;
        return trace.upperLookupRecent(uint48(blockNumber));
    }

    function _activeMemberCount() internal view returns (uint256) {
        return _activeLength.latest();
    }

    /**
     * @dev A first registration in a study that continues another's budgets (IFedmeshStudy):
     * the ledger starts from the RDP the chain holds for `account`, and the cap is at most the
     * one it had there. Returns the cap to register.
     */
    function _startFromChain(address account, uint32 epsilonCap) private returns (uint32) {
        (uint256 rdp, uint256 capBound, bool known) = _carriedBudget(account);
        if (!known) return epsilonCap;
        _ledger[account] = rdp & PackedLedger.RDP_MASK;
        return capBound < epsilonCap ? uint32(capBound) : epsilonCap;
    }

    /// @dev Emits a {MemberAdded} event. Keeps the credits and RDP lanes of a former member.
    function _addMember(
        address account,
        string calldata peerId,
        bytes32 peerIdHash,
        string calldata metadataURI,
        uint32 epsilonCap,
        bytes calldata peerProof
    ) private {
        MemberRecord storage record = _records[account];
        // A new cap applies at once (the member is in no round yet); a former member's cap was
        // only ever lowered, so its rounds before now keep the caps they had.
        if (record.capFrom == 0) {
            record.previousCap = epsilonCap;
            record.capFrom = 1;
        } else {
            uint64 from = _nextRound();
            record.previousCap = uint32(_epsilonCapAt(account, from - 1));
            record.capFrom = from;
        }
        record.epsilonCap = epsilonCap;
        record.leftRound = 0;
        _bindPeerId(record, account, peerIdHash);
        record.peerId = peerId;
        record.metadataURI = metadataURI;
        record.peerProof = peerProof;
        _ledger[account] = _ledger[account].withStatus(STATUS_ACTIVE);
        _activate(account);
        // A (re-)added member may come back under another peer id: nodes cache account → peer id
        // until this moves, so without it a remove + re-add between two of their reads would keep
        // the old id (its new id and proof never checked, the member unreachable).
        ++_memberInfoVersion;
        emit MemberAdded(account, peerId, metadataURI, epsilonCap);
    }

    /// @dev Emits a {MemberSuspended} event.
    function _suspendMember(address account) private {
        _deactivate(account);
        _ledger[account] = _ledger[account].withStatus(STATUS_SUSPENDED);
        emit MemberSuspended(account);
    }

    /// @dev Emits a {MemberReinstated} event.
    function _reinstateMember(address account) private {
        _activate(account);
        _ledger[account] = _ledger[account].withStatus(STATUS_ACTIVE);
        emit MemberReinstated(account);
    }

    /// @dev Emits a {MemberRemoved} event. Credits, RDP lanes, caps and the binding stay.
    function _removeMember(address account) private {
        if (_ledger[account].status() == STATUS_ACTIVE) {
            _deactivate(account);
        }
        _records[account].leftRound = _roundOpenNow();
        _ledger[account] = _ledger[account].withStatus(STATUS_NONE);
        emit MemberRemoved(account);
    }

    /// @dev Emits an {EpsilonCapLowered} event.
    function _setEpsilonCap(address account, uint32 previousCap, uint32 newCap) private {
        MemberRecord storage record = _records[account];
        uint64 from = _nextRound();
        // The cap of every round before `from` stays what it was: the round open now (if any)
        // keeps the cap it was opened with.
        record.previousCap = uint32(_epsilonCapAt(account, from - 1));
        record.epsilonCap = newCap;
        record.capFrom = from;
        emit EpsilonCapLowered(account, previousCap, newCap, from);
    }

    /// @dev Emits a {MemberInfoUpdated} event.
    function _setPeerId(address account, string calldata peerId, bytes32 peerIdHash, bytes calldata peerProof)
        private
    {
        MemberRecord storage record = _records[account];
        _bindPeerId(record, account, peerIdHash);
        record.peerId = peerId;
        record.peerProof = peerProof;
        ++_memberInfoVersion;
        emit MemberInfoUpdated(account, peerId, record.metadataURI);
    }

    /// @dev Emits a {MemberInfoUpdated} event.
    function _setMetadataURI(address account, string calldata metadataURI) private {
        MemberRecord storage record = _records[account];
        record.metadataURI = metadataURI;
        ++_memberInfoVersion;
        emit MemberInfoUpdated(account, record.peerId, metadataURI);
    }

    /// @dev Moves `account`'s binding to `peerIdHash`, releasing the former one.
    function _bindPeerId(MemberRecord storage record, address account, bytes32 peerIdHash) private {
        bytes32 former = record.peerIdHash;
        if (former != peerIdHash) {
            if (former != bytes32(0)) {
                delete _peerOwners[former];
            }
            _peerOwners[peerIdHash] = account;
            record.peerIdHash = peerIdHash;
        }
    }

    /// @dev Appends `account` to the active list.
    function _activate(address account) private {
        uint256 length = _activeLength.latest();
        _activeAt[length].push(uint48(block.number), uint208(uint160(account)));
        _activeLength.push(uint48(block.number), uint208(length + 1));
        _records[account].activeIndex = uint32(length + 1);
    }

    /// @dev Takes an active `account` out of the active list: the last entry moves into its place.
    function _deactivate(address account) private {
        uint256 index = _records[account].activeIndex - 1;
        uint256 last = _activeLength.latest() - 1;
        if (index != last) {
            address moved = address(uint160(_activeAt[last].latest()));
            _activeAt[index].push(uint48(block.number), uint208(uint160(moved)));
            _records[moved].activeIndex = uint32(index + 1);
        }
        _activeAt[last].push(uint48(block.number), 0);
        _activeLength.push(uint48(block.number), uint208(last));
        _records[account].activeIndex = 0;
    }

    /// @dev The peer id's hash after the length, proof and uniqueness checks.
    function _checkPeerId(address account, string calldata peerId, bytes calldata peerProof)
        private
        view
        returns (bytes32 peerIdHash)
    {
        uint256 peerIdLength = bytes(peerId).length;
        if (peerIdLength == 0 || peerIdLength > MAX_PEER_ID_LENGTH) {
            revert FedmeshRegistryInvalidPeerId(peerIdLength);
        }
        if (peerProof.length != PEER_PROOF_LENGTH) {
            revert FedmeshRegistryInvalidPeerProof(peerProof.length);
        }
        peerIdHash = keccak256(bytes(peerId));
        address owner = _peerOwners[peerIdHash];
        if (owner != address(0) && owner != account) {
            revert FedmeshRegistryPeerIdTaken(peerId, owner);
        }
    }

    function _checkMetadataURI(string calldata metadataURI) private pure {
        if (bytes(metadataURI).length > MAX_METADATA_URI_LENGTH) {
            revert FedmeshRegistryInvalidMetadataURI(bytes(metadataURI).length);
        }
    }
}
