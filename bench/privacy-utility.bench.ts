/**
 * Benchmark: privacy against utility on Breast Cancer Wisconsin with 8 institutions.
 *
 * For ε ∈ {0.5, 1, 2, 4, 8, ∞} at δ = 1e-5, three seeds each, a full federation runs — eight real
 * libp2p peers on loopback and an in-process Hardhat chain (simulations/local-federation.ts, the
 * code behind `fedmesh simulate`) — with every institution training by DP-SGD at the noise
 * multiplier planned for the target ε over all rounds × local steps (protocol/privacy
 * `planFederatedDpSgd`; the simulator's `--dp-epsilon` plans the same way). The data pipeline is the
 * simulator's: seeded stratified 80/20 split, stratified IID partition over the peers, per-site
 * standardisation, evaluation of the final global model on the held-out 20 % as standardised by
 * every site (simulations/simulate.ts `evaluateAcrossSites`).
 *
 * Empirical privacy: the loss-threshold membership-inference attack (Yeom et al. 2018) against
 * the final global model. Members are one peer's training records (as that peer standardised
 * them), non-members the held-out records (standardised by the same peer); every peer is the
 * victim once and the results are averaged over peers and seeds. Reported next to ε: the
 * best-threshold advantage TPR − FPR (the issue's number), the same statistic under a label
 * permutation (what a no-information attack scores on these sample sizes), the held-out-threshold
 * advantage (threshold chosen on half the records, measured on the other half; ≈ 0 when nothing
 * leaks) and the (ε, δ)-DP bound on any attack's advantage.
 *
 * Training configuration, the same for every ε (∞ = no clipping and no noise): logistic regression,
 * one local epoch per round of full-batch steps (q = 1: batch 64 ≥ every site's ~57 records),
 * Adam learning rate 0.4 (a fresh Adam per round, so its first step is sign-like and robust to the
 * noise scale), clipping norm C = 1, 5 rounds. Five rounds rather than the simulator's ten because
 * under a fixed ε fewer steps mean less noise per step (σ = 9.05 instead of 12.8 at ε = 1), and
 * the final model carries the last rounds' noise. It was chosen by sweeping learning rate, C,
 * rounds (3, 5, 10), q and local epochs on seeds 11–13, not on the reported seeds 1–3; that tuning
 * is not itself privacy-accounted (Papernot & Steinke 2022). A second ε = ∞ row runs the
 * simulator's defaults (MLP [16], 2 local epochs, batch 16, learning rate 0.01, 10 rounds) as the
 * strongest non-private reference.
 *
 * Preprocessing (issue 15, PU_STATS): 'public' (default) — every site standardises with one set of
 * public reference statistics (the held-out split's mean and deviation, records no site trains
 * on: simulations/sites.ts `publicReferenceStandardizer`), the noisy sum is divided by the public
 * batch size rather than q·N, and FedAvg weights are uniform under DP (the round driver's
 * `fedAvgWeight`) — what a federation that delivers its ε runs; 'site' — the earlier pipeline,
 * each site's own mean and deviation and the divisor q·N (its sensitivity is not C).
 *
 * Run: npm run bench:privacy-utility  (table on stdout; bench/results/privacy-utility[-site].json and .svg)
 * Environment: PU_SEEDS (default 1,2,3,4,5), PU_ROUNDS (default 5), PU_EPSILONS (default 0.5,1,2,4,8,inf),
 * PU_STATS (public | site, default public).
 */
import { prepareSites } from '../simulations/sites.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import '../node/polyfills.js';
import { loadBreastCancer } from '../node/data/breast-cancer.js';
import { createLogger } from '../node/logger.js';
import { selectBackend } from '../node/ml/backend.js';
import type { ModelSpec, TrainOptions } from '../node/ml/trainer.js';
import { type LabelledData, standardize } from '../protocol/data.js';
import {
  dpAdvantageBound,
  type FederatedDpPlan,
  heldOutThresholdAdvantage,
  lossThresholdAttack,
  permutationNullAdvantage,
  planFederatedDpSgd,
} from '../protocol/privacy/index.js';
import { createRng } from '../protocol/rng.js';
import { startLocalFederation } from '../simulations/local-federation.js';
import { evaluateAcrossSites } from '../simulations/simulate.js';

