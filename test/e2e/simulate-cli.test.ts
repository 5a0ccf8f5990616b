/**
 * The `fedmesh` binary as a separate OS process: the demo command at small scale, and a
 * rejected configuration.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/fedmesh.mjs');

describe('fedmesh simulate (CLI process)', () => {
  it('runs a federation and writes summary.json and metrics.jsonl', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'fedmesh-e2e-')), 'run');
    const { stdout } = await run(
      'node',
      [BIN, 'simulate', '--dataset', 'breast-cancer', '--peers', '3', '--rounds', '2', '--seed', '5', '--out', out, '--quiet'],
      {
        timeout: 120_000,
      },
    );
    expect(stdout).toMatch(/round\s+accuracy\s+auc\s+f1\s+seconds\s+model hash\s+tx hash/);
    expect(stdout).toMatch(/tfjs backend 'wasm'/);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ dataset: 'breast-cancer', peers: 3, roundCount: 2, seed: 5, backend: 'wasm' });
    for (const k of ['accuracy', 'auc', 'f1', 'precision', 'recall']) expect(summary.final[k]).toBeGreaterThan(0.8);
    // The centralized baseline ran in the same process, on the same split, with the same epoch budget.
    expect(summary.centralized.accuracy).toBeGreaterThan(0.8);
    expect(summary.centralized.epochs).toBe(2 * 2);
    expect(summary.rounds).toHaveLength(2);
    for (const r of summary.rounds) {
      expect(r.modelHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(r.txHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(r.seconds).toBeGreaterThan(0);
    }
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.round)).toEqual([1, 2]);
    expect(lines[1].modelHash).toBe(summary.rounds[1].modelHash);
  });

  it('replays bit for bit from the same seed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-e2e-'));
    const go = (name: string) =>
      run('node', [BIN, 'simulate', '--peers', '3', '--rounds', '2', '--seed', '9', '--out', join(dir, name), '--quiet'], {
        timeout: 120_000,
      });
    await go('a');
    await go('b');
    const hashes = (name: string) =>
      JSON.parse(readFileSync(join(dir, name, 'summary.json'), 'utf8')).rounds.map((r: { modelHash: string }) => r.modelHash);
    expect(hashes('a')).toEqual(hashes('b'));
  });

  it('rejects an invalid option with exit code 2, naming the field, value and rule', async () => {
    const err = await run('node', [BIN, 'simulate', '--peers', '1', '--rounds', '1'], { timeout: 60_000 }).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/CONFIG_INVALID: peers=1: .*>=2/);
  });
});
