/**
 * `fedmesh predict --model DIR --data FILE|FILE.npz [--array x] [--out FILE]`: predictions of an
 * exported model (node/ml/model-card.ts) as CSV — class probabilities or values, then the
 * prediction. Parses flags and delegates (STYLE.md §12); a model whose weights do not match its
 * card's hash is refused (MODEL_HASH_MISMATCH names both hashes).
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { selectBackend } from '../../ml/backend.js';
import { loadModelWithCard, predictionsCsv, predictRows, readPredictionInput } from '../../ml/model-card.js';

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('predict with an exported model (a tfjs Layers folder with card.json) and write CSV')
    .requiredOption('--model <dir>', 'model folder: model.json, weights.bin, card.json (fedmesh simulate writes <out>/model)')
    .requiredOption('--data <file>', "a CSV with the card's feature columns, or an .npz")
    .option('--array <name>', '.npz: the array of rows or images', 'x')
    .option('--out <file>', 'write the CSV here instead of stdout')
    .action(async (o: { model: string; data: string; array: string; out?: string }) => {
      await selectBackend({ log: () => {} });
      const { model, card } = await loadModelWithCard(o.model);
      try {
        const { x, n } = readPredictionInput(o.data, card, o.array);
        const csv = predictionsCsv(card, predictRows(model, card, x, n));
        if (o.out !== undefined) writeFileSync(o.out, csv);
        else process.stdout.write(csv);
      } finally {
        model.dispose();
      }
    });
}
