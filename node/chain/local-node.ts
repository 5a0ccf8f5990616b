/**
 * `fedmesh chain start`: a Hardhat JSON-RPC node on the loopback interface, serving the same
 * in-process Hardhat network that tests and the simulator use (hardhat.config.ts: chain id
 * 31337, 128 funded accounts unlocked on the node).
 *
 * The accounts come from Hardhat's public default mnemonic, so the node listens on 127.0.0.1
 * only: anyone who can reach it can spend from them.
 */
import { TASK_NODE_CREATE_SERVER } from 'hardhat/builtin-tasks/task-names.js';
import type { JsonRpcServer } from 'hardhat/types/index.js';
import { startInProcessChain } from './hardhat.js';

/** Hardhat's and most tools' conventional local JSON-RPC port. */
export const DEFAULT_LOCAL_NODE_PORT = 8545;
export const LOCAL_NODE_HOST = '127.0.0.1';

export interface LocalChainNode {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  readonly chainId: bigint;
  /** The unlocked, funded accounts, in order; account 0 deploys when no key is given. */
  readonly accounts: readonly string[];
  close(): Promise<void>;
}

/** Starts the node on 127.0.0.1:`port` (0 picks a free port) and resolves once it listens. */
export async function startLocalChainNode(port: number = DEFAULT_LOCAL_NODE_PORT): Promise<LocalChainNode> {
  if (!(Number.isInteger(port) && port >= 0 && port <= 65_535)) throw new RangeError(`port must be an integer in [0, 65535], got ${port}`);
  const chain = await startInProcessChain();
  const server = (await chain.hre.run(TASK_NODE_CREATE_SERVER, {
    hostname: LOCAL_NODE_HOST,
    port,
    provider: chain.hre.network.provider,
  })) as JsonRpcServer;
  const listening = await server.listen();
  const network = await chain.provider.getNetwork();
  return {
    url: `http://${LOCAL_NODE_HOST}:${listening.port}`,
    port: listening.port,
    chainId: network.chainId,
    accounts: chain.signers.map((s) => s.address),
    close: () => server.close(),
  };
}
