// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IFedmeshRegistry} from "./IFedmeshRegistry.sol";

/**
 * @title IFedmeshRegistryLens
 * @notice Read-only views of a {FedmeshFederation}'s member registry, and its two pure
 * helpers (the committee procedure, the RDP orders), that the federation itself no longer carries: its runtime code is bounded by EIP-170 (24,576 bytes,
 * https://eips.ethereum.org/EIPS/eip-170), and these views (assembling strings, walking the
 * active list) are the largest code no transaction needs (docs/contracts.md, "Registry lens").
 *
 * The federation deploys its lens in its own constructor and names it ({IFedmeshRegistry-registryLens}),
 * so a client that trusts the federation's address trusts its lens: nobody can point readers
 * at another one. The lens reads the federation's storage through
 * {IFedmeshRegistry-extsload} and has no state but the federation's address and its slots.
 * The signatures and results are those the federation had before, so readers of an older
 * deployment call the same functions on the federation itself.
 */
interface IFedmeshRegistryLens {
    /// @notice The federation whose registry this lens reads.
    function federation() external view returns (address);

    /// @notice `account`'s registry entry; status `None`, cap 0 and empty strings when not a member.
    function getMember(address account) external view returns (IFedmeshRegistry.Member memory);

    /// @notice The account `peerId` is bound to; the zero address when none.
    function peerIdOwner(string calldata peerId) external view returns (address);

    /**
     * @notice The active members in registry order, the order committees index into
     * (docs/contracts.md, "Committee selection"): additions and reinstatements append; a
     * suspension or removal moves the last entry into the vacated position.
     */
    function activeMembers() external view returns (address[] memory);

    /// @notice {activeMembers} as it was at the end of block `blockNumber` (a past block).
    function activeMembersAt(uint256 blockNumber) external view returns (address[] memory);

    /**
     * @notice The committee procedure itself, for auditors and tests: `size` distinct entries of
     * `members` drawn with `seed` (docs/contracts.md, "Committee selection"). For k = 0, 1, …:
     * j = uint256(keccak256(abi.encode(seed, k))) mod members.length; j is taken unless already
     * taken; stop at `size` entries. Returns them in the order taken.
     *
     * Requirements:
     * - `size` <= `members.length` (else `FedmeshRoundsTooFewActiveMembers` of {IFedmeshRounds}).
     */
    function selectCommittee(bytes32 seed, address[] calldata members, uint256 size)
        external
        pure
        returns (address[] memory);

    /// @notice The RDP orders α of the ledger's 8 lanes, times 100 (1.25, 2.5, 4, 7, 12, 20, 32, 64).
    function rdpOrders() external pure returns (uint32[8] memory);
}
