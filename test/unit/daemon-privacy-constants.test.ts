/**
 * `fedmesh node start` refuses a federation whose c_α are not the constants of the manifest's δ
 * or whose stored δ is not the manifest's (red team F10): NODE_PRIVACY_CONSTANTS_MISMATCH naming
 * both values. Against a real `hardhat node` with a DP devnet: the same manifest (its hash is the
 * one on chain, so checkManifest passes) deployed once with the δ → 1 floor constants at δ = 1e-5
 * (test/contracts/attack-calpha-delta.test.ts's deployment) and once at δ = 1e-6 with that δ's
 * constants; the devnet's own deployment passes the check. `checkPrivacyConstants` itself is
 * tested on values.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider, Network, type Signer } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployFederation } from '../../node/chain/federation-deploy.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { startNodeDaemon } from '../../node/daemon/daemon.js';
import { checkPrivacyConstants } from '../../node/daemon/setup.js';
import { createDevnet, type Devnet } from '../../node/devnet/devnet.js';
import { type DevnetDeployment, deployDevnet } from '../../node/devnet/up.js';
import { createLogger } from '../../node/logger.js';
import { cAlpha } from '../../protocol/chain/budget.js';
import { type FederationManifest, parseManifest } from '../../protocol/manifest.js';

const SCRYPT = { N: 1 << 10, r: 8, p: 1 };
const quiet = createLogger('silent');
/** The contract's C_ALPHA_FLOOR lanes plus 6 units (the δ → 1 limit; the constructor accepts them). */
const FLOOR_C_ALPHA = [-2_502_007n, -1_121_684n, -749_778n, -478_467n, -312_910n, -208_962n, -143_545n, -81_761n];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('checkPrivacyConstants on values', () => {
  const dp = (delta: number) => ({ dp: { epsilon: 1, delta, clipNorm: 1, sampleRate: 0.1 } }) as unknown as FederationManifest;
  const noDp = {} as FederationManifest;

  it('accepts cAlpha(δ) at the stored δ, including a δ the contract stores rounded (1/3000)', () => {
    expect(() => checkPrivacyConstants(dp(1e-5), { deltaE18: 10n ** 13n, cAlpha: cAlpha(1e-5) }, 'm.json')).not.toThrow();
    const third = 1 / 3000;
    const stored = BigInt(Math.round(third * 1e18));
    expect(() => checkPrivacyConstants(dp(third), { deltaE18: stored, cAlpha: cAlpha(third) }, 'm.json')).not.toThrow();
    // No DP section: the federation is held to its own δ.
    expect(() => checkPrivacyConstants(noDp, { deltaE18: 10n ** 13n, cAlpha: cAlpha(1e-5) }, 'm.json')).not.toThrow();
  });

  it('refuses the floor constants, another δ’s constants, and another δ, naming both values', () => {
    const refusal = (m: FederationManifest, deltaE18: bigint, c: readonly bigint[]) => {
      try {
        checkPrivacyConstants(m, { deltaE18, cAlpha: c }, 'm.json');
      } catch (e) {
        return e as { code: string; fields: Record<string, unknown>; message: string };
      }
      throw new Error('not refused');
    };
    const floor = refusal(dp(1e-5), 10n ** 13n, FLOOR_C_ALPHA);
    expect(floor).toMatchObject({
      code: 'NODE_PRIVACY_CONSTANTS_MISMATCH',
      fields: { field: 'cAlpha', lane: 0, order: 1.25, manifest: cAlpha(1e-5)[0]!.toString(), onChain: FLOOR_C_ALPHA[0]!.toString() },
    });
    expect(floor.message).toContain(FLOOR_C_ALPHA[0]!.toString());
    // Constants for 1e-3 on a contract storing 1e-5, with and without a manifest δ.
    expect(refusal(dp(1e-5), 10n ** 13n, cAlpha(1e-3)).fields).toMatchObject({ field: 'cAlpha', lane: 0 });
    expect(refusal(noDp, 10n ** 13n, cAlpha(1e-3)).fields).toMatchObject({ field: 'cAlpha', lane: 0 });
    // Only the last lane off by one unit.
    const last = cAlpha(1e-5).map((c, i) => (i === 7 ? c - 1n : c));
    expect(refusal(dp(1e-5), 10n ** 13n, last).fields).toMatchObject({ field: 'cAlpha', lane: 7, order: 64 });
    // A δ that is not the manifest's, even with constants that match the stored δ.
    expect(refusal(dp(1e-5), 10n ** 12n, cAlpha(1e-6)).fields).toEqual({ field: 'delta', manifest: '0.00001', onChain: '0.000001' });
  });
});

