/**
 * Read coalescing for the simulator's in-process chain.
 *
 * A simulated federation runs every peer's chain client against one in-process Hardhat network,
 * where each node of a deployment would have its own RPC endpoint. At a round's start all 64
 * peers of a 64-peer simulation read the same views at the same moment (head model, current
 * round, active members, each member's registration in round 1, ...) and then poll the same
 * round every 100 ms: thousands of identical `eth_call`s that the one chain executes one by one.
 *
 * `coalesceChainReads` makes an identical read that is issued while the same read is still in
 * flight share that read's answer, as a caching RPC node would. It never serves a read that
 * started before a state change to a caller that asked after it: any request outside
 * COALESCED_READS and PLAIN_READS (a transaction, `evm_mine`, `evm_setAutomine`, …) starts a new
 * epoch when it is sent and again when it completes, and only reads of the same epoch are
 * shared. So a caller sees at worst what the read in flight sees, issued a moment earlier with no
 * state change in between.
 */

/** The EIP-1193-style provider surface Hardhat's network provider has (request and legacy send). */
export interface ChainRequestProvider {
  request(args: { readonly method: string; readonly params?: readonly unknown[] | object }): Promise<unknown>;
  send(method: string, params?: readonly unknown[]): Promise<unknown>;
}

/**
 * Reads that depend only on the chain's state and the request, and answer a string (so no
 * caller can change another's answer): shared while in flight.
 */
export const COALESCED_READS: ReadonlySet<string> = new Set(['eth_call', 'eth_blockNumber', 'eth_chainId', 'eth_getCode']);

/**
 * Reads that change nothing but are not shared: nonces and gas are per sender and per moment;
 * logs, blocks, receipts and transactions are objects a caller might modify.
 */
export const PLAIN_READS: ReadonlySet<string> = new Set([
  'eth_getLogs',
  'eth_getBlockByNumber',
  'eth_getBlockByHash',
  'eth_getTransactionReceipt',
  'eth_getTransactionByHash',
  'eth_getTransactionCount',
  'eth_estimateGas',
  'eth_gasPrice',
  'eth_maxPriorityFeePerGas',
  'eth_feeHistory',
  'eth_getBalance',
  'eth_getStorageAt',
  'eth_accounts',
  'net_version',
  'hardhat_metadata',
]);

export interface ChainReadStats {
  /** Requests passed to the chain. */
  sent: number;
  /** Reads answered by an identical read already in flight. */
  coalesced: number;
}

const installed = new WeakMap<object, ChainReadStats>();

/**
 * Installs read coalescing on `provider` (once per provider; later calls return the same
 * counters). Mutates the provider object: `request` and `send` are replaced by wrappers.
 */
export function coalesceChainReads(provider: ChainRequestProvider): ChainReadStats {
  const known = installed.get(provider);
  if (known !== undefined) return known;
  const stats: ChainReadStats = { sent: 0, coalesced: 0 };
  installed.set(provider, stats);
  let epoch = 0;
  const inFlight = new Map<string, Promise<unknown>>();
  const through = <T>(method: string, params: unknown, call: () => Promise<T>): Promise<T> => {
    if (COALESCED_READS.has(method)) {
      const key = `${epoch}\u0000${method}\u0000${JSON.stringify(params ?? [])}`;
      const pending = inFlight.get(key);
      if (pending !== undefined) {
        stats.coalesced++;
        return pending as Promise<T>;
      }
      stats.sent++;
      const p = call();
      inFlight.set(key, p);
      const done = (): void => {
        if (inFlight.get(key) === p) inFlight.delete(key);
      };
      p.then(done, done);
      return p;
    }
    stats.sent++;
    if (PLAIN_READS.has(method)) return call();
    epoch++;
    const p = call();
    const bump = (): void => {
      epoch++;
    };
    p.then(bump, bump);
    return p;
  };
  const request = provider.request.bind(provider);
  const send = provider.send.bind(provider);
  provider.request = (args) => through(args.method, args.params, () => request(args));
  provider.send = (method, params) => through(method, params, () => send(method, params));
  return stats;
}
