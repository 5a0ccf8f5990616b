/**
 * `fedmesh federation init`: a first manifest for an admin, from a sample CSV or an image
 * folder, written as commented YAML (docs/manifest.md documents every field). The admin reads
 * it, edits what the sample could not tell (a numeric code that is really a category, the
 * model, the rounds), checks it with `fedmesh manifest validate`, and deploys it.
 *
 * What is inferred, per CSV column: numeric when every present value is a number; categorical
 * when it is not and it has at most `maxCategories` distinct values (sorted, the one-hot order);
 * otherwise (free text, identifiers) it is left out, with a comment saying so. The label column
 * gives the label values; the positive class must be named unless the values are 0/1, yes/no or
 * true/false. Images: one sub-folder per label value, the image size from the first PNG.
 *
 * The output is checked twice before it is returned: it must pass the manifest schema, and the
 * YAML must parse back to exactly the manifest (so the comments cannot change what is hashed).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { parse as parseYaml } from 'yaml';
import { FedmeshError } from '../../protocol/errors.js';
import { canonicalJson, type FederationManifest, parseManifest } from '../../protocol/manifest.js';
import { DEFAULT_MISSING, splitLine } from '../data/csv.js';
import { readDataDir, readDataText } from '../data/data-file.js';

export interface FederationInitOptions {
  readonly federation: string;
  /** A sample CSV in the federation's schema (header + rows). */
  readonly sample?: string;
  /** Or an image folder: one sub-folder per label value, grayscale PNGs. */
  readonly images?: string;
  /** The label column (CSV); for images the label's name (default 'label'). */
  readonly label?: string;
  /** The positive class as written in the data. */
  readonly positive?: string;
  readonly separator?: string;
  /** Columns to leave out (identifiers, dates, free text). */
  readonly exclude?: readonly string[];
  /** Columns to treat as categorical even when their values are numbers (codes). */
  readonly categorical?: readonly string[];
  readonly maxCategories?: number;
  readonly rounds?: number;
  readonly model?: 'logreg' | 'mlp' | 'cnn';
  readonly seed?: number;
  /**
   * Adds a DP target (δ = 1e-5, C = 1, q = dpSampleRate) and public statistics computed from the
   * sample — only with `publicSample` (tabular data): statistics of a member's private records
   * in a manifest are released without any DP protection.
   */
  readonly dpEpsilon?: number;
  /** The sample is public (a public reference set, synthetic data): its statistics may go in the manifest. */
  readonly publicSample?: boolean;
  readonly dpSampleRate?: number;
  readonly committeeSize?: number;
  readonly threshold?: number;
}

export const FEDERATION_INIT_DEFAULTS = {
  rounds: 20,
  maxCategories: 20,
  seed: 1,
  localEpochs: 2,
  batchSize: 32,
  learningRate: 0.01,
  mlpHidden: [16],
  committeeSize: 3,
  dpDelta: 1e-5,
  dpClipNorm: 1,
  /** q: each record is in a step's batch with this probability (public; docs/privacy.md). */
  dpSampleRate: 0.05,
  /** Rows of a sample read for inference; a sample is a schema example, not the data. */
  maxSampleRows: 100_000,
} as const;

export class FederationInitError extends FedmeshError<'CONFIG_INVALID', { issues: { field: string; value: unknown; rule: string }[] }> {}

function bad(field: string, value: unknown, rule: string): never {
  throw new FederationInitError('CONFIG_INVALID', `${field}=${JSON.stringify(value)}: ${rule}`, { issues: [{ field, value, rule }] });
}

const POSITIVE_GUESSES: readonly (readonly [string, string])[] = [
  ['1', '0'],
  ['yes', 'no'],
  ['true', 'false'],
];

/** The positive class: given, else the obvious one of a 0/1, yes/no or true/false label. */
function positiveOf(values: readonly string[], given: string | undefined, label: string): string {
  if (given !== undefined) {
    if (!values.includes(given)) bad('positive', given, `not a value of ${label} in the sample (${values.join(', ')})`);
    return given;
  }
  if (values.length === 2) {
    for (const [p, n] of POSITIVE_GUESSES) {
      const hit = values.find((v) => v.toLowerCase() === p);
      if (hit !== undefined && values.some((v) => v.toLowerCase() === n)) return hit;
    }
  }
  return bad('positive', undefined, `name the positive class of ${label} with --positive (values in the sample: ${values.join(', ')})`);
}

