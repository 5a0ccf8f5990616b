/**
 * Public values that make DP-SGD's sensitivity argument hold for a whole site (issue 15,
 * docs/privacy.md "Unit of privacy").
 *
 * DP-SGD bounds one record's effect on a step's clipped gradient sum by C (Abadi et al. 2016,
 * §3.1) only if every OTHER record's contribution is unchanged when that record is added or
 * removed. Preprocessing fitted on the site's own data (its mean and deviation, its column
 * medians for missing cells) breaks this: one outlier shifts every record's features. So with
 * DP every per-record transform uses public values from the federation manifest
 * (`publicStatistics`): each row is mapped by itself, (clamp(v, min, max) − center) / scale, a
 * missing cell filled with the manifest's `fill`.
 *
 * The same holds for what a site declares: q is the manifest's (not batch / N), the step count
 * is epochs · ⌈1/q⌉, the noisy sum is divided by the manifest's batch size (not q·N) and the
 * FedAvg weight is a constant (`fedAvgWeight`), so nothing that leaves the site is a function of
 * N. Pure code.
 */
import { DataError, featureSize, type LabelledData } from '../data.js';
import type { FederationManifest } from '../manifest.js';

/** One column's public preprocessing: raw value v ↦ (clamp(v, min, max) − center) / scale. */
export interface PublicTransform {
  /** Model-input width (one column per numeric feature, one per category). */
  readonly width: number;
  /** Per column: the raw value a missing cell takes (a one-hot column: 0 or 1 of the fill category). */
  readonly fill: Float32Array;
  readonly min: Float32Array;
  readonly max: Float32Array;
  readonly center: Float32Array;
  readonly scale: Float32Array;
}

/**
 * The manifest's public transform, column by column in model-input order; undefined when the
 * manifest has no public statistics (then DP is off: the schema refuses `dp` without them).
 */
export function publicTransformOf(m: FederationManifest): PublicTransform | undefined {
  const stats = m.publicStatistics?.features;
  const features = m.features;
  if (stats === undefined || features === undefined) return undefined;
  const width = features.reduce((w, f) => w + (f.kind === 'categorical' ? f.categories!.length : 1), 0);
  const t: PublicTransform = {
    width,
    fill: new Float32Array(width),
    min: new Float32Array(width),
    max: new Float32Array(width),
    center: new Float32Array(width),
    scale: new Float32Array(width),
  };
  let c = 0;
  for (const f of features) {
    const s = stats[f.name]!; // the manifest schema guarantees every feature has its entry
    if (f.kind === 'categorical') {
      for (const cat of f.categories!) {
        t.fill[c] = cat === s.fill ? 1 : 0;
        t.min[c] = 0;
        t.max[c] = 1;
        t.center[c] = 0;
        t.scale[c] = 1;
        c++;
      }
      continue;
    }
    t.fill[c] = s.fill as number;
    t.min[c] = s.min!;
    t.max[c] = s.max!;
    t.center[c] = s.center!;
    t.scale[c] = s.scale!;
    c++;
  }
  return t;
}

/** Maps every row by itself: clamp to [min, max], subtract center, divide by scale. */
export function applyPublicTransform(d: LabelledData, t: PublicTransform): LabelledData {
  const f = featureSize(d);
  if (f !== t.width) {
    throw new DataError('DATA_PARSE', `data has ${f} columns, the manifest's public statistics describe ${t.width}`, {
      field: 'publicStatistics',
      columns: f,
      expected: t.width,
    });
  }
  const x = new Float32Array(d.x.length);
  for (let i = 0; i < d.n; i++) {
    for (let j = 0; j < f; j++) {
      const v = Math.min(t.max[j]!, Math.max(t.min[j]!, d.x[i * f + j]!));
      x[i * f + j] = (v - t.center[j]!) / t.scale[j]!;
    }
  }
  return { ...d, x };
}

/**
 * The FedAvg weight a site declares (the `sampleCount` of its update or masked input). Without
 * DP it is the record count n (McMahan et al. 2017, FedAvg); with DP it is this constant for
 * every site — a weight of n would publish n (and with it whether a record was added), and the
 * committee would learn Σn. Uniform weights over the participants follow.
 */
export const DP_FEDAVG_WEIGHT = 1;

export function fedAvgWeight(dp: unknown, n: number): number {
  return dp !== undefined ? DP_FEDAVG_WEIGHT : n;
}

/** A manifest `publicStatistics` entry for one numeric feature. */
export interface NumericPublicStatistics {
  readonly min: number;
  readonly max: number;
  readonly center: number;
  readonly scale: number;
  readonly fill: number;
}

/**
 * Public statistics for numeric features computed from a PUBLIC reference set (a published
 * cohort; in devnets and simulations the held-out split, which no site trains on): range =
 * the reference's [min, max], centre = mean, scale = standard deviation (1 if constant), fill =
 * median. Never call it on a member's training records: the result would then depend on them.
 */
export function referenceStatistics(names: readonly string[], reference: LabelledData): Record<string, NumericPublicStatistics> {
  const f = featureSize(reference);
  if (f !== names.length) throw new RangeError(`${names.length} names for ${f} columns`);
  if (reference.n === 0) throw new DataError('DATA_EMPTY', 'the reference set has no rows', { field: 'reference' });
  const out: Record<string, NumericPublicStatistics> = {};
  names.forEach((name, j) => {
    const col = Array.from({ length: reference.n }, (_, i) => reference.x[i * f + j]!).sort((a, b) => a - b);
    const mean = col.reduce((a, b) => a + b, 0) / col.length;
    const sd = Math.sqrt(col.reduce((a, b) => a + (b - mean) ** 2, 0) / col.length);
    const mid = col.length >> 1;
    const median = col.length % 2 === 1 ? col[mid]! : (col[mid - 1]! + col[mid]!) / 2;
    const min = col[0]!;
    const max = col[col.length - 1]! > min ? col[col.length - 1]! : min + 1;
    out[name] = { min, max, center: mean, scale: sd > 1e-12 ? sd : 1, fill: median };
  });
  return out;
}
