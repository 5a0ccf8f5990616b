/**
 * `fedmesh devnet deploy|up|down --dir DIR`: run the federation `fedmesh devnet` created, as
 * separate OS processes on this machine.
 *
 *   up      starts `fedmesh chain start` (a Hardhat JSON-RPC node) in the background, deploys a
 *           FedmeshFederation with the plan's manifest hash, initial model hash and (m, t),
 *           registers and funds the members, writes DIR/deployment.json, then starts one
 *           `fedmesh node start` per node folder. Logs: DIR/logs/<name>.log; PIDs: DIR/pids.json.
 *   deploy  only the deployment, onto a chain that already runs (the plan's RPC URL).
 *   down    SIGTERM to every recorded PID, SIGKILL to those still alive after a grace period.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FetchRequest, getAddress, JsonRpcProvider, Network, type Signer } from 'ethers';
import { cAlpha } from '../../protocol/chain/budget.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import { FedmeshError } from '../../protocol/errors.js';
import { type DeploymentFile, DEPLOY_DEFAULTS, deployFederationFile, readMembersFile } from '../chain/deployment.js';
import type { FederationParams, NewMember } from '../chain/federation-types.js';
import type { DeploymentBinding } from '../../protocol/chain/deployment-binding.js';
import { loadKeystore } from '../keystore/keystore.js';
import { peerProofOf } from '../keystore/peer-proof.js';
import { fundMembers, LOCAL_MEMBER_FUNDING_WEI } from '../chain/funding.js';
import type { DeployPlan } from './devnet.js';

export class DevnetError extends FedmeshError<
  'DEVNET_NOT_CREATED' | 'DEVNET_CHAIN_TIMEOUT' | 'DEVNET_RUNNING',
  { dir: string; reason: string }
> {}

export const PIDS_FILE = 'pids.json';
/** The `fedmesh` entry point, run with this Node binary. */
export const FEDMESH_BIN = resolve(import.meta.dirname, '../../bin/fedmesh.mjs');
/** How long `down` waits after SIGTERM before SIGKILL (ms). */
export const STOP_GRACE_MS = 10_000;

export interface DevnetPids {
  readonly chain?: number;
  readonly nodes: readonly { readonly index: number; readonly pid: number }[];
}

export type DevnetDeployment = DeploymentFile & { readonly manifestHash: Hex32 };

function readPlan(dir: string): DeployPlan {
  const path = join(dir, 'deploy-plan.json');
  if (!existsSync(path)) {
    throw new DevnetError('DEVNET_NOT_CREATED', `${path} not found: run \`fedmesh devnet --dir ${dir}\` first`, { dir, reason: 'no plan' });
  }
  return JSON.parse(readFileSync(path, 'utf8')) as DeployPlan;
}

/** Node folders of the devnet, in index order. */
export function nodeDirs(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^node-\d+$/.test(f))
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
    .map((f) => join(dir, f));
}

/** Spawns `fedmesh <args>` detached, stdout and stderr appended to `logPath`. */
export function spawnFedmesh(args: readonly string[], logPath: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(process.execPath, [FEDMESH_BIN, ...args], { detached: true, stdio: ['ignore', fd, fd], env });
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/** Resolves once `url` answers eth_chainId. */
export async function waitForRpc(url: string, timeoutMs = 120_000, dir = '.'): Promise<bigint> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const req = new FetchRequest(url);
      req.body = { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] };
      req.setHeader('content-type', 'application/json');
      req.timeout = 2_000;
      const res = await req.send();
      const result = (res.bodyJson as { result?: unknown }).result;
      if (res.ok() && typeof result === 'string') return BigInt(result);
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      throw new DevnetError('DEVNET_CHAIN_TIMEOUT', `no JSON-RPC at ${url} within ${timeoutMs} ms`, { dir, reason: 'rpc timeout' });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Starts `fedmesh chain start --port P` for the plan's RPC URL; resolves once it answers. */
export async function startChainProcess(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const plan = readPlan(dir);
  const port = new URL(plan.rpcUrl).port || '8545';
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const child = spawnFedmesh(['chain', 'start', '--port', port], join(dir, 'logs', 'chain.log'));
  await waitForRpc(plan.rpcUrl, 120_000, dir);
  return { child, url: plan.rpcUrl };
}

/**
 * Deploys the plan's federation from the node's first unlocked account (local chains only) and
 * registers the members; writes DIR/deployment.json, with the manifest hash.
 */
