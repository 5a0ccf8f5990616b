/**
 * Experiments over simulations: one run, a `--sweep` grid and/or `--repeat K` seeds.
 *
 * A sweep axis `key=v1,v2,...` sets one option (dotted for nested ones, e.g.
 * attackers.fraction) over its values; several axes give their cartesian product. `--repeat K`
 * runs each grid point with seeds seed, seed+1, …, seed+K−1 and reports mean ± sample sd
 * (n − 1 in the denominator) of the final metrics. Every configuration is validated before the
 * first run, so a bad value fails fast. Runs are sequential: each starts its own peers and
 * in-process chain, and stops them before the next.
 *
 * Outputs under --out (default runs/sweep-<timestamp>): one folder per run (its summary.json,
 * metrics.jsonl, report.html), and sweep.json, sweep.csv and sweep.svg (final accuracy, mean ± sd,
 * against the first axis; one line per combination of the other axes).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { ConfigError, parseSimulationOptions, type SimulationOptions } from './options.js';

/** Seeds per configuration at most: a sweep is sequential, and 100 runs is hours already. */
export const MAX_REPEAT = 100;
import { renderSvg } from './report.js';
import { loadScenario, parseSweep, sweepGrid, withOption } from './scenario.js';
import { type RoundReport, runSimulation, type SimulationResult } from './simulate.js';
import { keepBlockTimeAtWallTime } from './sim-chain.js';

export interface ExperimentInit {
  /** Option values from flags (override the scenario). */
  readonly options: Record<string, unknown>;
  readonly scenario?: string;
  readonly sweep?: readonly string[];
  readonly repeat?: number;
  /** Draw a progress bar on stderr. */
  readonly progress?: boolean;
  readonly write?: (line: string) => void;
}

export interface SweepRow {
  readonly point: Readonly<Record<string, unknown>>;
  readonly seeds: readonly number[];
  readonly accuracy: MeanSd;
  readonly auc: MeanSd;
  readonly f1: MeanSd;
  readonly loss: MeanSd;
  readonly meanRoundSeconds: MeanSd;
  readonly centralizedAccuracy?: MeanSd;
  /** Every scalar metric of summary.json `final` (the task's: balancedAccuracy, macroF1, rmse, r2, …). */
  readonly metrics: Readonly<Record<string, MeanSd>>;
  /** The same for the centralized baseline, when every run has one. */
  readonly centralized?: Readonly<Record<string, MeanSd>>;
  readonly runs: readonly string[];
}

/** Mean ± sd of every numeric key of `objs` (keys missing from one object are skipped). */
function meanSdByKey(objs: readonly Record<string, unknown>[]): Record<string, MeanSd> {
  const keys = Object.keys(objs[0] ?? {}).filter((k) => objs.every((o) => typeof o[k] === 'number'));
  return Object.fromEntries(keys.map((k) => [k, meanSd(objs.map((o) => o[k] as number))]));
}

export interface MeanSd {
  readonly mean: number;
  readonly sd: number;
  readonly n: number;
}

/** Mean and sample standard deviation (0 for a single value). */
export function meanSd(xs: readonly number[]): MeanSd {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}

function progressBar(): (r: RoundReport, total: number) => void {
  const started = performance.now();
  return (r, total) => {
    const width = 30;
    const done = Math.round((r.round / total) * width);
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(
      `\r[${'#'.repeat(done)}${'-'.repeat(width - done)}] round ${r.round}/${total}  ${r.accuracy !== undefined ? `accuracy ${r.accuracy.toFixed(3)}` : `rmse ${(r.rmse ?? Number.NaN).toFixed(3)}`}  ${secs}s${r.round === total ? '\n' : ''}`,
    );
  };
}

const label = (point: Record<string, unknown>): string =>
  Object.entries(point)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(',')
    .replace(/[^A-Za-z0-9=,.:_-]/g, '_') || 'base';

