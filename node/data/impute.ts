/**
 * Missing-cell imputation for tabular data. Two fills:
 *
 * - public (issue 15): each column's fill comes from the federation manifest's
 *   `publicStatistics` (protocol/privacy/public-statistics.ts `publicTransformOf`). A record's
 *   imputed value then depends on that record alone, as DP-SGD's sensitivity bound needs;
 * - site median (no DP only): each column's median over this site's own kept rows. Adding one
 *   record can move the median, and with it every other record's imputed cells, so this is not
 *   used when the manifest carries public statistics.
 */

/** Median of `values` (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Row-major n × width values from `rows` (undefined = missing), each missing cell filled from
 * `fill` (public, per column) when given, else with the site's column median (0 when a column
 * has no value at all).
 */
export function imputeColumns(
  rows: readonly (readonly (number | undefined)[])[],
  width: number,
  fill?: Float32Array,
): { x: Float32Array; imputedCells: number; fill: number[] } {
  if (fill !== undefined && fill.length !== width) throw new RangeError(`public fill has ${fill.length} columns, the table ${width}`);
  let imputedCells = 0;
  const x = new Float32Array(rows.length * width);
  const used: number[] = [];
  for (let c = 0; c < width; c++) {
    let value: number;
    if (fill !== undefined) value = fill[c]!;
    else {
      const present = rows.map((r) => r[c]).filter((v): v is number => v !== undefined);
      value = present.length > 0 ? median(present) : 0;
    }
    used.push(value);
    rows.forEach((r, i) => {
      const v = r[c];
      if (v === undefined) imputedCells++;
      x[i * width + c] = v ?? value;
    });
  }
  return { x, imputedCells, fill: used };
}
