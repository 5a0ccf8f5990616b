/**
 * The deployment a signed statement belongs to: one federation contract on one chain
 * (docs/contracts.md, "Deployment binding"). Every secure-aggregation statement, KDF salt/info
 * and gossip statement is bound to it (with the round), so a statement made for a test chain,
 * another federation or a redeployment is worthless here. It is also the EIP-712 domain's
 * (chainId, verifyingContract) pair (./record.ts `federationDomain`).
 */
import { getAddress, type TypedDataDomain } from 'ethers';
import { invalidValue } from './errors.js';
import { FEDMESH_EIP712_NAME, FEDMESH_EIP712_VERSION } from './record.js';

export interface DeploymentBinding {
  /** EIP-155 chain id. */
  readonly chainId: bigint;
  /** The FedmeshFederation contract, checksummed (EIP-55). */
  readonly contract: string;
}

/** Bytes of `deploymentBindingBytes`: 32-byte chain id ‖ 20-byte address. */
export const DEPLOYMENT_BINDING_BYTES = 52;

const U256_MAX = (1n << 256n) - 1n;

/**
 * A validated binding with the address checksummed; throws ONCHAIN_INVALID_VALUE naming the
 * field for a chain id outside [1, 2^256 − 1] or a malformed address.
 */
export function deploymentBinding(chainId: bigint | number, contract: string): DeploymentBinding {
  const id = typeof chainId === 'number' && Number.isSafeInteger(chainId) ? BigInt(chainId) : chainId;
  if (typeof id !== 'bigint' || id < 1n || id > U256_MAX) throw invalidValue('chainId', chainId, 'must be an integer in [1, 2^256 − 1]');
  let checksummed: string;
  try {
    checksummed = getAddress(contract);
  } catch {
    throw invalidValue('contract', contract, 'must be a 20-byte hex address');
  }
  return { chainId: id, contract: checksummed };
}

/** chainId as 32 bytes big-endian ‖ the 20 address bytes (52 bytes), after `deploymentBinding`'s checks. */
export function deploymentBindingBytes(b: DeploymentBinding): Uint8Array {
  const { chainId, contract } = deploymentBinding(b.chainId, b.contract);
  const out = new Uint8Array(DEPLOYMENT_BINDING_BYTES);
  let v = chainId;
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  const hex = contract.slice(2);
  for (let i = 0; i < 20; i++) out[32 + i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The fedmesh EIP-712 domain of the binding (name "fedmesh", version "1"). */
export function bindingDomain(b: DeploymentBinding): TypedDataDomain {
  const { chainId, contract } = deploymentBinding(b.chainId, b.contract);
  return { name: FEDMESH_EIP712_NAME, version: FEDMESH_EIP712_VERSION, chainId, verifyingContract: contract };
}
