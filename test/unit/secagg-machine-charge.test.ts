/**
 * Charge before release (red team F18), in the secure round machine on a manual clock
 * (protocol/secure-aggregation/machine/simulation.ts with a `ledger`): a committee member asks
 * the node to charge the certified lock's U_3 (effect `charge-lock`) and reveals only after the
 * answer `lock-charged` names exactly that lock.
 *
 *   - with a ledger that charges: no member's reveal precedes its own charge request and the
 *     ledger's charge; what is charged is exactly the U_3 the sum covers; the sum is still exact;
 *   - with a ledger that refuses (a participant over its cap): no reveal at all, every member
 *     abstains with SECAGG_NOT_CHARGED, nothing is recorded;
 *   - the pure member alone: `reveal()` returns nothing before `lockCharged`, and `lockCharged`
 *     for another digest is refused.
 */
import { describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { selectCommittee } from '../../protocol/committee.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import { SecAggKind } from '../../protocol/messages/secagg.js';
import type { ModelWeights } from '../../protocol/model.js';
import { type SimulatedParty, simulateRound } from '../../protocol/secure-aggregation/machine/index.js';
import { codeOf, config, crypto, entropies, ids, testSign, testVerify } from './secagg-helpers.js';
import { certifyKeySet, deliverViews, LATE, maskInputs, setupRound, shareKeys, signView, TEST_BINDING } from './secagg-round-harness.js';

const D = 4;
const GLOBAL: ModelWeights = { tensors: [{ shape: [D], data: new Float32Array(D) }] };
const HEAD = toHex0x(new Uint8Array(32).fill(7));

function run(seed: string, ledger: (lock: Hex32, contributors: readonly string[]) => string | undefined) {
  const parties = ids(8);
  const committee = selectCommittee('fed', 7, parties, 5);
  const list: SimulatedParty[] = parties.map((id, i) => ({
    id,
    participates: true,
    weights: { tensors: [{ shape: [D], data: Float32Array.from({ length: D }, (_, k) => ((i * 13 + k * 7) % 50) / 1024) }] },
    sampleCount: 10 + i,
  }));
  const result = simulateRound({
    binding: TEST_BINDING,
    federation: 'fed',
    round: 7,
    config: config({ committeeSize: 5, threshold: 4 }),
    committee,
    threshold: 4,
    parties: list,
    global: GLOBAL,
    head: HEAD,
    crypto,
    entropy: entropies(seed),
    sign: testSign,
    verify: testVerify,
    openedAt: 1_000,
    keysMs: 2_000,
    collectMs: 10_000,
    recordGraceMs: 1_000,
    ledger,
  });
  return { result, committee, list };
}

const isReveal = (line: string): boolean => line.includes(` publish kind=${SecAggKind.Reveal} `);

describe('charge before release (F18): the machine reveals only after the ledger charged the lock', () => {
  it('no reveal precedes the charge; the charge is exactly the U_3 the sum covers; the sum is exact', () => {
    const asked: { lock: Hex32; contributors: readonly string[] }[] = [];
    const { result, committee, list } = run('charge-ok', (lock, contributors) => {
      asked.push({ lock, contributors });
      return undefined;
    });
    const trace = result.trace;
    const firstReveal = trace.findIndex(isReveal);
    const firstCharge = trace.findIndex((l) => l.includes(' charge-lock '));
    expect(firstCharge).toBeGreaterThanOrEqual(0);
    expect(firstReveal).toBeGreaterThan(firstCharge);
    // Every member: its reveal comes after its own charge request.
    for (const id of committee) {
      const charge = trace.findIndex((l) => l.split(' ')[1] === id && l.includes(' charge-lock '));
      const reveal = trace.findIndex((l) => l.split(' ')[1] === id && isReveal(l));
      expect(charge, id).toBeGreaterThanOrEqual(0);
      expect(reveal, id).toBeGreaterThan(charge);
    }
    // The ledger charged once (the first request); every member asked for the same lock and U_3.
    expect(result.charged).toBeDefined();
    expect(new Set(asked.map((a) => a.lock)).size).toBe(1);
    const aggs = [...result.states.values()].flatMap((s) => (s.committee?.aggregate !== undefined ? [s.committee.aggregate] : []));
    expect(aggs).toHaveLength(committee.length);
    for (const a of aggs) expect(a.unmasked.survivors.map((e) => e.participant)).toEqual([...result.charged!.contributors]);
    expect(result.charged!.contributors).toEqual(list.map((p) => p.id));
    expect(result.recorded).toBe(aggs[0]!.modelHash);
  });

  it('a refused charge (a participant over its cap): nobody reveals, every member abstains SECAGG_NOT_CHARGED, nothing recorded', () => {
    const { result, committee } = run('charge-refused', () => 'CHAIN_BUDGET_EXCEEDED');
    expect(result.trace.filter((l) => l.includes(' charge-lock '))).toHaveLength(committee.length);
    expect(result.trace.filter(isReveal)).toEqual([]);
    expect(result.charged).toBeUndefined();
    expect(result.recorded).toBeUndefined();
    for (const id of committee) {
      expect(result.states.get(id)!.committee!.outcome).toEqual({ kind: 'done', recorded: false, abstained: 'SECAGG_NOT_CHARGED' });
    }
  });

  it('the same seed replays the same trace with the ledger in it', () => {
    const a = run('charge-replay', () => undefined);
    const b = run('charge-replay', () => undefined);
    expect(b.result.trace).toEqual(a.result.trace);
  });
});

describe('the committee member itself (committee-member.ts requireCharge)', () => {
  it('reveal() gives nothing for a certified lock until lockCharged names it; another digest is refused', () => {
    const r = setupRound({ n: 6, m: 5, t: 4, config: config({ committeeSize: 5, threshold: 4 }), seed: 'member-gate' });
    for (const id of r.committee) r.members.get(id)!.requireCharge();
    shareKeys(r);
    const ks = certifyKeySet(r);
    maskInputs(r, ks, r.parties);
    deliverViews(
      r,
      r.committee.map((id) => signView(r, id)),
    );
    const lock = r.members.get(r.committee[0]!)!.proposeLock(0);
    const endorsements = r.committee.map((id) => r.members.get(id)!.onLockProposal(lock, LATE)!);
    for (const id of r.committee) for (const e of endorsements) if (e.sender !== id) r.members.get(id)!.addLockEndorse(e);
    const member = r.members.get(r.committee[1]!)!;
    const toCharge = member.lockToCharge();
    expect(toCharge).toBeDefined();
    expect(member.reveal()).toBeUndefined();
    expect(codeOf(() => member.lockCharged(new Uint8Array(32).fill(9)))).toBe('SECAGG_NOT_CHARGED');
    expect(member.reveal()).toBeUndefined();
    member.lockCharged(toCharge!.digest);
    const reveal = member.reveal();
    expect(reveal).toBeDefined();
    expect(toHex0x(reveal!.proposal)).toBe(toHex0x(toCharge!.digest));
  });
});
