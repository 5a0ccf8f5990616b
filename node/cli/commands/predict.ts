/**
 * `fedmesh predict --model DIR --data FILE|FOLDER|FILE.npz [--manifest FILE] [--unbound] [--array x] [--out FILE]`:
 * predictions of an exported model (node/ml/model-card.ts) as CSV — class probabilities or values,
 * then the prediction. A CSV in the manifest's schema is preprocessed as the card says the
 * federation did (columns by name, categories, imputation, scaling); a folder of PNGs gives one
 * row per image. Parses flags and delegates (STYLE.md §12).
 *
 * What is verified (F15, `loadModelWithCard`): the network that predicts is rebuilt from the
 * manifest the card carries (own models: from the source folder the export carries, which must
 * hash to the manifest's `model.sourceHash`); model.json must describe that network, the frozen
 * weights must be the source's, the federated weights must hash to the card's model hash, and the
 * card's task, features and preprocessing must be the manifest's. That binds the folder to two
 * hashes, printed on stderr: the manifest hash (compare with the contract's, or pass `--manifest`
 * with the federation's file) and the model hash (compare with the round's on-chain record).
 * A card with no manifest (a `fedmesh simulate` run) is refused unless `--unbound`.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { readManifestFile } from '../../manifest/manifest-file.js';
import { selectBackend } from '../../ml/backend.js';
import { loadModelWithCard, type ModelVerification, predictionsCsv, predictRows, readPredictionInput } from '../../ml/model-card.js';

/** The stderr lines saying what was verified against what. */
export function verificationLines(dir: string, v: ModelVerification): string[] {
  if (!v.bound) {
    return [
      `UNBOUND ${dir}: the card carries no manifest; only its weights' hash (${v.modelHash}) and its preprocessing block's own hash were checked — model.json, frozen weights, task and features are bound to nothing on chain`,
    ];
  }
  return [
    `verified ${dir}:`,
    `  network (model.json topology), task, features, preprocessing${v.sourceHash !== undefined ? `, source ${v.sourceHash} and its frozen weights` : ''} = manifest ${v.manifestHash} (compare with the federation contract's manifest hash)`,
    `  federated weights = model hash ${v.modelHash} (compare with the round's on-chain record)`,
    ...(v.siteStatistics ? ["  preprocessing statistics: one site's own (fill, centre, scale), in no manifest: not verifiable"] : []),
  ];
}

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('predict with an exported model (a tfjs Layers folder with card.json) and write CSV')
    .requiredOption('--model <dir>', 'model folder: model.json, weights.bin, card.json (fedmesh model export / simulate write it)')
    .requiredOption('--data <file>', "a CSV in the federation's schema, a folder of PNG images, or an .npz")
    .option('--manifest <file>', "the federation's manifest: the card's must hash to it (a card without one is checked against it)")
    .option('--unbound', 'accept a card that carries no manifest (fedmesh simulate): its network is then checked against nothing')
    .option('--array <name>', '.npz: the array of rows or images', 'x')
    .option('--out <file>', 'write the CSV here instead of stdout')
    .action(async (o: { model: string; data: string; manifest?: string; unbound?: boolean; array: string; out?: string }) => {
      await selectBackend({ log: () => {} });
      const { model, card, verification } = await loadModelWithCard(o.model, {
        ...(o.manifest !== undefined ? { manifest: readManifestFile(o.manifest).manifest } : {}),
        allowUnbound: o.unbound === true,
      });
      try {
        process.stderr.write(`${verificationLines(o.model, verification).join('\n')}\n`);
        const { x, n, ids } = readPredictionInput(o.data, card, o.array);
        const csv = predictionsCsv(card, predictRows(model, card, x, n), ids);
        if (o.out !== undefined) writeFileSync(o.out, csv);
        else process.stdout.write(csv);
      } finally {
        model.dispose();
      }
    });
}
