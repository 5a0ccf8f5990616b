/**
 * `npm run soak` (not part of `npm test`): a long federation run that looks for leaks and
 * stuck rounds rather than speed (issue #9 §7).
 *
 * It runs the simulator (simulations/simulate.ts → simulations/local-federation.ts: N real
 * libp2p peers on loopback, the FedmeshFederation contract on an in-process Hardhat chain,
 * secure aggregation, tfjs training) for R rounds with random dropouts, and reports
 * - RSS over time: sampled every second and at every round's end. All peers share this one
 *   process, so "RSS per process" is this process's RSS; the growth trend is the least-squares
 *   slope of round-end RSS after warm-up (the first 20 % of rounds, at least 2), as a fraction
 *   of the fitted RSS at the end of warm-up, extrapolated over the measured rounds. PASS < 10 %;
 * - open handles (process.getActiveResourcesInfo()) before the federation starts, at every
 *   round's end and after it stops, by resource type;
 * - rounds finalized versus aborted;
 * - gossip health: non-ACCEPT verdicts over all peers and the lowest peer score (an honest
 *   federation should never REJECT itself or graylist a member).
 * It writes bench/results/soak.json.
 *
 *   SOAK_PEERS=16 SOAK_ROUNDS=50 SOAK_DROPOUT=0.1 SOAK_SEED=1 npm run soak
 */
import '../node/polyfills.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Libp2pGossip } from '../node/net/libp2p-host.js';
import { FEDMESH_SCORE_THRESHOLDS } from '../node/net/peer-scoring.js';
import { parseSimulationOptions } from '../simulations/options.js';
import { type RoundReport, runSimulation } from '../simulations/simulate.js';

const PEERS = Number(process.env.SOAK_PEERS ?? 16);
const ROUNDS = Number(process.env.SOAK_ROUNDS ?? 50);
const DROPOUT = Number(process.env.SOAK_DROPOUT ?? 0.1);
const SEED = Number(process.env.SOAK_SEED ?? 1);
/** Growth of RSS after warm-up that fails the soak (issue #9: "no growth trend beyond 10%"). */
const MAX_GROWTH = 0.1;
const MB = 1024 * 1024;

interface Sample {
  readonly t: number;
  readonly rssMb: number;
  readonly heapUsedMb: number;
}

