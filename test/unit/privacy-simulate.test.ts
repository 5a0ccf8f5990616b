/**
 * The simulator's DP options (simulations/options.ts, simulations/simulate.ts): validation at the
 * edge, σ planned from a target ε over rounds × local steps, and ε spent reported per round in
 * metrics.jsonl and summary.json. One small federation (3 peers, 2 rounds) runs in-process.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFedmeshError } from '../../protocol/errors.js';
import { planFederatedDpSgd } from '../../protocol/privacy/index.js';
import { ONCHAIN_RDP_ORDERS } from '../../protocol/chain/budget.js';
import { parseSimulationOptions } from '../../simulations/options.js';
import { runSimulation } from '../../simulations/simulate.js';

function issueFields(input: Record<string, unknown>): string[] {
  try {
    parseSimulationOptions(input);
  } catch (e) {
    if (isFedmeshError(e, 'CONFIG_INVALID')) return (e.fields as { issues: { field: string }[] }).issues.map((i) => i.field);
    throw e;
  }
  return [];
}

describe('simulate: DP options', () => {
  it('defaults δ = 1e-5 and C = 1; validates each DP field by name', () => {
    const o = parseSimulationOptions({ dpEpsilon: 2 });
    expect(o).toMatchObject({ dpEpsilon: 2, dpDelta: 1e-5, dpClipNorm: 1 });
    expect(parseSimulationOptions({}).dpEpsilon).toBeUndefined();
    expect(issueFields({ dpEpsilon: 0 })).toEqual(['dpEpsilon']);
    expect(issueFields({ dpEpsilon: 1, dpDelta: 1 })).toEqual(['dpDelta']);
    expect(issueFields({ dpNoiseMultiplier: -1 })).toEqual(['dpNoiseMultiplier']);
    expect(issueFields({ dpNoiseMultiplier: 1, dpClipNorm: 0 })).toEqual(['dpClipNorm']);
    expect(issueFields({ dpNoiseMultiplier: 1, dpSampleRate: 1.5 })).toEqual(['dpSampleRate']);
    expect(issueFields({ dpEpsilon: 1, dpNoiseMultiplier: 1 })).toEqual(['dpNoiseMultiplier']);
    expect(issueFields({ dpSampleRate: 0.5 })).toEqual(['dpSampleRate']);
  });

  it('plans σ for the target, trains with DP-SGD and reports ε spent per round', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'fedmesh-dp-')), 'run');
    const lines: string[] = [];
    const o = parseSimulationOptions({
      peers: 3,
      rounds: 2,
      seed: 4,
      out,
      quiet: true,
      // DP does not depend on secure aggregation; the plaintext path keeps this test fast.
      secureAggregation: false,
      dpEpsilon: 3,
      localEpochs: 1,
      batchSize: 64,
      model: 'logreg',
      learningRate: 0.3,
    });
    const { summary } = await runSimulation(o, (l) => lines.push(l));
    const dp = summary.dp as Record<string, number>;
    // 455 training rows over 3 sites: batch 64 / smallest site → q, one local epoch = ⌈1/q⌉ steps.
    // On the federation ledger (the default) ε = 3 is also each member's on-chain cap, so σ is
    // planned in the ledger's accounting: its 8 orders, less a margin for its rounding up.
    const plan = planFederatedDpSgd({
      targetEpsilon: 3 - (3 * 2 + 10) * 1e-6,
      delta: 1e-5,
      sampleRate: dp.sampleRate!,
      rounds: 2,
      localEpochs: 1,
      orders: ONCHAIN_RDP_ORDERS,
    });
    expect(dp).toMatchObject({
      targetEpsilon: 3,
      delta: 1e-5,
      clipNorm: 1,
      noiseMultiplier: plan.noiseMultiplier,
      totalSteps: plan.totalSteps,
    });
    expect(dp.sampleRate).toBeGreaterThan(0.3);
    expect(dp.sampleRate).toBeLessThan(0.5);
    expect(dp.epsilon).toBeLessThanOrEqual(3);
    expect(dp.epsilon).toBeGreaterThan(3 - 1e-4);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { round: number; epsilon: number; accuracy: number });
    expect(metrics.map((m) => m.epsilon)).toEqual(plan.epsilonByRound);
    expect(metrics[0]!.epsilon).toBeLessThan(metrics[1]!.epsilon);
    expect(metrics[1]!.accuracy).toBeGreaterThan(0.5);
    expect(lines.some((l) => /^DP-SGD: noise multiplier/.test(l))).toBe(true);
  });

  it('an unreachable target is a CONFIG_INVALID naming dpEpsilon', async () => {
    const o = parseSimulationOptions({
      peers: 3,
      rounds: 2,
      dpEpsilon: 0.01,
      quiet: true,
      out: mkdtempSync(join(tmpdir(), 'fedmesh-dp-')),
    });
    const err = await runSimulation(o, () => {}).catch((e: unknown) => e);
    expect(isFedmeshError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as { fields: { issues: { field: string }[] } }).fields.issues[0]!.field).toBe('dpEpsilon');
  });
});
