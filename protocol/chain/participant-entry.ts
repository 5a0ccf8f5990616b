/**
 * A participant's own authorization of its line in a round record (issue 14 item 4;
 * contracts/IFedmeshRounds.sol `ParticipantEntry`): EIP-712 (https://eips.ethereum.org/EIPS/eip-712)
 *
 *     ParticipantEntry(uint64 round,address member,uint256 dpParams,uint256 spend)
 *     domain: { name: "fedmesh", version: "1", chainId, verifyingContract }
 *
 * signed with the member's Ethereum account. It travels in the participant's round submission
 * (masked input under secure aggregation, update in plaintext mode); the committee copies it
 * into the record next to (member, dpParams, spend), and `finalizeRound` recovers it and
 * refuses the record unless it is the member's. So no committee quorum can charge a member
 * that did not sign that exact spend for that exact round of that exact deployment.
 *
 * `spend` must be `declaredSpend(dpParams)` (./dp-params.ts): the contract cannot afford the
 * RDP computation and trusts the member's signature on both (a member can only over-charge
 * itself); committees and auditors recompute it (./participant-entry.ts `checkEntrySpend`).
 */
import { type TypedDataField, TypedDataEncoder, verifyTypedData } from 'ethers';
import { RDP_MASK } from './budget.js';
import { type DeploymentBinding, bindingDomain } from './deployment-binding.js';
import { declaredSpend } from './dp-params.js';
import { invalidValue } from './errors.js';
import type { Hex32 } from './record.js';

export interface ParticipantEntry {
  /** The round the entry is for. */
  readonly round: number;
  /** The participant's account. */
  readonly member: string;
  /** Declared DP-SGD parameters (./dp-params.ts `encodeDpParams`), NO_DP_PARAMS (0n) without DP. */
  readonly dpParams: bigint;
  /** Packed RDP spend (./budget.ts `encodeRdp`); must be `declaredSpend(dpParams)`. */
  readonly spend: bigint;
}

/** What signs: anything with ethers' `signTypedData` (Wallet, JsonRpcSigner, HardhatEthersSigner). */
export interface TypedDataSigner {
  signTypedData(
    domain: ReturnType<typeof bindingDomain>,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string>;
}

export const PARTICIPANT_ENTRY_TYPES: Record<string, TypedDataField[]> = {
  ParticipantEntry: [
    { name: 'round', type: 'uint64' },
    { name: 'member', type: 'address' },
    { name: 'dpParams', type: 'uint256' },
    { name: 'spend', type: 'uint256' },
  ],
};

/** The entry for `member` declaring `dpParams` in `round`, its spend derived by the contract's rule. */
export function participantEntry(round: number, member: string, dpParams: bigint): ParticipantEntry {
  return { round, member, dpParams, spend: declaredSpend(dpParams) };
}

/** The entry as a plain value for ethers' typed-data encoder; throws ONCHAIN_INVALID_VALUE on a field out of range. */
export function participantEntryValue(e: ParticipantEntry): Record<string, unknown> {
  if (!(Number.isSafeInteger(e.round) && e.round >= 1)) throw invalidValue('entry.round', e.round, 'must be an integer >= 1');
  if (!(typeof e.dpParams === 'bigint' && e.dpParams >= 0n && e.dpParams < 1n << 256n))
    throw invalidValue('entry.dpParams', e.dpParams, 'must be a uint256 bigint');
  if (!(typeof e.spend === 'bigint' && e.spend >= 0n && e.spend <= RDP_MASK))
    throw invalidValue('entry.spend', e.spend, 'must be a packed RDP word (bits 224..255 zero)');
  return { round: e.round, member: e.member, dpParams: e.dpParams, spend: e.spend };
}

/** EIP-712 hashStruct(entry). */
export function participantEntryStructHash(e: ParticipantEntry): Hex32 {
  return TypedDataEncoder.hashStruct('ParticipantEntry', PARTICIPANT_ENTRY_TYPES, participantEntryValue(e)) as Hex32;
}

/** The digest the participant signs (the contract's `participantEntryDigest`). */
export function participantEntryDigest(binding: DeploymentBinding, e: ParticipantEntry): Hex32 {
  return TypedDataEncoder.hash(bindingDomain(binding), PARTICIPANT_ENTRY_TYPES, participantEntryValue(e)) as Hex32;
}

/** The member's signature over its entry (65-byte r ‖ s ‖ v hex). */
export function signParticipantEntry(signer: TypedDataSigner, binding: DeploymentBinding, e: ParticipantEntry): Promise<string> {
  return signer.signTypedData(bindingDomain(binding), PARTICIPANT_ENTRY_TYPES, participantEntryValue(e));
}

/** The account that signed `signature` over `e`, or undefined when the signature is malformed. */
export function recoverParticipantEntry(binding: DeploymentBinding, e: ParticipantEntry, signature: string): string | undefined {
  try {
    return verifyTypedData(bindingDomain(binding), PARTICIPANT_ENTRY_TYPES, participantEntryValue(e), signature);
  } catch {
    return undefined;
  }
}

/**
 * Whether `signature` is `e.member`'s over `e` and `e.spend` is what `e.dpParams` implies.
 * Committees run this on every input before admitting it; the contract checks the signature
 * (not the spend's derivation: the RDP computation is off chain, docs/contracts.md).
 */
export function verifyParticipantEntry(binding: DeploymentBinding, e: ParticipantEntry, signature: string): boolean {
  const signer = recoverParticipantEntry(binding, e, signature);
  return signer !== undefined && signer.toLowerCase() === e.member.toLowerCase() && checkEntrySpend(e);
}

/** Whether the entry's spend is `declaredSpend(dpParams)`. */
export function checkEntrySpend(e: ParticipantEntry): boolean {
  try {
    return declaredSpend(e.dpParams) === e.spend;
  } catch {
    return false;
  }
}
