/**
 * Loader for the bundled Breast Cancer Wisconsin (Diagnostic) CSV (data/breast-cancer-wisconsin,
 * CC BY 4.0, see its README). Positive class (label 1) = malignant, i.e. file target 0.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DataError, type LabelledData } from '../../protocol/data.js';

export const BREAST_CANCER_CSV = fileURLToPath(new URL('../../data/breast-cancer-wisconsin/breast_cancer.csv', import.meta.url));
export const BREAST_CANCER_FEATURES = 30;

export function parseBreastCancerCsv(text: string, source = 'breast_cancer.csv'): LabelledData {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines.shift();
  const declared = header === undefined ? Number.NaN : Number(header.split(',')[0]);
  if (!Number.isInteger(declared) || declared < 1) {
    throw new DataError('DATA_PARSE', `${source}: line 1 must start with the row count`, { source, line: 1, value: header?.slice(0, 40) });
  }
  if (lines.length !== declared) {
    throw new DataError('DATA_PARSE', `${source}: header declares ${declared} rows, file has ${lines.length}`, {
      source,
      declared,
      rows: lines.length,
    });
  }
  const f = BREAST_CANCER_FEATURES;
  const x = new Float32Array(lines.length * f);
  const y = new Uint8Array(lines.length);
  lines.forEach((line, i) => {
    const cells = line.split(',');
    if (cells.length !== f + 1) {
      throw new DataError('DATA_PARSE', `${source}: line ${i + 2} has ${cells.length} fields, expected ${f + 1}`, {
        source,
        line: i + 2,
        fields: cells.length,
      });
    }
    for (let j = 0; j < f; j++) {
      const v = Number(cells[j]);
      if (cells[j]!.trim() === '' || !Number.isFinite(v)) {
        throw new DataError('DATA_PARSE', `${source}: line ${i + 2} column ${j + 1} is "${cells[j]}"`, {
          source,
          line: i + 2,
          column: j + 1,
          value: cells[j],
        });
      }
      x[i * f + j] = v;
    }
    const target = cells[f]!.trim();
    if (target !== '0' && target !== '1') {
      throw new DataError('DATA_BAD_LABEL', `${source}: line ${i + 2} target is "${target}"`, { source, line: i + 2, value: target });
    }
    y[i] = target === '0' ? 1 : 0; // file: 0 = malignant → our positive class
  });
  return { x, y, n: lines.length, featureShape: [f] };
}

export function loadBreastCancer(path = BREAST_CANCER_CSV): LabelledData {
  return parseBreastCancerCsv(readFileSync(path, 'utf8'), path);
}
