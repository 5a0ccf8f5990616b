/**
 * The auditor's input and output types (docs/auditor-guide.md, issue #7).
 *
 * The input is a typed, already-fetched event stream of one FedmeshFederation deployment — its
 * registry and round events in log order, each finalize transaction's decoded calldata, the
 * opening blocks' prevrandao — plus the contract's views read at the last block of the stream.
 * Everything the checks in this folder conclude follows from that input alone, so tampering can
 * be tested on constructed streams and the node layer (node/audit/) only fetches.
 */
import type { ServerOptimizer } from '../server-optimizer.js';
import type { Hex32, OnChainParticipant, OnChainRoundRecord } from '../chain/record.js';

export type Severity = 'error' | 'warning' | 'info';

/** Where an event sits in the chain: the stream is ordered by (block, logIndex). */
export interface EventPosition {
  readonly block: number;
  readonly logIndex: number;
  readonly txHash: Hex32;
}

/** A participant as the record carries it, with its declared DP-SGD parameters (protocol/chain/dp-params.ts). */
export type AuditParticipant = OnChainParticipant;

export type AuditRecord = OnChainRoundRecord;

/**
 * A participant's signature over its ParticipantEntry as `finalizeRound` takes it: EIP-2098
 * compact (r, yParityAndS), 0x hex (contracts/IFedmeshRounds.sol `EntrySignature`).
 */
export interface EntrySignature {
  readonly r: string;
  readonly vs: string;
}

/**
 * What the finalize transaction carried: its decoded `finalizeRound(record, entrySignatures,
 * signatures)` calldata, or why it could not be decoded (e.g. the call came through another
 * contract).
 */
export type FinalizeCall =
  | {
      readonly kind: 'decoded';
      readonly record: AuditRecord;
      /** One per record participant, in record order (the contract refuses any other count). */
      readonly entrySignatures: readonly EntrySignature[];
      readonly signatures: readonly string[];
      /** The contract the transaction called when it was not the federation (a forwarder, red team F33). */
      readonly via?: string;
      /**
       * Other calls with the same arguments found in that forwarder's calldata (F33): a decoy with
       * bad signatures may come first; the audit takes the first whose signatures verify.
       */
      readonly alternatives?: readonly { readonly entrySignatures: readonly EntrySignature[]; readonly signatures: readonly string[] }[];
    }
  | { readonly kind: 'unavailable'; readonly reason: string };

/** A `chargeRound` transaction's arguments (red team F18), when they could be decoded. */
export type ChargeCall =
  | {
      readonly kind: 'decoded';
      readonly round: number;
      readonly lock: Hex32;
      readonly participants: readonly AuditParticipant[];
      /** One per line, in order. */
      readonly entrySignatures: readonly EntrySignature[];
      readonly signatures: readonly string[];
      /** The contract the transaction called when it was not the federation (a forwarder, red team F33). */
      readonly via?: string;
      /**
       * Other calls with the same arguments found in that forwarder's calldata (F33): a decoy with
       * bad signatures may come first; the audit takes the first whose signatures verify.
       */
      readonly alternatives?: readonly { readonly entrySignatures: readonly EntrySignature[]; readonly signatures: readonly string[] }[];
    }
  | { readonly kind: 'unavailable'; readonly reason: string };

export type AuditEvent =
  | {
      readonly kind: 'MemberAdded';
      readonly at: EventPosition;
      readonly account: string;
      readonly peerId: string;
      readonly epsilonCap: bigint;
    }
  | { readonly kind: 'MemberSuspended' | 'MemberReinstated' | 'MemberRemoved'; readonly at: EventPosition; readonly account: string }
  | {
      readonly kind: 'EpsilonCapLowered';
      readonly at: EventPosition;
      readonly account: string;
      readonly previousCap: bigint;
      readonly newCap: bigint;
      /** First round the new cap applies to (absent in streams from before issue 14: the next round). */
      readonly fromRound?: number;
    }
  | {
      readonly kind: 'RoundOpened';
      readonly at: EventPosition;
      readonly round: number;
      readonly seed: Hex32;
      readonly committee: readonly string[];
      readonly inputDeadline: number;
      readonly finalizeDeadline: number;
      /** Hash of the round's seed block, when the node reports it (the seed's input). */
      readonly prevrandao?: bigint;
      /** The active list at the round's snapshot block (`activeMembersAt`), when read. */
      readonly snapshotActive?: readonly string[];
    }
  | {
      readonly kind: 'RoundFinalized';
      readonly at: EventPosition;
      readonly round: number;
      readonly recordHash: Hex32;
      readonly record: AuditRecord;
      readonly signers: readonly string[];
      /** Committee members the round credited with SERVICE_CREDIT. */
      readonly credited: readonly string[];
      readonly call: FinalizeCall;
    }
  | {
      /**
       * U_3 charged before any reveal (red team F18, IFedmeshRounds `chargeRound`): the spends and
       * participation credits of a secure round land here, not at its finalize.
       */
      readonly kind: 'RoundCharged';
      readonly at: EventPosition;
      readonly round: number;
      readonly lock: Hex32;
      readonly participantsHash: Hex32;
      readonly participants: readonly AuditParticipant[];
      readonly call: ChargeCall;
    }
  | { readonly kind: 'RoundAborted'; readonly at: EventPosition; readonly round: number };

