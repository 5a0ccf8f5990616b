/**
 * Committee selection of FedmeshFederation (contracts/libraries/CommitteeSelection.sol),
 * reproduced bit for bit so that nodes and auditors can check the committee a `RoundOpened`
 * event announced (docs/contracts.md, "Committee selection").
 *
 *     seed = keccak256(abi.encode(bytes32 blockhash(seedBlock), bytes32 prevRecordHash, uint64 round))
 *     for k = 0, 1, 2, …:
 *         j = uint256(keccak256(abi.encode(bytes32 seed, uint256 k))) mod n
 *         take j unless already taken; stop at m
 *     committee = activeMembers[j] for each taken j, in the order taken
 *
 * `activeMembers` is the contract's active list at the round's snapshot block
 * (`activeMembersAt(snapshotBlock)`), whose order `nextActiveMembers` replays from registry
 * events. The snapshot block and the seed block are fixed before the seed block exists
 * (docs/contracts.md, "Committee selection").
 */
import { AbiCoder, getAddress, keccak256 } from 'ethers';
import { invalidValue, OnChainError } from './errors.js';
import type { Hex32 } from './record.js';

const abi = AbiCoder.defaultAbiCoder();

const HEX32 = /^0x[0-9a-fA-F]{64}$/;

/**
 * The round seed the contract derives in `openRound` from the hash of the round's seed block
 * (a bytes32, or the same 256 bits as a bigint: both ABI-encode as one word).
 */
export function roundSeed(seedBlockHash: bigint | Hex32, prevRecordHash: Hex32, round: number | bigint): Hex32 {
  if (!HEX32.test(prevRecordHash)) throw invalidValue('prevRecordHash', prevRecordHash, 'must be 0x and 64 hex digits');
  return keccak256(abi.encode(['uint256', 'bytes32', 'uint64'], [BigInt(seedBlockHash), prevRecordHash, round])) as Hex32;
}

/** `size` distinct indices below `memberCount`, in the order the contract draws them. */
export function committeeIndices(seed: Hex32, memberCount: number, size: number): number[] {
  if (!HEX32.test(seed)) throw invalidValue('seed', seed, 'must be 0x and 64 hex digits');
  if (!(Number.isSafeInteger(memberCount) && memberCount >= 0)) throw invalidValue('memberCount', memberCount, 'must be an integer >= 0');
  if (!(Number.isSafeInteger(size) && size >= 0)) throw invalidValue('size', size, 'must be an integer >= 0');
  if (size > memberCount) {
    throw new OnChainError('ONCHAIN_COMMITTEE_TOO_LARGE', `${size} seats for ${memberCount} members`, { size, members: memberCount });
  }
  const n = BigInt(memberCount);
  const taken: number[] = [];
  const seen = new Set<number>();
  for (let k = 0n; taken.length < size; k++) {
    const j = Number(BigInt(keccak256(abi.encode(['bytes32', 'uint256'], [seed, k]))) % n);
    if (!seen.has(j)) {
      seen.add(j);
      taken.push(j);
    }
  }
  return taken;
}

/**
 * The committee of `m` members drawn from `members` (the contract's active list, in its order)
 * with `seed`: exactly what `openRound` selects and `selectCommittee` returns. Addresses come
 * back checksummed.
 */
export function selectCommitteeOnChain(seed: Hex32, members: readonly string[], m: number): string[] {
  return committeeIndices(seed, members.length, m).map((j) => getAddress(members[j]!));
}

/** A registry event that changes the active list. */
export interface ActiveListChange {
  readonly kind: 'added' | 'reinstated' | 'suspended' | 'removed';
  readonly account: string;
}

/**
 * The active list after `change`, as FedmeshRegistry maintains it: an addition or reinstatement
 * appends; a suspension or removal of an active member moves the last entry into its place.
 * Removing a suspended member leaves the list unchanged. Folding this over the registry events
 * in log order gives `activeMembers()` at any block.
 */
export function nextActiveMembers(active: readonly string[], change: ActiveListChange): string[] {
  const account = getAddress(change.account);
  const list = active.map((a) => getAddress(a));
  if (change.kind === 'added' || change.kind === 'reinstated') return [...list, account];
  const index = list.indexOf(account);
  if (index < 0) return list;
  const last = list.pop()!;
  if (index < list.length) list[index] = last;
  return list;
}
