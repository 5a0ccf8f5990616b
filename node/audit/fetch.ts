/**
 * Event replay from a JSON-RPC endpoint: every log of one FedmeshFederation from its deployment
 * block to a snapshot block, each finalize transaction's calldata (for the committee's and the
 * participants' signatures the contract verified), each opening block's prevrandao (the seed's input), and the contract's
 * views at the same snapshot block. The result is the typed stream protocol/audit checks.
 *
 * Transactions and blocks never change once mined, so they are cached across polls
 * (`FetchCache`); `audit serve` refetches only what is new.
 */
import { Contract, FetchRequest, getAddress, JsonRpcProvider, type Log, Network, type Result } from 'ethers';
import type {
  AuditDeployment,
  AuditEvent,
  AuditParticipant,
  ChargeCall,
  AuditRecord,
  ChainViews,
  EventPosition,
  FinalizeCall,
  MemberView,
} from '../../protocol/audit/types.js';
import { jsonSafe } from '../../protocol/audit/findings.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import { FEDMESH_FEDERATION_INTERFACE, registryLensOf } from '../chain/federation-ethers.js';
import { AuditError, usageError } from './errors.js';

/** Blocks per eth_getLogs request: public endpoints commonly refuse ranges above 10,000. */
export const LOG_RANGE_BLOCKS = 10_000;
/** Loopback nodes are polled fast; remote ones at ethers' default. */
const LOOPBACK_POLL_MS = 100;

export interface FetchCache {
  readonly calls: Map<string, FinalizeCall>;
  readonly prevrandao: Map<number, bigint | undefined>;
}

export function newFetchCache(): FetchCache {
  return { calls: new Map(), prevrandao: new Map() };
}

export interface AuditSource {
  readonly provider: JsonRpcProvider;
  readonly contract: Contract;
  /**
   * The federation's registry lens (`registryLens()`; the federation itself on deployments
   * from before the lens): getMember and activeMembersAt are read there.
   */
  readonly lens: Contract;
  close(): void;
}

function connectionError(operation: string, e: unknown): AuditError<'AUDIT_CONNECTION'> {
  const reason = e instanceof Error ? e.message.split('\n')[0]! : String(e);
  return new AuditError('AUDIT_CONNECTION', `${operation} failed: ${reason}`, { operation, reason }, { cause: e });
}

/** `eth_chainId` by one plain request, so an unreachable endpoint fails at once (ethers would retry forever). */
async function chainIdOf(url: string): Promise<bigint> {
  const request = new FetchRequest(url);
  request.body = { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] };
  request.setHeader('content-type', 'application/json');
  request.timeout = 10_000;
  const response = await request.send();
  response.assertOk();
  const result = (response.bodyJson as { result?: unknown }).result;
  if (typeof result !== 'string') throw new Error('eth_chainId returned no chain id');
  return BigInt(result);
}

/** Connects to `rpc` and checks it serves the deployment's chain and contract. */
export async function openAuditSource(rpc: string, deployment: AuditDeployment): Promise<AuditSource> {
  let url: URL;
  try {
    url = new URL(rpc);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw usageError('--rpc', rpc, 'an http(s) JSON-RPC URL');
  }
  let chainId: bigint;
  try {
    chainId = await chainIdOf(rpc);
  } catch (e) {
    throw connectionError(`eth_chainId at ${url.host}`, e);
  }
  if (chainId !== deployment.chainId) {
    throw usageError('--rpc', rpc, `serves chain ${chainId}, but the deployment is on chain ${deployment.chainId}`);
  }
  const network = Network.from(chainId);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  const provider = new JsonRpcProvider(rpc, network, {
    staticNetwork: network,
    ...(loopback ? { pollingInterval: LOOPBACK_POLL_MS } : {}),
  });
  let code: string;
  try {
    code = await provider.getCode(deployment.address);
  } catch (e) {
    provider.destroy();
    throw connectionError('eth_getCode', e);
  }
  if (code === '0x') {
    provider.destroy();
    throw usageError('--deployment', deployment.address, `no contract at this address on chain ${chainId}`);
  }
  let lens: Contract;
  try {
    lens = await registryLensOf(provider, deployment.address);
  } catch (e) {
    provider.destroy();
    throw connectionError('registryLens', e);
  }
  return {
    provider,
    contract: new Contract(deployment.address, FEDMESH_FEDERATION_INTERFACE, provider),
    lens,
    close: () => provider.destroy(),
  };
}

