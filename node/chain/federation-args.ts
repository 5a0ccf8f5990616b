/**
 * Argument checks of the FederationChainClient, so that unrepresentable inputs are refused with
 * typed errors before anything reaches a contract. Only representability is checked here (a
 * hash must be 32 bytes, a signature 65); the federation's rules are the contract's.
 */
import { getAddress, isAddress, isHexString, Signature } from 'ethers';
import type { OnChainRoundRecord } from '../../protocol/chain/record.js';
import { ChainError, invalidRecord } from './errors.js';
import type { NewMember } from './federation-types.js';
import { isHex32 } from './record.js';

const UINT256_MAX = (1n << 256n) - 1n;
const UINT32_MAX = (1n << 32n) - 1n;

function invalidMember(field: 'account' | 'epsilonCap' | 'peerProof', value: unknown, rule: string): ChainError<'CHAIN_INVALID_MEMBER'> {
  return new ChainError('CHAIN_INVALID_MEMBER', `${field} ${String(value)} ${rule}`, { field, value: String(value), rule });
}

/** A checksummed address, or CHAIN_INVALID_MEMBER naming `account`. */
export function checkAccount(account: string): string {
  if (typeof account !== 'string' || !isAddress(account)) throw invalidMember('account', account, 'must be a 20-byte hex address');
  return getAddress(account);
}

/** A cap that fits the contract's uint32, or CHAIN_INVALID_MEMBER naming `epsilonCap`. */
export function checkEpsilonCap(cap: bigint): bigint {
  if (typeof cap !== 'bigint' || cap < 0n || cap > UINT32_MAX) {
    throw invalidMember('epsilonCap', cap, 'must be a bigint in [0, 2^32 - 1] (1e-6 units)');
  }
  return cap;
}

/** 64 zero bytes: what `addMember` stores when no proof is given (never a valid Ed25519 signature). */
export const NO_PEER_PROOF = `0x${'00'.repeat(64)}`;

/** A 64-byte proof as lowercase 0x hex, or CHAIN_INVALID_MEMBER naming `peerProof`. */
export function checkPeerProof(proof: string | undefined): string {
  if (proof === undefined) return NO_PEER_PROOF;
  if (!isHexString(proof, 64)) throw invalidMember('peerProof', proof, 'must be 64 bytes as 0x hex (an Ed25519 signature)');
  return proof.toLowerCase();
}

export function checkNewMember(m: NewMember): Required<NewMember> {
  return {
    account: checkAccount(m.account),
    peerId: String(m.peerId),
    metadataURI: String(m.metadataURI),
    epsilonCap: checkEpsilonCap(m.epsilonCap),
    peerProof: checkPeerProof(m.peerProof),
  };
}

/**
 * `record` with checksummed addresses and lowercase hashes, or CHAIN_INVALID_RECORD naming the
 * first field that cannot be ABI-encoded. The order and content of the lists are kept as given:
 * they are what was signed.
 */
export function checkRecordEncodable(record: OnChainRoundRecord): OnChainRoundRecord {
  if (!(Number.isSafeInteger(record.round) && record.round >= 0)) {
    throw invalidRecord('round', String(record.round), 'must be an integer in [0, 2^53 - 1]');
  }
  for (const field of ['prevModelHash', 'modelHash', 'aggregateHash'] as const) {
    if (!isHex32(record[field])) throw invalidRecord(field, String(record[field]), 'must be 0x and 64 hex digits');
  }
  if (!(typeof record.serviceMask === 'bigint' && record.serviceMask >= 0n && record.serviceMask <= UINT256_MAX)) {
    throw invalidRecord('serviceMask', String(record.serviceMask), 'must be a bigint in [0, 2^256 - 1]');
  }
  if (!Array.isArray(record.participants)) throw invalidRecord('participants', String(record.participants), 'must be an array');
  const participants = record.participants.map((p) => {
    if (typeof p.member !== 'string' || !isAddress(p.member)) throw invalidRecord('member', String(p.member), 'must be an address');
    if (!(typeof p.spend === 'bigint' && p.spend >= 0n && p.spend <= UINT256_MAX)) {
      throw invalidRecord('spend', String(p.spend), 'must be a bigint in [0, 2^256 - 1]');
    }
    if (!(typeof p.dpParams === 'bigint' && p.dpParams >= 0n && p.dpParams <= UINT256_MAX)) {
      throw invalidRecord('dpParams', String(p.dpParams), 'must be a bigint in [0, 2^256 - 1]');
    }
    return { member: getAddress(p.member), dpParams: p.dpParams, spend: p.spend };
  });
  return {
    round: record.round,
    prevModelHash: record.prevModelHash.toLowerCase() as `0x${string}`,
    modelHash: record.modelHash.toLowerCase() as `0x${string}`,
    aggregateHash: record.aggregateHash.toLowerCase() as `0x${string}`,
    serviceMask: record.serviceMask,
    participants,
  };
}

/** Signatures as lowercase hex, or CHAIN_INVALID_RECORD naming `signatures`. */
export function checkSignatures(signatures: readonly string[]): string[] {
  if (!Array.isArray(signatures)) throw invalidRecord('signatures', String(signatures), 'must be an array');
  return signatures.map((s, i) => {
    if (!isHexString(s, true)) throw invalidRecord('signatures', `index ${i}`, 'must be 0x-prefixed hex bytes');
    return s.toLowerCase();
  });
}

/**
 * Entry signatures in EIP-2098 compact form `{ r, vs }` (what `finalizeRound` takes), one per
 * participant, or CHAIN_INVALID_RECORD naming `entrySignatures`.
 */
export function checkEntrySignatures(signatures: readonly string[], participants: number): { r: string; vs: string }[] {
  if (!Array.isArray(signatures)) throw invalidRecord('entrySignatures', String(signatures), 'must be an array');
  if (signatures.length !== participants) {
    throw invalidRecord('entrySignatures', `${signatures.length} entries`, `must be one per participant (${participants})`);
  }
  return signatures.map((s, i) => {
    try {
      const sig = Signature.from(s);
      return { r: sig.r, vs: sig.yParityAndS };
    } catch {
      throw invalidRecord('entrySignatures', `index ${i}`, 'must be a 65-byte ECDSA signature');
    }
  });
}
