/**
 * `fedmesh study close|show`: studies on one budget (issue 17 item 7, contracts/IFedmeshStudy.sol).
 * Parses flags and delegates to node/chain/study.ts (STYLE.md §12).
 *
 *   fedmesh study close --rpc URL [--key-env VAR] --deployment FILE [--successor 0x…]
 *   fedmesh study show  --rpc URL --deployment FILE [--json]
 *
 * A new study that continues one is deployed with `fedmesh chain deploy --continues FILE`, which
 * closes the old study naming it; `study close` closes a study by itself (naming a successor
 * deployed later, or none: the end of the chain).
 */
import type { Command } from 'commander';
import { JsonRpcProvider, Network } from 'ethers';
import { closeStudyAt, readStudyChain } from '../../chain/study.js';
import { loadDeploymentRef } from '../../daemon/setup.js';

const write = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export function registerStudy(program: Command): void {
  const study = program.command('study').description('studies on one privacy budget: close a study, show its chain');

  study
    .command('close')
    .description('close a study for good (no round opens again) and name the study that may continue its budgets')
    .requiredOption('--rpc <url>', 'EVM JSON-RPC endpoint')
    .option('--key-env <var>', "environment variable holding the admin's private key (default: the node's first unlocked account)")
    .requiredOption('--deployment <file>', "the study's deployment JSON")
    .option('--successor <address>', 'the study that may continue its budgets (default: none, the chain ends)')
    .action(async (flags: { rpc: string; keyEnv?: string; deployment: string; successor?: string }) => {
      const ref = loadDeploymentRef(flags.deployment);
      const tx = await closeStudyAt({
        rpc: flags.rpc,
        chainId: ref.chainId,
        address: ref.address,
        ...(flags.keyEnv !== undefined ? { keyEnv: flags.keyEnv } : {}),
        ...(flags.successor !== undefined ? { successor: flags.successor } : {}),
      });
      write(
        `study ${ref.address} closed${flags.successor !== undefined ? `, naming ${flags.successor} to continue its budgets` : ''}: tx ${tx.txHash} in block ${tx.blockNumber}`,
      );
    });

  study
    .command('show')
    .description("the study's chain, oldest first: each study's predecessor, successor and whether it is closed")
    .requiredOption('--rpc <url>', 'EVM JSON-RPC endpoint')
    .requiredOption('--deployment <file>', "the study's deployment JSON")
    .option('--json', 'print one JSON line')
    .action(async (flags: { rpc: string; deployment: string; json?: boolean }) => {
      const ref = loadDeploymentRef(flags.deployment);
      const network = Network.from(ref.chainId);
      const provider = new JsonRpcProvider(flags.rpc, network, { staticNetwork: network });
      try {
        const links = await readStudyChain(provider, ref.address);
        if (flags.json === true) {
          write(JSON.stringify({ studies: links }));
          return;
        }
        for (const [i, l] of links.entries()) {
          write(
            `study ${i + 1}: ${l.address}${l.closed ? ', closed' : ', open'}${l.successor !== undefined ? `, names ${l.successor}` : ''}` +
              `${l.predecessor !== undefined ? `, continues ${l.predecessor}` : ''}`,
          );
        }
      } finally {
        provider.destroy();
      }
    });
}
