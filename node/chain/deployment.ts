/**
 * `fedmesh chain deploy`: deploys a FedmeshFederation to any EVM JSON-RPC endpoint, registers
 * the initial members from a file and writes a deployment JSON (docs/contracts.md,
 * "Deployment"). Options are validated at the edge (STYLE.md §11); each error names the field,
 * the value and the rule, and a private key is never echoed.
 *
 * Members file:
 *
 *     { "members": [ { "address": "0x…", "peerId": "12D3KooW…",
 *                      "name": "St. Mary's Hospital", "epsilonCap": 8 } ] }
 *
 * `name` is stored on chain as a `data:application/json` metadata URI the auditor shows; give
 * `metadataURI` instead to store any other URI.
 *
 * `epsilonCap` is ε at the federation's δ (a number; stored rounded down to 1e-6).
 *
 * `peerProof` (optional) is the member's peer id proof for this deployment
 * (protocol/chain/peer-binding.ts); it binds to the contract's address, so it can only be made
 * before deployment for the predicted address, and is checked against it before anything is
 * sent. The usual path: deploy without proofs, then each member runs `fedmesh node proof` and
 * the admin `fedmesh chain set-peer-proof` (docs/operator-guide.md §3); nodes refuse a member
 * until its proof is stored (node/services/round-opener.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { FetchRequest, getAddress, getCreateAddress, isAddress, JsonRpcProvider, Network, type Signer, Wallet } from 'ethers';
import { z } from 'zod';
import { cAlpha, encodeEpsilonCap, ONCHAIN_RDP_ORDERS, RDP_SCALE } from '../../protocol/chain/budget.js';
import type { DeploymentBinding } from '../../protocol/chain/deployment-binding.js';
import { peerBindingRefusal } from '../../protocol/chain/peer-binding.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import { FedmeshError, isFedmeshError } from '../../protocol/errors.js';
import { MAX_MEMBER_NAME, nameMetadataURI } from '../../protocol/audit/member-name.js';
import { readManifestFile } from '../manifest/manifest-file.js';
import { classifyChainError } from './errors.js';
import { deployFederation, registerMembers } from './federation-deploy.js';
import { EthersFederationClient, FEDMESH_FEDERATION_INTERFACE } from './federation-ethers.js';
import { federationErrorFromRevert } from './federation-errors.js';
import { fundMembers, LOCAL_CHAIN_ID, LOCAL_MEMBER_FUNDING_WEI } from './funding.js';
import type { FederationParams, NewMember } from './federation-types.js';
import { ZERO_HASH } from './record.js';

export const DEPLOY_DEFAULTS = {
  /** δ of the federation's (ε, δ) guarantees; 1e-5 is below 1/n for any realistic cohort. */
  delta: 1e-5,
  committeeSize: 3,
  threshold: 2,
  /** Seconds: participants train and publish within 10 minutes of a round opening… */
  inputDurationSec: 600,
  /** …and the committee has 10 more minutes to aggregate and finalize. */
  finalizeDurationSec: 600,
} as const;

/** Receipts are polled this often on loopback nodes; remote ones keep ethers' 4 s default. */
const LOOPBACK_POLL_MS = 100;

export class ChainConfigError extends FedmeshError<'CONFIG_INVALID', { issues: { field: string; value: unknown; rule: string }[] }> {}

function configError(issues: { field: string; value: unknown; rule: string }[]): ChainConfigError {
  return new ChainConfigError('CONFIG_INVALID', issues.map((i) => `${i.field}=${JSON.stringify(i.value)}: ${i.rule}`).join('; '), {
    issues,
  });
}

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, '0x and 64 hex digits');
const address = z.string().refine((a) => isAddress(a), '20-byte hex address');

