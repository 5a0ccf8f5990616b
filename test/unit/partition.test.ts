import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePartition, partitionRows, sampleDirichlet, sampleGamma } from '../../protocol/partition.js';
import { createRng } from '../../protocol/rng.js';

const labels = Uint8Array.from({ length: 400 }, (_, i) => (i % 5 === 0 ? 1 : 0));
const rows = Array.from({ length: 400 }, (_, i) => i);

describe('partitions', () => {
  it('parses the scenario syntax and rejects bad specs', () => {
    expect(parsePartition('dirichlet:0.5')).toEqual({ kind: 'dirichlet', alpha: 0.5 });
    expect(parsePartition('quantity-skew:2')).toEqual({ kind: 'quantity-skew', beta: 2 });
    expect(parsePartition('by-site')).toEqual({ kind: 'by-site' });
    for (const bad of ['dirichlet', 'dirichlet:-1', 'iid:3', 'random'])
      expect(() => parsePartition(bad)).toThrow(expect.objectContaining({ code: 'DATA_BAD_SPLIT' }));
  });

  it('every partition covers every row exactly once, with no empty site, reproducibly', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('iid', 'dirichlet:0.1', 'dirichlet:0.5', 'dirichlet:100', 'quantity-skew:0.5'),
        fc.integer({ min: 2, max: 16 }),
        fc.integer(),
        (spec, peers, seed) => {
          const parts = partitionRows(parsePartition(spec), { rows, labels }, peers, createRng(seed));
          expect(parts).toHaveLength(peers);
          expect(parts.flat().sort((a, b) => a - b)).toEqual(rows);
          expect(parts.every((p) => p.length >= 2)).toBe(true);
          expect(partitionRows(parsePartition(spec), { rows, labels }, peers, createRng(seed))).toEqual(parts);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('small α skews labels far more than large α', () => {
    const skew = (alpha: number) => {
      const parts = partitionRows({ kind: 'dirichlet', alpha }, { rows, labels }, 8, createRng(3));
      const fracs = parts.map((p) => p.filter((r) => labels[r] === 1).length / p.length);
      const mean = fracs.reduce((a, b) => a + b, 0) / fracs.length;
      return Math.sqrt(fracs.reduce((a, b) => a + (b - mean) ** 2, 0) / fracs.length);
    };
    expect(skew(0.1)).toBeGreaterThan(3 * skew(100));
  });

  it('by-site keeps the data set’s sites and insists on one peer per site', () => {
    const sites = rows.map((r) => r % 4);
    const parts = partitionRows({ kind: 'by-site' }, { rows, labels, sites }, 4, createRng(1));
    parts.forEach((p, s) => {
      expect(p.every((r) => sites[r] === s)).toBe(true);
    });
    expect(() => partitionRows({ kind: 'by-site' }, { rows, labels, sites }, 5, createRng(1))).toThrow(/set peers to 4/);
  });

  it('Gamma and Dirichlet samplers have the right means', () => {
    const rng = createRng(11);
    for (const shape of [0.3, 1, 4.5]) {
      const xs = Array.from({ length: 20_000 }, () => sampleGamma(shape, rng));
      expect(xs.reduce((a, b) => a + b, 0) / xs.length).toBeCloseTo(shape, 1);
    }
    const d = Array.from({ length: 5000 }, () => sampleDirichlet(2, 4, rng));
    expect(d.every((p) => Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12)).toBe(true);
    expect(d.reduce((a, p) => a + p[0]!, 0) / d.length).toBeCloseTo(0.25, 2);
  });
});
