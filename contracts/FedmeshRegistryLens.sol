// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

// "The latest checkpoint at or before the block" reads as stated; a strict rewrite saves 3 gas.
// solhint-disable gas-strict-inequalities

import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {IFedmeshRegistry} from "./IFedmeshRegistry.sol";
import {IFedmeshRegistryLens} from "./IFedmeshRegistryLens.sol";
import {IFedmeshRounds} from "./IFedmeshRounds.sol";
import {CommitteeSelection} from "./libraries/CommitteeSelection.sol";
import {PackedLedger} from "./libraries/PackedLedger.sol";
import {MemberRecord, RegistrySlots} from "./libraries/RegistryLayout.sol";

/**
 * @title FedmeshRegistryLens
 * @notice The registry views of one {FedmeshFederation} (see {IFedmeshRegistryLens}), deployed by
 * the federation's constructor.
 *
 * It reads the federation's storage with `extsload` (the pattern of Uniswap v4's `Extsload`),
 * locating each value by the Solidity storage layout rules
 * (https://docs.soliditylang.org/en/v0.8.28/internals/layout_in_storage.html): a mapping value
 * at keccak256(key ‖ base), a dynamic array's elements from keccak256(its slot), a string or
 * bytes of 32 bytes or more from keccak256(its slot), a shorter one inside its slot. The base
 * slots come from the federation's constructor (`.slot`), the struct field offsets from storage
 * pointers of the shared {MemberRecord} type: nothing is a hand-kept offset. The results are
 * those of the federation's former views; the model-based test (test/contracts/federation-model.ts)
 * compares them with its model after every step.
 */
