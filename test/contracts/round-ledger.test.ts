/**
 * RoundLedger on the real in-process Hardhat network: the contract's events and custom errors
 * asserted directly, EthersChainClient through the shared ChainClient compliance suite (over the
 * in-process provider and over HTTP JSON-RPC, whose error shapes differ), and the client paths
 * only a chain has: mined reverts and an unreachable RPC.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import {
  type BaseContractMethod,
  type BigNumberish,
  Contract,
  type ContractTransactionResponse,
  type EventLog,
  Interface,
  JsonRpcProvider,
  type Log,
  type LogDescription,
  Network,
  parseUnits,
  type Result,
} from 'ethers';
import { TASK_NODE_CREATE_SERVER } from 'hardhat/builtin-tasks/task-names.js';
import type { JsonRpcServer } from 'hardhat/types/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EthersChainClient } from '../../node/chain/ethers-client.js';
import { deployRoundLedger, type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { ZERO_HASH } from '../../node/chain/record.js';
import { ROUND_LEDGER_ABI } from '../../node/chain/round-ledger-abi.js';
import type { Hex32 } from '../../node/chain/types.js';
import { chainClientCompliance, expectChainError, hash } from './chain-client.compliance.js';

/** Fast polling: Hardhat mines on demand, so a shorter interval only speeds the tests up. */
const POLL_MS = 20;
const INITIAL = hash(0xc0);

/** The contract's methods, typed, for calling it directly rather than through the client. */
type RoundLedger = Contract & {
  recordRound: BaseContractMethod<
    [round: BigNumberish, prevModelHash: string, modelHash: string, participantCount: BigNumberish],
    void,
    ContractTransactionResponse
  >;
  initialModelHash: BaseContractMethod<[], string, string>;
  latestRound: BaseContractMethod<[], bigint, bigint>;
  headModelHash: BaseContractMethod<[], string, string>;
  getRound: BaseContractMethod<[round: BigNumberish], Result, Result>;
  isMember: BaseContractMethod<[account: string], boolean, boolean>;
};

let chain: InProcessChain;

beforeAll(async () => {
  // First run compiles contracts/ with solc-js (a few seconds); later runs hit Hardhat's cache.
  chain = await startInProcessChain();
});

/** Signer roles. Index 0 deploys; members and outsiders never deploy, so nonces stay simple. */
const signer = (i: number) => {
  const s = chain.signers[i];
  if (s === undefined) throw new Error(`no signer ${i}`);
  return s;
};
const DEPLOYER = 0;
const MEMBER = 1;
const OTHER_MEMBER = 2;
const OUTSIDER = 3;

async function deploy(initial: Hex32 = INITIAL, members = [signer(MEMBER).address, signer(OTHER_MEMBER).address]) {
  const deployed = await deployRoundLedger(signer(DEPLOYER), initial, members);
  const contract = new Contract(deployed.address, ROUND_LEDGER_ABI, chain.provider) as RoundLedger;
  return { ...deployed, contract };
}

/** The revert of `promise`, decoded with the contract ABI from the raw revert data. */
async function expectRevert(promise: Promise<unknown>, name: string, args: readonly unknown[]) {
  const e = await promise.then(
    () => expect.unreachable(`expected revert ${name}`),
    (err: unknown) => err as { data?: unknown },
  );
  expect(typeof e.data, `revert data of ${String(e)}`).toBe('string');
  const parsed = new Interface(ROUND_LEDGER_ABI).parseError(e.data as string);
  expect(parsed?.name).toBe(name);
  expect([...(parsed?.args ?? [])]).toEqual(args);
}

