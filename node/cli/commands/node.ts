/**
 * `fedmesh node …`: parses flags and delegates (STYLE.md §12).
 *
 *   fedmesh node init   --dir DIR [--passphrase-file FILE]
 *   fedmesh node start  --dir DIR | --config FILE [--passphrase-file FILE]
 *   fedmesh node status --dir DIR | --config FILE | --url URL
 *   fedmesh node proof  --dir DIR | --config FILE [--deployment FILE] [--passphrase-file FILE]
 */
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { isFedmeshError } from '../../../protocol/errors.js';
import { startNodeDaemon } from '../../daemon/daemon.js';
import { fetchNodeStatus, opsUrlOf } from '../../daemon/status-client.js';
import { initNodeDir } from '../../keystore/init.js';
import { nodePeerProof } from '../../keystore/peer-proof.js';
import { resolvePassphrase } from '../../keystore/keystore.js';

async function prompt(question: string): Promise<string> {
  if (!process.stdin.isTTY) return resolvePassphrase({});
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export function registerNode(program: Command): void {
  const node = program.command('node').description('run and manage an institution’s peer node');
  node
    .command('init')
    .description('create an encrypted keystore (libp2p Ed25519 identity + Ethereum account) and a config template')
    .requiredOption('--dir <dir>', 'node folder to create')
    .option('--passphrase-file <file>', 'read the passphrase from a file (else FEDMESH_PASSPHRASE, else a prompt)')
    .action(async (o: { dir: string; passphraseFile?: string }) => {
      const passphrase =
        o.passphraseFile !== undefined || process.env.FEDMESH_PASSPHRASE !== undefined
          ? resolvePassphrase(o.passphraseFile !== undefined ? { file: o.passphraseFile } : {})
          : await prompt('passphrase for the new keystore: ');
      const r = await initNodeDir(o.dir, passphrase);
      process.stdout.write(`created ${r.dir}\n  peer id  ${r.peerId}\n  address  ${r.address}\n  config   ${r.configPath}\n`);
    });

  node
    .command('start')
    .description('run the node: join the federation’s rounds until SIGTERM/SIGINT')
    .option('--dir <dir>', 'node folder (uses DIR/config.yaml)')
    .option('--config <file>', 'config file (instead of --dir)')
    .option('--passphrase-file <file>', 'keystore passphrase file (else the config’s passphraseFile, FEDMESH_PASSPHRASE, or a prompt)')
    .action(async (o: { dir?: string; config?: string; passphraseFile?: string }) => {
      const config = o.config ?? join(o.dir ?? '.', 'config.yaml');
      const env = o.passphraseFile !== undefined ? { ...process.env, FEDMESH_PASSPHRASE_FILE: o.passphraseFile } : process.env;
      const progress = process.stderr.isTTY === true;
      let daemon: Awaited<ReturnType<typeof startNodeDaemon>>;
      try {
        daemon = await startNodeDaemon({ config, env, progress });
      } catch (e) {
        if (!(isFedmeshError(e, 'KEYSTORE_NO_PASSPHRASE') && process.stdin.isTTY)) throw e;
        daemon = await startNodeDaemon({ config, env, progress, passphrase: await prompt('keystore passphrase: ') });
      }
      const stop = (): void => void daemon.stop();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      await daemon.stopped;
      // Everything the node owns is closed; a round task still sleeping on a chain deadline
      // must not keep the process alive after SIGTERM.
      setTimeout(() => process.exit(process.exitCode ?? 0), 1_000).unref();
    });

  node
    .command('status')
    .description('print a running node’s /status as JSON')
    .option('--dir <dir>', 'node folder (reads the ops address from DIR/config.yaml)')
    .option('--config <file>', 'config file (instead of --dir)')
    .option('--url <url>', 'ops endpoint, e.g. http://127.0.0.1:9464')
    .action(async (o: { dir?: string; config?: string; url?: string }) => {
      const url =
        o.url ?? opsUrlOf({ ...(o.dir !== undefined ? { dir: o.dir } : {}), ...(o.config !== undefined ? { config: o.config } : {}) });
      process.stdout.write(`${JSON.stringify(await fetchNodeStatus(url), null, 2)}\n`);
    });

  node
    .command('proof')
    .description("sign this node's peer-id binding to its account on a deployment; give the JSON to the admin (`chain set-peer-proof`)")
    .option('--dir <dir>', 'node folder (uses DIR/config.yaml)')
    .option('--config <file>', 'config file (instead of --dir)')
    .option('--deployment <file>', "deployment JSON (default: the config's chain.deployment)")
    .option('--passphrase-file <file>', 'keystore passphrase file (else the config’s passphraseFile, FEDMESH_PASSPHRASE, or a prompt)')
    .action(async (o: { dir?: string; config?: string; deployment?: string; passphraseFile?: string }) => {
      const config = o.config ?? join(o.dir ?? '.', 'config.yaml');
      const env = o.passphraseFile !== undefined ? { ...process.env, FEDMESH_PASSPHRASE_FILE: o.passphraseFile } : process.env;
      const proof = await nodePeerProof({ config, env, ...(o.deployment !== undefined ? { deployment: o.deployment } : {}) }).catch(
        async (e: unknown) => {
          if (!(isFedmeshError(e, 'KEYSTORE_NO_PASSPHRASE') && process.stdin.isTTY)) throw e;
          return nodePeerProof({
            config,
            env,
            passphrase: await prompt('keystore passphrase: '),
            ...(o.deployment !== undefined ? { deployment: o.deployment } : {}),
          });
        },
      );
      process.stdout.write(`${JSON.stringify(proof)}\n`);
    });
}
