/**
 * Deployment: `deployFederationToRpc` over HTTP JSON-RPC (the path `fedmesh chain deploy` takes
 * to any endpoint), option and members-file validation, and the two `fedmesh chain` commands as
 * separate OS processes talking to each other.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HDNodeWallet, JsonRpcProvider, Mnemonic, Network } from 'ethers';
import { TASK_NODE_CREATE_SERVER } from 'hardhat/builtin-tasks/task-names.js';
import type { JsonRpcServer } from 'hardhat/types/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeploymentFile, deployFederationToRpc, parseDeployOptions, readMembersFile } from '../../node/chain/deployment.js';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import { startInProcessChain } from '../../node/chain/hardhat.js';
import { cAlpha, ONCHAIN_RDP_ORDERS } from '../../protocol/chain/budget.js';
import { isFedmeshError } from '../../protocol/errors.js';
import { type FederationManifest, manifestHash, parseManifest } from '../../protocol/manifest.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/fedmesh.mjs');
const INITIAL = `0x${'11'.repeat(32)}`;
const dir = mkdtempSync(join(tmpdir(), 'fedmesh-deploy-'));

/** Hardhat accounts 20..22 as members; account 30's key deploys through --key-env. */
const root = HDNodeWallet.fromMnemonic(
  Mnemonic.fromPhrase('test test test test test test test test test test test junk'),
  "m/44'/60'/0'/0",
);
const member = (i: number) => root.deriveChild(20 + i).address;

function membersFile(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

const MEMBERS = membersFile('members.json', {
  members: [
    { address: member(0), peerId: '12D3KooWA', metadataURI: 'https://a.example/fedmesh.json', epsilonCap: 8 },
    { address: member(1).toLowerCase(), peerId: '12D3KooWB', epsilonCap: 4.5 },
    { address: member(2), peerId: '12D3KooWC', metadataURI: '', epsilonCap: 0.3 },
  ],
});

const MANIFEST_VALUE: FederationManifest = parseManifest({
  version: 1,
  federation: 'deploy-test',
  seed: 7,
  model: { kind: 'mlp', hidden: [8] },
  features: [{ name: 'x', kind: 'numeric' }],
  label: { name: 'y', positive: '1', negatives: ['0'] },
  rounds: 3,
  training: { localEpochs: 1, batchSize: 8, learningRate: 0.01 },
  committee: { size: 3, threshold: 2 },
});
const MANIFEST = membersFile('manifest.json', MANIFEST_VALUE);
const ZERO = `0x${'0'.repeat(64)}`;

async function configIssues(f: () => Promise<unknown>): Promise<string[]> {
  const e = await f().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isFedmeshError(e, 'CONFIG_INVALID'), String(e)).toBe(true);
  return (e as { fields: { issues: { field: string }[] } }).fields.issues.map((i) => i.field);
}

describe('deploy options and members file', () => {
  it('applies the defaults and names every invalid field', async () => {
    const o = parseDeployOptions({ rpc: 'http://127.0.0.1:8545', members: 'm.json', out: 'd.json', initialModelHash: INITIAL });
    expect(o).toMatchObject({ delta: 1e-5, committeeSize: 3, threshold: 2, inputDurationSec: 600, finalizeDurationSec: 600 });
    const issues = await configIssues(async () =>
      parseDeployOptions({
        rpc: 'ftp://x',
        members: 'm.json',
        out: 'd.json',
        initialModelHash: `0x${'0'.repeat(64)}`,
        delta: 2,
        committeeSize: 3,
        threshold: 4,
        keyEnv: 'not a name',
      }),
    );
    expect(issues.sort()).toEqual(['delta', 'initialModelHash', 'keyEnv', 'rpc', 'threshold']);
  });

  it('reads members, rounding caps down; refuses bad addresses, duplicates and unreadable files', async () => {
    const members = await readMembersFile(MEMBERS);
    expect(members.map((m) => [m.account.toLowerCase(), m.epsilonCap])).toEqual([
      [member(0).toLowerCase(), 8_000_000n],
      [member(1).toLowerCase(), 4_500_000n],
      [member(2).toLowerCase(), 299_999n],
    ]);
    const dup = membersFile('dup.json', {
      members: [
        { address: member(0), peerId: 'a', epsilonCap: 1 },
        { address: member(0).toLowerCase(), peerId: 'b', epsilonCap: 1 },
      ],
    });
    expect(await configIssues(() => readMembersFile(dup))).toEqual([`${dup}: members.1.address`]);
    const bad = membersFile('bad.json', { members: [{ address: '0x1234', peerId: '', epsilonCap: -1 }] });
    expect((await configIssues(() => readMembersFile(bad))).sort()).toEqual(
      ['members.0.address', 'members.0.epsilonCap', 'members.0.peerId'].map((f) => `${bad}: ${f}`),
    );
    expect(await configIssues(() => readMembersFile(join(dir, 'missing.json')))).toEqual(['members']);
  });
});

