/**
 * One data set dealt to simulated sites: a stratified train/test split, the training rows
 * partitioned across peers, and each site standardised with statistics from its own rows only.
 * Shared by `fedmesh simulate`, the benches and the integration tests.
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
  /** Each site's own statistics (index = peer). */
  readonly standardizers: readonly Standardizer[];
  /** Each site's standardised training rows (index = peer). */
  readonly siteData: readonly LabelledData[];
}

export function prepareSites(all: LabelledData, o: { testFraction: number; peers: number; splitRng: Rng; partitionRng: Rng }): Sites {
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
  const standardizers = raw.map((d) => fitStandardizer(d));
  return { train, test, standardizers, siteData: raw.map((d, i) => standardize(d, standardizers[i]!)) };
}
