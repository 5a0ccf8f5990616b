/**
 * `fedmesh simulate --scenario` as separate OS processes: the same scenario and seed replay
 * bit for bit (per-round metrics and model hashes), flags override the file, a bad field is
 * rejected with exit code 2 naming field, value and rule, and a sweep writes its table and plot.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/fedmesh.mjs');
const QUICK = join(import.meta.dirname, '../../simulations/scenarios/quick.yaml');

/**
 * Everything in a metrics line except wall-clock measurements: seconds and phases; straggler
 * delays actually waited; tx hashes (block timestamps follow the wall clock); gossip bytes (a
 * late duplicate or a step-in message can land in either round); and the committee, which
 * FedmeshFederation draws from block.prevrandao (Hardhat's varies between runs). The model
 * does not depend on which members aggregate, so the metrics and hashes still replay.
 */
function deterministic(line: Record<string, unknown>): Record<string, unknown> {
  // Wall-clock fields (docs/simulation-lab.md): times, phases, training runs' starts and walls,
  // transaction hashes (block timestamps), gossip byte counts, committee timing.
  const { seconds: _s, phases: _p, stragglers: _st, txHash: _t, bytes: _b, committee: _c, trainRuns: _tr, ...rest } = line;
  return rest;
}

const lines = (dir: string): Record<string, unknown>[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('fedmesh simulate --scenario (CLI process)', () => {
  it('replays a scenario bit for bit: identical per-round metrics and model hashes', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-e2e-scenario-'));
    const go = (name: string) =>
      run('node', [BIN, 'simulate', '--scenario', QUICK, '--no-baseline', '--out', join(dir, name), '--quiet'], { timeout: 240_000 });
    await go('a');
    await go('b');
    const a = lines(join(dir, 'a'));
    const b = lines(join(dir, 'b'));
    expect(a).toHaveLength(2);
    expect(a.map(deterministic)).toEqual(b.map(deterministic));
    for (const l of a) {
      expect(l.modelHash).toMatch(/^0x[0-9a-f]{64}$/);
      // The quick scenario has a sign-flip attacker; the per-round record names it.
      expect((l.attackers as { peers: number[] }).peers).toHaveLength(1);
      const bytes = l.bytes as { sent: { min: number; max: number }; received: { median: number } };
      expect(bytes.sent.min).toBeGreaterThan(0);
      expect(bytes.received.median).toBeGreaterThan(0);
      expect(Object.keys(l.phases as object).sort()).toEqual(['adopt', 'aggregate', 'evaluate', 'train']);
      expect(typeof l.loss).toBe('number');
    }
    const summary = JSON.parse(readFileSync(join(dir, 'a', 'summary.json'), 'utf8'));
    expect(summary.scenario).toMatchObject({ peers: 4, rounds: 2, seed: 7, partition: 'dirichlet:1', algorithm: 'fedprox:0.01' });
    expect(summary.scenario.scenarioFile).toBe(QUICK);
    const html = readFileSync(join(dir, 'a', 'report.html'), 'utf8');
    expect(html.match(/<svg/g)?.length).toBeGreaterThanOrEqual(4);
  });

  it('flags override the file; a bad field exits 2 naming field, value and rule', { timeout: 200_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-e2e-scenario-'));
    const file = join(dir, 's.yaml');
    writeFileSync(file, 'peers: 3\nrounds: 5\nseed: 2\nsecureAggregation: false\n');
    await run('node', [BIN, 'simulate', '--scenario', file, '--rounds', '1', '--no-baseline', '--out', join(dir, 'o'), '--quiet'], {
      timeout: 150_000,
    });
    const summary = JSON.parse(readFileSync(join(dir, 'o', 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ peers: 3, roundCount: 1, secureAggregation: false });

    writeFileSync(file, 'peers: 3\npartition: dirichlet:zero\n');
    const err = await run('node', [BIN, 'simulate', '--scenario', file], { timeout: 60_000 }).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/partition="dirichlet:zero": iid \| dirichlet:<alpha>/);
  });

  it('--sweep writes one combined table and plot over the grid', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-e2e-sweep-'));
    const { stdout } = await run(
      'node',
      [
        BIN,
        'simulate',
        '--peers',
        '3',
        '--rounds',
        '1',
        '--no-secure-aggregation',
        '--no-baseline',
        '--sweep',
        'partition=iid,quantity-skew:1',
        '--out',
        dir,
      ],
      { timeout: 280_000 },
    );
    expect(stdout).toMatch(/2 configuration\(s\) × 1 seed/);
    const csv = readFileSync(join(dir, 'sweep.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toMatch(/^partition,seeds,accuracy_mean,accuracy_sd/);
    expect(csv.slice(1).map((l) => l.split(',')[0])).toEqual(['iid', 'quantity-skew:1']);
    const json = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8'));
    expect(json.rows).toHaveLength(2);
    for (const r of json.rows) expect(r.accuracy.mean).toBeGreaterThan(0.5);
    expect(readFileSync(join(dir, 'sweep.svg'), 'utf8')).toMatch(/^<svg/);
  });
});
