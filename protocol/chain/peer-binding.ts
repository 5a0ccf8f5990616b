/**
 * Proof that a libp2p peer id's key owner binds it to one account on one federation deployment
 * (contracts/IFedmeshRegistry.sol, "Peer ids"; audit finding H-2):
 *
 *     message = utf8("fedmesh/peer-binding/1") ‖ chainId (32 bytes, big-endian) ‖ contract (20) ‖ account (20)
 *     proof   = Ed25519 signature of `message` by the peer id's key (RFC 8032 §5.1.6), 64 bytes
 *
 * The EVM has no Ed25519 precompile, so the contract stores the proof and only its admin binds
 * peer ids; the admin, nodes and auditors verify it here. A peer id carries its Ed25519 public
 * key (identity multihash of the protobuf `PublicKey { Type = Ed25519, Data }`, libp2p
 * peer-ids spec), so the id alone is enough to verify.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { getAddress } from 'ethers';
import { fromString } from 'uint8arrays/from-string';
import { FedmeshError } from '../errors.js';
import { type DeploymentBinding, deploymentBindingBytes } from './deployment-binding.js';

const DOMAIN_TAG = new TextEncoder().encode('fedmesh/peer-binding/1');

/** identity multihash (0x00), length 36, protobuf field 1 = 1 (Ed25519), field 2 = 32 bytes. */
const ED25519_PEER_ID_PREFIX = Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);

/** The bytes the peer's key signs to bind its id to `account` on `binding`. */
export function peerBindingMessage(binding: DeploymentBinding, account: string): Uint8Array {
  const accountBytes = fromString(getAddress(account).slice(2).toLowerCase(), 'base16');
  const deployment = deploymentBindingBytes(binding);
  const out = new Uint8Array(DOMAIN_TAG.length + deployment.length + accountBytes.length);
  out.set(DOMAIN_TAG, 0);
  out.set(deployment, DOMAIN_TAG.length);
  out.set(accountBytes, DOMAIN_TAG.length + deployment.length);
  return out;
}

/** The Ed25519 public key inside a base58btc peer id, or undefined for another key type or a malformed id. */
export function ed25519KeyOfPeerId(peerId: string): Uint8Array | undefined {
  let bytes: Uint8Array;
  try {
    bytes = fromString(peerId, 'base58btc');
  } catch {
    return undefined;
  }
  if (bytes.length !== ED25519_PEER_ID_PREFIX.length + 32) return undefined;
  for (let i = 0; i < ED25519_PEER_ID_PREFIX.length; i++) if (bytes[i] !== ED25519_PEER_ID_PREFIX[i]) return undefined;
  return bytes.slice(ED25519_PEER_ID_PREFIX.length);
}

/** Whether `proof` (64 bytes, 0x hex or bytes) is `peerId`'s key signing its binding to `account`. */
export function verifyPeerBinding(peerId: string, binding: DeploymentBinding, account: string, proof: string | Uint8Array): boolean {
  const key = ed25519KeyOfPeerId(peerId);
  if (key === undefined) return false;
  let sig: Uint8Array;
  try {
    sig = typeof proof === 'string' ? fromString(proof.replace(/^0x/, ''), 'base16') : proof;
  } catch {
    return false;
  }
  if (sig.length !== 64) return false;
  try {
    return ed25519.verify(sig, peerBindingMessage(binding, account), key);
  } catch {
    return false;
  }
}

/**
 * Why a stored peer id binding is refused:
 * - `missing`: the stored proof is empty or the 64 zero bytes the deployment tooling stores when
 *   no proof was given (admin trust only);
 * - `not-ed25519`: the peer id does not carry an Ed25519 key, so nothing can be verified;
 * - `invalid`: a proof is there but is not the peer id's key signing this account on this
 *   deployment (a peer id registered for an account that does not hold its key, finding H-2).
 */
export type PeerBindingReason = 'missing' | 'invalid' | 'not-ed25519';

/** Whether `proof` is "no proof": empty, or all zero bytes (what registration without a proof stores). */
export function isMissingPeerProof(proof: string | Uint8Array): boolean {
  if (typeof proof !== 'string') return proof.every((b) => b === 0);
  return /^(0x)?0*$/.test(proof);
}

/** Why `peerId`'s stored binding to `account` on `binding` fails, or undefined when its proof verifies. */
export function peerBindingRefusal(
  peerId: string,
  binding: DeploymentBinding,
  account: string,
  proof: string | Uint8Array,
): PeerBindingReason | undefined {
  if (ed25519KeyOfPeerId(peerId) === undefined) return 'not-ed25519';
  if (isMissingPeerProof(proof)) return 'missing';
  return verifyPeerBinding(peerId, binding, account, proof) ? undefined : 'invalid';
}

/**
 * A member whose peer id a node refused to map to its account (node/services/round-opener.ts):
 * its messages are refused and it is treated as not reachable for the round.
 */
export class PeerBindingError extends FedmeshError<
  'PEER_PROOF_REFUSED',
  { readonly member: string; readonly peerId: string; readonly reason: PeerBindingReason }
> {}

/** The proof, 0x hex: `key` (a libp2p Ed25519 private key, or anything that signs like one) signs the binding. */
export async function signPeerBinding(
  key: { sign(message: Uint8Array): Uint8Array | Promise<Uint8Array> },
  binding: DeploymentBinding,
  account: string,
): Promise<`0x${string}`> {
  const sig = await key.sign(peerBindingMessage(binding, account));
  return `0x${Array.from(sig, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
