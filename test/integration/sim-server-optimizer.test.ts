/**
 * FedAvgM (protocol/server-optimizer.ts) in a real simulated federation: 4 libp2p peers on
 * 127.0.0.1, secure aggregation and DP-SGD, FedmeshFederation on the in-process Hardhat chain
 * (./audit-fixture.ts). Every round finalizes; each recorded model is the server step applied to
 * the mean of the recorded participants' trained models (up to secure aggregation's fixed-point
 * rounding), not the plain mean; after every node restarts (fresh drivers that remember no model)
 * the committee rebuilds the momentum from the stored w_{t−1} and the peers agree on each model
 * hash; the audit of the chain and the artifacts passes, replaying every round's step from the
 * average payload the record binds (protocol/audit/server-step.ts), and a record of the plain
 * average instead of the step is an error.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runAudit } from '../../node/audit/run.js';
import type { LocalTrainer } from '../../node/services/round-driver.js';
import { checkServerStep } from '../../protocol/audit/server-step.js';
import type { ArtifactEntry } from '../../protocol/audit/types.js';
import { hash256, toHex0x } from '../../protocol/bytes.js';
import { manifestHash, parseManifest } from '../../protocol/manifest.js';
import { decodeAnyAggregate } from '../../protocol/messages/update.js';
import type { ModelWeights } from '../../protocol/model.js';
import { type ServerOptimizer, serverStep } from '../../protocol/server-optimizer.js';
import { encodeWeights, modelHash } from '../../protocol/weights-codec.js';
import { AUDIT_FIXTURE_PEERS, type AuditedFederation, startAuditedFederation } from './audit-fixture.js';

/** β = 0.9 makes the momentum term β(w_t − w_{t−1}) large against the fixed-point error. */
const OPTIMIZER: ServerOptimizer = { kind: 'fedavgm', momentum: 0.9, learningRate: 1 };
/** The federation's manifest (hash-bound on chain): the auditor reads the optimizer from it. */
const MANIFEST = parseManifest({
  version: 1,
  federation: 'itest-fedavgm',
  seed: 43,
  model: { kind: 'mlp', hidden: [8] },
  features: Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, kind: 'numeric' })),
  label: { name: 'diagnosis', positive: 'M', negatives: ['B'] },
  rounds: 4,
  training: { localEpochs: 1, batchSize: 16, learningRate: 0.01 },
  committee: { size: 3, threshold: 2 },
  serverOptimizer: OPTIMIZER,
});

/** The coordinate-wise mean of `models` (DP sites all weigh 1: protocol/privacy/public-statistics.ts). */
function mean(models: readonly ModelWeights[]): ModelWeights {
  return {
    tensors: models[0]!.tensors.map((t, ti) => {
      const acc = new Float64Array(t.data.length);
      for (const m of models) for (let k = 0; k < acc.length; k++) acc[k]! += m.tensors[ti]!.data[k]! / models.length;
      return { shape: [...t.shape], data: Float32Array.from(acc) };
    }),
  };
}

function maxAbsDiff(a: ModelWeights, b: ModelWeights): number {
  let d = 0;
  a.tensors.forEach((t, ti) => {
    for (let k = 0; k < t.data.length; k++) d = Math.max(d, Math.abs(t.data[k]! - b.tensors[ti]!.data[k]!));
  });
  return d;
}

