/**
 * Four real libp2p peers on TCP 127.0.0.1 and the in-process Hardhat chain run two rounds
 * of plaintext FedAvg. Small chunks force multi-chunk gossip payloads.
 */
import { prepareSites } from '../../simulations/sites.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../protocol/rng.js';
import { toHex0x } from '../../protocol/bytes.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { loadBreastCancer } from '../../node/data/breast-cancer.js';
import { createLogger } from '../../node/logger.js';
import { selectBackend } from '../../node/ml/backend.js';
import { assertSimFinalized, startLocalFederation, type LocalFederation } from '../../simulations/local-federation.js';
import { evaluateAcrossSites } from '../../simulations/simulate.js';

describe('federation of 4 peers over libp2p + Hardhat', () => {
  let fed: LocalFederation;
  let evaluate: () => number;

  beforeAll(async () => {
    await selectBackend();
    const all = loadBreastCancer();
    const { test, standardizers, siteData } = prepareSites(all, {
      testFraction: 0.2,
      peers: 4,
      splitRng: createRng(7),
      partitionRng: createRng(8),
    });
    fed = await startLocalFederation({
      federation: 'itest',
      seed: 7,
      model: { kind: 'mlp', inputShape: [30], hidden: [16] },
      siteData,
      committeeSize: 3,
      timing: { collectMs: 30_000, recordGraceMs: 3_000 },
      training: { epochs: 2, batchSize: 16, learningRate: 0.01 },
      chunkSize: 512, // the MLP is ~2 KiB encoded: every payload spans several chunks
      log: createLogger('error'),
    });
    evaluate = () => evaluateAcrossSites(fed.trainers[0]!, test, standardizers).accuracy;
  });

  afterAll(async () => {
    await fed?.stop();
  });

  it('ends every round with one model on every peer, equal to the chain record, and learns', async () => {
    const initialAccuracy = evaluate();
    const chain = fed.federationClients[0]!;
    expect((await chain.info()).initialModelHash).toBe(fed.initialModelHash);

    for (const round of [1, 2]) {
      const outcomes = (await fed.runRound(round)).map(assertSimFinalized);
      const record = (await chain.getFinalizedRound(round))?.record;
      expect(record).toBeDefined();
      expect(record!.participants).toHaveLength(4);
      const hashes = new Set(fed.peers.map((p) => toHex0x(modelHash(p.weights))));
      expect(hashes).toEqual(new Set([record!.modelHash]));
      expect(outcomes.every((o) => o.record.modelHash === record!.modelHash)).toBe(true);
      // Exactly one committee member sent the finalizing transaction.
      expect(outcomes.filter((o) => o.recordedBySelf)).toHaveLength(1);
      expect(outcomes.every((o) => o.participantPath.at(-1) === 'adopted')).toBe(true);
      expect(outcomes.filter((o) => o.committeePath !== undefined)).toHaveLength(3);
    }
    expect(await chain.headModelHash()).toBe(toHex0x(modelHash(fed.peers[0]!.weights)));
    expect((await chain.getFinalizedRound(2))!.record.prevModelHash).toBe((await chain.getFinalizedRound(1))!.record.modelHash);

    const finalAccuracy = evaluate();
    expect(finalAccuracy).toBeGreaterThan(initialAccuracy + 0.2);
    expect(finalAccuracy).toBeGreaterThan(0.9);
    // Every gossip chunk that reached a peer passed validation.
    for (const p of fed.peers) {
      const verdicts = p.components.gossip.verdicts as Map<string, number>;
      expect([...verdicts.keys()].filter((k) => !k.startsWith('accept'))).toEqual([]);
      expect(verdicts.get('accept:OK') ?? 0).toBeGreaterThan(4);
    }
  });
});