function recordOf(r: Result): AuditRecord {
  return {
    round: Number(r.round),
    prevModelHash: String(r.prevModelHash).toLowerCase() as Hex32,
    modelHash: String(r.modelHash).toLowerCase() as Hex32,
    aggregateHash: String(r.aggregateHash).toLowerCase() as Hex32,
    serviceMask: BigInt(r.serviceMask),
    participants: [...(r.participants as Result)].map((p: Result) => ({
      member: getAddress(p.member as string),
      dpParams: BigInt(p.dpParams ?? 0n),
      spend: BigInt(p.spend),
    })),
  };
}

/**
 * Candidates decoded from one transaction's calldata at most. A griefer pays calldata gas for
 * every decoy, and a block holds a few MB of calldata, so this bounds the auditor's work (each
 * candidate is decoded, and verified only until one passes) well above what a decoy run costs.
 */
const MAX_EMBEDDED_CALLS = 1024;

/** Equality of decoded arguments: JSON of the findings' bigint-safe form (protocol/audit/findings.ts). */
const canonical = (v: unknown): string => JSON.stringify(jsonSafe(v));

/**
 * Every `name` call to the federation whose ABI encoding appears inside `data` (red team F33):
 * `chargeRound` and `finalizeRound` take any sender, since the signatures authorise them, and the
 * members gossip those signatures in the clear, so anyone may land them through a contract of
 * their own (a forwarder, multisig or relay) whose calldata carries the federation's call as a
 * `bytes` argument. The selector is searched at every byte offset and the call decoded from there
 * (ABI decoding reads by offsets, so what follows it is ignored). Bounded by MAX_EMBEDDED_CALLS.
 */
function embeddedCalls(data: string, name: 'finalizeRound' | 'chargeRound'): Result[] {
  const selector = FEDMESH_FEDERATION_INTERFACE.getFunction(name)!.selector.slice(2).toLowerCase();
  const hex = data.slice(2).toLowerCase();
  const out: Result[] = [];
  for (let i = hex.indexOf(selector); i !== -1 && out.length < MAX_EMBEDDED_CALLS; i = hex.indexOf(selector, i + 1)) {
    if (i % 2 !== 0) continue;
    try {
      out.push(FEDMESH_FEDERATION_INTERFACE.decodeFunctionData(name, `0x${hex.slice(i)}`));
    } catch {
      // Not a call at this offset (the selector's bytes inside other data).
    }
  }
  return out;
}

/**
 * The `name` call of transaction `txHash` whose arguments `matches` accepts: the transaction's own
 * call when it called the federation, else one embedded in its calldata (F33). The signatures it
 * carries are then checked by the audit exactly as a direct call's: a signature verifies against
 * the record's digest and the committee whoever carried it, so one found inside a forwarder's
 * calldata is as good as evidence (and the code check shows the contract enforced its own). When
 * no embedded call matches, the first decodable one is returned (its mismatch is reported), and
 * none at all leaves the signatures unavailable.
 */
