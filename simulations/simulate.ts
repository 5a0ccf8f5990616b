/**
 * `fedmesh simulate`: a federated run of N peers on one machine, reported per round.
 *
 * Data: seeded stratified 80/20 split; the 80 % is dealt across peers (stratified IID);
 * each peer standardises with its own statistics. Evaluation: the global model is applied
 * to the held-out 20 % at every site, each site standardising the test rows with its own
 * statistics (as it would for its own patients); metrics pool all sites' predictions.
 *
 * Secure aggregation (on by default; --no-secure-aggregation for the plaintext comparison):
 * participants publish masked updates and the round's committee unmasks only their sum
 * (docs/secure-aggregation.md). --dropout P makes each peer drop out of each round with
 * probability P (simulations/dropouts.ts); the same seed gives the same dropouts on either path.
 *
 * Differential privacy (--dp-epsilon or --dp-noise-multiplier): every peer trains by DP-SGD with
 * the same (σ, C, q); σ is planned from the target ε over rounds × local steps
 * (protocol/privacy `planFederatedDpSgd`), and the ε each institution has spent after every round
 * is reported in metrics.jsonl and summary.json. The accounting assumes every peer trains every
 * round (an upper bound when peers drop out). DP randomness is 'seeded' so runs replay: fine for
 * measuring privacy–utility, never for protecting real data (node/ml/dp-randomness.ts).
 */
import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { standardize, type LabelledData, type Standardizer } from '../protocol/data.js';
import { binaryMetrics, type BinaryMetrics, type TaskMetrics } from '../protocol/metrics.js';
import { balancedClassWeights, classCounts, evaluateTask, outputUnits, poolSets, type Task } from '../protocol/task.js';
import { isFedmeshError } from '../protocol/errors.js';
import { type FederatedDpPlan, planFederatedDpSgd } from '../protocol/privacy/index.js';
import { ONCHAIN_RDP_ORDERS } from '../protocol/chain/budget.js';
import { selectBackend } from '../node/ml/backend.js';
import { artifactsHash, loadLayersModel, readModelArtifacts } from '../node/ml/model-io.js';
import { reportExplanations } from '../node/ml/explain-run.js';
import { exportModel } from '../node/ml/model-card.js';
import { type LayersSource, type ModelSpec, Trainer, type TrainOptions } from '../node/ml/trainer.js';
import type { AbortedRoundOutcome, LocalTrainer, RoundOutcome } from '../node/services/round-driver.js';
import { createLogger } from '../node/logger.js';
import { effectiveCommittee } from '../protocol/secure-aggregation/config.js';
import { AttackingTrainer, chooseAttackers, parseAttackKind } from './attackers.js';
import { centralizedBaseline } from './baseline.js';
import { loadSimulationData } from './datasets.js';
import { planDropouts } from './dropouts.js';
import { DEFAULT_VALIDATION_FRACTION, startLocalFederation } from './local-federation.js';
import { ConfigError, keySetGraceOf, secAggConfigOf, type SimulationOptions } from './options.js';
import { parseStragglers, ProbedTrainer, spread, type TrainTiming, TrafficMeter } from './probe.js';
import { writeReport } from './report.js';

/**
 * The task's metrics (protocol/metrics.ts `TaskMetrics`, stable camelCase names: accuracy,
 * balancedAccuracy, macroF1, sensitivity, specificity, auc, macroAuc, brier, rmse, mae, r2, …);
 * which are present depends on the task. `loss` is the training loss of the global model on
 * the evaluation sets (cross-entropy; regression: MSE in original units).
 */
export type RoundMetrics = Omit<TaskMetrics, 'n'>;

