/**
 * Hardhat 2 configuration: compiles contracts/ and runs the in-process `hardhat` network that
 * tests and the simulator use (see node/chain/hardhat.ts).
 *
 * This file is loaded with `require()`, i.e. as CommonJS, although the package is ESM: by
 * ts-node (with the `moduleTypes` override in tsconfig.json) under the Hardhat CLI, or by tsx's
 * CommonJS hook when node/chain/hardhat.ts imports Hardhat as a library. So: `import` syntax
 * that transpiles to `require`, no top-level await, no `import.meta`.
 */
// Subpaths spelled with ".js" because tsc checks this file as ESM (NodeNext), where the
// extensionless `hardhat/config` would not resolve (hardhat has no exports map); `require`
// accepts both forms.
import '@nomicfoundation/hardhat-ethers';
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, TASK_COMPILE_SOLIDITY_LOG_COMPILATION_RESULT } from 'hardhat/builtin-tasks/task-names.js';
import { subtask } from 'hardhat/config.js';
import type { HardhatUserConfig } from 'hardhat/types/index.js';

/** Must equal the installed `solc` npm package's version; checked when a compile needs solc. */
const SOLC_VERSION = '0.8.28';

/**
 * Accounts on the in-process network. The simulator runs up to 64 peers, each with its own
 * account; the rest are headroom for deployers and tests that need outsiders.
 */
const HARDHAT_ACCOUNT_COUNT = 128;

/** Hardhat's default local chain id, stated so that signatures do not depend on a default. */
const HARDHAT_CHAIN_ID = 31337;

/**
 * Compile with the solc-js build shipped in the `solc` npm package instead of downloading one:
 * machines running fedmesh may have no access to binaries.soliditylang.org, where Hardhat's
 * default subtask fails with HH502. Hardhat then runs `solc/soljson.js` in a child process.
 */
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args: { solcVersion: string }) => {
  const installed: string = require('solc/package.json').version;
  if (args.solcVersion !== installed) {
    throw new Error(
      `hardhat.config.ts: contracts need solc ${args.solcVersion} but the installed solc npm package is ${installed}; ` +
        `install solc@${args.solcVersion} or change SOLC_VERSION (compilers are never downloaded)`,
    );
  }
  // The long version (with the commit) goes into build-info metadata. Loading the wrapper
  // instantiates the compiler, which takes a moment, but only when a compile is actually needed.
  const longVersion: string = require('solc').version();
  return {
    compilerPath: require.resolve('solc/soljson.js'),
    isSolcJs: true,
    version: args.solcVersion,
    longVersion,
  };
});

/**
 * Hardhat prints "Compiled N Solidity files" even for `compile --quiet`; honour `quiet` so that
 * tests and the simulator, which compile on start, keep their output clean.
 */
subtask(TASK_COMPILE_SOLIDITY_LOG_COMPILATION_RESULT).setAction(async (args: { quiet: boolean }, _hre, runSuper) => {
  if (!args.quiet) await runSuper(args);
});

const config: HardhatUserConfig = {
  solidity: {
    version: SOLC_VERSION,
    settings: {
      optimizer: { enabled: true, runs: 200 },
    },
  },
  networks: {
    hardhat: {
      chainId: HARDHAT_CHAIN_ID,
      accounts: { count: HARDHAT_ACCOUNT_COUNT },
    },
  },
};

export default config;