async function callOf(
  source: AuditSource,
  txHash: string,
  name: 'finalizeRound' | 'chargeRound',
  matches: (args: Result) => boolean,
): Promise<{ args: Result; via?: string; alternatives?: Result[] } | { unavailable: string }> {
  let tx: Awaited<ReturnType<JsonRpcProvider['getTransaction']>>;
  try {
    tx = await source.provider.getTransaction(txHash);
  } catch (e) {
    throw connectionError(`eth_getTransactionByHash ${txHash}`, e);
  }
  if (tx === null) return { unavailable: 'the node does not return the transaction' };
  if (tx.to !== null && getAddress(tx.to) === getAddress(source.contract.target as string)) {
    const parsed = FEDMESH_FEDERATION_INTERFACE.parseTransaction({ data: tx.data, value: tx.value });
    if (parsed?.name !== name) return { unavailable: `the transaction calls ${parsed?.name ?? 'an unknown function'}` };
    return { args: parsed.args };
  }
  // ethers returns `to` checksummed; null is a contract creation, whose calldata may carry the call too.
  const via = tx.to ?? 'contract creation';
  const found = embeddedCalls(tx.data, name);
  const matching = found.filter(matches);
  const chosen = matching[0] ?? found[0];
  if (chosen === undefined) {
    return {
      unavailable: `the transaction called ${via}, not the federation, and its calldata carries no ${name} call (a relay or multisig)`,
    };
  }
  return { args: chosen, via, ...(matching.length > 1 ? { alternatives: matching.slice(1) } : {}) };
}

async function finalizeCallOf(source: AuditSource, txHash: string, cache: FetchCache, event: AuditRecord): Promise<FinalizeCall> {
  const cached = cache.calls.get(txHash);
  if (cached !== undefined) return cached;
  const found = await callOf(source, txHash, 'finalizeRound', (a) => canonical(recordOf(a[0] as Result)) === canonical(event));
  const call: FinalizeCall =
    'unavailable' in found
      ? { kind: 'unavailable', reason: found.unavailable }
      : {
          kind: 'decoded',
          record: recordOf(found.args[0] as Result),
          // The participants' ParticipantEntry signatures (EIP-2098 compact), checked again by the audit (red team F11).
          ...signaturesOf(found.args, 1),
          ...(found.via !== undefined ? { via: found.via } : {}),
          ...(found.alternatives !== undefined ? { alternatives: found.alternatives.map((a) => signaturesOf(a, 1)) } : {}),
        };
  cache.calls.set(txHash, call);
  return call;
}

/** The arguments of the `chargeRound` transaction `txHash` (F18), or why they cannot be read. */
async function chargeCallOf(
  source: AuditSource,
  txHash: string,
  event: { readonly round: number; readonly lock: Hex32; readonly participants: readonly AuditParticipant[] },
): Promise<ChargeCall> {
  const decode = (a: Result) => ({
    round: Number(a[0]),
    lock: String(a[1]).toLowerCase() as Hex32,
    participants: participantsOf(a[2] as Result),
  });
  const found = await callOf(source, txHash, 'chargeRound', (a) => canonical(decode(a)) === canonical(event));
  if ('unavailable' in found) return { kind: 'unavailable', reason: found.unavailable };
  return {
    kind: 'decoded',
    ...decode(found.args),
    ...signaturesOf(found.args, 3),
    ...(found.via !== undefined ? { via: found.via } : {}),
    ...(found.alternatives !== undefined ? { alternatives: found.alternatives.map((a) => signaturesOf(a, 3)) } : {}),
  };
}

/** A call's entry signatures (argument `at`) and the committee's (argument `at + 1`). */
const signaturesOf = (args: Result, at: number): { entrySignatures: { r: string; vs: string }[]; signatures: string[] } => ({
  entrySignatures: [...(args[at] as Result)].map((e: Result) => ({ r: String(e.r), vs: String(e.vs) })),
  signatures: [...(args[at + 1] as Result)].map(String),
});

function participantsOf(list: Result): AuditParticipant[] {
  return [...list].map((p: Result) => ({ member: getAddress(String(p.member)), dpParams: BigInt(p.dpParams), spend: BigInt(p.spend) }));
}

