/**
 * `npm run fuzz`: every fuzz target (test/fuzz/targets.ts) with a share of FUZZ_RUNS cases
 * (default 100 000 in total, split by target weight), printing per-target counts, the outcome
 * tally (handled vs. each typed rejection code) and any failure with its seed and
 * counterexample. Exits 1 on a failure or an unhandled rejection.
 *
 *   FUZZ_RUNS=1000000 npm run fuzz          # a longer campaign
 *   FUZZ_SEED=42 npm run fuzz               # replay a run
 *
 * Then the stateful model-based test of FedmeshFederation on the in-process Hardhat chain
 * (test/contracts/federation-model.ts) until FUZZ_CONTRACT_STEPS checked steps (default 10 000;
 * 0 skips it).
 */
import '../../node/polyfills.js';
import fc from 'fast-check';
import { FUZZ_TARGETS, runCase, runsPerTarget } from './targets.js';

const TOTAL = Number(process.env.FUZZ_RUNS ?? 100_000);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;

let unhandled = 0;
process.on('unhandledRejection', (e) => {
  unhandled++;
  console.error('unhandled rejection:', e);
});

const runs = runsPerTarget(TOTAL);
let total = 0;
let failures = 0;
console.log(`fuzz: ${FUZZ_TARGETS.length} targets, ${TOTAL} cases requested, seed ${SEED}`);
console.log(
  `${'target'.padEnd(76)} ${'cases'.padStart(8)} ${'returned'.padStart(8)} ${'typed'.padStart(8)}  ms     top outcomes (label or throw:<code>)`,
);
for (const t of FUZZ_TARGETS) {
  const n = runs.get(t.name)!;
  const outcomes = new Map<string, number>();
  const t0 = performance.now();
  const res = fc.check(
    fc.property(t.arbitrary, (input) => {
      const o = runCase(t, input);
      outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
    }),
    { numRuns: n, seed: SEED },
  );
  const ms = performance.now() - t0;
  const cases = [...outcomes.values()].reduce((a, b) => a + b, 0);
  const thrown = [...outcomes].filter(([k]) => k.startsWith('throw:')).reduce((a, [, v]) => a + v, 0);
  const top = [...outcomes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([k, v]) => `${k}×${v}`)
    .join(' ');
  total += res.numRuns;
  console.log(
    `${t.name.padEnd(76)} ${String(res.numRuns).padStart(8)} ${String(cases - thrown).padStart(8)} ${String(thrown).padStart(8)}  ${ms.toFixed(0).padStart(5)}  ${top}`,
  );
  if (res.failed) {
    failures++;
    console.error(fc.defaultReportMessage(res));
  }
}
const CONTRACT_STEPS = Number(process.env.FUZZ_CONTRACT_STEPS ?? 10_000);
if (CONTRACT_STEPS > 0) {
  const { startInProcessChain } = await import('../../node/chain/hardhat.js');
  const { modelStats, runFederationModel } = await import('../contracts/federation-model.js');
  const chain = await startInProcessChain();
  const t0 = performance.now();
  let batch = 0;
  try {
    while (modelStats.steps < CONTRACT_STEPS) await runFederationModel(chain, 20, SEED + batch++);
    console.log(
      `${'contracts FedmeshFederation model-based (real bytecode)'.padEnd(76)} ${String(modelStats.steps).padStart(8)} steps  ${(performance.now() - t0).toFixed(0)} ms  ${JSON.stringify(modelStats)}`,
    );
  } catch (e) {
    failures++;
    console.error('contract model failed:', e);
  }
}
// Let any stray promise settle before judging unhandled rejections.
await new Promise((r) => setTimeout(r, 100));
console.log(`fuzz: ${total} cases in total, ${failures} failing targets, ${unhandled} unhandled rejections`);
process.exit(failures > 0 || unhandled > 0 ? 1 : 0);
