/**
 * One data set dealt to simulated sites: a stratified train/test split, the training rows
 * partitioned across peers, and each site standardised either with statistics from its own rows
 * (`statistics: 'site'`, the default; not covered by DP: one record moves every record's
 * features) or with public reference statistics (`'public'`, what a federation with DP must use,
 * issue 15). The simulation's public reference is the held-out split: records no site trains on,
 * standing in for a public reference cohort (with the same distribution, so an optimistic
 * stand-in). Shared by `fedmesh simulate`, the benches and the integration tests.
 */
import {
  fitStandardizer,
  type LabelledData,
  partitionIid,
  selectRows,
  type Standardizer,
  standardize,
  stratifiedSplit,
} from '../protocol/data.js';
import type { Rng } from '../protocol/rng.js';

export interface Sites {
  readonly train: LabelledData;
  readonly test: LabelledData;
  /** Each site's statistics (index = peer): its own, or the one public reference for every site. */
  readonly standardizers: readonly Standardizer[];
  /** Each site's standardised training rows (index = peer). */
  readonly siteData: readonly LabelledData[];
}

export function prepareSites(
  all: LabelledData,
  o: { testFraction: number; peers: number; splitRng: Rng; partitionRng: Rng; statistics?: 'site' | 'public' },
): Sites {
  const split = stratifiedSplit(all.y, o.testFraction, o.splitRng);
  const train = selectRows(all, split.train);
  const test = selectRows(all, split.test);
  const parts = partitionIid(
    Array.from({ length: train.n }, (_, i) => i),
    train.y,
    o.peers,
    o.partitionRng,
  );
  const raw = parts.map((rows) => selectRows(train, rows));
  const reference = o.statistics === 'public' ? publicReferenceStandardizer(test) : undefined;
  const standardizers = raw.map((d) => reference ?? fitStandardizer(d));
  return { train, test, standardizers, siteData: raw.map((d, i) => standardize(d, standardizers[i]!)) };
}

/**
 * The simulation's public reference statistics (issue 15): mean and deviation of `reference`, a
 * set no site trains on (the held-out split), so each site's preprocessing depends on none of
 * its records. In a real federation these come from the manifest (`publicStatistics`).
 */
export function publicReferenceStandardizer(reference: LabelledData): Standardizer {
  return fitStandardizer(reference);
}