/** The hash of block `block`, or undefined when the node does not return it. */
async function blockHashOf(source: AuditSource, block: number): Promise<bigint | undefined> {
  try {
    const b = (await source.provider.send('eth_getBlockByNumber', [`0x${block.toString(16)}`, false])) as { hash?: string } | null;
    return typeof b?.hash === 'string' ? BigInt(b.hash) : undefined;
  } catch (e) {
    throw connectionError(`eth_getBlockByNumber ${block}`, e);
  }
}

async function eventOf(source: AuditSource, log: Log, cache: FetchCache): Promise<AuditEvent | undefined> {
  const parsed = FEDMESH_FEDERATION_INTERFACE.parseLog(log);
  if (parsed === null) return undefined;
  const at: EventPosition = { block: log.blockNumber, logIndex: log.index, txHash: log.transactionHash as Hex32 };
  const a = parsed.args;
  switch (parsed.name) {
    case 'MemberAdded':
      return { kind: 'MemberAdded', at, account: getAddress(a.account), peerId: String(a.peerId), epsilonCap: BigInt(a.epsilonCap) };
    case 'MemberSuspended':
    case 'MemberReinstated':
    case 'MemberRemoved':
      return { kind: parsed.name, at, account: getAddress(a.account) };
    case 'EpsilonCapLowered':
      return {
        kind: 'EpsilonCapLowered',
        at,
        account: getAddress(a.account),
        previousCap: BigInt(a.previousCap),
        newCap: BigInt(a.newCap),
        fromRound: Number(a.fromRound),
      };
    case 'RoundOpened': {
      // The seed's input is the hash of the round's seed block; the committee's list is the
      // active list at its snapshot block (IFedmeshRounds.openRound).
      const info = (await source.contract.getFunction('getRound').staticCall(a.round)) as Result;
      const prevrandao = await blockHashOf(source, Number(info.seedBlock));
      const snapshotActive = [...((await source.lens.getFunction('activeMembersAt').staticCall(info.snapshotBlock)) as string[])].map((x) =>
        getAddress(x),
      );
      return {
        kind: 'RoundOpened',
        at,
        round: Number(a.round),
        seed: String(a.seed).toLowerCase() as Hex32,
        committee: [...(a.committee as Result)].map((c) => getAddress(c as string)),
        inputDeadline: Number(a.inputDeadline),
        finalizeDeadline: Number(a.finalizeDeadline),
        ...(prevrandao !== undefined ? { prevrandao } : {}),
        snapshotActive,
      };
    }
    case 'RoundFinalized':
      return {
        kind: 'RoundFinalized',
        at,
        round: Number(a.round),
        recordHash: String(a.recordHash).toLowerCase() as Hex32,
        record: recordOf(a.record as Result),
        signers: [...(a.signers as Result)].map((s) => getAddress(s as string)),
        credited: [...(a.credited as Result)].map((s) => getAddress(s as string)),
        call: await finalizeCallOf(source, log.transactionHash, cache, recordOf(a.record as Result)),
      };
    case 'RoundCharged':
      return {
        kind: 'RoundCharged',
        at,
        round: Number(a.round),
        lock: String(a.lock).toLowerCase() as Hex32,
        participantsHash: String(a.participantsHash).toLowerCase() as Hex32,
        participants: participantsOf(a.participants as Result),
        call: await chargeCallOf(source, log.transactionHash, {
          round: Number(a.round),
          lock: String(a.lock).toLowerCase() as Hex32,
          participants: participantsOf(a.participants as Result),
        }),
      };
    case 'RoundAborted':
      return { kind: 'RoundAborted', at, round: Number(a.round) };
    default:
      return undefined;
  }
}

