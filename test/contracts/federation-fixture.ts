/**
 * Shared helpers for the FedmeshFederation tests on the in-process Hardhat network: deploy a
 * fresh federation per test, decode reverts and events against the contract ABI, sign records
 * as committee members, and move block time.
 *
 * Signer roles: index 0 deploys and administers; 1 … 99 are members as a test needs them; 100 …
 * are outsiders. Each test deploys its own contract, so tests never share state.
 */
import {
  type BaseContract,
  Contract,
  ContractFactory,
  type ContractTransactionResponse,
  Interface,
  type Log,
  type LogDescription,
} from 'ethers';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { cAlpha, encodeEpsilonCap } from '../../protocol/chain/budget.js';
import { encodeDpParams } from '../../protocol/chain/dp-params.js';
import { Signature } from 'ethers';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import { ROUND_CHARGE_TYPES, type RoundCharge, toChargeValue } from '../../protocol/chain/charge.js';
import { participantEntry, signParticipantEntry } from '../../protocol/chain/participant-entry.js';
import {
  canonicalRoundRecord,
  federationDomain,
  type Hex32,
  type OnChainRoundRecord,
  ROUND_RECORD_TYPES,
  toTypedValue,
} from '../../protocol/chain/record.js';
import { FEDMESH_FEDERATION_ABI, FEDMESH_REGISTRY_LENS_ABI } from '../../node/chain/federation-abi.js';
import type { InProcessChain, InProcessSigner } from '../../node/chain/hardhat.js';

export const FED_IFACE = new Interface(FEDMESH_FEDERATION_ABI);
export const LENS_IFACE = new Interface(FEDMESH_REGISTRY_LENS_ABI);
export const DELTA = 1e-5;
export const C_ALPHA = cAlpha(DELTA);
export const INITIAL: Hex32 = `0x${'c0'.repeat(32)}`;
export const MANIFEST: Hex32 = `0x${'5e'.repeat(32)}`;
/**
 * A declared DP-SGD parameter word for records whose spend a test chooses by hand: the contract
 * checks only that a non-zero spend comes with non-zero parameters, never that they match.
 */
export const DP_PARAMS = encodeDpParams({ sampleRate: 0.01, noiseMultiplier: 1.1, clipNorm: 1, steps: 100 });
export const CHAIN_ID = 31337n;
export const DELTA_E18 = 10_000_000_000_000n;
/** A 64-byte peer id proof placeholder (the contract stores it; nodes verify it off chain). */
export const PROOF = `0x${'ab'.repeat(64)}`;
export const FIRST_OUTSIDER = 100;

export const hash = (n: number): Hex32 => `0x${n.toString(16).padStart(2, '0').repeat(32)}`;

export interface FedOptions {
  readonly m?: number;
  readonly t?: number;
  readonly inputDuration?: number;
  readonly finalizeDuration?: number;
  /** Signer indices registered as members, in order. Default 1 … 5. */
  readonly members?: readonly number[];
  /** ε cap for every member. Default 10. */
  readonly cap?: number;
  readonly initial?: Hex32;
  /** Manifest hash fixed at deployment. Default MANIFEST. */
  readonly manifest?: Hex32;
  readonly cAlpha?: readonly bigint[];
  readonly seedDelay?: number;
  readonly dpRequired?: boolean;
  readonly adminDelay?: number;
  /** δ in units of 1e-18. Default DELTA. */
  readonly delta?: bigint;
}

export interface Fed {
  readonly contract: Contract;
  /** The federation's read-only registry lens (`registryLens()`): getMember, peerIdOwner, activeMembers(At). */
  readonly lens: Contract;
  readonly address: string;
  readonly blockNumber: number;
  readonly m: number;
  readonly t: number;
}

export function signerOf(chain: InProcessChain, i: number): InProcessSigner {
  const s = chain.signers[i];
  if (s === undefined) throw new Error(`no signer ${i}`);
  return s;
}