contract FedmeshRegistryLens is IFedmeshRegistryLens {
    using PackedLedger for uint256;

    /// @dev Bits of a checkpoint's key (OpenZeppelin `Checkpoint208`: uint48 key, then uint208 value).
    uint256 private constant KEY_BITS = 48;
    uint256 private constant KEY_MASK = (1 << KEY_BITS) - 1;

    /// @dev The 8 RDP orders times 100, packed as uint32 at bits 32i (1.25, 2.5, 4, 7, 12, 20, 32, 64).
    uint256 private constant RDP_ORDERS_X100 =
        125 | (250 << 32) | (400 << 64) | (700 << 96) | (1200 << 128) | (2000 << 160) | (3200 << 192) | (6400 << 224);

    // Immutables are named like the rest of the private state (STYLE.md §16).
    // solhint-disable immutable-vars-naming
    IFedmeshRegistry private immutable _federation;
    uint256 private immutable _ledgerSlot;
    uint256 private immutable _recordsSlot;
    uint256 private immutable _peerOwnersSlot;
    uint256 private immutable _activeAtSlot;
    uint256 private immutable _activeLengthSlot;
    // solhint-enable immutable-vars-naming

    /// @param slots Where the federation's registry state lives (its constructor's `.slot`s).
    constructor(address federation_, RegistrySlots memory slots) {
        _federation = IFedmeshRegistry(federation_);
        _ledgerSlot = slots.ledger;
        _recordsSlot = slots.records;
        _peerOwnersSlot = slots.peerOwners;
        _activeAtSlot = slots.activeAt;
        _activeLengthSlot = slots.activeLength;
    }

    /// @inheritdoc IFedmeshRegistryLens
    function federation() external view returns (address) {
        return address(_federation);
    }

    /// @inheritdoc IFedmeshRegistryLens
    function getMember(address account) external view returns (IFedmeshRegistry.Member memory member) {
        uint256 word = _load(_mapped(bytes32(uint256(uint160(account))), _ledgerSlot));
        member.credits = word.credits();
        if (word.status() == 0) {
            // A removed member's data stays in storage (cap, binding) but is not reported as
            // current (audit finding L-4).
            return member;
        }
        member.status = IFedmeshRegistry.MemberStatus(word.status());
        MemberRecord storage record = _record(_mapped(bytes32(uint256(uint160(account))), _recordsSlot));
        bytes32[] memory slots = new bytes32[](4);
        slots[0] = _slotOf(record);
        slots[1] = _slotOf(record.peerId);
        slots[2] = _slotOf(record.metadataURI);
        slots[3] = _slotOfBytes(record.peerProof);
        bytes32[] memory heads = _federation.extsload(slots);
        // epsilonCap is the record's first field: the low 32 bits of its first slot.
        member.epsilonCap = uint32(uint256(heads[0]));
        member.peerId = string(_bytesAt(slots[1], heads[1]));
        member.metadataURI = string(_bytesAt(slots[2], heads[2]));
        member.peerProof = _bytesAt(slots[3], heads[3]);
    }

    /// @inheritdoc IFedmeshRegistryLens
    function peerIdOwner(string calldata peerId) external view returns (address) {
        return address(uint160(_load(_mapped(keccak256(bytes(peerId)), _peerOwnersSlot))));
    }

    /// @inheritdoc IFedmeshRegistryLens
    function activeMembers() external view returns (address[] memory list) {
        list = _activeList(type(uint256).max);
    }

    /// @inheritdoc IFedmeshRegistryLens
    function activeMembersAt(uint256 blockNumber) external view returns (address[] memory list) {
        list = _activeList(blockNumber);
    }

    /// @inheritdoc IFedmeshRegistryLens
    function selectCommittee(bytes32 seed, address[] calldata members, uint256 size)
        external
        pure
        returns (address[] memory committee)
    {
        if (size > members.length) {
            revert IFedmeshRounds.FedmeshRoundsTooFewActiveMembers(members.length, size);
        }
        // The library openRound draws with: the same code, so the same committee.
        uint256[] memory drawn = CommitteeSelection.indices(seed, members.length, size);
        committee = new address[](size);
        for (uint256 i = 0; i < size; ++i) {
            committee[i] = members[drawn[i]];
        }
    }

    /// @inheritdoc IFedmeshRegistryLens
    function rdpOrders() external pure returns (uint32[8] memory orders) {
        for (uint256 i = 0; i < PackedLedger.LANES; ++i) {
            orders[i] = uint32(RDP_ORDERS_X100 >> (i * 32));
        }
    }

    /**
     * @dev The active list at the end of block `blockNumber` (the latest with the largest
     * value): the length trace's value there, then each position's. Reads are batched: every
     * position's checkpoint count in one call, every latest checkpoint in a second; only a
     * position changed after `blockNumber` needs a search.
     */
    function _activeList(uint256 blockNumber) private view returns (address[] memory list) {
        uint256 length = _lookup(bytes32(_activeLengthSlot), blockNumber);
        list = new address[](length);
        if (length == 0) return list;
        bytes32[] memory arrays = new bytes32[](length);
        for (uint256 i = 0; i < length; ++i) {
            arrays[i] = _checkpointsOf(_mapped(bytes32(i), _activeAtSlot));
        }
        bytes32[] memory counts = _federation.extsload(arrays);
        bytes32[] memory lasts = new bytes32[](length);
        for (uint256 i = 0; i < length; ++i) {
            // Every position below the length has at least one checkpoint.
            lasts[i] = bytes32(uint256(keccak256(abi.encode(arrays[i]))) + uint256(counts[i]) - 1);
        }
        bytes32[] memory latest = _federation.extsload(lasts);
        for (uint256 i = 0; i < length; ++i) {
            uint256 checkpoint = uint256(latest[i]);
            uint256 value = (checkpoint & KEY_MASK) <= blockNumber
                ? checkpoint >> KEY_BITS
                : _search(arrays[i], uint256(counts[i]), blockNumber);
            list[i] = address(uint160(value));
        }
    }

    /**
     * @dev The value of the trace at `trace` at the end of block `blockNumber`: the latest
     * checkpoint whose key is at most `blockNumber`, 0 when none (OpenZeppelin
     * `Checkpoints.upperLookup`, the rule the federation's `_lookup` applies).
     */
    function _lookup(bytes32 trace, uint256 blockNumber) private view returns (uint256) {
        bytes32 array = _checkpointsOf(trace);
        uint256 count = _load(array);
        if (count == 0) return 0;
        uint256 last = _load(bytes32(uint256(keccak256(abi.encode(array))) + count - 1));
        if ((last & KEY_MASK) <= blockNumber) return last >> KEY_BITS;
        return _search(array, count, blockNumber);
    }

    /// @dev Binary search over the `count` checkpoints of `array` for the last key <= `blockNumber`.
    function _search(bytes32 array, uint256 count, uint256 blockNumber) private view returns (uint256) {
        uint256 first = uint256(keccak256(abi.encode(array)));
        uint256 low = 0;
        uint256 high = count;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if ((_load(bytes32(first + mid)) & KEY_MASK) > blockNumber) {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        return high == 0 ? 0 : _load(bytes32(first + high - 1)) >> KEY_BITS;
    }

    /**
     * @dev A string or bytes value stored at `slot`, whose first word is `head`: shorter than 32
     * bytes, it sits in the head's high-order bytes with 2·length in the lowest byte; otherwise
     * the head is 2·length + 1 and the data fills the slots from keccak256(slot).
     */
    function _bytesAt(bytes32 slot, bytes32 head) private view returns (bytes memory out) {
        uint256 h = uint256(head);
        if (h & 1 == 0) {
            uint256 shortLength = (h & 0xff) >> 1;
            out = new bytes(shortLength);
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                mstore(add(out, 0x20), and(head, not(0xff)))
            }
            return out;
        }
        uint256 length = h >> 1;
        uint256 words = (length + 31) / 32;
        bytes32[] memory slots = new bytes32[](words);
        uint256 first = uint256(keccak256(abi.encode(slot)));
        for (uint256 i = 0; i < words; ++i) {
            slots[i] = bytes32(first + i);
        }
        bytes32[] memory data = _federation.extsload(slots);
        // The words are the bytes in order; the last word's tail past `length` is zero in storage.
        out = abi.encodePacked(data);
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(out, length)
        }
    }

    /// @dev One slot of the federation's storage.
    function _load(bytes32 slot) private view returns (uint256) {
        bytes32[] memory slots = new bytes32[](1);
        slots[0] = slot;
        return uint256(_federation.extsload(slots)[0]);
    }

    /// @dev The slot of a mapping's value for `key` (Solidity layout: keccak256(key ‖ base)).
    function _mapped(bytes32 key, uint256 base) private pure returns (bytes32) {
        return keccak256(abi.encode(key, base));
    }

    /// @dev A {MemberRecord} storage pointer at `slot`, used only to compute its fields' slots.
    function _record(bytes32 slot) private pure returns (MemberRecord storage record) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            record.slot := slot
        }
    }

    /// @dev The slot of a trace's checkpoint array (its length), through the OpenZeppelin struct
    /// (`view` only because solc treats a member access on a storage pointer as a read; none happens).
    function _checkpointsOf(bytes32 trace) private view returns (bytes32 slot) {
        Checkpoints.Trace208 storage t;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            t.slot := trace
        }
        Checkpoints.Checkpoint208[] storage array = t._checkpoints;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            slot := array.slot
        }
    }

    function _slotOf(MemberRecord storage record) private pure returns (bytes32 slot) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            slot := record.slot
        }
    }

    function _slotOf(string storage s) private pure returns (bytes32 slot) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            slot := s.slot
        }
    }

    function _slotOfBytes(bytes storage b) private pure returns (bytes32 slot) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            slot := b.slot
        }
    }
}
