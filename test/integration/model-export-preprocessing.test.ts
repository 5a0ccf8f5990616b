/**
 * Issue 17 item 8 through the product path: three in-process daemons (`startNodeDaemon`, real
 * libp2p on loopback, a real `hardhat node`) finalize a round of a table federation with a
 * categorical feature; `fedmesh model export` writes the finalized model and its card (verified
 * against the chain) and `fedmesh predict` scores a hospital's raw CSV — its columns in another
 * order, an extra column, codes written `2.0` — exactly as node 0's daemon preprocessed the same
 * rows for training (within 1e-6: see test/unit/model-preprocessing.test.ts for why not bit for bit).
 * Without public statistics: with `--site-config` the card carries node 0's statistics; without,
 * predict refuses the raw CSV (PREDICT_NO_STATISTICS). With public statistics: predict --manifest.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { main } from '../../node/cli/main.js';
import { loadNodeConfig } from '../../node/config/node-config.js';
import { type NodeDaemon, startNodeDaemon } from '../../node/daemon/daemon.js';
import { loadSiteData, modelSpecOf } from '../../node/daemon/setup.js';
import { createDevnet } from '../../node/devnet/devnet.js';
import { deployDevnet } from '../../node/devnet/up.js';
import { createLogger } from '../../node/logger.js';
import { initialModelHash } from '../../node/manifest/initial-model.js';
import { selectBackend } from '../../node/ml/backend.js';
import { Trainer } from '../../node/ml/trainer.js';
import { NodeStore } from '../../node/store/node-store.js';
import { type FederationManifest, manifestHash, parseManifest } from '../../protocol/manifest.js';
import { createRng } from '../../protocol/rng.js';
import { decodeWeights } from '../../protocol/weights-codec.js';
import { freeBasePort, until } from '../e2e/harness.js';

let chain: LocalChainNode | undefined;
const daemons: NodeDaemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await chain?.close();
});

const CLASSES = ['a', 'b', 'c'];

/** A site's rows (age, ward, bp, grade): age and bp around the class centre, a categorical `ward` (1–3) tied to the class. */
function siteRows(seed: number, rows: number): string[][] {
  const rng = createRng(seed, 'test/model-export-preprocessing');
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  return Array.from({ length: rows }, (_, i) => {
    const c = i % 3;
    const ward = rng.next() < 0.7 ? c + 1 : 1 + Math.floor(rng.next() * 3);
    return [(60 + 10 * c + 5 * gauss()).toFixed(3), String(ward), (120 - 15 * c + 8 * gauss()).toFixed(3), CLASSES[c]!];
  });
}

