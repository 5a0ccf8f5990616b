/**
 * The federation chain port through the shared compliance suite: EthersFederationClient over the
 * in-process Hardhat provider, and ResilientFederationClient around it; a round over HTTP
 * JSON-RPC (whose error shapes and typed-data signing differ); and the paths only a real chain
 * has: a transaction mined with status 0, and an unreachable RPC.
 */
import { Contract, JsonRpcProvider, Network } from 'ethers';
import { TASK_NODE_CREATE_SERVER } from 'hardhat/builtin-tasks/task-names.js';
import type { JsonRpcServer } from 'hardhat/types/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployFederation, registerMembers } from '../../node/chain/federation-deploy.js';
import { EthersFederationClient, FEDMESH_FEDERATION_INTERFACE } from '../../node/chain/federation-ethers.js';
import type { NewMember } from '../../node/chain/federation-types.js';
import { ResilientFederationClient } from '../../node/chain/resilient.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { encodeEpsilonCap } from '../../protocol/chain/budget.js';
import { declaredSpend, encodeDpParams } from '../../protocol/chain/dp-params.js';
import { participantEntry } from '../../protocol/chain/participant-entry.js';
import { canonicalRoundRecord, fullServiceMask, type OnChainRoundRecord } from '../../protocol/chain/record.js';
import { expectChainError } from './chain-errors.js';
import { COMPLIANCE_PARAMS, federationClientCompliance } from './federation-client.compliance.js';

const POLL_MS = 20;
const DECLARED = encodeDpParams({ sampleRate: 0.02, noiseMultiplier: 1.3, clipNorm: 1, steps: 50 });
const MEMBERS = [1, 2, 3, 4, 5];
const OUTSIDER = 100;

let chain: InProcessChain;
beforeAll(async () => {
  chain = await startInProcessChain();
});

const signer = (i: number) => chain.signers[i]!;

function newMembers(addresses: readonly string[]): NewMember[] {
  return addresses.map((account, i) => ({
    account,
    peerId: `peer-${i}`,
    metadataURI: `https://member-${i}.example`,
    epsilonCap: encodeEpsilonCap(10),
  }));
}

async function advanceChain(provider: { send(method: string, params: unknown[]): Promise<unknown> }, seconds: number) {
  await provider.send('evm_increaseTime', [seconds]);
  await provider.send('evm_mine', []);
}

federationClientCompliance('EthersFederationClient (in-process Hardhat)', async (params) => {
  const deployed = await deployFederation(signer(0), params);
  await registerMembers(signer(0), deployed.address, newMembers(MEMBERS.map((i) => signer(i).address)));
  const make = (i: number) =>
    new EthersFederationClient(signer(i), deployed.address, { pollIntervalMs: POLL_MS, fromBlock: deployed.blockNumber });
  return {
    admin: make(0),
    members: MEMBERS.map(make),
    outsider: make(OUTSIDER),
    advance: (s) => advanceChain(chain.provider, s),
  };
});

// The same suite through the resilient wrapper the daemon uses: retries, one transaction queue
// per signer and the finalize guard must not change a single answer of the port.
federationClientCompliance(
  'ResilientFederationClient over EthersFederationClient',
  async (params) => {
    const deployed = await deployFederation(signer(0), params);
    await registerMembers(signer(0), deployed.address, newMembers(MEMBERS.map((i) => signer(i).address)));
    const make = (i: number) =>
      new ResilientFederationClient(
        new EthersFederationClient(signer(i), deployed.address, { pollIntervalMs: POLL_MS, fromBlock: deployed.blockNumber }),
      );
    return {
      admin: make(0),
      members: MEMBERS.map(make),
      outsider: make(OUTSIDER),
      advance: (s) => advanceChain(chain.provider, s),
    };
  },
  { finalizeReturnsWinner: true },
);

