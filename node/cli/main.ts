/**
 * fedmesh CLI: one binary, one file per command under commands/. This file only builds the
 * program and maps typed errors to exit codes: 2 for invalid input, 1 for anything else.
 */
import { Command, CommanderError } from 'commander';
import { isFedmeshError } from '../../protocol/errors.js';
import { registerAudit } from './commands/audit.js';
import { registerChain } from './commands/chain.js';
import { registerDevnet } from './commands/devnet.js';
import { registerNode } from './commands/node.js';
import { registerPrivacy } from './commands/privacy.js';
import { registerSimulate } from './commands/simulate.js';

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('fedmesh')
    .description('serverless, privacy-preserving federated learning for medical institutions')
    .exitOverride()
    .showHelpAfterError();
  registerSimulate(program);
  registerNode(program);
  registerDevnet(program);
  registerChain(program);
  registerPrivacy(program);
  registerAudit(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (isFedmeshError(e)) {
      process.stderr.write(`fedmesh: ${e.message}\n`);
      if (process.env.FEDMESH_DEBUG) process.stderr.write(`${JSON.stringify(e.fields)}\n`);
      return e.code === 'CONFIG_INVALID' ||
        e.code === 'PRIVACY_ARGUMENT_INVALID' ||
        e.code === 'AUDIT_USAGE' ||
        e.code === 'AUDIT_CONNECTION'
        ? 2
        : 1;
    }
    process.stderr.write(`fedmesh: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}
