/**
 * `FederationChainClient` over ethers v6 and a deployed FedmeshFederation.
 *
 * One client acts for one runner: a Signer (transactions, EIP-712 signatures) or a read-only
 * Provider. Every failure reaches the caller as a `ChainError` (errors.ts, federation-errors.ts)
 * except caller bugs such as a fractional round number, which surface as ethers'
 * INVALID_ARGUMENT. Reverts are classified by their decoded custom error; a transaction mined
 * with status 0 (no revert data) is replayed at its block to recover the error, which is how a
 * member that lost the race to open or finalize a round learns why.
 */
import {
  Contract,
  type ContractRunner,
  Interface,
  type Log,
  type LogDescription,
  type Result,
  type Signer,
  type TransactionReceipt,
  type TypedDataDomain,
  isError,
  ZeroAddress,
} from 'ethers';
import { participantsHash, ROUND_CHARGE_TYPES, type RoundCharge, toChargeValue } from '../../protocol/chain/charge.js';
import { PARTICIPANT_ENTRY_TYPES, type ParticipantEntry, participantEntryValue } from '../../protocol/chain/participant-entry.js';
import { federationDomain, type Hex32, type OnChainRoundRecord, ROUND_RECORD_TYPES, toTypedValue } from '../../protocol/chain/record.js';
import { type Clock, systemClock } from '../clock.js';
import { ChainError, classifyChainError } from './errors.js';
import { FEDMESH_FEDERATION_ABI, FEDMESH_REGISTRY_LENS_ABI } from './federation-abi.js';
import {
  checkAccount,
  checkEntrySignatures,
  checkEpsilonCap,
  checkNewMember,
  checkPeerProof,
  checkRecordEncodable,
  checkSignatures,
} from './federation-args.js';
import { federationErrorFromRevert, ROUND_STATUSES } from './federation-errors.js';
import type {
  AbortedRound,
  CarriedBudget,
  ChargedRound,
  FederationChainClient,
  FederationStudyClient,
  FederationInfo,
  FinalizedRound,
  MemberInfo,
  MemberStatus,
  NewMember,
  OpenedRound,
  PrivacyBudget,
  RoundState,
  StudyChainInfo,
  TxInfo,
} from './federation-types.js';
import { assertRoundArgument, assertTimeoutArgument, pollingOptions } from './record.js';

export interface EthersFederationClientInit {
  /** Interval between polls in the `waitFor…` methods. Default DEFAULT_POLL_INTERVAL_MS. */
  readonly pollIntervalMs?: number;
  /**
   * First block to search for RoundFinalized logs, normally the deployment block. Default 0;
   * public RPCs may refuse log queries that wide.
   */
  readonly fromBlock?: number;
  /** Time source for the `waitFor…` deadlines and polling. Default the system clock. */
  readonly clock?: Clock;
  /** How long `openRound` waits for a scheduled round's seed block to pass (ms). Default 60 s. */
  readonly seedWaitMs?: number;
}

const DEFAULT_SEED_WAIT_MS = 60_000;

export const FEDMESH_FEDERATION_INTERFACE = new Interface(FEDMESH_FEDERATION_ABI);
export const FEDMESH_REGISTRY_LENS_INTERFACE = new Interface(FEDMESH_REGISTRY_LENS_ABI);

/**
 * The registry lens of the federation at `address` as `runner` sees it: the contract its
 * `registryLens()` names, or the federation itself when it has no such function (a deployment
 * from before the lens, whose own views have the lens's signatures). Only a call that reverted
 * without data (the function does not exist) falls back; any other failure is thrown.
 */
export async function registryLensOf(runner: ContractRunner, address: string, blockTag?: number): Promise<Contract> {
  const federation = new Contract(address, FEDMESH_FEDERATION_INTERFACE, runner);
  let lens: string;
  try {
    lens = (await federation.getFunction('registryLens').staticCall(blockTag === undefined ? {} : { blockTag })) as string;
  } catch (e) {
    const data = (e as { data?: unknown }).data;
    if (!(isError(e, 'CALL_EXCEPTION') && (data === '0x' || data === null || data === undefined)) && !isError(e, 'BAD_DATA')) throw e;
    lens = address;
  }
  return new Contract(lens, FEDMESH_REGISTRY_LENS_INTERFACE, runner);
}

