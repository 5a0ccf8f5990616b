/**
 * Benchmark: the simulation lab's targets (issue 8), each a full `fedmesh simulate` run — real
 * libp2p peers on 127.0.0.1, the in-process Hardhat chain with FedmeshFederation, secure
 * aggregation — with the centralized baseline computed in the same run.
 *
 * Cases (select with --case NAME, repeatable; default all):
 *   breast-cancer — simulations/scenarios/breast-cancer-dirichlet.yaml: 8 peers, Dirichlet 0.5,
 *                   FedAvg, secure aggregation. Target: accuracy ≥ 0.975 and within 1 point of
 *                   the centralized baseline.
 *   heart-disease — simulations/scenarios/heart-disease-by-site.yaml: the 4 UCI hospitals by
 *                   site. Target: accuracy ≥ 0.81.
 *   pneumonia     — simulations/scenarios/pneumonia-cnn.yaml: 8 peers, small CNN. Target: within
 *                   2 points of the centralized baseline with the same model.
 *   scale         — breast-cancer, 16 / 32 / 64 peers × 5 rounds with secure aggregation:
 *                   seconds per round, inputs per round and peak RSS (whole process, and per
 *                   peer). Target (issue 13): 64 × 5 in under 3 minutes of wall time, every
 *                   round finalized with ≥ 90 % of the peers' inputs. (--scale-peers 16,32 to
 *                   run a subset.)
 *   latency       — breast-cancer, 8 peers × 10 rounds, seed 1, secure aggregation and then
 *                   plaintext (--no-secure-aggregation) back to back, twice (S P S P): median
 *                   round seconds and per-phase medians (train, aggregate, adopt as
 *                   simulations/simulate.ts reports them). Target (issue 13): median secure
 *                   round ≤ 1.3 × median plaintext round of the same pair.
 *   attack        — simulations/scenarios/attack-scaled.yaml: final accuracy with no attackers,
 *                   and with 20 % scaled:10, sign-flip or scaled:-10 attackers, each without and
 *                   with the defence (update norm bound B = 1, validation gate margin 0.05).
 * Each run is a separate child process, so peak RSS (getrusage maxRSS) is that run's own.
 * Results are merged into bench/results/sim.json by case, so cases can run separately:
 *   npm run bench:sim -- --case scale
 * The machine's core count and load average at the start of each case are recorded: on a
 * shared machine, wall-clock numbers include other processes' contention.
 */
import '../node/polyfills.js';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const RESULTS = path.join(HERE, 'results', 'sim.json');
const SCENARIOS = path.join(ROOT, 'simulations', 'scenarios');
const CASES = ['breast-cancer', 'heart-disease', 'pneumonia', 'scale', 'latency', 'attack'] as const;
type CaseName = (typeof CASES)[number];

interface RunSpec {
  readonly label: string;
  readonly scenario?: string;
  readonly options: Record<string, unknown>;
}

interface RunResult {
  readonly label: string;
  readonly peers: number;
  readonly rounds: number;
  readonly final: { accuracy: number; auc: number; f1: number; loss: number };
  readonly centralized?: { accuracy: number; auc: number; f1: number };
  readonly roundSeconds: number[];
  /** Seconds per phase of each round (simulations/simulate.ts RoundReport.phases). */
  readonly roundPhases: { train: number; aggregate: number; adopt: number; evaluate: number }[];
  /** Inputs in each round's record (0 for an aborted round). */
  readonly roundInputs: number[];
  readonly meanRoundSeconds: number;
  readonly abortedRounds: number;
  readonly wallSeconds: number;
  readonly maxRssMB: number;
  readonly maxRssPerPeerMB: number;
  readonly loadAvgStart: number[];
  /** Seconds of each start-up stage before round 1 (summary.json startupSeconds). */
  readonly startupSeconds?: Record<string, number>;
}

