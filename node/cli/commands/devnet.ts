/**
 * `fedmesh devnet`: parses flags and delegates to node/devnet (STYLE.md §12).
 */
import type { Command } from 'commander';
import { ConfigError } from '../../../simulations/options.js';
import { createDevnet, DEVNET_EPSILON_CAP } from '../../devnet/devnet.js';
import { deployDevnet, devnetDown, devnetUp } from '../../devnet/up.js';

/**
 * `--dir` of a subcommand: commander hands an option the parent also declares to the parent
 * (`devnet up --dir D` sets devnet's --dir), so read it from either.
 */
function dirOf(cmd: Command): string {
  const dir = (cmd.opts() as { dir?: string }).dir ?? (cmd.parent?.opts() as { dir?: string } | undefined)?.dir;
  if (dir === undefined)
    throw new ConfigError('CONFIG_INVALID', 'dir=undefined: --dir is required', {
      issues: [{ field: 'dir', value: undefined, rule: 'required' }],
    });
  return dir;
}

const int = (v: string): number => (/^\d+$/.test(v) ? Number(v) : Number.NaN);

export function registerDevnet(program: Command): void {
  const devnet = program
    .command('devnet')
    .description('create (not start) a local multi-process federation: keys, configs, data splits, manifest and the commands to run')
    .requiredOption('--dir <dir>', 'folder for the devnet')
    .option('--peers <n>', 'number of nodes (2–32)', int, 5)
    .option('--dataset <name>', 'bundled data set to split: breast-cancer', 'breast-cancer')
    .option('--seed <n>', 'seed for the data split and the initial model', int, 1)
    .option('--rounds <n>', 'rounds in the manifest', int, 10)
    .option('--base-port <port>', 'node i listens on base+i, its ops endpoint on base+100+i', int, 4100)
    .option('--rpc <url>', 'chain JSON-RPC URL', 'http://127.0.0.1:8545')
    .option('--dp-epsilon <e>', 'DP-SGD target ε in the manifest (δ = 1e-5); each node plans its σ for it', (v: string) => Number(v))
    .action(
      async (o: {
        dir: string;
        peers: number;
        dataset: string;
        seed: number;
        rounds: number;
        basePort: number;
        rpc: string;
        dpEpsilon?: number;
      }) => {
        const bad = (field: string, value: unknown, rule: string): never => {
          throw new ConfigError('CONFIG_INVALID', `${field}=${JSON.stringify(value)}: ${rule}`, { issues: [{ field, value, rule }] });
        };
        if (!(o.peers >= 2 && o.peers <= 32)) bad('peers', o.peers, 'an integer in 2–32');
        if (o.dataset !== 'breast-cancer') bad('dataset', o.dataset, 'one of: breast-cancer');
        if (o.dpEpsilon !== undefined && !(o.dpEpsilon > 0 && o.dpEpsilon <= DEVNET_EPSILON_CAP))
          bad('dp-epsilon', o.dpEpsilon, `a number in (0, ${DEVNET_EPSILON_CAP}] (the members' cap)`);
        const d = await createDevnet({
          dir: o.dir,
          peers: o.peers,
          dataset: 'breast-cancer',
          seed: o.seed,
          rounds: o.rounds,
          basePort: o.basePort,
          rpcUrl: o.rpc,
          ...(o.dpEpsilon !== undefined ? { dpEpsilon: o.dpEpsilon } : {}),
        });
        process.stdout.write(
          `devnet in ${d.dir}: ${d.nodes.length} nodes, manifest ${d.manifestHash}\n\nrun, each in its own terminal:\n${d.commands.map((c) => `  ${c}`).join('\n')}\n`,
        );
      },
    );

  devnet
    .command('up')
    .description('start the devnet: `chain start`, deploy + register, and every node as a background process (logs in DIR/logs)')
    .option('--dir <dir>', 'the devnet folder')
    .action(async (_o: unknown, cmd: Command) => {
      const dir = dirOf(cmd);
      const up = await devnetUp(dir);
      process.stdout.write(
        `devnet up: chain pid ${up.chain ?? '?'}, federation ${up.deployment.addresses.FedmeshFederation}, ` +
          `${up.nodes.length} nodes (pids ${up.nodes.map((n) => n.pid).join(' ')})\nlogs in ${up.logs}; stop with: npx fedmesh devnet down --dir ${dir}\n`,
      );
    });

  devnet
    .command('deploy')
    .description('deploy the devnet federation (manifest hash, initial model, members) onto the running chain; writes DIR/deployment.json')
    .option('--dir <dir>', 'the devnet folder')
    .option('--rpc <url>', 'chain JSON-RPC URL (default: the one in DIR/deploy-plan.json)')
    .action(async (o: { rpc?: string }, cmd: Command) => {
      const d = await deployDevnet(dirOf(cmd), o.rpc ?? (cmd.parent?.opts() as { rpc?: string } | undefined)?.rpc);
      process.stdout.write(
        `FedmeshFederation at ${d.addresses.FedmeshFederation} (manifest ${d.manifestHash}), ${d.members.length} members\n`,
      );
    });

  devnet
    .command('down')
    .description('stop the devnet processes recorded in DIR/pids.json (SIGTERM, then SIGKILL)')
    .option('--dir <dir>', 'the devnet folder')
    .action(async (_o: unknown, cmd: Command) => {
      const r = await devnetDown(dirOf(cmd));
      process.stdout.write(`devnet down: ${r.stopped} processes stopped (${r.killed} needed SIGKILL)\n`);
    });
}