/** Deploys from the compiled artifact with signer 0 as admin, then registers the members. */
export async function deployFed(chain: InProcessChain, o: FedOptions = {}): Promise<Fed> {
  const m = o.m ?? 3;
  const t = o.t ?? 2;
  const artifact = await chain.hre.artifacts.readArtifact('FedmeshFederation');
  const factory = new ContractFactory(artifact.abi, artifact.bytecode, signerOf(chain, 0));
  const deployed = await factory.deploy(signerOf(chain, 0).address, {
    initialModelHash: o.initial ?? INITIAL,
    manifestHash: o.manifest ?? MANIFEST,
    committeeSize: m,
    threshold: t,
    inputDuration: o.inputDuration ?? 600,
    finalizeDuration: o.finalizeDuration ?? 600,
    seedDelay: o.seedDelay ?? 0,
    dpRequired: o.dpRequired ?? false,
    adminDelay: o.adminDelay ?? 0,
    delta: o.delta ?? DELTA_E18,
    cAlpha: [...(o.cAlpha ?? C_ALPHA)],
  });
  const receipt = await deployed.deploymentTransaction()?.wait();
  const address = receipt?.contractAddress;
  if (!address || !receipt) throw new Error('no deployment receipt');
  const contract = new Contract(address, FED_IFACE, chain.provider);
  const lens = new Contract((await view<string>(contract, 'registryLens')) as string, LENS_IFACE, chain.provider);
  const cap = encodeEpsilonCap(o.cap ?? 10);
  for (const i of o.members ?? [1, 2, 3, 4, 5]) {
    await send(as(contract, signerOf(chain, 0)), 'addMember', signerOf(chain, i).address, `peer-${i}`, `https://m${i}.example`, cap, PROOF);
  }
  return { contract, lens, address, blockNumber: receipt.blockNumber, m, t };
}

export function as(contract: Contract, signer: InProcessSigner): Contract {
  return contract.connect(signer) as Contract;
}

/** Sends a transaction and waits for it; returns the receipt. */
export async function send(contract: BaseContract, name: string, ...args: unknown[]) {
  const tx = (await contract.getFunction(name).send(...args)) as ContractTransactionResponse;
  const receipt = await tx.wait();
  if (receipt === null) throw new Error(`${name}: no receipt`);
  return receipt;
}

export async function view<T = unknown>(contract: BaseContract, name: string, ...args: unknown[]): Promise<T> {
  return (await contract.getFunction(name).staticCall(...args)) as T;
}

/** The revert of `promise`, decoded against the federation ABI: name and arguments must match. */
export async function expectRevert(promise: Promise<unknown>, name: string, args: readonly unknown[] = []): Promise<void> {
  const e = await promise.then(
    () => expect.unreachable(`expected revert ${name}`),
    (err: unknown) => err as { data?: unknown },
  );
  expect(typeof e.data, `revert data of ${String(e)}`).toBe('string');
  const parsed = FED_IFACE.parseError(e.data as string);
  expect(parsed?.name, `decoded ${String(e)}`).toBe(name);
  expect([...(parsed?.args ?? [])]).toEqual(args);
}

/** The logs of a receipt emitted by `address`, decoded. */
export function eventsOf(receipt: { logs: readonly Log[] }, address: string): LogDescription[] {
  return receipt.logs
    .filter((log) => log.address.toLowerCase() === address.toLowerCase())
    .map((log) => {
      const parsed = FED_IFACE.parseLog(log);
      if (parsed === null) throw new Error(`undecodable log ${log.topics[0]}`);
      return parsed;
    });
}

/** Only the named events, as [name, ...args] with structs converted to plain values. */
export function eventTuples(receipt: { logs: readonly Log[] }, address: string, names?: readonly string[]): unknown[][] {
  return eventsOf(receipt, address)
    .filter((e) => names === undefined || names.includes(e.name))
    .map((e) => [e.name, ...plain([...e.args])]);
}

/** ethers Results (arrays with names) to plain arrays, recursively. */
export function plain(v: unknown): unknown[] {
  return (v as unknown[]).map((x) => (Array.isArray(x) ? plain(x) : x));
}

