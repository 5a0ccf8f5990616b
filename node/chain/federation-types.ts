/**
 * The chain port: everything a node, the CLI or an auditor does with a FedmeshFederation
 * (contracts/FedmeshFederation.sol), behind one interface. `EthersFederationClient` implements
 * it over any ethers runner and `ResilientFederationClient` wraps any implementation with retries;
 * the compliance suite (test/contracts/federation-client.compliance.ts) runs on the contract's
 * bytecode. There is deliberately no in-memory re-implementation of the contract's rules.
 *
 * Units: ε, caps and RDP lanes are fixed point with 6 decimals (protocol/chain/budget.ts);
 * deadlines are block timestamps in seconds; addresses are checksummed.
 */
import type { RoundCharge } from '../../protocol/chain/charge.js';
import type { ParticipantEntry } from '../../protocol/chain/participant-entry.js';
import type { Hex32, OnChainParticipant, OnChainRoundRecord } from '../../protocol/chain/record.js';

export type MemberStatus = 'none' | 'active' | 'suspended';
export type RoundStatus = 'none' | 'open' | 'finalized' | 'aborted';

/** Constructor parameters of a federation. */
export interface FederationParams {
  readonly initialModelHash: Hex32;
  /**
   * SHA-256 of the federation manifest (protocol/manifest.ts `manifestHash`), fixed on chain so
   * that a node can refuse a federation whose settings differ from its own. Default the zero
   * hash: no manifest.
   */
  readonly manifestHash?: Hex32;
  /** Committee size m. */
  readonly committeeSize: number;
  /** Signatures needed to finalize, t (m/2 < t <= m). */
  readonly threshold: number;
  /**
   * Blocks from a round's membership snapshot to its seed block (docs/contracts.md, "Committee
   * selection"). Default 0: the seed is the hash of the snapshot block itself, which works on a
   * chain that mines only on transactions; use 2 or more on a public chain.
   */
  readonly seedDelayBlocks?: number;
  /** Whether every participant must declare DP-SGD parameters (the federation's DP policy). Default false. */
  readonly dpRequired?: boolean;
  /** Seconds a DEFAULT_ADMIN_ROLE handover waits between its two steps. Default 0. */
  readonly adminDelaySec?: number;
  /** The δ that `cAlpha` is for, in (0, 1); stored on chain. Default DEFAULT_DELTA (1e-5). */
  readonly delta?: number;
  /** Seconds from opening a round to its input deadline. */
  readonly inputDurationSec: number;
  /** Seconds from the input deadline to the finalize deadline. */
  readonly finalizeDurationSec: number;
  /** c_α for the federation's δ at ONCHAIN_RDP_ORDERS (protocol/chain/budget.ts `cAlpha`). */
  readonly cAlpha: readonly bigint[];
}

export interface FederationInfo extends FederationParams {
  /** The deployed manifest hash; the zero hash when the deployer gave none. */
  readonly manifestHash: Hex32;
  readonly seedDelayBlocks: number;
  readonly dpRequired: boolean;
  /** δ in units of 1e-18, as stored. */
  readonly deltaE18: bigint;
  /** The contract (for the twin, a synthetic address used as EIP-712 verifyingContract). */
  readonly address: string;
  readonly chainId: bigint;
}

export interface NewMember {
  readonly account: string;
  readonly peerId: string;
  readonly metadataURI: string;
  /** Cap on ε, fixed point (1e-6); protocol/chain/budget.ts `encodeEpsilonCap`. */
  readonly epsilonCap: bigint;
  /**
   * The libp2p key's Ed25519 proof of possession (protocol/chain/peer-binding.ts), 64 bytes as
   * 0x hex. Absent: 64 zero bytes, which no node accepts as a proof (nodes that verify proofs
   * refuse such a member; the contract only stores it).
   */
  readonly peerProof?: string;
}

export interface MemberInfo {
  readonly account: string;
  readonly status: MemberStatus;
  /** Empty when never a member. */
  readonly peerId: string;
  readonly metadataURI: string;
  /** 0 when not a member. */
  readonly epsilonCap: bigint;
  readonly credits: bigint;
  /** The stored peer id proof (0x hex); '0x' when not a member. */
  readonly peerProof: string;
}

/** Where a transaction landed (for the twin: a synthetic hash and block). */
export interface TxInfo {
  readonly txHash: Hex32;
  readonly blockNumber: number;
}

