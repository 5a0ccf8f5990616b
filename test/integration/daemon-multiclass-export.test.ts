/**
 * Issue 16 through the daemon path: a 3-class federation of three in-process daemons
 * (`startNodeDaemon`, the code `fedmesh node start` runs) on a real `hardhat node` and real
 * libp2p on loopback finalizes a round; then `fedmesh model export` writes that round's model
 * from a node's state folder, verified against the chain's record, and `fedmesh predict` reads it.
 * A tampered artifact is refused with MODEL_HASH_MISMATCH naming both hashes, and nothing is written.
 * The same with the manifest naming an own tfjs model (`model.kind: tfjs`, frozen base): the daemons,
 * the deploy plan's initial hash and the export all build it from the folder next to the manifest.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { type FederationManifest, manifestHash, parseManifest } from '../../protocol/manifest.js';
import { createRng } from '../../protocol/rng.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { main } from '../../node/cli/main.js';
import { type NodeDaemon, startNodeDaemon } from '../../node/daemon/daemon.js';
import { createDevnet } from '../../node/devnet/devnet.js';
import { deployDevnet } from '../../node/devnet/up.js';
import { createLogger } from '../../node/logger.js';
import { initialModelHash } from '../../node/manifest/initial-model.js';
import { loadModelWithCard, predictRows } from '../../node/ml/model-card.js';
import { exportVerifiedModel } from '../../node/ml/model-export.js';
import { artifactsHash, readModelArtifacts, saveLayersModel } from '../../node/ml/model-io.js';
import { NodeStore } from '../../node/store/node-store.js';
import { freeBasePort, until } from '../e2e/harness.js';

let chain: LocalChainNode | undefined;
const daemons: NodeDaemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await chain?.close();
});

const CLASSES = ['a', 'b', 'c'];
const CENTRES = [
  [-2, 0],
  [2, 0],
  [0, 2.5],
];

/** A site's rows: three well-separated Gaussian classes (seeded), as the CSV a hospital would hold. */
function siteCsv(seed: number, rows: number): string {
  const rng = createRng(seed, 'test/daemon-multiclass');
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const lines = ['f1,f2,grade'];
  for (let i = 0; i < rows; i++) {
    const c = i % 3;
    lines.push(`${(CENTRES[c]![0]! + 0.6 * gauss()).toFixed(4)},${(CENTRES[c]![1]! + 0.6 * gauss()).toFixed(4)},${CLASSES[c]}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * A devnet of three in-process daemons federating `model` on the 3-class task for one round:
 * the devnet's manifest, each site's CSV and the deploy plan's hashes are replaced before
 * deployment (the initial model is the task's head, or the own model next to the manifest).
 */
async function federate(modelOf: (dir: string) => Promise<Record<string, unknown>>) {
  chain ??= await startLocalChainNode(0);
  const devnet = await createDevnet({
    dir: join(mkdtempSync(join(tmpdir(), 'fm-multiclass-')), 'net'),
    peers: 3,
    dataset: 'breast-cancer',
    seed: 7,
    rounds: 1,
    basePort: await freeBasePort(3),
    rpcUrl: chain.url,
    localEpochs: 1,
    scrypt: { N: 1 << 10, r: 8, p: 1 },
  });
  const model = await modelOf(devnet.dir);
  const manifest: FederationManifest = parseManifest({
    ...devnet.manifest,
    features: [
      { name: 'f1', kind: 'numeric' },
      { name: 'f2', kind: 'numeric' },
    ],
    model,
    label: { name: 'grade', positive: 'b', negatives: ['a', 'c'] },
    task: { kind: 'multiclass', classes: CLASSES },
    training: { localEpochs: 2, batchSize: 8, learningRate: 0.05 },
  });
  const manifestPath = join(devnet.dir, 'manifest.json');
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  for (const n of devnet.nodes) writeFileSync(join(n.dir, 'data', 'site.csv'), siteCsv(n.index, 60));
  const planPath = join(devnet.dir, 'deploy-plan.json');
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as Record<string, unknown>;
  const initial = await initialModelHash(manifest, manifestPath);
  writeFileSync(planPath, JSON.stringify({ ...plan, manifestHash: manifestHash(manifest), initialModelHash: initial }));
  await deployDevnet(devnet.dir);

  const quiet = createLogger('warn', {});
  for (const n of devnet.nodes) daemons.push(await startNodeDaemon({ config: n.config, log: quiet }));
  expect(daemons[0]!.status().task).toEqual({ kind: 'multiclass', outputs: CLASSES });
  await until('round 1 adopted by every node', 200_000, async () => daemons.every((d) => d.status().roundsJoined.includes(1)));
  const head = daemons[0]!.status().model.hash;
  expect(head).not.toBe(initial);
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
  const args = ['model', 'export', '--rpc', chain.url, '--deployment', join(devnet.dir, 'deployment.json'), '--manifest', manifestPath];
  return { devnet, manifest, head, args };
}

describe('a multiclass federation through the daemon, and its model exported against the chain', () => {
  it('trains 3 classes at every node, exports the finalized model verified on chain, refuses a tampered one', async () => {
    const { devnet, manifest, head, args } = await federate(async () => ({ kind: 'mlp', hidden: [8] }));

    // Export from node 0's state folder, verified against round 1's record.
    const stateDir = join(devnet.nodes[0]!.dir, 'state');
    const out = join(devnet.dir, 'exported');
    expect(await main([...args, '--round', '1', '--state-dir', stateDir, '--out', out])).toBe(0);
    const { model, card } = await loadModelWithCard(out);
    expect(card.modelHash).toBe(head);
    expect(card.task).toEqual({ kind: 'multiclass', classes: CLASSES });
    expect(card.features).toEqual(['f1', 'f2']);
    const preds = predictRows(model, card, Float32Array.from([-2, 0, 2, 0, 0, 2.5]), 3);
    model.dispose();
    for (const p of preds) expect(p.outputs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    // By model hash too, from an artifact file.
    const artifact = new NodeStore(stateDir).getModel(head)!;
    const file = join(devnet.dir, 'model.fmwt');
    writeFileSync(file, artifact);
    expect(await main([...args, '--hash', head, '--artifact', file, '--out', join(devnet.dir, 'by-hash')])).toBe(0);

    // A tampered artifact (one weight byte changed) is refused, naming both hashes; nothing written.
    const tampered = Uint8Array.from(artifact);
    tampered[tampered.length - 2]! ^= 0x01;
    writeFileSync(file, tampered);
    const refusedOut = join(devnet.dir, 'refused');
    expect(await main([...args, '--round', '1', '--artifact', file, '--out', refusedOut])).toBe(1);
    expect(existsSync(refusedOut)).toBe(false);
    const err = await exportVerifiedModel({
      manifest,
      chain: { round: 1, modelHash: head, recordHash: `0x${'00'.repeat(32)}`, manifestHash: manifestHash(manifest) },
      artifact: tampered,
      out: refusedOut,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_HASH_MISMATCH', fields: { expected: head, round: 1 } });
    expect((err as { fields: { actual: string } }).fields.actual).toMatch(/^0x[0-9a-f]{64}$/);
    expect((err as { fields: { actual: string } }).fields.actual).not.toBe(head);
    expect((err as Error).message).toContain(head);
    // A manifest that is not the federation's is refused too (its task and features would mislabel the model).
    const other = parseManifest({ ...manifest, rounds: 2 });
    await expect(
      exportVerifiedModel({
        manifest: other,
        chain: { round: 1, modelHash: head, recordHash: `0x${'00'.repeat(32)}`, manifestHash: manifestHash(manifest) },
        artifact,
        out: refusedOut,
      }),
    ).rejects.toMatchObject({
      code: 'MODEL_EXPORT_MANIFEST_MISMATCH',
      fields: { expected: manifestHash(manifest), actual: manifestHash(other) },
    });
  }, 300_000);

  it('federates the own tfjs model the manifest names (frozen base), and exports it with its source hash', async () => {
    let sourceHash = '';
    let baseKernel: number[] = [];
    const { devnet, head, args } = await federate(async (dir) => {
      // The hospital's own network: Dense 2→4 `base_dense` (frozen) + 4→3 softmax `head`.
      const own = tf.sequential({
        layers: [
          tf.layers.dense({ inputShape: [2], units: 4, activation: 'relu', name: 'base_dense' }),
          tf.layers.dense({ units: 3, activation: 'softmax', name: 'head' }),
        ],
      });
      baseKernel = Array.from(own.getLayer('base_dense').getWeights()[0]!.dataSync());
      await saveLayersModel(own, join(dir, 'own'));
      own.dispose();
      sourceHash = artifactsHash(readModelArtifacts(join(dir, 'own')));
      return { kind: 'tfjs', path: 'own', sourceHash, freeze: ['base'] };
    });
    const out = join(devnet.dir, 'exported');
    const stateDir = join(devnet.nodes[0]!.dir, 'state');
    expect(await main([...args, '--round', '1', '--state-dir', stateDir, '--out', out])).toBe(0);
    const { model, card } = await loadModelWithCard(out);
    expect(card.modelHash).toBe(head);
    expect(card.sourceHash).toBe(sourceHash);
    // Only the head was federated; the frozen base is the manifest's, bit for bit.
    expect(Array.from(model.getLayer('base_dense').getWeights()[0]!.dataSync())).toEqual(baseKernel);
    model.dispose();
  }, 300_000);
});