const MEMBER_STATUSES: readonly MemberStatus[] = ['none', 'active', 'suspended'];

export class EthersFederationClient implements FederationChainClient, FederationStudyClient {
  readonly address: string;
  readonly #runner: ContractRunner;
  readonly #contract: Contract;
  /**
   * The contract as its views are read: through the runner's provider when it has one. No view
   * reads msg.sender, so a view's answer does not depend on the caller, and a read without `from`
   * is the same request whichever member sends it: an RPC cache, or the simulator's shared chain
   * (simulations/chain-reads.ts), answers the members' identical reads once (issue #13: 64 peers
   * each reading 64 registrations at a round's start).
   */
  readonly #reader: Contract;
  readonly #pollIntervalMs: number;
  readonly #fromBlock: number;
  readonly #clock: Clock;
  readonly #seedWaitMs: number;
  #info: Promise<FederationInfo> | undefined;
  #lens: Promise<Contract> | undefined;

  constructor(runner: ContractRunner, address: string, init: EthersFederationClientInit = {}) {
    const { pollIntervalMs, fromBlock } = pollingOptions(init);
    this.address = address;
    this.#runner = runner;
    this.#contract = new Contract(address, FEDMESH_FEDERATION_INTERFACE, runner);
    this.#reader = runner.provider != null ? new Contract(address, FEDMESH_FEDERATION_INTERFACE, runner.provider) : this.#contract;
    this.#pollIntervalMs = pollIntervalMs;
    this.#fromBlock = fromBlock;
    this.#clock = init.clock ?? systemClock;
    this.#seedWaitMs = init.seedWaitMs ?? DEFAULT_SEED_WAIT_MS;
  }

  async account(): Promise<string> {
    return this.#signer().getAddress();
  }

