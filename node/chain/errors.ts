/**
 * Typed errors of the chain port.
 *
 * Every failure a `FederationChainClient` reports is a `ChainError` with a stable code and typed
 * fields (STYLE.md §10). Reverts are classified by decoding the contract's custom error from the
 * revert data against the FedmeshFederation ABI (the mapping is federation-errors.ts), and
 * transport failures by their structured `code`
 * (ethers' `ErrorCode` or Node's system error code), never by message text: node and library
 * messages change between versions, selectors and codes do not.
 */
import { type Interface, isError } from 'ethers';
import { FedmeshError } from '../../protocol/errors.js';
import type { Hex32 } from './types.js';

/**
 * Which field of a FedmeshFederation `OnChainRoundRecord` was invalid (round … dropped, and a
 * participant's bucket, spend or declared DP parameters).
 */
export type RoundRecordField =
  | 'round'
  | 'prevModelHash'
  | 'modelHash'
  | 'aggregateHash'
  | 'participants'
  | 'dropped'
  | 'member'
  | 'bucket'
  | 'spend'
  | 'dpParams'
  | 'serviceMask'
  | 'entrySignatures'
  | 'signatures';

/** A round's status on a FedmeshFederation. */
export type ChainRoundStatus = 'none' | 'open' | 'finalized' | 'aborted';

/** Typed fields per code. */
export interface ChainErrorFields {
  /** `account` is not a member of the federation (`FedmeshRegistryNotMember`). */
  CHAIN_NOT_MEMBER: { account: string };
  /** The record names round `got`, the open round is `expected` (`FedmeshRoundsUnexpectedRound`). */
  CHAIN_UNEXPECTED_ROUND: { expected: number; got: number };
  /** `got` is not the head model hash (`FedmeshRoundsPrevModelHashMismatch`). */
  CHAIN_PREV_HASH_MISMATCH: { expected: Hex32; got: Hex32 };
  /**
   * The contract refuses the record (e.g. a zero model hash, too many participants) or it
   * cannot be represented on chain (not a uint64, not 32 bytes of hex).
   */
  CHAIN_INVALID_RECORD: { field: RoundRecordField; value: string; rule: string };
  /** The RPC endpoint could not be reached or failed; `reason` is the underlying error code. */
  CHAIN_UNAVAILABLE: { operation: string; reason: string };
  /** A `waitFor…` call gave up. */
  CHAIN_TIMEOUT: { round: number; timeoutMs: number };
  /**
   * The contract reverted with something this client does not know: no revert data (e.g. out
   * of gas, or a receipt with status 0 whose replay did not revert) or an unknown error
   * selector. `errorName` is set when the data decoded against the ABI.
   */
  CHAIN_REVERTED: { operation: string; errorName?: string; data?: string; txHash?: string };