describe('deployFederationToRpc over HTTP JSON-RPC', () => {
  let server: JsonRpcServer;
  let url: string;
  beforeAll(async () => {
    const chain = await startInProcessChain();
    server = await chain.hre.run(TASK_NODE_CREATE_SERVER, { hostname: '127.0.0.1', port: 0, provider: chain.hre.network.provider });
    url = `http://127.0.0.1:${(await server.listen()).port}`;
  });
  afterAll(async () => {
    await server?.close();
  });

  async function check(deployment: DeploymentFile, admin: string, manifest: string = ZERO) {
    expect(deployment).toMatchObject({
      manifestHash: manifest,
      version: 1,
      contract: 'FedmeshFederation',
      chainId: '31337',
      admin,
      initialModelHash: INITIAL,
      delta: 1e-5,
      orders: [...ONCHAIN_RDP_ORDERS],
      cAlpha: cAlpha(1e-5).map(String),
      rdpScale: '1000000',
      m: 3,
      t: 2,
    });
    const provider = new JsonRpcProvider(url, Network.from(31337), { staticNetwork: true });
    try {
      const client = new EthersFederationClient(provider, deployment.addresses.FedmeshFederation, { fromBlock: deployment.deployBlock });
      const info = await client.info();
      expect(info).toMatchObject({ committeeSize: 3, threshold: 2, initialModelHash: INITIAL, cAlpha: cAlpha(1e-5), chainId: 31337n });
      expect(await client.manifestHash()).toBe(manifest);
      expect((await client.activeMembers()).map((a) => a.toLowerCase())).toEqual([0, 1, 2].map((i) => member(i).toLowerCase()));
      expect(await client.getMember(member(1))).toMatchObject({
        status: 'active',
        peerId: '12D3KooWB',
        metadataURI: '',
        epsilonCap: 4_500_000n,
      });
      const receipt = await provider.getTransactionReceipt(deployment.deployTx);
      expect(receipt?.blockNumber).toBe(deployment.deployBlock);
    } finally {
      provider.destroy();
    }
  }

  it("deploys with the node's first unlocked account, registers the members in order, writes the JSON", async () => {
    const out = join(dir, 'unlocked.json');
    const deployment = await deployFederationToRpc(parseDeployOptions({ rpc: url, members: MEMBERS, out, initialModelHash: INITIAL }));
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(JSON.parse(JSON.stringify(deployment)));
    await check(deployment, root.deriveChild(0).address);
  });

  it('fixes the hash of --manifest on chain and writes it into the deployment JSON; refuses an invalid manifest', async () => {
    const out = join(dir, 'manifest-deploy.json');
    const deployment = await deployFederationToRpc(
      parseDeployOptions({ rpc: url, members: MEMBERS, manifest: MANIFEST, out, initialModelHash: INITIAL }),
    );
    const expected = manifestHash(MANIFEST_VALUE);
    expect(expected).not.toBe(ZERO);
    expect(JSON.parse(readFileSync(out, 'utf8')).manifestHash).toBe(expected);
    await check(deployment, root.deriveChild(0).address, expected);
    const bad = membersFile('bad-manifest.json', { ...MANIFEST_VALUE, rounds: 0 });
    const opts = (manifest: string) => parseDeployOptions({ rpc: url, members: MEMBERS, manifest, out, initialModelHash: INITIAL });
    expect(await configIssues(() => deployFederationToRpc(opts(bad)))).toEqual(['manifest']);
    expect(await configIssues(() => deployFederationToRpc(opts(join(dir, 'missing-manifest.json'))))).toEqual(['manifest']);
  });

  it('deploys with a key from --key-env, never echoing it', async () => {
    const key = root.deriveChild(30);
    process.env.FEDMESH_TEST_DEPLOYER_KEY = key.privateKey;
    process.env.FEDMESH_TEST_BAD_KEY = '0x1234';
    try {
      const out = join(dir, 'keyed.json');
      await check(
        await deployFederationToRpc(
          parseDeployOptions({ rpc: url, keyEnv: 'FEDMESH_TEST_DEPLOYER_KEY', members: MEMBERS, out, initialModelHash: INITIAL }),
        ),
        key.address,
      );
      const opts = (keyEnv: string) => parseDeployOptions({ rpc: url, keyEnv, members: MEMBERS, out, initialModelHash: INITIAL });
      const e = await deployFederationToRpc(opts('FEDMESH_TEST_BAD_KEY')).catch((err: unknown) => err);
      expect(isFedmeshError(e, 'CONFIG_INVALID')).toBe(true);
      expect(JSON.stringify(e)).not.toContain('0x1234');
      expect(await configIssues(() => deployFederationToRpc(opts('FEDMESH_TEST_UNSET_KEY')))).toEqual(['keyEnv']);
    } finally {
      delete process.env.FEDMESH_TEST_DEPLOYER_KEY;
      delete process.env.FEDMESH_TEST_BAD_KEY;
    }
  });

  it('an unreachable endpoint is CHAIN_UNAVAILABLE', async () => {
    const e = await deployFederationToRpc(
      parseDeployOptions({ rpc: 'http://127.0.0.1:9', members: MEMBERS, out: join(dir, 'x.json'), initialModelHash: INITIAL }),
    ).catch((err: unknown) => err);
    expect(isFedmeshError(e, 'CHAIN_UNAVAILABLE'), String(e)).toBe(true);
  });
});

