/**
 * `fedmesh simulate`: parses flags and delegates to simulations/simulate.ts (STYLE.md §12).
 */
import type { Command } from 'commander';
import { runExperiment } from '../../../simulations/experiment.js';

const int = (v: string): number => (/^-?\d+$/.test(v) ? Number(v) : Number.NaN);
const num = (v: string): number => Number(v);
const list = (v: string): number[] => v.split(',').map((x) => int(x.trim()));
const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
/** --attackers FRACTION:KIND, e.g. 0.2:sign-flip or 0.25:scaled:10. */
const attackers = (v: string): { fraction: number; kind: string } => {
  const i = v.indexOf(':');
  return i < 0 ? { fraction: Number.NaN, kind: v } : { fraction: Number(v.slice(0, i)), kind: v.slice(i + 1) };
};

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description(
      'run a federation of N peers on this machine: real libp2p on 127.0.0.1 and FedmeshFederation on an in-process Hardhat chain (rounds opened on chain, finalized by committee signatures)',
    )
    .option('--scenario <file>', 'scenario YAML (docs/simulation-lab.md); flags override its fields')
    .option('--dataset <name>', 'breast-cancer | heart-disease | pneumonia | a .csv or .npz path (columns/arrays in a scenario)')
    .option('--partition <p>', 'iid | dirichlet:<alpha> | quantity-skew:<beta> | by-site (heart-disease)')
    .option('--algorithm <a>', 'fedavg | fedprox:<mu>')
    .option('--standardize <how>', 'tables: site (each site its own statistics) | federated (pooled statistics, as a secure sum gives)')
    .option('--stragglers <dist>', 'delay before local training: none | uniform:<min>-<max> | exponential:<mean> (ms, seeded)')
    .option('--attackers <fraction:kind>', 'e.g. 0.2:sign-flip, 0.2:scaled:10, 0.2:label-flip, 0.2:noise[:sigma]', attackers)
    .option('--update-norm-bound <b>', 'defence: clip every update to this L2 norm', num)
    .option('--validation-margin <m>', 'defence: committee refuses an aggregate whose validation loss worsens by more than m', num)
    .option('--sweep <key=v1,v2,...>', 'run a grid over an option (repeatable); writes sweep.csv, sweep.json, sweep.svg', collect)
    .option('--repeat <k>', 'run each configuration over k seeds (seed, seed+1, ...) and report mean ± sd', int)
    .option('--peers <n>', 'number of peers (2–64)', int)
    .option('--rounds <n>', 'federated rounds', int)
    .option('--seed <n>', 'seed for split, partition, initial model and training', int)
    .option('--out <dir>', 'output directory (default runs/<dataset>-<timestamp>)')
    .option('--model <kind>', 'mlp | logistic (logreg) | cnn')
    .option('--hidden <sizes>', 'MLP hidden layer sizes, comma-separated', list)
    .option('--committee-size <m>', 'committee members per round (default 5; capped by --peers)', int)
    .option('--threshold <t>', 'secure aggregation: shares needed to reconstruct, m/2 < t <= m (default 3)', int)
    .option('--no-secure-aggregation', 'plaintext FedAvg: the committee sees every update (for comparison)')
    .option('--dropout <p>', 'probability that a peer drops out of a round, after sharing keys or after its input (seeded)', num)
    .option('--keys-ms <ms>', 'secure aggregation: wait at most this long for key advertisements', int)
    .option(
      '--key-set-grace-ms <ms>',
      'secure aggregation: members forgive a key set omitting an advert or share held < this before the turn (0 <= ms < keys-ms; default keys-ms/2)',
      int,
    )
    .option(
      '--masking-degree <K>',
      'secure aggregation: mask along the SecAgg+ graph with at least K neighbours (even, >= 4; raised to what the 2^-40 bound needs for the round, complete up to 57 members) instead of with every participant; the bound assumes at most 1/5 of the members collude, so above 57 members G1 no longer holds against any number of colluding participants (red team F35)',
      int,
    )
    .option('--clip-range <R>', 'secure aggregation: clip each coordinate of n_i * update to [-R, R] (default 1024)', num)
    .option('--fractional-bits <f>', 'secure aggregation: fixed-point fractional bits (default 10)', int)
    .option('--local-epochs <n>', 'local epochs per round', int)
    .option('--batch-size <n>', 'local batch size', int)
    .option('--learning-rate <x>', 'Adam learning rate', num)
    .option('--collect-ms <ms>', 'committee waits at most this long for updates', int)
    .option('--record-grace-ms <ms>', 'grace before the next committee member records', int)
    .option('--chunk-size <bytes>', 'gossip chunk size for payloads', int)
    .option('--federation <id>', 'federation id (topic namespace)')
    .option('--backend <name>', 'force a tfjs backend: tensorflow-gpu | tensorflow | wasm | cpu')
    .option('--dp-epsilon <e>', 'DP-SGD: target epsilon per institution over all rounds; sigma is planned', num)
    .option('--dp-delta <d>', 'DP-SGD: delta (default 1e-5)', num)
    .option('--dp-noise-multiplier <sigma>', 'DP-SGD: noise multiplier sigma (instead of --dp-epsilon)', num)
    .option('--dp-clip-norm <c>', 'DP-SGD: per-example clipping norm C (default 1)', num)
    .option('--dp-sample-rate <q>', 'DP-SGD: Poisson sampling rate (default batch size / smallest site)', num)
    .option('--no-baseline', 'skip the centralized baseline (same model, pooled data, same epoch budget)')
    .option('--quiet', 'only errors on stderr')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      // Only flags given on the command line override the scenario file (commander fills in
      // defaults for --no-* flags, which must not mask the file's value).
      const given: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(flags)) if (cmd.getOptionValueSource(k) === 'cli') given[k] = v;
      const { scenario, sweep, repeat, updateNormBound, validationMargin, ...options } = given;
      if (updateNormBound !== undefined || validationMargin !== undefined) {
        options.defence = {
          ...(updateNormBound !== undefined ? { updateNormBound } : {}),
          ...(validationMargin !== undefined ? { validationMargin } : {}),
        };
      }
      await runExperiment({
        options,
        ...(typeof scenario === 'string' ? { scenario } : {}),
        sweep: (sweep as string[] | undefined) ?? [],
        ...(repeat !== undefined ? { repeat: repeat as number } : {}),
        progress: process.stderr.isTTY === true && options.quiet !== true,
      });
    });
}