export interface RoundState {
  readonly round: number;
  readonly status: RoundStatus;
  readonly seed: Hex32;
  /** The committee in selection order. */
  readonly committee: readonly string[];
  readonly inputDeadline: number;
  readonly finalizeDeadline: number;
  /** Block whose active list the committee was drawn from (`activeMembersAt`). */
  readonly snapshotBlock: number;
  /** Block whose hash seeded the draw. */
  readonly seedBlock: number;
  /** EIP-712 struct hash of the finalized record; undefined unless finalized. */
  readonly recordHash?: Hex32;
  /** Model hash of the finalized record; undefined unless finalized. */
  readonly modelHash?: Hex32;
  /** Participants hash `chargeRound` charged before the reveals (red team F18); undefined when uncharged. */
  readonly chargedHash?: Hex32;
}

export type OpenedRound = RoundState & TxInfo;

export interface FinalizedRound extends TxInfo {
  readonly round: number;
  readonly recordHash: Hex32;
  readonly record: OnChainRoundRecord;
  /** Counted signers the finalizing transaction carried, in signature order. */
  readonly signers: readonly string[];
  /** Committee members credited with SERVICE_CREDIT. */
  readonly credited: readonly string[];
}

/** A round charged before its reveals (`RoundCharged`; contracts/IFedmeshRounds.sol `chargeRound`). */
export interface ChargedRound extends TxInfo {
  readonly round: number;
  /** The certified secure-aggregation lock digest the charge names. */
  readonly lock: Hex32;
  /** keccak of the lines' EIP-712 struct hashes (protocol/chain/charge.ts `participantsHash`). */
  readonly participantsHash: Hex32;
  readonly participants: readonly OnChainParticipant[];
}

export interface AbortedRound extends TxInfo {
  readonly round: number;
}

export interface PrivacyBudget {
  /** Packed cumulative RDP (protocol/chain/budget.ts `decodePacked`). */
  readonly rdp: bigint;
  /** ε spent; EPSILON_UNBOUNDED when every lane is saturated. */
  readonly epsilonSpent: bigint;
  readonly epsilonCap: bigint;
  readonly remaining: bigint;
}

export interface FederationChainClient {
  /** The account this client signs and sends as. */
  account(): Promise<string>;
  /** Parameters, address and chain id of the federation. */
  info(): Promise<FederationInfo>;

  // Registry. add/suspend/reinstate/remove need FEDERATION_ADMIN_ROLE (else CHAIN_UNAUTHORIZED).
  addMember(member: NewMember): Promise<TxInfo>;
  suspendMember(account: string): Promise<TxInfo>;
  reinstateMember(account: string): Promise<TxInfo>;
  removeMember(account: string): Promise<TxInfo>;
  /** Binds a new peer id to a member (admin; the proof was checked off chain). */
  setPeerId(account: string, peerId: string, peerProof: string): Promise<TxInfo>;
  /** Lowers the caller's own cap from the next round on (CHAIN_CAP_NOT_LOWERED unless below the latest one). */
  lowerEpsilonCap(newCap: bigint): Promise<TxInfo>;
  updateMetadataURI(metadataURI: string): Promise<TxInfo>;
  getMember(account: string): Promise<MemberInfo>;
  /** The active list in registry order: the list committees index into. */
  activeMembers(): Promise<string[]>;
  /** The active list at the end of block `blockNumber` (a round's snapshot). */
  activeMembersAt(blockNumber: number): Promise<string[]>;
  /** Counter of MemberInfoUpdated events: re-read peer ids when it changes. */
  memberInfoVersion(): Promise<bigint>;