interface ColumnSummary {
  readonly name: string;
  readonly kind: 'numeric' | 'categorical' | 'skipped';
  readonly note: string;
  readonly categories?: string[];
  readonly numbers?: number[];
  readonly mode?: string;
}

const isNumber = (v: string): boolean => v.trim() !== '' && Number.isFinite(Number(v));

function summarize(name: string, values: readonly string[], o: FederationInitOptions): ColumnSummary {
  const present = values.filter((v) => !DEFAULT_MISSING.includes(v));
  if (present.length === 0) return { name, kind: 'skipped', note: 'no values in the sample' };
  const distinct = [...new Set(present)].sort();
  const counts = new Map<string, number>();
  for (const v of present) counts.set(v, (counts.get(v) ?? 0) + 1);
  const mode = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
  const max = o.maxCategories ?? FEDERATION_INIT_DEFAULTS.maxCategories;
  if (present.every(isNumber) && !(o.categorical ?? []).includes(name)) {
    const numbers = present.map(Number);
    return {
      name,
      kind: 'numeric',
      numbers,
      note: `numeric: ${Math.min(...numbers)} … ${Math.max(...numbers)} in the sample${distinct.length <= 10 ? `; only ${distinct.length} distinct values: a code? list it in --categorical` : ''}`,
    };
  }
  if (distinct.length < 2) return { name, kind: 'skipped', note: `one value only ("${distinct[0]}") in the sample` };
  if (distinct.length > max)
    return { name, kind: 'skipped', note: `${distinct.length} distinct text values (free text or an identifier?)` };
  return { name, kind: 'categorical', categories: distinct, mode, note: `categorical: ${distinct.length} values in the sample` };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Statistics of the sample for `publicStatistics`, rounded to 6 significant digits. */
function publicValues(c: ColumnSummary): Record<string, number | string> {
  if (c.kind === 'categorical') return { fill: c.mode! };
  const xs = c.numbers!;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  const r = (v: number): number => Number(v.toPrecision(6));
  const min = r(Math.min(...xs));
  const max = Math.max(r(Math.max(...xs)), min + 1);
  return { min, max, center: r(mean), scale: r(sd > 0 ? sd : 1), fill: Math.min(max, Math.max(min, r(median(xs)))) };
}

/** YAML flow style: `{ name: "age", kind: "numeric" }`; strings quoted so `1` stays a string. */
function y(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(y).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return `{ ${keys.map(([k, x]) => `${/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : JSON.stringify(k)}: ${y(x)}`).join(', ')} }`;
  }
  return JSON.stringify(v);
}

