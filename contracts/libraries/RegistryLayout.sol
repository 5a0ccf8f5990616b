// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @dev A member's cold record in {FedmeshRegistry}. File-level so that {FedmeshRegistryLens}
 * locates its fields with the compiler's own layout rules (a storage pointer at the record's
 * slot) instead of offsets written down twice.
 *
 * The first slot is read on every participation (the cap); the rest only by the registry.
 */
struct MemberRecord {
    /// Latest cap; applies from round `capFrom` on.
    uint32 epsilonCap;
    /// Cap for rounds before `capFrom`.
    uint32 previousCap;
    /// First round `epsilonCap` applies to; 0 means never a member.
    uint64 capFrom;
    /// 1-based position in the active list; 0 when not active.
    uint32 activeIndex;
    /// The round that was open when the member was removed (0 if none): it is still charged there.
    uint64 leftRound;
    bytes32 peerIdHash;
    string peerId;
    string metadataURI;
    bytes peerProof;
}

/**
 * @dev Where {FedmeshRegistry} keeps its state, as the compiler placed it: the base slots of its
 * mappings and of the active list's length trace. The registry computes them with `.slot` in its
 * constructor and hands them to the lens it deploys, so nothing here is a hand-kept number.
 */
struct RegistrySlots {
    /// mapping(address account => uint256 ledger word)
    uint256 ledger;
    /// mapping(address account => MemberRecord)
    uint256 records;
    /// mapping(bytes32 peerIdHash => address)
    uint256 peerOwners;
    /// mapping(uint256 index => Checkpoints.Trace208)
    uint256 activeAt;
    /// Checkpoints.Trace208
    uint256 activeLength;
}