/** Child mode: run one simulation and print its result as the last stdout line. */
async function child(spec: RunSpec): Promise<void> {
  const { resolveSimulationOptions } = await import('../simulations/scenario.js');
  const { runSimulation } = await import('../simulations/simulate.js');
  // Block time at wall time, as `fedmesh simulate` runs (simulations/sim-chain.ts).
  await (await import('../simulations/sim-chain.js')).keepBlockTimeAtWallTime();
  const loadAvgStart = os.loadavg();
  const t0 = performance.now();
  const o = resolveSimulationOptions(
    { out: fs.mkdtempSync(path.join(os.tmpdir(), 'fedmesh-bench-sim-')), ...spec.options, quiet: true },
    spec.scenario,
  );
  const res = await runSimulation(o, () => {});
  const wallSeconds = (performance.now() - t0) / 1000;
  const maxRssMB = process.resourceUsage().maxRSS / 1024;
  const s = res.summary as {
    final: RunResult['final'];
    centralized?: RunResult['centralized'];
    startupSeconds?: Record<string, number>;
  };
  const out: RunResult = {
    label: spec.label,
    peers: o.peers,
    rounds: o.rounds,
    final: { accuracy: s.final.accuracy, auc: s.final.auc, f1: s.final.f1, loss: s.final.loss },
    ...(s.centralized !== undefined
      ? { centralized: { accuracy: s.centralized.accuracy, auc: s.centralized.auc, f1: s.centralized.f1 } }
      : {}),
    roundSeconds: res.rounds.map((r) => r.seconds),
    roundPhases: res.rounds.map((r) => ({ ...r.phases })),
    roundInputs: res.rounds.map((r) => r.participants),
    meanRoundSeconds: res.rounds.reduce((a, r) => a + r.seconds, 0) / res.rounds.length,
    abortedRounds: res.rounds.filter((r) => r.aborted === true).length,
    wallSeconds,
    maxRssMB,
    maxRssPerPeerMB: maxRssMB / o.peers,
    loadAvgStart,
    ...(s.startupSeconds !== undefined ? { startupSeconds: s.startupSeconds } : {}),
  };
  process.stdout.write(`\nBENCH_RESULT ${JSON.stringify(out)}\n`);
}

function runChild(spec: RunSpec): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
    const p = spawn(tsx, [fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.on('error', reject);
    p.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code !== 0 || line === undefined) reject(new Error(`${spec.label}: child exited ${code}\n${stdout.slice(-2000)}`));
      else resolve(JSON.parse(line.slice('BENCH_RESULT '.length)) as RunResult);
    });
  });
}

const pts = (x: number): number => Number((100 * x).toFixed(2));
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const r3 = (x: number): number => Number(x.toFixed(3));

/** Median round and per-phase medians of one latency run. */
function latencyOf(r: RunResult): Record<string, unknown> {
  const phase = (k: keyof RunResult['roundPhases'][number]): number => r3(median(r.roundPhases.map((p) => p[k])));
  return {
    medianRoundSeconds: r3(median(r.roundSeconds)),
    minRoundSeconds: r3(Math.min(...r.roundSeconds)),
    maxRoundSeconds: r3(Math.max(...r.roundSeconds)),
    medianPhaseSeconds: { train: phase('train'), aggregate: phase('aggregate'), adopt: phase('adopt'), evaluate: phase('evaluate') },
    roundSeconds: r.roundSeconds,
    roundPhases: r.roundPhases,
    roundInputs: r.roundInputs,
    abortedRounds: r.abortedRounds,
    wallSeconds: r3(r.wallSeconds),
    loadAvgStart: r.loadAvgStart.map((x) => Number(x.toFixed(2))),
  };
}