export async function runExperiment(init: ExperimentInit): Promise<SimulationResult | SweepRow[]> {
  // Block time at wall time: round windows on chain are what the nodes think they are (./sim-chain.ts).
  await keepBlockTimeAtWallTime();
  const write = init.write ?? ((l: string) => process.stdout.write(`${l}\n`));
  const base: Record<string, unknown> = init.scenario !== undefined ? loadScenario(init.scenario) : {};
  for (const [k, v] of Object.entries(init.options)) if (v !== undefined) base[k] = v;
  const axes = (init.sweep ?? []).map(parseSweep);
  const repeat = init.repeat ?? 1;
  if (axes.length === 0 && init.repeat === undefined) {
    const o = parseSimulationOptions(base);
    return runSimulation(o, write, init.progress === true ? { onRound: progressBar() } : {});
  }
  if (!Number.isSafeInteger(repeat) || repeat < 1 || repeat > MAX_REPEAT) {
    const rule = `integer 1..${MAX_REPEAT}`;
    throw new ConfigError('CONFIG_INVALID', `repeat=${JSON.stringify(repeat)}: ${rule}`, {
      issues: [{ field: 'repeat', value: repeat, rule }],
    });
  }
  const first = parseSimulationOptions(base);
  const root = first.out ?? join('runs', `sweep-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(root, { recursive: true });
  // Validate every configuration before running any.
  const plan = sweepGrid(axes).map((point) => {
    let input = { ...base };
    for (const [k, v] of Object.entries(point)) input = withOption(input, k, v);
    const runs = Array.from({ length: repeat }, (_, k) => {
      const seed = first.seed + k;
      const out = join(root, label(point), `seed-${seed}`);
      return parseSimulationOptions({ ...input, seed, out, quiet: true });
    });
    return { point, runs };
  });
  write(`experiment: ${plan.length} configuration(s) × ${repeat} seed(s) → ${root}`);
  const rows: SweepRow[] = [];
  for (const { point, runs } of plan) {
    const results: SimulationResult[] = [];
    for (const o of runs) {
      const res = await runSimulation(o, () => {}, init.progress === true ? { onRound: progressBar() } : {});
      const f = res.summary.final as Record<string, number>;
      const [key, value] = f.accuracy !== undefined ? ['accuracy', f.accuracy] : ['rmse', f.rmse ?? Number.NaN];
      write(`  ${label(point)} seed ${o.seed}: ${key} ${value.toFixed(4)} (${res.outDir})`);
      results.push(res);
    }
    const get = (f: (s: Record<string, unknown>) => number): MeanSd => meanSd(results.map((r) => f(r.summary)));
    const final = (k: string) => (s: Record<string, unknown>) => (s.final as Record<string, number>)[k]!;
    const central = results.every((r) => r.summary.centralized !== undefined)
      ? get((s) => (s.centralized as { accuracy: number }).accuracy)
      : undefined;
    rows.push({
      point,
      seeds: runs.map((o) => o.seed),
      accuracy: get(final('accuracy')),
      auc: get(final('auc')),
      f1: get(final('f1')),
      loss: get(final('loss')),
      meanRoundSeconds: get((s) => s.meanRoundSeconds as number),
      ...(central !== undefined ? { centralizedAccuracy: central } : {}),
      metrics: meanSdByKey(results.map((r) => r.summary.final as Record<string, unknown>)),
      ...(results.every((r) => r.summary.centralized !== undefined)
        ? { centralized: meanSdByKey(results.map((r) => r.summary.centralized as Record<string, unknown>)) }
        : {}),
      runs: results.map((r) => r.outDir),
    });
  }
  writeSweepOutputs(
    root,
    axes.map((a) => a.key),
    rows,
    first,
  );
  write('');
  for (const r of rows) {
    write(
      `${label(r.point)}: accuracy ${r.accuracy.mean.toFixed(4)} ± ${r.accuracy.sd.toFixed(4)}, AUC ${r.auc.mean.toFixed(4)} ± ${r.auc.sd.toFixed(4)} (n=${r.accuracy.n})`,
    );
  }
  write(`wrote ${join(root, 'sweep.json')}, ${join(root, 'sweep.csv')} and ${join(root, 'sweep.svg')}`);
  await writeSweepPlot(
    root,
    axes.map((a) => a.key),
    rows,
  );
  return rows;
}

function writeSweepOutputs(root: string, keys: readonly string[], rows: readonly SweepRow[], first: SimulationOptions): void {
  writeFileSync(join(root, 'sweep.json'), `${JSON.stringify({ keys, baseSeed: first.seed, rows }, null, 2)}\n`);
  const metrics = ['accuracy', 'auc', 'f1', 'loss', 'meanRoundSeconds'] as const;
  const header = [
    ...keys,
    'seeds',
    ...metrics.flatMap((m) => [`${m}_mean`, `${m}_sd`]),
    'centralized_accuracy_mean',
    'centralized_accuracy_sd',
  ];
  const csvCell = (v: unknown): string => {
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = rows.map((r) =>
    [
      ...keys.map((k) => r.point[k]),
      r.seeds.join(' '),
      ...metrics.flatMap((m) => [r[m].mean, r[m].sd]),
      r.centralizedAccuracy?.mean ?? '',
      r.centralizedAccuracy?.sd ?? '',
    ]
      .map(csvCell)
      .join(','),
  );
  writeFileSync(join(root, 'sweep.csv'), `${[header.join(','), ...lines].join('\n')}\n`);
}

async function writeSweepPlot(root: string, keys: readonly string[], rows: readonly SweepRow[]): Promise<void> {
  const x = keys[0] ?? 'configuration';
  const values = rows.map((r) => ({
    x: keys.length > 0 ? String(r.point[x]) : 'base',
    series:
      keys
        .slice(1)
        .map((k) => `${k}=${String(r.point[k])}`)
        .join(', ') || 'final accuracy',
    mean: r.accuracy.mean,
    lo: r.accuracy.mean - r.accuracy.sd,
    hi: r.accuracy.mean + r.accuracy.sd,
  }));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Final accuracy (mean ± sd over ${rows[0]?.accuracy.n ?? 1} seed(s))`,
    width: 480,
    height: 260,
    data: { values },
    encoding: {
      x: { field: 'x', type: 'ordinal', title: x, sort: null },
      color: { field: 'series', type: 'nominal', title: null },
    },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: { y: { field: 'mean', type: 'quantitative', title: 'accuracy', scale: { zero: false } } },
      },
      { mark: 'rule', encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
  } as TopLevelSpec;
  writeFileSync(join(root, 'sweep.svg'), await renderSvg(spec));
}