describe('over HTTP JSON-RPC', () => {
  // ethers raises its own CALL_EXCEPTION over JSON-RPC, not the in-process provider's error, and
  // signs typed data through eth_signTypedData_v4, so both paths are exercised on this shape too.
  let server: JsonRpcServer;
  let provider: JsonRpcProvider;
  beforeAll(async () => {
    server = await chain.hre.run(TASK_NODE_CREATE_SERVER, { hostname: '127.0.0.1', port: 0, provider: chain.hre.network.provider });
    const { port } = await server.listen();
    provider = new JsonRpcProvider(`http://127.0.0.1:${port}`, Network.from(31337), {
      staticNetwork: true,
      pollingInterval: POLL_MS,
      cacheTimeout: -1,
    });
  });
  afterAll(async () => {
    provider?.destroy();
    await server?.close();
  });

  // The full compliance suite runs in process above; over HTTP, one round end to end and the
  // refusals whose error shapes differ (revert data nested in the JSON-RPC error) suffice.
  it('a full round and classified refusals over HTTP', async () => {
    const admin = await provider.getSigner(signer(0).address);
    const deployed = await deployFederation(admin, COMPLIANCE_PARAMS);
    await registerMembers(admin, deployed.address, newMembers(MEMBERS.map((i) => signer(i).address)));
    const make = async (i: number) =>
      new EthersFederationClient(await provider.getSigner(signer(i).address), deployed.address, {
        pollIntervalMs: POLL_MS,
        fromBlock: deployed.blockNumber,
      });
    const members = await Promise.all(MEMBERS.map(make));
    const byAddress = new Map(await Promise.all(members.map(async (m) => [await m.account(), m] as const)));
    const outsider = await make(OUTSIDER);
    expect((await expectChainError(outsider.suspendMember(signer(1).address), 'CHAIN_UNAUTHORIZED')).fields).toMatchObject({
      account: signer(OUTSIDER).address,
    });
    // A lowered cap applies from the next round on: lowered before round 1 opens, it binds in it.
    await members[1]!.lowerEpsilonCap(1n);
    const opened = await members[0]!.openRound();
    const recordOf = (participants: readonly number[]) =>
      canonicalRoundRecord({
        round: 1,
        prevModelHash: COMPLIANCE_PARAMS.initialModelHash,
        modelHash: `0x${'21'.repeat(32)}`,
        aggregateHash: `0x${'22'.repeat(32)}`,
        serviceMask: fullServiceMask(COMPLIANCE_PARAMS.committeeSize),
        participants: participants.map((i) => ({ member: signer(i).address, spend: declaredSpend(DECLARED), dpParams: DECLARED })),
      });
    // Each participant's entry and the committee's record, signed with eth_signTypedData_v4 through the node.
    const entriesOf = (r: OnChainRoundRecord) =>
      Promise.all(r.participants.map((p) => byAddress.get(p.member)!.signParticipantEntry(participantEntry(1, p.member, p.dpParams))));
    const record = recordOf([1]);
    const entries = await entriesOf(record);
    const sigs = await Promise.all(opened.committee.slice(0, 2).map((a) => byAddress.get(a)!.signRecord(record)));
    expect((await expectChainError(members[0]!.finalizeRound(record, entries, sigs.slice(0, 1)), 'CHAIN_QUORUM_NOT_MET')).fields).toEqual({
      got: 1,
      required: 2,
    });
    const over = recordOf([1, 2]);
    const overSigs = await Promise.all(opened.committee.slice(0, 2).map((a) => byAddress.get(a)!.signRecord(over)));
    expect(
      (await expectChainError(members[0]!.finalizeRound(over, await entriesOf(over), overSigs), 'CHAIN_BUDGET_EXCEEDED')).fields,
    ).toMatchObject({
      account: signer(2).address,
      cap: 1,
    });
    const watcher = outsider.waitForRoundFinalized(1, 5_000);
    const done = await members[0]!.finalizeRound(record, entries, sigs);
    expect(await watcher).toEqual(done);
    expect(done.signers).toEqual(opened.committee.slice(0, 2));
  });
});

describe('EthersFederationClient on a real chain only', () => {
  it('two members racing to open: the loser mined with status 0 is classified by replay (CHAIN_ROUND_STILL_OPEN)', async () => {
    const deployed = await deployFederation(signer(0), COMPLIANCE_PARAMS);
    await registerMembers(signer(0), deployed.address, newMembers(MEMBERS.map((i) => signer(i).address)));
    const a = new EthersFederationClient(signer(1), deployed.address);
    const b = new EthersFederationClient(signer(2), deployed.address);
    // Round 1 is scheduled first (its seed block), by a raw call; the race is for the opening.
    const raw = new Contract(deployed.address, FEDMESH_FEDERATION_INTERFACE, signer(3));
    await (await raw.getFunction('openRound').send()).wait();
    await chain.provider.send('evm_setAutomine', [false]);
    let outcomes: PromiseSettledResult<unknown>[];
    try {
      const first = a.openRound();
      first.catch(() => {});
      await waitForPending(1);
      // b's transaction passes gas estimation too: round 1 is not open until a block is mined.
      const second = b.openRound();
      second.catch(() => {});
      await waitForPending(2);
      await chain.provider.send('evm_mine', []);
      outcomes = await Promise.allSettled([first, second]);
    } finally {
      await chain.provider.send('evm_setAutomine', [true]);
    }
    const rejected = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    expect(rejected).toHaveLength(1);
    const e = await expectChainError(Promise.reject(rejected[0]!.reason), 'CHAIN_ROUND_STILL_OPEN');
    expect(e.fields).toEqual({ round: 1 });
  });

  it('CHAIN_UNAVAILABLE when the RPC endpoint refuses connections', async () => {
    const provider = new JsonRpcProvider('http://127.0.0.1:9', Network.from(31337), { staticNetwork: true });
    try {
      const client = new EthersFederationClient(provider, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
      const e = await expectChainError(client.currentRound(), 'CHAIN_UNAVAILABLE');
      expect(e.fields).toEqual({ operation: 'currentRound', reason: 'ECONNREFUSED' });
      expect((await expectChainError(client.waitForRoundFinalized(1, 1_000), 'CHAIN_UNAVAILABLE')).fields).toMatchObject({
        operation: 'getRound',
      });
    } finally {
      provider.destroy();
    }
  });

  it('a read-only client reads but cannot sign', async () => {
    const deployed = await deployFederation(signer(0), COMPLIANCE_PARAMS);
    const reader = new EthersFederationClient(chain.provider, deployed.address);
    expect(await reader.currentRound()).toBe(0);
    const r = canonicalRoundRecord({
      round: 1,
      prevModelHash: COMPLIANCE_PARAMS.initialModelHash,
      modelHash: COMPLIANCE_PARAMS.initialModelHash,
      aggregateHash: COMPLIANCE_PARAMS.initialModelHash,
      serviceMask: 0n,
      participants: [],
    });
    await expect(reader.signRecord(r)).rejects.toThrow(TypeError);
  });
});

async function waitForPending(count: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const block = (await chain.provider.send('eth_getBlockByNumber', ['pending', false])) as { transactions: unknown[] };
    if (block.transactions.length >= count) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`pending block never held ${count} transactions`);
}
