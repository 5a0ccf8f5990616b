/**
 * One committee member's lock charger (node/services/lock-charger.ts) against the real contract on
 * in-process Hardhat, for the red team's charge tests (F29, F30, the wrong-set coverage) and the
 * local ledger's settlement tests: the participants' own entry signatures, the member's chain
 * client — the daemon's stack (EthersFederationClient inside ResilientFederationClient with
 * `confirmations`) or the bare ethers client — optionally watched on every `getRound` it reads
 * (instrumentation for staging a reorg right after the member read something), and the charge
 * request the round machine would send (`charge-lock`).
 */
import { BrowserProvider, type Eip1193Provider, HDNodeWallet } from 'ethers';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import type { FederationChainClient, RoundState } from '../../node/chain/federation-types.js';
import type { InProcessChain } from '../../node/chain/hardhat.js';
import { ResilientFederationClient } from '../../node/chain/resilient.js';
import { systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { CommitteeSignatures } from '../../node/services/committee-signatures.js';
import { LockCharger } from '../../node/services/lock-charger.js';
import type { LockChargeResult } from '../../node/services/round-recorder.js';
import { canonicalRoundCharge, ROUND_CHARGE_TYPES, roundChargeDigest, toChargeValue } from '../../protocol/chain/charge.js';
import { deploymentBinding } from '../../protocol/chain/deployment-binding.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import { participantEntry } from '../../protocol/chain/participant-entry.js';
import { federationDomain, type Hex32 } from '../../protocol/chain/record.js';
import { CHAIN_ID, DP_PARAMS, type Fed, signerOf } from './federation-fixture.js';

/** Peer id of chain signer `i` in these tests. */
export const peerOf = (i: number): string => `peer-${i}`;

/**
 * Chain signer `i`'s client: the daemon's stack with `confirmations` (ResilientFederationClient
 * over EthersFederationClient), or the bare ethers client when `confirmations` is undefined.
 */
export function memberClient(
  chain: InProcessChain,
  fed: Fed,
  i: number,
  confirmations?: number,
): { client: FederationChainClient; close(): void } {
  const inner = new EthersFederationClient(signerOf(chain, i), fed.address, { fromBlock: fed.blockNumber, pollIntervalMs: 10 });
  if (confirmations === undefined) return { client: inner, close: () => {} };
  const resilient = new ResilientFederationClient(inner, { confirmations, provider: chain.provider, pollIntervalMs: 10 });
  return { client: resilient, close: () => resilient.close() };
}

/** Hardhat's default accounts (its public test mnemonic), as wallets the test can connect anywhere. */
const HARDHAT_MNEMONIC = 'test test test test test test test test test test test junk';

/**
 * Chain signer `i`'s client (the daemon's stack: EthersFederationClient over an ethers JSON-RPC
 * provider, inside ResilientFederationClient) whose RPC is the in-process chain, except that
 * `fail(method, call)` may turn a request into a JSON-RPC error answer (-32000 "header not found":
 * what a rate limit or a load-balanced backend behind the head sends; or the message it returns).
 */
export async function flakyMemberClient(
  chain: InProcessChain,
  fed: Fed,
  i: number,
  fail: (method: string, call: { to?: string; data?: string } | undefined) => boolean | string,
): Promise<{ client: FederationChainClient; close(): void }> {
  const rpc: Eip1193Provider = {
    request: async ({ method, params }) => {
      const call = (params as { to?: string; data?: string }[] | undefined)?.[0];
      const failure = fail(method, call);
      if (failure !== false) throw Object.assign(new Error(failure === true ? 'header not found' : failure), { code: -32000 });
      return chain.provider.send(method, (params ?? []) as unknown[]);
    },
  };
  const provider = new BrowserProvider(rpc, Number(await chain.provider.send('eth_chainId', [])));
  const wallet = HDNodeWallet.fromPhrase(HARDHAT_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).connect(provider);
  if (wallet.address !== signerOf(chain, i).address) throw new Error(`signer ${i} is not Hardhat's default account ${i}`);
  const client = new ResilientFederationClient(
    new EthersFederationClient(wallet, fed.address, { fromBlock: fed.blockNumber, pollIntervalMs: 10 }),
    { provider, pollIntervalMs: 10 },
  );
  return {
    client,
    close: () => {
      client.close();
      provider.destroy();
    },
  };
}

/** `client` with `onRead` called on every `getRound` state it returns (before its caller sees it). */
export function watchReads(client: FederationChainClient, onRead: (state: RoundState | undefined) => void): FederationChainClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'getRound' || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
      return async (r: number, atBlock?: number) => {
        const state = await (v as FederationChainClient['getRound']).call(target, r, atBlock);
        onRead(state);
        return state;
      };
    },
  }) as FederationChainClient;
}