/** The logs of `tx` emitted by `contract`, decoded. */
async function eventsOf(contract: Contract, tx: Promise<ContractTransactionResponse>): Promise<LogDescription[]> {
  const receipt = await (await tx).wait();
  const address = (await contract.getAddress()).toLowerCase();
  return (receipt?.logs ?? [])
    .filter((log: Log) => log.address.toLowerCase() === address)
    .map((log: Log) => {
      const parsed = contract.interface.parseLog(log);
      if (parsed === null) throw new Error(`undecodable log ${log.topics[0]}`);
      return parsed;
    });
}

const asMember = (c: RoundLedger, i = MEMBER) => c.connect(signer(i)) as RoundLedger;

describe('RoundLedger contract', () => {
  it('the ABI in node/chain matches the compiled artifact', async () => {
    const artifact = await chain.hre.artifacts.readArtifact('RoundLedger');
    const compiled = new Interface(artifact.abi).format().sort();
    expect(new Interface(ROUND_LEDGER_ABI).format().sort()).toEqual(compiled);
  });

  describe('deployment', () => {
    it('emits MemberAdded once per distinct member and sets the views', async () => {
      const a = signer(MEMBER).address;
      const b = signer(OTHER_MEMBER).address;
      const { contract, txHash } = await deploy(INITIAL, [a, b, a]);
      const receipt = await chain.provider.getTransactionReceipt(txHash);
      const events = (receipt?.logs ?? []).map((log) => contract.interface.parseLog(log));
      expect(events.map((e) => [e?.name, ...(e?.args ?? [])])).toEqual([
        ['MemberAdded', a],
        ['MemberAdded', b],
      ]);
      expect(await contract.isMember(a)).toBe(true);
      expect(await contract.isMember(b)).toBe(true);
      expect(await contract.isMember(signer(OUTSIDER).address)).toBe(false);
      expect(await contract.initialModelHash()).toBe(INITIAL);
      expect(await contract.latestRound()).toBe(0n);
      expect(await contract.headModelHash()).toBe(INITIAL);
      expect([...(await contract.getRound(1))]).toEqual([ZERO_HASH, ZERO_HASH, 0n, '0x0000000000000000000000000000000000000000']);
    });
  });

  describe('recordRound', () => {
    it('emits RoundRecorded with the record and the recorder, and stores it', async () => {
      const { contract } = await deploy();
      const events = await eventsOf(contract, asMember(contract).recordRound(1, INITIAL, hash(1), 9));
      expect(events).toHaveLength(1);
      expect(events[0]?.name).toBe('RoundRecorded');
      expect(events[0]?.args.toObject()).toEqual({
        round: 1n,
        prevModelHash: INITIAL,
        modelHash: hash(1),
        participantCount: 9n,
        recorder: signer(MEMBER).address,
      });
      expect(await contract.latestRound()).toBe(1n);
      expect(await contract.headModelHash()).toBe(hash(1));
      expect((await contract.getRound(1)).toObject()).toEqual({
        prevModelHash: INITIAL,
        modelHash: hash(1),
        participantCount: 9n,
        recorder: signer(MEMBER).address,
      });
    });

    it('indexes RoundRecorded by round and recorder', async () => {
      const { contract } = await deploy();
      await (await asMember(contract).recordRound(1, INITIAL, hash(1), 1)).wait();
      await (await asMember(contract, OTHER_MEMBER).recordRound(2, hash(1), hash(2), 1)).wait();
      const event = contract.getEvent('RoundRecorded');
      const byRound = (await contract.queryFilter(event(2))) as EventLog[];
      expect(byRound.map((l) => l.args.recorder)).toEqual([signer(OTHER_MEMBER).address]);
      const byRecorder = (await contract.queryFilter(event(null, null, null, null, signer(MEMBER).address))) as EventLog[];
      expect(byRecorder.map((l) => l.args.round)).toEqual([1n]);
    });

    it('reverts RoundLedgerNotMember(account) for an outsider', async () => {
      const { contract } = await deploy();
      const outsider = signer(OUTSIDER).address;
      await expectRevert(asMember(contract, OUTSIDER).recordRound(1, INITIAL, hash(1), 1), 'RoundLedgerNotMember', [outsider]);
      // The deployer is not a member either: deploying grants nothing.
      await expectRevert(asMember(contract, DEPLOYER).recordRound(1, INITIAL, hash(1), 1), 'RoundLedgerNotMember', [
        signer(DEPLOYER).address,
      ]);
      expect(await contract.latestRound()).toBe(0n);
    });

    it('reverts RoundLedgerUnexpectedRound(expected, got) out of sequence', async () => {
      const { contract } = await deploy();
      await expectRevert(asMember(contract).recordRound(2, INITIAL, hash(1), 1), 'RoundLedgerUnexpectedRound', [1n, 2n]);
      await expectRevert(asMember(contract).recordRound(0, INITIAL, hash(1), 1), 'RoundLedgerUnexpectedRound', [1n, 0n]);
      await (await asMember(contract).recordRound(1, INITIAL, hash(1), 1)).wait();
      await expectRevert(asMember(contract).recordRound(1, INITIAL, hash(1), 1), 'RoundLedgerUnexpectedRound', [2n, 1n]);
      await expectRevert(asMember(contract).recordRound(2n ** 64n - 1n, hash(1), hash(2), 1), 'RoundLedgerUnexpectedRound', [
        2n,
        2n ** 64n - 1n,
      ]);
    });

    it('reverts RoundLedgerPrevHashMismatch(expected, got) when the round does not extend the head', async () => {
      const { contract } = await deploy();
      await expectRevert(asMember(contract).recordRound(1, hash(0x55), hash(1), 1), 'RoundLedgerPrevHashMismatch', [INITIAL, hash(0x55)]);
      await (await asMember(contract).recordRound(1, INITIAL, hash(1), 1)).wait();
      await expectRevert(asMember(contract).recordRound(2, INITIAL, hash(2), 1), 'RoundLedgerPrevHashMismatch', [hash(1), INITIAL]);
    });

    it('reverts RoundLedgerInvalidRecord(modelHash, participantCount) for an empty record', async () => {
      const { contract } = await deploy();
      await expectRevert(asMember(contract).recordRound(1, INITIAL, hash(1), 0), 'RoundLedgerInvalidRecord', [hash(1), 0n]);
      await expectRevert(asMember(contract).recordRound(1, INITIAL, ZERO_HASH, 3), 'RoundLedgerInvalidRecord', [ZERO_HASH, 3n]);
      await expectRevert(asMember(contract).recordRound(1, INITIAL, ZERO_HASH, 0), 'RoundLedgerInvalidRecord', [ZERO_HASH, 0n]);
      expect(await contract.latestRound()).toBe(0n);
    });

    it('checks in order: membership, sequence, linkage, content', async () => {
      const { contract } = await deploy();
      const outsider = signer(OUTSIDER).address;
      await expectRevert(asMember(contract, OUTSIDER).recordRound(5, hash(0x55), ZERO_HASH, 0), 'RoundLedgerNotMember', [outsider]);
      await expectRevert(asMember(contract).recordRound(5, hash(0x55), ZERO_HASH, 0), 'RoundLedgerUnexpectedRound', [1n, 5n]);
      await expectRevert(asMember(contract).recordRound(1, hash(0x55), ZERO_HASH, 0), 'RoundLedgerPrevHashMismatch', [INITIAL, hash(0x55)]);
    });
  });
});