const PEERS = 8;
const DELTA = 1e-5;
const ROUNDS = Number(process.env.PU_ROUNDS ?? 5);
const SEEDS = (process.env.PU_SEEDS ?? '1,2,3,4,5').split(',').map(Number);
const STATS_ENV = process.env.PU_STATS ?? 'public';
if (STATS_ENV !== 'public' && STATS_ENV !== 'site') throw new Error(`PU_STATS=${STATS_ENV}: public or site`);
const STATS: 'public' | 'site' = STATS_ENV;
const EPSILONS = (process.env.PU_EPSILONS ?? '0.5,1,2,4,8,inf').split(',').map((e) => (e === 'inf' ? Number.POSITIVE_INFINITY : Number(e)));
const TEST_FRACTION = 0.2;
const MIA_SPLITS = 50;
const MIA_PERMUTATIONS = 100;

interface Config {
  readonly name: string;
  readonly model: ModelSpec;
  readonly localEpochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly clipNorm: number;
  readonly rounds: number;
  /** q on the public path (a constant of the configuration, never a function of a site's size). */
  readonly publicSampleRate: number;
}

const DP_CONFIG: Config = {
  name: 'logreg, full batch, Adam 0.4',
  model: { kind: 'logreg', inputShape: [30] },
  localEpochs: 1,
  batchSize: 64,
  learningRate: 0.4,
  clipNorm: 1,
  rounds: ROUNDS,
  publicSampleRate: 1,
  // Tuning only: PU_CONFIG='{"learningRate":0.5}' overrides fields (with PU_SEEDS=11,12,13).
  ...(process.env.PU_CONFIG !== undefined ? (JSON.parse(process.env.PU_CONFIG) as Partial<Config>) : {}),
};
const SIMULATOR_DEFAULTS: Config = {
  name: 'simulator defaults (MLP [16], 2 epochs, B=16, Adam 0.01, 10 rounds)',
  model: { kind: 'mlp', inputShape: [30], hidden: [16] },
  localEpochs: 2,
  batchSize: 16,
  learningRate: 0.01,
  clipNorm: 1,
  rounds: 10,
  publicSampleRate: 1,
};

interface RunResult {
  seed: number;
  accuracy: number;
  auc: number;
  epsilonSpent: number;
  noiseMultiplier: number | null;
  sampleRate: number | null;
  miaAdvantage: number;
  miaNullAdvantage: number;
  miaHeldOutAdvantage: number;
  miaAdvantagePeer0: number;
  seconds: number;
}

/** Per-record binary cross-entropy of the model's predictions (probabilities clipped as tfjs does). */
function losses(predict: (d: LabelledData) => Float32Array, d: LabelledData): number[] {
  const p = predict(d);
  return Array.from(p, (v, i) => {
    const q = Math.min(1 - 1e-7, Math.max(1e-7, v));
    return d.y[i] === 1 ? -Math.log(q) : -Math.log(1 - q);
  });
}