function handles(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

const total = (h: Record<string, number>): number => Object.values(h).reduce((a, b) => a + b, 0);

/** Least-squares slope and intercept of y over x. */
function leastSquares(xs: readonly number[], ys: readonly number[]): { slope: number; intercept: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  const slope = den === 0 ? 0 : num / den;
  return { slope, intercept: my - slope * mx };
}

const sample = (t0: number): Sample => {
  const m = process.memoryUsage();
  return { t: (performance.now() - t0) / 1000, rssMb: m.rss / MB, heapUsedMb: m.heapUsed / MB };
};

// Watch every gossip endpoint the simulator creates (it builds them inside startLocalFederation):
// verdict counts say whether honest peers ever REJECT each other, scores whether anyone is
// graylisted. An honest soak should show neither.
const gossips = new Set<Libp2pGossip>();
const topics = new Set<string>();
const subscribe = Libp2pGossip.prototype.subscribe;
Libp2pGossip.prototype.subscribe = function (this: Libp2pGossip, ...args: Parameters<typeof subscribe>) {
  gossips.add(this);
  topics.add(args[0]);
  return subscribe.apply(this, args);
};

/** Fewest topic peers any peer sees on any federation topic (n − 1 when the mesh is whole). */
function minTopicPeers(): number {
  let min = Number.POSITIVE_INFINITY;
  for (const g of gossips) for (const t of topics) min = Math.min(min, g.subscribers(t).length);
  return min;
}

function verdictTotals(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const g of gossips) for (const [k, v] of g.verdicts) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Lowest score any peer gives any other peer of the federation. */
function minScore(): number {
  const ids = [...gossips].map((g) => g.self);
  let min = Number.POSITIVE_INFINITY;
  for (const g of gossips) for (const id of ids) if (id !== g.self) min = Math.min(min, g.score(id));
  return min;
}

const t0 = performance.now();
const handlesBefore = handles();
const samples: Sample[] = [sample(t0)];
const timer = setInterval(() => samples.push(sample(t0)), 1000);
timer.unref();

interface RoundPoint extends Sample {
  readonly round: number;
  readonly aborted: boolean;
  readonly participants: number;
  readonly dropouts: number;
  readonly seconds: number;
  readonly handles: number;
  /** Lowest peer score among the federation's peers at the round's end. */
  readonly minPeerScore: number;
  /** Fewest topic peers any peer sees (connectivity; n − 1 when whole). */
  readonly minTopicPeers: number;
  /** Non-ACCEPT verdicts over all peers so far, by action:code. */
  readonly verdicts: Record<string, number>;
}
const rounds: RoundPoint[] = [];
let maxHandles = total(handlesBefore);

const out = mkdtempSync(join(tmpdir(), 'fedmesh-soak-'));
const options = parseSimulationOptions({
  peers: PEERS,
  rounds: ROUNDS,
  seed: SEED,
  dropout: DROPOUT,
  baseline: false,
  quiet: true,
  out,
});
console.log(`soak: ${PEERS} peers, ${ROUNDS} rounds, dropout ${DROPOUT}, seed ${SEED} (simulation output in ${out})`);
let error: string | undefined;
try {
  await runSimulation(options, () => {}, {
    onRound: (r: RoundReport) => {
      const h = handles();
      maxHandles = Math.max(maxHandles, total(h));
      const s = sample(t0);
      samples.push(s);
      const v = Object.fromEntries(Object.entries(verdictTotals()).filter(([k]) => !k.startsWith('accept')));
      const low = minScore();
      const reach = minTopicPeers();
      rounds.push({
        minPeerScore: low,
        minTopicPeers: reach,
        verdicts: v,
        ...s,
        round: r.round,
        aborted: r.aborted === true,
        participants: r.participants,
        dropouts: Object.keys(r.dropouts).length,
        seconds: r.seconds,
        handles: total(h),
      });
      console.log(
        `round ${String(r.round).padStart(3)}  ${r.aborted === true ? 'ABORTED  ' : 'finalized'}  ${String(r.participants).padStart(2)} participants  ${String(Object.keys(r.dropouts).length).padStart(2)} dropouts  ${r.seconds.toFixed(1).padStart(6)} s  rss ${s.rssMb.toFixed(0)} MB  heap ${s.heapUsedMb.toFixed(0)} MB  handles ${total(h)}  min score ${low.toFixed(1)}  min topic peers ${reach}  ${JSON.stringify(v)}`,
      );
    },
  });
} catch (e) {
  error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  console.error(`soak: the simulation failed: ${error}`);
}
clearInterval(timer);
// Let closed sockets and timers finish closing before counting what is left open.
await new Promise((r) => setTimeout(r, 2000));
const handlesAfter = handles();
rmSync(out, { recursive: true, force: true });

const warmup = Math.max(2, Math.ceil(rounds.length * 0.2));
const measured = rounds.slice(warmup);
let growth: number | undefined;
let slopeMbPerRound: number | undefined;
if (measured.length >= 3) {
  const { slope, intercept } = leastSquares(
    measured.map((r) => r.round),
    measured.map((r) => r.rssMb),
  );
  const first = measured[0]!.round;
  const last = measured[measured.length - 1]!.round;
  const base = intercept + slope * first;
  slopeMbPerRound = slope;
  growth = (slope * (last - first)) / base;
}
const finalized = rounds.filter((r) => !r.aborted).length;
const aborted = rounds.filter((r) => r.aborted).length;
const leaked: Record<string, number> = {};
for (const [k, v] of Object.entries(handlesAfter)) if (v > (handlesBefore[k] ?? 0)) leaked[k] = v - (handlesBefore[k] ?? 0);

const result = {
  config: { peers: PEERS, rounds: ROUNDS, dropout: DROPOUT, seed: SEED, node: process.version },
  completedRounds: rounds.length,
  finalized,
  aborted,
  error: error ?? null,
  wallSeconds: (performance.now() - t0) / 1000,
  rss: {
    note: 'every peer runs in this one process: RSS is the process total',
    startMb: samples[0]!.rssMb,
    maxMb: Math.max(...samples.map((s) => s.rssMb)),
    endMb: samples[samples.length - 1]!.rssMb,
    warmupRounds: warmup,
    slopeMbPerRound: slopeMbPerRound ?? null,
    growthAfterWarmup: growth ?? null,
    maxGrowth: MAX_GROWTH,
    pass: growth !== undefined ? growth < MAX_GROWTH : null,
  },
  handles: { before: handlesBefore, maxDuring: maxHandles, after: handlesAfter, leakedAfterStop: leaked },
  gossip: {
    verdicts: verdictTotals(),
    minPeerScore: rounds.length > 0 ? Math.min(...rounds.map((r) => r.minPeerScore)) : null,
    graylistThreshold: FEDMESH_SCORE_THRESHOLDS.graylistThreshold,
  },
  rounds,
  samples,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/soak.json', `${JSON.stringify(result, null, 2)}\n`);

console.log('');
console.log(
  `rounds       ${rounds.length}/${ROUNDS} completed: ${finalized} finalized, ${aborted} aborted${error !== undefined ? ` (run failed: ${error})` : ''}`,
);
console.log(
  `rss          start ${result.rss.startMb.toFixed(0)} MB, max ${result.rss.maxMb.toFixed(0)} MB, end ${result.rss.endMb.toFixed(0)} MB; ` +
    (growth !== undefined
      ? `after ${warmup} warm-up rounds ${(slopeMbPerRound ?? 0).toFixed(2)} MB/round, growth ${(growth * 100).toFixed(1)} % (${growth < MAX_GROWTH ? 'PASS' : 'FAIL'} < ${MAX_GROWTH * 100} %)`
      : 'too few rounds after warm-up for a trend'),
);
console.log(
  `handles      before ${total(handlesBefore)}, max during ${maxHandles}, after stop ${total(handlesAfter)}; left open: ${JSON.stringify(leaked)}`,
);
console.log(
  `gossip       verdicts ${JSON.stringify(result.gossip.verdicts)}; lowest peer score ${result.gossip.minPeerScore?.toFixed(1)} (graylist ${FEDMESH_SCORE_THRESHOLDS.graylistThreshold})`,
);
console.log('wrote bench/results/soak.json');
process.exit(error !== undefined || (growth !== undefined && growth >= MAX_GROWTH) ? 1 : 0);
