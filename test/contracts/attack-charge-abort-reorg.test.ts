/**
 * Red team F30 (H-red, 2026-12-07 late): the mirror of F29 — a committee member gives up on a
 * lock's charge because of an abort it read at the head block, and a shallow reorg then makes
 * the charge the canonical history: U_3 is charged for a release that never happens.
 *
 * F21's rule (node/services/lock-charger.ts): a member that signed the charge keeps watching
 * until the chain answers, because the t charge signatures are public and anyone can land them
 * while the round is open; "charged, so released — never the reverse". The answer "the round is
 * no longer open" (`CHAIN_ROUND_NOT_OPEN`) is read at the head, whatever the configured
 * `chain.confirmations`: an `abortRound` mined just past the finalize deadline in one branch, and
 * the charge mined just before it in the other (both are public transactions racing at the
 * deadline), make every member that saw the abort branch refuse for good. When the charge's
 * branch wins, every participant of U_3 is charged (and credited), nobody reveals, and the round
 * aborts later: F21's overcharge, by a one-block reorg instead of a delaying network.
 *
 * Real contract on in-process Hardhat; the daemon's client stack (EthersFederationClient inside
 * ResilientFederationClient, confirmations 3); the real LockCharger at committee position 1.
 * The reorg is `evm_revert` to a snapshot taken before the abort's blocks (depth 2 < 3).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import type { FederationChainClient } from '../../node/chain/federation-types.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { ResilientFederationClient } from '../../node/chain/resilient.js';
import { systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { LockCharger } from '../../node/services/lock-charger.js';
import type { LockChargeResult } from '../../node/services/round-recorder.js';
import { participantsHash } from '../../protocol/chain/charge.js';
import { deploymentBinding } from '../../protocol/chain/deployment-binding.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import { participantEntry } from '../../protocol/chain/participant-entry.js';
import { federationDomain, type Hex32 } from '../../protocol/chain/record.js';
import {
  as,
  CHAIN_ID,
  chargeFor,
  chargeWith,
  DP_PARAMS,
  deployFed,
  hash,
  INITIAL,
  mineAt,
  openNext,
  recordFor,
  send,
  signerOf,
  view,
} from './federation-fixture.js';

let chain: InProcessChain;

beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

const CONFIRMATIONS = 3;

describe('F30: a member does not give up on an unconfirmed abort', () => {
  it('the abort a member read is reorged away and the charge lands instead: the member still answers "charged" (reveals), never leaves U_3 charged and unrevealed', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5] });
    const { round, committee } = await openNext(chain, fed);
    const me = committee[1]!;
    const peerOf = (i: number): string => `peer-${i}`;
    const addressOf = (p: string): string | undefined => {
      const i = Number(p.slice('peer-'.length));
      return Number.isInteger(i) && i > 0 ? signerOf(chain, i).address : undefined;
    };
    const participants = [4, 5];
    const rec = recordFor(chain, round, INITIAL, participants);
    const lock = hash(0x43);
    const charge = chargeFor(rec, lock);
    const entryOf = async (i: number): Promise<string> =>
      new EthersFederationClient(signerOf(chain, i), fed.address).signParticipantEntry(
        participantEntry(round, signerOf(chain, i).address, DP_PARAMS),
      );
    const declarations = new Map(
      await Promise.all(participants.map(async (i) => [peerOf(i), { dpParams: DP_PARAMS, entrySignature: await entryOf(i) }] as const)),
    );

    const resilient = new ResilientFederationClient(
      new EthersFederationClient(signerOf(chain, me), fed.address, { fromBlock: fed.blockNumber, pollIntervalMs: 10 }),
      { confirmations: CONFIRMATIONS, provider: chain.provider, pollIntervalMs: 10 },
    );
    const { finalizeDeadline } = (await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', round)) as {
      finalizeDeadline: bigint;
    };

    // Branch B (seen first by the member): a block past the deadline, then anyone's abortRound.
    const snapshot = (await chain.provider.send('evm_snapshot', [])) as string;
    const forkBlock = await chain.provider.getBlockNumber();
    await mineAt(chain, Number(finalizeDeadline) + 1);
    await send(as(fed.contract, signerOf(chain, 6)), 'abortRound');

    // Branch A wins (instrumentation): once the member has read the abort, a macrotask later,
    // revert to before branch B and mine the charge before the deadline, plus the blocks the
    // member's confirmations need.
    let reorg: Promise<void> | undefined;
    const switchBranch = async (): Promise<void> => {
      expect(await chain.provider.send('evm_revert', [snapshot])).toBe(true);
      expect(await chain.provider.getBlockNumber()).toBe(forkBlock);
      await chargeWith(chain, fed, charge, [committee[0]!, committee[2]!], 6);
      for (let i = 0; i < CONFIRMATIONS - 1; i++) await chain.provider.send('evm_mine', []);
    };
    const fedSeen = new Proxy(resilient, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== 'getRound' || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
        return async (r: number) => {
          const state = await (v as FederationChainClient['getRound']).call(target, r);
          if (state?.status === 'aborted' && reorg === undefined) {
            reorg = new Promise<void>((resolve, reject) => setTimeout(() => switchBranch().then(resolve, reject), 0));
          }
          return state;
        };
      },
    }) as FederationChainClient;

    const hub = new MemoryGossipHub();
    const charger = new LockCharger(
      { federation: 'f30', threshold: 2 },
      {
        self: peerOf(me),
        gossip: hub.join(peerOf(me)),
        fed: fedSeen,
        clock: systemClock,
        log: createLogger('silent'),
        committeeOf: (r) => (r === round ? committee.map(peerOf) : undefined),
        addressOf,
        signingDomain: async () => ({ domain: federationDomain(CHAIN_ID, fed.address), binding: deploymentBinding(CHAIN_ID, fed.address) }),
      },
    );
    charger.start();
    const abort = new AbortController();
    const answer: Promise<LockChargeResult> = charger.charge(
      {
        round,
        position: 1,
        turnAt: Number.POSITIVE_INFINITY,
        until: Number.POSITIVE_INFINITY,
        lock: lock as Hex32,
        contributors: participants.map(peerOf),
        declarations,
      },
      abort.signal,
    );
    // Wait (on events) until the member has read the abort and the branch switch is staged.
    while (reorg === undefined) {
      const early = await Promise.race([answer.then(() => 'answered' as const), systemClock.sleep(20).then(() => 'waiting' as const)]);
      if (early === 'answered' && reorg === undefined) break;
    }
    await reorg;
    // The canonical chain: U_3 charged (spend and credit), the round still open until someone aborts it.
    const state = (await view<{ chargedHash: string; status: bigint }>(fed.contract, 'getRound', round)) as {
      chargedHash: string;
      status: bigint;
    };
    expect(state.chargedHash).toBe(participantsHash(rec.participants));
    for (const i of participants)
      expect(await view<bigint>(fed.contract, 'rdpOf', signerOf(chain, i).address)).toBe(declaredSpend(DP_PARAMS));

    const result = await answer;
    abort.abort();
    charger.stop();
    resilient.close();
    // Safe (F21's rule): the charge the canonical chain holds is answered "charged", so the
    // member reveals. Today: CHAIN_ROUND_NOT_OPEN from the head block of the losing branch.
    expect(result).toMatchObject({ charged: true });
  }, 120_000);
});
