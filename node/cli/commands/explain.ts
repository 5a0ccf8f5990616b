/**
 * `fedmesh explain --model DIR --data FILE [--out DIR] [--rows N] [--background FILE] [--samples M]`:
 * Grad-CAM overlays for image models, Shapley-value attributions and a global importance chart
 * for tabular models (node/ml/explain-run.ts). Parses flags and delegates (STYLE.md §12).
 */
import type { Command } from 'commander';
import { selectBackend } from '../../ml/backend.js';
import { explainModel } from '../../ml/explain-run.js';

const int = (v: string): number => (/^\d+$/.test(v.trim()) ? Number(v) : Number.NaN);

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description('explain an exported model: Grad-CAM PNGs (images) or Shapley values (tables)')
    .requiredOption('--model <dir>', 'model folder with card.json (fedmesh simulate writes <out>/model)')
    .requiredOption('--data <file>', 'rows to explain: CSV with the feature columns, or .npz')
    .option('--out <dir>', 'output folder', 'explanations')
    .option('--rows <n>', 'rows/images to explain, from the start of the file', int, 16)
    .option('--array <name>', '.npz: the array of rows or images', 'x')
    .option('--background <file>', 'tables: a PUBLIC background set (CSV) for Shapley values')
    .option('--samples <n>', 'tables: permutation samples per row (even)', int)
    .option('--output <k>', 'the output explained (class or label index)', int)
    .action(
      async (o: {
        model: string;
        data: string;
        out: string;
        rows: number;
        array: string;
        background?: string;
        samples?: number;
        output?: number;
      }) => {
        await selectBackend({ log: () => {} });
        const s = await explainModel({
          modelDir: o.model,
          data: o.data,
          out: o.out,
          rows: o.rows,
          array: o.array,
          ...(o.background !== undefined ? { background: o.background } : {}),
          ...(o.samples !== undefined ? { samples: o.samples } : {}),
          ...(o.output !== undefined ? { output: o.output } : {}),
        });
        process.stdout.write(
          `${s.method}: ${s.rows} row(s)${s.samples !== undefined ? `, ${s.samples} samples per row, background ${s.background}` : ''}\n${s.files.map((f) => `wrote ${f}`).join('\n')}\n`,
        );
      },
    );
}
