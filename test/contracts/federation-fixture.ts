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
import { expect } from 'vitest';
import { cAlpha, encodeEpsilonCap } from '../../protocol/chain/budget.js';
import { encodeDpParams } from '../../protocol/chain/dp-params.js';
import { federationDomain, type Hex32, type OnChainRoundRecord, ROUND_RECORD_TYPES, toTypedValue } from '../../protocol/chain/record.js';
import { FEDMESH_FEDERATION_ABI } from '../../node/chain/federation-abi.js';
import type { InProcessChain, InProcessSigner } from '../../node/chain/hardhat.js';

export const FED_IFACE = new Interface(FEDMESH_FEDERATION_ABI);
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
}

export interface Fed {
  readonly contract: Contract;
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
    cAlpha: [...(o.cAlpha ?? C_ALPHA)],
  });
  const receipt = await deployed.deploymentTransaction()?.wait();
  const address = receipt?.contractAddress;
  if (!address || !receipt) throw new Error('no deployment receipt');
  const contract = new Contract(address, FED_IFACE, chain.provider);
  const cap = encodeEpsilonCap(o.cap ?? 10);
  for (const i of o.members ?? [1, 2, 3, 4, 5]) {
    await send(as(contract, signerOf(chain, 0)), 'addMember', signerOf(chain, i).address, `peer-${i}`, `https://m${i}.example`, cap);
  }
  return { contract, address, blockNumber: receipt.blockNumber, m, t };
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

/** A record as the tuple ethers returns in events: [round, prev, model, agg, [[member, bucket, spend, dpParams]…], dropped]. */
export function recordTuple(r: OnChainRoundRecord): unknown[] {
  return [
    BigInt(r.round),
    r.prevModelHash,
    r.modelHash,
    r.aggregateHash,
    r.participants.map((p) => [p.member, BigInt(p.bucket), p.spend, p.dpParams]),
    [...r.dropped],
  ];
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