let chain: LocalChainNode;
let devnet: Devnet;
let deployment: DevnetDeployment;
let root: string;
let signer: Signer;
let provider: JsonRpcProvider;

beforeAll(async () => {
  chain = await startLocalChainNode(0);
  root = mkdtempSync(join(tmpdir(), 'fm-daemon-calpha-'));
  devnet = await createDevnet({
    dir: join(root, 'net'),
    peers: 2,
    dataset: 'breast-cancer',
    seed: 5,
    rounds: 2,
    basePort: Math.min(await freePort(), 60_000),
    rpcUrl: chain.url,
    localEpochs: 1,
    dpEpsilon: 4,
    scrypt: SCRYPT,
    timing: { meshWaitMs: 60_000 },
  });
  deployment = await deployDevnet(devnet.dir);
  const network = Network.from(chain.chainId);
  provider = new JsonRpcProvider(chain.url, network, { staticNetwork: network, cacheTimeout: -1, pollingInterval: 100 });
  const [first] = (await provider.send('eth_accounts', [])) as string[];
  signer = await provider.getSigner(first);
}, 180_000);

afterAll(async () => {
  provider?.destroy();
  await chain?.close();
});

/** Node 0 pointed at a federation deployed with `delta` and `constants`, everything else the devnet's. */
async function startAgainst(name: string, delta: number, constants: readonly bigint[]): Promise<unknown> {
  const deployed = await deployFederation(signer, {
    initialModelHash: deployment.initialModelHash,
    manifestHash: deployment.manifestHash,
    committeeSize: deployment.m,
    threshold: deployment.t,
    inputDurationSec: 600,
    finalizeDurationSec: 600,
    delta,
    cAlpha: constants,
  });
  const dir = join(root, name);
  mkdirSync(dir);
  cpSync(devnet.nodes[0]!.dir, join(dir, 'node'), { recursive: true });
  cpSync(join(devnet.dir, 'manifest.json'), join(dir, 'manifest.json'));
  const file = JSON.parse(readFileSync(join(devnet.dir, 'deployment.json'), 'utf8'));
  writeFileSync(
    join(dir, 'deployment.json'),
    JSON.stringify({
      ...file,
      addresses: { FedmeshFederation: deployed.address },
      deployBlock: deployed.blockNumber,
      delta,
      cAlpha: constants.map(String),
    }),
  );
  return startNodeDaemon({ config: join(dir, 'node', 'config.yaml'), log: quiet }).then(
    async (d) => {
      await d.stop();
      return d;
    },
    (e: unknown) => e,
  );
}

describe('fedmesh node start: c_α and δ against the manifest (F10)', () => {
  it('the devnet deployment (δ = 1e-5, cAlpha(1e-5)) has the manifest’s constants', () => {
    const manifest = parseManifest(JSON.parse(readFileSync(join(devnet.dir, 'manifest.json'), 'utf8')));
    expect(manifest.dp?.delta).toBe(1e-5);
    expect(deployment.cAlpha).toEqual(cAlpha(1e-5).map(String));
    expect(() => checkPrivacyConstants(manifest, { deltaE18: 10n ** 13n, cAlpha: cAlpha(1e-5) }, 'manifest.json')).not.toThrow();
  });

  it('refuses the δ → 1 floor constants at δ = 1e-5, naming the lane and both values', async () => {
    const err = await startAgainst('floor', 1e-5, FLOOR_C_ALPHA);
    expect(err).toMatchObject({
      code: 'NODE_PRIVACY_CONSTANTS_MISMATCH',
      fields: { field: 'cAlpha', lane: 0, manifest: cAlpha(1e-5)[0]!.toString(), onChain: FLOOR_C_ALPHA[0]!.toString() },
    });
  }, 120_000);

  it('refuses a federation deployed at another δ (with that δ’s own constants)', async () => {
    const err = await startAgainst('delta', 1e-6, cAlpha(1e-6));
    expect(err).toMatchObject({
      code: 'NODE_PRIVACY_CONSTANTS_MISMATCH',
      fields: { field: 'delta', manifest: '0.00001', onChain: '0.000001' },
    });
  }, 120_000);
});