export interface RoundReport extends RoundMetrics {
  readonly round: number;
  readonly loss: number;
  readonly modelHash: string;
  readonly txHash: string;
  readonly seconds: number;
  readonly participants: number;
  readonly committee: readonly number[];
  /** Peers (by index) that dropped out of the round, and where. */
  readonly dropouts: Readonly<Record<number, string>>;
  /** The round ended aborted on chain (no quorum): the model stayed at the previous head. */
  readonly aborted?: boolean;
  /** DP only: ε each institution has spent after this round, at dpDelta. */
  readonly epsilon?: number;
  /** Gossip payload bytes per peer this round (simulations/probe.ts TrafficMeter). */
  readonly bytes: { readonly sent: Spread; readonly received: Spread };
  /**
   * Seconds per phase: train (round start → last peer's local training done, straggler delays
   * and the process-wide training mutex included), aggregate (→ the first peer adopts the
   * recorded model: masking, collection, unmasking, signatures, chain), adopt (→ every peer
   * adopted), evaluate (the global model on the test sets).
   */
  readonly phases: Readonly<Record<'train' | 'aggregate' | 'adopt' | 'evaluate', number>>;
  /**
   * The peers' local training runs this round: the last run's start (s after the round start:
   * opening the round, straggler delay and the wait for the training mutex) and each run's wall
   * seconds once it holds the mutex (its own steps plus the event-loop turns it yields), as a
   * spread and summed. A train phase much longer than `wallSum` waited for something else.
   */
  readonly trainRuns?: { readonly lastStart: number; readonly wall: Spread; readonly wallSum: number };
  /** Straggler delays this round (ms) by peer index; only peers that were delayed. */
  readonly stragglers?: Readonly<Record<number, number>>;
  /** With attackers: who attacks, how many were identified (never, under masking: null) and how many updates were kept out. */
  readonly attackers?: { readonly peers: readonly number[]; readonly detected: number | null; readonly excluded: number };
}

type Spread = { min: number; median: number; max: number };

export interface SimulationResult {
  readonly outDir: string;
  readonly summary: Record<string, unknown>;
  readonly rounds: readonly RoundReport[];
}

/** Hooks for callers that watch a run (the CLI's progress bar). */
export interface SimulationHooks {
  readonly onRound?: (r: RoundReport, total: number) => void;
}

/** The metrics printed per round for each task: [key, column title]. */
export function headlineMetrics(task: Task): [keyof RoundMetrics, string][] {
  if (task.kind === 'multiclass')
    return [
      ['accuracy', 'accuracy'],
      ['balancedAccuracy', 'bal.acc'],
      ['macroF1', 'macroF1'],
    ];
  if (task.kind === 'multilabel')
    return [
      ['accuracy', 'accuracy'],
      ['macroAuc', 'macroAUC'],
      ['macroF1', 'macroF1'],
    ];
  if (task.kind === 'regression')
    return [
      ['rmse', 'rmse'],
      ['mae', 'mae'],
      ['r2', 'r2'],
    ];
  return [
    ['accuracy', 'accuracy'],
    ['auc', 'auc'],
    ['f1', 'f1'],
  ];
}

/** The metrics without the row count (per round and in summary.json). */
function pick(m: TaskMetrics): RoundMetrics {
  const { n: _n, ...rest } = m;
  return rest;
}

const headline = (task: Task, m: RoundMetrics): string =>
  headlineMetrics(task)
    .map(([k, title]) => `${title} ${f3(m[k] as number)}`)
    .join(', ');

/** Mean binary cross-entropy, probabilities clamped to [1e-7, 1 − 1e-7] as tfjs does. */
export function logLoss(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - 1e-7, Math.max(1e-7, scores[i]!));
    s -= labels[i]! === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return labels.length > 0 ? s / labels.length : Number.NaN;
}

