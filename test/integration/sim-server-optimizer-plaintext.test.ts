/**
 * FedAvgM on the plaintext path (protocol/round-machine/plaintext-committee.ts): 3 libp2p peers
 * on 127.0.0.1, all on the committee, FedmeshFederation on the in-process Hardhat chain. Each
 * recorded model hash is exactly serverStep(w_{t−1}, w_t, FedAvg of the recorded participants'
 * trained models) — the bits every node computes — and differs from the plain FedAvg model from
 * round 2 on; after one node restarts, the next record is still that step (its committee share
 * rebuilt w_{t−1} from the store).
 * The record's aggregateHash binds the average, kept by the committee for the auditor.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadBreastCancer } from '../../node/data/breast-cancer.js';
import { createLogger } from '../../node/logger.js';
import { selectBackend } from '../../node/ml/backend.js';
import type { LocalTrainer } from '../../node/services/round-driver.js';
import { toHex0x } from '../../protocol/bytes.js';
import type { LabelledData } from '../../protocol/data.js';
import { fedAvg } from '../../protocol/fedavg.js';
import { decodeAnyAggregate } from '../../protocol/messages/update.js';
import type { ModelWeights } from '../../protocol/model.js';
import { createRng } from '../../protocol/rng.js';
import { type ServerOptimizer, serverStep } from '../../protocol/server-optimizer.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { assertSimFinalized, type LocalFederation, startLocalFederation } from '../../simulations/local-federation.js';
import { prepareSites } from '../../simulations/sites.js';

const OPTIMIZER: ServerOptimizer = { kind: 'fedavgm', momentum: 0.5, learningRate: 2 };
const PEERS = 3;

describe('FedAvgM on the plaintext path', () => {
  let fed: LocalFederation;
  let siteData: readonly LabelledData[];
  const trained = new Map<number, ModelWeights>();

  beforeAll(async () => {
    await selectBackend();
    ({ siteData } = prepareSites(loadBreastCancer(), {
      testFraction: 0.2,
      peers: PEERS,
      splitRng: createRng(17),
      partitionRng: createRng(18),
    }));
    fed = await startLocalFederation({
      federation: 'itest-fedavgm-plain',
      seed: 17,
      model: { kind: 'mlp', inputShape: [30], hidden: [8] },
      siteData,
      committeeSize: PEERS,
      timing: { collectMs: 30_000, recordGraceMs: 3_000 },
      training: { epochs: 1, batchSize: 16, learningRate: 0.01 },
      log: createLogger('error'),
      serverOptimizer: OPTIMIZER,
      wrapTrainer: (peer, t): LocalTrainer => ({
        getWeights: () => t.getWeights(),
        setWeights: (w) => t.setWeights(w),
        train: async (data, opts) => {
          const res = await t.train(data, opts);
          trained.set(peer, t.getWeights());
          return res;
        },
      }),
    });
  }, 300_000);

  afterAll(async () => {
    await fed?.stop();
  });

  it('records the server step over the participants’ models, bit for bit, before and after a restart', async () => {
    const chain = fed.federationClients[0]!;
    const accounts = await Promise.all(fed.federationClients.map((c) => c.account()));
    let previous = fed.peers[0]!.weights;
    let head = previous;
    for (const round of [1, 2, 3, 4]) {
      // Peer 1 restarts before round 3: it must read w_1 from the store (the others remember it).
      // Peer 2 restarts before round 4 having lost w_2: it cannot aggregate (it abstains), the other
      // two record the round, and it adopts the record like any participant.
      const lookups = round >= 3 ? vi.spyOn(fed.recordedModels, 'get') : undefined;
      if (round === 3) await fed.restartPeer(1);
      if (round === 4) {
        (fed.recordedModels as Map<string, ModelWeights>).delete(toHex0x(modelHash(previous)));
        await fed.restartPeer(2);
      }
      trained.clear();
      const outcomes = (await fed.runRound(round)).map(assertSimFinalized);
      if (round === 4) expect(outcomes[2]!.committeePath).toBeUndefined(); // abstained from aggregating
      const record = (await chain.getFinalizedRound(round))!.record;
      const included = record.participants.map((p) => accounts.findIndex((a) => a.toLowerCase() === p.member.toLowerCase()));
      const average = fedAvg(
        included.map((i) => ({ participant: fed.peers[i]!.id, sampleCount: siteData[i]!.n, weights: trained.get(i)! })),
      );
      const expected = serverStep(OPTIMIZER, { previous, head, aggregate: average });
      expect(toHex0x(modelHash(expected))).toBe(record.modelHash.toLowerCase());
      if (round > 1) expect(toHex0x(modelHash(average))).not.toBe(record.modelHash.toLowerCase());
      // The record binds the average (aggregateHash), which the committee kept for the auditor.
      const kept = fed.keptArtifacts.get(record.aggregateHash.toLowerCase());
      expect(kept).toBeDefined();
      expect(toHex0x(modelHash(decodeAnyAggregate(kept!).weights))).toBe(toHex0x(modelHash(average)));
      for (const p of fed.peers) expect(toHex0x(modelHash(p.weights))).toBe(record.modelHash.toLowerCase());
      if (lookups !== undefined) {
        // Round 3 asks for w_1, round 4 for w_2 (answered: none).
        const asked = lookups.mock.calls.map(([h]) => h);
        expect(asked).toContain(toHex0x(modelHash(previous)));
        if (round === 4) expect(lookups.mock.results.filter((r) => r.value === undefined).length).toBeGreaterThan(0);
        lookups.mockRestore();
      }
      previous = head;
      head = expected;
    }
  }, 300_000);
});
