/**
 * A short real federation for the auditor's tests: 4 libp2p peers on 127.0.0.1 with secure
 * aggregation and DP-SGD, FedmeshFederation on the in-process Hardhat chain, and that same chain
 * served over HTTP JSON-RPC (`startLocalChainNode`: `startInProcessChain()` is one network per
 * process, so the peers and the RPC server share it). Writes the deployment JSON the way
 * `fedmesh chain deploy` does and each adopted model as `<hash>.fmwt` into an artifacts folder,
 * as a node's store keeps them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toHex0x } from '../../protocol/bytes.js';
import { cAlpha, ONCHAIN_RDP_ORDERS, RDP_SCALE } from '../../protocol/chain/budget.js';
import { featureSize, standardize } from '../../protocol/data.js';
import { createRng } from '../../protocol/rng.js';
import { SECAGG_DEFAULTS } from '../../protocol/secure-aggregation/config.js';
import { encodeWeights, modelHash } from '../../protocol/weights-codec.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { loadBreastCancer } from '../../node/data/breast-cancer.js';
import { createLogger } from '../../node/logger.js';
import { selectBackend } from '../../node/ml/backend.js';
import type { ModelWeights } from '../../protocol/model.js';
import {
  type LocalFederation,
  type LocalFederationOptions,
  SIM_FEDERATION_DELTA,
  startLocalFederation,
} from '../../simulations/local-federation.js';
import { prepareSites } from '../../simulations/sites.js';

export const AUDIT_FIXTURE_PEERS = 4;
/** m = 3, t = 2 out of 4 members: the committee is a strict subset, so a wrong one can be told apart. */
const CONFIG = { ...SECAGG_DEFAULTS, committeeSize: 3, threshold: 2 };
export const AUDIT_FIXTURE_MODEL = { kind: 'mlp' as const, inputShape: [30], hidden: [8] };

export interface AuditedFederation {
  readonly node: LocalChainNode;
  readonly fed: LocalFederation;
  readonly deploymentPath: string;
  readonly artifactsDir: string;
  /** Rounds run so far. */
  rounds: number;
  /** Runs the next round and writes its model artifact. */
  runRound(): Promise<void>;
  /** Held-out rows, standardised like the sites' ({model, x, y}: node/audit/evaluate.ts). */
  readonly testData: { model: typeof AUDIT_FIXTURE_MODEL; x: number[][]; y: number[] };
  stop(): Promise<void>;
}

async function writeArtifact(dir: string, w: ModelWeights): Promise<string> {
  const hash = toHex0x(modelHash(w));
  await writeFile(join(dir, `${hash.slice(2)}.fmwt`), encodeWeights(w));
  return hash;
}

export async function startAuditedFederation(
  dir: string,
  federation = 'itest-audit',
  opts: Pick<LocalFederationOptions, 'serverOptimizer' | 'wrapTrainer' | 'manifestHash'> = {},
): Promise<AuditedFederation> {
  await selectBackend();
  const all = loadBreastCancer();
  const {
    siteData,
    test: rawTest,
    standardizers,
  } = prepareSites(all, {
    testFraction: 0.2,
    peers: AUDIT_FIXTURE_PEERS,
    splitRng: createRng(41),
    partitionRng: createRng(42),
  });
  const node = await startLocalChainNode(0);
  const fed = await startLocalFederation({
    federation,
    seed: 43,
    model: AUDIT_FIXTURE_MODEL,
    siteData,
    committeeSize: 3,
    // Generous timers: a fault-free round waits on none of them (each wait ends when what it waits for
    // has arrived), and under load 20 on 2 cores an honest input can take longer than 6 s.
    timing: { collectMs: 15_000, recordGraceMs: 1_600 },
    training: {
      epochs: 1,
      batchSize: 16,
      learningRate: 0.01,
      dp: { noiseMultiplier: 1.1, clipNorm: 1, sampleRate: 0.1, randomness: 'seeded' },
    },
    log: createLogger('error'),
    secureAggregation: { config: CONFIG, keysMs: 7_500 },
    ...(opts.serverOptimizer !== undefined ? { serverOptimizer: opts.serverOptimizer } : {}),
    ...(opts.wrapTrainer !== undefined ? { wrapTrainer: opts.wrapTrainer } : {}),
    ...(opts.manifestHash !== undefined ? { manifestHash: opts.manifestHash } : {}),
  });
  const artifactsDir = join(dir, 'models');
  await mkdir(artifactsDir, { recursive: true });
  await writeArtifact(artifactsDir, fed.peers[0]!.weights);
  const deploymentPath = join(dir, 'deployment.json');
  // What `fedmesh chain deploy` writes (node/chain/deployment.ts DeploymentFile). The simulator
  // deploys from the first in-process account and does not report the block, so the auditor
  // replays from block 0; its logs are filtered by address anyway.
  const deployment = {
    version: 1,
    contract: 'FedmeshFederation',
    chainId: node.chainId.toString(),
    addresses: { FedmeshFederation: fed.ledgerAddress },
    deployBlock: 0,
    admin: node.accounts[0],
    initialModelHash: fed.initialModelHash,
    delta: SIM_FEDERATION_DELTA,
    orders: [...ONCHAIN_RDP_ORDERS],
    cAlpha: cAlpha(SIM_FEDERATION_DELTA).map(String),
    rdpScale: RDP_SCALE.toString(),
    m: CONFIG.committeeSize,
    t: CONFIG.threshold,
  };
  await writeFile(deploymentPath, `${JSON.stringify(deployment, null, 2)}\n`);
  // Scored as site 0 would: standardised with its own statistics.
  const test = standardize(rawTest, standardizers[0]!);
  const f = featureSize(test);
  const x: number[][] = [];
  for (let i = 0; i < test.n; i++) x.push(Array.from(test.x.subarray(i * f, (i + 1) * f)));
  const audited: AuditedFederation = {
    node,
    fed,
    deploymentPath,
    artifactsDir,
    rounds: 0,
    testData: { model: AUDIT_FIXTURE_MODEL, x, y: Array.from(test.y) },
    runRound: async () => {
      const round = audited.rounds + 1;
      const outcomes = await fed.runRound(round);
      const bad = outcomes.filter((o) => (o as { status?: string }).status === 'aborted');
      if (bad.length > 0) throw new Error(`round ${round} aborted`);
      audited.rounds = round;
      await writeArtifact(artifactsDir, fed.peers[0]!.weights);
    },
    stop: async () => {
      await fed.stop();
      await node.close();
    },
  };
  return audited;
}
