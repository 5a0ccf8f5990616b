/**
 * In-memory twin of FedmeshFederation (STYLE.md §3): the simulator and unit tests run the
 * unchanged node code against it instead of a chain.
 *
 * `InMemoryFederation` holds what contracts/FedmeshFederation.sol holds on chain, packed the same
 * way where it matters (RDP lanes, credits); each `InMemoryFederationClient` acts for one wallet,
 * as each `EthersFederationClient` acts for one signer. The rules, their order and the errors are
 * the contract's: every refusal is built from the contract's custom error name and arguments by
 * the same mapping the ethers client uses (federation-errors.ts), and the shared compliance suite
 * (test/contracts/federation-client.compliance.ts) runs against both.
 *
 * Differences a caller can see, all deliberate: block numbers and transaction hashes are synthetic
 * (one block per transaction); block time is the injected clock, in whole seconds; prevrandao is
 * a hash of the federation address and block number, so a seeded simulation replays exactly.
 */
import { type BaseWallet, getAddress, keccak256, recoverAddress, Signature, solidityPackedKeccak256 } from 'ethers';
import { addPacked, epsilonFromPacked, RDP_MASK } from '../../protocol/chain/budget.js';
import { roundSeed, selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { participationCredit, SERVICE_CREDIT } from '../../protocol/chain/credits.js';
import { NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import {
  compareAddresses,
  federationDomain,
  type Hex32,
  MAX_BUCKET,
  MAX_RECORD_ENTRIES,
  type OnChainRoundRecord,
  ROUND_RECORD_TYPES,
  roundRecordDigest,
  roundRecordStructHash,
  toTypedValue,
} from '../../protocol/chain/record.js';
import { type Clock, systemClock } from '../clock.js';
import { ChainError } from './errors.js';
import { checkAccount, checkEpsilonCap, checkNewMember, checkRecordEncodable, checkSignatures } from './federation-args.js';
import { federationErrorFromRevert, MAX_METADATA_URI_LENGTH, MAX_PEER_ID_LENGTH, ROUND_STATUSES } from './federation-errors.js';
import type {
  AbortedRound,
  FederationChainClient,
  FederationInfo,
  FederationParams,
  FinalizedRound,
  MemberInfo,
  MemberStatus,
  NewMember,
  OpenedRound,
  PrivacyBudget,
  RoundState,
  RoundStatus,
  TxInfo,
} from './federation-types.js';
import { assertRoundArgument, assertTimeoutArgument, ZERO_HASH } from './record.js';

/** `keccak256("FEDERATION_ADMIN_ROLE")`, as the contract's role constant. */
export const FEDERATION_ADMIN_ROLE = keccak256(new TextEncoder().encode('FEDERATION_ADMIN_ROLE'));
/** The contract's `MAX_COMMITTEE_SIZE`. */
export const MAX_COMMITTEE_SIZE = 32;
/** The contract's 24-bit credit counter. */
const CREDITS_MAX = (1n << 24n) - 1n;
/** secp256k1 group order / 2: OpenZeppelin ECDSA refuses a larger `s` (EIP-2 malleability). */
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

const TX_HASH_DOMAIN = 'fedmesh/in-memory-federation/tx/1';
const PREVRANDAO_DOMAIN = 'fedmesh/in-memory-federation/prevrandao/1';

/** The twin's stand-in for the contract address, derived from a label. */
export function inMemoryFederationAddress(label: string): string {
  return getAddress(`0x${keccak256(new TextEncoder().encode(`fedmesh/in-memory-federation/${label}`)).slice(-40)}`);
}

interface MemberState {
  status: MemberStatus;
  /** RDP lanes only (bits 0..223). */
  rdp: bigint;
  credits: bigint;
  epsilonCap: bigint;
  peerId: string;
  metadataURI: string;
}

interface RoundData {
  status: RoundStatus;
  seed: Hex32;
  inputDeadline: number;
  finalizeDeadline: number;
  committee: string[];
  recordHash?: Hex32;
  modelHash?: Hex32;
  finalized?: FinalizedRound;
}

export interface InMemoryFederationInit {
  /** Chain id in the EIP-712 domain. Default 31337 (Hardhat's). */
  readonly chainId?: bigint;
  /** Label the synthetic contract address is derived from. Default 'default'. */
  readonly label?: string;
  /** Block time source (seconds = floor(now / 1000)). Default the system clock. */
  readonly clock?: Clock;
}

/** Builds the ChainError for a contract custom error, through the ethers client's mapping. */
function revert(errorName: string, args: readonly unknown[]): ChainError {
  const e = federationErrorFromRevert(errorName, args);
  // Unreachable unless federation-errors.ts and this file disagree on the error names.
  if (e === undefined) throw new Error(`no ChainError mapping for ${errorName}`);
  return e;
}

const statusIndex = (s: RoundStatus): bigint => BigInt(ROUND_STATUSES.indexOf(s));

export class InMemoryFederation {
  readonly address: string;
  readonly chainId: bigint;
  readonly params: FederationParams;
  readonly #clock: Clock;
  readonly #members = new Map<string, MemberState>();
  readonly #active: string[] = [];
  readonly #admins = new Set<string>();
  readonly #rounds = new Map<number, RoundData>();
  readonly #listeners = new Set<() => void>();
  #currentRound = 0;
  #lastFinalizedRound = 0;
  #totalCredits = 0n;
  /** Block 0 plays the deployment; every transaction takes the next block. */
  #blockNumber = 0;

  /** The constructor's checks, in its order. `admin` gets FEDERATION_ADMIN_ROLE. */
  constructor(admin: string, params: FederationParams, init: InMemoryFederationInit = {}) {
    const adminAddress = checkAccount(admin);
    if (BigInt(adminAddress) === 0n) throw revert('FedmeshRegistryZeroAddress', []);
    const { committeeSize: m, threshold: t } = params;
    if (!(Number.isInteger(m) && Number.isInteger(t) && t >= 1 && t <= m && m <= MAX_COMMITTEE_SIZE)) {
      throw revert('FedmeshRoundsInvalidCommittee', [BigInt(m), BigInt(t)]);
    }
    if (!(params.inputDurationSec > 0 && params.finalizeDurationSec > 0)) {
      throw revert('FedmeshRoundsInvalidDurations', [BigInt(params.inputDurationSec), BigInt(params.finalizeDurationSec)]);
    }
    if (BigInt(params.initialModelHash) === 0n) throw revert('FedmeshRoundsZeroModelHash', []);
    this.params = {
      ...params,
      initialModelHash: params.initialModelHash.toLowerCase() as Hex32,
      manifestHash: (params.manifestHash ?? ZERO_HASH).toLowerCase() as Hex32,
      cAlpha: [...params.cAlpha],
    };
    this.chainId = init.chainId ?? 31337n;
    this.address = inMemoryFederationAddress(init.label ?? 'default');
    this.#clock = init.clock ?? systemClock;
    this.#admins.add(adminAddress);
  }

  /** A client that acts as `wallet` (member, admin or outsider). */
  client(wallet: BaseWallet): InMemoryFederationClient {
    return new InMemoryFederationClient(this, wallet);
  }

  get info(): FederationInfo {
    return { ...this.params, manifestHash: this.manifestHash, address: this.address, chainId: this.chainId };
  }

  /** The manifest hash given at construction, or the zero hash. */
  get manifestHash(): Hex32 {
    return this.params.manifestHash ?? ZERO_HASH;
  }

  get clock(): Clock {
    return this.#clock;
  }

  /** Block time of the next transaction, in seconds. */
  get timestamp(): number {
    return Math.floor(this.#clock.now() / 1000);
  }

  // ───────────── registry ─────────────

  addMember(caller: string, member: NewMember): TxInfo {
    const m = checkNewMember(member);
    this.#onlyAdmin(caller);
    if (BigInt(m.account) === 0n) throw revert('FedmeshRegistryZeroAddress', []);
    if (this.#status(m.account) !== 'none') throw revert('FedmeshRegistryAlreadyMember', [m.account]);
    checkMemberInfo(m.peerId, m.metadataURI);
    const previous = this.#members.get(m.account);
    this.#members.set(m.account, {
      status: 'active',
      rdp: previous?.rdp ?? 0n,
      credits: previous?.credits ?? 0n,
      epsilonCap: m.epsilonCap,
      peerId: m.peerId,
      metadataURI: m.metadataURI,
    });
    this.#active.push(m.account);
    return this.#changed(this.#mined('addMember', m.account));
  }

  suspendMember(caller: string, account: string): TxInfo {
    const a = checkAccount(account);
    this.#onlyAdmin(caller);
    if (this.#status(a) !== 'active') throw revert('FedmeshRegistryNotActive', [a]);
    this.#deactivate(a);
    this.#members.get(a)!.status = 'suspended';
    return this.#changed(this.#mined('suspendMember', a));
  }

  reinstateMember(caller: string, account: string): TxInfo {
    const a = checkAccount(account);
    this.#onlyAdmin(caller);
    if (this.#status(a) !== 'suspended') throw revert('FedmeshRegistryNotSuspended', [a]);
    this.#active.push(a);
    this.#members.get(a)!.status = 'active';
    return this.#changed(this.#mined('reinstateMember', a));
  }

  removeMember(caller: string, account: string): TxInfo {
    const a = checkAccount(account);
    this.#onlyAdmin(caller);
    const status = this.#status(a);
    if (status === 'none') throw revert('FedmeshRegistryNotMember', [a]);
    if (status === 'active') this.#deactivate(a);
    this.#members.get(a)!.status = 'none';
    return this.#changed(this.#mined('removeMember', a));
  }

  lowerEpsilonCap(caller: string, newCap: bigint): TxInfo {
    const cap = checkEpsilonCap(newCap);
    const a = getAddress(caller);
    if (this.#status(a) === 'none') throw revert('FedmeshRegistryNotMember', [a]);
    const member = this.#members.get(a)!;
    if (cap >= member.epsilonCap) throw revert('FedmeshRegistryCapNotLowered', [a, member.epsilonCap, cap]);
    member.epsilonCap = cap;
    return this.#changed(this.#mined('lowerEpsilonCap', a));
  }

  updateMemberInfo(caller: string, peerId: string, metadataURI: string): TxInfo {
    const a = getAddress(caller);
    if (this.#status(a) === 'none') throw revert('FedmeshRegistryNotMember', [a]);
    checkMemberInfo(String(peerId), String(metadataURI));
    const member = this.#members.get(a)!;
    member.peerId = String(peerId);
    member.metadataURI = String(metadataURI);
    return this.#changed(this.#mined('updateMemberInfo', a));
  }

  getMember(account: string): MemberInfo {
    const a = checkAccount(account);
    const m = this.#members.get(a);
    const status = m?.status ?? 'none';
    return {
      account: a,
      status,
      peerId: m?.peerId ?? '',
      metadataURI: m?.metadataURI ?? '',
      epsilonCap: status === 'none' ? 0n : (m?.epsilonCap ?? 0n),
      credits: m?.credits ?? 0n,
    };
  }

  activeMembers(): string[] {
    return [...this.#active];
  }

  // ───────────── rounds ─────────────

  get currentRound(): number {
    return this.#currentRound;
  }

  get lastFinalizedRound(): number {
    return this.#lastFinalizedRound;
  }

  get headModelHash(): Hex32 {
    const last = this.#lastFinalizedRound;
    return last === 0 ? this.params.initialModelHash : this.#rounds.get(last)!.modelHash!;
  }

  openRound(caller: string): OpenedRound {
    const a = getAddress(caller);
    if (this.#status(a) !== 'active') throw revert('FedmeshRegistryNotActive', [a]);
    const current = this.#currentRound;
    if (this.#rounds.get(current)?.status === 'open') throw revert('FedmeshRoundsStillOpen', [BigInt(current)]);
    const m = this.params.committeeSize;
    if (this.#active.length < m) throw revert('FedmeshRoundsTooFewActiveMembers', [BigInt(this.#active.length), BigInt(m)]);
    const round = current + 1;
    const blockNumber = this.#blockNumber + 1;
    const prevrandao = BigInt(solidityPackedKeccak256(['string', 'address', 'uint256'], [PREVRANDAO_DOMAIN, this.address, blockNumber]));
    const prevRecordHash = this.#rounds.get(this.#lastFinalizedRound)?.recordHash ?? ZERO_HASH;
    const seed = roundSeed(prevrandao, prevRecordHash, round);
    const inputDeadline = this.timestamp + this.params.inputDurationSec;
    const data: RoundData = {
      status: 'open',
      seed,
      inputDeadline,
      finalizeDeadline: inputDeadline + this.params.finalizeDurationSec,
      committee: selectCommitteeOnChain(seed, this.#active, m),
    };
    this.#rounds.set(round, data);
    this.#currentRound = round;
    const tx = this.#mined('openRound', a, round);
    return this.#changed({ ...this.getRound(round)!, ...tx });
  }

  getRound(round: number): RoundState | undefined {
    const r = round === 0 ? undefined : this.#rounds.get(round);
    if (r === undefined) return undefined;
    return {
      round,
      status: r.status,
      seed: r.seed,
      committee: [...r.committee],
      inputDeadline: r.inputDeadline,
      finalizeDeadline: r.finalizeDeadline,
      ...(r.status === 'finalized' ? { recordHash: r.recordHash!, modelHash: r.modelHash! } : {}),
    };
  }

  getFinalizedRound(round: number): FinalizedRound | undefined {
    return this.#rounds.get(round)?.finalized;
  }

  /** `finalizeRound`: the contract's checks in the contract's order, then all writes at once. */
  finalizeRound(caller: string, record: OnChainRoundRecord, signatures: readonly string[]): FinalizedRound {
    const r = checkRecordEncodable(record);
    const sigs = checkSignatures(signatures);
    const round = r.round;
    const current = this.#currentRound;
    if (round !== current) throw revert('FedmeshRoundsUnexpectedRound', [BigInt(current), BigInt(round)]);
    const data = this.#rounds.get(round);
    if (data?.status !== 'open') throw revert('FedmeshRoundsNotOpen', [BigInt(round), statusIndex(data?.status ?? 'none')]);
    if (this.timestamp > data.finalizeDeadline) throw revert('FedmeshRoundsDeadlinePassed', [BigInt(round), BigInt(data.finalizeDeadline)]);
    const head = this.headModelHash;
    if (r.prevModelHash !== head) throw revert('FedmeshRoundsPrevModelHashMismatch', [head, r.prevModelHash]);
    if (BigInt(r.modelHash) === 0n) throw revert('FedmeshRoundsZeroModelHash', []);
    checkEntries(r);
    const recordHash = roundRecordStructHash(r);
    const digest = roundRecordDigest(federationDomain(this.chainId, this.address), r);
    const signers = this.#recoverSigners(digest, sigs, data.committee);
    // Compute every new ledger state before writing any, so a refusal changes nothing.
    const updates = new Map<string, { rdp: bigint; credits: bigint }>();
    let minted = 0n;
    for (const p of r.participants) {
      const m = this.#members.get(p.member);
      if (m?.status !== 'active') throw revert('FedmeshRoundsParticipantNotActive', [p.member]);
      const rdp = addPacked(m.rdp, p.spend);
      const epsilon = epsilonFromPacked(rdp, this.params.cAlpha);
      if (epsilon > m.epsilonCap) throw revert('FedmeshLedgerBudgetExceeded', [p.member, epsilon, m.epsilonCap]);
      const credit = participationCredit(p.bucket);
      const credits = m.credits + credit;
      if (credits > CREDITS_MAX) throw revert('FedmeshLedgerCreditsOverflow', [p.member]);
      updates.set(p.member, { rdp, credits });
      minted += credit;
    }
    for (const s of signers) {
      const m = this.#members.get(s);
      const before = updates.get(s) ?? { rdp: m?.rdp ?? 0n, credits: m?.credits ?? 0n };
      const credits = before.credits + SERVICE_CREDIT;
      if (credits > CREDITS_MAX) throw revert('FedmeshLedgerCreditsOverflow', [s]);
      updates.set(s, { rdp: before.rdp, credits });
      minted += SERVICE_CREDIT;
    }
    for (const [account, u] of updates) {
      const m = this.#members.get(account);
      if (m === undefined) {
        // Unreachable in practice: committee members were members when the round opened.
        this.#members.set(account, { status: 'none', rdp: u.rdp, credits: u.credits, epsilonCap: 0n, peerId: '', metadataURI: '' });
      } else {
        m.rdp = u.rdp;
        m.credits = u.credits;
      }
    }
    data.status = 'finalized';
    data.recordHash = recordHash;
    data.modelHash = r.modelHash;
    this.#lastFinalizedRound = round;
    this.#totalCredits += minted;
    const tx = this.#mined('finalizeRound', getAddress(caller), round);
    data.finalized = { round, recordHash, record: r, signers, ...tx };
    return this.#changed(data.finalized);
  }

  abortRound(caller: string): AbortedRound {
    const round = this.#currentRound;
    const data = this.#rounds.get(round);
    if (data?.status !== 'open') throw revert('FedmeshRoundsNotOpen', [BigInt(round), statusIndex(data?.status ?? 'none')]);
    if (this.timestamp <= data.finalizeDeadline)
      throw revert('FedmeshRoundsDeadlineNotPassed', [BigInt(round), BigInt(data.finalizeDeadline)]);
    data.status = 'aborted';
    return this.#changed({ round, ...this.#mined('abortRound', getAddress(caller), round) });
  }

  // ───────────── ledger ─────────────

  budgetOf(account: string): PrivacyBudget {
    const a = checkAccount(account);
    const m = this.#members.get(a);
    const rdp = m?.rdp ?? 0n;
    const epsilonSpent = epsilonFromPacked(rdp, this.params.cAlpha);
    const epsilonCap = m === undefined || m.status === 'none' ? 0n : m.epsilonCap;
    return { rdp, epsilonSpent, epsilonCap, remaining: epsilonSpent >= epsilonCap ? 0n : epsilonCap - epsilonSpent };
  }

  creditsOf(account: string): bigint {
    return this.#members.get(checkAccount(account))?.credits ?? 0n;
  }

  get totalCredits(): bigint {
    return this.#totalCredits;
  }

  /** Calls `listener` after every state change until the returned function is called. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ───────────── internals ─────────────

  #status(account: string): MemberStatus {
    return this.#members.get(account)?.status ?? 'none';
  }

  #onlyAdmin(caller: string): void {
    const a = getAddress(caller);
    if (!this.#admins.has(a)) throw revert('AccessControlUnauthorizedAccount', [a, FEDERATION_ADMIN_ROLE]);
  }

  /** Swap and pop, as FedmeshRegistry does. */
  #deactivate(account: string): void {
    const index = this.#active.indexOf(account);
    const last = this.#active.pop()!;
    if (index < this.#active.length) this.#active[index] = last;
  }

  /** OpenZeppelin ECDSA.tryRecover's acceptance rules, then the committee and duplicate checks. */
  #recoverSigners(digest: Hex32, signatures: readonly string[], committee: readonly string[]): string[] {
    const t = this.params.threshold;
    if (signatures.length < t) throw revert('FedmeshRoundsInsufficientSignatures', [BigInt(signatures.length), BigInt(t)]);
    const used = new Set<string>();
    return signatures.map((sig, i) => {
      const signer = recoverStrict(digest, sig);
      if (signer === undefined) throw revert('FedmeshRoundsInvalidSignature', [BigInt(i)]);
      if (!committee.includes(signer)) throw revert('FedmeshRoundsSignerNotInCommittee', [signer]);
      if (used.has(signer)) throw revert('FedmeshRoundsDuplicateSigner', [signer]);
      used.add(signer);
      return signer;
    });
  }

  #mined(operation: string, from: string, ...detail: (string | number)[]): TxInfo {
    const blockNumber = ++this.#blockNumber;
    const txHash = solidityPackedKeccak256(
      ['string', 'address', 'uint256', 'string', 'address', 'string'],
      [TX_HASH_DOMAIN, this.address, blockNumber, operation, from, detail.join(',')],
    ) as Hex32;
    return { txHash, blockNumber };
  }

  /** Tells the waiters that state changed; call once a transaction's writes are complete. */
  #changed<T>(result: T): T {
    for (const listener of [...this.#listeners]) listener();
    return result;
  }
}

/** The registry's length checks (bytes of UTF-8, as Solidity's `bytes(s).length`). */
function checkMemberInfo(peerId: string, metadataURI: string): void {
  const peerIdLength = new TextEncoder().encode(peerId).length;
  if (peerIdLength === 0 || peerIdLength > MAX_PEER_ID_LENGTH) throw revert('FedmeshRegistryInvalidPeerId', [BigInt(peerIdLength)]);
  const uriLength = new TextEncoder().encode(metadataURI).length;
  if (uriLength > MAX_METADATA_URI_LENGTH) throw revert('FedmeshRegistryInvalidMetadataURI', [BigInt(uriLength)]);
}

/** FedmeshFederation `_checkEntries`, same order. */
function checkEntries(r: OnChainRoundRecord): void {
  const { participants, dropped } = r;
  if (participants.length === 0) throw revert('FedmeshRoundsNoParticipants', []);
  if (participants.length > MAX_RECORD_ENTRIES) {
    throw revert('FedmeshRoundsTooManyParticipants', [BigInt(participants.length), BigInt(MAX_RECORD_ENTRIES)]);
  }
  if (dropped.length > MAX_RECORD_ENTRIES)
    throw revert('FedmeshRoundsTooManyDropped', [BigInt(dropped.length), BigInt(MAX_RECORD_ENTRIES)]);
  participants.forEach((p, i) => {
    if (i > 0 && compareAddresses(p.member, participants[i - 1]!.member) <= 0)
      throw revert('FedmeshRoundsUnsortedParticipants', [BigInt(i)]);
    if (p.bucket > MAX_BUCKET) throw revert('FedmeshRoundsInvalidBucket', [p.member, BigInt(p.bucket)]);
    if (p.spend > RDP_MASK) throw revert('FedmeshRoundsInvalidSpend', [p.member, p.spend]);
    if (p.dpParams === NO_DP_PARAMS && p.spend !== 0n) throw revert('FedmeshRoundsSpendWithoutParams', [p.member, p.spend]);
  });
  const members = new Set(participants.map((p) => p.member));
  dropped.forEach((d, i) => {
    if (i > 0 && compareAddresses(d, dropped[i - 1]!) <= 0) throw revert('FedmeshRoundsUnsortedDropped', [BigInt(i)]);
    if (members.has(d)) throw revert('FedmeshRoundsDroppedParticipant', [d]);
  });
}

/** The signer of a 65-byte (r, s, v) signature under OpenZeppelin's rules, or undefined. */
function recoverStrict(digest: Hex32, sig: string): string | undefined {
  if (sig.length !== 2 + 65 * 2) return undefined;
  const r = BigInt(`0x${sig.slice(2, 66)}`);
  const s = BigInt(`0x${sig.slice(66, 130)}`);
  const v = Number.parseInt(sig.slice(130, 132), 16);
  if (s > SECP256K1_HALF_N || (v !== 27 && v !== 28) || r === 0n || s === 0n) return undefined;
  try {
    return getAddress(recoverAddress(digest, Signature.from({ r: `0x${sig.slice(2, 66)}`, s: `0x${sig.slice(66, 130)}`, v })));
  } catch {
    // ecrecover returns the zero address for r or s out of range or no curve point.
    return undefined;
  }
}

export class InMemoryFederationClient implements FederationChainClient {
  readonly federation: InMemoryFederation;
  readonly wallet: BaseWallet;

  constructor(federation: InMemoryFederation, wallet: BaseWallet) {
    this.federation = federation;
    this.wallet = wallet;
  }

  get #me(): string {
    return this.wallet.address;
  }

  async account(): Promise<string> {
    return this.#me;
  }

  async info(): Promise<FederationInfo> {
    return this.federation.info;
  }

  async addMember(member: NewMember): Promise<TxInfo> {
    return this.federation.addMember(this.#me, member);
  }

  async suspendMember(account: string): Promise<TxInfo> {
    return this.federation.suspendMember(this.#me, account);
  }

  async reinstateMember(account: string): Promise<TxInfo> {
    return this.federation.reinstateMember(this.#me, account);
  }

  async removeMember(account: string): Promise<TxInfo> {
    return this.federation.removeMember(this.#me, account);
  }

  async lowerEpsilonCap(newCap: bigint): Promise<TxInfo> {
    return this.federation.lowerEpsilonCap(this.#me, newCap);
  }

  async updateMemberInfo(peerId: string, metadataURI: string): Promise<TxInfo> {
    return this.federation.updateMemberInfo(this.#me, peerId, metadataURI);
  }

  async getMember(account: string): Promise<MemberInfo> {
    return this.federation.getMember(account);
  }

  async activeMembers(): Promise<string[]> {
    return this.federation.activeMembers();
  }

  async currentRound(): Promise<number> {
    return this.federation.currentRound;
  }

  async lastFinalizedRound(): Promise<number> {
    return this.federation.lastFinalizedRound;
  }

  async headModelHash(): Promise<Hex32> {
    return this.federation.headModelHash;
  }

  async manifestHash(): Promise<Hex32> {
    return this.federation.manifestHash;
  }

  async openRound(): Promise<OpenedRound> {
    return this.federation.openRound(this.#me);
  }

  async getRound(round: number): Promise<RoundState | undefined> {
    assertRoundArgument(round);
    return this.federation.getRound(round);
  }

  async getFinalizedRound(round: number): Promise<FinalizedRound | undefined> {
    assertRoundArgument(round);
    return this.federation.getFinalizedRound(round);
  }

  waitForRoundOpened(round: number, timeoutMs: number): Promise<RoundState> {
    return this.#waitFor(round, timeoutMs, 'opened', () => this.federation.getRound(round));
  }

  waitForRoundFinalized(round: number, timeoutMs: number): Promise<FinalizedRound> {
    return this.#waitFor(round, timeoutMs, 'finalized', () => {
      if (this.federation.getRound(round)?.status === 'aborted') {
        throw new ChainError('CHAIN_ROUND_ABORTED', `round ${round} was aborted`, { round });
      }
      return this.federation.getFinalizedRound(round);
    });
  }

  async signRecord(record: OnChainRoundRecord): Promise<string> {
    const r = checkRecordEncodable(record);
    const domain = federationDomain(this.federation.chainId, this.federation.address);
    return this.wallet.signTypedData(domain, ROUND_RECORD_TYPES, toTypedValue(r));
  }

  async finalizeRound(record: OnChainRoundRecord, signatures: readonly string[]): Promise<FinalizedRound> {
    return this.federation.finalizeRound(this.#me, record, signatures);
  }

  async abortRound(): Promise<AbortedRound> {
    return this.federation.abortRound(this.#me);
  }

  async budgetOf(account: string): Promise<PrivacyBudget> {
    return this.federation.budgetOf(account);
  }

  async creditsOf(account: string): Promise<bigint> {
    return this.federation.creditsOf(account);
  }

  async totalCredits(): Promise<bigint> {
    return this.federation.totalCredits;
  }

  /**
   * Event-driven: checks `read` now and after every state change, until it returns a value,
   * throws (rejecting with that error), or `timeoutMs` passes on the federation's clock.
   */
  #waitFor<T>(round: number, timeoutMs: number, what: string, read: () => T | undefined): Promise<T> {
    try {
      assertRoundArgument(round);
      assertTimeoutArgument(timeoutMs);
      const now = read();
      if (now !== undefined) return Promise.resolve(now);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      const stopTimer = new AbortController();
      const stopListening = this.federation.onChange(() => {
        let value: T | undefined;
        try {
          value = read();
        } catch (e) {
          stopListening();
          stopTimer.abort();
          reject(e);
          return;
        }
        if (value === undefined) return;
        stopListening();
        stopTimer.abort();
        resolve(value);
      });
      this.federation.clock.sleep(timeoutMs, stopTimer.signal).then(
        () => {
          stopListening();
          reject(new ChainError('CHAIN_TIMEOUT', `round ${round} not ${what} within ${timeoutMs} ms`, { round, timeoutMs }));
        },
        // Rejected only by the abort above: the wait already settled.
        () => {},
      );
    });
  }
}
