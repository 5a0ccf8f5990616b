/**
 * Partitioning a training set across simulated sites (pure, seeded).
 *
 * - `iid`: stratified round-robin (protocol/data.ts `partitionIid`).
 * - `dirichlet:α` (label skew): for every class, site shares p ~ Dir(α·1); a class's rows
 *   are cut in those proportions (Hsu, Qi & Brown 2019, "Measuring the effects of non-identical
 *   data distribution for federated visual classification"). Small α → each site sees few classes.
 * - `quantity-skew:β`: site sizes ∝ Dir(β·1), rows otherwise IID (Li et al. 2022, NIID-Bench).
 * - `by-site`: the data set's own sites (e.g. heart-disease's four hospitals).
 *
 * Every site gets at least `minPerSite` rows: draws that violate it are redrawn (bounded),
 * then rows are moved from the largest site, so a run never has an empty site.
 */
import { DataError, partitionIid } from './data.js';
import { type Rng, shuffleInPlace } from './rng.js';

export type PartitionSpec =
  | { kind: 'iid' }
  | { kind: 'dirichlet'; alpha: number }
  | { kind: 'quantity-skew'; beta: number }
  | { kind: 'by-site' };

export function parsePartition(s: string): PartitionSpec {
  const [kind, arg] = s.split(':');
  const num = Number(arg);
  if (kind === 'iid' && arg === undefined) return { kind: 'iid' };
  if (kind === 'by-site' && arg === undefined) return { kind: 'by-site' };
  if (kind === 'dirichlet' && num > 0 && Number.isFinite(num)) return { kind: 'dirichlet', alpha: num };
  if (kind === 'quantity-skew' && num > 0 && Number.isFinite(num)) return { kind: 'quantity-skew', beta: num };
  throw new DataError('DATA_BAD_SPLIT', `partition "${s}": expected iid, dirichlet:<α>0>, quantity-skew:<β>0> or by-site`, {
    field: 'partition',
    value: s,
  });
}

/** Standard normal by Box–Muller. */
function normal(rng: Rng): number {
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 via the boost Γ(a) = Γ(a+1)·U^{1/a}. */
export function sampleGamma(shape: number, rng: Rng): number {
  if (shape < 1) return sampleGamma(shape + 1, rng) * (1 - rng.next()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

export function sampleDirichlet(alpha: number, k: number, rng: Rng): number[] {
  const g = Array.from({ length: k }, () => sampleGamma(alpha, rng));
  const s = g.reduce((a, b) => a + b, 0);
  return s > 0 ? g.map((x) => x / s) : g.map(() => 1 / k);
}

/** Cut `rows` into pieces with the given proportions (largest-remainder rounding). */
function cut(rows: readonly number[], props: readonly number[]): number[][] {
  const exact = props.map((p) => p * rows.length);
  const counts = exact.map(Math.floor);
  let left = rows.length - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let j = 0; left > 0; j++, left--) counts[order[j % order.length]!.i]!++;
  const out: number[][] = [];
  let off = 0;
  for (const c of counts) {
    out.push(rows.slice(off, off + c));
    off += c;
  }
  return out;
}

function ensureMinimum(parts: number[][], minPerSite: number): number[][] {
  for (const p of parts) {
    while (p.length < minPerSite) {
      const largest = parts.reduce((a, b) => (b.length > a.length ? b : a));
      if (largest.length <= minPerSite) break;
      p.push(largest.pop()!);
    }
  }
  return parts;
}

export interface PartitionInput {
  readonly rows: readonly number[];
  readonly labels: Uint8Array;
  /** Site of each row (index into labels' space), for by-site. */
  readonly sites?: Uint8Array | readonly number[];
}

export function partitionRows(spec: PartitionSpec, input: PartitionInput, peers: number, rng: Rng, minPerSite = 2): number[][] {
  const { rows, labels } = input;
  if (rows.length < peers * minPerSite) {
    throw new DataError('DATA_BAD_SPLIT', `${rows.length} rows cannot give ${peers} sites ${minPerSite} rows each`, {
      field: 'peers',
      rows: rows.length,
      peers,
    });
  }
  switch (spec.kind) {
    case 'iid':
      return partitionIid(rows, labels, peers, rng);
    case 'by-site': {
      if (input.sites === undefined)
        throw new DataError('DATA_BAD_SPLIT', 'by-site needs a data set with sites', { field: 'partition', value: 'by-site' });
      const siteIds = [...new Set(rows.map((r) => input.sites![r]!))].sort((a, b) => a - b);
      if (siteIds.length !== peers) {
        throw new DataError('DATA_BAD_SPLIT', `by-site gives ${siteIds.length} sites; set peers to ${siteIds.length}`, {
          field: 'peers',
          value: peers,
          sites: siteIds.length,
        });
      }
      return siteIds.map((s) =>
        shuffleInPlace(
          rows.filter((r) => input.sites![r] === s),
          rng,
        ),
      );
    }
    case 'quantity-skew': {
      const shuffled = shuffleInPlace([...rows], rng);
      return ensureMinimum(cut(shuffled, sampleDirichlet(spec.beta, peers, rng)), minPerSite).map((p) => shuffleInPlace(p, rng));
    }
    case 'dirichlet': {
      const parts: number[][] = Array.from({ length: peers }, () => []);
      const classes = [...new Set(rows.map((r) => labels[r]!))].sort((a, b) => a - b);
      for (const cls of classes) {
        const clsRows = shuffleInPlace(
          rows.filter((r) => labels[r] === cls),
          rng,
        );
        cut(clsRows, sampleDirichlet(spec.alpha, peers, rng)).forEach((piece, i) => {
          parts[i]!.push(...piece);
        });
      }
      return ensureMinimum(parts, minPerSite).map((p) => shuffleInPlace(p, rng));
    }
  }
}
