/**
 * The SecAgg+ masking graph (protocol/secure-aggregation/graph.ts; Bell et al., CCS 2020): the
 * Harary graph H(n, K) over an order drawn from the round's on-chain seed, its known-answer vector
 * (test/vectors/secagg-masking-graph.json, from an independent Python implementation), the
 * 'auto' degree rule, the config rules, and whole in-memory rounds on a sparse graph: the
 * unmasked sum equals the plaintext sum of U_3 bit for bit, or the round aborts with SECAGG_FLOOR
 * exactly when the sparse graph breaks a floor.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex0x, toHex0x } from '../../protocol/bytes.js';
import { decodeMaskedInput } from '../../protocol/messages/masked-input.js';
import {
  MASKING_ASSUMPTION_DEFAULTS,
  maskingDegreeFor,
  SECAGG_DEFAULTS,
  validateSecAggConfig,
} from '../../protocol/secure-aggregation/config.js';
import { floorViolation } from '../../protocol/secure-aggregation/floors.js';
import {
  autoMaskingDegree,
  buildMaskingGraph,
  disconnectionLog2Bound,
  graphSeed,
  maskingNeighbours,
} from '../../protocol/secure-aggregation/graph.js';
import { runInMemoryRound } from '../../protocol/secure-aggregation/in-memory-round.js';
import { decodeSum } from '../../protocol/secure-aggregation/quantize.js';
import { parseSimulationOptions, secAggConfigOf } from '../../simulations/options.js';
import { codeOf, config, crypto, entropies, ids, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

interface GraphCase {
  name: string;
  binding: string;
  federation: string;
  round: number;
  seed: string;
  nodes: string[];
  degree: number;
  graphSeed: string;
  order: string[];
  neighbours: Record<string, string[]>;
}
const V = JSON.parse(readFileSync(join(import.meta.dirname, '../vectors/secagg-masking-graph.json'), 'utf8')) as { cases: GraphCase[] };

const SEED = fromHex0x(`0x${'5a'.repeat(32)}`);
const scope = (round = 7) => ({ binding: TEST_BINDING, federation: 'fed', round });

describe('masking graph: known-answer vectors (independent Python implementation)', () => {
  for (const c of V.cases) {
    it(c.name, () => {
      const s = { binding: fromHex0x(c.binding), federation: c.federation, round: c.round };
      expect(toHex0x(graphSeed(s, fromHex0x(c.seed)))).toBe(c.graphSeed);
      // Node order in the input does not matter: the set is what counts.
      const g = buildMaskingGraph(s, { seed: fromHex0x(c.seed), nodes: [...c.nodes].reverse() }, c.degree);
      expect(g.order).toEqual(c.order);
      for (const v of c.nodes) expect(g.neighbours(v)).toEqual(c.neighbours[v]);
    });
  }
  it('the seed, round and deployment each change the order', () => {
    const [a, b, c] = V.cases;
    expect(a!.order).not.toEqual(b!.order); // round 3 vs 4
    expect(a!.order).not.toEqual(c!.order); // chain 31337 vs 1
  });
});

describe('masking graph: structure', () => {
  it('H(n, K): every node has exactly K neighbours, the relation is symmetric and irreflexive, and the graph is connected', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 60 }),
        fc.integer({ min: 1, max: 10 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (n, half, seed) => {
          const k = 2 * half;
          const nodes = ids(n);
          const g = buildMaskingGraph(scope(), { seed, nodes }, k);
          const expected = Math.min(k, n - 1);
          expect(g.complete).toBe(k >= n - 1);
          for (const v of nodes) {
            const ns = g.neighbours(v);
            expect(ns).toHaveLength(expected);
            expect(ns).not.toContain(v);
            for (const u of ns) {
              expect(g.neighbours(u)).toContain(v);
              expect(g.adjacent(u, v)).toBe(true);
            }
          }
          expect(floorViolation(nodes, n, (i) => g.neighbours(i), { minSurvivorFraction: 1, minNeighbours: 1, minSurvivors: 2 })).toBe(
            undefined,
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('deterministic: the same seed and node set give the same graph; another seed another order', () => {
    const nodes = ids(30);
    const a = buildMaskingGraph(scope(), { seed: SEED, nodes }, 6);
    const b = buildMaskingGraph(scope(), { seed: SEED.slice(), nodes: [...nodes].reverse() }, 6);
    expect(b.order).toEqual(a.order);
    const other = SEED.slice();
    other[0]! ^= 1;
    expect(buildMaskingGraph(scope(), { seed: other, nodes }, 6).order).not.toEqual(a.order);
    expect(buildMaskingGraph(scope(8), { seed: SEED, nodes }, 6).order).not.toEqual(a.order);
  });

  it('U_2 (what a key-set leader controls) never changes who is whose neighbour among the remaining nodes, beyond raising K with a smaller |U_2|', () => {
    // The round's K is maskingDegreeFor(|U_2|) (F23): its composition moves no edge; a smaller U_2
    // can only raise K, and H(n, K) is nested in K, so neighbourhoods only grow.
    const nodes = ids(120);
    const graphFor = (u2: readonly string[]) =>
      buildMaskingGraph(scope(), { seed: SEED, nodes }, maskingDegreeFor(SECAGG_DEFAULTS, nodes.length, u2.length));
    fc.assert(
      fc.property(fc.subarray(nodes, { minLength: 80 }), fc.subarray(nodes, { minLength: 80 }), (u2a, u2b) => {
        const ga = graphFor(u2a);
        const gb = graphFor(u2b);
        const [small, large] = u2a.length <= u2b.length ? [u2a, u2b] : [u2b, u2a];
        const [gs, gl] = u2a.length <= u2b.length ? [ga, gb] : [gb, ga];
        expect(gs.degree).toBeGreaterThanOrEqual(gl.degree);
        const inSmall = new Set(small);
        for (const i of large) {
          if (!inSmall.has(i)) continue;
          const a = new Set(maskingNeighbours(gl, large, i));
          for (const j of large) expect(a.has(j)).toBe(j !== i && gl.neighbours(i).includes(j));
          const b = new Set(maskingNeighbours(gs, small, i));
          // Every common node i masks with under the larger U_2, it masks with under the smaller one.
          for (const j of a) if (inSmall.has(j)) expect(b.has(j)).toBe(true);
          if (gs.degree === gl.degree) for (const j of small) if (large.includes(j)) expect(b.has(j)).toBe(a.has(j));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('without a graph source M_i = U_2 \\ {i} (the complete graph of Bonawitz et al. 2017); a node outside the node set has no neighbours', () => {
    const u2 = ['c', 'a', 'b'];
    expect(maskingNeighbours(undefined, u2, 'a')).toEqual(['c', 'b']); // U_2's order, as before the graph
    const g = buildMaskingGraph(scope(), { seed: SEED, nodes: ['a', 'b', 'c'] }, 4);
    expect(g.complete).toBe(true);
    expect(maskingNeighbours(g, [...u2, 'stranger'], 'stranger')).toEqual([]);
    expect(maskingNeighbours(g, [...u2, 'stranger'], 'a')).toEqual(['c', 'b']);
  });

  it('refuses an odd degree, duplicate nodes and a seed that is not 32 bytes, naming the field', () => {
    const fieldOf = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return (e as { code: string; fields: { field: string } }).code === 'SECAGG_BAD_CONFIG'
          ? (e as { fields: { field: string } }).fields.field
          : e;
      }
      return 'none';
    };
    expect(fieldOf(() => buildMaskingGraph(scope(), { seed: SEED, nodes: ids(10) }, 3))).toBe('maskingDegree');
    expect(fieldOf(() => buildMaskingGraph(scope(), { seed: SEED, nodes: ['a', 'b', 'a'] }, 2))).toBe('maskingGraph.nodes');
    expect(fieldOf(() => buildMaskingGraph(scope(), { seed: SEED.subarray(1), nodes: ids(10) }, 2))).toBe('maskingGraph.seed');
    // K ≥ n − 1 is the complete graph whatever its parity.
    expect(buildMaskingGraph(scope(), { seed: SEED, nodes: ids(5) }, 5).complete).toBe(true);
  });
});

describe("masking degree: 'auto' (Bell et al. 2020's question, bounded for H(n, K) under a stated γ and κ) and config rules", () => {
  const A = MASKING_ASSUMPTION_DEFAULTS;
  const alpha = SECAGG_DEFAULTS.minSurvivorFraction;
  it('defaults: small federations keep the complete graph, large ones get a sparse degree, denser when fewer members are in U_2', () => {
    expect(A).toEqual({ corruptFraction: 1 / 5, failureBits: 40 });
    const k = (n: number, shared = n) => maskingDegreeFor(SECAGG_DEFAULTS, n, shared);
    expect([3, 8, 16, 32, 57].map((n) => k(n))).toEqual([2, 7, 15, 31, 56]); // n − 1: complete
    expect([58, 64, 128, 256, 1024].map((n) => k(n))).toEqual([56, 58, 60, 62, 66]);
    expect(k(256, 171)).toBe(136); // U_2 at the α floor of 256
    expect(k(256, 128)).toBe(255); // half the members offline: complete
  });

  it('for every certified |U_2| and every U_3 the floors then allow, the auto degree keeps n(n − 1)/2 · ρ^K ≤ 2^−κ (F23)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 4000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.integer({ min: 10, max: 80 }),
        (n, f, corruptFraction, failureBits) => {
          const shared = Math.max(1, Math.round(f * n));
          const cfg = { ...SECAGG_DEFAULTS, maskingAssumption: { corruptFraction, failureBits } };
          const K = maskingDegreeFor(cfg, n, shared);
          if (K >= n - 1) return; // complete: connected whenever one honest survivor is
          // Worst case the floors allow: U_3 = ⌈α·|U_2|⌉, every other node absent, γn corrupt.
          const rho = corruptFraction + (n - Math.ceil(alpha * shared - 1e-9)) / n;
          expect(disconnectionLog2Bound(n, K, rho)).toBeLessThanOrEqual(-failureBits + 1e-6);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('the auto degree is the smallest even K ≥ 2k meeting the bound', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5000 }),
        fc.double({ min: 0.01, max: 0.95, noNaN: true }),
        fc.integer({ min: 10, max: 80 }),
        fc.integer({ min: 1, max: 4 }),
        (n, rho, failureBits, k) => {
          const K = autoMaskingDegree(n, rho, failureBits, k);
          if (K === n - 1) {
            // Complete: no smaller even degree ≥ 2k meets the bound.
            const below = K % 2 === 0 ? K - 2 : K - 1;
            if (below >= 2 * k) expect(disconnectionLog2Bound(n, below, rho)).toBeGreaterThan(-failureBits - 1e-6);
            return;
          }
          expect(K % 2).toBe(0);
          expect(K).toBeGreaterThanOrEqual(2 * k);
          expect(disconnectionLog2Bound(n, K, rho)).toBeLessThanOrEqual(-failureBits + 1e-6);
          if (K - 2 >= 2 * k) expect(disconnectionLog2Bound(n, K - 2, rho)).toBeGreaterThan(-failureBits - 1e-6);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a stronger assumption never needs a larger degree (monotone in ρ and κ)', () => {
    const base = autoMaskingDegree(1000, 0.5, 40, 2);
    expect(autoMaskingDegree(1000, 0.4, 40, 2)).toBeLessThanOrEqual(base);
    expect(autoMaskingDegree(1000, 0.5, 20, 2)).toBeLessThanOrEqual(base);
    expect(autoMaskingDegree(1000, 0.5, 80, 2)).toBeGreaterThan(base);
    expect(autoMaskingDegree(1000, 1, 40, 2)).toBe(999);
  });

  it('config: maskingDegree is even and ≥ 2·minNeighbours, the assumption is in range; errors name the field and the rule', () => {
    const fieldOf = (over: object): string => {
      try {
        validateSecAggConfig(config(over));
      } catch (e) {
        const f = (e as { fields: { field: string; rule: string } }).fields;
        expect(f.rule.length).toBeGreaterThan(0);
        return f.field;
      }
      return 'ok';
    };
    expect(fieldOf({})).toBe('ok');
    expect(fieldOf({ maskingDegree: 8 })).toBe('ok');
    expect(fieldOf({ maskingDegree: 7 })).toBe('maskingDegree');
    expect(fieldOf({ maskingDegree: 2 })).toBe('maskingDegree'); // < 2k = 4
    expect(fieldOf({ maskingDegree: 2, minNeighbours: 1 })).toBe('ok');
    expect(fieldOf({ maskingDegree: 'sparse' })).toBe('maskingDegree');
    expect(fieldOf({ maskingAssumption: { ...A, corruptFraction: 1 } })).toBe('maskingAssumption.corruptFraction');
    expect(fieldOf({ maskingAssumption: { ...A, failureBits: 0 } })).toBe('maskingAssumption.failureBits');
    expect(fieldOf({ maskingAssumption: 'unchecked' })).toBe('maskingAssumption'); // needs a numeric K
    expect(fieldOf({ maskingAssumption: 'unchecked', maskingDegree: 8 })).toBe('ok');
  });

  it('an explicit K is a minimum: the round uses max(K, the auto K for its |U_2|) unless the assumption is "unchecked" (F28)', () => {
    const explicit = { ...SECAGG_DEFAULTS, maskingDegree: 62 };
    expect(maskingDegreeFor(explicit, 256, 256)).toBe(62);
    expect(maskingDegreeFor(explicit, 256, 171)).toBe(136);
    expect(maskingDegreeFor({ ...explicit, maskingDegree: 200 }, 256, 256)).toBe(200);
    expect(maskingDegreeFor({ ...explicit, maskingAssumption: 'unchecked' }, 256, 171)).toBe(62);
    expect(maskingDegreeFor({ ...explicit, maskingDegree: 8 }, 32, 32)).toBe(31);
  });
});

describe('fedmesh simulate --masking-degree', () => {
  const issuesOf = (input: Record<string, unknown>): { field: string; rule: string }[] => {
    try {
      parseSimulationOptions(input);
      return [];
    } catch (e) {
      return (e as { fields: { issues: { field: string; rule: string }[] } }).fields.issues;
    }
  };
  it('reaches the secure-aggregation config, and an odd or too small K is refused naming maskingDegree', () => {
    expect(secAggConfigOf(parseSimulationOptions({ maskingDegree: 6 })).maskingDegree).toBe(6);
    expect(secAggConfigOf(parseSimulationOptions({})).maskingDegree).toBe('auto');
    expect(issuesOf({ maskingDegree: 5 })[0]).toMatchObject({ field: 'maskingDegree' });
    expect(issuesOf({ maskingDegree: 2 })[0]).toMatchObject({ field: 'maskingDegree' });
  });
});

describe('in-memory rounds on a sparse masking graph', () => {
  const M = 5;
  const T = 3;
  const F = 16;
  // K = 4 exactly ('unchecked': at 8–16 nodes the bound would need the complete graph); these tests
  // are about the sparse graph's mechanics.
  const cfg = config({
    committeeSize: M,
    threshold: T,
    fractionalBits: F,
    clipRange: 2 ** 20,
    maskingDegree: 4,
    maskingAssumption: 'unchecked',
    minNeighbours: 2,
  });

  it('property: the unmasked sum equals the plaintext sum of U_3 bit for bit, or the round aborts with SECAGG_FLOOR exactly when the sparse graph breaks a floor', () => {
    let completed = 0;
    let aborted = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 8, max: 16 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 15 }), { maxLength: 5 }),
        fc.option(fc.tuple(fc.nat(), fc.nat()), { nil: undefined }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (n, seed, dropIdx, cut, salt) => {
          const parties = ids(n);
          const committee = parties.slice(0, M);
          const graph = buildMaskingGraph(scope(), { seed, nodes: parties }, 4);
          // Dropouts after sharing keys (they leave U_3): random ones, and sometimes a cut of the
          // ring — K/2 = 2 consecutive nodes of the graph's order at two places.
          const drop = new Set(dropIdx.filter((i) => i < n).map((i) => parties[i]!));
          if (cut !== undefined) for (const at of [cut[0], cut[1]]) for (const o of [0, 1]) drop.add(graph.order[(at + o) % n]!);
          const ints = new Map(
            parties.map((p, i) => [p, [((i + 1) * 7919 + salt) % 2001, ((i + 3) * 104729 + salt) % 2001].map((x) => x - 1000)]),
          );
          const participants = parties.map((id, i) => ({ id, values: ints.get(id)!.map((x) => x / 2 ** F), sampleCount: 1 + i }));
          const u2 = parties;
          const u3 = parties.filter((p) => !drop.has(p));
          const expectViolation =
            floorViolation(u3, u2.length, (i) => maskingNeighbours(graph, u2, i), {
              minSurvivorFraction: cfg.minSurvivorFraction,
              minNeighbours: cfg.minNeighbours,
              minSurvivors: cfg.minSurvivors,
            }) ??
            floorViolation(u2, u2.length, (i) => maskingNeighbours(graph, u2, i), {
              minSurvivorFraction: 1,
              minNeighbours: 2,
              minSurvivors: 0,
            });
          const run = () =>
            runInMemoryRound({
              binding: TEST_BINDING,
              federation: 'fed',
              round: 7,
              config: cfg,
              committee,
              threshold: T,
              participants,
              dropAfterKeys: drop,
              crypto,
              entropy: entropies(`graph/${salt}`),
              sign: testSign,
              verify: testVerify,
              maskingGraph: { seed, nodes: parties },
            });
          if (expectViolation !== undefined) {
            expect(codeOf(run)).toBe('SECAGG_FLOOR');
            aborted++;
            return;
          }
          const res = run();
          completed++;
          expect(res.survivors).toEqual(u3);
          const { values, totalSamples } = decodeSum(res.sum, u3.length, cfg);
          expect(totalSamples).toBe(u3.reduce((a, p) => a + 1 + parties.indexOf(p), 0));
          const f = 2 ** F;
          expect(Array.from(values, (v) => v * f)).toEqual([0, 1].map((k) => u3.reduce((a, p) => a + ints.get(p)![k]!, 0)));
        },
      ),
      { numRuns: 40, seed: 13 },
    );
    // Both outcomes were exercised (fixed seed: the dropout sets are dense enough to cut a 4-regular ring).
    expect(completed).toBeGreaterThan(0);
    expect(aborted).toBeGreaterThan(0);
  });

  it('each participant masked with exactly its graph neighbours in U_2 (and the complete graph without a source)', () => {
    const parties = ids(12);
    const base = {
      binding: TEST_BINDING,
      federation: 'fed',
      round: 7,
      config: cfg,
      committee: parties.slice(0, M),
      threshold: T,
      participants: parties.map((id) => ({ id, values: [0.5], sampleCount: 1 })),
      crypto,
      entropy: entropies('graph/neighbours'),
      sign: testSign,
      verify: testVerify,
    };
    const sparse = runInMemoryRound({ ...base, maskingGraph: { seed: SEED, nodes: parties } });
    const complete = runInMemoryRound(base);
    const graph = buildMaskingGraph(scope(), { seed: SEED, nodes: parties }, 4);
    // The payload's neighbour list is what the views check; decode it from the published bytes.
    expect(sparse.sum).toEqual(complete.sum);
    for (const p of parties) {
      const sparseNeighbours = neighboursIn(sparse.payloads.get(p)!);
      expect(sparseNeighbours).toEqual(graph.neighbours(p));
      expect(sparseNeighbours).toHaveLength(4);
      expect(neighboursIn(complete.payloads.get(p)!)).toEqual(parties.filter((x) => x !== p));
    }
  });
});

function neighboursIn(bytes: Uint8Array): readonly string[] {
  return decodeMaskedInput(bytes).neighbours;
}