/** Text of a manifest with comments; `columns` gives each feature's comment. */
function render(m: FederationManifest, o: { source: string; comments: Map<string, string>; skipped: readonly ColumnSummary[] }): string {
  const L: string[] = [];
  L.push(
    `# fedmesh federation manifest (docs/manifest.md). Generated by \`fedmesh federation init\` from ${o.source}.`,
    '# Every member must hold exactly this file: its hash is fixed on chain at deployment and a node',
    '# whose manifest hashes differently refuses to start. Edit it BEFORE deploying, then run',
    '#   npx fedmesh manifest validate <this file>     # schema check, hash and initial model hash',
    '',
    '# Manifest format version.',
    'version: 1',
    '# Federation id: names the gossip topics and artifact protocol (lowercase letters, digits, dashes).',
    `federation: ${y(m.federation)}`,
    '# Seed of the initial model: every member builds the same model from it; its hash goes on chain.',
    `seed: ${m.seed}`,
    '# Model: logreg | mlp (hidden: layer widths) | cnn (images).',
    `model: ${y(m.model)}`,
  );
  if (m.features !== undefined) {
    L.push('# Feature columns, in model-input order. categorical: one-hot in the order of categories.');
    L.push('features:');
    for (const f of m.features) {
      L.push(`  # ${o.comments.get(f.name) ?? ''}`);
      L.push(`  - ${y(f)}`);
    }
    for (const s of o.skipped) L.push(`  # left out: ${y(s.name)}: ${s.note}`);
  } else {
    L.push('# Images: height, width, channels (1 = grayscale).', `imageShape: ${y(m.imageShape)}`);
  }
  L.push(
    '# The label: its column, the positive class (label 1) and the other values (label 0), as written in the data.',
    '# A site whose file uses other values maps them in its config (data.values), not here.',
    `label: ${y(m.label)}`,
    '# Rounds of the study.',
    `rounds: ${m.rounds}`,
    '# Local training per round at every site.',
    `training: ${y(m.training)}`,
    '# Per-round committee drawn on chain: size m and signatures t needed (m/2 < t ≤ m).',
    `committee: ${y(m.committee)}`,
  );
  if (m.dp !== undefined) {
    L.push(
      '# Differential privacy (DP-SGD): the federation-wide (ε, δ) target, clipping norm C and the public',
      '# Poisson sampling rate q (docs/privacy.md).',
      `dp: ${y(m.dp)}`,
    );
  }
  if (m.publicStatistics !== undefined) {
    L.push(
      '# Public preprocessing values per feature: (clamp(v, min, max) − center) / scale; missing → fill.',
      `# WARNING: computed from ${o.source}. They must be PUBLIC knowledge (reference ranges, a public data`,
      '# set): replace them if the sample is a member\'s private data (docs/privacy.md, "Public statistics").',
      'publicStatistics:',
      '  features:',
    );
    for (const [name, v] of Object.entries(m.publicStatistics.features)) L.push(`    ${y(name)}: ${y(v)}`);
  }
  return `${L.join('\n')}\n`;
}

function common(
  o: FederationInitOptions,
  label: FederationManifest['label'],
): Omit<FederationManifest, 'features' | 'imageShape' | 'model'> {
  const size = o.committeeSize ?? FEDERATION_INIT_DEFAULTS.committeeSize;
  return {
    version: 1,
    federation: o.federation,
    seed: o.seed ?? FEDERATION_INIT_DEFAULTS.seed,
    label,
    rounds: o.rounds ?? FEDERATION_INIT_DEFAULTS.rounds,
    training: {
      localEpochs: FEDERATION_INIT_DEFAULTS.localEpochs,
      batchSize: FEDERATION_INIT_DEFAULTS.batchSize,
      learningRate: FEDERATION_INIT_DEFAULTS.learningRate,
    },
    committee: { size, threshold: o.threshold ?? Math.floor(size / 2) + 1 },
    ...(o.dpEpsilon !== undefined
      ? {
          dp: {
            epsilon: o.dpEpsilon,
            delta: FEDERATION_INIT_DEFAULTS.dpDelta,
            clipNorm: FEDERATION_INIT_DEFAULTS.dpClipNorm,
            sampleRate: o.dpSampleRate ?? FEDERATION_INIT_DEFAULTS.dpSampleRate,
          },
        }
      : {}),
  } as Omit<FederationManifest, 'features' | 'imageShape' | 'model'>;
}

/** Schema check, then: the YAML must parse back to exactly this manifest. */
function finish(raw: unknown, text: (m: FederationManifest) => string): { manifest: FederationManifest; text: string } {
  const manifest = parseManifest(raw);
  const out = text(manifest);
  if (canonicalJson(parseManifest(parseYaml(out))) !== canonicalJson(manifest)) {
    throw new Error('federation init: the YAML written does not parse back to the manifest (a bug)');
  }
  return { manifest, text: out };
}