/** A record as the tuple ethers returns in events: [round, prev, model, agg, mask, [[member, dpParams, spend]…]]. */
export function recordTuple(r: OnChainRoundRecord): unknown[] {
  return [
    BigInt(r.round),
    r.prevModelHash,
    r.modelHash,
    r.aggregateHash,
    r.serviceMask,
    r.participants.map((p) => [p.member, p.dpParams, p.spend]),
  ];
}

/** `signer`'s ParticipantEntry signature for its line of `record`, as the contract takes it ({r, vs}). */
export async function entrySig(
  signer: InProcessSigner,
  address: string,
  round: number,
  dpParams: bigint,
  spend?: bigint,
  chainId: bigint = CHAIN_ID,
): Promise<{ r: string; vs: string }> {
  const entry = { ...participantEntry(round, signer.address, dpParams), ...(spend !== undefined ? { spend } : {}) };
  const sig = Signature.from(await signParticipantEntry(signer, { chainId, contract: address }, entry));
  return { r: sig.r, vs: sig.yParityAndS };
}

/** Entry signatures for every line of `record` (canonical order), by the chain's signers. */
export function entrySigs(chain: InProcessChain, address: string, record: OnChainRoundRecord): Promise<{ r: string; vs: string }[]> {
  return Promise.all(
    record.participants.map((p) => entrySig(signerOf(chain, indexOf(chain, p.member)), address, record.round, p.dpParams, p.spend)),
  );
}

/** A canonical record for `round` with `participants` (signer indices) declaring `dpParams`, full service mask. */
export function recordFor(
  chain: InProcessChain,
  round: number,
  prevModelHash: Hex32,
  participants: readonly number[],
  o: { dpParams?: bigint; m?: number; modelHash?: Hex32; serviceMask?: bigint } = {},
): OnChainRoundRecord {
  const dp = o.dpParams ?? DP_PARAMS;
  return canonicalRoundRecord({
    round,
    prevModelHash,
    modelHash: o.modelHash ?? hash((round % 200) + 16),
    aggregateHash: hash((round % 200) + 17),
    serviceMask: o.serviceMask ?? (1n << BigInt(o.m ?? 3)) - 1n,
    participants: participants.map((i) => ({ member: signerOf(chain, i).address, dpParams: dp, spend: declaredSpend(dp) })),
  });
}

/**
 * Opens the next round as `opener` (signer index): schedules it first when needed, then opens it
 * in a later block. Returns the round number and its committee (signer indices).
 */
export async function openNext(chain: InProcessChain, fed: Fed, opener = 1): Promise<{ round: number; committee: number[] }> {
  const c = as(fed.contract, signerOf(chain, opener));
  const waitForSeed = async () => {
    const [, seedBlock] = (await view<bigint[]>(fed.contract, 'nextRoundSchedule')).map(Number);
    const head = await chain.provider.getBlockNumber();
    if (seedBlock! > 0 && head < seedBlock!) await chain.provider.send('hardhat_mine', [`0x${(seedBlock! - head).toString(16)}`]);
  };
  await waitForSeed();
  let receipt = await send(c, 'openRound');
  let opened = eventsOf(receipt, fed.address).find((e) => e.name === 'RoundOpened');
  if (opened === undefined) {
    await waitForSeed();
    receipt = await send(c, 'openRound');
    opened = eventsOf(receipt, fed.address).find((e) => e.name === 'RoundOpened');
  }
  if (opened === undefined) throw new Error('openRound opened nothing');
  // Committee members that are not chain signers (wallet members of large federations) map to −1.
  const committee = [...(opened.args.committee as string[])].map((a) =>
    chain.signers.findIndex((x) => x.address.toLowerCase() === a.toLowerCase()),
  );
  return { round: Number(opened.args.round), committee };
}

