/**
 * The in-process Hardhat network, for tests and the simulator run by tsx or vitest.
 *
 * Hardhat 2 loads hardhat.config.ts with a plain `require()`. Under the Hardhat CLI, ts-node
 * handles that; imported as a library it is whatever `require` can do in this process. tsx
 * hooks `require` for .ts, vitest does not, so `loadHardhat` registers tsx's CommonJS hook
 * around the import when nothing else has. The config is found from this file's location, not
 * the working directory, so scripts can run from anywhere.
 */
import { mkdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HardhatEthersHelpers } from '@nomicfoundation/hardhat-ethers/types/index.js';
import type { Provider, Signer } from 'ethers';
import type { HardhatRuntimeEnvironment } from 'hardhat/types/index.js';

/** Hardhat's runtime environment with the hardhat-ethers extension the config loads. */
export type FedmeshHardhatRuntime = HardhatRuntimeEnvironment & {
  ethers: HardhatEthersHelpers;
};

/*
 * hardhat-ethers is CommonJS and gets ethers' CommonJS build; this package is ESM and gets the
 * ESM build. Classes with #private fields (Network, Block, ...) make the two builds' types
 * incompatible although the objects work with either at runtime (ethers duck-types runners).
 * The chain's provider and signers are therefore exposed through this package's ethers types.
 */

/** A HardhatEthersSigner, typed with this package's ethers. */
export type InProcessSigner = Signer & { readonly address: string };

/** The HardhatEthersProvider, typed with this package's ethers, plus raw JSON-RPC access. */
export type InProcessProvider = Provider & {
  /** A raw JSON-RPC request, e.g. `evm_mine` or `evm_setAutomine`. */
  send(method: string, params?: unknown[]): Promise<unknown>;
};

export interface InProcessChain {
  readonly hre: FedmeshHardhatRuntime;
  /** ethers provider over the in-process network (one per process; state is shared). */
  readonly provider: InProcessProvider;
  /** The network's funded accounts (128, see hardhat.config.ts), in order. */
  readonly signers: readonly InProcessSigner[];
}

const CONFIG_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../hardhat.config.ts');

/**
 * A compile lock whose holder cannot be identified (no owner file: it crashed between creating
 * the lock and writing its PID) and whose mtime is older than this is taken to be left behind.
 * A live holder refreshes the mtime every COMPILE_LOCK_HEARTBEAT_MS and names its PID, so it is
 * never taken for stale however slowly it compiles: on a loaded 2-core CI machine a solc-js
 * compile can outlast any fixed timeout, and breaking the lock then lets a second process
 * rewrite the artifacts another is reading.
 */
const COMPILE_LOCK_STALE_MS = 120_000;
const COMPILE_LOCK_HEARTBEAT_MS = 5_000;
const COMPILE_LOCK_POLL_MS = 100;
const COMPILE_LOCK_OWNER = 'owner';

let hardhatPromise: Promise<FedmeshHardhatRuntime> | undefined;
let chainPromise: Promise<InProcessChain> | undefined;

/**
 * Loads Hardhat (once per process) and compiles the contracts if their artifacts are missing or
 * stale; Hardhat's solidity-files cache makes an up-to-date compile a no-op.
 */
export function loadHardhat(): Promise<FedmeshHardhatRuntime> {
  hardhatPromise ??= (async () => {
    const hre = await importHardhat();
    await compileContracts(hre);
    return hre;
  })();
  // A failed load (e.g. a compile error) should be reported again on the next call, not cached.
  hardhatPromise.catch(() => {
    hardhatPromise = undefined;
  });
  return hardhatPromise;
}

/**
 * Starts (once per process) the in-process Hardhat network with compiled contracts. Every call
 * returns the same chain, so callers that need isolation deploy their own federation (or
 * take an `evm_snapshot` and revert to it).
 */
export function startInProcessChain(): Promise<InProcessChain> {
  chainPromise ??= (async () => {
    const hre = await loadHardhat();
    const signers = (await hre.ethers.getSigners()) as unknown as InProcessSigner[];
    const provider = hre.ethers.provider as unknown as InProcessProvider;
    return { hre, provider, signers };
  })();
  chainPromise.catch(() => {
    chainPromise = undefined;
  });
  return chainPromise;
}

async function importHardhat(): Promise<FedmeshHardhatRuntime> {
  const require = createRequire(import.meta.url);
  // Under tsx the .ts hook is already in place; register one only where there is none (vitest,
  // plain node), and only for as long as the config takes to load.
  const unregister = require.extensions['.ts'] === undefined ? (await import('tsx/cjs/api')).register() : undefined;
  // hardhat-lib reads HARDHAT_CONFIG while it is being imported, so set it only for that.
  const previousConfig = process.env.HARDHAT_CONFIG;
  process.env.HARDHAT_CONFIG ??= CONFIG_PATH;
  try {
    const hardhat = await import('hardhat');
    return (hardhat.default ?? hardhat) as unknown as FedmeshHardhatRuntime;
  } finally {
    if (previousConfig === undefined) delete process.env.HARDHAT_CONFIG;
    unregister?.();
  }
}

/**
 * Runs Hardhat's compile task under a lock directory in the cache folder. Hardhat 2 writes
 * artifacts and its cache non-atomically, and vitest runs test files in parallel processes that
 * may all start a chain; without the lock, one process can read another's half-written
 * artifact. Whoever waits finds the cache fresh and compiles nothing.
 */
export async function compileContracts(hre: HardhatRuntimeEnvironment): Promise<void> {
  const cacheDir = hre.config.paths.cache;
  await mkdir(cacheDir, { recursive: true });
  const lockDir = join(cacheDir, 'fedmesh-compile.lock');
  for (;;) {
    try {
      await mkdir(lockDir); // atomic: exactly one process creates it
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (await compileLockIsStale(lockDir)) {
        await breakCompileLock(lockDir);
        continue;
      }
      await new Promise((r) => setTimeout(r, COMPILE_LOCK_POLL_MS));
    }
  }
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(lockDir, now, now).catch(() => undefined); // best effort: the PID still names us
  }, COMPILE_LOCK_HEARTBEAT_MS);
  heartbeat.unref();
  try {
    await writeFile(join(lockDir, COMPILE_LOCK_OWNER), `${process.pid}\n`);
    await hre.run('compile', { quiet: true });
  } finally {
    clearInterval(heartbeat);
    await rm(lockDir, { recursive: true, force: true });
  }
}

/**
 * Stale only when its holder is gone: the PID it names is not a live process, or it names none
 * and has not been touched for COMPILE_LOCK_STALE_MS. A lock removed meanwhile is not stale (the
 * next mkdir decides).
 */
export async function compileLockIsStale(lockDir: string): Promise<boolean> {
  const owner = await readFile(join(lockDir, COMPILE_LOCK_OWNER), 'utf8').catch(() => undefined);
  const pid = owner === undefined ? Number.NaN : Number.parseInt(owner, 10);
  if (Number.isInteger(pid) && pid > 0) return !processIsAlive(pid);
  const lock = await stat(lockDir).catch(() => undefined);
  return lock !== undefined && Date.now() - lock.mtimeMs > COMPILE_LOCK_STALE_MS;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Moves the stale lock aside before deleting it, so two waiters that both judged it stale cannot
 * both delete: the second rename fails (ENOENT) and it retries the mkdir.
 */
async function breakCompileLock(lockDir: string): Promise<void> {
  const aside = `${lockDir}.stale-${process.pid}-${Date.now()}`;
  try {
    await rename(lockDir, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await rm(aside, { recursive: true, force: true });
}