/** The deployment the auditor was told to check (node/chain/deployment.ts `DeploymentFile`). */
export interface AuditDeployment {
  readonly chainId: bigint;
  readonly address: string;
  readonly deployBlock: number;
  readonly initialModelHash: Hex32;
  readonly m: number;
  readonly t: number;
  readonly delta: number;
  /** c_α per lane, fixed point 1e-6 (protocol/chain/budget.ts `cAlpha`). */
  readonly cAlpha: readonly bigint[];
  /** The federation manifest's hash, when the deployment file records one (protocol/manifest.ts). */
  readonly manifestHash?: Hex32;
  /** The earlier studies this one continues, oldest first, as the deployment file lists them (`studies`). */
  readonly studies?: readonly { readonly address: string; readonly deployBlock: number }[];
}

/** A study's `studyChain()` (contracts/IFedmeshStudy.sol); absent links are undefined. */
export interface StudyLinkView {
  readonly predecessor?: string;
  readonly successor?: string;
  readonly closed: boolean;
}

/** One study's spend per member: packed RDP of its records (decimal) and ε of that alone. */
export interface StudySpendRow {
  readonly address: string;
  /** Finalized rounds. */
  readonly rounds: number;
  readonly members: readonly { readonly member: string; readonly rdp: string; readonly epsilon: number }[];
}

/** Studies on one budget (node/audit/studies.ts): what the earlier studies carry in and spent. */
export interface StudiesInput {
  /** Packed RDP each account carries into the audited study (protocol/audit/privacy.ts `carriedInto`). */
  readonly carried: ReadonlyMap<string, bigint>;
  /** The earlier studies' spends, oldest first. */
  readonly earlier: readonly StudySpendRow[];
  /** The audited study's own links. */
  readonly link: StudyLinkView;
  /** The chain's findings (protocol/audit/privacy.ts `checkStudyChain`). */
  readonly findings: readonly Omit<Finding, 'round'>[];
}

/** A member's entry in the contract's views. */
export interface MemberView {
  /** 0 none, 1 active, 2 suspended (IFedmeshRegistry.MemberStatus). */
  readonly status: number;
  readonly epsilonCap: bigint;
  readonly credits: bigint;
  /** Cumulative packed RDP (`rdpOf`). */
  readonly rdp: bigint;
  /** ε spent as the contract computes it (`privacyBudgetOf(..).epsilonSpent`), 1e-6 units. */
  readonly epsilonSpent: bigint;
  /** The registry's metadata URI (`getMember(..).metadataURI`), when read. */
  readonly metadataURI?: string;
  /** The registry's peer id and its stored proof (`getMember(..).peerId/.peerProof`), when read. */
  readonly peerId?: string;
  readonly peerProof?: string;
}

/** The contract's views, all read at `block`, the last block of the event stream. */
export interface ChainViews {
  readonly block: number;
  readonly initialModelHash: Hex32;
  readonly headModelHash: Hex32;
  readonly committeeSize: number;
  readonly threshold: number;
  readonly cAlpha: readonly bigint[];
  /** `delta()`: the δ the caps are stated at, in units of 1e-18 as stored. */
  readonly delta: bigint;
  /** `inputDuration()`, `finalizeDuration()` (seconds) and `seedDelay()` (blocks), when read. */
  readonly inputDuration?: number;
  readonly finalizeDuration?: number;
  readonly seedDelay?: number;
  /** `manifestHash()`, on contracts that have it. */
  readonly manifestHash?: Hex32;
  /**
   * `eth_getCode` at `block`, by contract name: FedmeshFederation at the deployment's address
   * and FedmeshRegistryLens at `registryLens()` (when the federation has one), when read.
   */
  readonly runtimeCode?: Readonly<Record<string, { readonly address: string; readonly code: string }>>;
  readonly totalCredits: bigint;
  /** Keyed by checksummed address: every account a MemberAdded event names. */
  readonly members: ReadonlyMap<string, MemberView>;
}

