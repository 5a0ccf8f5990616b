/**
 * The fuzz targets (test/fuzz/targets.ts) in `npm test`: a small slice of each, so a regression
 * in any decoder, validator or state machine shows up in CI. `npm run fuzz` runs ≥ 10^5 cases.
 * FUZZ_RUNS_TEST sets the cases per target (default 100); FUZZ_SEED fixes the seed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FUZZ_TARGETS, runCase } from './targets.js';

const RUNS = Number(process.env.FUZZ_RUNS_TEST ?? 100);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;

describe('fuzz: every input is handled or rejected with a typed FedmeshError', () => {
  for (const t of FUZZ_TARGETS) {
    it(t.name, () => {
      const outcomes = new Map<string, number>();
      fc.assert(
        fc.property(t.arbitrary, (input) => {
          const o = runCase(t, input);
          outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
        }),
        { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
      );
      expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(RUNS);
    });
  }

  it('the mutated inputs reach past the first checks (not only trivially rejected)', () => {
    // A fuzzer that only produces garbage tests nothing: across the decoders, some mutated or
    // valid inputs must decode ('ok') and some must be rejected with several distinct codes.
    const t = FUZZ_TARGETS.find((x) => x.name === 'messages/secagg decodeSecAgg')!;
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(t.arbitrary, (input) => {
        outcomes.add(runCase(t, input));
      }),
      { numRuns: 300, seed: 1 },
    );
    expect(outcomes.has('ok')).toBe(true);
    expect([...outcomes].filter((o) => o.startsWith('throw:')).length).toBeGreaterThanOrEqual(4);
  });
});
