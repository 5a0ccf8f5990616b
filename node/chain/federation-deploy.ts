/**
 * Deploying a FedmeshFederation and registering its members, over any ethers Signer: the
 * in-process Hardhat network, a local `fedmesh chain start` node or a remote EVM JSON-RPC.
 *
 * The bytecode comes from the compiled artifact (Hardhat compiles contracts/ with solc-js on
 * first use), so this module loads Hardhat; a node that only talks to a deployed federation
 * never imports it.
 */
import { ContractFactory, type Signer } from 'ethers';
import { deltaUnits } from '../../protocol/audit/privacy-constants.js';
import { C_ALPHA_MAX, C_ALPHA_MIN, RDP_LANES } from '../../protocol/chain/budget.js';
import { EthersFederationClient } from './federation-ethers.js';
import type { FederationParams, NewMember } from './federation-types.js';
import { loadHardhat } from './hardhat.js';
import { isHex32, ZERO_HASH } from './record.js';
import type { Hex32 } from './types.js';

/** δ assumed when the parameters name none: the fedmesh default (docs/privacy.md). */
export const DEFAULT_DELTA = 1e-5;

export interface DeployedFederation {
  readonly address: string;
  /** Block that mined the deployment; pass as `fromBlock` to EthersFederationClient. */
  readonly blockNumber: number;
  readonly txHash: Hex32;
}

/**
 * Deploys contracts/FedmeshFederation.sol with `signer` and waits for it to be mined. `admin`
 * (default the signer) receives the admin roles. `params.manifestHash` is fixed on chain; the
 * zero hash when the caller gives none. Parameters are checked by the constructor; this only
 * checks what ethers could not encode.
 */
export async function deployFederation(signer: Signer, params: FederationParams, admin?: string): Promise<DeployedFederation> {
  if (params.cAlpha.length !== RDP_LANES || params.cAlpha.some((c) => c < C_ALPHA_MIN || c > C_ALPHA_MAX)) {
    throw new RangeError(`cAlpha must be ${RDP_LANES} int32 values, got [${params.cAlpha.join(', ')}]`);
  }
  const hre = await loadHardhat();
  const artifact = await hre.artifacts.readArtifact('FedmeshFederation');
  const factory = new ContractFactory(artifact.abi, artifact.bytecode, signer);
  const manifestHash = params.manifestHash ?? ZERO_HASH;
  if (!isHex32(manifestHash)) throw new RangeError(`manifestHash must be 0x and 64 hex digits, got ${String(manifestHash)}`);
  const delta = params.delta ?? DEFAULT_DELTA;
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  const config = {
    initialModelHash: params.initialModelHash,
    manifestHash,
    committeeSize: params.committeeSize,
    threshold: params.threshold,
    inputDuration: params.inputDurationSec,
    finalizeDuration: params.finalizeDurationSec,
    seedDelay: params.seedDelayBlocks ?? 0,
    dpRequired: params.dpRequired ?? false,
    adminDelay: params.adminDelaySec ?? 0,
    // δ in units of 1e-18, rounded to the nearest unit (δ is a policy constant, not a bound
    // the ledger relies on: c_α carries the rounding-up, protocol/chain/budget.ts). The auditor
    // and the node's start-up check compare with the same encoding (privacy-constants.ts).
    delta: deltaUnits(delta)!,
    cAlpha: [...params.cAlpha],
  };
  const contract = await factory.deploy(admin ?? (await signer.getAddress()), config);
  const receipt = await contract.deploymentTransaction()?.wait();
  if (!receipt?.contractAddress) {
    throw new Error('deployFederation: deployment transaction has no receipt or contract address');
  }
  return { address: receipt.contractAddress, blockNumber: receipt.blockNumber, txHash: receipt.hash as Hex32 };
}

/**
 * Registers `members` one transaction each, in order (the order of the active list, and so of
 * committee indices), with `admin` holding FEDERATION_ADMIN_ROLE.
 */
export async function registerMembers(admin: Signer, address: string, members: readonly NewMember[]): Promise<void> {
  const client = new EthersFederationClient(admin, address);
  for (const m of members) await client.addMember(m);
}
