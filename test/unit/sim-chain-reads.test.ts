/**
 * simulations/chain-reads.ts: identical reads in flight share one request; a read issued after a
 * state change (a transaction sent or completed) never gets an answer read before it.
 */
import { describe, expect, it } from 'vitest';
import { type ChainRequestProvider, coalesceChainReads } from '../../simulations/chain-reads.js';

/** A provider whose requests resolve only when the test says so, recording each one. */
function fakeProvider() {
  const calls: { method: string; params: unknown; resolve: (v: unknown) => void }[] = [];
  const provider: ChainRequestProvider = {
    request: ({ method, params }) => new Promise((resolve) => calls.push({ method, params, resolve })),
    send: (method, params) => new Promise((resolve) => calls.push({ method, params, resolve })),
  };
  return { provider, calls };
}

const call = (data: string) => [{ to: '0x01', data }, 'latest'];

describe('coalesceChainReads', () => {
  it('answers identical eth_calls in flight with one request, different ones separately', async () => {
    const { provider, calls } = fakeProvider();
    const stats = coalesceChainReads(provider);
    const a = provider.send('eth_call', call('0xaa'));
    const b = provider.request({ method: 'eth_call', params: call('0xaa') });
    const c = provider.send('eth_call', call('0xbb'));
    expect(calls.map((x) => x.method)).toEqual(['eth_call', 'eth_call']);
    calls[0]!.resolve('0x1');
    calls[1]!.resolve('0x2');
    expect(await Promise.all([a, b, c])).toEqual(['0x1', '0x1', '0x2']);
    expect(stats).toEqual({ sent: 2, coalesced: 1 });
    // Once answered, the same read is sent again.
    const d = provider.send('eth_call', call('0xaa'));
    expect(calls).toHaveLength(3);
    calls[2]!.resolve('0x3');
    expect(await d).toBe('0x3');
  });

  it('never shares a read across a transaction: sent, or completed', async () => {
    const { provider, calls } = fakeProvider();
    coalesceChainReads(provider);
    const before = provider.send('eth_call', call('0xaa'));
    const tx = provider.send('eth_sendTransaction', [{ from: '0x02' }]);
    const duringTx = provider.send('eth_call', call('0xaa'));
    expect(calls.map((x) => x.method)).toEqual(['eth_call', 'eth_sendTransaction', 'eth_call']);
    const duringTx2 = provider.send('eth_call', call('0xaa'));
    expect(calls).toHaveLength(3); // shared with the read sent during the transaction
    calls[1]!.resolve('0xhash');
    await tx;
    const afterTx = provider.send('eth_call', call('0xaa'));
    expect(calls).toHaveLength(4);
    calls[0]!.resolve('old');
    calls[2]!.resolve('during');
    calls[3]!.resolve('new');
    expect(await Promise.all([before, duringTx, duringTx2, afterTx])).toEqual(['old', 'during', 'during', 'new']);
  });

  it('passes plain reads through unshared, and a failed read fails every caller sharing it', async () => {
    const { provider, calls } = fakeProvider();
    const stats = coalesceChainReads(provider);
    void provider.send('eth_getTransactionCount', ['0x02', 'pending']);
    void provider.send('eth_getTransactionCount', ['0x02', 'pending']);
    expect(calls).toHaveLength(2);
    const failing = { ...fakeProvider() };
    const s2 = coalesceChainReads(failing.provider);
    const x = failing.provider.send('eth_call', call('0xcc'));
    const y = failing.provider.send('eth_call', call('0xcc'));
    expect(failing.calls).toHaveLength(1);
    // Reject through the recorded resolver's promise: replace it with a rejecting one.
    const reason = new Error('execution reverted');
    (failing.calls[0] as unknown as { resolve: (v: unknown) => void }).resolve(Promise.reject(reason));
    await expect(x).rejects.toBe(reason);
    await expect(y).rejects.toBe(reason);
    expect(s2).toEqual({ sent: 1, coalesced: 1 });
    expect(stats.sent).toBe(2);
    // Installing twice keeps one wrapper and the same counters.
    expect(coalesceChainReads(provider)).toBe(stats);
  });
});
