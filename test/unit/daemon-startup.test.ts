/**
 * `fedmesh node start` start-up checks, against a real `hardhat node` JSON-RPC server with a
 * devnet federation deployed on it: a manifest that hashes differently from the chain's is
 * refused (NODE_MANIFEST_MISMATCH, naming both hashes), an unregistered node is refused
 * (NODE_NOT_MEMBER, naming its address and peer id), a wrong passphrase is refused; a good node
 * starts, serves /health, /status (the chain's head as its model) and /metrics, and stops.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { type NodeStatus, startNodeDaemon } from '../../node/daemon/daemon.js';
import { type Devnet, createDevnet } from '../../node/devnet/devnet.js';
import { deployDevnet, type DevnetDeployment } from '../../node/devnet/up.js';
import { initNodeDir } from '../../node/keystore/init.js';
import { createLogger } from '../../node/logger.js';
import { JsonRpcProvider } from 'ethers';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import { setPeerProof } from '../../node/chain/peer-proof-admin.js';
import { nodePeerProof } from '../../node/keystore/peer-proof.js';
import { verifyPeerBinding } from '../../protocol/chain/peer-binding.js';

const SCRYPT = { N: 1 << 10, r: 8, p: 1 };
const quiet = createLogger('silent');

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

let chain: LocalChainNode;
let devnet: Devnet;
let deployment: DevnetDeployment;
let root: string;

beforeAll(async () => {
  chain = await startLocalChainNode(0);
  root = mkdtempSync(join(tmpdir(), 'fm-daemon-'));
  const [base] = await freePorts(1);
  devnet = await createDevnet({
    dir: join(root, 'net'),
    peers: 2,
    dataset: 'breast-cancer',
    seed: 3,
    rounds: 2,
    // node i listens on base+i and serves ops on base+100+i: keep clear of the ephemeral range's top
    basePort: Math.min(base!, 60_000),
    rpcUrl: chain.url,
    localEpochs: 1,
    scrypt: SCRYPT,
    timing: { meshWaitMs: 60_000 },
  });
  deployment = await deployDevnet(devnet.dir);
}, 120_000);

afterAll(async () => {
  await chain?.close();
});

describe('fedmesh node start: start-up checks', () => {
  it('refuses a manifest whose hash differs from the one deployed on chain, naming both', async () => {
    const nodeDir = join(root, 'tampered');
    cpSync(devnet.nodes[0]!.dir, nodeDir, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(devnet.dir, 'manifest.json'), 'utf8'));
    manifest.training.learningRate = 0.5;
    writeFileSync(join(root, 'manifest.json'), JSON.stringify(manifest));
    cpSync(join(devnet.dir, 'deployment.json'), join(root, 'deployment.json'));
    // The node's config points at ../manifest.json, which is now the tampered one.
    const err = await startNodeDaemon({ config: join(nodeDir, 'config.yaml'), log: quiet }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NODE_MANIFEST_MISMATCH', fields: { onChain: deployment.manifestHash } });
    expect((err as { fields: { local: string } }).fields.local).not.toBe(deployment.manifestHash);
    expect((err as Error).message).toContain(deployment.manifestHash);
  });

  it('refuses a node whose account is not a registered member, naming its address and peer id', async () => {
    const dir = join(devnet.dir, 'stranger');
    const init = await initNodeDir(dir, 'stranger-pass', SCRYPT);
    const cfg = readFileSync(devnet.nodes[0]!.config, 'utf8').replace('passphraseFile: ./passphrase', 'passphraseFile: ./pass');
    writeFileSync(join(dir, 'pass'), 'stranger-pass\n');
    writeFileSync(join(dir, 'config.yaml'), cfg.replace(/node-0/g, 'stranger'));
    cpSync(join(devnet.nodes[0]!.dir, 'data'), join(dir, 'data'), { recursive: true });
    const err = await startNodeDaemon({ config: join(dir, 'config.yaml'), log: quiet }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NODE_NOT_MEMBER', fields: { address: init.address, peerId: init.peerId, status: 'none' } });
  });

  it('refuses a wrong passphrase', async () => {
    const err = await startNodeDaemon({ config: devnet.nodes[1]!.config, passphrase: 'not-it', log: quiet }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KEYSTORE_BAD_PASSPHRASE' });
  });

  it('refuses to start when a listen port or the ops port is taken (NODE_PORT_IN_USE naming the field)', async () => {
    const n = devnet.nodes[1]!;
    for (const [port, field] of [
      [Number(n.listen.split('/').at(-1)), 'network.listen'],
      [n.opsPort, 'ops.port'],
    ] as const) {
      const blocker = createServer();
      await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
      try {
        const err = await startNodeDaemon({ config: n.config, log: quiet }).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'NODE_PORT_IN_USE', fields: { field } });
        expect((err as Error).message).toContain(String(port));
      } finally {
        await new Promise((r) => blocker.close(r));
      }
    }
  }, 60_000);

  it('refuses an account without gas money: NODE_ACCOUNT_UNFUNDED with its balance and the study estimate', async () => {
    const n = devnet.nodes[1]!;
    await fetch(chain.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'hardhat_setBalance', params: [n.address, '0x0'] }),
    });
    const err = await startNodeDaemon({ config: n.config, log: quiet }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NODE_ACCOUNT_UNFUNDED', fields: { address: n.address, balanceWei: '0', rounds: 2 } });
    expect(BigInt((err as { fields: { studyWei: string } }).fields.studyWei)).toBeGreaterThan(0n);
  }, 60_000);

  it('peer-binding proof: the node signs it, the admin stores it after checking it, the registry returns it', async () => {
    const n = devnet.nodes[0]!;
    const proof = await nodePeerProof({ config: n.config, env: {} });
    expect(proof).toMatchObject({ address: n.address, peerId: n.peerId });
    const binding = { chainId: BigInt(deployment.chainId), contract: deployment.addresses.FedmeshFederation };
    expect(verifyPeerBinding(n.peerId, binding, n.address, proof.peerProof)).toBe(true);
    const deploymentPath = join(devnet.dir, 'deployment.json');
    // Another member's account with this proof: refused before any transaction.
    await expect(
      setPeerProof({
        rpc: chain.url,
        deployment: deploymentPath,
        member: devnet.nodes[1]!.address,
        peerId: n.peerId,
        peerProof: proof.peerProof,
      }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID', fields: { issues: [{ field: 'proof' }] } });
    await setPeerProof({ rpc: chain.url, deployment: deploymentPath, member: n.address, peerId: n.peerId, peerProof: proof.peerProof });
    const provider = new JsonRpcProvider(chain.url);
    try {
      const m = await new EthersFederationClient(provider, binding.contract).getMember(n.address);
      expect(m.peerProof.toLowerCase()).toBe(proof.peerProof.toLowerCase());
    } finally {
      provider.destroy();
    }
  }, 60_000);

  it('a state folder that cannot be created is NODE_STATE_UNWRITABLE naming it', async () => {
    const dir = join(devnet.dir, 'badstate');
    cpSync(devnet.nodes[0]!.dir, dir, { recursive: true });
    writeFileSync(join(dir, 'state-file'), 'not a folder');
    writeFileSync(
      join(dir, 'config.yaml'),
      readFileSync(join(dir, 'config.yaml'), 'utf8').replace('stateDir: ./state', 'stateDir: ./state-file'),
    );
    const err = await startNodeDaemon({ config: join(dir, 'config.yaml'), log: quiet }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NODE_STATE_UNWRITABLE', fields: { path: join(dir, 'state-file'), reason: 'not a folder' } });
  }, 60_000);

  it('starts a registered node: /health, /status with the chain head as its model, /metrics; stops on request', async () => {
    const n = devnet.nodes[0]!;
    const daemon = await startNodeDaemon({ config: n.config, log: quiet });
    try {
      expect(daemon.peerId).toBe(n.peerId);
      expect(await (await fetch(`${daemon.opsUrl}/health`)).json()).toEqual({ ok: true });
      const deadline = Date.now() + 30_000;
      let s = daemon.status();
      while (s.chain.headModelHash !== deployment.initialModelHash && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        s = daemon.status();
      }
      const remote = (await (await fetch(`${daemon.opsUrl}/status`)).json()) as NodeStatus;
      expect(remote.peerId).toBe(n.peerId);
      expect(remote.manifestHash).toBe(deployment.manifestHash);
      expect(remote.model.hash).toBe(deployment.initialModelHash);
      expect(remote.chain.headModelHash).toBe(deployment.initialModelHash);
      // The other member is not running: this node waits for it on the mesh, never in a round.
      expect(['idle', 'waiting-for-peers', 'syncing', 'starting']).toContain(remote.phase);
      expect(remote.roundStage).toBeUndefined();
      expect(remote).toMatchObject({ roundsJoined: [], roundsAbstained: [], roundsAborted: [] });
      expect(remote.data.examples).toBeGreaterThan(100);
      const metrics = await (await fetch(`${daemon.opsUrl}/metrics`)).text();
      for (const name of [
        'fedmesh_rounds_joined_total',
        'fedmesh_rounds_finalized_total',
        'fedmesh_rounds_aborted_total',
        'fedmesh_privacy_epsilon_spent',
        'fedmesh_privacy_epsilon_remaining',
        'fedmesh_peers_connected',
      ]) {
        expect(metrics).toContain(name);
      }
      // No round was aborted on chain: the counter says so (issue 17: it counted local failures).
      expect(metrics).toMatch(/^fedmesh_rounds_aborted_total 0$/m);
    } finally {
      await daemon.stop();
    }
    await expect(fetch(`${daemon.opsUrl}/health`)).rejects.toThrow();
  }, 60_000);
});
