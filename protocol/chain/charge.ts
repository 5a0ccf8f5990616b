/**
 * The EIP-712 round charge a FedmeshFederation committee signs and `chargeRound` checks before
 * any share is revealed (red team F18; contracts/IFedmeshRounds.sol `chargeRound`):
 *
 *     Participant(address member,uint256 dpParams,uint256 spend)
 *     RoundCharge(uint64 round,bytes32 lock,Participant[] participants)
 *     domain: { name: "fedmesh", version: "1", chainId, verifyingContract }  (./record.ts)
 *
 * Why: the reveals of secure aggregation release the sum over U_3 to anyone reading the gossip
 * (Bonawitz et al. 2017 §4: nothing may be learnt before the consistency check; here, nothing
 * may be released before the ledger holds its spend). `lock` is the secure-aggregation lock
 * digest the committee certified (protocol/messages/secagg.ts `lockDigest`), `participants` the
 * on-chain lines of exactly U_3, sorted by address as in a record (`canonicalRoundRecord`), so a
 * charged round's record must carry the same `participantsHash`.
 */
import { type TypedDataDomain, TypedDataEncoder, type TypedDataField } from 'ethers';
import { invalidValue } from './errors.js';
import { canonicalRoundRecord, type Hex32, type OnChainParticipant } from './record.js';

export interface RoundCharge {
  readonly round: number;
  /** The certified secure-aggregation lock (U_3, D) as bytes32. */
  readonly lock: Hex32;
  /** U_3's lines, sorted by address (`canonicalRoundCharge`). */
  readonly participants: readonly OnChainParticipant[];
}

export const ROUND_CHARGE_TYPES: Record<string, TypedDataField[]> = {
  RoundCharge: [
    { name: 'round', type: 'uint64' },
    { name: 'lock', type: 'bytes32' },
    { name: 'participants', type: 'Participant[]' },
  ],
  Participant: [
    { name: 'member', type: 'address' },
    { name: 'dpParams', type: 'uint256' },
    { name: 'spend', type: 'uint256' },
  ],
};

const PARTICIPANT_TYPES: Record<string, TypedDataField[]> = { Participant: ROUND_CHARGE_TYPES.Participant! };

/**
 * `participantsHash` as the contract computes it (and emits in `RoundCharged`): keccak of the
 * lines' EIP-712 struct hashes concatenated (EIP-712 encoding of a struct array).
 */
export function participantsHash(participants: readonly OnChainParticipant[]): Hex32 {
  return TypedDataEncoder.from(PARTICIPANT_TYPES).encodeData('Participant[]', participants.map(typed)).toLowerCase() as Hex32;
}

function typed(p: OnChainParticipant): Record<string, unknown> {
  return { member: p.member, dpParams: p.dpParams, spend: p.spend };
}

/** The charge as a plain value for ethers' typed-data encoder and signers. */
export function toChargeValue(charge: RoundCharge): Record<string, unknown> {
  return { round: charge.round, lock: charge.lock, participants: charge.participants.map(typed) };
}

/** The digest committee members sign for `chargeRound`. */
export function roundChargeDigest(domain: TypedDataDomain, charge: RoundCharge): Hex32 {
  return TypedDataEncoder.hash(domain, ROUND_CHARGE_TYPES, toChargeValue(charge)) as Hex32;
}

/**
 * `charge` with checksummed addresses, participants sorted as the contract requires and the
 * shape rules of a record (./record.ts `canonicalRoundRecord`: one rule set, not two); throws
 * ONCHAIN_INVALID_VALUE otherwise, and for a lock that is not bytes32 or an empty list.
 */
export function canonicalRoundCharge(charge: RoundCharge): RoundCharge {
  if (!/^0x[0-9a-fA-F]{64}$/.test(charge.lock)) throw invalidValue('lock', charge.lock, 'must be 0x and 64 hex digits');
  if (charge.participants.length === 0) throw invalidValue('participants.length', 0, 'must be at least 1');
  const zero = `0x${'00'.repeat(32)}` as Hex32;
  const { round, participants } = canonicalRoundRecord({
    round: charge.round,
    prevModelHash: zero,
    modelHash: zero,
    aggregateHash: zero,
    serviceMask: 0n,
    participants: charge.participants,
  });
  return { round, lock: charge.lock.toLowerCase() as Hex32, participants };
}