async function runCase(name: CaseName, scalePeers: readonly number[]): Promise<Record<string, unknown>> {
  const machine = { cpus: os.cpus().length, loadAvgStart: os.loadavg(), startedAt: new Date().toISOString() };
  const log = (r: RunResult): void => {
    process.stdout.write(
      `  ${r.label.padEnd(28)} peers ${String(r.peers).padStart(3)}  accuracy ${r.final.accuracy.toFixed(4)}  centralized ${r.centralized?.accuracy.toFixed(4) ?? '   —  '}  s/round ${r.meanRoundSeconds.toFixed(2).padStart(6)}  wall ${r.wallSeconds.toFixed(1).padStart(6)}s  peak RSS ${r.maxRssMB.toFixed(0)} MB\n`,
    );
  };
  const go = async (spec: RunSpec): Promise<RunResult> => {
    const r = await runChild(spec);
    log(r);
    return r;
  };
  process.stdout.write(`case ${name} (load average ${machine.loadAvgStart.map((x) => x.toFixed(2)).join(' ')} on ${machine.cpus} cores)\n`);
  switch (name) {
    case 'breast-cancer': {
      const r = await go({
        label: 'breast-cancer dirichlet:0.5',
        scenario: path.join(SCENARIOS, 'breast-cancer-dirichlet.yaml'),
        options: {},
      });
      const gap = pts(r.centralized!.accuracy - r.final.accuracy);
      return {
        machine,
        run: r,
        target: 'accuracy >= 0.975 and within 1 point of centralized',
        gapPoints: gap,
        met: r.final.accuracy >= 0.975 && gap <= 1,
      };
    }
    case 'heart-disease': {
      const r = await go({ label: 'heart-disease by-site', scenario: path.join(SCENARIOS, 'heart-disease-by-site.yaml'), options: {} });
      return {
        machine,
        run: r,
        target: 'accuracy >= 0.81',
        met: r.final.accuracy >= 0.81,
        gapPoints: pts(r.centralized!.accuracy - r.final.accuracy),
      };
    }
    case 'pneumonia': {
      const r = await go({ label: 'pneumonia cnn', scenario: path.join(SCENARIOS, 'pneumonia-cnn.yaml'), options: {} });
      const gap = pts(r.centralized!.accuracy - r.final.accuracy);
      return { machine, run: r, target: 'within 2 points of centralized', gapPoints: gap, met: gap <= 2 };
    }
    case 'scale': {
      const runs: Record<string, unknown>[] = [];
      for (const peers of scalePeers) {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fedmesh-bench-sim-'));
        const label = `scale ${peers} peers`;
        // A long collect window (the contract's input window follows it): the committee closes
        // a round as soon as every input is in, so it only matters when a loaded machine needs
        // more than the default 60 s for keys and training of 64 peers.
        const options = {
          dataset: 'breast-cancer',
          peers,
          rounds: 5,
          seed: 1,
          secureAggregation: true,
          baseline: false,
          collectMs: SCALE_COLLECT_MS,
          out,
        };
        try {
          const r = await go({ label, options });
          runs.push({
            peers: r.peers,
            rounds: r.rounds,
            accuracy: r.final.accuracy,
            secondsPerRound: r.meanRoundSeconds,
            roundSeconds: r.roundSeconds,
            roundInputs: r.roundInputs,
            roundPhases: r.roundPhases,
            ...(r.startupSeconds !== undefined ? { startupSeconds: r.startupSeconds } : {}),
            abortedRounds: r.abortedRounds,
            wallSeconds: r.wallSeconds,
            peakRssMB: r.maxRssMB,
            peakRssPerPeerMB: r.maxRssPerPeerMB,
          });
        } catch (e) {
          // Keep what the failed run measured: its completed rounds (metrics.jsonl) and the error.
          const done = fs.existsSync(path.join(out, 'metrics.jsonl'))
            ? fs
                .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
                .trim()
                .split('\n')
                .filter((l) => l !== '')
                .map((l) => JSON.parse(l) as { seconds: number; accuracy: number })
            : [];
          const error = String(e instanceof Error ? e.message : e).slice(0, 600);
          process.stdout.write(`  ${label}: FAILED after ${done.length} round(s): ${error.split('\n')[0]}\n`);
          runs.push({ peers, rounds: 5, failed: true, error, completedRounds: done.length, roundSeconds: done.map((d) => d.seconds) });
        }
      }
      return { machine, runs, target: SCALE_TARGET };
    }
    case 'latency': {
      const options = { dataset: 'breast-cancer', peers: 8, rounds: 10, seed: 1, baseline: false };
      const pairs: Record<string, unknown>[] = [];
      for (let pair = 1; pair <= LATENCY_PAIRS; pair++) {
        const secure = latencyOf(await go({ label: `latency secure #${pair}`, options: { ...options, secureAggregation: true } }));
        const plain = latencyOf(await go({ label: `latency plaintext #${pair}`, options: { ...options, secureAggregation: false } }));
        const ratio = r3((secure.medianRoundSeconds as number) / (plain.medianRoundSeconds as number));
        process.stdout.write(
          `  pair ${pair}: median round secure ${secure.medianRoundSeconds} s, plaintext ${plain.medianRoundSeconds} s, ratio ${ratio} (phases secure ${JSON.stringify(secure.medianPhaseSeconds)}, plaintext ${JSON.stringify(plain.medianPhaseSeconds)})\n`,
        );
        pairs.push({ secure, plaintext: plain, ratio });
      }
      const ratios = pairs.map((p) => p.ratio as number);
      return {
        machine,
        options,
        target: LATENCY_TARGET,
        pairs,
        ratios,
        met: ratios.every((x) => x <= LATENCY_MAX_RATIO),
      };
    }
    case 'attack': {
      const scenario = path.join(SCENARIOS, 'attack-scaled.yaml');
      const base = { baseline: false };
      const signFlip = { attackers: { fraction: 0.2, kind: 'sign-flip' } };
      const clean = await go({ label: 'no attackers', scenario, options: { ...base, attackers: { fraction: 0, kind: 'sign-flip' } } });
      const scaled = await go({ label: '20% scaled:10', scenario, options: base });
      const scaledDefended = await go({ label: '20% scaled:10 + defence', scenario, options: { ...base, defence: BENCH_DEFENCE } });
      const flipped = await go({ label: '20% sign-flip', scenario, options: { ...base, ...signFlip } });
      const flippedDefended = await go({
        label: '20% sign-flip + defence',
        scenario,
        options: { ...base, ...signFlip, defence: BENCH_DEFENCE },
      });
      // scaled:-10 flips and boosts: the aggregate step becomes (8 − 2·10)/10 = −1.2 × honest.
      const boost = { attackers: { fraction: 0.2, kind: 'scaled:-10' } };
      const boosted = await go({ label: '20% scaled:-10', scenario, options: { ...base, ...boost } });
      const boostedDefended = await go({
        label: '20% scaled:-10 + defence',
        scenario,
        options: { ...base, ...boost, defence: BENCH_DEFENCE },
      });
      return {
        machine,
        defence: BENCH_DEFENCE,
        target: 'final accuracy with 20% attackers, with and without the defence',
        clean,
        scaled: { withoutDefence: scaled, withDefence: scaledDefended },
        signFlip: { withoutDefence: flipped, withDefence: flippedDefended },
        scaledNegative: { withoutDefence: boosted, withDefence: boostedDefended },
      };
    }
  }
}

