/**
 * Simulator edges of secure aggregation: option defaults and validation
 * (simulations/options.ts) and seeded dropout plans (simulations/dropouts.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planDropouts } from '../../simulations/dropouts.js';
import { DROPOUT_COLLECT_MS, parseSimulationOptions, SIMULATION_DEFAULTS, secAggConfigOf } from '../../simulations/options.js';

const issuesOf = (input: Record<string, unknown>): { field: string; rule: string }[] => {
  try {
    parseSimulationOptions(input);
  } catch (e) {
    return (e as { fields: { issues: { field: string; rule: string }[] } }).fields.issues;
  }
  return [];
};

describe('simulation options', () => {
  it('secure aggregation is on by default with m = 7, t = 5 (tolerates one malicious member); --no-secure-aggregation turns it off', () => {
    const o = parseSimulationOptions({});
    expect(o).toMatchObject({
      secureAggregation: true,
      committeeSize: 7,
      threshold: 5,
      dropout: 0,
      collectMs: SIMULATION_DEFAULTS.collectMs,
    });
    expect(secAggConfigOf(o)).toMatchObject({ committeeSize: 7, threshold: 5, clipRange: 2 ** 24, fractionalBits: 24 });
    expect(parseSimulationOptions({ secureAggregation: false }).secureAggregation).toBe(false);
  });

  it('caps the committee by the peer count instead of refusing it', () => {
    expect(parseSimulationOptions({ peers: 3 }).committeeSize).toBe(7); // runs with m = 3, t = 3
    expect(issuesOf({ peers: 2 })).toEqual([]);
  });

  it('validates the threshold and the overflow bound, naming the field', () => {
    // (m = 7: t = 4 tolerates no malicious member, t = 8 > m.)
    expect(issuesOf({ threshold: 4 })[0]).toMatchObject({ field: 'threshold' });
    expect(issuesOf({ threshold: 8 })[0]).toMatchObject({ field: 'threshold' });
    // 2^30 · 2^24 levels: beyond exact float64 quantization (and the Z_{2^64} overflow bound).
    expect(issuesOf({ clipRange: 2 ** 30 })[0]).toMatchObject({ field: 'clipRange' });
    expect(issuesOf({ clipRange: 2 ** 30, secureAggregation: false })).toEqual([]);
    expect(issuesOf({ dropout: 1 })[0]).toMatchObject({ field: 'dropout' });
  });

  it('a dropout run waits less for missing inputs unless --collect-ms is given', () => {
    expect(parseSimulationOptions({ dropout: 0.1 }).collectMs).toBe(DROPOUT_COLLECT_MS);
    expect(parseSimulationOptions({ dropout: 0.1, collectMs: 2000 }).collectMs).toBe(2000);
  });
});

describe('dropout plans', () => {
  it('are seeded, and never leave fewer than t live committee members or 2 inputs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 64 }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.integer({ min: 1, max: 1000 }),
        (peers, p, round) => {
          const committee = Array.from({ length: Math.min(5, peers) }, (_, i) => (i * 3) % peers).filter((x, i, a) => a.indexOf(x) === i);
          const t = Math.floor(committee.length / 2) + 1;
          const plan = planDropouts({ probability: p, seed: 4, threshold: t, minSurvivors: 2 });
          const a = plan(round, { committee, peers });
          expect([...a]).toEqual([...plan(round, { committee, peers })]);
          expect(committee.filter((c) => !a.has(c)).length).toBeGreaterThanOrEqual(t);
          expect(peers - [...a.values()].filter((x) => x === 'after-keys').length).toBeGreaterThanOrEqual(2);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('drop about P of the peers, at both points', () => {
    const plan = planDropouts({ probability: 0.1, seed: 1, threshold: 3, minSurvivors: 2 });
    let dropped = 0;
    const points = new Set<string>();
    for (let r = 1; r <= 200; r++) {
      const a = plan(r, { committee: [0, 1, 2, 3, 4], peers: 32 });
      dropped += a.size;
      for (const p of a.values()) points.add(p);
    }
    expect(dropped / (200 * 32)).toBeGreaterThan(0.08);
    expect(dropped / (200 * 32)).toBeLessThan(0.12);
    expect(points).toEqual(new Set(['after-keys', 'after-input']));
    expect(planDropouts({ probability: 0, seed: 1, threshold: 3, minSurvivors: 2 })(1, { committee: [0], peers: 4 }).size).toBe(0);
  });
});
