/**
 * The EIP-712 round record that a FedmeshFederation committee signs and `finalizeRound` checks
 * (EIP-712, https://eips.ethereum.org/EIPS/eip-712; contracts/IFedmeshRounds.sol `RoundRecord`).
 *
 *     Participant(address member,uint256 dpParams,uint256 spend)
 *     RoundRecord(uint64 round,bytes32 prevModelHash,bytes32 modelHash,bytes32 aggregateHash,
 *                 uint256 serviceMask,Participant[] participants)
 *     domain: { name: "fedmesh", version: "1", chainId, verifyingContract }
 *
 * The domain binds a signature to one chain and one deployment, so a record signed for a test
 * chain or another federation is worthless here. `participants` must be sorted by address (as
 * 160-bit numbers), strictly ascending; `canonicalRoundRecord` puts any record in that form.
 * Each participant line is also signed by the participant itself (./participant-entry.ts);
 * those signatures travel beside the record, in the same order. Bit k of `serviceMask`
 * credits committee position k (docs/credits.md). There is no sample-count bucket and no list
 * of dropped members (issue 14: records that scale with the participants, not the membership).
 */
import { getAddress, type TypedDataDomain, TypedDataEncoder, type TypedDataField } from 'ethers';
import { RDP_MASK } from './budget.js';
import { invalidValue } from './errors.js';

/** 0x-prefixed 32-byte hex (bytes32). */
export type Hex32 = `0x${string}`;

export const FEDMESH_EIP712_NAME = 'fedmesh';
export const FEDMESH_EIP712_VERSION = '1';

/** Most participants per record (the contract's `MAX_PARTICIPANTS`). */
export const MAX_RECORD_ENTRIES = 400;

export interface OnChainParticipant {
  /** Member address. */
  readonly member: string;
  /**
   * The DP-SGD parameters the participant declared and signed, packed by `encodeDpParams`
   * (./dp-params.ts); NO_DP_PARAMS (0n) without DP, which needs a zero spend.
   */
  readonly dpParams: bigint;
  /** The round's RDP spend, packed by `encodeRdp` (./budget.ts): `declaredSpend(dpParams)`. */
  readonly spend: bigint;
}

/**
 * What a participant declares about its contribution in its signed round submission (the
 * masked input under secure aggregation, the update in plaintext mode): its DP-SGD parameters
 * for the round (./dp-params.ts `encodeDpParams`, NO_DP_PARAMS without DP) and its own
 * EIP-712 `ParticipantEntry` signature over (round, member, dpParams, declaredSpend(dpParams))
 * (./participant-entry.ts). The committee copies both into the record. `bucket` is ignored
 * (kept optional only while callers still fill it; nothing on chain depends on it).
 */
export interface ContributionDeclaration {
  readonly dpParams: bigint;
  readonly entrySignature?: string;
  readonly bucket?: number;
}

export interface OnChainRoundRecord {
  readonly round: number;
  readonly prevModelHash: Hex32;
  readonly modelHash: Hex32;
  /** Hash identifying the aggregate the committee computed. */
  readonly aggregateHash: Hex32;
  /** Bit k: committee position k earns SERVICE_CREDIT (./credits.ts). */
  readonly serviceMask: bigint;
  readonly participants: readonly OnChainParticipant[];
}

/** The EIP-712 types of the record, as ethers' `signTypedData` and `TypedDataEncoder` take them. */
export const ROUND_RECORD_TYPES: Record<string, TypedDataField[]> = {
  RoundRecord: [
    { name: 'round', type: 'uint64' },
    { name: 'prevModelHash', type: 'bytes32' },
    { name: 'modelHash', type: 'bytes32' },
    { name: 'aggregateHash', type: 'bytes32' },
    { name: 'serviceMask', type: 'uint256' },
    { name: 'participants', type: 'Participant[]' },
  ],
  Participant: [
    { name: 'member', type: 'address' },
    { name: 'dpParams', type: 'uint256' },
    { name: 'spend', type: 'uint256' },
  ],
};

/** The signing domain of the federation contract at `verifyingContract` on chain `chainId`. */
export function federationDomain(chainId: bigint | number, verifyingContract: string): TypedDataDomain {
  return {
    name: FEDMESH_EIP712_NAME,
    version: FEDMESH_EIP712_VERSION,
    chainId: BigInt(chainId),
    verifyingContract: getAddress(verifyingContract),
  };
}

