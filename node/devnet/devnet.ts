/**
 * `fedmesh devnet --peers N --dir DIR`: everything a real local federation of N separate
 * node processes needs, created but not started:
 *
 *   DIR/manifest.json          the federation manifest (its hash goes on chain at deployment)
 *   DIR/members.json           peer ids and Ethereum addresses to register (chain deploy's format)
 *   DIR/deploy-plan.json       what `devnet up` deploys: manifest hash, initial model hash, m, t
 *   DIR/node-<i>/              keystore/, config.yaml, passphrase (dev only), data/site.csv
 *   DIR/commands.txt           the exact commands to run, also printed
 *
 * The bundled data set is split with the same seeded, stratified split as the simulator;
 * the held-out test rows go to DIR/test.csv for evaluation by an auditor.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { stratifiedSplit, partitionIid, selectRows, type LabelledData } from '../../protocol/data.js';
import { type FederationManifest, manifestHash, parseManifest } from '../../protocol/manifest.js';
import { createRng } from '../../protocol/rng.js';
import { referenceStatistics } from '../../protocol/privacy/public-statistics.js';
import { loadBreastCancer } from '../data/breast-cancer.js';
import { DEFAULT_SCRYPT, type ScryptParams } from '../keystore/keystore.js';
import { initNodeDir } from '../keystore/init.js';
import { toHex0x } from '../../protocol/bytes.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { modelSpecOf } from '../daemon/setup.js';
import { selectBackend } from '../ml/backend.js';
import { Trainer } from '../ml/trainer.js';

/** Feature names of the Breast Cancer Wisconsin (Diagnostic) columns, in file order. */
export const BREAST_CANCER_FEATURE_NAMES: readonly string[] = ['mean', 'se', 'worst'].flatMap((stat) =>
  [
    'radius',
    'texture',
    'perimeter',
    'area',
    'smoothness',
    'compactness',
    'concavity',
    'concave_points',
    'symmetry',
    'fractal_dimension',
  ].map((f) => `${stat}_${f}`),
);

export interface DevnetOptions {
  readonly dir: string;
  readonly peers: number;
  readonly dataset: 'breast-cancer';
  readonly seed: number;
  readonly rounds: number;
  /** First TCP port; node i listens on basePort + i and serves ops on basePort + 100 + i. */
  readonly basePort: number;
  readonly rpcUrl: string;
  readonly scrypt?: ScryptParams;
  /** The federation's DP target ε (δ = 1e-5, C = 1) in the manifest; absent: no DP. At most DEVNET_EPSILON_CAP. */
  readonly dpEpsilon?: number;
  /** Local epochs per round in the manifest (default 2). */
  readonly localEpochs?: number;
  /** Local round deadlines written to every node's config (ms); defaults suit a loopback devnet. */
  readonly timing?: Partial<DevnetTiming>;
}

export interface DevnetTiming {
  readonly keysMs: number;
  readonly collectMs: number;
  readonly recordGraceMs: number;
  readonly meshWaitMs: number;
  readonly pauseMs: number;
  readonly openSettleMs: number;
  readonly chainPollMs: number;
}

/** Loopback deadlines: short, since every node is on this machine; a silent node costs one collectMs. */
export const DEVNET_TIMING: DevnetTiming = {
  keysMs: 5_000,
  collectMs: 20_000,
  recordGraceMs: 2_000,
  meshWaitMs: 20_000,
  pauseMs: 1_000,
  openSettleMs: 2_000,
  chainPollMs: 200,
};

/**
 * Contract round windows for a devnet (s): above a round with one silent member (collectMs and
 * the unmasking after it), short enough that a stalled round is aborted within a minute or so.
 */
export const DEVNET_WINDOWS = { inputDurationSec: 40, finalizeDurationSec: 40 } as const;

/** Each devnet member's ε cap on chain. */
export const DEVNET_EPSILON_CAP = 8;

/** What `devnet up` deploys (DIR/deploy-plan.json). */
export interface DeployPlan {
  readonly manifestHash: `0x${string}`;
  readonly initialModelHash: `0x${string}`;
  readonly members: string;
  readonly committee: { readonly size: number; readonly threshold: number };
  readonly inputDurationSec: number;
  readonly finalizeDurationSec: number;
  readonly rpcUrl: string;
  readonly seed: number;
}

export interface DevnetNode {
  readonly index: number;
  readonly dir: string;
  readonly peerId: string;
  readonly address: string;
  readonly listen: string;
  readonly opsPort: number;
  readonly config: string;
}

export interface Devnet {
  readonly dir: string;
  readonly manifest: FederationManifest;
  readonly manifestHash: string;
  readonly nodes: readonly DevnetNode[];
  readonly commands: readonly string[];
}