export const DeployOptionsSchema = z
  .object({
    rpc: z.url({ protocol: /^https?$/, error: 'an http(s) JSON-RPC URL' }),
    keyEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
      .optional(),
    members: z.string().min(1),
    /** Federation manifest (JSON, protocol/manifest.ts); its hash is fixed on chain. */
    manifest: z.string().min(1).optional(),
    out: z.string().min(1),
    initialModelHash: hex32.refine((h) => BigInt(h) !== 0n, 'must not be zero'),
    delta: z.number().gt(0).lt(1),
    committeeSize: z.number().int().min(1).max(32),
    threshold: z.number().int().min(1),
    inputDurationSec: z
      .number()
      .int()
      .min(1)
      .max(2 ** 32 - 1),
    finalizeDurationSec: z
      .number()
      .int()
      .min(1)
      .max(2 ** 32 - 1),
    /**
     * Wei sent from the deployer to each member after registration, for gas (issue 17).
     * Absent: LOCAL_MEMBER_FUNDING_WEI on a local chain (`fedmesh chain start`, chain id 31337),
     * nothing elsewhere; 0 sends nothing.
     */
    fundWei: z.bigint().min(0n).optional(),
    /**
     * Blocks from a round's membership snapshot to its seed block (docs/contracts.md, "Committee
     * selection"). Absent: 0 on a local chain (chain id 31337, which mines only on transactions),
     * 2 elsewhere.
     */
    seedDelayBlocks: z.number().int().min(0).max(64).optional(),
    /** Seconds a handover of DEFAULT_ADMIN_ROLE waits between its two steps. Absent: 0. */
    adminDelaySec: z
      .number()
      .int()
      .min(0)
      .max(2 ** 48 - 1)
      .optional(),
    /**
     * The deployment JSON of the study this one continues (issue 17 item 7): the new study
     * inherits its members' privacy budgets (contracts/IFedmeshStudy.sol). The predecessor is
     * closed naming the new study (unless it already names it), with the same key, before any
     * member is registered.
     */
    continues: z.string().min(1).optional(),
  })
  .strict()
  .refine((o) => o.threshold <= o.committeeSize, { message: 'must not exceed committeeSize', path: ['threshold'] })
  // Two disjoint quorums must not both be able to sign (the contract's constructor rule).
  .refine((o) => 2 * o.threshold > o.committeeSize, { message: 'must be more than half of committeeSize', path: ['threshold'] });

export type DeployOptions = z.infer<typeof DeployOptionsSchema>;