async function federate(publicStatistics: boolean) {
  await selectBackend({ prefer: 'wasm' });
  chain ??= await startLocalChainNode(0);
  const devnet = await createDevnet({
    dir: join(mkdtempSync(join(tmpdir(), 'fm-export-pre-')), 'net'),
    peers: 3,
    dataset: 'breast-cancer',
    seed: 9,
    rounds: 1,
    basePort: await freeBasePort(3),
    rpcUrl: chain.url,
    localEpochs: 1,
    scrypt: { N: 1 << 10, r: 8, p: 1 },
  });
  const manifest: FederationManifest = parseManifest({
    ...devnet.manifest,
    features: [
      { name: 'age', kind: 'numeric' },
      { name: 'ward', kind: 'categorical', categories: ['1', '2', '3'] },
      { name: 'bp', kind: 'numeric' },
    ],
    model: { kind: 'mlp', hidden: [6] },
    label: { name: 'grade', positive: 'b', negatives: ['a', 'c'] },
    task: { kind: 'multiclass', classes: CLASSES },
    training: { localEpochs: 2, batchSize: 8, learningRate: 0.05 },
    ...(publicStatistics
      ? {
          publicStatistics: {
            features: {
              age: { min: 40, max: 90, center: 70, scale: 10, fill: 70 },
              ward: { fill: '1' },
              bp: { min: 80, max: 150, center: 105, scale: 12, fill: 105 },
            },
          },
        }
      : {}),
  });
  const manifestPath = join(devnet.dir, 'manifest.json');
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  const rows = devnet.nodes.map((n) => siteRows(n.index, 60));
  devnet.nodes.forEach((n, i) => {
    writeFileSync(join(n.dir, 'data', 'site.csv'), `age,ward,bp,grade\n${rows[i]!.map((r) => r.join(',')).join('\n')}\n`);
  });
  const planPath = join(devnet.dir, 'deploy-plan.json');
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(
    planPath,
    JSON.stringify({ ...plan, manifestHash: manifestHash(manifest), initialModelHash: await initialModelHash(manifest, manifestPath) }),
  );
  await deployDevnet(devnet.dir);
  const quiet = createLogger('warn', {});
  for (const n of devnet.nodes) daemons.push(await startNodeDaemon({ config: n.config, log: quiet }));
  await until('round 1 adopted by every node', 200_000, async () => daemons.every((d) => d.status().roundsJoined.includes(1)));
  const head = daemons[0]!.status().model.hash;
  await Promise.all(daemons.splice(0).map((d) => d.stop()));

  // What node 0 trained on, preprocessed by its daemon's own path, and the finalized model's outputs on it.
  const node0 = devnet.nodes[0]!;
  const { data } = loadSiteData(loadNodeConfig(node0.config).data, manifest);
  const trainer = new Trainer(modelSpecOf(manifest), manifest.seed);
  trainer.setWeights(decodeWeights(new NodeStore(join(node0.dir, 'state')).getModel(head)!));
  const want = trainer.predict(data.x, data.n);
  trainer.dispose();
  expect(data.n).toBe(60);

  // The hospital's new-patient file: the same patients, columns reordered, an extra column, `2.0` for `2`.
  const csv = join(devnet.dir, 'new-patients.csv');
  const lines = rows[0]!.map((r) => ['x', r[2], r[3], `${r[1]}.0`, r[0]].join(','));
  writeFileSync(csv, `note,BP,grade,ward,age\n${lines.join('\n')}\n`);
  const exportArgs = [
    'model',
    'export',
    '--rpc',
    chain.url,
    '--deployment',
    join(devnet.dir, 'deployment.json'),
    '--manifest',
    manifestPath,
    '--round',
    '1',
    '--state-dir',
    join(node0.dir, 'state'),
  ];
  return { devnet, manifestPath, node0, want, csv, exportArgs };
}

/** The probabilities `fedmesh predict` wrote, row-major. */
function probabilities(path: string): number[] {
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  expect(header).toBe('a,b,c,predicted');
  return lines.flatMap((l) => l.split(',').slice(0, 3).map(Number));
}

function maxDiff(a: readonly number[], b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

describe('fedmesh model export → fedmesh predict on a raw CSV, through the daemon path', () => {
  it("without public statistics: --site-config carries node 0's statistics; without it predict refuses a raw CSV", async () => {
    const { devnet, node0, want, csv, exportArgs } = await federate(false);
    const out = join(devnet.dir, 'model-site');
    expect(await main([...exportArgs, '--site-config', node0.config, '--out', out])).toBe(0);
    const card = JSON.parse(readFileSync(join(out, 'card.json'), 'utf8'));
    expect(card.preprocessing).toMatchObject({ kind: 'table', source: 'site' });
    const predictions = join(devnet.dir, 'predictions.csv');
    expect(await main(['predict', '--model', out, '--data', csv, '--out', predictions])).toBe(0);
    expect(maxDiff(probabilities(predictions), want)).toBeLessThanOrEqual(1e-6);

    const bare = join(devnet.dir, 'model-bare');
    expect(await main([...exportArgs, '--out', bare])).toBe(0);
    expect(await main(['predict', '--model', bare, '--data', csv, '--out', join(devnet.dir, 'refused.csv')])).not.toBe(0);
  }, 300_000);

  it("with public statistics: the manifest's preprocessing, checked by predict --manifest", async () => {
    const { devnet, manifestPath, want, csv, exportArgs } = await federate(true);
    const out = join(devnet.dir, 'model-public');
    expect(await main([...exportArgs, '--out', out])).toBe(0);
    const predictions = join(devnet.dir, 'predictions.csv');
    expect(await main(['predict', '--model', out, '--data', csv, '--manifest', manifestPath, '--out', predictions])).toBe(0);
    expect(maxDiff(probabilities(predictions), want)).toBeLessThanOrEqual(1e-6);
  }, 300_000);
});
