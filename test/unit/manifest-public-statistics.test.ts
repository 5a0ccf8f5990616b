/**
 * Issue 15: the manifest's DP block and public statistics are validated at the edge. A manifest
 * with `dp` but without q or without public values for a feature, or with bad values, is refused
 * with MANIFEST_INVALID naming the feature and the field; the public transform maps each row by
 * itself.
 */
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../protocol/manifest.js';
import { applyPublicTransform, publicTransformOf } from '../../protocol/privacy/public-statistics.js';

const base = {
  version: 1,
  federation: 'stats',
  seed: 1,
  model: { kind: 'logreg' },
  features: [
    { name: 'age', kind: 'numeric' },
    { name: 'smoker', kind: 'categorical', categories: ['no', 'yes', 'former'] },
  ],
  label: { name: 'y', positive: '1', negatives: ['0'] },
  rounds: 2,
  training: { localEpochs: 1, batchSize: 8, learningRate: 0.1 },
  committee: { size: 3, threshold: 2 },
};
const dp = { epsilon: 1, delta: 1e-5, clipNorm: 1, sampleRate: 0.05 };
const stats = { features: { age: { min: 0, max: 110, center: 50, scale: 20, fill: 45 }, smoker: { fill: 'no' } } };

/** The issues of a refused manifest as `field: rule` strings. */
function issues(m: unknown): string[] {
  try {
    parseManifest(m);
  } catch (e) {
    const err = e as { code?: string; fields?: { issues?: { field: string; rule: string }[] } };
    expect(err.code).toBe('MANIFEST_INVALID');
    return (err.fields?.issues ?? []).map((i) => `${i.field}: ${i.rule}`);
  }
  throw new Error('manifest was accepted');
}

describe('manifest: DP needs public values', () => {
  it('accepts dp with q and complete public statistics', () => {
    const m = parseManifest({ ...base, dp, publicStatistics: stats });
    expect(m.dp?.sampleRate).toBe(0.05);
  });

  it('refuses dp without a sampling rate q (no site may derive q from its record count)', () => {
    expect(issues({ ...base, dp: { epsilon: 1, delta: 1e-5, clipNorm: 1 }, publicStatistics: stats })).toEqual([
      expect.stringMatching(/^dp\.sampleRate: /),
    ]);
    expect(issues({ ...base, dp: { ...dp, sampleRate: 1.5 }, publicStatistics: stats })[0]).toMatch(/^dp\.sampleRate: /);
    expect(issues({ ...base, dp: { ...dp, sampleRate: 0 }, publicStatistics: stats })[0]).toMatch(/^dp\.sampleRate: /);
  });

  it('refuses a δ above 1e-3 (δ must be far below 1/N; N is private), naming dp.delta', () => {
    expect(issues({ ...base, dp: { ...dp, delta: 0.5 }, publicStatistics: stats })).toEqual([expect.stringMatching(/^dp\.delta: .*1e-3/)]);
    expect(issues({ ...base, dp: { ...dp, delta: 0 }, publicStatistics: stats })[0]).toMatch(/^dp\.delta: /);
    expect(parseManifest({ ...base, dp: { ...dp, delta: 1e-3 }, publicStatistics: stats }).dp?.delta).toBe(1e-3);
  });

  it('refuses dp without public statistics, naming every feature', () => {
    expect(issues({ ...base, dp })).toEqual([
      expect.stringMatching(/^publicStatistics\.features\.age: with dp, every feature needs public values/),
      expect.stringMatching(/^publicStatistics\.features\.smoker: with dp, every feature needs public values/),
    ]);
  });

  it('names the feature and field of a missing or bad value', () => {
    const withAge = (age: Record<string, unknown>) => ({ ...base, dp, publicStatistics: { features: { ...stats.features, age } } });
    expect(issues({ ...base, dp, publicStatistics: { features: { age: stats.features.age } } })).toEqual([
      expect.stringMatching(/^publicStatistics\.features\.smoker: missing/),
    ]);
    expect(issues(withAge({ min: 0, max: 110, center: 50, fill: 45 }))).toEqual([
      'publicStatistics.features.age.scale: required for a numeric feature',
    ]);
    expect(issues(withAge({ min: 0, max: 110, center: 50, scale: 0, fill: 45 }))).toEqual([
      'publicStatistics.features.age.scale: must be > 0',
    ]);
    expect(issues(withAge({ min: 0, max: 110, center: 50, scale: -2, fill: 45 }))).toEqual([
      'publicStatistics.features.age.scale: must be > 0',
    ]);
    expect(issues(withAge({ min: 110, max: 0, center: 50, scale: 2, fill: 45 }))).toEqual([
      'publicStatistics.features.age.max: must be > min (110)',
      expect.stringMatching(/^publicStatistics\.features\.age\.fill: must lie in \[min, max\]/),
    ]);
    expect(issues(withAge({ min: 0, max: 110, center: 50, scale: 2, fill: 200 }))).toEqual([
      'publicStatistics.features.age.fill: must lie in [min, max] = [0, 110]',
    ]);
    expect(issues(withAge({ min: 0, max: 110, center: 50, scale: 2, fill: 'old' }))).toEqual([
      'publicStatistics.features.age.fill: a number (raw units) for a numeric feature',
    ]);
    expect(issues(withAge({ min: 0, max: Number.POSITIVE_INFINITY, center: 50, scale: 2, fill: 3 }))[0]).toMatch(
      /^publicStatistics\.features\.age\.max: /,
    );
    expect(issues(withAge({ min: 0, max: 110, center: 50, scale: 2, fill: 3, mean: 4 }))[0]).toMatch(/^publicStatistics\.features\.age: /);
    expect(issues({ ...base, dp, publicStatistics: { features: { ...stats.features, smoker: { fill: 'sometimes' } } } })).toEqual([
      'publicStatistics.features.smoker.fill: one of the categories (no, yes, former)',
    ]);
    expect(issues({ ...base, dp, publicStatistics: { features: { ...stats.features, smoker: { fill: 'no', scale: 1 } } } })).toEqual([
      'publicStatistics.features.smoker.scale: categorical features take only fill',
    ]);
    expect(issues({ ...base, dp, publicStatistics: { features: { ...stats.features, weight: { fill: 1 } } } })).toEqual([
      'publicStatistics.features.weight: not a feature of this manifest',
    ]);
  });

  it('refuses public statistics on an image manifest', () => {
    const { features: _f, ...images } = base;
    expect(issues({ ...images, imageShape: [28, 28, 1], publicStatistics: stats })).toContain(
      'publicStatistics: image manifests take no public statistics',
    );
  });

  it('the public transform: fill per column (one-hot for categories), clamp, centre, scale — row by row', () => {
    const t = publicTransformOf(parseManifest({ ...base, dp, publicStatistics: stats }))!;
    expect(t.width).toBe(4);
    expect([...t.fill]).toEqual([45, 1, 0, 0]);
    const d = { x: Float32Array.from([90, 0, 1, 0, -1e9, 1, 0, 0, 1e9, 0, 0, 1]), y: new Uint8Array(3), n: 3, featureShape: [4] };
    expect([...applyPublicTransform(d, t).x]).toEqual([2, 0, 1, 0, -2.5, 1, 0, 0, 3, 0, 0, 1]);
    expect(publicTransformOf(parseManifest(base))).toBeUndefined();
    expect(() => applyPublicTransform({ ...d, featureShape: [3], x: new Float32Array(9) }, t)).toThrow(
      expect.objectContaining({ code: 'DATA_PARSE' }),
    );
  });
});
