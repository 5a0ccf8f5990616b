// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title CommitteeSelection
 * @notice Draws `size` distinct indices below `n` from a seed by iterated keccak with rejection
 * of repeats (docs/contracts.md, "Committee selection"; protocol/chain/committee.ts reproduces
 * it):
 *
 *     for k = 0, 1, 2, …:
 *         j = uint256(keccak256(abi.encode(seed, k))) mod n
 *         if j was not drawn before: draw j
 *         stop once `size` indices are drawn
 *
 * The indices come out in the order drawn. The modulo bias is below n / 2^256, negligible for
 * any member count. With size <= n the loop ends with probability 1, after about
 * n·(H_n − H_(n−size)) iterations on average.
 */
library CommitteeSelection {
    /// @dev Requires size <= n (and n > 0 when size > 0); callers check.
    function indices(bytes32 seed, uint256 n, uint256 size) internal pure returns (uint256[] memory drawn) {
        drawn = new uint256[](size);
        uint256 count = 0;
        for (uint256 k = 0; count < size; ++k) {
            uint256 j = uint256(draw(seed, k)) % n;
            bool repeat = false;
            for (uint256 i = 0; i < count; ++i) {
                if (drawn[i] == j) {
                    repeat = true;
                    break;
                }
            }
            if (!repeat) {
                drawn[count] = j;
                ++count;
            }
        }
    }

    /// @dev keccak256(abi.encode(seed, k)), hashed in the scratch space to avoid allocating.
    function draw(bytes32 seed, uint256 k) internal pure returns (bytes32 h) {
        // The scratch space (0x00..0x3f) is reserved for hashing: nothing else is overwritten.
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(0x00, seed)
            mstore(0x20, k)
            h := keccak256(0x00, 0x40)
        }
    }
}
