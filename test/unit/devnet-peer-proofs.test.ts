/**
 * Issue 14 item 2 in the deployment tooling: `devnet deploy` registers every node with its own
 * keystore's peer id proof (real keystores, a real Hardhat JSON-RPC node), and a members file's
 * proof made for another account or deployment is refused before anything is sent; the member's
 * `fedmesh node proof` and the admin's `fedmesh chain set-peer-proof` through the real CLI entry.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider } from 'ethers';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../node/cli/main.js';
import { checkMemberProofs, readMembersFile } from '../../node/chain/deployment.js';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { createDevnet, type Devnet } from '../../node/devnet/devnet.js';
import { type DevnetDeployment, deployDevnet } from '../../node/devnet/up.js';
import { loadKeystore } from '../../node/keystore/keystore.js';
import { peerProofOf } from '../../node/keystore/peer-proof.js';
import { peerBindingRefusal, verifyPeerBinding } from '../../protocol/chain/peer-binding.js';

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

  describe('through the CLI (node/cli/main.ts, in-process)', () => {
    let out: string[];
    let err: string[];
    const capture = (): void => {
      out = [];
      err = [];
      vi.spyOn(process.stdout, 'write').mockImplementation((x: string | Uint8Array) => out.push(String(x)) > 0);
      vi.spyOn(process.stderr, 'write').mockImplementation((x: string | Uint8Array) => err.push(String(x)) > 0);
    };
    afterEach(() => {
      vi.restoreAllMocks();
    });

    it('`node proof` signs from the encrypted keystore; `chain set-peer-proof` stores it, and refuses it for another member (exit 2, before any transaction)', async () => {
      const n = devnet.nodes[1]!;
      const other = devnet.nodes[2]!;
      const binding = { chainId: BigInt(deployment.chainId), contract: deployment.addresses.FedmeshFederation };
      const deploymentPath = join(devnet.dir, 'deployment.json');
      const provider = new JsonRpcProvider(chain.url);
      try {
        // The admin (the devnet's deployer) drops node 1's proof, as a deployment without proofs would have it.
        const admin = await provider.getSigner(chain.accounts[0]);
        await new EthersFederationClient(admin, binding.contract).setPeerId(n.address, n.peerId, `0x${'00'.repeat(64)}`);
        const fed = new EthersFederationClient(provider, binding.contract);
        expect(peerBindingRefusal(n.peerId, binding, n.address, (await fed.getMember(n.address)).peerProof)).toBe('missing');

        capture();
        expect(await main(['node', 'proof', '--dir', n.dir])).toBe(0);
        const proof = JSON.parse(out.join('')) as { address: string; peerId: string; peerProof: string };
        expect(proof).toMatchObject({ address: n.address, peerId: n.peerId });
        const proofPath = join(devnet.dir, 'proof-1.json');
        writeFileSync(proofPath, JSON.stringify(proof));

        // Another member presenting node 1's peer id with node 1's proof: refused, nothing sent.
        const before = await fed.memberInfoVersion();
        capture();
        const refused = await main([
          'chain',
          'set-peer-proof',
          '--rpc',
          chain.url,
          '--deployment',
          deploymentPath,
          '--member',
          other.address,
          '--peer-id',
          n.peerId,
          '--proof',
          proof.peerProof,
        ]);
        expect(refused).toBe(2);
        expect(err.join('')).toMatch(/CONFIG_INVALID: proof=/);
        expect(await fed.memberInfoVersion()).toBe(before);

        capture();
        expect(await main(['chain', 'set-peer-proof', '--rpc', chain.url, '--deployment', deploymentPath, '--from', proofPath])).toBe(0);
        expect(out.join('')).toContain(`peer proof of ${n.address}`);
        vi.restoreAllMocks();
        expect(verifyPeerBinding(n.peerId, binding, n.address, (await fed.getMember(n.address)).peerProof)).toBe(true);
      } finally {
        provider.destroy();
      }
    }, 120_000);
  });
});
