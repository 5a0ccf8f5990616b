// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title IFedmeshRegistry
 * @notice The federation's member registry: who the members are, how to reach them, whether
 * they may take part, and the privacy cap each one has accepted (docs/contracts.md, "Registry").
 *
 * A member is an Ethereum account with a libp2p peer id, a metadata URI, a status and a cap
 * ε_cap on its cumulative privacy loss at the federation's δ. Holders of
 * `FEDERATION_ADMIN_ROLE` add, suspend, reinstate and remove members and bind peer ids; a member
 * may lower its own cap but nobody can raise it (re-adding a removed member keeps the lower of
 * its old and new cap). Every change emits an event, so the member set at any block can be
 * rebuilt from the logs alone; the active list is also checkpointed per block
 * (`activeMembersAt` in {registryLens}), so a round's committee is drawn from a snapshot fixed before its seed.
 *
 * Peer ids: a peer id belongs to at most one account, ever (a mapping from its keccak256), so
 * one member cannot take over another's peer id (audit finding H-2). The registration carries
 * `peerProof`, the libp2p key's Ed25519 signature over
 * "fedmesh/peer-binding/1" ‖ chainId (32 bytes) ‖ contract (20 bytes) ‖ account (20 bytes)
 * (protocol/chain/peer-binding.ts). The EVM has no Ed25519 precompile, so the contract does not
 * verify it: it stores it, only the admin can bind or change a peer id, and nodes and auditors
 * verify the proof off chain before they map the peer id to the account.
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

    /// @dev What the lens's `getMember` returns; assembled from the packed storage, not stored like this.
    struct Member {
        MemberStatus status;
        /// Cap on ε at the federation's δ that applies from the next round on, fixed point with
        /// 6 decimals (1_000_000 = ε of 1); 0 when not a member.
        uint32 epsilonCap;
        /// Non-transferable contribution credits (docs/credits.md); kept after removal.
        uint256 credits;
        /// Empty when not a member.
        string peerId;
        string metadataURI;
        /// Ed25519 proof of possession of the peer id's key (see the interface notice); empty
        /// when not a member.
        bytes peerProof;
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

    /// @dev The peer id proof is not `PEER_PROOF_LENGTH` (64) bytes, an Ed25519 signature.
    error FedmeshRegistryInvalidPeerProof(uint256 length);

    /// @dev The peer id is bound to `owner`, another account.
    error FedmeshRegistryPeerIdTaken(string peerId, address owner);

    /// @dev A member may only lower its cap: `requested` is not below `current`.
    error FedmeshRegistryCapNotLowered(address account, uint32 current, uint32 requested);

    /// @dev `account` became an active member with this peer id, metadata URI and cap (the
    /// lower of its former cap and the one given, for a former member). Indexed by account
    /// only: nobody looks members up by cap.
    // solhint-disable-next-line gas-indexed-events
    event MemberAdded(address indexed account, string peerId, string metadataURI, uint32 epsilonCap);

    /// @dev `account` was suspended: it can neither open rounds nor take part in them, and its
    /// committee signatures no longer count.
    event MemberSuspended(address indexed account);

    /// @dev A suspended `account` is active again.
    event MemberReinstated(address indexed account);

    /// @dev `account` is no longer a member. Its credits, spent privacy budget, cap and peer id
    /// binding stay recorded.
    event MemberRemoved(address indexed account);

    /// @dev `account`'s peer id (bound by the admin) or metadata URI (changed by the member)
    /// changed. Nodes re-read the registry's peer ids when they see it.
    event MemberInfoUpdated(address indexed account, string peerId, string metadataURI);

    /// @dev `account` lowered its own cap from `previousCap` to `newCap`, which applies from
    /// round `fromRound` on.
    // solhint-disable-next-line gas-indexed-events
    event EpsilonCapLowered(address indexed account, uint32 previousCap, uint32 newCap, uint64 fromRound);

    /**
     * @notice Adds `account` as an active member, appended to the end of the
     * active list (`activeMembers` in the lens).
     *
     * A removed member may be added again: its credits and spent privacy budget were kept, so
     * re-adding never resets a budget, and its cap becomes the lower of its former cap and
     * `epsilonCap` (nobody can raise a cap, audit finding M-2). The peer id must be free or
     * already bound to `account`.
     *
     * Requirements:
     * - the caller has `FEDERATION_ADMIN_ROLE` (else `AccessControlUnauthorizedAccount`);
     * - `account` is not the zero address (else `FedmeshRegistryZeroAddress`);
     * - `account` is not a member (else `FedmeshRegistryAlreadyMember`);
     * - `peerId` is 1..`MAX_PEER_ID_LENGTH` bytes (else `FedmeshRegistryInvalidPeerId`);
     * - `metadataURI` is at most `MAX_METADATA_URI_LENGTH` bytes (else
     *   `FedmeshRegistryInvalidMetadataURI`);
     * - `peerProof` is 64 bytes (else `FedmeshRegistryInvalidPeerProof`);
     * - `peerId` is not bound to another account (else `FedmeshRegistryPeerIdTaken`).
     *
     * Emits a {MemberAdded} event.
     */
    function addMember(
        address account,
        string calldata peerId,
        string calldata metadataURI,
        uint32 epsilonCap,
        bytes calldata peerProof
    ) external;

    /**
     * @notice Suspends an active member. The last active member moves into its place in
     * the active list (swap and pop).
     *
     * Requirements:
     * - the caller has `FEDERATION_ADMIN_ROLE` (else `AccessControlUnauthorizedAccount`);
     * - `account` is active (else `FedmeshRegistryNotActive`).
     *
     * Emits a {MemberSuspended} event.
     */
    function suspendMember(address account) external;

    /**
     * @notice Makes a suspended member active again, appended to the end of the
     * active list (`activeMembers` in the lens).
     *
     * Requirements:
     * - the caller has `FEDERATION_ADMIN_ROLE` (else `AccessControlUnauthorizedAccount`);
     * - `account` is suspended (else `FedmeshRegistryNotSuspended`).
     *
     * Emits a {MemberReinstated} event.
     */
    function reinstateMember(address account) external;

    /**
     * @notice Removes a member, active or suspended. An active one leaves the active list by
     * swap and pop. Credits, spent budget, cap and peer id binding are kept (see {addMember}).
     *
     * Requirements:
     * - the caller has `FEDERATION_ADMIN_ROLE` (else `AccessControlUnauthorizedAccount`);
     * - `account` is a member (else `FedmeshRegistryNotMember`).
     *
     * Emits a {MemberRemoved} event.
     */
    function removeMember(address account) external;

    /**
     * @notice Binds a new peer id to a member (the admin checked `peerProof` off chain). The
     * former peer id is released.
     *
     * Requirements: the caller has `FEDERATION_ADMIN_ROLE`; `account` is a member; the same
     * peer id, proof and uniqueness rules as {addMember}.
     *
     * Emits a {MemberInfoUpdated} event.
     */
    function setPeerId(address account, string calldata peerId, bytes calldata peerProof) external;

    /**
     * @notice Lowers the caller's own privacy cap from the next round on: the round open now,
     * if any, keeps the cap it opened with, so a participant cannot make a round whose inputs
     * were already released revert (audit finding M-1). Nobody can raise a cap.
     *
     * Requirements:
     * - the caller is a member, active or suspended (else `FedmeshRegistryNotMember`);
     * - `newCap` is below the latest cap (else `FedmeshRegistryCapNotLowered`).
     *
     * Emits an {EpsilonCapLowered} event.
     */
    function lowerEpsilonCap(uint32 newCap) external;

    /**
     * @notice Replaces the caller's own metadata URI. Peer ids change only through {setPeerId}.
     *
     * Requirements:
     * - the caller is a member, active or suspended (else `FedmeshRegistryNotMember`);
     * - the URI length limit of {addMember}.
     *
     * Emits a {MemberInfoUpdated} event.
     */
    function updateMetadataURI(string calldata metadataURI) external;

    /// @notice Role allowed to add, suspend, reinstate and remove members: keccak256("FEDERATION_ADMIN_ROLE").
    // solhint-disable-next-line func-name-mixedcase
    function FEDERATION_ADMIN_ROLE() external view returns (bytes32);

    /**
     * @notice The read-only {IFedmeshRegistryLens} this federation deployed in its constructor:
     * `getMember`, `peerIdOwner`, `activeMembers` and `activeMembersAt` live there.
     */
    function registryLens() external view returns (address);

    /**
     * @notice The words of this contract's storage at `slots`, in order (the pattern of
     * Uniswap v4's `Extsload`): how the lens reads the registry. Storage is public on any chain
     * (`eth_getStorageAt`); this only makes it readable by a contract, in one call.
     */
    function extsload(bytes32[] calldata slots) external view returns (bytes32[] memory);

    /// @notice Number of {MemberAdded} and {MemberInfoUpdated} events so far: a node re-reads peer ids
    /// when it changes.
    function memberInfoVersion() external view returns (uint256);

    /// @notice `account`'s cap in round `round` (a lowered cap applies from the round after the
    /// one open or last opened when it was lowered); 0 when never a member.
    function epsilonCapAt(address account, uint64 round) external view returns (uint256);

    /// @notice Whether `account` is an active member.
    function isActiveMember(address account) external view returns (bool);

    /// @notice Number of active members.
    function activeMemberCount() external view returns (uint256);
}
