/**
 * fedmesh CLI: one binary, one file per command under commands/. This file only builds the
 * program and maps typed errors to exit codes: 2 for invalid input, 1 for anything else.
 */
import { Command, CommanderError } from 'commander';
import { isFedmeshError } from '../../protocol/errors.js';
import { registerAudit } from './commands/audit.js';
import { registerChain } from './commands/chain.js';
import { registerData } from './commands/data.js';
import { registerDevnet } from './commands/devnet.js';
import { registerManifest } from './commands/manifest.js';
import { registerModel } from './commands/model.js';
import { registerNode } from './commands/node.js';
import { registerExplain } from './commands/explain.js';
import { registerPredict } from './commands/predict.js';
import { registerPrivacy } from './commands/privacy.js';
import { registerSimulate } from './commands/simulate.js';
import { registerStudy } from './commands/study.js';

/** Typed errors that mean "fix your input": exit status 2. */
const USAGE_CODES: ReadonlySet<string> = new Set([
  'CONFIG_INVALID',
  'CONFIG_UNREADABLE',
  'PRIVACY_ARGUMENT_INVALID',
  'AUDIT_USAGE',
  'AUDIT_CONNECTION',
  'MANIFEST_INVALID',
  'KEYSTORE_WEAK_PASSPHRASE',
]);

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
  registerStudy(program);
  registerAudit(program);
  registerManifest(program);
  registerData(program);
  registerPredict(program);
  registerExplain(program);
  registerModel(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (isFedmeshError(e)) {
      process.stderr.write(`fedmesh: ${e.message}\n`);
      if (process.env.FEDMESH_DEBUG) process.stderr.write(`${JSON.stringify(e.fields)}\n`);
      return USAGE_CODES.has(e.code) ? 2 : 1;
    }
    // Not a typed error: a bug or an unclassified failure. The message is enough for an
    // operator; the stack is for a developer (FEDMESH_DEBUG=1).
    const debug = process.env.FEDMESH_DEBUG !== undefined && process.env.FEDMESH_DEBUG !== '';
    process.stderr.write(`fedmesh: ${e instanceof Error ? (debug ? (e.stack ?? e.message) : e.message) : String(e)}\n`);
    if (!debug) process.stderr.write('fedmesh: (set FEDMESH_DEBUG=1 for the stack trace)\n');
    return 1;
  }
}
