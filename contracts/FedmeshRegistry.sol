// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

// The rules read as stated ("below the current cap", "at most N bytes"); a strict rewrite saves
// 3 gas and costs clarity.
// solhint-disable gas-strict-inequalities

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IFedmeshRegistry} from "./IFedmeshRegistry.sol";
import {PackedLedger} from "./libraries/PackedLedger.sol";

/**
 * @title FedmeshRegistry
 * @notice The member registry of {FedmeshFederation} (see {IFedmeshRegistry}).
 *
 * Storage per member: the ledger word (status, credits and RDP lanes, see {PackedLedger}) that
 * round finalization reads and writes, and a cold record with the cap, the position in the
 * active list and the two strings. The active list is kept in an array so that committee
 * selection reads only the m entries it draws.
 */
abstract contract FedmeshRegistry is IFedmeshRegistry, AccessControl {
    using PackedLedger for uint256;

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

    uint8 internal constant STATUS_NONE = uint8(MemberStatus.None);
    uint8 internal constant STATUS_ACTIVE = uint8(MemberStatus.Active);
    uint8 internal constant STATUS_SUSPENDED = uint8(MemberStatus.Suspended);

    /// @dev Read on every participation (the cap) but written only by the registry.
    struct MemberRecord {
        uint32 epsilonCap;
        /// 1-based position in `_active`; 0 when not active.
        uint32 activeIndex;
        string peerId;
        string metadataURI;
    }

    mapping(address account => uint256) private _ledger;

    mapping(address account => MemberRecord) private _records;

    address[] private _active;

    /// @param admin Gets `DEFAULT_ADMIN_ROLE` (manages roles) and `FEDERATION_ADMIN_ROLE`.
    constructor(address admin) {
        if (admin == address(0)) {
            revert FedmeshRegistryZeroAddress();
        }
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(FEDERATION_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IFedmeshRegistry
    function addMember(address account, string calldata peerId, string calldata metadataURI, uint32 epsilonCap)
        external
        onlyRole(FEDERATION_ADMIN_ROLE)
    {
        if (account == address(0)) {
            revert FedmeshRegistryZeroAddress();
        }
        if (_ledger[account].status() != STATUS_NONE) {
            revert FedmeshRegistryAlreadyMember(account);
        }
        _checkMemberInfo(peerId, metadataURI);
        _addMember(account, peerId, metadataURI, epsilonCap);
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
    function updateMemberInfo(string calldata peerId, string calldata metadataURI) external {
        if (_ledger[msg.sender].status() == STATUS_NONE) {
            revert FedmeshRegistryNotMember(msg.sender);
        }
        _checkMemberInfo(peerId, metadataURI);
        _setMemberInfo(msg.sender, peerId, metadataURI);
    }

    /// @inheritdoc IFedmeshRegistry
    function getMember(address account) external view returns (Member memory) {
        uint256 word = _ledger[account];
        MemberRecord storage record = _records[account];
        return Member({
            status: MemberStatus(word.status()),
            epsilonCap: word.status() == STATUS_NONE ? 0 : record.epsilonCap,
            credits: word.credits(),
            peerId: record.peerId,
            metadataURI: record.metadataURI
        });
    }

    /// @inheritdoc IFedmeshRegistry
    function isActiveMember(address account) external view returns (bool) {
        return _ledger[account].status() == STATUS_ACTIVE;
    }

    /// @inheritdoc IFedmeshRegistry
    function activeMembers() external view returns (address[] memory) {
        return _active;
    }

    /// @inheritdoc IFedmeshRegistry
    function activeMemberCount() external view returns (uint256) {
        return _active.length;
    }

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

    /// @dev `account`'s cap, fixed point with 6 decimals.
    function _epsilonCap(address account) internal view returns (uint256) {
        return _records[account].epsilonCap;
    }

    /// @dev The active member at `index` (0-based) of {activeMembers}.
    function _activeMemberAt(uint256 index) internal view returns (address) {
        return _active[index];
    }

    function _activeMemberCount() internal view returns (uint256) {
        return _active.length;
    }

    /// @dev Emits a {MemberAdded} event. Keeps the credits and RDP lanes of a former member.
    function _addMember(address account, string calldata peerId, string calldata metadataURI, uint32 epsilonCap)
        private
    {
        _active.push(account);
        MemberRecord storage record = _records[account];
        record.epsilonCap = epsilonCap;
        record.activeIndex = uint32(_active.length);
        record.peerId = peerId;
        record.metadataURI = metadataURI;
        _ledger[account] = _ledger[account].withStatus(STATUS_ACTIVE);
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
        _active.push(account);
        _records[account].activeIndex = uint32(_active.length);
        _ledger[account] = _ledger[account].withStatus(STATUS_ACTIVE);
        emit MemberReinstated(account);
    }

    /// @dev Emits a {MemberRemoved} event. Credits and RDP lanes stay in the ledger word.
    function _removeMember(address account) private {
        if (_ledger[account].status() == STATUS_ACTIVE) {
            _deactivate(account);
        }
        _ledger[account] = _ledger[account].withStatus(STATUS_NONE);
        emit MemberRemoved(account);
    }

    /// @dev Emits an {EpsilonCapLowered} event.
    function _setEpsilonCap(address account, uint32 previousCap, uint32 newCap) private {
        _records[account].epsilonCap = newCap;
        emit EpsilonCapLowered(account, previousCap, newCap);
    }

    /// @dev Emits a {MemberInfoUpdated} event.
    function _setMemberInfo(address account, string calldata peerId, string calldata metadataURI) private {
        MemberRecord storage record = _records[account];
        record.peerId = peerId;
        record.metadataURI = metadataURI;
        emit MemberInfoUpdated(account, peerId, metadataURI);
    }

    /// @dev Takes an active `account` out of `_active`: the last entry moves into its place.
    function _deactivate(address account) private {
        uint256 index = _records[account].activeIndex - 1;
        uint256 last = _active.length - 1;
        if (index != last) {
            address moved = _active[last];
            _active[index] = moved;
            _records[moved].activeIndex = uint32(index + 1);
        }
        _active.pop();
        _records[account].activeIndex = 0;
    }

    function _checkMemberInfo(string calldata peerId, string calldata metadataURI) private pure {
        uint256 peerIdLength = bytes(peerId).length;
        if (peerIdLength == 0 || peerIdLength > MAX_PEER_ID_LENGTH) {
            revert FedmeshRegistryInvalidPeerId(peerIdLength);
        }
        if (bytes(metadataURI).length > MAX_METADATA_URI_LENGTH) {
            revert FedmeshRegistryInvalidMetadataURI(bytes(metadataURI).length);
        }
    }
}