  /** Read once and cached: every parameter is immutable on chain. */
  info(): Promise<FederationInfo> {
    this.#info ??= this.#readInfo();
    this.#info.catch(() => {
      this.#info = undefined;
    });
    return this.#info;
  }

  // ───────────── registry ─────────────

  async addMember(member: NewMember): Promise<TxInfo> {
    const m = checkNewMember(member);
    return this.#send('addMember', [m.account, m.peerId, m.metadataURI, m.epsilonCap, m.peerProof]);
  }

  async suspendMember(account: string): Promise<TxInfo> {
    return this.#send('suspendMember', [checkAccount(account)]);
  }

  async reinstateMember(account: string): Promise<TxInfo> {
    return this.#send('reinstateMember', [checkAccount(account)]);
  }

  async removeMember(account: string): Promise<TxInfo> {
    return this.#send('removeMember', [checkAccount(account)]);
  }

  async lowerEpsilonCap(newCap: bigint): Promise<TxInfo> {
    return this.#send('lowerEpsilonCap', [checkEpsilonCap(newCap)]);
  }

  async setPeerId(account: string, peerId: string, peerProof: string): Promise<TxInfo> {
    return this.#send('setPeerId', [checkAccount(account), String(peerId), checkPeerProof(peerProof)]);
  }

  async updateMetadataURI(metadataURI: string): Promise<TxInfo> {
    return this.#send('updateMetadataURI', [String(metadataURI)]);
  }

  async activeMembersAt(blockNumber: number): Promise<string[]> {
    return [...((await this.#lensCall('activeMembersAt', blockNumber)) as string[])];
  }

  async memberInfoVersion(): Promise<bigint> {
    return (await this.#call('memberInfoVersion')) as bigint;
  }

  async getMember(account: string): Promise<MemberInfo> {
    const a = checkAccount(account);
    const m = (await this.#lensCall('getMember', a)) as Result;
    return {
      account: a,
      status: MEMBER_STATUSES[Number(m.status)] ?? 'none',
      peerId: m.peerId as string,
      metadataURI: m.metadataURI as string,
      epsilonCap: BigInt(m.epsilonCap as bigint),
      credits: m.credits as bigint,
      peerProof: m.peerProof as string,
    };
  }

  async activeMembers(): Promise<string[]> {
    return [...((await this.#lensCall('activeMembers')) as string[])];
  }

  /** The account bound to `peerId` (the zero address when none), read through the lens. */
  async peerIdOwner(peerId: string): Promise<string> {
    return (await this.#lensCall('peerIdOwner', String(peerId))) as string;
  }

  /**
   * Address of the read-only registry lens the federation deployed (`registryLens()`): the
   * registry views live there (docs/contracts.md, "Registry lens"). Read once and cached.
   */
  async registryLens(): Promise<string> {
    return (await this.#lensContract()).target as string;
  }

  // ───────────── rounds ─────────────

  async currentRound(): Promise<number> {
    return Number(await this.#call('currentRound'));
  }

  async lastFinalizedRound(): Promise<number> {
    return Number(await this.#call('lastFinalizedRound'));
  }

  async headModelHash(): Promise<Hex32> {
    return (await this.#call('headModelHash')) as Hex32;
  }

  async manifestHash(): Promise<Hex32> {
    return (await this.info()).manifestHash;
  }

  async openRound(): Promise<OpenedRound> {
    let receipt = await this.#sendForReceipt('openRound', []);
    if (this.#maybeEvent(receipt, 'RoundOpened') === undefined) {
      // Scheduled instead (round 1, or an expired seed block): open once the seed block passed.
      const scheduled = this.#event(receipt, 'RoundScheduled');
      await this.#waitForBlockAfter(Number(scheduled.args.seedBlock));
      receipt = await this.#sendForReceipt('openRound', []);
    }
    const opened = this.#event(receipt, 'RoundOpened');
    const round = Number(opened.args.round);
    const state = await this.getRound(round);
    return {
      round,
      status: 'open',
      seed: opened.args.seed as Hex32,
      committee: [...(opened.args.committee as string[])],
      inputDeadline: Number(opened.args.inputDeadline),
      finalizeDeadline: Number(opened.args.finalizeDeadline),
      snapshotBlock: state?.snapshotBlock ?? 0,
      seedBlock: state?.seedBlock ?? 0,
      txHash: receipt.hash as Hex32,
      blockNumber: receipt.blockNumber,
    };
  }

  async getRound(round: number, atBlock?: number): Promise<RoundState | undefined> {
    assertRoundArgument(round);
    const r = (await (atBlock === undefined
      ? this.#call('getRound', round)
      : this.#call('getRound', round, { blockTag: atBlock }))) as Result;
    const status = ROUND_STATUSES[Number(r.status)] ?? 'none';
    if (status === 'none') return undefined;
    return {
      round,
      status,
      seed: r.seed as Hex32,
      committee: [...(r.committee as string[])],
      inputDeadline: Number(r.inputDeadline),
      finalizeDeadline: Number(r.finalizeDeadline),
      snapshotBlock: Number(r.snapshotBlock),
      seedBlock: Number(r.seedBlock),
      ...(status === 'finalized' ? { recordHash: r.recordHash as Hex32, modelHash: r.modelHash as Hex32 } : {}),
      ...(BigInt(r.chargedHash as string) !== 0n ? { chargedHash: (r.chargedHash as string).toLowerCase() as Hex32 } : {}),
    };
  }

  async getFinalizedRound(round: number): Promise<FinalizedRound | undefined> {
    assertRoundArgument(round);
    const state = await this.getRound(round);
    if (state?.status !== 'finalized') return undefined;
    let logs: Log[];
    try {
      const filter = this.#contract.getEvent('RoundFinalized')(round);
      logs = await this.#contract.queryFilter(filter, this.#fromBlock);
    } catch (e) {
      throw classifyChainError(e, FEDMESH_FEDERATION_INTERFACE, 'getFinalizedRound', federationErrorFromRevert);
    }
    const log = logs[0];
    if (log === undefined) {
      // The round is finalized, so its log exists unless fromBlock is past the deployment.
      throw new Error(`getFinalizedRound: no RoundFinalized log for round ${round} from block ${this.#fromBlock}`);
    }
    const parsed = FEDMESH_FEDERATION_INTERFACE.parseLog(log);
    if (parsed === null) throw new Error(`getFinalizedRound: undecodable log in ${log.transactionHash}`);
    return finalizedFromEvent(parsed, log.transactionHash as Hex32, log.blockNumber);
  }

  waitForRoundOpened(round: number, timeoutMs: number): Promise<RoundState> {
    return this.#poll(round, timeoutMs, 'opened', async () => this.getRound(round));
  }

  waitForRoundFinalized(round: number, timeoutMs: number): Promise<FinalizedRound> {
    return this.#poll(round, timeoutMs, 'finalized', async () => {
      const state = await this.getRound(round);
      if (state?.status === 'aborted') {
        throw new ChainError('CHAIN_ROUND_ABORTED', `round ${round} was aborted`, { round });
      }
      return state?.status === 'finalized' ? this.getFinalizedRound(round) : undefined;
    });
  }

  async signRecord(record: OnChainRoundRecord): Promise<string> {
    const r = checkRecordEncodable(record);
    const signer = this.#signer();
    return signer.signTypedData(await this.#domain(), ROUND_RECORD_TYPES, toTypedValue(r));
  }

  async signParticipantEntry(entry: ParticipantEntry): Promise<string> {
    return this.#signer().signTypedData(await this.#domain(), PARTICIPANT_ENTRY_TYPES, participantEntryValue(entry));
  }

  async finalizeRound(
    record: OnChainRoundRecord,
    entrySignatures: readonly string[],
    signatures: readonly string[],
  ): Promise<FinalizedRound> {
    const r = checkRecordEncodable(record);
    // No entry signatures: a round charged before its reveals (F18), whose lines were checked then.
    const entries = entrySignatures.length === 0 ? [] : checkEntrySignatures(entrySignatures, r.participants.length);
    const sigs = checkSignatures(signatures);
    const receipt = await this.#sendForReceipt('finalizeRound', [toTypedValue(r), entries, sigs]);
    return finalizedFromEvent(this.#event(receipt, 'RoundFinalized'), receipt.hash as Hex32, receipt.blockNumber);
  }

  async signRoundCharge(charge: RoundCharge): Promise<string> {
    const c = this.#checkCharge(charge);
    return this.#signer().signTypedData(await this.#domain(), ROUND_CHARGE_TYPES, toChargeValue(c));
  }

  async chargeRound(charge: RoundCharge, entrySignatures: readonly string[], signatures: readonly string[]): Promise<ChargedRound> {
    const c = this.#checkCharge(charge);
    const entries = checkEntrySignatures(entrySignatures, c.participants.length);
    const sigs = checkSignatures(signatures);
    let receipt: TransactionReceipt;
    try {
      receipt = await this.#sendForReceipt('chargeRound', [c.round, c.lock, toChargeValue(c).participants, entries, sigs]);
    } catch (e) {
      // A racing submitter landed first: the landed charge is ours if it names the same participants.
      if (!(e instanceof ChainError && e.code === 'CHAIN_ALREADY_CHARGED')) throw e;
      const landed = await this.getChargedRound(c.round);
      if (landed === undefined) throw e;
      const ours = participantsHash(c.participants);
      if (landed.participantsHash !== ours) {
        throw new ChainError('CHAIN_CHARGE_MISMATCH', `round ${c.round} was charged for ${landed.participantsHash}, not ${ours}`, {
          round: c.round,
          charged: landed.participantsHash,
          got: ours,
        });
      }
      return landed;
    }
    return chargedFromEvent(this.#event(receipt, 'RoundCharged'), receipt.hash as Hex32, receipt.blockNumber);
  }

  async getChargedRound(round: number): Promise<ChargedRound | undefined> {
    assertRoundArgument(round);
    const state = await this.getRound(round);
    if (state?.chargedHash === undefined) return undefined;
    let logs: Log[];
    try {
      logs = await this.#contract.queryFilter(this.#contract.getEvent('RoundCharged')(round), this.#fromBlock);
    } catch (e) {
      throw classifyChainError(e, FEDMESH_FEDERATION_INTERFACE, 'getChargedRound', federationErrorFromRevert);
    }
    const log = logs[0];
    if (log === undefined) throw new Error(`getChargedRound: no RoundCharged log for round ${round} from block ${this.#fromBlock}`);
    const parsed = FEDMESH_FEDERATION_INTERFACE.parseLog(log);
    if (parsed === null) throw new Error(`getChargedRound: undecodable log in ${log.transactionHash}`);
    return chargedFromEvent(parsed, log.transactionHash as Hex32, log.blockNumber);
  }

  /**
   * `charge` as the contract's ABI encodes it (order kept: the contract judges the order), or
   * CHAIN_INVALID_RECORD naming the field that cannot be encoded; the same checks as a record's.
   */
  #checkCharge(charge: RoundCharge): RoundCharge {
    const r = checkRecordEncodable({
      ...charge,
      prevModelHash: charge.lock,
      modelHash: charge.lock,
      aggregateHash: charge.lock,
      serviceMask: 0n,
    });
    return { round: r.round, lock: r.prevModelHash, participants: r.participants };
  }

  async abortRound(): Promise<AbortedRound> {
    const receipt = await this.#sendForReceipt('abortRound', []);
    const aborted = this.#event(receipt, 'RoundAborted');
    return { round: Number(aborted.args.round), txHash: receipt.hash as Hex32, blockNumber: receipt.blockNumber };
  }

  // ───────────── ledger ─────────────

  async budgetOf(account: string): Promise<PrivacyBudget> {
    const b = (await this.#call('privacyBudgetOf', checkAccount(account))) as Result;
    return {
      rdp: b.rdp as bigint,
      epsilonSpent: b.epsilonSpent as bigint,
      epsilonCap: b.epsilonCap as bigint,
      remaining: b.remaining as bigint,
    };
  }

  async epsilonCapAt(account: string, round: number): Promise<bigint> {
    assertRoundArgument(round);
    return (await this.#call('epsilonCapAt', checkAccount(account), round)) as bigint;
  }

  async budgetAfter(account: string, round: number, spend: bigint): Promise<{ epsilonAfter: bigint; cap: bigint; fits: boolean }> {
    assertRoundArgument(round);
    const b = (await this.#call('budgetAfter', checkAccount(account), round, spend)) as Result;
    return { epsilonAfter: b.epsilonAfter as bigint, cap: b.cap as bigint, fits: b.fits as boolean };
  }

  async creditsOf(account: string): Promise<bigint> {
    return (await this.#call('creditsOf', checkAccount(account))) as bigint;
  }

  async totalCredits(): Promise<bigint> {
    return (await this.#call('totalCredits')) as bigint;
  }

  // ───────────── studies ─────────────

  async closeStudy(successor?: string): Promise<TxInfo> {
    return this.#send('closeStudy', [successor === undefined ? ZeroAddress : checkAccount(successor)]);
  }

  async inheritBudgetFrom(predecessor: string): Promise<TxInfo> {
    return this.#send('inheritBudgetFrom', [checkAccount(predecessor)]);
  }

  async studyChain(): Promise<StudyChainInfo> {
    const r = (await this.#call('studyChain')) as Result;
    const link = (a: unknown) => (a === ZeroAddress ? undefined : (a as string));
    const predecessor = link(r.predecessor);
    const successor = link(r.successor);
    return {
      ...(predecessor !== undefined ? { predecessor } : {}),
      ...(successor !== undefined ? { successor } : {}),
      closed: r.closed as boolean,
    };
  }

  async carriedBudgetOf(account: string): Promise<CarriedBudget> {
    const r = (await this.#call('carriedBudgetOf', checkAccount(account))) as Result;
    return { rdp: r.rdp as bigint, cap: r.cap as bigint, known: r.known as boolean };
  }

  // ───────────── internals ─────────────

  #signer(): Signer {
    const runner = this.#runner as Partial<Signer>;
    if (typeof runner.signTypedData !== 'function' || typeof runner.getAddress !== 'function') {
      throw new TypeError('EthersFederationClient: this operation needs a Signer runner, not a read-only provider');
    }
    return runner as Signer;
  }

  async #readInfo(): Promise<FederationInfo> {
    const provider = this.#runner.provider;
    if (!provider) throw new TypeError('EthersFederationClient: the runner has no provider');
    const [
      network,
      initialModelHash,
      manifestHash,
      committeeSize,
      threshold,
      inputDuration,
      finalizeDuration,
      cAlpha,
      seedDelay,
      dpRequired,
      delta,
    ] = await Promise.all([
      provider.getNetwork().catch((e: unknown) => {
        throw classifyChainError(e, FEDMESH_FEDERATION_INTERFACE, 'getNetwork', federationErrorFromRevert);
      }),
      this.#call('initialModelHash'),
      this.#call('manifestHash'),
      this.#call('committeeSize'),
      this.#call('threshold'),
      this.#call('inputDuration'),
      this.#call('finalizeDuration'),
      this.#call('cAlpha'),
      this.#call('seedDelay'),
      this.#call('dpRequired'),
      this.#call('delta'),
    ]);
    return {
      address: this.address,
      chainId: network.chainId,
      initialModelHash: initialModelHash as Hex32,
      manifestHash: manifestHash as Hex32,
      committeeSize: Number(committeeSize),
      threshold: Number(threshold),
      inputDurationSec: Number(inputDuration),
      finalizeDurationSec: Number(finalizeDuration),
      cAlpha: [...(cAlpha as bigint[])].map((c) => BigInt(c)),
      seedDelayBlocks: Number(seedDelay),
      dpRequired: dpRequired as boolean,
      deltaE18: delta as bigint,
      delta: Number(delta as bigint) / 1e18,
    };
  }

  async #domain(): Promise<TypedDataDomain> {
    const { chainId } = await this.info();
    return federationDomain(chainId, this.address);
  }

  #lensContract(): Promise<Contract> {
    this.#lens ??= registryLensOf(this.#runner.provider ?? this.#runner, this.address).catch((e: unknown) => {
      this.#lens = undefined;
      throw classifyChainError(e, FEDMESH_FEDERATION_INTERFACE, 'registryLens', federationErrorFromRevert);
    });
    return this.#lens;
  }

  /** A view call on the registry lens with its failures classified. */
  async #lensCall(name: string, ...args: unknown[]): Promise<unknown> {
    const lens = await this.#lensContract();
    try {
      return await lens.getFunction(name).staticCall(...args);
    } catch (e) {
      throw classifyChainError(e, FEDMESH_REGISTRY_LENS_INTERFACE, name, federationErrorFromRevert);
    }
  }

  /** A view call with its failures classified. */
  async #call(name: string, ...args: unknown[]): Promise<unknown> {
    try {
      return await this.#reader.getFunction(name).staticCall(...args);
    } catch (e) {
      throw classifyChainError(e, FEDMESH_FEDERATION_INTERFACE, name, federationErrorFromRevert);
    }
  }

  async #send(name: string, args: readonly unknown[]): Promise<TxInfo> {
    const receipt = await this.#sendForReceipt(name, args);
    return { txHash: receipt.hash as Hex32, blockNumber: receipt.blockNumber };
  }

  /** Sends a transaction and waits for it, classifying any failure. */
  async #sendForReceipt(name: string, args: readonly unknown[]): Promise<TransactionReceipt> {
    const method = this.#contract.getFunction(name);
    let receipt: TransactionReceipt | null;
    try {
      // ethers estimates gas first, so most reverts surface here with their revert data.
      const tx = await method.send(...args);
      receipt = await tx.wait();
    } catch (e) {
      throw await this.#classifySendFailure(e, name, args);
    }
    if (receipt === null) throw new Error(`${name}: transaction has no receipt`);
    return receipt;
  }

  /**
   * A receipt with status 0 carries no revert data. That happens when another member's
   * transaction mined first in the same block (two members opening or finalizing one round).
   * Replaying the call against the state that block left recovers the custom error; if the
   * replay succeeds, CHAIN_REVERTED it is.
   */
  async #classifySendFailure(e: unknown, name: string, args: readonly unknown[]): Promise<unknown> {
    const classified = classifyChainError(e, FEDMESH_FEDERATION_INTERFACE, name, federationErrorFromRevert);
    const receipt = (e as { receipt?: TransactionReceipt | null }).receipt;
    if (!(classified instanceof ChainError && classified.code === 'CHAIN_REVERTED') || !receipt) return classified;
    try {
      await this.#contract.getFunction(name).staticCall(...args, { blockTag: receipt.blockNumber, from: receipt.from });
    } catch (replayError) {
      const replayed = classifyChainError(replayError, FEDMESH_FEDERATION_INTERFACE, name, federationErrorFromRevert);
      if (replayed instanceof ChainError && replayed.code !== 'CHAIN_REVERTED') return replayed;
    }
    return new ChainError(
      'CHAIN_REVERTED',
      `${name} transaction ${receipt.hash} reverted`,
      { operation: name, txHash: receipt.hash },
      { cause: e },
    );
  }

  /** The first `name` event this contract emitted in `receipt`. */
  #event(receipt: TransactionReceipt, name: string): LogDescription {
    const found = this.#maybeEvent(receipt, name);
    // A successful call always emits it; its absence means the address is not a federation.
    if (found === undefined) throw new Error(`receipt ${receipt.hash} has no ${name} log from ${this.address}`);
    return found;
  }

  #maybeEvent(receipt: TransactionReceipt, name: string): LogDescription | undefined {
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== this.address.toLowerCase()) continue;
      const parsed = FEDMESH_FEDERATION_INTERFACE.parseLog(log);
      if (parsed?.name === name) return parsed;
    }
    return undefined;
  }

  /** Resolves once the chain's head is past `block`; CHAIN_SEED_NOT_READY after `seedWaitMs`. */
  async #waitForBlockAfter(block: number): Promise<void> {
    const provider = this.#runner.provider;
    if (!provider) throw new TypeError('EthersFederationClient: the runner has no provider');
    const deadline = this.#clock.now() + this.#seedWaitMs;
    for (;;) {
      // The next transaction lands in head + 1 at the earliest.
      const head = await provider.getBlockNumber().catch((e: unknown) => {
        throw classifyChainError(e, FEDMESH_FEDERATION_INTERFACE, 'getBlockNumber', federationErrorFromRevert);
      });
      if (head + 1 > block) return;
      if (this.#clock.now() >= deadline) {
        throw new ChainError('CHAIN_SEED_NOT_READY', `seed block ${block} not reached (head ${head})`, {
          seedBlock: block,
          blockNumber: head,
        });
      }
      await this.#clock.sleep(this.#pollIntervalMs);
    }
  }

  /**
   * Polls `read` every `pollIntervalMs` until it returns a value or the deadline passes. An RPC
   * failure rejects at once: a dead endpoint is not a late round, and the caller decides
   * whether to retry.
   */
  async #poll<T>(round: number, timeoutMs: number, what: string, read: () => Promise<T | undefined>): Promise<T> {
    assertRoundArgument(round);
    assertTimeoutArgument(timeoutMs);
    const deadline = this.#clock.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (value !== undefined) return value;
      const remaining = deadline - this.#clock.now();
      if (remaining <= 0) {
        throw new ChainError('CHAIN_TIMEOUT', `round ${round} not ${what} within ${timeoutMs} ms`, { round, timeoutMs });
      }
      await this.#clock.sleep(Math.min(this.#pollIntervalMs, remaining));
    }
  }
}

/** A ChargedRound from a decoded RoundCharged event. */
function chargedFromEvent(event: LogDescription, txHash: Hex32, blockNumber: number): ChargedRound {
  return {
    round: Number(event.args.round),
    lock: (event.args.lock as string).toLowerCase() as Hex32,
    participantsHash: (event.args.participantsHash as string).toLowerCase() as Hex32,
    participants: [...(event.args.participants as Result[])].map((p) => ({
      member: p.member as string,
      dpParams: p.dpParams as bigint,
      spend: p.spend as bigint,
    })),
    txHash,
    blockNumber,
  };
}

/** A FinalizedRound from a decoded RoundFinalized event. */
function finalizedFromEvent(event: LogDescription, txHash: Hex32, blockNumber: number): FinalizedRound {
  const rec = event.args.record as Result;
  const record: OnChainRoundRecord = {
    round: Number(rec.round),
    prevModelHash: rec.prevModelHash as Hex32,
    modelHash: rec.modelHash as Hex32,
    aggregateHash: rec.aggregateHash as Hex32,
    serviceMask: rec.serviceMask as bigint,
    participants: [...(rec.participants as Result[])].map((p) => ({
      member: p.member as string,
      dpParams: p.dpParams as bigint,
      spend: p.spend as bigint,
    })),
  };
  return {
    round: Number(event.args.round),
    recordHash: event.args.recordHash as Hex32,
    record,
    signers: [...(event.args.signers as string[])],
    credited: [...(event.args.credited as string[])],
    txHash,
    blockNumber,
  };
}
