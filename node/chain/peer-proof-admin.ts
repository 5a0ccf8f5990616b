/**
 * `fedmesh chain set-peer-proof`: the admin stores a member's peer-binding proof on chain
 * (`setPeerId`, contracts/FedmeshRegistry.sol), after checking it here: a proof that does not
 * verify for (peer id, chainId, contract, member) is refused before any transaction is sent.
 */
import { JsonRpcProvider, Network } from 'ethers';
import { verifyPeerBinding } from '../../protocol/chain/peer-binding.js';
import { loadDeploymentRef } from '../daemon/setup.js';
import { ChainConfigError, deployerSigner } from './deployment.js';
import { classifyChainError } from './errors.js';
import { EthersFederationClient, FEDMESH_FEDERATION_INTERFACE } from './federation-ethers.js';
import { federationErrorFromRevert } from './federation-errors.js';
import type { TxInfo } from './federation-types.js';

export interface SetPeerProofOptions {
  readonly rpc: string;
  readonly keyEnv?: string;
  readonly deployment: string;
  readonly member: string;
  readonly peerId: string;
  readonly peerProof: string;
}

export async function setPeerProof(o: SetPeerProofOptions): Promise<TxInfo> {
  const dep = loadDeploymentRef(o.deployment);
  const binding = { chainId: dep.chainId, contract: dep.address };
  if (!verifyPeerBinding(o.peerId, binding, o.member, o.peerProof)) {
    const rule = `not ${o.peerId}'s signature binding it to ${o.member} on chain ${dep.chainId}, contract ${dep.address} (make it with \`fedmesh node proof\`)`;
    throw new ChainConfigError('CONFIG_INVALID', `proof=${JSON.stringify(o.peerProof)}: ${rule}`, {
      issues: [{ field: 'proof', value: o.peerProof, rule }],
    });
  }
  const network = Network.from(dep.chainId);
  const provider = new JsonRpcProvider(o.rpc, network, { staticNetwork: network, cacheTimeout: -1, pollingInterval: 250 });
  try {
    const signer = await deployerSigner(provider, o.keyEnv);
    return await new EthersFederationClient(signer, dep.address, { fromBlock: dep.deployBlock }).setPeerId(o.member, o.peerId, o.peerProof);
  } catch (e) {
    throw classifyChainError(e, FEDMESH_FEDERATION_INTERFACE, `set-peer-proof on ${new URL(o.rpc).host}`, federationErrorFromRevert);
  } finally {
    provider.destroy();
  }
}