/** Everything the audit needs, read at one snapshot block. */
export async function fetchAuditStream(
  source: AuditSource,
  deployment: AuditDeployment,
  cache: FetchCache = newFetchCache(),
): Promise<{ events: AuditEvent[]; views: ChainViews }> {
  let block: number;
  try {
    block = await source.provider.getBlockNumber();
  } catch (e) {
    throw connectionError('eth_blockNumber', e);
  }
  const logs: Log[] = [];
  for (let from = deployment.deployBlock; from <= block; from += LOG_RANGE_BLOCKS) {
    const to = Math.min(block, from + LOG_RANGE_BLOCKS - 1);
    try {
      logs.push(...(await source.provider.getLogs({ address: deployment.address, fromBlock: from, toBlock: to })));
    } catch (e) {
      throw connectionError(`eth_getLogs ${from}..${to}`, e);
    }
  }
  logs.sort((x, y) => x.blockNumber - y.blockNumber || x.index - y.index);
  const events: AuditEvent[] = [];
  for (const log of logs) {
    const e = await eventOf(source, log, cache);
    if (e !== undefined) events.push(e);
  }
  const views = await readViews(source, events, block);
  return { events, views };
}

async function readViews(source: AuditSource, events: readonly AuditEvent[], block: number): Promise<ChainViews> {
  const c = source.contract;
  const at = { blockTag: block };
  try {
    const [
      initialModelHash,
      headModelHash,
      committeeSize,
      threshold,
      cAlpha,
      delta,
      totalCredits,
      inputDuration,
      finalizeDuration,
      seedDelay,
    ] = await Promise.all([
      c.initialModelHash!(at),
      c.headModelHash!(at),
      c.committeeSize!(at),
      c.threshold!(at),
      c.cAlpha!(at),
      c.delta!(at),
      c.totalCredits!(at),
      c.inputDuration!(at),
      c.finalizeDuration!(at),
      c.seedDelay!(at),
    ]);
    // Older deployments have no manifestHash(): its absence is not an error.
    const manifestHash = await c.manifestHash!(at).then(
      (h: unknown) => String(h).toLowerCase() as Hex32,
      () => undefined,
    );
    // The runtime code, compared with the compiled contracts by the audit (red team F11).
    const federation = getAddress(c.target as string);
    const lens = getAddress(source.lens.target as string);
    const runtimeCode: Record<string, { address: string; code: string }> = {
      FedmeshFederation: { address: federation, code: await source.provider.getCode(federation, block) },
    };
    if (lens !== federation) runtimeCode.FedmeshRegistryLens = { address: lens, code: await source.provider.getCode(lens, block) };
    const accounts = [...new Set(events.filter((e) => e.kind === 'MemberAdded').map((e) => (e as { account: string }).account))];
    const members = new Map<string, MemberView>();
    for (const account of accounts) {
      const [m, rdp, budget] = await Promise.all([
        source.lens.getMember!(account, at),
        c.rdpOf!(account, at),
        c.privacyBudgetOf!(account, at),
      ]);
      members.set(account, {
        status: Number(m.status),
        epsilonCap: BigInt(m.epsilonCap),
        credits: BigInt(m.credits),
        rdp: BigInt(rdp),
        epsilonSpent: BigInt(budget.epsilonSpent),
        metadataURI: String(m.metadataURI),
        peerId: String(m.peerId),
        peerProof: String(m.peerProof),
      });
    }
    return {
      block,
      initialModelHash: String(initialModelHash).toLowerCase() as Hex32,
      headModelHash: String(headModelHash).toLowerCase() as Hex32,
      committeeSize: Number(committeeSize),
      threshold: Number(threshold),
      cAlpha: [...(cAlpha as Result)].map((x) => BigInt(x)),
      delta: BigInt(delta),
      inputDuration: Number(inputDuration),
      finalizeDuration: Number(finalizeDuration),
      seedDelay: Number(seedDelay),
      runtimeCode,
      ...(manifestHash !== undefined ? { manifestHash } : {}),
      totalCredits: BigInt(totalCredits),
      members,
    };
  } catch (e) {
    throw connectionError('reading the contract views', e);
  }
}
