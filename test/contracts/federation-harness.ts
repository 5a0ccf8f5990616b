/**
 * FedmeshFederation's real bytecode on the in-process Hardhat network, for tests of the node's
 * chain plumbing (opener, recorder, stall watcher, resilient client, peers). There is no
 * in-memory re-implementation of the contract: a test that needs a federation deploys one here,
 * registers members under chosen peer ids, and talks to it through `EthersFederationClient`.
 *
 * Fast fixtures: `startFederation` deploys and registers once; `reset()` reverts to that state
 * with `evm_snapshot`/`evm_revert` (Hardhat restores block time with it), so each test starts
 * from the same chain without redeploying. Block time moves with `advance(seconds)` and
 * `advanceTo(timestamp)` (`evm_setNextBlockTimestamp` + `evm_mine`). Committees come from a seed
 * block's hash, which depends on block timestamps: tests read a round's committee from the chain
 * (`openRoundAsPeers`, `RoundOpened`) instead of predicting it.
 */
import type { Signer } from 'ethers';
import { cAlpha, EPSILON_CAP_MAX } from '../../protocol/chain/budget.js';
import { NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { canonicalRoundRecord, fullServiceMask, type Hex32, type OnChainRoundRecord } from '../../protocol/chain/record.js';
import { participantEntry } from '../../protocol/chain/participant-entry.js';
import { deployFederation, registerMembers } from '../../node/chain/federation-deploy.js';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import type { FederationParams } from '../../node/chain/federation-types.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { type Clock, systemClock } from '../../node/clock.js';

/** Signer 0 deploys and administers; members are signers 1 … n in registration order. */
export const ADMIN_SIGNER = 0;

export interface HarnessMember {
  /** Index of the member's account among the chain's signers (≥ 1). */
  readonly signer: number;
  readonly peerId: string;
  /** ε cap, fixed point; default EPSILON_CAP_MAX. */
  readonly epsilonCap?: bigint;
}

export interface HarnessOptions {
  readonly params?: Partial<FederationParams>;
  /** Poll interval of the clients' `waitFor…` (ms). Default 25. */
  readonly pollIntervalMs?: number;
}

export interface FederationHarness {
  readonly chain: InProcessChain;
  readonly address: string;
  readonly params: FederationParams;
  readonly members: readonly HarnessMember[];
  /** A client acting as signer `i` (`clock` times its waits; default the system clock). */
  client(i: number, clock?: Clock): EthersFederationClient;
  readonly admin: EthersFederationClient;
  /** The client of the member registered under `peerId`. */
  clientOf(peerId: string, clock?: Clock): EthersFederationClient;
  /** Account address of signer `i`. */
  account(i: number): string;
  /**
   * Mines a block `seconds` after the latest one. Relative to the latest block, not to the wall
   * clock: Hardhat stamps blocks mined within one second a second apart, so the chain can run
   * ahead of the wall clock and `evm_increaseTime` alone would land short of a deadline.
   */
  advance(seconds: number): Promise<void>;
  /** Mines a block at `timestamp` (seconds); later blocks follow it. */
  advanceTo(timestamp: number): Promise<void>;
  /** Timestamp of the latest block (seconds). */
  latestTimestamp(): Promise<number>;
  /** Back to the state right after deployment and registration (block time included). */
  reset(): Promise<void>;
}

async function latestTimestamp(chain: InProcessChain): Promise<number> {
  const block = await chain.provider.getBlock('latest');
  if (block === null) throw new Error('no latest block');
  return block.timestamp;
}

async function mineAt(chain: InProcessChain, timestamp: number): Promise<void> {
  await chain.provider.send('evm_setNextBlockTimestamp', [timestamp]);
  await chain.provider.send('evm_mine', []);
}

/** Default deployment: m = 3, t = 2, 60 s windows, c_α for δ = 1e-5. */
export function harnessParams(initialModelHash: Hex32, over: Partial<FederationParams> = {}): FederationParams {
  return {
    initialModelHash,
    committeeSize: 3,
    threshold: 2,
    inputDurationSec: 60,
    finalizeDurationSec: 60,
    cAlpha: cAlpha(1e-5),
    ...over,
  };
}

export async function startFederation(
  initialModelHash: Hex32,
  members: readonly HarnessMember[],
  o: HarnessOptions = {},
): Promise<FederationHarness> {
  const chain = await startInProcessChain();
  const signer = (i: number): Signer => {
    const s = chain.signers[i];
    if (s === undefined) throw new Error(`the in-process chain has no signer ${i}`);
    return s as unknown as Signer;
  };
  const params = harnessParams(initialModelHash, o.params);
  const deployed = await deployFederation(signer(ADMIN_SIGNER), params);
  await registerMembers(
    signer(ADMIN_SIGNER),
    deployed.address,
    members.map((m) => ({
      account: chain.signers[m.signer]!.address,
      peerId: m.peerId,
      metadataURI: '',
      epsilonCap: m.epsilonCap ?? EPSILON_CAP_MAX,
    })),
  );
  const pollIntervalMs = o.pollIntervalMs ?? 25;
  const client = (i: number, clock: Clock = systemClock) =>
    new EthersFederationClient(signer(i), deployed.address, { fromBlock: deployed.blockNumber, pollIntervalMs, clock });
  let snapshot = (await chain.provider.send('evm_snapshot', [])) as string;
  return {
    chain,
    address: deployed.address,
    params,
    members,
    client,
    admin: client(ADMIN_SIGNER),
    clientOf: (peerId, clock) => {
      const m = members.find((x) => x.peerId === peerId);
      if (m === undefined) throw new Error(`${peerId} is not a harness member`);
      return client(m.signer, clock);
    },
    account: (i) => chain.signers[i]!.address,
    advance: async (seconds) => {
      await mineAt(chain, (await latestTimestamp(chain)) + seconds);
    },
    advanceTo: (timestamp) => mineAt(chain, timestamp),
    latestTimestamp: () => latestTimestamp(chain),
    reset: async () => {
      // evm_revert consumes the snapshot; take it again for the next reset.
      await chain.provider.send('evm_revert', [snapshot]);
      snapshot = (await chain.provider.send('evm_snapshot', [])) as string;
    },
  };
}

/** A record and the participants' entry signatures, as `finalizeRound` takes them. */
export interface SignedEntries {
  readonly record: OnChainRoundRecord;
  /** One ParticipantEntry signature per `record.participants`, in the record's order. */
  readonly entrySignatures: string[];
}

/**
 * A record the contract accepts for `round` from `prevModelHash`: the members at signer indices
 * `participants` contributed without DP (no spend), each signing its own ParticipantEntry; every
 * committee position is credited. The one place tests of the node plumbing build a record by
 * hand; its shape is the contract's (protocol/chain/record.ts).
 */
export async function plainRecord(
  h: FederationHarness,
  round: number,
  prevModelHash: Hex32,
  modelHash: Hex32,
  participants: readonly number[],
): Promise<SignedEntries> {
  const record = canonicalRoundRecord({
    round,
    prevModelHash,
    modelHash,
    aggregateHash: `0x${'ac'.repeat(32)}`,
    serviceMask: fullServiceMask(h.params.committeeSize),
    participants: participants.map((i) => ({ member: h.account(i), dpParams: NO_DP_PARAMS, spend: 0n })),
  });
  const signerOf = (member: string) => participants.find((i) => h.account(i) === member)!;
  const entrySignatures = await Promise.all(
    record.participants.map((p) => h.client(signerOf(p.member)).signParticipantEntry(participantEntry(round, p.member, p.dpParams))),
  );
  return { record, entrySignatures };
}

/**
 * Wall-clock time plus an offset that a test moves together with block time (`jump` after
 * `advance`). Sleeps end when this clock, not the wall clock, reaches their end: a jump wakes
 * every sleeper whose end it passed, so a stall watcher waiting for a deadline two windows
 * ahead wakes as soon as the chain is there.
 */
export class OffsetClock implements Clock {
  offsetMs = 0;
  readonly #sleepers = new Set<() => void>();

  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Moves this clock forward by `ms` and wakes the sleepers that are due. */
  jump(ms: number): void {
    this.offsetMs += ms;
    for (const check of [...this.#sleepers]) check();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    const end = this.now() + ms;
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.#sleepers.delete(check);
        signal?.removeEventListener('abort', onAbort);
      };
      const check = (): void => {
        clearTimeout(timer);
        const left = end - this.now();
        if (left <= 0) {
          done();
          resolve();
        } else {
          timer = setTimeout(check, left);
        }
      };
      const onAbort = (): void => {
        done();
        reject(signal?.reason);
      };
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#sleepers.add(check);
      check();
    });
  }
}

/**
 * A federation whose members are `peerIds` (signers 1 … n in that order) with committee size m
 * and threshold t, for tests that run whole peers (node/peer.ts) over the in-memory gossip.
 */
export function startPeerFederation(
  initialModelHash: Hex32,
  peerIds: readonly string[],
  committee: { readonly committeeSize: number; readonly threshold: number },
  over: Partial<FederationParams> = {},
): Promise<FederationHarness> {
  return startFederation(
    initialModelHash,
    peerIds.map((peerId, i) => ({ signer: i + 1, peerId })),
    { params: { ...committee, ...over } },
  );
}

/** Opens the next round as the first member and returns its committee as peer ids, in position order. */
export async function openRoundAsPeers(h: FederationHarness): Promise<string[]> {
  const opened = await h.client(h.members[0]!.signer).openRound();
  return opened.committee.map((account) => {
    const m = h.members.find((x) => h.account(x.signer) === account);
    if (m === undefined) throw new Error(`committee member ${account} is not a harness member`);
    return m.peerId;
  });
}