export async function deployDevnet(dir: string, rpcUrl?: string): Promise<DevnetDeployment> {
  const plan = readPlan(dir);
  const url = rpcUrl ?? plan.rpcUrl;
  const members = await readMembersFile(join(dir, plan.members));
  const network = Network.from(await waitForRpc(url, 30_000, dir));
  const provider = new JsonRpcProvider(url, network, { staticNetwork: network, cacheTimeout: -1, pollingInterval: 100 });
  try {
    const [first] = (await provider.send('eth_accounts', [])) as string[];
    if (first === undefined)
      throw new DevnetError('DEVNET_NOT_CREATED', `${url} has no unlocked account to deploy from`, { dir, reason: 'no account' });
    const signer = (await provider.getSigner(first)) as Signer;
    const params: FederationParams = {
      initialModelHash: plan.initialModelHash,
      manifestHash: plan.manifestHash,
      committeeSize: plan.committee.size,
      threshold: plan.committee.threshold,
      inputDurationSec: plan.inputDurationSec,
      finalizeDurationSec: plan.finalizeDurationSec,
      cAlpha: cAlpha(DEPLOY_DEFAULTS.delta),
    };
    const deployment: DevnetDeployment = await deployFederationFile(
      signer,
      network.chainId,
      params,
      (binding) => withDevnetProofs(dir, members, binding),
      DEPLOY_DEFAULTS.delta,
    );
    // Members pay gas for opening and finalizing rounds: fund them from the deployer.
    await fundMembers(
      signer,
      members.map((m) => m.account),
      LOCAL_MEMBER_FUNDING_WEI,
    );
    writeFileSync(join(dir, 'deployment.json'), `${JSON.stringify(deployment, null, 2)}\n`);
    return deployment;
  } finally {
    provider.destroy();
  }
}

/**
 * `members` with each one's peer id proof for `binding`, signed with its node folder's keystore
 * (the devnet keeps the passphrases; a real member runs `fedmesh node proof` itself). Members
 * whose key is not in a node folder here keep what they had.
 */
export async function withDevnetProofs(dir: string, members: readonly NewMember[], binding: DeploymentBinding): Promise<NewMember[]> {
  const proofs = new Map<string, string>();
  for (const nodeDir of nodeDirs(dir)) {
    const passphrase = readFileSync(join(nodeDir, 'passphrase'), 'utf8').trim();
    const proof = await peerProofOf(await loadKeystore(join(nodeDir, 'keystore'), passphrase), binding);
    proofs.set(getAddress(proof.address), proof.peerProof);
  }
  return members.map((m) => {
    const peerProof = proofs.get(getAddress(m.account));
    return peerProof !== undefined ? { ...m, peerProof } : m;
  });
}

/** Starts `fedmesh node start --dir DIR/node-<index>`, logging to DIR/logs/node-<index>.log. */
export function startNodeProcess(dir: string, index: number): ChildProcess {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  return spawnFedmesh(['node', 'start', '--dir', join(dir, `node-${index}`)], join(dir, 'logs', `node-${index}.log`));
}

function writePids(dir: string, pids: DevnetPids): void {
  writeFileSync(join(dir, PIDS_FILE), `${JSON.stringify(pids, null, 2)}\n`);
}

export function readPids(dir: string): DevnetPids | undefined {
  const path = join(dir, PIDS_FILE);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as DevnetPids) : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** chain + deployment + every node, in the background. */
export async function devnetUp(dirIn: string): Promise<DevnetPids & { readonly deployment: DevnetDeployment; readonly logs: string }> {
  const dir = resolve(dirIn);
  const running = readPids(dir);
  if (running !== undefined && [running.chain, ...running.nodes.map((n) => n.pid)].some((p) => p !== undefined && isAlive(p))) {
    throw new DevnetError('DEVNET_RUNNING', `${dir} is already up (${PIDS_FILE}); run \`fedmesh devnet down --dir ${dir}\` first`, {
      dir,
      reason: 'running',
    });
  }
  const chain = await startChainProcess(dir);
  const pids: { chain?: number; nodes: { index: number; pid: number }[] } = {
    ...(chain.child.pid !== undefined ? { chain: chain.child.pid } : {}),
    nodes: [],
  };
  writePids(dir, pids);
  const deployment = await deployDevnet(dir);
  for (const [index] of nodeDirs(dir).entries()) {
    const child = startNodeProcess(dir, index);
    if (child.pid !== undefined) pids.nodes.push({ index, pid: child.pid });
    writePids(dir, pids);
  }
  return { ...pids, deployment, logs: join(dir, 'logs') };
}

/** SIGTERM, wait up to `graceMs`, SIGKILL. Returns how many needed the SIGKILL. */
export async function stopPids(pids: readonly number[], graceMs = STOP_GRACE_MS): Promise<{ stopped: number; killed: number }> {
  const alive = pids.filter(isAlive);
  for (const p of alive) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + graceMs;
  while (alive.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  let killed = 0;
  for (const p of alive.filter(isAlive)) {
    try {
      process.kill(p, 'SIGKILL');
      killed++;
    } catch {
      // exited meanwhile
    }
  }
  return { stopped: alive.length, killed };
}

/** Stops the nodes first, then the chain, by their recorded PIDs. */
export async function devnetDown(dirIn: string, graceMs = STOP_GRACE_MS): Promise<{ stopped: number; killed: number }> {
  const dir = resolve(dirIn);
  const pids = readPids(dir);
  if (pids === undefined) return { stopped: 0, killed: 0 };
  const nodes = await stopPids(
    pids.nodes.map((n) => n.pid),
    graceMs,
  );
  const chain = pids.chain !== undefined ? await stopPids([pids.chain], graceMs) : { stopped: 0, killed: 0 };
  rmSync(join(dir, PIDS_FILE), { force: true });
  return { stopped: nodes.stopped + chain.stopped, killed: nodes.killed + chain.killed };
}
