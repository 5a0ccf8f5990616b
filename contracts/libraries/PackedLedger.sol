// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title PackedLedger
 * @notice Layout and arithmetic of a member's ledger word: everything {FedmeshFederation-finalizeRound}
 * updates for a participant lives in one storage slot, so a participant costs one SSTORE.
 *
 *     bits   0..223   8 lanes of 28 bits: cumulative RDP at order α_i (lane i = bits 28i..28i+27),
 *                     fixed point, 1 unit = 1e-6, saturating at LANE_MAX (= "unbounded")
 *     bits 224..231   member status (IFedmeshRegistry.MemberStatus)
 *     bits 232..255   credits, a 24-bit counter
 *
 * The status shares the word so that the word is non-zero from the moment a member is added:
 * a member's first spend is then a non-zero to non-zero write (EIP-2200: 2,900 gas) rather than
 * a zero to non-zero one (20,000 gas). protocol/chain/budget.ts holds the same layout for the
 * off-chain accountant and auditors.
 *
 * Why saturation is safe: a saturated lane is read as +∞, so that order drops out of the
 * minimum in {epsilon}. The ledger can then only over-state a member's ε, never under-state it:
 * a saturated order can never certify ε <= cap. And since ε via lane i is at least
 * rdp_i + c_i, a lane holding 268.435455 or more could only certify caps above that, far beyond
 * any meaningful privacy guarantee.
 */
library PackedLedger {
    uint256 internal constant LANES = 8;
    uint256 internal constant LANE_BITS = 28;
    uint256 internal constant LANE_MAX = (1 << LANE_BITS) - 1;
    /// @dev Mask of the 8 lanes (bits 0..223).
    uint256 internal constant RDP_MASK = (1 << (LANES * LANE_BITS)) - 1;
    uint256 internal constant STATUS_SHIFT = 224;
    uint256 internal constant CREDITS_SHIFT = 232;
    uint256 internal constant CREDITS_MAX = (1 << 24) - 1;
    /// @dev `epsilon` of a word whose lanes are all saturated.
    uint256 internal constant EPSILON_UNBOUNDED = type(uint256).max;

    function rdp(uint256 word) internal pure returns (uint256) {
        return word & RDP_MASK;
    }

    function status(uint256 word) internal pure returns (uint8) {
        return uint8(word >> STATUS_SHIFT);
    }

    function credits(uint256 word) internal pure returns (uint256) {
        return word >> CREDITS_SHIFT;
    }

    /// @dev `word` with its status replaced.
    function withStatus(uint256 word, uint8 newStatus) internal pure returns (uint256) {
        return (word & ~(uint256(0xff) << STATUS_SHIFT)) | (uint256(newStatus) << STATUS_SHIFT);
    }

    /// @dev Packs the three fields. `rdpLanes` must fit the lanes and `creditCount` 24 bits.
    function pack(uint256 rdpLanes, uint8 memberStatus, uint256 creditCount) internal pure returns (uint256) {
        return rdpLanes | (uint256(memberStatus) << STATUS_SHIFT) | (creditCount << CREDITS_SHIFT);
    }

    /// @dev Lane-wise a + b, each lane saturating at LANE_MAX. Both must be lanes only.
    function addRdp(uint256 a, uint256 b) internal pure returns (uint256 sum) {
        unchecked {
            for (uint256 shift = 0; shift < LANES * LANE_BITS; shift += LANE_BITS) {
                uint256 lane = ((a >> shift) & LANE_MAX) + ((b >> shift) & LANE_MAX);
                if (lane > LANE_MAX) lane = LANE_MAX;
                sum |= lane << shift;
            }
        }
    }

    /**
     * @dev ε = max(0, min_i (rdp_i + c_i)) over the lanes that are not saturated, in units of
     * 1e-6; EPSILON_UNBOUNDED when all are. `cAlphaPacked` holds c_i as int32 at bits 32i..32i+31.
     */
    function epsilon(uint256 rdpLanes, uint256 cAlphaPacked) internal pure returns (uint256) {
        int256 best = type(int256).max;
        unchecked {
            for (uint256 i = 0; i < LANES; ++i) {
                uint256 lane = (rdpLanes >> (i * LANE_BITS)) & LANE_MAX;
                if (lane == LANE_MAX) continue;
                // Both terms fit 33 bits, so the sum cannot overflow.
                int256 e = int256(lane) + int256(int32(uint32(cAlphaPacked >> (i * 32))));
                if (e < best) best = e;
            }
        }
        if (best == type(int256).max) return EPSILON_UNBOUNDED;
        return best < 0 ? 0 : uint256(best);
    }
}