/** A byte range of deployed code that holds an immutable's value (solc `immutableReferences`). */
export interface ImmutableReference {
  readonly start: number;
  readonly length: number;
}

/** One contract as the compiler built it (./code.ts). */
export interface CompiledCode {
  /** 0x hex of `evm.deployedBytecode.object`. */
  readonly deployedBytecode: string;
  /** `evm.deployedBytecode.immutableReferences`: AST id → ranges. */
  readonly immutableReferences: Readonly<Record<string, readonly ImmutableReference[]>>;
}

/** A model artifact found for a hash: its bytes, or why it could not be had. */
export type ArtifactEntry = { readonly source: string; readonly bytes: Uint8Array } | { readonly source: string; readonly error: string };

export interface AuditInput {
  readonly deployment: AuditDeployment;
  readonly events: readonly AuditEvent[];
  readonly views: ChainViews;
  /** Present when artifacts were given or fetched: lowercase 0x model hash → what was found. */
  readonly artifacts?: ReadonlyMap<string, ArtifactEntry>;
  /**
   * The compiled contracts by name (./code.ts), when the auditor has them: each one whose
   * `views.runtimeCode` was read must match it up to its immutables (CODE_MISMATCH).
   */
  readonly compiledCode?: Readonly<Record<string, CompiledCode>>;
  /** Present when the study continues another or names a successor (issue 17 item 7). */
  readonly studies?: StudiesInput;
  /**
   * The manifest's server optimizer (issue 16; protocol/server-optimizer.ts), when the auditor has
   * the manifest: under one other than FedAvg each finalized round's step is replayed from the
   * artifacts (./server-step.ts).
   */
  readonly serverOptimizer?: ServerOptimizer;
  /** Present with --test-data: per round, metrics of its model on the test data. */
  readonly evaluations?: ReadonlyMap<number, Readonly<Record<string, number>>>;
  /** Rounds to report on (inclusive); all when absent. State is always replayed from the start. */
  readonly fromRound?: number;
  readonly toRound?: number;
}

export interface Finding {
  /** The round it concerns; null for the deployment as a whole. */
  readonly round: number | null;
  readonly code: FindingCode;
  readonly severity: Severity;
  readonly message: string;
  /** JSON-safe: big integers as decimal strings. */
  readonly evidence: Readonly<Record<string, unknown>>;
}

export interface RoundSummary {
  readonly round: number;
  readonly status: 'open' | 'finalized' | 'aborted';
  readonly openedBlock: number;
  readonly closedBlock?: number;
  readonly committee: readonly string[];
  /** Signers whose signatures the auditor verified itself (from calldata), or the event's when unavailable. */
  readonly signers: readonly string[];
  readonly signaturesVerified: boolean;
  readonly prevModelHash?: Hex32;
  readonly modelHash?: Hex32;
  readonly recordHash?: Hex32;
  readonly participants: readonly string[];
  /** Block of the round's `RoundCharged` (charged before its reveals, F18), when it was charged. */
  readonly chargedBlock?: number;
  /** The charged participants hash (`RoundCharged`), when it was charged. */
  readonly chargedHash?: Hex32;
  /** Always empty since issue 14: the record has no list of dropped members. */
  readonly dropped: readonly string[];
  readonly artifact?: 'verified' | 'mismatch' | 'missing' | 'unavailable';
  readonly evaluation?: Readonly<Record<string, number>>;
  /** Codes of the findings about this round. */
  readonly findings: readonly FindingCode[];
}

export interface MemberSummary {
  readonly address: string;
  readonly peerId: string;
  readonly status: 'active' | 'suspended' | 'removed';
  /** Institution name from the registry metadata (member-name.ts), when it carries one. */
  readonly name?: string;
  readonly metadataURI?: string;
}

export interface BudgetRow {
  readonly member: string;
  /** ε at the federation's δ from the replayed spends (a number; +∞ when unbounded). */
  readonly epsilonSpent: number;
  /** The cap ε. */
  readonly cap: number;
  /** The contract's own `privacyBudgetOf(member).epsilonSpent`, as a number. */
  readonly chainEpsilonSpent: number;
  /** Cumulative packed RDP replayed, decimal. */
  readonly rdp: string;
  /** With earlier studies: ε of what the member carried into this study, and of this study's spend alone. */
  readonly epsilonCarried?: number;
  readonly epsilonThisStudy?: number;
}