/** EIP-712 hashStruct(record): the contract's `hashRoundRecord`, stored as the round's record hash. */
export function roundRecordStructHash(record: OnChainRoundRecord): Hex32 {
  return TypedDataEncoder.hashStruct('RoundRecord', ROUND_RECORD_TYPES, toTypedValue(record)) as Hex32;
}

/** The digest committee members sign: the contract's `roundRecordDigest`. */
export function roundRecordDigest(domain: TypedDataDomain, record: OnChainRoundRecord): Hex32 {
  return TypedDataEncoder.hash(domain, ROUND_RECORD_TYPES, toTypedValue(record)) as Hex32;
}

/** The record as a plain value for ethers' typed-data encoder and signers. */
export function toTypedValue(record: OnChainRoundRecord): Record<string, unknown> {
  return {
    round: record.round,
    prevModelHash: record.prevModelHash,
    modelHash: record.modelHash,
    aggregateHash: record.aggregateHash,
    serviceMask: record.serviceMask,
    participants: record.participants.map((p) => ({ member: p.member, dpParams: p.dpParams, spend: p.spend })),
  };
}

/** The service mask crediting every one of `committeeSize` positions. */
export function fullServiceMask(committeeSize: number): bigint {
  return (1n << BigInt(committeeSize)) - 1n;
}

/** Orders addresses as the contract does: as 160-bit unsigned integers. */
export function compareAddresses(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * `record` with checksummed addresses, participants sorted as the contract requires, and
 * lowercase hashes. Throws ONCHAIN_INVALID_VALUE for what the contract would refuse by shape: a
 * duplicate, a spend out of range, a spend without declared DP parameters, a list over
 * MAX_RECORD_ENTRIES, a service mask over 32 bits, or a malformed hash or round. Membership,
 * signatures and budgets are the contract's to check.
 */
export function canonicalRoundRecord(record: OnChainRoundRecord): OnChainRoundRecord {
  if (!(Number.isSafeInteger(record.round) && record.round >= 0)) throw invalidValue('round', record.round, 'must be an integer >= 0');
  for (const field of ['prevModelHash', 'modelHash', 'aggregateHash'] as const) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(record[field])) throw invalidValue(field, record[field], 'must be 0x and 64 hex digits');
  }
  if (!(typeof record.serviceMask === 'bigint' && record.serviceMask >= 0n && record.serviceMask < 1n << 32n)) {
    throw invalidValue('serviceMask', record.serviceMask, 'must be a bigint in [0, 2^32)');
  }
  if (record.participants.length > MAX_RECORD_ENTRIES) {
    throw invalidValue('participants.length', record.participants.length, `must be at most ${MAX_RECORD_ENTRIES}`);
  }
  const participants = record.participants
    .map((p, i) => {
      if (!(typeof p.spend === 'bigint' && p.spend >= 0n && p.spend <= RDP_MASK)) {
        throw invalidValue(`participants[${i}].spend`, p.spend, 'must be a packed RDP word (bits 224..255 zero)');
      }
      if (!(typeof p.dpParams === 'bigint' && p.dpParams >= 0n && p.dpParams < 1n << 256n)) {
        throw invalidValue(`participants[${i}].dpParams`, p.dpParams, 'must be a uint256 bigint (./dp-params.ts encodeDpParams)');
      }
      if (p.dpParams === 0n && p.spend !== 0n) {
        throw invalidValue(`participants[${i}].spend`, p.spend, 'must be 0 when no DP parameters are declared (dpParams 0)');
      }
      return { member: checkedAddress(`participants[${i}].member`, p.member), dpParams: p.dpParams, spend: p.spend };
    })
    .sort((a, b) => compareAddresses(a.member, b.member));
  for (let i = 1; i < participants.length; i++) {
    if (participants[i]!.member === participants[i - 1]!.member) {
      throw invalidValue('participants', participants[i]!.member, 'each address may appear once');
    }
  }
  return {
    round: record.round,
    prevModelHash: record.prevModelHash.toLowerCase() as Hex32,
    modelHash: record.modelHash.toLowerCase() as Hex32,
    aggregateHash: record.aggregateHash.toLowerCase() as Hex32,
    serviceMask: record.serviceMask,
    participants,
  };
}

/** Checksummed `value`, or ONCHAIN_INVALID_VALUE naming the field (ethers' getAddress throws an untyped TypeError). */
function checkedAddress(field: string, value: string): string {
  try {
    return getAddress(value);
  } catch {
    throw invalidValue(field, value, 'must be a 20-byte hex address');
  }
}
