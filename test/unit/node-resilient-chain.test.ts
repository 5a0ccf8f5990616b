/**
 * ResilientFederationClient against a real `hardhat node` JSON-RPC server (node/chain/local-node.ts)
 * that the test stops and starts again on the same port (the in-process network, and so the
 * contract, survives): reads and transactions issued while the RPC is down are retried with
 * backoff and resume when it is back; reverts are not retried; queued transactions keep call order.
 */
import { JsonRpcProvider, Network, NonceManager, type Signer } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cAlpha } from '../../protocol/chain/budget.js';
import { isChainError } from '../../node/chain/errors.js';
import { deployFederation, registerMembers } from '../../node/chain/federation-deploy.js';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import { startInProcessChain } from '../../node/chain/hardhat.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { isTransient, ResilientFederationClient, withRetry } from '../../node/chain/resilient.js';
import { systemClock } from '../../node/clock.js';

const PEER_IDS = [
  '12D3KooWBSqXZ5V4t9tZj1fZDa7hkyLBnCdJSAAbXZbgGGuV9sdN',
  '12D3KooWCF4mos9RD2YY9fXBfAA4ihXffesY3RZP1o3MXPkNn4Ze',
  '12D3KooWDjEmSD6gVY7tSDosYBMa4hYkRTEFGfL1228JkTGwQnf7',
];

let node: LocalChainNode;
let address: string;
let fromBlock: number;
let members: string[];

beforeAll(async () => {
  node = await startLocalChainNode(0);
  const chain = await startInProcessChain();
  const deployer = chain.signers[0] as unknown as Signer;
  members = chain.signers.slice(1, 4).map((s) => s.address);
  const deployed = await deployFederation(deployer, {
    initialModelHash: `0x${'11'.repeat(32)}`,
    committeeSize: 3,
    threshold: 2,
    inputDurationSec: 600,
    finalizeDurationSec: 600,
    cAlpha: cAlpha(1e-5),
  });
  address = deployed.address;
  fromBlock = deployed.blockNumber;
  await registerMembers(
    deployer,
    address,
    members.map((account, i) => ({ account, peerId: PEER_IDS[i]!, metadataURI: `test:${i}`, epsilonCap: 8_000_000n })),
  );
});

afterAll(async () => {
  await node?.close();
});

describe('ResilientFederationClient over a real hardhat node', () => {
  it('retries reads and a transaction while the RPC is down, and resumes when it is back', async () => {
    const network = Network.from(node.chainId);
    const provider = new JsonRpcProvider(node.url, network, { staticNetwork: network, cacheTimeout: -1, pollingInterval: 50 });
    const nonces = new NonceManager(await provider.getSigner(members[0]!));
    let retries = 0;
    const fed = new ResilientFederationClient(new EthersFederationClient(nonces, address, { fromBlock, pollIntervalMs: 50 }), {
      nonceManager: nonces,
      backoff: { initialMs: 100, maxMs: 400, maxElapsedMs: 60_000 },
      onRetry: () => {
        retries++;
      },
    });
    try {
      expect(await fed.currentRound()).toBe(0);
      expect(retries).toBe(0);

      // RPC down: the same port refuses connections.
      const port = node.port;
      await node.close();
      const opening = fed.openRound();
      const reading = fed.activeMembers();
      let settled = false;
      void opening.finally(() => {
        settled = true;
      });
      await new Promise((r) => setTimeout(r, 2_000));
      expect(settled).toBe(false);
      expect(retries).toBeGreaterThan(2);

      // Back on the same port, same chain: both calls complete.
      node = await startLocalChainNode(port);
      const opened = await opening;
      expect(opened.round).toBe(1);
      expect(opened.committee).toHaveLength(3);
      expect(await reading).toEqual(members);
      expect(await fed.currentRound()).toBe(1);

      // A revert is an answer, not an outage: rethrown at once, typed, not retried.
      const before = retries;
      const again = await fed.openRound().catch((e: unknown) => e);
      expect(isChainError(again, 'CHAIN_ROUND_STILL_OPEN')).toBe(true);
      expect(retries).toBe(before);

      // One queue per signer: concurrent transactions land in call order with distinct nonces.
      const [a, b, c] = await Promise.all([
        fed.updateMetadataURI('test:a'),
        fed.updateMetadataURI('test:b'),
        fed.updateMetadataURI('test:c'),
      ]);
      expect(a!.blockNumber).toBeLessThan(b!.blockNumber);
      expect(b!.blockNumber).toBeLessThan(c!.blockNumber);
      expect((await fed.getMember(members[0]!)).metadataURI).toBe('test:c');
    } finally {
      fed.close();
      provider.destroy();
    }
  }, 120_000);

  it('withRetry gives up with CHAIN_RETRY_EXHAUSTED after maxElapsedMs, and never retries a non-transient error', async () => {
    const network = Network.from(node.chainId);
    const dead = new JsonRpcProvider('http://127.0.0.1:1', network, { staticNetwork: network });
    try {
      const fed = new EthersFederationClient(dead, address);
      const err = await withRetry('currentRound', () => fed.currentRound(), {
        backoff: { initialMs: 50, maxMs: 100, factor: 2, maxElapsedMs: 500 },
        clock: systemClock,
      }).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('CHAIN_RETRY_EXHAUSTED');
      expect(isTransient((err as Error).cause)).toBe(true);
      let calls = 0;
      const bug = await withRetry(
        'bug',
        async () => {
          calls++;
          throw new TypeError('a programming error');
        },
        { backoff: { initialMs: 10, maxMs: 10, factor: 1, maxElapsedMs: 1_000 }, clock: systemClock },
      ).catch((e: unknown) => e);
      expect(bug).toBeInstanceOf(TypeError);
      expect(calls).toBe(1);
    } finally {
      dead.destroy();
    }
  });
});