function fromCsv(o: FederationInitOptions, path: string): { manifest: FederationManifest; text: string } {
  const sep = o.separator ?? ',';
  const lines = readDataText(path)
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .slice(0, FEDERATION_INIT_DEFAULTS.maxSampleRows + 1);
  if (lines.length < 2) bad('sample', path, 'a CSV with a header and at least one row');
  const header = splitLine(lines[0]!, sep);
  const rows = lines.slice(1).map((l) => splitLine(l, sep));
  const label = o.label ?? bad('label', undefined, `name the label column with --label (columns: ${header.join(', ')})`);
  const labelIdx = header.indexOf(label);
  if (labelIdx < 0) bad('label', label, `not a column of ${path} (${header.join(', ')})`);
  for (const x of [...(o.exclude ?? []), ...(o.categorical ?? [])])
    if (!header.includes(x)) bad('exclude/categorical', x, `not a column of ${path}`);
  const labelValues = [...new Set(rows.map((r) => r[labelIdx] ?? '').filter((v) => !DEFAULT_MISSING.includes(v)))].sort();
  if (labelValues.length < 2) bad('label', label, `needs at least two values in the sample, found ${labelValues.join(', ') || 'none'}`);
  const positive = positiveOf(labelValues, o.positive, label);
  const columns = header
    .map((name, i) => ({ name, i }))
    .filter(({ name, i }) => i !== labelIdx && !(o.exclude ?? []).includes(name))
    .map(({ name, i }) =>
      summarize(
        name,
        rows.map((r) => r[i] ?? ''),
        o,
      ),
    );
  const used = columns.filter((c) => c.kind !== 'skipped');
  if (used.length === 0) bad('sample', path, 'no usable feature column (every column was left out)');
  if (o.dpEpsilon !== undefined && o.publicSample !== true) {
    bad(
      'public-sample',
      undefined,
      'with --dp-epsilon the manifest needs public statistics; they are taken from --sample only when it is public data (declare it with --public-sample), ' +
        'otherwise write publicStatistics from public reference values (docs/manifest.md)',
    );
  }
  const raw = {
    ...common(o, { name: label, positive, negatives: labelValues.filter((v) => v !== positive) }),
    model: o.model === 'logreg' ? { kind: 'logreg' } : { kind: o.model ?? 'mlp', hidden: [...FEDERATION_INIT_DEFAULTS.mlpHidden] },
    features: used.map((c) =>
      c.kind === 'categorical' ? { name: c.name, kind: c.kind, categories: c.categories } : { name: c.name, kind: c.kind },
    ),
    ...(o.dpEpsilon !== undefined
      ? { publicStatistics: { features: Object.fromEntries(used.map((c) => [c.name, publicValues(c)])) } }
      : {}),
  };
  const comments = new Map(used.map((c) => [c.name, c.note]));
  return finish(raw, (m) => render(m, { source: path, comments, skipped: columns.filter((c) => c.kind === 'skipped') }));
}

function fromImages(o: FederationInitOptions, dir: string): { manifest: FederationManifest; text: string } {
  const classes = readDataDir(dir)
    .filter((d) => statSync(join(dir, d)).isDirectory())
    .sort();
  if (classes.length < 2) bad('images', dir, 'one sub-folder per label value, at least two');
  const first = classes
    .flatMap((c) =>
      readdirSync(join(dir, c))
        .filter((f) => f.toLowerCase().endsWith('.png'))
        .map((f) => join(dir, c, f)),
    )
    .at(0);
  if (first === undefined) bad('images', dir, 'no PNG image in its sub-folders');
  const png = PNG.sync.read(readFileSync(first));
  const positive = positiveOf(classes, o.positive, 'the image classes');
  const raw = {
    ...common(o, { name: o.label ?? 'label', positive, negatives: classes.filter((c) => c !== positive) }),
    model: { kind: o.model ?? 'cnn' },
    imageShape: [png.height, png.width, 1],
  };
  return finish(raw, (m) => render(m, { source: dir, comments: new Map(), skipped: [] }));
}

/** The manifest and its commented YAML text; CONFIG_INVALID naming the option that blocks it. */
export function initFederationManifest(o: FederationInitOptions): { manifest: FederationManifest; text: string } {
  if ((o.sample === undefined) === (o.images === undefined))
    bad('sample/images', undefined, 'give exactly one of --sample FILE.csv or --images DIR');
  return o.sample !== undefined ? fromCsv(o, o.sample) : fromImages(o, o.images!);
}
