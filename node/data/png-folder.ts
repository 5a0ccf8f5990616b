/**
 * Loader for a folder of PNG images per class:
 *
 *   DIR/<label value>/*.png      e.g. DIR/NORMAL/…, DIR/PNEUMONIA/…
 *
 * Images are converted to grayscale (ITU-R BT.601 luma: 0.299 R + 0.587 G + 0.114 B) and
 * scaled to [0, 1]. Every image must have the manifest's height × width; a folder whose name
 * is not a label value, or an image of the wrong size, rejects the data set at start-up with
 * the file named. Unreadable files are counted as bad and skipped up to `maxBadFraction`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { DataError, type LabelledData } from '../../protocol/data.js';
import type { FederationManifest } from '../../protocol/manifest.js';
import { taskOfManifest } from '../../protocol/task.js';
import { readDataDir } from './data-file.js';

export interface PngFolderReport {
  readonly images: number;
  readonly perClass: Record<string, number>;
  readonly badFiles: { file: string; reason: string }[];
}

/** Grey levels in [0, 1] of a decoded RGBA PNG (BT.601 luma / 255), row-major. */
function grayOf(png: PNG): number[] {
  const out: number[] = [];
  for (let i = 0; i < png.width * png.height; i++) {
    const r = png.data[i * 4]!;
    const g = png.data[i * 4 + 1]!;
    const b = png.data[i * 4 + 2]!;
    out.push((0.299 * r + 0.587 * g + 0.114 * b) / 255);
  }
  return out;
}

/**
 * One image as training reads it (`fedmesh predict` on a folder): grey levels in [0, 1], h × w.
 * @throws DataError DATA_PARSE naming the file when it is not a readable PNG of that size.
 */
export function readPngGray(file: string, h: number, w: number): Float32Array {
  let png: PNG;
  try {
    png = PNG.sync.read(readFileSync(file));
  } catch (e) {
    throw new DataError('DATA_PARSE', `${file}: unreadable PNG (${e instanceof Error ? e.message : String(e)})`, { source: file });
  }
  if (png.width !== w || png.height !== h) {
    throw new DataError('DATA_PARSE', `${file} is ${png.width}×${png.height}, the model expects ${w}×${h}`, {
      source: file,
      width: png.width,
      height: png.height,
    });
  }
  return Float32Array.from(grayOf(png));
}

export function loadPngFolder(
  dir: string,
  manifest: FederationManifest,
  maxBadFraction = 0.05,
): { data: LabelledData; report: PngFolderReport } {
  const shape = manifest.imageShape;
  if (shape === undefined) throw new DataError('DATA_PARSE', `${dir}: the manifest describes a table, not images`, { source: dir });
  const [h, w, c] = shape as [number, number, number];
  if (c !== 1)
    throw new DataError('DATA_PARSE', `${dir}: only grayscale (1 channel) images are supported, manifest has ${c}`, {
      source: dir,
      channels: c,
    });
  // Binary: label.positive is 1, each of label.negatives 0. Multiclass: the folder name is one of
  // task.classes and y its index (the output order). Multilabel and regression need per-image
  // targets a folder name cannot carry: refused naming the manifest field.
  const task = taskOfManifest(manifest);
  if (task.kind === 'multilabel' || task.kind === 'regression') {
    throw new DataError(
      'DATA_BAD_LABEL',
      `${dir}: a PNG folder labels images by folder name; task.kind ${task.kind} needs per-image targets`,
      {
        source: dir,
        field: 'task.kind',
        value: task.kind,
        rule: 'binary or multiclass for png-folder data',
      },
    );
  }
  const labelOf = (name: string): number | undefined => {
    if (task.kind === 'multiclass') {
      const i = task.classes.indexOf(name);
      return i < 0 ? undefined : i;
    }
    return name === manifest.label.positive ? 1 : manifest.label.negatives.includes(name) ? 0 : undefined;
  };

  const classes = readDataDir(dir).filter((d) => statSync(join(dir, d)).isDirectory());
  for (const d of classes) {
    if (labelOf(d) === undefined) {
      throw new DataError(
        'DATA_BAD_LABEL',
        `${join(dir, d)}: "${d}" is not a label of this federation (${[manifest.label.positive, ...manifest.label.negatives].join(', ')})`,
        {
          source: dir,
          field: task.kind === 'multiclass' ? 'task.classes' : 'label.positive/negatives',
          value: d,
        },
      );
    }
  }
  const pixels: number[] = [];
  const labels: number[] = [];
  const perClass: Record<string, number> = {};
  const badFiles: { file: string; reason: string }[] = [];
  let total = 0;
  for (const d of classes.sort()) {
    for (const f of readdirSync(join(dir, d))
      .filter((x) => x.toLowerCase().endsWith('.png'))
      .sort()) {
      total++;
      const file = join(dir, d, f);
      let png: PNG;
      try {
        png = PNG.sync.read(readFileSync(file));
      } catch (e) {
        badFiles.push({ file, reason: `unreadable PNG: ${e instanceof Error ? e.message : String(e)}` });
        continue;
      }
      if (png.width !== w || png.height !== h) {
        throw new DataError('DATA_PARSE', `${file} is ${png.width}×${png.height}, the federation expects ${w}×${h}`, {
          source: file,
          width: png.width,
          height: png.height,
        });
      }
      for (const v of grayOf(png)) pixels.push(v);
      labels.push(labelOf(d)!);
      perClass[d] = (perClass[d] ?? 0) + 1;
    }
  }
  if (badFiles.length > maxBadFraction * Math.max(1, total)) {
    throw new DataError('DATA_PARSE', `${dir}: ${badFiles.length} of ${total} images unreadable; first: ${badFiles[0]!.file}`, {
      source: dir,
      badFiles: badFiles.slice(0, 20),
    });
  }
  if (labels.length === 0) throw new DataError('DATA_EMPTY', `${dir}: no PNG images found`, { source: dir });
  return {
    data: { x: Float32Array.from(pixels), y: Uint8Array.from(labels), n: labels.length, featureShape: [h, w, 1] },
    report: { images: labels.length, perClass, badFiles },
  };
}