function toCsv(d: LabelledData, names: readonly string[]): string {
  const f = names.length;
  const lines = [[...names, 'diagnosis'].join(',')];
  for (let i = 0; i < d.n; i++) {
    const row = Array.from(d.x.subarray(i * f, (i + 1) * f), (v) => String(v));
    lines.push([...row, d.y[i] === 1 ? 'malignant' : 'benign'].join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** The devnet's public DP sampling rate q (manifest `dp.sampleRate`). */
const DEVNET_DP_SAMPLE_RATE = 0.25;

export async function createDevnet(o: DevnetOptions): Promise<Devnet> {
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true });
  const all = loadBreastCancer();
  const split = stratifiedSplit(all.y, 0.2, createRng(o.seed, 'fedmesh/sim/split'));
  const train = selectRows(all, split.train);
  const manifest = parseManifest({
    version: 1,
    federation: 'devnet',
    seed: o.seed,
    model: { kind: 'mlp', hidden: [16] },
    features: BREAST_CANCER_FEATURE_NAMES.map((name) => ({ name, kind: 'numeric' })),
    label: { name: 'diagnosis', positive: 'malignant', negatives: ['benign'] },
    rounds: o.rounds,
    training: { localEpochs: o.localEpochs ?? 2, batchSize: 16, learningRate: 0.01 },
    committee: { size: Math.min(3, o.peers), threshold: Math.floor(Math.min(3, o.peers) / 2) + 1 },
    // issue 15 (H5): with DP, q is fixed here (batch 16 of a site's ~50–100 rows) and every site
    // preprocesses with public statistics — in a devnet the held-out split's (test.csv), which no
    // node trains on, standing in for a published reference cohort.
    ...(o.dpEpsilon !== undefined
      ? {
          dp: { epsilon: o.dpEpsilon, delta: 1e-5, clipNorm: 1, sampleRate: DEVNET_DP_SAMPLE_RATE },
          publicStatistics: { features: referenceStatistics(BREAST_CANCER_FEATURE_NAMES, selectRows(all, split.test)) },
        }
      : {}),
  });
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  writeFileSync(join(dir, 'test.csv'), toCsv(selectRows(all, split.test), BREAST_CANCER_FEATURE_NAMES));
  const parts = partitionIid(
    Array.from({ length: train.n }, (_, i) => i),
    train.y,
    o.peers,
    createRng(o.seed, 'fedmesh/sim/partition'),
  );

  const nodes: DevnetNode[] = [];
  for (let i = 0; i < o.peers; i++) {
    const nodeDir = join(dir, `node-${i}`);
    const passphrase = `devnet-${o.seed}-${i}`; // dev only: real nodes never keep a passphrase in clear
    const init = await initNodeDir(nodeDir, passphrase, o.scrypt ?? DEFAULT_SCRYPT, { allowWeak: true });
    writeFileSync(join(nodeDir, 'passphrase'), `${passphrase}\n`, { mode: 0o600 });
    mkdirSync(join(nodeDir, 'data'), { recursive: true });
    writeFileSync(join(nodeDir, 'data', 'site.csv'), toCsv(selectRows(train, parts[i]!), BREAST_CANCER_FEATURE_NAMES));
    nodes.push({
      index: i,
      dir: nodeDir,
      peerId: init.peerId,
      address: init.address,
      listen: `/ip4/127.0.0.1/tcp/${o.basePort + i}`,
      opsPort: o.basePort + 100 + i,
      config: init.configPath,
    });
  }
  const t = { ...DEVNET_TIMING, ...o.timing };
  for (const n of nodes) {
    const bootstrap = nodes.filter((m) => m.index !== n.index).map((m) => `${m.listen}/p2p/${m.peerId}`);
    writeFileSync(
      n.config,
      `# fedmesh devnet node ${n.index} (generated; see docs/operator-guide.md for the full reference)
keystore: ./keystore
passphraseFile: ./passphrase
manifest: ../manifest.json
stateDir: ./state
network:
  listen: ["${n.listen}"]
  bootstrap: ${JSON.stringify(bootstrap)}
chain:
  rpcUrl: ${o.rpcUrl}
  deployment: ../deployment.json
  confirmations: 1
  pollMs: ${t.chainPollMs}
data:
  kind: csv
  path: ./data/site.csv
  missing: drop
rounds:
  keysMs: ${t.keysMs}
  collectMs: ${t.collectMs}
  recordGraceMs: ${t.recordGraceMs}
  meshWaitMs: ${t.meshWaitMs}
  pauseMs: ${t.pauseMs}
  openSettleMs: ${t.openSettleMs}
ops:
  host: 127.0.0.1
  port: ${n.opsPort}
log:
  level: info
`,
    );
  }
  // The members file `fedmesh chain deploy` reads (node/chain/deployment.ts).
  const members = nodes.map((n) => ({
    address: n.address,
    peerId: n.peerId,
    name: `devnet node-${n.index}`,
    epsilonCap: DEVNET_EPSILON_CAP,
  }));
  writeFileSync(join(dir, 'members.json'), `${JSON.stringify({ members }, null, 2)}\n`);
  const mHash = manifestHash(manifest);
  // The agreed initial model: every node builds it from the manifest's seed; its hash goes on chain.
  await selectBackend();
  const trainer = new Trainer(modelSpecOf(manifest), manifest.seed);
  const initialModelHash = toHex0x(modelHash(trainer.getWeights()));
  trainer.dispose();
  const plan: DeployPlan = {
    manifestHash: mHash,
    initialModelHash,
    members: 'members.json',
    committee: manifest.committee,
    ...DEVNET_WINDOWS,
    rpcUrl: o.rpcUrl,
    seed: o.seed,
  };
  writeFileSync(join(dir, 'deploy-plan.json'), `${JSON.stringify(plan, null, 2)}\n`);
  const rel = (p: string): string => relative(process.cwd(), p) || '.';
  const commands = [
    `npx fedmesh chain start --port ${new URL(o.rpcUrl).port || 8545}`,
    `npx fedmesh devnet deploy --dir ${rel(dir)}`,
    ...nodes.map((n) => `npx fedmesh node start --dir ${rel(n.dir)}`),
  ];
  writeFileSync(join(dir, 'commands.txt'), `${commands.join('\n')}\n`);
  return { dir, manifest, manifestHash: mHash, nodes, commands };
}
