/**
 * The member's side of the registry's peer-id binding (protocol/chain/peer-binding.ts; audit
 * finding H-2): the node's libp2p Ed25519 key signs "fedmesh/peer-binding/1 ‖ chainId ‖ contract ‖
 * account", proving that whoever holds this peer id's key binds it to this account on this
 * deployment. The admin stores the proof with `setPeerId` (`fedmesh chain set-peer-proof`);
 * anyone can check it from the peer id alone. The proof is checked here before it is handed out.
 */
import { toString as toHex } from 'uint8arrays/to-string';
import type { DeploymentBinding } from '../../protocol/chain/deployment-binding.js';
import { peerBindingMessage, verifyPeerBinding } from '../../protocol/chain/peer-binding.js';
import { loadNodeConfig } from '../config/node-config.js';
import { loadDeploymentRef } from '../daemon/setup.js';
import { loadKeystore, type NodeKeys, resolvePassphrase } from './keystore.js';

export interface PeerProof {
  readonly address: string;
  readonly peerId: string;
  /** 64-byte Ed25519 signature, 0x hex. */
  readonly peerProof: `0x${string}`;
}

export async function peerProofOf(keys: NodeKeys, binding: DeploymentBinding): Promise<PeerProof> {
  const sig = await keys.privateKey.sign(peerBindingMessage(binding, keys.wallet.address));
  const peerProof = `0x${toHex(sig, 'base16')}` as const;
  if (!verifyPeerBinding(keys.peerId, binding, keys.wallet.address, peerProof)) {
    throw new Error('the peer-binding proof made with this keystore does not verify (a bug)');
  }
  return { address: keys.wallet.address, peerId: keys.peerId, peerProof };
}

/**
 * The proof of the node whose config is at `configPath`, for the deployment file `deployment`
 * (default: the config's chain.deployment). The passphrase as `node start` resolves it.
 */
export async function nodePeerProof(o: {
  readonly config: string;
  readonly deployment?: string;
  readonly passphrase?: string;
  readonly env?: NodeJS.ProcessEnv;
}): Promise<PeerProof> {
  const env = o.env ?? process.env;
  const cfg = loadNodeConfig(o.config, env);
  const dep = loadDeploymentRef(o.deployment ?? cfg.chain.deployment);
  const passphrase = resolvePassphrase({
    ...(o.passphrase !== undefined ? { value: o.passphrase } : {}),
    ...(cfg.passphraseFile !== undefined ? { file: cfg.passphraseFile } : {}),
    env,
  });
  return peerProofOf(await loadKeystore(cfg.keystore, passphrase), { chainId: dep.chainId, contract: dep.address });
}