const MembersFileSchema = z
  .object({
    members: z
      .array(
        z
          .object({
            address,
            peerId: z.string().min(1).max(128),
            metadataURI: z.string().max(512).optional(),
            /** The institution's name: stored as a `data:` metadata URI the auditor shows (protocol/audit/member-name.ts). */
            name: z.string().min(1).max(MAX_MEMBER_NAME).optional(),
            epsilonCap: z.number().min(0).max(4294.967295),
            /**
             * The member's libp2p key's Ed25519 proof binding its peer id to its address on this
             * deployment (protocol/chain/peer-binding.ts), 64 bytes as 0x hex. Absent: 64 zero
             * bytes are stored, which no proof check accepts.
             */
            peerProof: z
              .string()
              .regex(/^0x[0-9a-fA-F]{128}$/, '64 bytes as 0x hex (an Ed25519 signature)')
              .optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

/** The value at `path` in `input`, for naming it in an error. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

function issuesOf(error: z.ZodError, input: unknown, prefix = '') {
  return error.issues.map((i) => ({
    field: prefix + (i.path.join('.') || '(options)'),
    value: valueAt(input, i.path),
    rule: i.message,
  }));
}

/** Merges `input` over DEPLOY_DEFAULTS and validates; throws CONFIG_INVALID naming each bad field. */
export function parseDeployOptions(input: Record<string, unknown>): DeployOptions {
  const merged: Record<string, unknown> = { ...DEPLOY_DEFAULTS };
  for (const [k, v] of Object.entries(input)) if (v !== undefined) merged[k] = v;
  const res = DeployOptionsSchema.safeParse(merged);
  if (res.success) return res.data;
  throw configError(issuesOf(res.error, merged));
}

/** Reads and validates a members file; addresses must be distinct. */
export async function readMembersFile(path: string): Promise<NewMember[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw configError([{ field: 'members', value: path, rule: `a readable JSON file (${(e as Error).message})` }]);
  }
  const res = MembersFileSchema.safeParse(json);
  if (!res.success) throw configError(issuesOf(res.error, json, `${path}: `));
  const seen = new Set<string>();
  return res.data.members.map((m, i) => {
    const key = m.address.toLowerCase();
    if (seen.has(key)) throw configError([{ field: `${path}: members.${i}.address`, value: m.address, rule: 'listed twice' }]);
    seen.add(key);
    if (m.name !== undefined && m.metadataURI !== undefined) {
      throw configError([{ field: `${path}: members.${i}.name`, value: m.name, rule: 'give name or metadataURI, not both' }]);
    }
    const metadataURI = m.metadataURI ?? (m.name !== undefined ? nameMetadataURI(m.name) : '');
    return {
      account: m.address,
      peerId: m.peerId,
      metadataURI,
      epsilonCap: encodeEpsilonCap(m.epsilonCap),
      ...(m.peerProof !== undefined ? { peerProof: m.peerProof } : {}),
    };
  });
}

/**
 * The hash of the manifest file at `path` (protocol/manifest.ts `manifestHash` of the validated
 * manifest); CONFIG_INVALID naming `manifest` when it is unreadable or invalid.
 */
export async function readManifestHash(path: string): Promise<Hex32> {
  return (await readManifestPolicy(path)).hash;
}

/**
 * The manifest's hash and the on-chain DP policy it implies: a manifest with `dp` deploys a
 * federation that refuses non-DP participation (`dpRequired`, issue 14 item 5 / finding M-4) at
 * the manifest's δ.
 */
export async function readManifestPolicy(path: string): Promise<{ hash: Hex32; dpRequired: boolean; delta?: number }> {
  try {
    const loaded = readManifestFile(path);
    const dp = loaded.manifest.dp;
    return { hash: loaded.hash, dpRequired: dp !== undefined, ...(dp !== undefined ? { delta: dp.delta } : {}) };
  } catch (e) {
    if (isFedmeshError(e, 'MANIFEST_INVALID')) throw configError([{ field: 'manifest', value: path, rule: e.message }]);
    throw e;
  }
}

/** What `fedmesh chain deploy` writes. Big integers are decimal strings (JSON has no bigint). */
export interface DeploymentFile {
  readonly version: 1;
  readonly contract: 'FedmeshFederation';
  readonly chainId: string;
  readonly addresses: { readonly FedmeshFederation: string };
  readonly deployBlock: number;
  readonly deployTx: Hex32;
  /** The deployer, which holds both admin roles. */
  readonly admin: string;
  readonly initialModelHash: Hex32;
  /** The manifest hash fixed on chain (`manifestHash()`); the zero hash without --manifest. */
  readonly manifestHash: Hex32;
  readonly delta: number;
  /** RDP orders of the budget lanes (protocol/chain/budget.ts ONCHAIN_RDP_ORDERS). */
  readonly orders: readonly number[];
  /** c_α per order, fixed point (units of 1 / rdpScale). */
  readonly cAlpha: readonly string[];
  readonly rdpScale: string;
  readonly m: number;
  readonly t: number;
  readonly inputDurationSec: number;
  readonly finalizeDurationSec: number;
  readonly members: readonly { address: string; peerId: string; metadataURI: string; epsilonCap: string }[];
  /**
   * The earlier studies whose budgets this one continues, oldest first (absent when none): where
   * the auditor finds each one's logs (contracts/IFedmeshStudy.sol; docs/auditor-guide.md).
   */
  readonly studies?: readonly { address: string; deployBlock: number }[];
}

/**
 * The members to register, once the contract's address is known: peer id proofs bind to the
 * deployment (protocol/chain/peer-binding.ts), so whoever holds the members' keys (a devnet) signs
 * them here, after the deployment and before the registration.
 */
export type MembersFor = (binding: DeploymentBinding) => Promise<readonly NewMember[]>;

/**
 * Refuses (CONFIG_INVALID naming `members.<i>.peerProof`) a given proof that is not the member's
 * peer id key binding it to its account on `binding`: registering it would only get the member
 * refused by every node (issue 14 item 2). Members without a proof pass (64 zero bytes are stored).
 */
export function checkMemberProofs(members: readonly NewMember[], binding: DeploymentBinding): void {
  const issues: { field: string; value: unknown; rule: string }[] = [];
  for (const [i, m] of members.entries()) {
    if (m.peerProof === undefined) continue;
    const reason = peerBindingRefusal(m.peerId, binding, m.account, m.peerProof);
    if (reason === undefined || reason === 'missing') continue;
    issues.push({
      field: `members.${i}.peerProof`,
      value: m.peerProof,
      rule: `must be ${m.peerId}'s key signing ${m.account} on chain ${binding.chainId}, contract ${binding.contract} (${reason})`,
    });
  }
  if (issues.length > 0) throw configError(issues);
}

/**
 * Deploys FedmeshFederation with `params` from `signer` (who becomes admin), registers `members`,
 * and describes the deployment as the file `fedmesh chain deploy` and `devnet deploy` write.
 * Proofs given in `members` must verify for the contract's address, which is predicted from the
 * deployer's nonce and checked before anything is sent.
 */
export async function deployFederationFile(
  signer: Signer,
  chainId: bigint,
  params: FederationParams,
  membersIn: readonly NewMember[] | MembersFor,
  delta: number,
  continues?: { readonly studies: readonly { address: string; deployBlock: number }[] },
): Promise<DeploymentFile> {
  if (typeof membersIn !== 'function' && membersIn.some((m) => m.peerProof !== undefined)) {
    const from = await signer.getAddress();
    const predicted = getCreateAddress({ from, nonce: await signer.getNonce('pending') });
    checkMemberProofs(membersIn, { chainId, contract: predicted });
  }
  const deployed = await deployFederation(signer, { ...params, delta: params.delta ?? delta });
  const binding = { chainId, contract: getAddress(deployed.address) };
  const members = typeof membersIn === 'function' ? await membersIn(binding) : membersIn;
  // A deployer transaction between the prediction and the deployment moves the address: check again.
  checkMemberProofs(members, binding);
  const predecessor = continues?.studies.at(-1);
  if (predecessor !== undefined) await continueStudy(signer, predecessor.address, deployed.address);
  await registerMembers(signer, deployed.address, members);
  return {
    version: 1,
    contract: 'FedmeshFederation',
    chainId: chainId.toString(),
    addresses: { FedmeshFederation: deployed.address },
    deployBlock: deployed.blockNumber,
    deployTx: deployed.txHash,
    admin: await signer.getAddress(),
    initialModelHash: params.initialModelHash,
    manifestHash: params.manifestHash ?? ZERO_HASH,
    delta,
    orders: [...ONCHAIN_RDP_ORDERS],
    cAlpha: params.cAlpha.map(String),
    rdpScale: RDP_SCALE.toString(),
    m: params.committeeSize,
    t: params.threshold,
    inputDurationSec: params.inputDurationSec,
    finalizeDurationSec: params.finalizeDurationSec,
    members: members.map((m) => ({
      address: m.account,
      peerId: m.peerId,
      metadataURI: m.metadataURI,
      epsilonCap: m.epsilonCap.toString(),
    })),
    ...(continues !== undefined && continues.studies.length > 0 ? { studies: [...continues.studies] } : {}),
  };
}

/**
 * Makes the new study at `successor` continue `predecessor`'s budgets: closes the predecessor
 * naming it (unless it already does; the signer must hold its FEDERATION_ADMIN_ROLE), then
 * inherits. Before any member is registered, as the contract requires (CHAIN_STUDY_HAS_MEMBERS).
 */
async function continueStudy(signer: Signer, predecessor: string, successor: string): Promise<void> {
  const pred = new EthersFederationClient(signer, predecessor);
  const link = await pred.studyChain();
  if (!link.closed) await pred.closeStudy(successor);
  await new EthersFederationClient(signer, successor).inheritBudgetFrom(predecessor);
}

/** The studies a `--continues` deployment file stands for: its own earlier studies, then itself. */
async function continuedStudies(path: string, chainId: bigint): Promise<{ address: string; deployBlock: number }[]> {
  let j: { chainId?: unknown; addresses?: { FedmeshFederation?: unknown }; deployBlock?: unknown; studies?: unknown };
  try {
    j = JSON.parse(await readFile(path, 'utf8')) as typeof j;
  } catch (e) {
    throw configError([{ field: 'continues', value: path, rule: `a readable deployment JSON (${(e as Error).message})` }]);
  }
  const address = j.addresses?.FedmeshFederation;
  if (typeof address !== 'string' || !isAddress(address) || typeof j.deployBlock !== 'number') {
    throw configError([{ field: 'continues', value: path, rule: 'a deployment JSON written by `fedmesh chain deploy`' }]);
  }
  if (String(j.chainId) !== chainId.toString()) {
    throw configError([{ field: 'continues', value: path, rule: `a deployment on this chain (${chainId}), not ${String(j.chainId)}` }]);
  }
  const earlier = Array.isArray(j.studies) ? (j.studies as { address: string; deployBlock: number }[]) : [];
  return [
    ...earlier.map((s) => ({ address: getAddress(s.address), deployBlock: s.deployBlock })),
    { address: getAddress(address), deployBlock: j.deployBlock },
  ];
}

/** The deployer: the key in `keyEnv`, or the node's first unlocked account (local nodes only). */
export async function deployerSigner(provider: JsonRpcProvider, keyEnv: string | undefined): Promise<Signer> {
  if (keyEnv !== undefined) {
    const key = process.env[keyEnv];
    if (key === undefined || key === '') throw configError([{ field: 'keyEnv', value: keyEnv, rule: 'the variable must be set' }]);
    try {
      return new Wallet(key, provider);
    } catch {
      // Never echo the key itself.
      throw configError([{ field: 'keyEnv', value: keyEnv, rule: 'must hold a 32-byte hex private key' }]);
    }
  }
  const accounts = (await provider.send('eth_accounts', [])) as string[];
  if (accounts.length === 0) {
    throw configError([{ field: 'keyEnv', value: undefined, rule: 'required: the node has no unlocked accounts' }]);
  }
  return provider.getSigner(accounts[0]);
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}

/**
 * Deploys, registers the members in file order, writes the deployment JSON to `options.out`
 * and returns it. Chain failures surface as ChainError (CHAIN_UNAVAILABLE, reverts by code).
 */
export async function deployFederationToRpc(options: DeployOptions): Promise<DeploymentFile> {
  const members = await readMembersFile(options.members);
  const policy = options.manifest === undefined ? { hash: ZERO_HASH, dpRequired: false } : await readManifestPolicy(options.manifest);
  // cacheTimeout -1: ethers otherwise serves an identical request within 250 ms from its cache,
  // and on a node that mines at once that returns a stale nonce for the next transaction.
  let provider: JsonRpcProvider | undefined;
  try {
    // The chain id is asked once, up front: ethers' own network detection would retry an
    // unreachable endpoint forever, logging as it goes, instead of failing.
    const network = Network.from(await chainIdOf(options.rpc));
    provider = new JsonRpcProvider(options.rpc, network, {
      staticNetwork: network,
      cacheTimeout: -1,
      ...(isLoopback(options.rpc) ? { pollingInterval: LOOPBACK_POLL_MS } : {}),
    });
    return await deployAndRegister(provider, options, members, policy);
  } catch (e) {
    // The host names the endpoint without its path, where providers keep API keys.
    throw classifyChainError(e, FEDMESH_FEDERATION_INTERFACE, `deploy to ${new URL(options.rpc).host}`, federationErrorFromRevert);
  } finally {
    provider?.destroy();
  }
}

/** `eth_chainId` of the endpoint, by one plain JSON-RPC request. */
async function chainIdOf(url: string): Promise<bigint> {
  const request = new FetchRequest(url);
  request.body = { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] };
  request.setHeader('content-type', 'application/json');
  const response = await request.send();
  response.assertOk();
  const result = (response.bodyJson as { result?: unknown }).result;
  if (typeof result !== 'string') throw new Error(`eth_chainId at ${new URL(url).host} returned no chain id`);
  return BigInt(result);
}

/** Wei each member receives: `fundWei` when given, else test ether on a local chain only. */
export function fundingOf(options: Pick<DeployOptions, 'fundWei'>, chainId: bigint): bigint {
  return options.fundWei ?? (chainId === LOCAL_CHAIN_ID ? LOCAL_MEMBER_FUNDING_WEI : 0n);
}

async function deployAndRegister(
  provider: JsonRpcProvider,
  options: DeployOptions,
  members: readonly NewMember[],
  policy: { hash: Hex32; dpRequired: boolean; delta?: number },
): Promise<DeploymentFile> {
  // The deployer is the admin: it must register the members. Handing the roles to another
  // account (a multisig, say) is AccessControl's grantRole + renounceRole afterwards.
  const signer = await deployerSigner(provider, options.keyEnv);
  const { chainId } = await provider.getNetwork();
  // The manifest's δ wins: the contract's c_α must be the ones its DP guarantee is stated at.
  const delta = policy.delta ?? options.delta;
  const params: FederationParams = {
    initialModelHash: options.initialModelHash.toLowerCase() as Hex32,
    manifestHash: policy.hash,
    committeeSize: options.committeeSize,
    threshold: options.threshold,
    inputDurationSec: options.inputDurationSec,
    finalizeDurationSec: options.finalizeDurationSec,
    cAlpha: cAlpha(delta),
    delta,
    dpRequired: policy.dpRequired,
    seedDelayBlocks: options.seedDelayBlocks ?? (chainId === LOCAL_CHAIN_ID ? 0 : 2),
    adminDelaySec: options.adminDelaySec ?? 0,
  };
  const continues = options.continues !== undefined ? { studies: await continuedStudies(options.continues, chainId) } : undefined;
  const deployment = await deployFederationFile(signer, chainId, params, members, delta, continues);
  await writeFile(options.out, `${JSON.stringify(deployment, null, 2)}\n`);
  // Written first: a funding failure must not lose the record of a deployed contract.
  const fundWei = fundingOf(options, chainId);
  if (fundWei > 0n) {
    await fundMembers(
      signer,
      members.map((m) => m.account),
      fundWei,
    );
  }
  return deployment;
}
