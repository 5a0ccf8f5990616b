/**
 * `fedmesh predict --model DIR --data FILE|FOLDER|FILE.npz [--manifest FILE] [--array x] [--out FILE]`:
 * predictions of an exported model (node/ml/model-card.ts) as CSV — class probabilities or values,
 * then the prediction. A CSV in the manifest's schema is preprocessed as the card says the
 * federation did (columns by name, categories, imputation, scaling); a folder of PNGs gives one
 * row per image. Parses flags and delegates (STYLE.md §12). Refused: weights that do not match
 * the card's hash, a preprocessing block that does not match its hash, or (with --manifest) a
 * card whose preprocessing is not the manifest's (each naming both hashes).
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { readManifestFile } from '../../manifest/manifest-file.js';
import { selectBackend } from '../../ml/backend.js';
import { loadModelWithCard, predictionsCsv, predictRows, readPredictionInput } from '../../ml/model-card.js';
import { checkCardAgainstManifest } from '../../ml/model-export.js';

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('predict with an exported model (a tfjs Layers folder with card.json) and write CSV')
    .requiredOption('--model <dir>', 'model folder: model.json, weights.bin, card.json (fedmesh model export / simulate write it)')
    .requiredOption('--data <file>', "a CSV in the federation's schema, a folder of PNG images, or an .npz")
    .option('--manifest <file>', "the federation's manifest: refuse a card whose preprocessing is not this manifest's")
    .option('--array <name>', '.npz: the array of rows or images', 'x')
    .option('--out <file>', 'write the CSV here instead of stdout')
    .action(async (o: { model: string; data: string; manifest?: string; array: string; out?: string }) => {
      await selectBackend({ log: () => {} });
      const { model, card } = await loadModelWithCard(o.model);
      try {
        if (o.manifest !== undefined) checkCardAgainstManifest(card, readManifestFile(o.manifest).manifest);
        const { x, n, ids } = readPredictionInput(o.data, card, o.array);
        const csv = predictionsCsv(card, predictRows(model, card, x, n), ids);
        if (o.out !== undefined) writeFileSync(o.out, csv);
        else process.stdout.write(csv);
      } finally {
        model.dispose();
      }
    });
}
