/**
 * `fedmesh simulate`: a federated run of N peers on one machine, reported per round.
 *
 * Data: seeded stratified 80/20 split; the 80 % is dealt across peers (stratified IID);
 * each peer standardises with its own statistics. Evaluation: the global model is applied
 * to the held-out 20 % at every site, each site standardising the test rows with its own
 * statistics (as it would for its own patients); metrics pool all sites' predictions.
 */
import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  fitStandardizer,
  partitionIid,
  selectRows,
  standardize,
  stratifiedSplit,
  type LabelledData,
  type Standardizer,
} from '../protocol/data.js';
import { binaryMetrics, type BinaryMetrics } from '../protocol/metrics.js';
import { createRng } from '../protocol/rng.js';
import { loadBreastCancer } from '../node/data/breast-cancer.js';
import { selectBackend } from '../node/ml/backend.js';
import type { Trainer } from '../node/ml/trainer.js';
import { createLogger } from '../node/logger.js';
import { startLocalFederation } from './local-federation.js';
import type { SimulationOptions } from './options.js';

export interface RoundReport {
  readonly round: number;
  readonly accuracy: number;
  readonly auc: number;
  readonly f1: number;
  readonly precision: number;
  readonly recall: number;
  readonly confusion: BinaryMetrics['confusion'];
  readonly modelHash: string;
  readonly txHash: string;
  readonly seconds: number;
  readonly participants: number;
  readonly committee: readonly number[];
}

export interface SimulationResult {
  readonly outDir: string;
  readonly summary: Record<string, unknown>;
}

function pick(m: BinaryMetrics): { accuracy: number; auc: number; f1: number; precision: number; recall: number } {
  return { accuracy: m.accuracy, auc: m.auc, f1: m.f1, precision: m.precision, recall: m.recall };
}

/** Evaluate `trainer`'s model on the test rows as standardised by every site. */
export function evaluateAcrossSites(trainer: Trainer, test: LabelledData, standardizers: readonly Standardizer[]): BinaryMetrics {
  const labels: number[] = [];
  const scores: number[] = [];
  for (const s of standardizers) {
    const local = standardize(test, s);
    const p = trainer.predict(local.x, local.n);
    for (let i = 0; i < local.n; i++) {
      labels.push(local.y[i]!);
      scores.push(p[i]!);
    }
  }
  return binaryMetrics(labels, scores);
}

const short = (h: string): string => `${h.slice(0, 10)}…`;
const f3 = (x: number): string => x.toFixed(3);

export async function runSimulation(
  o: SimulationOptions,
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<SimulationResult> {
  const log = createLogger(o.quiet === true ? 'error' : 'warn', { component: 'simulate' });
  const backend = await selectBackend({ ...(o.backend !== undefined ? { prefer: o.backend } : {}), log: (m) => write(m) });
  const outDir = o.out ?? join('runs', `${o.dataset}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(outDir, { recursive: true });

  const all = loadBreastCancer();
  const split = stratifiedSplit(all.y, o.testFraction, createRng(o.seed, 'fedmesh/sim/split'));
  const train = selectRows(all, split.train);
  const test = selectRows(all, split.test);
  const parts = partitionIid(
    Array.from({ length: train.n }, (_, i) => i),
    train.y,
    o.peers,
    createRng(o.seed, 'fedmesh/sim/partition'),
  );
  const siteRaw = parts.map((rows) => selectRows(train, rows));
  const standardizers = siteRaw.map((d) => fitStandardizer(d));
  const siteData = siteRaw.map((d, i) => standardize(d, standardizers[i]!));

  write(
    `fedmesh simulate: ${o.dataset}, ${o.peers} peers, ${o.rounds} rounds, seed ${o.seed}; ${train.n} train / ${test.n} test rows; site sizes ${siteData.map((d) => d.n).join(',')}`,
  );
  const fed = await startLocalFederation({
    federation: o.federation,
    seed: o.seed,
    model: { kind: o.model, inputShape: [all.featureShape[0]!], hidden: [...o.hidden] },
    siteData,
    committeeSize: o.committeeSize,
    timing: { collectMs: o.collectMs, recordGraceMs: o.recordGraceMs },
    training: { epochs: o.localEpochs, batchSize: o.batchSize, learningRate: o.learningRate },
    ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
    log,
  });
  const metricsPath = join(outDir, 'metrics.jsonl');
  writeFileSync(metricsPath, '');
  const rounds: RoundReport[] = [];
  try {
    const initial = evaluateAcrossSites(fed.trainers[0]!, test, standardizers);
    write(
      `ledger ${fed.ledgerAddress}, initial model ${short(fed.initialModelHash)}: accuracy ${f3(initial.accuracy)}, AUC ${f3(initial.auc)}`,
    );
    write('');
    write('round  accuracy  auc    f1     seconds  model hash    tx hash');
    for (let r = 1; r <= o.rounds; r++) {
      const t0 = performance.now();
      const outcomes = await fed.runRound(r);
      const seconds = (performance.now() - t0) / 1000;
      const rec = outcomes[0]!.record;
      const m = evaluateAcrossSites(fed.trainers[0]!, test, standardizers);
      const report: RoundReport = {
        round: r,
        ...pick(m),
        confusion: m.confusion,
        modelHash: rec.modelHash,
        txHash: rec.txHash,
        seconds: Number(seconds.toFixed(3)),
        participants: rec.participantCount,
        committee: outcomes[0]!.committee.map((id) => fed.peers.findIndex((p) => p.id === id)),
      };
      rounds.push(report);
      appendFileSync(metricsPath, `${JSON.stringify(report)}\n`);
      write(
        `${String(r).padStart(5)}  ${f3(m.accuracy).padStart(8)}  ${f3(m.auc)}  ${f3(m.f1)}  ${seconds.toFixed(2).padStart(7)}  ${short(rec.modelHash)}  ${short(rec.txHash)}`,
      );
    }
    const last = rounds[rounds.length - 1]!;
    const summary = {
      dataset: o.dataset,
      peers: o.peers,
      // The schema names both the round count and the per-round list `rounds`;
      // JSON cannot hold both, so the count is `roundCount` and `rounds` is the list.
      roundCount: o.rounds,
      seed: o.seed,
      backend: backend.name,
      model: o.model,
      ledger: fed.ledgerAddress,
      initialModelHash: fed.initialModelHash,
      initial: pick(initial),
      final: {
        accuracy: last.accuracy,
        auc: last.auc,
        f1: last.f1,
        precision: last.precision,
        recall: last.recall,
        confusion: last.confusion,
      },
      meanRoundSeconds: Number((rounds.reduce((s, r) => s + r.seconds, 0) / rounds.length).toFixed(3)),
      rounds: rounds.map((r) => ({
        round: r.round,
        accuracy: r.accuracy,
        auc: r.auc,
        f1: r.f1,
        modelHash: r.modelHash,
        txHash: r.txHash,
        seconds: r.seconds,
      })),
    };
    writeFileSync(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    write('');
    write(
      `final: accuracy ${f3(last.accuracy)}, AUC ${f3(last.auc)}, F1 ${f3(last.f1)}, precision ${f3(last.precision)}, recall ${f3(last.recall)}; confusion tp=${last.confusion.tp} fp=${last.confusion.fp} tn=${last.confusion.tn} fn=${last.confusion.fn} (pooled over ${o.peers} sites × ${test.n} test rows)`,
    );
    write(`wrote ${join(outDir, 'summary.json')} and ${metricsPath}`);
    return { outDir, summary };
  } finally {
    await fed.stop();
  }
}
