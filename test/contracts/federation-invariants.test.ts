/**
 * Randomized operation sequences on FedmeshFederation's bytecode (in-process Hardhat), with
 * invariants checked after every step. There is no TypeScript re-implementation of the contract
 * to compare against: the invariants are the specification.
 *
 * A seeded random sequence of operations (registry churn, cap changes, opening, finalizing
 * with good and bad quorums and spends that may pass a cap, aborting, time passing) runs
 * through EthersFederationClient. Every operation either succeeds or fails with a typed
 * ChainError (anything else fails the test). After every step: no RDP lane of any account ever
 * decreases; the credits held by all accounts sum to the credits minted (`totalCredits`); the
 * active list holds exactly the members whose status is active; and every finalized round
 * carries at least t signers, all from that round's committee.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { isChainError } from '../../node/chain/errors.js';
import { deployFederation, registerMembers } from '../../node/chain/federation-deploy.js';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import type { FederationChainClient, RoundState } from '../../node/chain/federation-types.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { decodePacked, encodeEpsilonCap, encodeRdp } from '../../protocol/chain/budget.js';
import { canonicalRoundRecord, type Hex32 } from '../../protocol/chain/record.js';
import { COMPLIANCE_PARAMS } from './federation-client.compliance.js';
import { DP_PARAMS } from './federation-fixture.js';

const ACCOUNTS = 9; // 0 admin, 1..8 members or not
const STEPS = 90;

let chain: InProcessChain;
beforeAll(async () => {
  chain = await startInProcessChain();
});

type Op =
  | { kind: 'add' | 'suspend' | 'reinstate' | 'remove'; who: number }
  | { kind: 'lowerCap'; who: number; cap: number }
  | { kind: 'open'; who: number }
  | {
      kind: 'finalize';
      who: number;
      participants: number[];
      buckets: number[];
      spends: number[];
      quorum: 'ok' | 'short' | 'duplicate' | 'stranger';
    }
  | { kind: 'abort' }
  /** Time passes beyond any deadline and the open round, if any, is aborted. */
  | { kind: 'lapse' }
  | { kind: 'advance'; seconds: number };

