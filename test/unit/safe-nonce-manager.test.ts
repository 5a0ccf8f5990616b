/**
 * node/chain/resilient.ts SafeNonceManager: a send with the RPC down rejects with the network
 * error and leaves no unhandled rejection behind (ethers' NonceManager leaves its nonce
 * promise unobserved when populateTransaction fails first, which ended a daemon process in
 * test/e2e/faults-rpc.test.ts).
 */
import { createServer } from 'node:net';
import { JsonRpcProvider, Network, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { resilientSigner, SafeNonceManager } from '../../node/chain/resilient.js';

/** A port that refuses connections: one the OS handed out and that was closed again. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('SafeNonceManager', () => {
  it('rejects a send on a dead RPC without an unhandled rejection', async () => {
    const network = Network.from(31337n);
    const provider = new JsonRpcProvider(`http://127.0.0.1:${await closedPort()}`, network, { staticNetwork: network, cacheTimeout: -1 });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => {
      unhandled.push(e);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const signer = resilientSigner(Wallet.createRandom().connect(provider));
      expect(signer).toBeInstanceOf(SafeNonceManager);
      await expect(signer.sendTransaction({ to: Wallet.createRandom().address, value: 1n })).rejects.toThrow();
      // Let any orphaned promise settle and be reported.
      await new Promise((r) => setTimeout(r, 200));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      provider.destroy();
    }
  });
});