/** Issue 13's scale target: the 64-peer run's wall time and each round's share of inputs. */
const SCALE_TARGET = '64 peers x 5 rounds in under 3 minutes, every round finalized with >= 90% of inputs';
const SCALE_MAX_WALL_SECONDS = 180;
const SCALE_MIN_INPUT_FRACTION = 0.9;

/** Issue 13's latency target: median secure round over median plaintext round, same seed, back to back. */
const LATENCY_TARGET = 'breast-cancer 8 peers x 10 rounds: median secure round <= 1.3 x median plaintext round';
const LATENCY_MAX_RATIO = 1.3;
/** Secure/plaintext pairs per latency case: the machine is shared, so one pair is not enough. */
const LATENCY_PAIRS = 2;

/** Collect window of the scale runs (ms). */
const SCALE_COLLECT_MS = 300_000;

/** The defence the attack case turns on (simulations/scenarios/attack-scaled.yaml explains B). */
const BENCH_DEFENCE = { updateNormBound: 1, validationMargin: 0.05 };

async function main(argv: readonly string[]): Promise<void> {
  const childAt = argv.indexOf('--child');
  if (childAt >= 0) return child(JSON.parse(argv[childAt + 1]!) as RunSpec);
  const cases: CaseName[] = [];
  let scalePeers = [16, 32, 64];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--case') {
      const c = argv[++i] as CaseName;
      if (!CASES.includes(c)) throw new Error(`--case ${c}: one of ${CASES.join(', ')}`);
      cases.push(c);
    } else if (argv[i] === '--scale-peers') {
      scalePeers = argv[++i]!.split(',').map(Number);
    }
  }
  const selected = cases.length > 0 ? cases : [...CASES];
  const results = fs.existsSync(RESULTS) ? (JSON.parse(fs.readFileSync(RESULTS, 'utf8')) as { cases?: Record<string, unknown> }) : {};
  const merged: Record<string, unknown> = { ...(results.cases ?? {}) };
  for (const c of selected) {
    const result = await runCase(c, scalePeers);
    if (c === 'scale') {
      // Keep earlier scale runs of other peer counts (--scale-peers runs a subset).
      const before = ((merged.scale as { runs?: { peers: number }[] } | undefined)?.runs ?? []).filter(
        (r) => !scalePeers.includes(r.peers),
      );
      const runs = [...before, ...(result.runs as { peers: number }[])].sort((a, b) => a.peers - b.peers);
      result.runs = runs;
      const r64 = runs.find((r) => r.peers === 64) as { wallSeconds?: number; failed?: boolean; roundInputs?: number[] } | undefined;
      if (r64 !== undefined)
        result.met =
          r64.failed !== true &&
          (r64.wallSeconds ?? Number.POSITIVE_INFINITY) < SCALE_MAX_WALL_SECONDS &&
          (r64.roundInputs ?? []).length === 5 &&
          (r64.roundInputs ?? []).every((n) => n >= SCALE_MIN_INPUT_FRACTION * 64);
    }
    merged[c] = result;
    fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
    fs.writeFileSync(
      RESULTS,
      `${JSON.stringify({ bench: 'sim', node: process.version, updatedAt: new Date().toISOString(), cases: merged }, null, 2)}\n`,
    );
  }
  process.stdout.write(`wrote ${path.relative(ROOT, RESULTS)}\n`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