const who = fc.integer({ min: 1, max: ACCOUNTS - 1 });
/** Rounds mostly involve the initial members 1..5, so that many of them succeed. */
const player = fc.integer({ min: 1, max: 6 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('add', 'suspend', 'reinstate', 'remove' as const), who }) as fc.Arbitrary<Op> },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lowerCap' as const), who, cap: fc.double({ min: 0.5, max: 12, noNaN: true }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('open' as const), who: player }) },
  {
    weight: 7,
    arbitrary: fc.record({
      kind: fc.constant('finalize' as const),
      who,
      participants: fc.uniqueArray(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
      buckets: fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 5, maxLength: 5 }),
      spends: fc.array(fc.double({ min: 0, max: 3, noNaN: true }), { minLength: 5, maxLength: 5 }),
      quorum: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'ok', 'short', 'duplicate', 'stranger' as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'abort' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lapse' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), seconds: fc.constantFrom(5, 5, 5, 200) }) },
);

interface Side {
  readonly name: string;
  readonly clients: readonly FederationChainClient[];
  readonly advance: (s: number) => Promise<void>;
  /** Last seen RDP word per account, for the monotonicity invariant. */
  readonly rdp: bigint[];
  prevModel: Hex32;
}

/** 'ok' or the ChainError code; anything else is a test failure. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (isChainError(e)) return e.code;
    throw e;
  }
}

async function apply(side: Side, op: Op, addresses: readonly string[]): Promise<string> {
  const c = side.clients;
  switch (op.kind) {
    case 'add':
      return outcome(
        c[0]!.addMember({ account: addresses[op.who]!, peerId: `p${op.who}`, metadataURI: '', epsilonCap: encodeEpsilonCap(5) }),
      );
    case 'suspend':
      return outcome(c[0]!.suspendMember(addresses[op.who]!));
    case 'reinstate':
      return outcome(c[0]!.reinstateMember(addresses[op.who]!));
    case 'remove':
      return outcome(c[0]!.removeMember(addresses[op.who]!));
    case 'lowerCap':
      return outcome(c[op.who]!.lowerEpsilonCap(encodeEpsilonCap(op.cap)));
    case 'open':
      return outcome(c[op.who]!.openRound());
    case 'abort':
      return outcome(c[0]!.abortRound());
    case 'advance':
      await side.advance(op.seconds);
      return 'ok';
    case 'lapse':
      await side.advance(200);
      return outcome(c[0]!.abortRound());
    case 'finalize': {
      const current = await c[0]!.currentRound();
      const state: RoundState | undefined = await c[0]!.getRound(current);
      const committee = state?.committee ?? [];
      const round = current === 0 ? 1 : current;
      const record = canonicalRoundRecord({
        round,
        prevModelHash: side.prevModel,
        modelHash: `0x${round.toString(16).padStart(64, '0')}`,
        aggregateHash: `0x${'ab'.repeat(32)}`,
        participants: op.participants.map((p, i) => ({
          member: addresses[p]!,
          bucket: op.buckets[i]!,
          spend: encodeRdp(new Array(8).fill(op.spends[i]!)),
          // The contract only checks "no parameters, no spend"; any non-zero word will do.
          dpParams: op.spends[i] === 0 ? 0n : DP_PARAMS,
        })),
        dropped: [],
      });
      const signer = (a: string) => c[addresses.indexOf(a)]!;
      const t = COMPLIANCE_PARAMS.threshold;
      let sigs = await Promise.all(committee.slice(0, t).map((a) => signer(a).signRecord(record)));
      if (op.quorum === 'short') sigs = sigs.slice(0, t - 1);
      if (op.quorum === 'duplicate' && sigs.length > 0) sigs = [sigs[0]!, ...sigs.slice(0, t - 1)];
      if (op.quorum === 'stranger') {
        const stranger = addresses.findIndex((a, i) => i > 0 && !committee.includes(a));
        sigs = [await c[stranger]!.signRecord(record), ...sigs.slice(1)];
      }
      const result = await outcome(c[op.who]!.finalizeRound(record, sigs));
      if (result === 'ok') side.prevModel = record.modelHash;
      return result;
    }
  }
}

/** The invariants on one side, and the state both sides must agree on. */
async function observe(side: Side, addresses: readonly string[]) {
  const c = side.clients[0]!;
  let held = 0n;
  const members: unknown[] = [];
  for (let i = 0; i < addresses.length; i++) {
    const budget = await c.budgetOf(addresses[i]!);
    const before = decodePacked(side.rdp[i]!);
    const after = decodePacked(budget.rdp);
    for (const [k, lane] of after.entries()) {
      expect(lane >= before[k]!, `${side.name}: lane ${k} of account ${i} decreased`).toBe(true);
    }
    side.rdp[i] = budget.rdp;
    const m = await c.getMember(addresses[i]!);
    held += m.credits;
    members.push([m.status, m.epsilonCap, budget.rdp, budget.epsilonSpent]);
  }
  expect(held, `${side.name}: credits held = minted`).toBe(await c.totalCredits());
  const active = await c.activeMembers();
  const statuses = await Promise.all(addresses.map((a) => c.getMember(a)));
  expect([...active].sort(), `${side.name}: active list = members with status active`).toEqual(
    statuses
      .filter((m) => m.status === 'active')
      .map((m) => m.account)
      .sort(),
  );
  const finalized = await c.lastFinalizedRound();
  if (finalized > 0) {
    const f = await c.getFinalizedRound(finalized);
    const state = await c.getRound(finalized);
    expect(f, `${side.name}: round ${finalized} has its record`).toBeDefined();
    expect(f!.signers.length, `${side.name}: round ${finalized} has t signers`).toBeGreaterThanOrEqual(COMPLIANCE_PARAMS.threshold);
    for (const signer of f!.signers) expect(state!.committee, `${side.name}: signer of round ${finalized}`).toContain(signer);
  }
  return {
    members,
    active: await c.activeMembers(),
    head: await c.headModelHash(),
    current: await c.currentRound(),
    finalized: await c.lastFinalizedRound(),
    totalCredits: await c.totalCredits(),
  };
}

describe('FedmeshFederation, randomized operation sequences', () => {
  for (const seed of [1, 2]) {
    it(`seed ${seed}: ${STEPS} operations; every refusal typed; budgets never decrease; credits minted = held`, async () => {
      const ops = fc.sample(fc.array(opArb, { minLength: STEPS, maxLength: STEPS }), { numRuns: 1, seed })[0]!;
      const addresses = chain.signers.slice(0, ACCOUNTS).map((s) => s.address);
      const initialMembers = [1, 2, 3, 4, 5].map((i) => ({
        account: addresses[i]!,
        peerId: `p${i}`,
        metadataURI: '',
        epsilonCap: encodeEpsilonCap(5),
      }));

      const deployed = await deployFederation(chain.signers[0]!, COMPLIANCE_PARAMS);
      await registerMembers(chain.signers[0]!, deployed.address, initialMembers);
      const onChain: Side = {
        name: 'contract',
        clients: chain.signers
          .slice(0, ACCOUNTS)
          .map((s) => new EthersFederationClient(s, deployed.address, { fromBlock: deployed.blockNumber })),
        advance: async (s) => {
          await chain.provider.send('evm_increaseTime', [s]);
          await chain.provider.send('evm_mine', []);
        },
        rdp: new Array(ACCOUNTS).fill(0n),
        prevModel: COMPLIANCE_PARAMS.initialModelHash,
      };

      const seen = new Map<string, number>();
      for (const op of ops) {
        const a = await apply(onChain, op, addresses);
        seen.set(`${op.kind}:${a}`, (seen.get(`${op.kind}:${a}`) ?? 0) + 1);
        await observe(onChain, addresses);
      }
      // The run exercised both successes and refusals of finalization.
      expect(seen.get('finalize:ok') ?? 0).toBeGreaterThanOrEqual(3);
      expect([...seen.keys()].filter((k) => k.startsWith('finalize:') && k !== 'finalize:ok').length).toBeGreaterThan(0);
    });
  }
});