describe('FedAvgM server optimizer in a simulated federation', () => {
  let dir: string;
  let af: AuditedFederation;
  /** Each peer's trained model in the current round (what its masked input encodes). */
  const trained = new Map<number, ModelWeights>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fedmesh-fedavgm-'));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(MANIFEST));
    af = await startAuditedFederation(dir, 'itest-fedavgm', {
      serverOptimizer: OPTIMIZER,
      manifestHash: manifestHash(MANIFEST),
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
    await af?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the next round; checks the record against the server step over the participants' models. */
  async function roundChecked(previous: ModelWeights, head: ModelWeights): Promise<ModelWeights> {
    trained.clear();
    await af.runRound();
    const round = af.rounds;
    const { fed } = af;
    const finalized = (await fed.federationClients[0]!.getFinalizedRound(round))!;
    const accounts = await Promise.all(fed.federationClients.map((c) => c.account()));
    const included = finalized.record.participants.map((p) => accounts.findIndex((a) => a.toLowerCase() === p.member.toLowerCase()));
    expect(included.length).toBeGreaterThanOrEqual(2);
    const average = mean(included.map((i) => trained.get(i)!));
    const recorded = fed.peers[0]!.weights;
    // Every peer adopted the recorded model.
    for (const p of fed.peers) expect(toHex0x(modelHash(p.weights))).toBe(finalized.record.modelHash.toLowerCase());
    // The recorded model is the FedAvgM step (up to 24-fractional-bit fixed point, ~1e-7)…
    expect(maxAbsDiff(recorded, serverStep(OPTIMIZER, { previous, head, aggregate: average }))).toBeLessThan(1e-5);
    // …and, from round 2 on, measurably not the plain mean (the momentum term moves it).
    if (round > 1) expect(maxAbsDiff(recorded, average)).toBeGreaterThan(1e-4);
    return recorded;
  }

  it('finalizes every round with the server step, recovers the momentum after every node restarts, and the audit passes', async () => {
    const { fed } = af;
    let previous = fed.peers[0]!.weights; // round 1: w_0 = w_{−1}, v = 0
    let head = previous;
    for (let r = 0; r < 2; r++) {
      const next = await roundChecked(previous, head);
      previous = head;
      head = next;
    }
    // Every node restarts: its driver remembers no model, so w_{t−1} must come from the stores.
    const lookups = vi.spyOn(fed.recordedModels, 'get');
    for (let i = 0; i < AUDIT_FIXTURE_PEERS; i++) await fed.restartPeer(i);
    for (let r = 0; r < 2; r++) {
      const next = await roundChecked(previous, head);
      previous = head;
      head = next;
    }
    // Round 3's committee read w_1 (round 2's prevModelHash) from the store.
    const round2 = (await fed.federationClients[0]!.getFinalizedRound(2))!;
    expect(lookups.mock.calls.map(([h]) => h)).toContain(round2.record.prevModelHash.toLowerCase());
    lookups.mockRestore();
    expect(toHex0x(modelHash(head))).toBe((await fed.federationClients[0]!.headModelHash()).toLowerCase());

    // The committee members kept each round's average payload (the record's aggregateHash), as
    // their stores do; the auditor is given them with the models.
    const records = await Promise.all([1, 2, 3, 4].map(async (r) => (await fed.federationClients[0]!.getFinalizedRound(r))!.record));
    for (const rec of records) {
      const bytes = fed.keptArtifacts.get(rec.aggregateHash.toLowerCase());
      expect(bytes).toBeDefined();
      writeFileSync(join(af.artifactsDir, `${rec.aggregateHash.slice(2).toLowerCase()}.fmwt`), bytes!);
    }
    const auditOf = () =>
      runAudit({ rpc: af.node.url, deployment: af.deploymentPath, artifacts: af.artifactsDir, manifest: join(dir, 'manifest.json') });
    const report = await auditOf();
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.rounds.map((s) => [s.round, s.status, s.artifact])).toEqual([
      [1, 'finalized', 'verified'],
      [2, 'finalized', 'verified'],
      [3, 'finalized', 'verified'],
      [4, 'finalized', 'verified'],
    ]);

    // The replay is real: without round 3's average the step is unverified (a warning)…
    const third = join(af.artifactsDir, `${records[2]!.aggregateHash.slice(2).toLowerCase()}.fmwt`);
    const thirdBytes = fed.keptArtifacts.get(records[2]!.aggregateHash.toLowerCase())!;
    unlinkSync(third);
    const partial = await auditOf();
    expect(partial.findings.map((f) => [f.round, f.code, f.severity])).toEqual([[3, 'SERVER_STEP_UNVERIFIED', 'warning']]);
    writeFileSync(third, thirdBytes);
    // …and a record of round 2 whose model were the plain average (a committee that skipped the
    // momentum) is an error, replayed from these very artifacts.
    const artifacts = new Map<string, ArtifactEntry>();
    const put = (bytes: Uint8Array, source: string): void => void artifacts.set(toHex0x(hash256(bytes)), { source, bytes });
    for (const rec of records) put(fed.keptArtifacts.get(rec.aggregateHash.toLowerCase())!, 'kept');
    for (const w of [
      fed.recordedModels.get(fed.initialModelHash.toLowerCase())!,
      ...records.map((rec) => fed.recordedModels.get(rec.modelHash.toLowerCase())!),
    ])
      put(encodeWeights(w), 'model');
    const average2 = decodeAnyAggregate(fed.keptArtifacts.get(records[1]!.aggregateHash.toLowerCase())!).weights;
    const replay = (modelHash2: string) =>
      checkServerStep({
        optimizer: OPTIMIZER,
        round: 2,
        previousModelHash: records[0]!.prevModelHash,
        record: { ...records[1]!, modelHash: modelHash2 },
        artifacts,
      });
    expect(replay(records[1]!.modelHash)).toBeUndefined();
    expect(replay(toHex0x(modelHash(average2)))).toMatchObject({ code: 'SERVER_STEP_MISMATCH', severity: 'error' });
  }, 600_000);
});