/** Evaluate `trainer`'s model on ready-to-predict sets, pooling predictions; metrics of its task. */
export function evaluateSets(trainer: Trainer, sets: readonly LabelledData[]): TaskMetrics & { loss: number } {
  const pooled = poolSets(sets);
  return evaluateTask(trainer.task, pooled, trainer.predict(pooled.x, pooled.n));
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

/**
 * The DP-SGD plan for the run, or undefined when DP is off. q defaults to the batch size over the
 * smallest site, so every site's expected batch is at most batchSize and one (q, σ) — hence one ε —
 * holds for all. An unreachable target is a configuration error naming dpEpsilon.
 */
function planDp(o: SimulationOptions, siteSizes: readonly number[]): FederatedDpPlan | undefined {
  if (o.dpEpsilon === undefined && o.dpNoiseMultiplier === undefined) return undefined;
  const sampleRate = o.dpSampleRate ?? Math.min(1, o.batchSize / Math.min(...siteSizes));
  // The target is also each member's on-chain cap, checked in the ledger's
  // own accounting: the 8 on-chain orders, every round's spend rounded up per lane (≤ 1e-6 each)
  // and c_α rounded up (≤ 2e-6). Plan σ in that accounting, with that rounding as a margin, so
  // the ledger admits every planned round (docs/privacy.md).
  const onChain = o.dpEpsilon !== undefined;
  try {
    return planFederatedDpSgd({
      ...(o.dpEpsilon !== undefined
        ? { targetEpsilon: onChain ? o.dpEpsilon - (3 * o.rounds + 10) * 1e-6 : o.dpEpsilon }
        : { noiseMultiplier: o.dpNoiseMultiplier! }),
      delta: o.dpDelta,
      sampleRate,
      rounds: o.rounds,
      localEpochs: o.localEpochs,
      ...(onChain ? { orders: ONCHAIN_RDP_ORDERS } : {}),
    });
  } catch (e) {
    if (!isFedmeshError(e, 'PRIVACY_TARGET_UNREACHABLE')) throw e;
    const issue = { field: 'dpEpsilon', value: o.dpEpsilon, rule: e.message };
    throw new ConfigError('CONFIG_INVALID', `dpEpsilon=${o.dpEpsilon}: ${e.message}`, { issues: [issue] });
  }
}

const short = (h: string): string => `${h.slice(0, 10)}…`;
const f3 = (x: number): string => x.toFixed(3);

export async function runSimulation(
  o: SimulationOptions,
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  hooks: SimulationHooks = {},
): Promise<SimulationResult> {
  const runStart = performance.now();
  const log = createLogger(o.quiet === true ? 'error' : 'warn', { component: 'simulate' });
  // FEDMESH_SIM_DEBUG_PEERS=0,5 logs those peers at debug level (JSON lines on stderr), e.g. one
  // committee member, to see which secure-aggregation phase a stalled round waits in.
  const debugPeers = new Set(
    (process.env.FEDMESH_SIM_DEBUG_PEERS ?? '')
      .split(',')
      .filter((x) => x.trim() !== '')
      .map(Number),
  );
  const debugLog = debugPeers.size > 0 ? createLogger('debug', { component: 'simulate' }) : undefined;
  const peerLog = (i: number) => (debugPeers.has(i) && debugLog !== undefined ? debugLog : log).child({ peer: i });
  const backend = await selectBackend({ ...(o.backend !== undefined ? { prefer: o.backend } : {}), log: (m) => write(m) });
  const datasetName = /\.(csv|npz)$/i.test(o.dataset) ? (o.dataset.split(/[\\/]/).pop() ?? 'data').replace(/\.(csv|npz)$/i, '') : o.dataset;
  const outDir = o.out ?? join('runs', `${datasetName}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(outDir, { recursive: true });

  const data = loadSimulationData(o);
  const { train, test, siteData } = data;
  const task = data.task;
  // Your own model: copies loaded up front (tfjs loads asynchronously; every Trainer owns one):
  // one per peer, one per validation-gate evaluator, the DP check and the baseline.
  const own = o.modelPath !== undefined ? await ownModelSource(o.modelPath, o.freeze, 2 * o.peers + 2) : undefined;
  const modelSpec: ModelSpec =
    own !== undefined
      ? { kind: 'tfjs', inputShape: [...data.featureShape], task, layers: own }
      : { kind: o.model, inputShape: [...data.featureShape], hidden: [...o.hidden], task };
  const classWeights = resolveClassWeights(o, task, train, data.notes as string[]);
  const dp = planDp(
    o,
    siteData.map((d) => d.n),
  );
  const proximalMu = o.algorithm.startsWith('fedprox:') ? Number(o.algorithm.slice('fedprox:'.length)) : 0;
  const training: Omit<TrainOptions, 'seed'> = {
    epochs: o.localEpochs,
    batchSize: o.batchSize,
    learningRate: o.learningRate,
    ...(proximalMu > 0 ? { proximalMu } : {}),
    ...(classWeights !== undefined ? { classWeights } : {}),
    ...(o.augment ? { augment: true } : {}),
    ...(o.resample !== 'none' ? { resample: o.resample } : {}),
    ...(o.focalGamma !== undefined ? { focalGamma: o.focalGamma } : {}),
    ...(dp !== undefined
      ? {
          dp: {
            noiseMultiplier: dp.noiseMultiplier,
            clipNorm: o.dpClipNorm,
            sampleRate: dp.sampleRate,
            randomness: 'seeded' as const,
            // The public step divisor, as the daemon uses (issue 15), not q·N.
            expectedBatchSize: o.batchSize,
          },
        }
      : {}),
  };

  // An own model DP-SGD cannot train is refused now, naming the layer, not in round 1.
  if (own !== undefined && dp !== undefined) {
    const probe = new Trainer(modelSpec, o.seed);
    try {
      probe.checkDpSupport();
    } finally {
      probe.dispose();
    }
  }
  const secure = o.secureAggregation ? secAggConfigOf(o) : undefined;
  const mt = effectiveCommittee(secure ?? { committeeSize: o.committeeSize, threshold: o.threshold }, o.peers);
  write(
    `fedmesh simulate: ${o.dataset}, ${o.peers} peers, ${o.rounds} rounds, seed ${o.seed}; ${train.n} train / ${test.n} test rows; site sizes ${siteData.map((d) => d.n).join(',')}`,
  );
  for (const note of data.notes) write(note);
  if (o.partition !== 'iid' || o.algorithm !== 'fedavg' || o.model === 'cnn') {
    write(`partition ${o.partition}, model ${o.model}, algorithm ${o.algorithm}`);
  }
  const attackers = o.attackers !== undefined ? chooseAttackers(o.peers, o.attackers.fraction, o.seed) : [];
  const attack = o.attackers !== undefined ? parseAttackKind(o.attackers.kind) : undefined;
  if (attack !== undefined) write(`attackers: ${o.attackers!.kind} at peers ${attackers.join(',') || '(none)'}`);
  if (o.defence !== undefined) {
    write(
      `defence: ${[
        o.defence.updateNormBound !== undefined ? `update norm bound ${o.defence.updateNormBound}` : '',
        o.defence.validationMargin !== undefined
          ? `validation gate (margin ${o.defence.validationMargin}, ${o.defence.validationFraction ?? DEFAULT_VALIDATION_FRACTION} of each site held out)`
          : '',
      ]
        .filter((x) => x !== '')
        .join(', ')}`,
    );
  }
  const stragglers = parseStragglers(o.stragglers);
  let currentRound = 0;
  const timings = new Map<number, Map<number, TrainTiming>>();
  const adoptedAt = new Map<number, number>();
  const wrapTrainer = (i: number, t: Trainer): LocalTrainer => {
    const inner: LocalTrainer = attack !== undefined && attackers.includes(i) ? new AttackingTrainer(t, attack, `${o.seed}/${i}`) : t;
    return new ProbedTrainer(inner, i, { seed: o.seed, stragglers, round: () => currentRound, timings, adoptedAt });
  };
  const federationStart = performance.now();
  const fed = await startLocalFederation({
    federation: o.federation,
    seed: o.seed,
    model: modelSpec,
    siteData,
    committeeSize: o.committeeSize,
    timing: { collectMs: o.collectMs, recordGraceMs: o.recordGraceMs },
    training,
    ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
    log,
    peerLog,
    ...(secure !== undefined ? { secureAggregation: { config: secure, keysMs: o.keysMs, keySetGraceMs: keySetGraceOf(o) } } : {}),
    ...(o.dropout > 0
      ? { dropouts: planDropouts({ probability: o.dropout, seed: o.seed, threshold: mt.threshold, minSurvivors: 2 }) }
      : {}),
    // --dp-epsilon E is each member's cap on chain: a peer stops training before passing it.
    ...(o.dpEpsilon !== undefined ? { epsilonCap: o.dpEpsilon, federationDelta: o.dpDelta } : {}),
    ...(o.defence !== undefined ? { defence: o.defence } : {}),
    ...(o.serverOptimizer !== undefined ? { serverOptimizer: o.serverOptimizer } : {}),
    wrapTrainer,
  });
  const traffic = new TrafficMeter(fed.hosts);
  // Start-up before round 1 opens: setup (tfjs backend, data, options) then the federation's stages.
  const startup = { setup: sec(federationStart - runStart), ...fed.startup };
  write(
    `start-up ${sec(performance.now() - runStart).toFixed(1)} s: ${Object.entries(startup)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ')}`,
  );
  write(
    secure !== undefined
      ? `secure aggregation: committee m=${mt.committeeSize}, threshold t=${mt.threshold}, clip range ${secure.clipRange}, ${secure.fractionalBits} fractional bits${o.dropout > 0 ? `; dropout ${o.dropout}` : ''}`
      : `plaintext aggregation (--no-secure-aggregation): committee m=${mt.committeeSize} sees every update${o.dropout > 0 ? `; dropout ${o.dropout}` : ''}`,
  );
  if (dp !== undefined) {
    write(
      `DP-SGD: noise multiplier ${dp.noiseMultiplier.toFixed(4)}, clipping norm ${o.dpClipNorm}, sampling rate ${dp.sampleRate.toFixed(4)}, ${dp.stepsPerRound} steps/round; epsilon ${dp.epsilon.toFixed(4)} at delta ${o.dpDelta} after ${o.rounds} rounds`,
    );
  }
  const metricsPath = join(outDir, 'metrics.jsonl');
  writeFileSync(metricsPath, '');
  const rounds: RoundReport[] = [];
  try {
    const initial = evaluateSets(fed.trainers[0]!, data.evalSets);
    write(`ledger ${fed.ledgerAddress}, initial model ${short(fed.initialModelHash)}: ${headline(task, initial)}`);
    write('');
    const heads = headlineMetrics(task);
    write(
      task.kind === 'binary'
        ? 'round  accuracy  auc    f1     seconds  model hash    tx hash       inputs'
        : `round  ${heads.map(([, t]) => t.padStart(8)).join('  ')}  seconds  model hash    tx hash       inputs`,
    );
    let head = { modelHash: fed.initialModelHash as string, txHash: '' };
    for (let r = 1; r <= o.rounds; r++) {
      currentRound = r;
      traffic.take();
      const t0 = performance.now();
      const outcomes = await fed.runRound(r);
      const t1 = performance.now();
      const seconds = (t1 - t0) / 1000;
      // A round may end aborted on chain (no quorum by its finalize deadline, e.g. committee
      // members refusing to sign): the model stays at the head and the next round opens.
      const finalized = outcomes.find((x): x is RoundOutcome => x.status === 'finalized');
      const aborted = finalized === undefined ? outcomes.find((x): x is AbortedRoundOutcome => x.status === 'aborted') : undefined;
      if (finalized !== undefined) head = { modelHash: finalized.record.modelHash, txHash: finalized.record.txHash };
      const m = evaluateSets(fed.trainers[0]!, data.evalSets);
      const t2 = performance.now();
      const bytes = traffic.take();
      const trainEnd = Math.max(t0, ...[...(timings.get(r)?.values() ?? [])].map((t) => t.endMs));
      // The first adoption marks the record (and its aggregate) reaching the peers.
      const rec1 = Math.min(t1, Math.max(trainEnd, adoptedAt.get(r) ?? t1));
      const delays = [...(timings.get(r)?.entries() ?? [])].filter(([, t]) => t.delayMs > 0);
      const runs = [...(timings.get(r)?.values() ?? [])];
      const report: RoundReport = {
        round: r,
        ...pick(m),
        modelHash: head.modelHash,
        txHash:
          finalized !== undefined
            ? finalized.record.txHash
            : ((outcomes.find((x) => x.status === 'aborted' && x.txHash !== undefined) as AbortedRoundOutcome | undefined)?.txHash ?? ''),
        seconds: Number(seconds.toFixed(3)),
        participants: finalized?.record.participantCount ?? 0,
        ...(aborted !== undefined ? { aborted: true } : {}),
        committee: (finalized ?? aborted ?? outcomes[0]!).committee.map((id) => fed.peers.findIndex((p) => p.id === id)),
        dropouts: Object.fromEntries(
          outcomes.flatMap((x, i) => (x.status === 'finalized' && x.dropout !== undefined ? [[i, x.dropout]] : [])),
        ),
        ...(dp !== undefined ? { epsilon: dp.epsilonByRound[r - 1]! } : {}),
        bytes: { sent: spread(bytes.sent), received: spread(bytes.received) },
        phases: {
          train: sec(trainEnd - t0),
          aggregate: sec(rec1 - trainEnd),
          adopt: sec(t1 - rec1),
          evaluate: sec(t2 - t1),
        },
        ...(runs.length > 0
          ? {
              trainRuns: {
                lastStart: sec(Math.max(...runs.map((t) => t.startMs)) - t0),
                wall: spread(runs.map((t) => Number(t.computeSeconds.toFixed(3)))),
                wallSum: Number(runs.reduce((x, t) => x + t.computeSeconds, 0).toFixed(3)),
              },
            }
          : {}),
        ...(delays.length > 0 ? { stragglers: Object.fromEntries(delays.map(([i, t]) => [i, Math.round(t.delayMs)])) } : {}),
        // Under secure aggregation no one sees an individual update, so no attacker is ever
        // identified (detected: null). Excluded: attackers whose update did not reach the model
        // — all of them when the round aborted (e.g. the validation gate refused to sign), else
        // those that dropped out before their input (stragglers that missed collection not counted).
        ...(attack !== undefined
          ? {
              attackers: {
                peers: attackers,
                detected: null,
                excluded:
                  aborted !== undefined
                    ? attackers.length
                    : attackers.filter((i) => outcomes[i]?.status === 'finalized' && (outcomes[i] as RoundOutcome).dropout === 'after-keys')
                        .length,
              },
            }
          : {}),
      };
      timings.delete(r);
      rounds.push(report);
      appendFileSync(metricsPath, `${JSON.stringify(report)}\n`);
      hooks.onRound?.(report, o.rounds);
      write(
        `${String(r).padStart(5)}  ${
          task.kind === 'binary'
            ? `${f3(m.accuracy!).padStart(8)}  ${f3(m.auc!)}  ${f3(m.f1!)}`
            : heads.map(([k]) => f3(m[k] as number).padStart(8)).join('  ')
        }  ${seconds.toFixed(2).padStart(7)}  ${short(report.modelHash)}  ${aborted !== undefined ? 'aborted      ' : short(report.txHash)}  ${String(report.participants).padStart(6)}${
          Object.keys(report.dropouts).length > 0
            ? ` (dropped: ${Object.entries(report.dropouts)
                .map(([i, p]) => `${i} ${p}`)
                .join(', ')})`
            : ''
        }`,
      );
    }
    const last = rounds[rounds.length - 1]!;
    // The centralized baseline: what pooling the same training rows would have given.
    const centralized = o.baseline
      ? await centralizedBaseline(train, test, {
          model: modelSpec,
          seed: o.seed,
          epochs: o.rounds * o.localEpochs,
          batchSize: o.batchSize,
          learningRate: o.learningRate,
          standardize: data.standardized,
          ...(classWeights !== undefined ? { classWeights } : {}),
          ...(o.focalGamma !== undefined ? { focalGamma: o.focalGamma } : {}),
        })
      : undefined;
    const { out: _out, quiet: _quiet, ...scenario } = o;
    const summary = {
      dataset: o.dataset,
      peers: o.peers,
      // The issue's schema names both the round count and the per-round list `rounds`;
      // JSON cannot hold both, so the count is `roundCount` and `rounds` is the list.
      roundCount: o.rounds,
      seed: o.seed,
      backend: backend.name,
      model: o.model,
      task,
      ledger: fed.ledgerAddress,
      initialModelHash: fed.initialModelHash,
      initial: pick(initial),
      final: finalOf(last),
      ...(centralized !== undefined ? { centralized: { ...pick(centralized), epochs: o.rounds * o.localEpochs } } : {}),
      ...(classWeights !== undefined ? { classWeights } : {}),
      ...(own !== undefined
        ? {
            modelSource: {
              path: o.modelPath,
              hash: own.hash,
              ...(o.freeze !== undefined ? { freeze: o.freeze } : {}),
              // Update size: only trainable weights are trained, masked and aggregated.
              federatedParameters: fed.trainers[0]!.getWeights().tensors.reduce((n, t) => n + t.data.length, 0),
              totalParameters: fed.trainers[0]!.layersModel.countParams(),
            },
          }
        : {}),
      startupSeconds: startup,
      // Requests to the in-process chain over the whole run, and reads shared with one in flight.
      chainRequests: { ...fed.chainReads },
      // Signature verdicts shared by the in-process peers (simulations/shared-verdicts.ts).
      sharedVerdicts: {
        ed25519: { ...fed.sharedVerdicts.ed25519 },
        secp256k1: { ...fed.sharedVerdicts.secp256k1 },
        identity: { ...fed.sharedVerdicts.identity },
      },
      meanRoundSeconds: Number((rounds.reduce((s, r) => s + r.seconds, 0) / rounds.length).toFixed(3)),
      secureAggregation:
        secure !== undefined
          ? { committeeSize: mt.committeeSize, threshold: mt.threshold, clipRange: secure.clipRange, fractionalBits: secure.fractionalBits }
          : false,
      dropout: o.dropout,
      partition: o.partition,
      algorithm: o.algorithm,
      siteSizes: siteData.map((d) => d.n),
      ...(attack !== undefined ? { attackers: { ...o.attackers, peers: attackers } } : {}),
      ...(o.defence !== undefined ? { defence: o.defence } : {}),
      ...(o.serverOptimizer !== undefined ? { serverOptimizer: o.serverOptimizer } : {}),
      abortedRounds: rounds.filter((r) => r.aborted === true).length,
      ...(dp !== undefined
        ? {
            dp: {
              epsilon: dp.epsilon,
              delta: o.dpDelta,
              ...(o.dpEpsilon !== undefined ? { targetEpsilon: o.dpEpsilon } : {}),
              order: dp.order,
              noiseMultiplier: dp.noiseMultiplier,
              clipNorm: o.dpClipNorm,
              sampleRate: dp.sampleRate,
              stepsPerRound: dp.stepsPerRound,
              totalSteps: dp.totalSteps,
              randomness: 'seeded',
            },
          }
        : {}),
      rounds: rounds.map((r) => ({
        round: r.round,
        ...Object.fromEntries(heads.map(([k]) => [k, r[k]])),
        modelHash: r.modelHash,
        txHash: r.txHash,
        seconds: r.seconds,
        participants: r.participants,
        ...(r.aborted === true ? { aborted: true } : {}),
        ...(Object.keys(r.dropouts).length > 0 ? { dropouts: r.dropouts } : {}),
        ...(r.epsilon !== undefined ? { epsilon: r.epsilon } : {}),
      })),
      // The validated options this run used (defaults < scenario file < flags).
      scenario,
      notes: data.notes,
    };
    writeFileSync(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    const reportPath = join(outDir, 'report.html');
    const evalPooled = poolSets(data.evalSets);
    const explanation = reportExplanations(
      fed.trainers[0]!.layersModel,
      data.featureShape,
      evalPooled.x,
      evalPooled.n,
      data.featureNames,
      undefined,
      undefined,
      task,
    );
    await writeReport(reportPath, {
      title: `fedmesh simulate: ${o.dataset}, ${o.peers} peers, seed ${o.seed}`,
      summary,
      rounds,
      sections: [
        { title: data.featureShape.length === 3 ? 'Explanations: Grad-CAM' : 'Explanations: global feature importance', html: explanation },
      ],
    });
    write('');
    const pooled =
      data.evalSets.length === o.peers && data.evalSets.every((d) => d.n === test.n)
        ? `pooled over ${o.peers} sites × ${test.n} test rows`
        : `${data.evalSets.reduce((n, d) => n + d.n, 0)} test rows over ${data.evalSets.length} evaluation set${data.evalSets.length > 1 ? 's' : ''}`;
    if (task.kind === 'binary') {
      const c = last.confusion!;
      write(
        `final: accuracy ${f3(last.accuracy!)}, AUC ${f3(last.auc!)}, F1 ${f3(last.f1!)}, precision ${f3(last.precision!)}, recall ${f3(last.recall!)}, sensitivity ${f3(last.sensitivity!)}, specificity ${f3(last.specificity!)}, balanced accuracy ${f3(last.balancedAccuracy!)}, Brier ${f3(last.brier!)}; confusion tp=${c.tp} fp=${c.fp} tn=${c.tn} fn=${c.fn} (${pooled})`,
      );
    } else {
      write(`final: ${headline(task, last)}${task.kind === 'multiclass' ? `, macro AUC ${f3(last.macroAuc!)}` : ''} (${pooled})`);
      if (last.confusionMatrix !== undefined) write(`confusion (rows actual, columns predicted): ${JSON.stringify(last.confusionMatrix)}`);
    }
    if (centralized !== undefined) {
      write(`centralized baseline (pooled ${train.n} rows, ${o.rounds * o.localEpochs} epochs): ${headline(task, centralized)}`);
    }
    if (dp !== undefined) write(`privacy: epsilon ${dp.epsilon.toFixed(4)} spent per institution at delta ${o.dpDelta}`);
    write(`wrote ${join(outDir, 'summary.json')} and ${metricsPath}`);
    write(`report: ${reportPath}`);
    // The final model, usable as it is: `fedmesh predict --model <out>/model --data FILE --unbound` (the card carries no manifest: docs/models.md).
    const card = await exportModel(fed.trainers[0]!.layersModel, join(outDir, 'model'), {
      task,
      featureShape: [...data.featureShape],
      ...(data.featureNames !== undefined ? { features: [...data.featureNames] } : {}),
      ...(data.standardizers !== undefined
        ? { standardize: { mean: Array.from(data.standardizers[0]!.mean), std: Array.from(data.standardizers[0]!.std) } }
        : {}),
      ...(own !== undefined ? { sourceHash: own.hash } : {}),
      rounds: o.rounds,
      ...(last.txHash !== '' ? { recordTx: last.txHash } : {}),
      metrics: finalOf(last),
      notes: [
        `fedmesh simulate ${o.dataset}, seed ${o.seed}`,
        ...(data.standardizers !== undefined && o.standardize === 'site'
          ? ["standardize: site 0's own statistics (each site used its own)"]
          : []),
      ],
    });
    if (card.modelHash !== head.modelHash)
      write(`warning: the exported model hashes to ${card.modelHash}, the last record to ${head.modelHash}`);
    write(`model: ${join(outDir, 'model')} (fedmesh predict --model ${join(outDir, 'model')} --data FILE --unbound)`);
    return { outDir, summary, rounds };
  } finally {
    await fed.stop();
  }
}

const sec = (ms: number): number => Number((Math.max(0, ms) / 1000).toFixed(3));

/** A synchronous source of copies of the model at `path` (see `runSimulation`). */
async function ownModelSource(path: string, freeze: readonly string[] | undefined, copies: number): Promise<LayersSource> {
  const artifacts = readModelArtifacts(path);
  const pool = await Promise.all(Array.from({ length: copies }, () => loadLayersModel(artifacts)));
  return {
    build: () => {
      const m = pool.pop();
      if (m === undefined)
        throw new ConfigError('CONFIG_INVALID', `modelPath=${path}: more model copies asked than loaded (${copies})`, {
          issues: [{ field: 'modelPath', value: path, rule: `at most ${copies} trainers` }],
        });
      return m;
    },
    hash: artifactsHash(artifacts),
    ...(freeze !== undefined ? { freeze } : {}),
  };
}

/** summary.json `final`: every metric of the last round (per-class rows included). */
function finalOf(r: RoundReport): RoundMetrics {
  const keys = new Set<string>([
    'loss',
    'accuracy',
    'balancedAccuracy',
    'macroF1',
    'sensitivity',
    'specificity',
    'precision',
    'recall',
    'f1',
    'auc',
    'macroAuc',
    'brier',
    'rmse',
    'mae',
    'r2',
    'confusion',
    'confusionMatrix',
    'perClass',
  ]);
  return Object.fromEntries(Object.entries(r).filter(([k]) => keys.has(k))) as unknown as RoundMetrics;
}

/**
 * Class weights for the loss: none, the given list, or 'auto' — balanced weights n / (k·n_c)
 * from the federation's label histogram. The simulator takes that histogram from the pooled
 * training rows: what a secure sum of every site's class counts gives (the statistics phase of
 * the distributed-DP issue); it is not itself differentially private (said in the notes).
 */
function resolveClassWeights(o: SimulationOptions, task: Task, train: LabelledData, notes: string[]): number[] | undefined {
  if (o.classWeights === 'none') return undefined;
  const k = task.kind === 'multiclass' ? outputUnits(task) : 2;
  if (Array.isArray(o.classWeights)) {
    if (o.classWeights.length !== k) {
      const rule = `${k} weights, one per class`;
      throw new ConfigError('CONFIG_INVALID', `classWeights=${JSON.stringify(o.classWeights)}: ${rule}`, {
        issues: [{ field: 'classWeights', value: o.classWeights, rule }],
      });
    }
    return [...o.classWeights];
  }
  const counts = classCounts(train.y, k);
  const w = balancedClassWeights(counts);
  notes.push(
    `classWeights auto: ${w.map((v) => v.toFixed(3)).join(', ')} from the federation's label histogram ${JSON.stringify(counts)} (pooled here; a secure sum of site counts in a deployment — not itself DP)`,
  );
  return w;
}