export interface CreditRow {
  readonly member: string;
  /** Credits by docs/credits.md's rule over the replayed records, decimal. */
  readonly expected: string;
  /** `creditsOf(member)`, decimal. */
  readonly onChain: string;
}

export interface AuditReport {
  readonly ok: boolean;
  readonly federation: string;
  readonly chainId: string;
  readonly block: number;
  readonly initialModelHash: Hex32;
  /** Committee size m and signature threshold t, as the contract enforces them. */
  readonly m: number;
  readonly t: number;
  readonly rounds: readonly RoundSummary[];
  readonly members: readonly MemberSummary[];
  readonly findings: readonly Finding[];
  readonly budgets: readonly BudgetRow[];
  readonly credits: readonly CreditRow[];
  readonly totalCredits: { readonly expected: string; readonly onChain: string };
  /** With earlier studies (or a successor): the spend per study, oldest first, the audited one last. */
  readonly studies?: readonly StudySpendRow[];
}

/** Every finding the auditor can raise; each tamper case has its own (docs/auditor-guide.md). */
export const FINDING_CODES = [
  'DEPLOYMENT_MISMATCH',
  /** A c_α lane is not `cAlpha(δ)` for the contract's δ (red team F10): every ε it reports is off. */
  'C_ALPHA_MISMATCH',
  /** The code at the address is not the compiled contract up to its immutables (red team F11). */
  'CODE_MISMATCH',
  /** An immutable breaks a rule the constructor enforces (red team F19): other creation code wrote it. */
  'CONSTRUCTOR_RULE_BROKEN',
  'INITIAL_MODEL_MISMATCH',
  'ROUND_SEQUENCE',
  'COMMITTEE_MISMATCH',
  'COMMITTEE_SEED_MISMATCH',
  'RECORD_HASH_MISMATCH',
  /**
   * A charge whose participants do not hash to its `participantsHash`, a second charge of a round,
   * or a charged round's record naming other participants than the charge (red team F18).
   */
  'CHARGE_MISMATCH',
  'CALLDATA_RECORD_MISMATCH',
  'SIGNATURES_UNAVAILABLE',
  'SIGNATURE_INVALID',
  'SIGNER_NOT_IN_COMMITTEE',
  'SIGNER_DUPLICATE',
  'SIGNATURES_BELOW_THRESHOLD',
  'SIGNERS_EVENT_MISMATCH',
  /** A record line without its member's ParticipantEntry signature in the calldata (red team F11). */
  'ENTRY_SIGNATURE_INVALID',
  'HASH_CHAIN_BROKEN',
  'HEAD_MISMATCH',
  'PRIVACY_PARAMS_INVALID',
  'PRIVACY_SPEND_MISMATCH',
  'PRIVACY_CAP_EXCEEDED',
  'PRIVACY_LEDGER_MISMATCH',
  'CREDITS_MISMATCH',
  'CREDITS_TOTAL_MISMATCH',
  'PARTICIPANT_NOT_ACTIVE',
  'SIGNER_NOT_ACTIVE',
  'ARTIFACT_HASH_MISMATCH',
  'ARTIFACT_MISSING',
  'ARTIFACT_UNAVAILABLE',
  /** Under a server optimizer: the recorded model is not the step of the recorded average (./server-step.ts). */
  'SERVER_STEP_MISMATCH',
  /** Under a server optimizer: an artifact the step needs is missing, so it was not replayed. */
  'SERVER_STEP_UNVERIFIED',
  /** A member's stored peer id proof is missing or does not verify (protocol/chain/peer-binding.ts). */
  'PEER_PROOF_INVALID',
  /** A study of the chain is not FedmeshFederation code (red team F16): its budget answers prove nothing. */
  'STUDY_NOT_FEDERATION',
  /** A study continues a predecessor that is not closed naming it. */
  'STUDY_CHAIN_BROKEN',
  /** The deployment file's earlier studies are not the contracts' chain. */
  'STUDY_CHAIN_MISMATCH',
  /** The study named a successor that does not continue its budgets (they would start from zero there). */
  'STUDY_SUCCESSOR_NOT_CONTINUING',
] as const;

export type FindingCode = (typeof FINDING_CODES)[number];
