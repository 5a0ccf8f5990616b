/**
 * Studies on one budget (issue 17 item 7; contracts/IFedmeshStudy.sol, docs/contracts.md
 * "Studies on one budget"): reading a study's chain of predecessors, closing a study, and what
 * a member carries into a study. Everything is read from the contracts; nothing here decides a
 * budget rule (the contract does, and the auditor replays it).
 */
import { readFileSync } from 'node:fs';
import { type ContractRunner, getAddress, JsonRpcProvider, Network } from 'ethers';
import { epsilonFromPacked, fixedToNumber, rdpFromPacked } from '../../protocol/chain/budget.js';
import { FedmeshError } from '../../protocol/errors.js';
import { deployerSigner } from './deployment.js';
import { classifyChainError } from './errors.js';
import { EthersFederationClient, FEDMESH_FEDERATION_INTERFACE } from './federation-ethers.js';
import { federationErrorFromRevert } from './federation-errors.js';
import type { CarriedBudget, StudyChainInfo, TxInfo } from './federation-types.js';

/**
 * Most studies followed back from one: a chain longer than this is refused rather than walked
 * (each step is a view call; a contract that lies about its predecessor could loop forever).
 */
export const MAX_STUDY_CHAIN = 64;

/** A study's place in the deployment files: where its logs start. */
export interface StudyRef {
  readonly address: string;
  readonly deployBlock: number;
}

export interface StudyLink extends StudyChainInfo {
  readonly address: string;
}

export class StudyError extends FedmeshError<
  'STUDY_DEPLOYMENT_INVALID' | 'STUDY_CHAIN_TOO_LONG',
  { path?: string; reason?: string; address?: string; max?: number }
> {}

/**
 * The study at `address` and its predecessors, oldest first, as each contract's `studyChain()`
 * says. Stops at a study with no predecessor; STUDY_CHAIN_TOO_LONG past MAX_STUDY_CHAIN.
 */
export async function readStudyChain(runner: ContractRunner, address: string): Promise<StudyLink[]> {
  const links: StudyLink[] = [];
  let at: string | undefined = getAddress(address);
  while (at !== undefined) {
    if (links.length >= MAX_STUDY_CHAIN) {
      throw new StudyError('STUDY_CHAIN_TOO_LONG', `more than ${MAX_STUDY_CHAIN} studies before ${address}`, {
        address,
        max: MAX_STUDY_CHAIN,
      });
    }
    const info = await new EthersFederationClient(runner, at).studyChain();
    links.unshift({ address: at, ...info });
    at = info.predecessor;
  }
  return links;
}

/** The earlier studies a deployment file lists (`studies`), oldest first; [] when none. */
export function studiesOfDeploymentFile(path: string): StudyRef[] {
  let j: { studies?: unknown; addresses?: { FedmeshFederation?: unknown }; deployBlock?: unknown };
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as typeof j;
  } catch (e) {
    throw new StudyError('STUDY_DEPLOYMENT_INVALID', `${path}: not readable JSON (${(e as Error).message})`, {
      path,
      reason: 'not readable JSON',
    });
  }
  const bad = (reason: string): never => {
    throw new StudyError('STUDY_DEPLOYMENT_INVALID', `${path}: ${reason}`, { path, reason });
  };
  if (j.studies === undefined) return [];
  if (!Array.isArray(j.studies)) return bad('studies must be a list of {address, deployBlock}');
  return j.studies.map((s: unknown, i) => {
    const r = s as { address?: unknown; deployBlock?: unknown };
    if (typeof r.address !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(r.address)) bad(`studies.${i}.address must be a 20-byte hex address`);
    if (typeof r.deployBlock !== 'number' || !Number.isSafeInteger(r.deployBlock) || r.deployBlock < 0)
      bad(`studies.${i}.deployBlock must be a block number`);
    return { address: getAddress(r.address as string), deployBlock: r.deployBlock as number };
  });
}

export interface CloseStudyOptions {
  readonly rpc: string;
  readonly keyEnv?: string;
  /** Chain id and address of the study to close (node/daemon/setup.ts `loadDeploymentRef`). */
  readonly chainId: bigint;
  readonly address: string;
  /** The study that may continue the budgets; undefined ends the chain. */
  readonly successor?: string;
}

/** `fedmesh study close`: closes the study as its admin; chain failures as ChainError. */
export async function closeStudyAt(o: CloseStudyOptions): Promise<TxInfo> {
  const network = Network.from(o.chainId);
  const provider = new JsonRpcProvider(o.rpc, network, { staticNetwork: network, cacheTimeout: -1, pollingInterval: 250 });
  try {
    const signer = await deployerSigner(provider, o.keyEnv);
    return await new EthersFederationClient(signer, o.address).closeStudy(o.successor);
  } catch (e) {
    throw classifyChainError(e, FEDMESH_FEDERATION_INTERFACE, `study close on ${new URL(o.rpc).host}`, federationErrorFromRevert);
  } finally {
    provider.destroy();
  }
}

/** What a member carries into the study at `address` and the study's δ, read from the chain. */
export async function carriedBudgetAt(
  rpc: string,
  chainId: bigint,
  address: string,
  member: string,
): Promise<{ carried: CarriedBudget; delta: number; cAlpha: readonly bigint[] }> {
  const network = Network.from(chainId);
  const provider = new JsonRpcProvider(rpc, network, { staticNetwork: network });
  try {
    const client = new EthersFederationClient(provider, address);
    const [carried, info] = await Promise.all([client.carriedBudgetOf(member), client.info()]);
    return { carried, delta: Number(info.deltaE18) / 1e18, cAlpha: info.cAlpha };
  } catch (e) {
    throw classifyChainError(e, FEDMESH_FEDERATION_INTERFACE, `carriedBudgetOf on ${new URL(rpc).host}`, federationErrorFromRevert);
  } finally {
    provider.destroy();
  }
}

/** What `fedmesh privacy plan --deployment` starts from: a member's spend so far and its cap, read from the chain. */
export interface MemberPlanInputs {
  /** RDP at ONCHAIN_RDP_ORDERS carried into (and spent in) the study; undefined when no study registered the member. */
  readonly spentRdp?: readonly number[];
  /** The member's latest cap, ε (undefined when unknown). */
  readonly epsilonCap?: number;
  /** ε of the carried RDP as the contract computes it. */
  readonly epsilonSpent: number;
  readonly delta: number;
}

export async function memberPlanInputs(rpc: string, chainId: bigint, address: string, member: string): Promise<MemberPlanInputs> {
  const { carried, delta, cAlpha } = await carriedBudgetAt(rpc, chainId, address, member);
  if (!carried.known) return { epsilonSpent: 0, delta };
  return {
    spentRdp: rdpFromPacked(carried.rdp),
    epsilonCap: fixedToNumber(carried.cap),
    epsilonSpent: fixedToNumber(epsilonFromPacked(carried.rdp, cAlpha)),
    delta,
  };
}
