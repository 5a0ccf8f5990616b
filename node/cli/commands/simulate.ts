/**
 * `fedmesh simulate`: parses flags and delegates to simulations/simulate.ts (STYLE.md §12).
 */
import type { Command } from 'commander';
import { parseSimulationOptions } from '../../../simulations/options.js';
import { runSimulation } from '../../../simulations/simulate.js';

const int = (v: string): number => (/^-?\d+$/.test(v) ? Number(v) : Number.NaN);
const num = (v: string): number => Number(v);
const list = (v: string): number[] => v.split(',').map((x) => int(x.trim()));

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('run a federation of N peers on this machine: real libp2p on 127.0.0.1 and an in-process Hardhat chain')
    .option('--dataset <name>', 'data set: breast-cancer')
    .option('--peers <n>', 'number of peers (2–64)', int)
    .option('--rounds <n>', 'federated rounds', int)
    .option('--seed <n>', 'seed for split, partition, initial model and training', int)
    .option('--out <dir>', 'output directory (default runs/<dataset>-<timestamp>)')
    .option('--model <kind>', 'mlp | logreg')
    .option('--hidden <sizes>', 'MLP hidden layer sizes, comma-separated', list)
    .option('--committee-size <m>', 'committee members per round', int)
    .option('--local-epochs <n>', 'local epochs per round', int)
    .option('--batch-size <n>', 'local batch size', int)
    .option('--learning-rate <x>', 'Adam learning rate', num)
    .option('--collect-ms <ms>', 'committee waits at most this long for updates', int)
    .option('--record-grace-ms <ms>', 'grace before the next committee member records', int)
    .option('--chunk-size <bytes>', 'gossip chunk size for payloads', int)
    .option('--federation <id>', 'federation id (topic namespace)')
    .option('--backend <name>', 'force a tfjs backend: tensorflow-gpu | tensorflow | wasm | cpu')
    .option('--quiet', 'only errors on stderr')
    .action(async (flags: Record<string, unknown>) => {
      await runSimulation(parseSimulationOptions(flags));
    });
}
