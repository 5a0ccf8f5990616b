/**
 * `fedmesh chain start|deploy`: parses flags and delegates to node/chain (STYLE.md §12).
 *
 *   fedmesh chain start [--port 8545]
 *   fedmesh chain deploy --rpc URL [--key-env VAR] --members FILE --out deployment.json
 *                        --initial-model-hash 0x… [--manifest manifest.json] [--delta 1e-5] [--committee-size 3]
 *                        [--threshold 2] [--input-duration 600] [--finalize-duration 600]
 */
import type { Command } from 'commander';
import { deployFederationToRpc, parseDeployOptions } from '../../chain/deployment.js';
import { DEFAULT_LOCAL_NODE_PORT, startLocalChainNode } from '../../chain/local-node.js';

const int = (v: string): number => (/^-?\d+$/.test(v) ? Number(v) : Number.NaN);
const num = (v: string): number => (v.trim() === '' ? Number.NaN : Number(v));

export function registerChain(program: Command): void {
  const chain = program.command('chain').description('run a local chain, deploy federation contracts');

  chain
    .command('start')
    .description('run a Hardhat JSON-RPC node on 127.0.0.1 (chain id 31337, 128 unlocked test accounts) until interrupted')
    .option('--port <n>', 'TCP port (0 picks a free one)', int, DEFAULT_LOCAL_NODE_PORT)
    .action(async (flags: { port: number }) => {
      const node = await startLocalChainNode(flags.port);
      process.stdout.write(`fedmesh chain: JSON-RPC on ${node.url} (chain id ${node.chainId})\n`);
      process.stdout.write(`accounts (Hardhat's public test mnemonic; never use them on a real network):\n`);
      for (const [i, a] of node.accounts.slice(0, 4).entries()) process.stdout.write(`  #${i} ${a}\n`);
      process.stdout.write(`  … ${node.accounts.length} in all\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await node.close();
    });

  chain
    .command('deploy')
    .description('deploy a FedmeshFederation, register the members in FILE, write a deployment JSON')
    .requiredOption('--rpc <url>', 'EVM JSON-RPC endpoint, e.g. http://127.0.0.1:8545')
    .option('--key-env <var>', "environment variable holding the deployer's private key (default: the node's first unlocked account)")
    .requiredOption('--members <file>', 'JSON file: {"members": [{"address", "peerId", "metadataURI", "epsilonCap"}]}')
    .requiredOption('--out <file>', 'where to write the deployment JSON')
    .option('--manifest <file>', 'federation manifest (JSON); its hash is fixed on chain (default: the zero hash)')
    .requiredOption('--initial-model-hash <hex>', "SHA-256 of the federation's initial model (round 1's prevModelHash)")
    .option('--delta <x>', "the federation's δ (c_α are computed for it)", num)
    .option('--committee-size <m>', 'committee members per round', int)
    .option('--threshold <t>', 'signatures needed to finalize a round', int)
    .option('--input-duration <s>', 'seconds from opening a round to its input deadline', int)
    .option('--finalize-duration <s>', 'seconds from the input deadline to the finalize deadline', int)
    .action(async (flags: Record<string, unknown>) => {
      const deployment = await deployFederationToRpc(
        parseDeployOptions({
          rpc: flags.rpc,
          keyEnv: flags.keyEnv,
          members: flags.members,
          manifest: flags.manifest,
          out: flags.out,
          initialModelHash: flags.initialModelHash,
          delta: flags.delta,
          committeeSize: flags.committeeSize,
          threshold: flags.threshold,
          inputDurationSec: flags.inputDuration,
          finalizeDurationSec: flags.finalizeDuration,
        }),
      );
      process.stdout.write(
        `FedmeshFederation at ${deployment.addresses.FedmeshFederation} on chain ${deployment.chainId} ` +
          `(block ${deployment.deployBlock}), ${deployment.members.length} members; wrote ${String(flags.out)}\n`,
      );
    });
}
