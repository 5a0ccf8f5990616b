/**
 * `fedmesh node …`: parses flags and delegates (STYLE.md §12).
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { initNodeDir } from '../../keystore/init.js';
import { resolvePassphrase } from '../../keystore/keystore.js';

async function promptPassphrase(): Promise<string> {
  if (!process.stdin.isTTY) return resolvePassphrase({});
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await rl.question('passphrase for the new keystore: ');
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
          : await promptPassphrase();
      const r = await initNodeDir(o.dir, passphrase);
      process.stdout.write(`created ${r.dir}\n  peer id  ${r.peerId}\n  address  ${r.address}\n  config   ${r.configPath}\n`);
    });
}