  // The rest are FedmeshFederation's own (contracts/FedmeshFederation.sol); federation-errors.ts maps them.
  /** The caller lacks `role` (OpenZeppelin `AccessControlUnauthorizedAccount`). */
  CHAIN_UNAUTHORIZED: { account: string; role: string };
  CHAIN_ALREADY_MEMBER: { account: string };
  /** `account` is not an active member (opening a round, or suspending). */
  CHAIN_MEMBER_NOT_ACTIVE: { account: string };
  CHAIN_MEMBER_NOT_SUSPENDED: { account: string };
  /** A registry argument the contract refuses: the zero address, a peer id or URI length. */
  CHAIN_INVALID_MEMBER: { field: 'account' | 'peerId' | 'metadataURI' | 'epsilonCap' | 'peerProof'; value: string; rule: string };
  /** The peer id is bound to another account (FedmeshRegistryPeerIdTaken). */
  CHAIN_PEER_ID_TAKEN: { peerId: string; owner: string };
  /** The next round's seed block has not passed yet (FedmeshRoundsSeedNotReady). */
  CHAIN_SEED_NOT_READY: { seedBlock: number; blockNumber: number };
  /** A participant line without its member's ParticipantEntry signature. */
  CHAIN_INVALID_ENTRY_SIGNATURE: { account: string; index: number };
  /** The federation requires DP and the participant declared none. */
  CHAIN_DP_REQUIRED: { account: string };
  /** A cap can only be lowered. Caps are fixed point (1e-6 units). */
  CHAIN_CAP_NOT_LOWERED: { account: string; current: number; requested: number };
  CHAIN_ROUND_STILL_OPEN: { round: number };
  CHAIN_TOO_FEW_MEMBERS: { active: number; required: number };
  CHAIN_ROUND_NOT_OPEN: { round: number; status: ChainRoundStatus };
  /** Too late to finalize: the block is past `deadline` (seconds). */
  CHAIN_DEADLINE_PASSED: { round: number; deadline: number };
  /** Too early to abort: the block is not past `deadline` (seconds). */
  CHAIN_DEADLINE_NOT_PASSED: { round: number; deadline: number };
  CHAIN_QUORUM_NOT_MET: { got: number; required: number };
  /** `signatures[index]` is malformed or recovers no address. */
  CHAIN_INVALID_SIGNATURE: { index: number };
  CHAIN_SIGNER_NOT_IN_COMMITTEE: { signer: string };
  CHAIN_DUPLICATE_SIGNER: { signer: string };
  CHAIN_PARTICIPANT_NOT_ACTIVE: { account: string };
  /**
   * The round would take `account` past its cap. `epsilon` and `cap` are fixed point (1e-6
   * units); `epsilon` is Infinity when every RDP lane is saturated.
   */
  CHAIN_BUDGET_EXCEEDED: { account: string; epsilon: number; cap: number };
  CHAIN_CREDITS_OVERFLOW: { account: string };
  /** Deployment parameters the constructor refuses. */
  CHAIN_INVALID_CONFIG: { field: string; value: string; rule: string };
  /** `waitForRoundFinalized`: the round was aborted, so it will never be finalized. */
  CHAIN_ROUND_ABORTED: { round: number };
  /**
   * The round was already charged before its reveals (FedmeshRoundsAlreadyCharged), for the
   * participants hashing to `chargedHash`: a second submitter of the same charge reads it as
   * success (`chargeRound` returns the landed charge).
   */
  CHAIN_ALREADY_CHARGED: { round: number; chargedHash: Hex32 };
  /**
   * A charged round's record names other participants than the charge (FedmeshRoundsChargeMismatch),
   * or the charge on chain is not the one this member signed: the release must be exactly U_3.
   */
  CHAIN_CHARGE_MISMATCH: { round: number; charged: Hex32; got: Hex32 };

  // Studies on one budget (contracts/IFedmeshStudy.sol).
  /** The study is closed: no round opens, and it neither closes nor inherits again (FedmeshStudyClosed). */
  CHAIN_STUDY_CLOSED: Record<string, never>;
  /** A study cannot name itself as its successor (FedmeshStudyInvalidSuccessor). */
  CHAIN_STUDY_INVALID_SUCCESSOR: { successor: string };
  /** `predecessor` named `named` (zero: none, or still open), not this study (FedmeshStudyNotNamed). */
  CHAIN_STUDY_NOT_NAMED: { predecessor: string; named: string };
  /** The study already continues `predecessor`'s budgets (FedmeshStudyAlreadyInherits). */
  CHAIN_STUDY_ALREADY_INHERITS: { predecessor: string };
  /** A member was registered before inheriting: its budget would have started at zero (FedmeshStudyHasMembers). */
  CHAIN_STUDY_HAS_MEMBERS: Record<string, never>;
  /** The predecessor's δ (`got`, units of 1e-18) is not this study's (`expected`) (FedmeshStudyDeltaMismatch). */
  CHAIN_STUDY_DELTA_MISMATCH: { expected: string; got: string };
}

export type ChainErrorCode = keyof ChainErrorFields;

export class ChainError<C extends ChainErrorCode = ChainErrorCode> extends FedmeshError<C, ChainErrorFields[C]> {}

/** True when `e` is a `ChainError`, optionally with the given code (narrowing its fields). */
export function isChainError<C extends ChainErrorCode>(e: unknown, code?: C): e is ChainError<C> {
  return e instanceof ChainError && (code === undefined || e.code === code);
}

/** Maps a decoded custom error (name and arguments) to its `ChainError`, if known. */
export type RevertMapper = (errorName: string, args: readonly unknown[], cause?: unknown) => ChainError | undefined;

export function invalidRecord(field: RoundRecordField, value: string, rule: string, cause?: unknown): ChainError<'CHAIN_INVALID_RECORD'> {
  return new ChainError('CHAIN_INVALID_RECORD', `${field} ${value} ${rule}`, { field, value, rule }, { cause });
}

