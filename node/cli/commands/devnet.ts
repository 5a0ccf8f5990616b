/**
 * `fedmesh devnet`: parses flags and delegates to node/devnet (STYLE.md §12).
 */
import type { Command } from 'commander';
import { ConfigError } from '../../../simulations/options.js';
import { createDevnet } from '../../devnet/devnet.js';

const int = (v: string): number => (/^\d+$/.test(v) ? Number(v) : Number.NaN);

export function registerDevnet(program: Command): void {
  program
    .command('devnet')
    .description('create (not start) a local multi-process federation: keys, configs, data splits, manifest and the commands to run')
    .requiredOption('--dir <dir>', 'folder for the devnet')
    .option('--peers <n>', 'number of nodes (2–32)', int, 5)
    .option('--dataset <name>', 'bundled data set to split: breast-cancer', 'breast-cancer')
    .option('--seed <n>', 'seed for the data split and the initial model', int, 1)
    .option('--rounds <n>', 'rounds in the manifest', int, 10)
    .option('--base-port <port>', 'node i listens on base+i, its ops endpoint on base+100+i', int, 4100)
    .option('--rpc <url>', 'chain JSON-RPC URL', 'http://127.0.0.1:8545')
    .action(async (o: { dir: string; peers: number; dataset: string; seed: number; rounds: number; basePort: number; rpc: string }) => {
      const bad = (field: string, value: unknown, rule: string): never => {
        throw new ConfigError('CONFIG_INVALID', `${field}=${JSON.stringify(value)}: ${rule}`, { issues: [{ field, value, rule }] });
      };
      if (!(o.peers >= 2 && o.peers <= 32)) bad('peers', o.peers, 'an integer in 2–32');
      if (o.dataset !== 'breast-cancer') bad('dataset', o.dataset, 'one of: breast-cancer');
      const d = await createDevnet({
        dir: o.dir,
        peers: o.peers,
        dataset: 'breast-cancer',
        seed: o.seed,
        rounds: o.rounds,
        basePort: o.basePort,
        rpcUrl: o.rpc,
      });
      process.stdout.write(
        `devnet in ${d.dir}: ${d.nodes.length} nodes, manifest ${d.manifestHash}\n\nrun, each in its own terminal:\n${d.commands.map((c) => `  ${c}`).join('\n')}\n`,
      );
    });
}