describe('fedmesh chain start | deploy (separate processes)', () => {
  let node: ChildProcess | undefined;
  afterAll(() => {
    if (node?.exitCode === null) node.kill('SIGKILL');
  });

  it('starts a node on 127.0.0.1, deploys to it from another process, and stops on SIGINT', async () => {
    node = spawn('node', [BIN, 'chain', 'start', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      node!.stdout!.on('data', (d: Buffer) => {
        output += d.toString();
        const m = /JSON-RPC on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (m) resolve(m[1]!);
      });
      node!.once('exit', (code) => reject(new Error(`chain start exited ${code}: ${output}`)));
    });
    expect(output).toMatch(/chain id 31337/);
    const out = join(dir, 'cli.json');
    const { stdout } = await run(
      'node',
      [
        BIN,
        'chain',
        'deploy',
        '--rpc',
        url,
        '--members',
        MEMBERS,
        '--out',
        out,
        // The initial model hash comes from the manifest's initial model (issue 17).
        '--manifest',
        MANIFEST,
        '--committee-size',
        '2',
        '--threshold',
        '2',
      ],
      {
        timeout: 60_000,
      },
    );
    const deployment = JSON.parse(readFileSync(out, 'utf8')) as DeploymentFile;
    expect(stdout).toContain(`FedmeshFederation at ${deployment.addresses.FedmeshFederation} on chain 31337`);
    expect(deployment).toMatchObject({ m: 2, t: 2, chainId: '31337', manifestHash: manifestHash(MANIFEST_VALUE) });
    node.kill('SIGINT');
    const [code] = await once(node, 'exit');
    expect(code).toBe(0);
  });
});
