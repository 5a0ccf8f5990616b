/**
 * Issue 14 item 2 in the deployment tooling: `devnet deploy` registers every node with its own
 * keystore's peer id proof (real keystores, a real Hardhat JSON-RPC node), and a members file's
 * proof made for another account or deployment is refused before anything is sent.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkMemberProofs, readMembersFile } from '../../node/chain/deployment.js';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { createDevnet, type Devnet } from '../../node/devnet/devnet.js';
import { type DevnetDeployment, deployDevnet } from '../../node/devnet/up.js';
import { loadKeystore } from '../../node/keystore/keystore.js';
import { peerProofOf } from '../../node/keystore/peer-proof.js';
import { verifyPeerBinding } from '../../protocol/chain/peer-binding.js';

const SCRYPT = { N: 1 << 10, r: 8, p: 1 };

let chain: LocalChainNode;
let devnet: Devnet;
let deployment: DevnetDeployment;

beforeAll(async () => {
  chain = await startLocalChainNode(0);
  devnet = await createDevnet({
    dir: join(mkdtempSync(join(tmpdir(), 'fm-devnet-proofs-')), 'net'),
    peers: 3,
    dataset: 'breast-cancer',
    seed: 5,
    rounds: 1,
    basePort: 45_000,
    rpcUrl: chain.url,
    localEpochs: 1,
    scrypt: SCRYPT,
  });
  deployment = await deployDevnet(devnet.dir);
}, 120_000);

afterAll(async () => {
  await chain?.close();
});

describe('peer id proofs in the deployment tooling', () => {
  it('devnet deploy stores each node’s own proof, which verifies for its account on this deployment', async () => {
    const binding = { chainId: BigInt(deployment.chainId), contract: deployment.addresses.FedmeshFederation };
    const provider = new JsonRpcProvider(chain.url);
    try {
      const fed = new EthersFederationClient(provider, binding.contract);
      for (const n of devnet.nodes) {
        const m = await fed.getMember(n.address);
        expect(m.peerId).toBe(n.peerId);
        expect(verifyPeerBinding(n.peerId, binding, n.address, m.peerProof)).toBe(true);
      }
    } finally {
      provider.destroy();
    }
  });

  it('a members file whose proof was made for another account or deployment is refused, naming the member and the field', async () => {
    const [a, b] = devnet.nodes;
    const binding = { chainId: BigInt(deployment.chainId), contract: deployment.addresses.FedmeshFederation };
    const keysA = await loadKeystore(join(a!.dir, 'keystore'), `devnet-5-0`);
    const good = await peerProofOf(keysA, binding);
    const path = join(devnet.dir, 'members-with-proofs.json');
    writeFileSync(
      path,
      JSON.stringify({
        members: [
          { address: a!.address, peerId: a!.peerId, epsilonCap: 8, peerProof: good.peerProof },
          // b registers a's peer id with a's proof: the proof names a's account, not b's.
          { address: b!.address, peerId: a!.peerId, epsilonCap: 8, peerProof: good.peerProof },
        ],
      }),
    );
    const members = await readMembersFile(path);
    expect(() => checkMemberProofs(members.slice(0, 1), binding)).not.toThrow();
    let err: unknown;
    try {
      checkMemberProofs(members, binding);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', fields: { issues: [{ field: 'members.1.peerProof', value: good.peerProof }] } });
    // The same proof on another deployment (contract address) does not verify either.
    expect(() => checkMemberProofs(members.slice(0, 1), { ...binding, contract: `0x${'11'.repeat(20)}` })).toThrow(/members\.0\.peerProof/);
  });
});