export interface ChargeMemberInit {
  readonly chain: InProcessChain;
  readonly fed: Fed;
  readonly round: number;
  /** The round's committee (signer indices, position order). */
  readonly committee: readonly number[];
  /** The member under test (signer index); at position 1 (default) it never submits itself. */
  readonly me: number;
  /** 0: the member submits the charge itself as soon as it holds t signatures; 1 (default): never. */
  readonly position?: 0 | 1;
  /** The lock digest and its U_3 (signer indices), each declaring DP_PARAMS. */
  readonly lock: Hex32;
  readonly participants: readonly number[];
  /** The daemon's confirmations; undefined: the bare ethers client (a block counts once mined). */
  readonly confirmations?: number;
  /** Instrumentation: every `getRound` state the member reads. */
  readonly onRead?: (state: RoundState | undefined) => void;
  /** The member's chain client, when not `memberClient(chain, fed, me, confirmations)` (closed by the caller). */
  readonly client?: FederationChainClient;
}

export interface ChargeMember {
  /** Asks the member's charger for the lock's charge (what the round machine's `charge-lock` does); the answer. */
  answer(): Promise<LockChargeResult>;
  /** Gossips committee signer `i`'s charge signature for the lock to the member (as `/charge/1` carries it). */
  gossipSignature(i: number): Promise<void>;
  /** Stops the charger and the client (call once the answer is in). */
  close(): void;
}

/** The member's LockCharger for `init`'s lock, started (the participants' entry signatures made now). */
export async function chargeMember(init: ChargeMemberInit): Promise<ChargeMember> {
  const { chain, fed, round, committee, me, participants } = init;
  // The participants' own entry signatures, as they travel with their masked inputs.
  const entryOf = (i: number): Promise<string> =>
    new EthersFederationClient(signerOf(chain, i), fed.address).signParticipantEntry(
      participantEntry(round, signerOf(chain, i).address, DP_PARAMS),
    );
  const declarations = new Map(
    await Promise.all(participants.map(async (i) => [peerOf(i), { dpParams: DP_PARAMS, entrySignature: await entryOf(i) }] as const)),
  );
  const { client, close } =
    init.client !== undefined ? { client: init.client, close: () => {} } : memberClient(chain, fed, me, init.confirmations);
  const hub = new MemoryGossipHub();
  const charger = new LockCharger(
    { federation: 'charge-member', threshold: 2 },
    {
      self: peerOf(me),
      gossip: hub.join(peerOf(me)),
      fed: init.onRead !== undefined ? watchReads(client, init.onRead) : client,
      clock: systemClock,
      log: createLogger('silent'),
      committeeOf: (r) => (r === round ? committee.map(peerOf) : undefined),
      addressOf: (p) => {
        const i = Number(p.slice('peer-'.length));
        return Number.isInteger(i) && i > 0 ? signerOf(chain, i).address : undefined;
      },
      signingDomain: async () => ({ domain: federationDomain(CHAIN_ID, fed.address), binding: deploymentBinding(CHAIN_ID, fed.address) }),
    },
  );
  charger.start();
  const abort = new AbortController();
  const domain = federationDomain(CHAIN_ID, fed.address);
  const charge = canonicalRoundCharge({
    round,
    lock: init.lock,
    participants: participants.map((i) => ({ member: signerOf(chain, i).address, dpParams: DP_PARAMS, spend: declaredSpend(DP_PARAMS) })),
  });
  const position = init.position ?? 1;
  return {
    gossipSignature: async (i) => {
      const other = new CommitteeSignatures(charger.topic, 'charge-member', {
        gossip: hub.join(peerOf(i)),
        committeeOf: (r) => (r === round ? committee.map(peerOf) : undefined),
        addressOf: (p) => signerOf(chain, Number(p.slice('peer-'.length))).address,
      });
      const signature = await signerOf(chain, i).signTypedData(domain, ROUND_CHARGE_TYPES, toChargeValue(charge));
      await other.publish(round, peerOf(i), roundChargeDigest(domain, charge), signature);
      await hub.settle();
    },
    answer: () =>
      charger.charge(
        {
          round,
          position,
          turnAt: position === 0 ? 0 : Number.POSITIVE_INFINITY,
          until: Number.POSITIVE_INFINITY,
          lock: init.lock,
          contributors: participants.map(peerOf),
          declarations,
        },
        abort.signal,
      ),
    close: () => {
      abort.abort();
      charger.stop();
      close();
    },
  };
}

/**
 * Waits (on events, not time) until `staged()` holds or `answer` settles first: the reorg tests
 * stage their branch switch from inside the member's read, and an answer that comes before any
 * staging ends the wait too.
 */
export async function untilStaged(staged: () => boolean, answer: Promise<unknown>): Promise<void> {
  let answered = false;
  answer.then(
    () => {
      answered = true;
    },
    () => {
      answered = true;
    },
  );
  while (!staged() && !answered) await systemClock.sleep(20);
}
