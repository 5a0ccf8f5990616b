/**
 * `fedmesh explain --model DIR --data FILE [--out DIR] [--rows N] [--background FILE] [--samples M]
 * [--method auto|linear|kernel|permutation|exact] [--seed S]`:
 * Grad-CAM overlays for image models, Shapley-value attributions and a global importance chart
 * for tabular models (node/ml/explain-run.ts). Parses flags and delegates (STYLE.md §12).
 */
import type { Command } from 'commander';
import { selectBackend } from '../../ml/backend.js';
import { explainModel, SHAPLEY_METHODS, type ShapleyMethod } from '../../ml/explain-run.js';

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
    .option('--samples <n>', 'tables: KernelSHAP coalitions per row (default 2M + 2048) or permutation samples (even)', int)
    .option('--method <m>', `tables: ${SHAPLEY_METHODS.join(' | ')} (auto: exact for linear models, KernelSHAP otherwise)`, 'auto')
    .option('--seed <s>', 'tables: seed of the sampled coalitions or permutations', int, 0)
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
        method: string;
        seed: number;
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
          method: o.method as ShapleyMethod,
          seed: o.seed,
        });
        process.stdout.write(
          `${s.method}: ${s.rows} row(s)${s.samples !== undefined ? `, ${s.samples} samples per row${s.exact === true ? ' (every coalition: exact)' : ''}, explaining ${s.explained}, background ${s.background}` : ''}\n${s.files.map((f) => `wrote ${f}`).join('\n')}\n`,
        );
      },
    );
}
