// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title IFedmeshRegistry
 * @notice The federation's member registry: who the members are, how to reach them, whether
 * they may take part, and the privacy cap each one has accepted (docs/contracts.md, "Registry").
 *
 * A member is an Ethereum account with a libp2p peer id, a metadata URI, a status and a cap
 * ε_cap on its cumulative privacy loss at the federation's δ. Holders of
 * `FEDERATION_ADMIN_ROLE` add, suspend, reinstate and remove members; a member may lower its own
 * cap but nobody can raise it. Every change emits an event, so the member set at any block can
 * be rebuilt from the logs alone.
 *
 * Errors and events live here, not in the implementation, so that off-chain code decodes them
 * from the interface ABI alone (STYLE.md §16, after OpenZeppelin `IAccessControl`).
 */
interface IFedmeshRegistry {
    /// @dev A member's standing. `None` is the zero value: never added, or removed.
    enum MemberStatus {
        None,
        Active,
        Suspended
    }

    /// @dev What {getMember} returns; assembled from the packed storage, not stored like this.
    struct Member {
        MemberStatus status;
        /// Cap on ε at the federation's δ, fixed point with 6 decimals (1_000_000 = ε of 1).
        uint32 epsilonCap;
        /// Non-transferable contribution credits (docs/credits.md).
        uint256 credits;
        string peerId;
        string metadataURI;
    }

    /// @dev `account` is already a member (active or suspended).
    error FedmeshRegistryAlreadyMember(address account);

    /// @dev `account` is not a member.
    error FedmeshRegistryNotMember(address account);

    /// @dev `account` is not an active member (never added, removed or suspended).
    error FedmeshRegistryNotActive(address account);

    /// @dev `account` is not suspended, so it cannot be reinstated.
    error FedmeshRegistryNotSuspended(address account);

    /// @dev The zero address cannot be a member.
    error FedmeshRegistryZeroAddress();

    /// @dev The peer id is empty or longer than `MAX_PEER_ID_LENGTH` bytes.
    error FedmeshRegistryInvalidPeerId(uint256 length);

    /// @dev The metadata URI is longer than `MAX_METADATA_URI_LENGTH` bytes.
    error FedmeshRegistryInvalidMetadataURI(uint256 length);

    /// @dev A member may only lower its cap: `requested` is not below `current`.
    error FedmeshRegistryCapNotLowered(address account, uint32 current, uint32 requested);

    /// @dev `account` became an active member with this peer id, metadata URI and cap. Indexed by
    /// account only: nobody looks members up by cap.
    // solhint-disable-next-line gas-indexed-events
    event MemberAdded(address indexed account, string peerId, string metadataURI, uint32 epsilonCap);

    /// @dev `account` was suspended: it can neither open rounds nor take part in them.
    event MemberSuspended(address indexed account);

    /// @dev A suspended `account` is active again.
    event MemberReinstated(address indexed account);

    /// @dev `account` is no longer a member. Its credits and spent privacy budget stay recorded.
    event MemberRemoved(address indexed account);

    /// @dev `account` changed its own peer id or metadata URI.
    event MemberInfoUpdated(address indexed account, string peerId, string metadataURI);

    /// @dev `account` lowered its own cap from `previousCap` to `newCap`.
    // solhint-disable-next-line gas-indexed-events
    event EpsilonCapLowered(address indexed account, uint32 previousCap, uint32 newCap);

    /**
     * @notice Adds `account` as an active member, appended to the end of {activeMembers}.
     *
     * A removed member may be added again: its credits and spent privacy budget were kept, so
     * re-adding never resets a budget; `epsilonCap` replaces its former cap.
     *
     * Requirements:
     * - the caller has `FEDERATION_ADMIN_ROLE` (else `AccessControlUnauthorizedAccount`);
     * - `account` is not the zero address (else `FedmeshRegistryZeroAddress`);
     * - `account` is not a member (else `FedmeshRegistryAlreadyMember`);
     * - `peerId` is 1..`MAX_PEER_ID_LENGTH` bytes (else `FedmeshRegistryInvalidPeerId`);
     * - `metadataURI` is at most `MAX_METADATA_URI_LENGTH` bytes (else
     *   `FedmeshRegistryInvalidMetadataURI`).
     *
     * Emits a {MemberAdded} event.
     */
    function addMember(address account, string calldata peerId, string calldata metadataURI, uint32 epsilonCap)
        external;

    /**
     * @notice Suspends an active member. The last active member moves into its place in
     * {activeMembers} (swap and pop).
     *
     * Requirements:
     * - the caller has `FEDERATION_ADMIN_ROLE` (else `AccessControlUnauthorizedAccount`);
     * - `account` is active (else `FedmeshRegistryNotActive`).
     *
     * Emits a {MemberSuspended} event.
     */
    function suspendMember(address account) external;

    /**
     * @notice Makes a suspended member active again, appended to the end of {activeMembers}.
     *
     * Requirements:
     * - the caller has `FEDERATION_ADMIN_ROLE` (else `AccessControlUnauthorizedAccount`);
     * - `account` is suspended (else `FedmeshRegistryNotSuspended`).
     *
     * Emits a {MemberReinstated} event.
     */
    function reinstateMember(address account) external;

    /**
     * @notice Removes a member, active or suspended. An active one leaves {activeMembers} by
     * swap and pop. Credits and spent budget are kept (see {addMember}).
     *
     * Requirements:
     * - the caller has `FEDERATION_ADMIN_ROLE` (else `AccessControlUnauthorizedAccount`);
     * - `account` is a member (else `FedmeshRegistryNotMember`).
     *
     * Emits a {MemberRemoved} event.
     */
    function removeMember(address account) external;

    /**
     * @notice Lowers the caller's own privacy cap. Nobody can raise a cap.
     *
     * Requirements:
     * - the caller is a member, active or suspended (else `FedmeshRegistryNotMember`);
     * - `newCap` is below the current cap (else `FedmeshRegistryCapNotLowered`).
     *
     * Emits an {EpsilonCapLowered} event.
     */
    function lowerEpsilonCap(uint32 newCap) external;

    /**
     * @notice Replaces the caller's own peer id and metadata URI.
     *
     * Requirements:
     * - the caller is a member, active or suspended (else `FedmeshRegistryNotMember`);
     * - the same length limits as {addMember}.
     *
     * Emits a {MemberInfoUpdated} event.
     */
    function updateMemberInfo(string calldata peerId, string calldata metadataURI) external;

    /// @notice Role allowed to add, suspend, reinstate and remove members: keccak256("FEDERATION_ADMIN_ROLE").
    // solhint-disable-next-line func-name-mixedcase
    function FEDERATION_ADMIN_ROLE() external view returns (bytes32);

    /// @notice `account`'s registry entry; status `None` and empty strings when not a member.
    function getMember(address account) external view returns (Member memory);

    /// @notice Whether `account` is an active member.
    function isActiveMember(address account) external view returns (bool);

    /**
     * @notice The active members in registry order, the order committees index into
     * (docs/contracts.md, "Committee selection"): additions and reinstatements append; a
     * suspension or removal moves the last entry into the vacated position.
     */
    function activeMembers() external view returns (address[] memory);

    /// @notice Number of active members.
    function activeMemberCount() external view returns (uint256);
}