  // Rounds.
  currentRound(): Promise<number>;
  lastFinalizedRound(): Promise<number>;
  headModelHash(): Promise<Hex32>;
  /** The manifest hash fixed at deployment (the zero hash when none was given). */
  manifestHash(): Promise<Hex32>;
  /**
   * Opens the next round as the caller; returns it with its committee. When the round first
   * has to be scheduled (round 1, or an expired seed block), schedules it, waits for its seed
   * block to pass and opens it.
   */
  openRound(): Promise<OpenedRound>;
  /** Round `round`, or undefined when never opened; at block `atBlock` when given (default: the head). */
  getRound(round: number, atBlock?: number): Promise<RoundState | undefined>;
  /**
   * Round `round` as of the newest block with the client's configured confirmations on top
   * (the daemon's `chain.confirmations`; node/chain/resilient.ts): a charge or an abort seen
   * here survives a reorg of that depth. Absent: a client that counts a block once mined, whose
   * `getRound` is already that answer.
   */
  getRoundConfirmed?(round: number): Promise<RoundState | undefined>;
  /** The finalized record of `round` with its signers, or undefined unless finalized. */
  getFinalizedRound(round: number): Promise<FinalizedRound | undefined>;
  /** Resolves once `round` is opened; CHAIN_TIMEOUT after `timeoutMs`. */
  waitForRoundOpened(round: number, timeoutMs: number): Promise<RoundState>;
  /**
   * Resolves once `round` is finalized; CHAIN_ROUND_ABORTED if it is aborted instead,
   * CHAIN_TIMEOUT after `timeoutMs`. A committee member that loses the race to submit sees the
   * winner's record here and stops.
   */
  waitForRoundFinalized(round: number, timeoutMs: number): Promise<FinalizedRound>;
  /** The caller's EIP-712 signature of `record` for this federation (65 bytes, hex). */
  signRecord(record: OnChainRoundRecord): Promise<string>;
  /** The caller's EIP-712 `ParticipantEntry` signature (protocol/chain/participant-entry.ts). */
  signParticipantEntry(entry: ParticipantEntry): Promise<string>;
  /**
   * Finalizes with the committee's `signatures` and the participants' `entrySignatures`, one per
   * `record.participants` line in the same order (65-byte hex each), or none for a round
   * `chargeRound` charged (its lines were checked then; the contract reads none).
   */
  finalizeRound(record: OnChainRoundRecord, entrySignatures: readonly string[], signatures: readonly string[]): Promise<FinalizedRound>;
  /** The caller's EIP-712 `RoundCharge` signature for this federation (65 bytes, hex). */
  signRoundCharge(charge: RoundCharge): Promise<string>;
  /**
   * Charges the open round's participants before any reveal (red team F18) with the committee's
   * `signatures` over `charge` and the participants' `entrySignatures` in `charge.participants`
   * order. A round already charged with the same participants hash is success (the landed
   * charge is returned); with another, CHAIN_CHARGE_MISMATCH.
   */
  chargeRound(charge: RoundCharge, entrySignatures: readonly string[], signatures: readonly string[]): Promise<ChargedRound>;
  /** The charge of `round` (its `RoundCharged` event), or undefined when it was not charged. */
  getChargedRound(round: number): Promise<ChargedRound | undefined>;
  /** Aborts the open round after its finalize deadline. */
  abortRound(): Promise<AbortedRound>;

  // Ledger.
  budgetOf(account: string): Promise<PrivacyBudget>;
  /** `account`'s cap in `round` (a lowered cap applies from the next round), fixed point 1e-6. */
  epsilonCapAt(account: string, round: number): Promise<bigint>;
  /** What finalizing would do to `account`'s budget in `round` with `spend` (the contract's `budgetAfter`). */
  budgetAfter(account: string, round: number, spend: bigint): Promise<{ epsilonAfter: bigint; cap: bigint; fits: boolean }>;
  creditsOf(account: string): Promise<bigint>;
  totalCredits(): Promise<bigint>;
}

/** Where a study stands in its chain (contracts/IFedmeshStudy.sol `studyChain`); zero addresses read as undefined. */
export interface StudyChainInfo {
  /** The study whose budgets this one continues. */
  readonly predecessor?: string;
  /** The study this one named when it was closed. */
  readonly successor?: string;
  /** Closed: no round opens again, and its RDP ledger is final. */
  readonly closed: boolean;
}

/** What a study carries for an account (`carriedBudgetOf`): packed RDP and latest cap (1e-6), when known. */
export interface CarriedBudget {
  readonly rdp: bigint;
  readonly cap: bigint;
  /** Some study of the chain registered the account; otherwise rdp and cap are 0. */
  readonly known: boolean;
}

/**
 * Studies on one budget (docs/contracts.md, "Studies on one budget"): a second port beside
 * `FederationChainClient`, so that the round machinery's clients and their test doubles need
 * nothing new. Implemented by `EthersFederationClient`.
 */
export interface FederationStudyClient {
  /** Closes this study for good and names `successor` (undefined: none) to continue its budgets (admin). */
  closeStudy(successor?: string): Promise<TxInfo>;
  /** Makes this study continue `predecessor`'s budgets (admin; once, before any member is registered). */
  inheritBudgetFrom(predecessor: string): Promise<TxInfo>;
  studyChain(): Promise<StudyChainInfo>;
  /** What a successor of this study starts `account` from. */
  carriedBudgetOf(account: string): Promise<CarriedBudget>;
}
