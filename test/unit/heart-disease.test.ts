import { describe, expect, it } from 'vitest';
import { HEART_FEATURE_NAMES, HEART_SITES, loadHeartSite } from '../../node/data/heart-disease.js';

describe('heart-disease loader', () => {
  it('reads the four hospitals with the documented row and label counts', () => {
    const expected = { cleveland: [303, 139], hungarian: [294, 106], switzerland: [123, 115], va: [200, 149] };
    for (const site of HEART_SITES) {
      const d = loadHeartSite(site);
      expect([d.n, d.y.reduce((a, b) => a + b, 0)]).toEqual(expected[site]);
      expect(d.featureShape).toEqual([HEART_FEATURE_NAMES.length]);
      expect(d.x.every(Number.isFinite)).toBe(true);
    }
  });

  it('imputes missing cells (including Switzerland’s chol = 0) with the site median', () => {
    const ch = loadHeartSite('switzerland');
    const cholCol = HEART_FEATURE_NAMES.indexOf('chol');
    const chol = Array.from({ length: ch.n }, (_, i) => ch.x[i * HEART_FEATURE_NAMES.length + cholCol]!);
    expect(new Set(chol).size).toBe(1); // all missing → one local median (0 when nothing is known)
    expect(ch.missingCells).toBeGreaterThan(123);
    // One-hot groups have exactly one 1.
    const cp = HEART_FEATURE_NAMES.map((n, j) => (n.startsWith('cp=') ? j : -1)).filter((j) => j >= 0);
    for (let i = 0; i < ch.n; i++) expect(cp.reduce((s, j) => s + ch.x[i * HEART_FEATURE_NAMES.length + j]!, 0)).toBe(1);
  });
});
