/**
 * Large federations on the in-process Hardhat network, for the 1,000-member test
 * (federation-scale.test.ts) and `npm run bench:gas`: members beyond the chain's funded accounts
 * are plain wallets with deterministic keys. They never send a transaction (the admin registers
 * them; a funded member opens rounds; signer 0 submits), they only sign: their ParticipantEntry
 * and, on the committee, the round record.
 */
import { keccak256, Signature, toUtf8Bytes, Wallet } from 'ethers';
import type { InProcessChain } from '../../node/chain/hardhat.js';
import { ROUND_CHARGE_TYPES, toChargeValue } from '../../protocol/chain/charge.js';
import { encodeEpsilonCap } from '../../protocol/chain/budget.js';
import { declaredSpend, encodeDpParams } from '../../protocol/chain/dp-params.js';
import { participantEntry, signParticipantEntry } from '../../protocol/chain/participant-entry.js';
import {
  canonicalRoundRecord,
  federationDomain,
  type Hex32,
  type OnChainRoundRecord,
  ROUND_RECORD_TYPES,
  toTypedValue,
} from '../../protocol/chain/record.js';
import { as, CHAIN_ID, deployFed, type Fed, type FedOptions, openNext, PROOF, send, signerOf } from './federation-fixture.js';

/** One DP-SGD round (q = 0.05, σ = 1.1, C = 1, 20 steps): a spend in all 8 RDP lanes. */
export const LARGE_DP = encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 1.1, clipNorm: 1, steps: 20 });

type Signer = { signTypedData: Wallet['signTypedData']; address: string };

export interface LargeFed {
  readonly fed: Fed;
  /** Signing key of every member, by checksummed address. */
  readonly keys: Map<string, Signer>;
  /** Members in registration order (the first ones are funded chain signers that can open rounds). */
  readonly members: readonly string[];
}

/** A federation with `n` members: chain signers 1 … 3, then wallets. */
export async function deployLarge(chain: InProcessChain, n: number, o: FedOptions = {}): Promise<LargeFed> {
  const funded = [1, 2, 3].map((i) => signerOf(chain, i));
  const fed = await deployFed(chain, { ...o, members: [1, 2, 3], cap: 1000 });
  const keys = new Map<string, Signer>(funded.map((s) => [s.address, s as unknown as Signer]));
  const admin = as(fed.contract, signerOf(chain, 0));
  const cap = encodeEpsilonCap(1000);
  const pending: Promise<unknown>[] = [];
  for (let i = funded.length; i < n; i++) {
    const w = new Wallet(keccak256(toUtf8Bytes(`fedmesh-large-${i}`)));
    keys.set(w.address, w);
    pending.push(admin.getFunction('addMember').send(w.address, `peer-large-${i}`, '', cap, PROOF));
    // Keep ethers' nonce bookkeeping in order: wait every few sends.
    if (pending.length >= 50) await Promise.all(pending.splice(0));
  }
  const sent = (await Promise.all(pending)) as { wait(): Promise<unknown> }[];
  await Promise.all(sent.map((t) => t.wait()));
  return { fed, keys, members: [...keys.keys()] };
}

/** Opens the next round and finalizes it with `participants` (addresses) signing LARGE_DP; returns both receipts. */
export async function largeRound(
  chain: InProcessChain,
  l: LargeFed,
  participants: readonly string[],
  prev: Hex32,
  t: number,
  /** Charge U_3 with `chargeRound` first (red team F18), then finalize with no entry signatures. */
  charged = false,
): Promise<{ open: bigint; finalize: bigint; record: OnChainRoundRecord; schedule: bigint; charge: bigint }> {
  const blockBefore = await chain.provider.getBlockNumber();
  const { round } = await openNext(chain, l.fed, 1);
  // Gas of the opening transaction alone (a scheduling call, when one was needed, is reported apart).
  const openReceipt = await lastReceiptOf(chain, blockBefore, 'open');
  const scheduleGas = await lastReceiptOf(chain, blockBefore, 'schedule');
  const record = canonicalRoundRecord({
    round,
    prevModelHash: prev,
    modelHash: keccak256(toUtf8Bytes(`model-${round}`)) as Hex32,
    aggregateHash: keccak256(toUtf8Bytes(`aggregate-${round}`)) as Hex32,
    serviceMask: (1n << BigInt(l.fed.m)) - 1n,
    participants: participants.map((member) => ({ member, dpParams: LARGE_DP, spend: declaredSpend(LARGE_DP) })),
  });
  const binding = { chainId: CHAIN_ID, contract: l.fed.address };
  const entries = await Promise.all(
    record.participants.map(async (p) => {
      const sig = Signature.from(await signParticipantEntry(l.keys.get(p.member)!, binding, participantEntry(round, p.member, p.dpParams)));
      return { r: sig.r, vs: sig.yParityAndS };
    }),
  );
  const info = await l.fed.contract.getFunction('getRound').staticCall(round);
  let charge = 0n;
  if (charged) {
    const c = { round, lock: keccak256(toUtf8Bytes(`lock-${round}`)) as Hex32, participants: record.participants };
    const chargeSigs = await Promise.all(
      [...(info.committee as string[])]
        .slice(0, t)
        .map((a) => l.keys.get(a)!.signTypedData(federationDomain(CHAIN_ID, l.fed.address), ROUND_CHARGE_TYPES, toChargeValue(c))),
    );
    const v = toChargeValue(c);
    charge = (await send(as(l.fed.contract, signerOf(chain, 0)), 'chargeRound', round, c.lock, v.participants, entries, chargeSigs))
      .gasUsed;
  }
  const sigs = await Promise.all(
    [...(info.committee as string[])]
      .slice(0, t)
      .map((a) => l.keys.get(a)!.signTypedData(federationDomain(CHAIN_ID, l.fed.address), ROUND_RECORD_TYPES, toTypedValue(record))),
  );
  const receipt = await send(as(l.fed.contract, signerOf(chain, 0)), 'finalizeRound', toTypedValue(record), charged ? [] : entries, sigs);
  return { open: openReceipt, finalize: receipt.gasUsed, record, schedule: scheduleGas, charge };
}

/** Gas of the last openRound transaction after `fromBlock` that opened ('open') or only scheduled ('schedule'); 0n when none. */
async function lastReceiptOf(chain: InProcessChain, fromBlock: number, kind: 'open' | 'schedule'): Promise<bigint> {
  const head = await chain.provider.getBlockNumber();
  for (let b = head; b > fromBlock; b--) {
    const block = await chain.provider.getBlock(b, true);
    for (const tx of block?.prefetchedTransactions ?? []) {
      const receipt = await chain.provider.getTransactionReceipt(tx.hash);
      const opened = receipt?.logs.some(
        (l) => l.topics[0] === keccak256(toUtf8Bytes('RoundOpened(uint64,bytes32,address[],uint64,uint64)')),
      );
      const scheduled = receipt?.logs.some((l) => l.topics[0] === keccak256(toUtf8Bytes('RoundScheduled(uint64,uint64,uint64)')));
      if ((kind === 'open' && opened) || (kind === 'schedule' && scheduled && !opened)) return receipt!.gasUsed;
    }
  }
  return 0n;
}