async function runOnce(cfg: Config, epsilon: number, seed: number): Promise<RunResult> {
  const started = performance.now();
  const all = loadBreastCancer();
  const { test, standardizers, siteData } = prepareSites(all, {
    testFraction: TEST_FRACTION,
    peers: PEERS,
    splitRng: createRng(seed, 'fedmesh/sim/split'),
    partitionRng: createRng(seed, 'fedmesh/sim/partition'),
    statistics: STATS,
  });

  let plan: FederatedDpPlan | undefined;
  // q = 1 for the DP configuration (batch 64 ≥ every site's ~57 records); on the public path it
  // is fixed from that public configuration rather than read off the sites' sizes.
  const sampleRate =
    STATS === 'public' ? Math.min(1, cfg.publicSampleRate) : Math.min(1, cfg.batchSize / Math.min(...siteData.map((d) => d.n)));
  if (Number.isFinite(epsilon)) {
    plan = planFederatedDpSgd({ targetEpsilon: epsilon, delta: DELTA, sampleRate, rounds: cfg.rounds, localEpochs: cfg.localEpochs });
  }
  const training: Omit<TrainOptions, 'seed'> = {
    epochs: cfg.localEpochs,
    batchSize: cfg.batchSize,
    learningRate: cfg.learningRate,
    ...(plan !== undefined
      ? {
          dp: {
            noiseMultiplier: plan.noiseMultiplier,
            clipNorm: cfg.clipNorm,
            sampleRate: plan.sampleRate,
            randomness: 'seeded' as const,
            // Public path: divide the noisy sum by the public batch size, not q·N.
            ...(STATS === 'public' ? { expectedBatchSize: cfg.batchSize } : {}),
          },
        }
      : {}),
  };
  const fed = await startLocalFederation({
    federation: 'privacy-utility',
    seed,
    model: cfg.model,
    siteData,
    committeeSize: 3,
    timing: { collectMs: 60_000, recordGraceMs: 5_000 },
    training,
    log: createLogger('error', { component: 'bench' }),
  });
  try {
    for (let r = 1; r <= cfg.rounds; r++) await fed.runRound(r);
    const model = fed.trainers[0]!;
    const m = evaluateAcrossSites(model, test, standardizers);
    const predict = (d: LabelledData): Float32Array => model.predict(d.x, d.n);
    const perPeer = siteData.map((members, k) => {
      const mem = losses(predict, members);
      const non = losses(predict, standardize(test, standardizers[k]!));
      return {
        best: lossThresholdAttack(mem, non).advantage,
        nul: permutationNullAdvantage(mem, non, createRng(`${seed}/${k}`, 'bench/mia-null'), MIA_PERMUTATIONS),
        heldOut: heldOutThresholdAdvantage(mem, non, createRng(`${seed}/${k}`, 'bench/mia-split'), MIA_SPLITS),
      };
    });
    const mean = (f: (x: (typeof perPeer)[number]) => number): number => perPeer.reduce((s, x) => s + f(x), 0) / perPeer.length;
    return {
      seed,
      accuracy: m.accuracy,
      auc: m.auc,
      epsilonSpent: plan?.epsilon ?? Number.POSITIVE_INFINITY,
      noiseMultiplier: plan?.noiseMultiplier ?? null,
      sampleRate: plan?.sampleRate ?? null,
      miaAdvantage: mean((x) => x.best),
      miaNullAdvantage: mean((x) => x.nul),
      miaHeldOutAdvantage: mean((x) => x.heldOut),
      miaAdvantagePeer0: perPeer[0]!.best,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await fed.stop();
  }
}

interface Row {
  config: string;
  epsilon: number;
  delta: number;
  noiseMultiplier: number | null;
  sampleRate: number | null;
  accuracy: number;
  accuracySd: number;
  auc: number;
  miaAdvantage: number;
  miaNullAdvantage: number;
  miaHeldOutAdvantage: number;
  dpAdvantageBound: number;
  runs: RunResult[];
}

const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sdOf = (xs: number[]): number => {
  const m = meanOf(xs);
  return xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};

function summarise(cfg: Config, epsilon: number, runs: RunResult[]): Row {
  return {
    config: cfg.name,
    epsilon,
    delta: DELTA,
    noiseMultiplier: runs[0]!.noiseMultiplier,
    sampleRate: runs[0]!.sampleRate,
    accuracy: meanOf(runs.map((r) => r.accuracy)),
    accuracySd: sdOf(runs.map((r) => r.accuracy)),
    auc: meanOf(runs.map((r) => r.auc)),
    miaAdvantage: meanOf(runs.map((r) => r.miaAdvantage)),
    miaNullAdvantage: meanOf(runs.map((r) => r.miaNullAdvantage)),
    miaHeldOutAdvantage: meanOf(runs.map((r) => r.miaHeldOutAdvantage)),
    dpAdvantageBound: dpAdvantageBound(epsilon, DELTA),
    runs,
  };
}

/** A two-panel SVG: accuracy and AUC against ε (left), attack advantages against ε (right). */
function svg(rows: Row[], reference: Row | undefined): string {
  const W = 860;
  const H = 360;
  const finite = rows.filter((r) => Number.isFinite(r.epsilon));
  const inf = rows.find((r) => !Number.isFinite(r.epsilon));
  // x: log2 ε for finite points, ∞ drawn one step right of the largest.
  const xs = finite.map((r) => Math.log2(r.epsilon));
  const xMin = Math.min(...xs) - 0.3;
  const xMax = Math.max(...xs) + 1.3;
  const xOf = (r: Row): number => (Number.isFinite(r.epsilon) ? Math.log2(r.epsilon) : Math.max(...xs) + 1);
  const panel = (
    ox: number,
    title: string,
    yMin: number,
    yMax: number,
    series: { name: string; color: string; value: (r: Row) => number; dashed?: boolean }[],
    refValue?: { name: string; value: number },
  ): string => {
    const pw = 360;
    const ph = 250;
    const oy = 50;
    const px = (x: number): number => ox + ((x - xMin) / (xMax - xMin)) * pw;
    const py = (y: number): number => oy + ph - ((y - yMin) / (yMax - yMin)) * ph;
    const parts: string[] = [];
    parts.push(`<text x="${ox + pw / 2}" y="30" text-anchor="middle" font-size="15">${title}</text>`);
    parts.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
    for (let k = 0; k <= 4; k++) {
      const y = yMin + ((yMax - yMin) * k) / 4;
      parts.push(`<line x1="${ox}" x2="${ox + pw}" y1="${py(y)}" y2="${py(y)}" stroke="#eee"/>`);
      parts.push(`<text x="${ox - 6}" y="${py(y) + 4}" text-anchor="end" font-size="11">${y.toFixed(yMax - yMin < 0.2 ? 3 : 2)}</text>`);
    }
    for (const r of rows) {
      const label = Number.isFinite(r.epsilon) ? String(r.epsilon) : '∞';
      parts.push(`<text x="${px(xOf(r))}" y="${oy + ph + 16}" text-anchor="middle" font-size="11">${label}</text>`);
    }
    parts.push(`<text x="${ox + pw / 2}" y="${oy + ph + 34}" text-anchor="middle" font-size="12">ε (δ = 1e-5)</text>`);
    if (refValue !== undefined) {
      parts.push(
        `<line x1="${ox}" x2="${ox + pw}" y1="${py(refValue.value)}" y2="${py(refValue.value)}" stroke="#888" stroke-dasharray="2,3"/>`,
      );
      parts.push(`<text x="${ox + 4}" y="${py(refValue.value) - 4}" font-size="10" fill="#666">${refValue.name}</text>`);
    }
    series.forEach((s, i) => {
      const pts = [...finite, ...(inf ? [inf] : [])].map((r) => `${px(xOf(r)).toFixed(1)},${py(Math.min(yMax, s.value(r))).toFixed(1)}`);
      parts.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''} points="${pts.join(' ')}"/>`,
      );
      for (const p of pts) parts.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="3" fill="${s.color}"/>`);
      parts.push(
        `<line x1="${ox + 10}" x2="${ox + 30}" y1="${oy + 14 + i * 16}" y2="${oy + 14 + i * 16}" stroke="${s.color}" stroke-width="2"/>`,
      );
      parts.push(`<text x="${ox + 34}" y="${oy + 18 + i * 16}" font-size="11">${s.name}</text>`);
    });
    return parts.join('\n');
  };
  const accMin = Math.floor(Math.min(...rows.map((r) => Math.min(r.accuracy, r.auc))) * 20) / 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    panel(
      60,
      'Utility (breast cancer, 8 peers, mean of seeds)',
      accMin,
      1,
      [
        { name: 'accuracy', color: '#1f77b4', value: (r) => r.accuracy },
        { name: 'AUC', color: '#2ca02c', value: (r) => r.auc },
      ],
      reference !== undefined
        ? { name: `non-private simulator defaults: accuracy ${reference.accuracy.toFixed(3)}`, value: reference.accuracy }
        : undefined,
    ),
    panel(480, 'Membership inference (loss threshold)', 0, 0.5, [
      { name: 'best-threshold advantage', color: '#d62728', value: (r) => r.miaAdvantage },
      { name: 'no-information null', color: '#7f7f7f', value: (r) => r.miaNullAdvantage, dashed: true },
      { name: 'held-out-threshold advantage', color: '#9467bd', value: (r) => Math.max(0, r.miaHeldOutAdvantage) },
      { name: '(ε, δ)-DP bound', color: '#ff7f0e', value: (r) => r.dpAdvantageBound, dashed: true },
    ]),
    '</svg>',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const started = performance.now();
  const backend = await selectBackend({ log: (m) => process.stdout.write(`${m}\n`) });
  const rows: Row[] = [];
  for (const epsilon of EPSILONS) {
    const runs: RunResult[] = [];
    for (const seed of SEEDS) {
      const r = await runOnce(DP_CONFIG, epsilon, seed);
      process.stdout.write(
        `eps ${epsilon} seed ${seed}: accuracy ${r.accuracy.toFixed(3)} AUC ${r.auc.toFixed(3)} MIA ${r.miaAdvantage.toFixed(3)} (${r.seconds.toFixed(1)} s)\n`,
      );
      runs.push(r);
    }
    rows.push(summarise(DP_CONFIG, epsilon, runs));
  }
  const refRuns: RunResult[] = [];
  if (process.env.PU_SKIP_REFERENCE === undefined) {
    for (const seed of SEEDS) refRuns.push(await runOnce(SIMULATOR_DEFAULTS, Number.POSITIVE_INFINITY, seed));
  } else {
    refRuns.push(...rows[rows.length - 1]!.runs);
  }
  const reference = summarise(SIMULATOR_DEFAULTS, Number.POSITIVE_INFINITY, refRuns);

  const nonPrivate = rows.find((r) => !Number.isFinite(r.epsilon));
  const atOne = rows.find((r) => r.epsilon === 1);
  const f3 = (x: number): string => x.toFixed(3);
  process.stdout.write(
    `\nPrivacy vs utility: breast cancer, ${PEERS} peers, ${ROUNDS} rounds, delta ${DELTA.toExponential()}, seeds ${SEEDS.join(',')}, ${STATS} statistics (backend ${backend.name})\n`,
  );
  process.stdout.write(`config: ${DP_CONFIG.name}, C = ${DP_CONFIG.clipNorm}\n`);
  process.stdout.write('epsilon  sigma    accuracy (sd)    AUC    MIA adv  null   held-out  DP bound\n');
  for (const r of [...rows, reference]) {
    const eps = Number.isFinite(r.epsilon) ? String(r.epsilon) : r === reference ? 'inf*' : 'inf';
    process.stdout.write(
      `${eps.padEnd(9)}${(r.noiseMultiplier === null ? '-' : r.noiseMultiplier.toFixed(2)).padEnd(9)}${f3(r.accuracy)} (${f3(r.accuracySd)})    ${f3(r.auc)}  ${f3(r.miaAdvantage)}    ${f3(r.miaNullAdvantage)}  ${f3(r.miaHeldOutAdvantage).padStart(6)}    ${f3(r.dpAdvantageBound)}\n`,
    );
  }
  process.stdout.write(`inf* = ${SIMULATOR_DEFAULTS.name}\n`);
  const targets =
    nonPrivate !== undefined && atOne !== undefined
      ? {
          accuracyDropAtEps1: nonPrivate.accuracy - atOne.accuracy,
          accuracyDropAtEps1VsSimulatorDefaults: reference.accuracy - atOne.accuracy,
          accuracyTargetMet: nonPrivate.accuracy - atOne.accuracy <= 0.03,
          miaAdvantageAtEps1: atOne.miaAdvantage,
          miaHeldOutAdvantageAtEps1: atOne.miaHeldOutAdvantage,
          miaNullAdvantageAtEps1: atOne.miaNullAdvantage,
        }
      : undefined;
  if (targets !== undefined) {
    process.stdout.write(
      `\nat eps=1: accuracy drop ${(100 * targets.accuracyDropAtEps1).toFixed(1)} points vs the same config without DP (target <= 3), ${(100 * targets.accuracyDropAtEps1VsSimulatorDefaults).toFixed(1)} vs simulator defaults; MIA best-threshold advantage ${f3(targets.miaAdvantageAtEps1)} (no-information null ${f3(targets.miaNullAdvantageAtEps1)}, held-out ${f3(targets.miaHeldOutAdvantageAtEps1)}; target <= 0.05)\n`,
    );
  }
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  fs.mkdirSync(dir, { recursive: true });
  const json = {
    benchmark: 'privacy-utility',
    date: new Date().toISOString(),
    backend: backend.name,
    node: process.version,
    cpus: os.cpus().length,
    dataset: 'breast-cancer',
    peers: PEERS,
    rounds: ROUNDS,
    delta: DELTA,
    seeds: SEEDS,
    config: DP_CONFIG,
    statistics: STATS,
    miaSetup: {
      members: "each peer's training records (its own standardisation), one peer at a time, averaged over peers and seeds",
      nonMembers: 'the held-out 20 % standardised by the same peer',
      splits: MIA_SPLITS,
      permutations: MIA_PERMUTATIONS,
    },
    rows: rows.map((r) => ({ ...r, epsilon: Number.isFinite(r.epsilon) ? r.epsilon : 'inf' })),
    nonPrivateSimulatorDefaults: { ...reference, epsilon: 'inf' },
    targets,
    seconds: (performance.now() - started) / 1000,
  };
  const base = STATS === 'public' ? 'privacy-utility' : 'privacy-utility-site';
  fs.writeFileSync(path.join(dir, `${base}.json`), `${JSON.stringify(json, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, `${base}.svg`), svg(rows, reference));
  process.stdout.write(`wrote ${path.join(dir, `${base}.json`)} and ${base}.svg in ${json.seconds.toFixed(0)} s\n`);
}

await main();
