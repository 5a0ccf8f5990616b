/**
 * Loader for the four UCI Heart Disease hospitals (data/heart-disease-uci, CC BY 4.0; see its
 * README for the encoding and the handling of missing values). Returns one table per site.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DataError, type LabelledData } from '../../protocol/data.js';

export const HEART_SITES = ['cleveland', 'hungarian', 'switzerland', 'va'] as const;
export type HeartSite = (typeof HEART_SITES)[number];

const DIR = fileURLToPath(new URL('../../data/heart-disease-uci/', import.meta.url));

// Column indices in the processed files.
const COL = {
  age: 0,
  sex: 1,
  cp: 2,
  trestbps: 3,
  chol: 4,
  fbs: 5,
  restecg: 6,
  thalach: 7,
  exang: 8,
  oldpeak: 9,
  slope: 10,
  ca: 11,
  thal: 12,
  num: 13,
};
const NUMERIC = ['age', 'trestbps', 'chol', 'thalach', 'oldpeak', 'ca'] as const;
const BINARY = ['sex', 'fbs', 'exang'] as const;
const ONE_HOT: Record<'cp' | 'restecg' | 'slope' | 'thal', readonly number[]> = {
  cp: [1, 2, 3, 4],
  restecg: [0, 1, 2],
  slope: [1, 2, 3],
  thal: [3, 6, 7],
};

export const HEART_FEATURE_NAMES: readonly string[] = [
  ...NUMERIC,
  ...BINARY,
  ...Object.entries(ONE_HOT).flatMap(([k, cats]) => cats.map((c) => `${k}=${c}`)),
];

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function parseHeartSite(text: string, source: string): LabelledData & { missingCells: number; grade: Uint8Array } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const cells = lines.map((l, i) => {
    const c = l.split(',');
    if (c.length !== 14)
      throw new DataError('DATA_PARSE', `${source}: line ${i + 1} has ${c.length} fields, expected 14`, { source, line: i + 1 });
    return c.map((v, j) => {
      if (v === '?') return undefined;
      const x = Number(v);
      if (!Number.isFinite(x))
        throw new DataError('DATA_PARSE', `${source}: line ${i + 1} column ${j + 1} is "${v}"`, { source, line: i + 1, column: j + 1 });
      return j === COL.chol && x === 0 ? undefined : x; // chol = 0 means "not measured"
    });
  });
  let missingCells = 0;
  // Local medians per raw column (the site's own data only).
  const med = Array.from({ length: 14 }, (_, j) => median(cells.map((r) => r[j]).filter((v): v is number => v !== undefined)));
  const get = (r: (number | undefined)[], j: number): number => {
    const v = r[j];
    if (v === undefined) {
      missingCells++;
      return med[j]!;
    }
    return v;
  };
  const f = HEART_FEATURE_NAMES.length;
  const x = new Float32Array(cells.length * f);
  const y = new Uint8Array(cells.length);
  // `num` itself (0 = no disease, 1–4 = severity): the 5-class task of issue 16.
  const grade = new Uint8Array(cells.length);
  cells.forEach((r, i) => {
    const row: number[] = [];
    for (const k of NUMERIC) row.push(get(r, COL[k]));
    for (const k of BINARY) row.push(get(r, COL[k]));
    for (const [k, cats] of Object.entries(ONE_HOT) as [keyof typeof ONE_HOT, readonly number[]][]) {
      const v = get(r, COL[k]);
      // Median imputation can land between categories; pick the nearest category.
      const nearest = cats.reduce((a, b) => (Math.abs(b - v) < Math.abs(a - v) ? b : a));
      for (const c of cats) row.push(c === nearest ? 1 : 0);
    }
    x.set(row, i * f);
    const num = r[COL.num];
    if (num === undefined) throw new DataError('DATA_BAD_LABEL', `${source}: line ${i + 1} has no label`, { source, line: i + 1 });
    y[i] = num > 0 ? 1 : 0;
    grade[i] = num;
  });
  return { x, y, n: cells.length, featureShape: [f], missingCells, grade };
}

export function loadHeartSite(site: HeartSite): LabelledData & { missingCells: number; grade: Uint8Array } {
  const path = `${DIR}processed.${site}.data`;
  return parseHeartSite(readFileSync(path, 'utf8'), path);
}