describe('EthersChainClient on the in-process network', () => {
  it("maps every custom error to its ChainError with the revert's arguments", async () => {
    const { address, contract } = await deploy();
    const client = new EthersChainClient(signer(MEMBER), address);
    const outsider = new EthersChainClient(signer(OUTSIDER), address);
    // Same call, two views: the contract's custom error and the client's ChainError.
    await expectRevert(asMember(contract).recordRound(1, hash(0x55), hash(1), 1), 'RoundLedgerPrevHashMismatch', [INITIAL, hash(0x55)]);
    const mismatch = await expectChainError(
      client.recordRound({ round: 1, prevModelHash: hash(0x55), modelHash: hash(1), participantCount: 1 }),
      'CHAIN_PREV_HASH_MISMATCH',
    );
    expect(mismatch.fields).toEqual({ expected: INITIAL, got: hash(0x55) });
    // The original error stays reachable for diagnostics.
    expect(mismatch.cause).toBeDefined();

    const notMember = await expectChainError(
      outsider.recordRound({ round: 1, prevModelHash: INITIAL, modelHash: hash(1), participantCount: 1 }),
      'CHAIN_NOT_MEMBER',
    );
    expect(notMember.fields).toEqual({ account: signer(OUTSIDER).address });
  });

  it('reports the transaction and block of a round, from recordRound and from getRound', async () => {
    const { address, blockNumber } = await deploy();
    const client = new EthersChainClient(signer(MEMBER), address, { fromBlock: blockNumber });
    const recorded = await client.recordRound({ round: 1, prevModelHash: INITIAL, modelHash: hash(1), participantCount: 2 });
    const receipt = await chain.provider.getTransactionReceipt(recorded.txHash);
    expect(receipt?.status).toBe(1);
    expect(receipt?.blockNumber).toBe(recorded.blockNumber);
    expect(recorded.blockNumber).toBeGreaterThan(blockNumber);
    expect(await client.getRound(1)).toEqual(recorded);
  });

  it('a read-only client (provider runner) reads the ledger', async () => {
    const { address } = await deploy();
    const recorded = await new EthersChainClient(signer(MEMBER), address).recordRound({
      round: 1,
      prevModelHash: INITIAL,
      modelHash: hash(1),
      participantCount: 2,
    });
    const reader = new EthersChainClient(chain.provider, address, { pollIntervalMs: POLL_MS });
    expect(await reader.waitForRound(1, 1_000)).toEqual(recorded);
    expect(await reader.latestRound()).toBe(1);
  });

  it('a transaction mined with status 0 is classified by replaying it (CHAIN_UNEXPECTED_ROUND)', async () => {
    // Two members race for round 1. The client's transaction passes gas estimation and waits in
    // the mempool; a competitor paying a higher tip is mined first in the same block, so the
    // client's transaction reverts on chain with a receipt that carries no revert data.
    const { address, contract } = await deploy();
    const client = new EthersChainClient(signer(MEMBER), address);
    await chain.provider.send('evm_setAutomine', [false]);
    let outcome: PromiseSettledResult<unknown>;
    try {
      const recording = client.recordRound({ round: 1, prevModelHash: INITIAL, modelHash: hash(1), participantCount: 1 });
      recording.catch(() => {}); // settled below; avoid an unhandled rejection meanwhile
      await waitForPendingCount(1);
      const fee = await chain.provider.getFeeData();
      await asMember(contract, OTHER_MEMBER).recordRound(1, INITIAL, hash(2), 2, {
        gasLimit: 200_000,
        maxPriorityFeePerGas: (fee.maxPriorityFeePerGas ?? 0n) + parseUnits('10', 'gwei'),
        maxFeePerGas: (fee.maxFeePerGas ?? 0n) + parseUnits('20', 'gwei'),
      });
      await waitForPendingCount(2);
      await chain.provider.send('evm_mine', []);
      [outcome] = await Promise.allSettled([recording]);
    } finally {
      await chain.provider.send('evm_setAutomine', [true]);
    }
    expect(outcome.status).toBe('rejected');
    const e = await expectChainError(Promise.reject((outcome as PromiseRejectedResult).reason), 'CHAIN_UNEXPECTED_ROUND');
    expect(e.fields).toEqual({ expected: 2, got: 1 });
    const winner = await client.getRound(1);
    expect(winner).toMatchObject({ modelHash: hash(2), recorder: signer(OTHER_MEMBER).address });
    // The scenario really took the receipt path: both transactions were mined in one block and
    // the client's failed there (not at gas estimation, where revert data would be available).
    const block = await chain.provider.getBlock(winner!.blockNumber);
    const receipts = await Promise.all((block?.transactions ?? []).map((h) => chain.provider.getTransactionReceipt(h)));
    expect(receipts.map((r) => [r?.from, r?.status])).toEqual([
      [signer(OTHER_MEMBER).address, 1],
      [signer(MEMBER).address, 0],
    ]);
  });

  it('CHAIN_UNAVAILABLE when the RPC endpoint refuses connections', async () => {
    const port = await closedPort();
    const provider = new JsonRpcProvider(`http://127.0.0.1:${port}`, Network.from(31337), { staticNetwork: true });
    try {
      const client = new EthersChainClient(provider, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
      const e = await expectChainError(client.latestRound(), 'CHAIN_UNAVAILABLE');
      expect(e.fields).toEqual({ operation: 'latestRound', reason: 'ECONNREFUSED' });
      const w = await expectChainError(client.waitForRound(1, 1_000), 'CHAIN_UNAVAILABLE');
      expect(w.fields).toMatchObject({ operation: 'getRound' });
    } finally {
      provider.destroy();
    }
  });

  it('rejects a non-positive poll interval', () => {
    expect(() => new EthersChainClient(chain.provider, ZERO_HASH.slice(0, 42), { pollIntervalMs: 0 })).toThrow(RangeError);
  });
});

chainClientCompliance('EthersChainClient (in-process Hardhat)', async (initialModelHash) => {
  const { address, blockNumber } = await deploy(initialModelHash);
  const make = (i: number) => new EthersChainClient(signer(i), address, { pollIntervalMs: POLL_MS, fromBlock: blockNumber });
  return {
    member: make(MEMBER),
    otherMember: make(OTHER_MEMBER),
    outsider: make(OUTSIDER),
    identities: { member: signer(MEMBER).address, otherMember: signer(OTHER_MEMBER).address, outsider: signer(OUTSIDER).address },
  };
});

describe('over HTTP JSON-RPC', () => {
  // ethers raises its own CALL_EXCEPTION over JSON-RPC, not the in-process provider's error, so
  // the client's revert classification is exercised on both shapes.
  let server: JsonRpcServer;
  let provider: JsonRpcProvider;

  beforeAll(async () => {
    server = await chain.hre.run(TASK_NODE_CREATE_SERVER, {
      hostname: '127.0.0.1',
      port: 0,
      provider: chain.hre.network.provider,
    });
    const { port } = await server.listen();
    provider = new JsonRpcProvider(`http://127.0.0.1:${port}`, Network.from(31337), {
      staticNetwork: true,
      pollingInterval: POLL_MS,
    });
  });

  afterAll(async () => {
    provider?.destroy();
    await server?.close();
  });

  chainClientCompliance('EthersChainClient (JSON-RPC)', async (initialModelHash) => {
    const { address, blockNumber } = await deploy(initialModelHash);
    const make = async (i: number) =>
      new EthersChainClient(await provider.getSigner(signer(i).address), address, {
        pollIntervalMs: POLL_MS,
        fromBlock: blockNumber,
      });
    return {
      member: await make(MEMBER),
      otherMember: await make(OTHER_MEMBER),
      outsider: await make(OUTSIDER),
      identities: { member: signer(MEMBER).address, otherMember: signer(OTHER_MEMBER).address, outsider: signer(OUTSIDER).address },
    };
  });
});

async function waitForPendingCount(n: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const block = (await chain.provider.send('eth_getBlockByNumber', ['pending', false])) as { transactions: string[] };
    if (block.transactions.length >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`mempool never reached ${n} transactions`);
}

/** A localhost port with nothing listening: bind an ephemeral port, then release it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}