/** Finalizes `record` with entry signatures of its participants and committee signatures of `signers`. */
export async function finalizeWith(chain: InProcessChain, fed: Fed, record: OnChainRoundRecord, signers: readonly number[], from = 0) {
  const sigs = await Promise.all(signers.map((i) => sign(signerOf(chain, i), fed.address, record)));
  return send(
    as(fed.contract, signerOf(chain, from)),
    'finalizeRound',
    toTypedValue(record),
    await entrySigs(chain, fed.address, record),
    sigs,
  );
}

/** `signer`'s EIP-712 signature of `record` for the federation at `address` (or another domain). */
export function sign(signer: InProcessSigner, address: string, record: OnChainRoundRecord, chainId: bigint = CHAIN_ID): Promise<string> {
  return signer.signTypedData(federationDomain(chainId, address), ROUND_RECORD_TYPES, toTypedValue(record));
}

/** Sets the next block's timestamp and mines it. */
export async function mineAt(chain: InProcessChain, timestamp: number): Promise<void> {
  await chain.provider.send('evm_setNextBlockTimestamp', [timestamp]);
  await chain.provider.send('evm_mine', []);
}

/** The timestamp the next transaction's block will carry, fixed in advance. */
export async function nextBlockAt(chain: InProcessChain, timestamp: number): Promise<void> {
  await chain.provider.send('evm_setNextBlockTimestamp', [timestamp]);
}

export async function latestTimestamp(chain: InProcessChain): Promise<number> {
  const block = await chain.provider.getBlock('latest');
  if (block === null) throw new Error('no latest block');
  return block.timestamp;
}

/** Signer index of each address among the chain's signers. */
export function indexOf(chain: InProcessChain, address: string): number {
  const i = chain.signers.findIndex((s) => s.address.toLowerCase() === address.toLowerCase());
  if (i < 0) throw new Error(`${address} is not a chain signer`);
  return i;
}

/** A deployment JSON for `fed` (what `fedmesh chain deploy` writes, the fields the auditor reads), in a fresh temp folder; its path. */
export function writeAuditDeployment(fed: Fed, chainId: bigint, o: { m?: number; t?: number } = {}): string {
  const path = join(mkdtempSync(join(tmpdir(), 'fedmesh-audit-deployment-')), 'deployment.json');
  writeFileSync(
    path,
    JSON.stringify({
      version: 1,
      contract: 'FedmeshFederation',
      chainId: chainId.toString(),
      addresses: { FedmeshFederation: fed.address },
      deployBlock: fed.blockNumber,
      initialModelHash: INITIAL,
      delta: DELTA,
      cAlpha: C_ALPHA.map(String),
      m: o.m ?? 3,
      t: o.t ?? 2,
    }),
  );
  return path;
}

/** The charge of `record`'s participants under `lock` (protocol/chain/charge.ts; red team F18). */
export function chargeFor(record: OnChainRoundRecord, lock: Hex32 = hash(0x10)): RoundCharge {
  return { round: record.round, lock, participants: record.participants };
}

/** `signer`'s EIP-712 `RoundCharge` signature for the federation at `address` (or another domain). */
export function signCharge(signer: InProcessSigner, address: string, charge: RoundCharge, chainId: bigint = CHAIN_ID): Promise<string> {
  return signer.signTypedData(federationDomain(chainId, address), ROUND_CHARGE_TYPES, toChargeValue(charge));
}

/** Sends `chargeRound` for `charge` signed by committee `signers` (indices), from signer `from`. */
export async function chargeWith(chain: InProcessChain, fed: Fed, charge: RoundCharge, signers: readonly number[], from = 0) {
  const sigs = await Promise.all(signers.map((i) => signCharge(signerOf(chain, i), fed.address, charge)));
  const asRecord = { round: charge.round, participants: charge.participants } as OnChainRoundRecord;
  return send(
    as(fed.contract, signerOf(chain, from)),
    'chargeRound',
    charge.round,
    charge.lock,
    toChargeValue(charge).participants,
    await entrySigs(chain, fed.address, asRecord),
    sigs,
  );
}
