/**
 * `fedmesh chain start|deploy`: parses flags and delegates to node/chain (STYLE.md §12).
 *
 *   fedmesh chain start [--port 8545]
 *   fedmesh chain deploy --rpc URL [--key-env VAR] --members FILE --out deployment.json
 *                        --manifest manifest.yaml | --initial-model-hash 0x… [--delta 1e-5]
 *                        [--committee-size 3] [--threshold 2] [--input-duration 600] [--finalize-duration 600]
 *                        [--fund ETH | --no-fund] [--continues previous-deployment.json]
 *   fedmesh chain set-peer-proof --rpc URL [--key-env VAR] --deployment FILE
 *                        (--from proof.json | --member 0x… --peer-id ID --proof 0x…)
 */
import type { Command } from 'commander';
import { formatEther, parseEther } from 'ethers';
import { ChainConfigError, deployFederationToRpc, fundingOf, parseDeployOptions } from '../../chain/deployment.js';
import { DEFAULT_LOCAL_NODE_PORT, startLocalChainNode } from '../../chain/local-node.js';
import { resolveInitialModelHash } from '../../manifest/initial-model.js';
import { readManifestFile } from '../../manifest/manifest-file.js';
import { setPeerProof } from '../../chain/peer-proof-admin.js';
import { readFileSync } from 'node:fs';

/** `--fund 2.5` → wei; `--no-fund` (false) → 0; absent → the default (fundingOf). */
function fundWeiOf(v: unknown): bigint | undefined {
  if (v === false) return 0n;
  if (typeof v !== 'string') return undefined;
  try {
    return parseEther(v);
  } catch {
    throw new ChainConfigError('CONFIG_INVALID', `fund=${JSON.stringify(v)}: an amount of ether, e.g. 0.5`, {
      issues: [{ field: 'fund', value: v, rule: 'an amount of ether, e.g. 0.5' }],
    });
  }
}

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
    .option('--manifest <file>', 'federation manifest (JSON or YAML); its hash and its initial model hash are fixed on chain')
    .option('--initial-model-hash <hex>', 'SHA-256 of the initial model (default: computed from --manifest; required without it)')
    .option('--delta <x>', "the federation's δ (c_α are computed for it)", num)
    .option('--committee-size <m>', 'committee members per round', int)
    .option('--threshold <t>', 'signatures needed to finalize a round', int)
    .option('--input-duration <s>', 'seconds from opening a round to its input deadline', int)
    .option('--finalize-duration <s>', 'seconds from the input deadline to the finalize deadline', int)
    .option('--fund <eth>', 'send each member this much of the chain currency for gas (default: 10 on a local chain, none elsewhere)')
    .option('--no-fund', 'do not fund the members, even on a local chain')
    .option(
      '--continues <file>',
      'deployment JSON of the study this one continues: members start from their privacy budgets there (it is closed naming this study)',
    )
    .action(async (flags: Record<string, unknown>) => {
      const manifest = typeof flags.manifest === 'string' ? readManifestFile(flags.manifest).manifest : undefined;
      const options = parseDeployOptions({
        rpc: flags.rpc,
        keyEnv: flags.keyEnv,
        members: flags.members,
        manifest: flags.manifest,
        out: flags.out,
        initialModelHash: await resolveInitialModelHash(
          manifest,
          flags.initialModelHash as string | undefined,
          flags.manifest as string | undefined,
        ),
        fundWei: fundWeiOf(flags.fund),
        delta: flags.delta,
        committeeSize: flags.committeeSize ?? manifest?.committee.size,
        threshold: flags.threshold ?? manifest?.committee.threshold,
        inputDurationSec: flags.inputDuration,
        finalizeDurationSec: flags.finalizeDuration,
        continues: flags.continues,
      });
      const deployment = await deployFederationToRpc(options);
      const funded = fundingOf(options, BigInt(deployment.chainId));
      process.stdout.write(
        `FedmeshFederation at ${deployment.addresses.FedmeshFederation} on chain ${deployment.chainId} ` +
          `(block ${deployment.deployBlock}), ${deployment.members.length} members` +
          `${funded > 0n ? `, each funded with ${formatEther(funded)}` : ''}; initial model ${deployment.initialModelHash}` +
          `${deployment.studies !== undefined ? `; continues the budgets of ${deployment.studies.at(-1)!.address}` : ''}; wrote ${String(flags.out)}\n`,
      );
    });

  chain
    .command('set-peer-proof')
    .description("store a member's peer-binding proof (from `fedmesh node proof`) in the registry, after checking it")
    .requiredOption('--rpc <url>', 'EVM JSON-RPC endpoint')
    .option('--key-env <var>', "environment variable holding the admin's private key (default: the node's first unlocked account)")
    .requiredOption('--deployment <file>', 'deployment JSON written by `fedmesh chain deploy`')
    .option('--from <file>', 'the JSON `fedmesh node proof` printed ({address, peerId, peerProof})')
    .option('--member <address>', "the member's account (instead of --from)")
    .option('--peer-id <id>', "the member's peer id (instead of --from)")
    .option('--proof <hex>', 'the 64-byte proof, 0x hex (instead of --from)')
    .action(
      async (flags: {
        rpc: string;
        keyEnv?: string;
        deployment: string;
        from?: string;
        member?: string;
        peerId?: string;
        proof?: string;
      }) => {
        const given =
          flags.from !== undefined
            ? (JSON.parse(readFileSync(flags.from, 'utf8')) as { address?: string; peerId?: string; peerProof?: string })
            : {};
        const member = flags.member ?? given.address;
        const peerId = flags.peerId ?? given.peerId;
        const peerProof = flags.proof ?? given.peerProof;
        for (const [field, v] of [
          ['member', member],
          ['peer-id', peerId],
          ['proof', peerProof],
        ] as const) {
          if (v === undefined)
            throw new ChainConfigError('CONFIG_INVALID', `${field}=undefined: required (or --from)`, {
              issues: [{ field, value: v, rule: 'required (or --from)' }],
            });
        }
        const tx = await setPeerProof({
          rpc: flags.rpc,
          deployment: flags.deployment,
          member: member!,
          peerId: peerId!,
          peerProof: peerProof!,
          ...(flags.keyEnv !== undefined ? { keyEnv: flags.keyEnv } : {}),
        });
        process.stdout.write(`peer proof of ${member} (${peerId}) stored: tx ${tx.txHash} in block ${tx.blockNumber}\n`);
      },
    );
}
