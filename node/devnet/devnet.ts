/**
 * `fedmesh devnet --peers N --dir DIR`: everything a real local federation of N separate
 * node processes needs, created but not started:
 *
 *   DIR/manifest.json          the federation manifest (its hash goes on chain at deployment)
 *   DIR/members.json           peer ids and Ethereum addresses to register
 *   DIR/deploy-plan.json       what `fedmesh chain deploy` should deploy
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
import { loadBreastCancer } from '../data/breast-cancer.js';
import { DEFAULT_SCRYPT, type ScryptParams } from '../keystore/keystore.js';
import { initNodeDir } from '../keystore/init.js';

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

export async function createDevnet(o: DevnetOptions): Promise<Devnet> {
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true });
  const manifest = parseManifest({
    version: 1,
    federation: 'devnet',
    seed: o.seed,
    model: { kind: 'mlp', hidden: [16] },
    features: BREAST_CANCER_FEATURE_NAMES.map((name) => ({ name, kind: 'numeric' })),
    label: { name: 'diagnosis', positive: 'malignant', negatives: ['benign'] },
    rounds: o.rounds,
    training: { localEpochs: 2, batchSize: 16, learningRate: 0.01 },
    committee: { size: Math.min(3, o.peers), threshold: Math.floor(Math.min(3, o.peers) / 2) + 1 },
  });
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  const all = loadBreastCancer();
  const split = stratifiedSplit(all.y, 0.2, createRng(o.seed, 'fedmesh/sim/split'));
  const train = selectRows(all, split.train);
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
    const init = await initNodeDir(nodeDir, passphrase, o.scrypt ?? DEFAULT_SCRYPT);
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
data:
  kind: csv
  path: ./data/site.csv
  missing: drop
ops:
  host: 127.0.0.1
  port: ${n.opsPort}
log:
  level: info
`,
    );
  }
  const members = nodes.map((n) => ({ peerId: n.peerId, address: n.address, metadataURI: `devnet://node-${n.index}` }));
  writeFileSync(join(dir, 'members.json'), `${JSON.stringify(members, null, 2)}\n`);
  const mHash = manifestHash(manifest);
  writeFileSync(
    join(dir, 'deploy-plan.json'),
    `${JSON.stringify({ manifestHash: mHash, members: 'members.json', committee: manifest.committee, seed: o.seed }, null, 2)}\n`,
  );
  const rel = (p: string): string => relative(process.cwd(), p) || '.';
  const commands = [
    `npx fedmesh chain start --port ${new URL(o.rpcUrl).port || 8545}`,
    `npx fedmesh chain deploy --rpc ${o.rpcUrl} --members ${rel(join(dir, 'members.json'))} --manifest ${rel(join(dir, 'manifest.json'))} --out ${rel(join(dir, 'deployment.json'))}`,
    ...nodes.map((n) => `npx fedmesh node start --config ${rel(n.config)}`),
  ];
  writeFileSync(join(dir, 'commands.txt'), `${commands.join('\n')}\n`);
  return { dir, manifest, manifestHash: mHash, nodes, commands };
}