/**
 * Node.js and undici error codes that mean the endpoint could not be reached or dropped the
 * connection (https://nodejs.org/api/errors.html#common-system-errors). ethers v6 surfaces
 * these raw from `FetchRequest` rather than wrapping them in a NETWORK_ERROR.
 */
const UNREACHABLE_SYSTEM_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** ethers `ErrorCode`s that mean the RPC, not the contract, failed. */
const UNAVAILABLE_ETHERS_CODES = ['NETWORK_ERROR', 'SERVER_ERROR', 'TIMEOUT'] as const;

/** Errors are nested differently by ethers, Hardhat and undici; look a few levels down. */
const MAX_CAUSE_DEPTH = 5;

/** `e` and the objects it wraps (`error`, `info.error`, `cause`, `data`), outermost first. */
function* errorChain(e: unknown): Generator<Record<string, unknown>> {
  const seen = new Set<unknown>();
  let frontier: unknown[] = [e];
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && frontier.length > 0; depth++) {
    const next: unknown[] = [];
    for (const x of frontier) {
      if (typeof x !== 'object' || x === null || seen.has(x)) continue;
      seen.add(x);
      const o = x as Record<string, unknown>;
      yield o;
      const info = o.info as Record<string, unknown> | undefined;
      // `data` is revert hex for ethers and Hardhat in process, but an object holding the hex
      // in a Hardhat node's JSON-RPC error ({ code, message, data: { data, message, txHash } }),
      // which ethers wraps as UNKNOWN_ERROR when eth_sendTransaction fails.
      next.push(o.error, info?.error, o.cause, o.data);
    }
    frontier = next;
  }
}

/**
 * The revert data carried by `e`, if any. ethers puts it on a CALL_EXCEPTION's `data`; the
 * in-process Hardhat provider throws its own error (not an ethers one) with the data on `data`;
 * errors ethers cannot coalesce keep the JSON-RPC error, with the data at `error.data` or
 * `error.data.data`. Only well-formed hex with at least a selector counts, so a `data` that is
 * a message string is ignored.
 */
function findRevertData(e: unknown): string | undefined {
  for (const o of errorChain(e)) {
    const data = o.data;
    if (typeof data === 'string' && /^0x(?:[0-9a-fA-F]{2}){4,}$/.test(data)) return data;
  }
  return undefined;
}

/** The transport-level code of `e` when it means the RPC is unavailable. */
function findUnavailableReason(e: unknown): string | undefined {
  for (const o of errorChain(e)) {
    for (const code of UNAVAILABLE_ETHERS_CODES) if (isError(o, code)) return code;
    if (typeof o.code === 'string' && UNREACHABLE_SYSTEM_CODES.has(o.code)) return o.code;
  }
  return undefined;
}

/**
 * Turns anything thrown while talking to the ledger into a `ChainError`:
 * a known custom error becomes its code, an unknown revert CHAIN_REVERTED, a transport failure
 * CHAIN_UNAVAILABLE. Anything else (bad arguments, programming errors) is returned unchanged,
 * because hiding it behind a chain code would send callers into retry loops for bugs.
 */
export function classifyChainError(e: unknown, iface: Interface, operation: string, mapRevert: RevertMapper): unknown {
  if (e instanceof ChainError) return e;
  const data = findRevertData(e);
  if (data !== undefined) {
    const parsed = iface.parseError(data);
    if (parsed !== null) {
      return (
        mapRevert(parsed.name, [...parsed.args], e) ??
        new ChainError(
          'CHAIN_REVERTED',
          `${operation} reverted with ${parsed.name}`,
          { operation, errorName: parsed.name, data },
          { cause: e },
        )
      );
    }
    return new ChainError('CHAIN_REVERTED', `${operation} reverted with unknown data`, { operation, data }, { cause: e });
  }
  if (isError(e, 'CALL_EXCEPTION')) {
    return new ChainError('CHAIN_REVERTED', `${operation} reverted without data`, { operation }, { cause: e });
  }
  const reason = findUnavailableReason(e);
  if (reason !== undefined) {
    return new ChainError('CHAIN_UNAVAILABLE', `${operation} failed: RPC unavailable (${reason})`, { operation, reason }, { cause: e });
  }
  return e;
}
