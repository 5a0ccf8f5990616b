/**
 * The secure round as one state machine (protocol/secure-aggregation/machine/), simulated in
 * protocol-only code: N parties exchange wire-encoded messages through one in-memory queue on a
 * manual clock, driven only by `step` (machine/simulation.ts). The committee is chosen by the
 * protocol's own selection (protocol/committee.ts), so replays cover it too.
 *
 *   - the unmasked sum equals the plaintext sum Σ n_i·Δ_i bit for bit (inputs on the fixed-point grid);
 *   - two runs with the same seed give the identical effect trace; another seed does not;
 *   - a fault-free round waits on no timer: every role ends with the clock still at the open;
 *   - a participant that drops after sharing its keys: the round still ends, via deadline ticks,
 *     with its input left out and the sum of the others exact.
 */
import { describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { selectCommittee } from '../../protocol/committee.js';
import type { ModelWeights } from '../../protocol/model.js';
import { type RoundState, type SimulatedParty, simulateRound } from '../../protocol/secure-aggregation/machine/index.js';
import { config, crypto, entropies, ids, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const D = 6;
const GLOBAL: ModelWeights = { tensors: [{ shape: [D], data: new Float32Array(D) }] };
const HEAD = toHex0x(new Uint8Array(32).fill(7));

/** Weights on a 2^−10 grid: n_i·Δ_i is exact at the 2^−24 fixed-point grid, so quantization is exact. */
function weightsOf(i: number): ModelWeights {
  return { tensors: [{ shape: [D], data: Float32Array.from({ length: D }, (_, k) => ((((i + 1) * 37 + k * 11) % 200) - 100) / 1024) }] };
}

function run(
  seed: string,
  opts: { n?: number; m?: number; t?: number; dropAfterKeys?: readonly string[]; silentMembers?: readonly string[] } = {},
) {
  const n = opts.n ?? 8;
  const parties = ids(n);
  const committee = selectCommittee('fed', 7, parties, opts.m ?? 5);
  const list: SimulatedParty[] = parties.map((id, i) => ({
    id,
    participates: true,
    weights: weightsOf(i),
    sampleCount: 10 + i,
    ...(opts.dropAfterKeys?.includes(id) ? { dropout: 'after-keys' as const } : {}),
    ...(opts.silentMembers?.includes(id) ? { dropout: 'after-input' as const } : {}),
  }));
  const result = simulateRound({
    binding: TEST_BINDING,
    federation: 'fed',
    round: 7,
    config: config({ committeeSize: opts.m ?? 5, threshold: opts.t ?? 4 }),
    committee,
    threshold: opts.t ?? 4,
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
  });
  return { result, committee, list };
}

function plaintextSum(list: readonly SimulatedParty[], skip: ReadonlySet<string>): { values: number[]; samples: number } {
  const values = new Array<number>(D).fill(0);
  let samples = 0;
  for (const p of list) {
    if (skip.has(p.id)) continue;
    const w = p.weights!.tensors[0]!.data;
    for (let k = 0; k < D; k++) values[k]! += p.sampleCount! * w[k]!;
    samples += p.sampleCount!;
  }
  return { values, samples };
}

function aggregates(states: ReadonlyMap<string, RoundState>) {
  return [...states.values()].flatMap((s) => (s.committee?.aggregate !== undefined ? [s.committee.aggregate] : []));
}

describe('secure round machine: simulation on a manual clock', () => {
  it('unmasks the plaintext sum bit for bit, and a fault-free round waits on no timer', () => {
    const { result, committee, list } = run('sim-a');
    const expected = plaintextSum(list, new Set());
    const aggs = aggregates(result.states);
    // Every live member unmasks (each its own reconstruction), and every one gets the same bits.
    expect(aggs).toHaveLength(committee.length);
    for (const a of aggs) {
      expect([...a.values]).toEqual(expected.values);
      expect(a.totalSamples).toBe(expected.samples);
      expect(a.unmasked.survivors.map((e) => e.participant)).toEqual(list.map((p) => p.id));
    }
    expect(result.recorded).toBe(aggs[0]!.modelHash);
    // No timer: every role ended before any deadline tick, with the clock still at the open.
    expect(result.ticks).toBe(0);
    expect(result.endedAt).toBe(1_000);
    for (const s of result.states.values()) {
      expect(s.participant?.outcome).toEqual({ kind: 'done', trainLoss: 0 });
      if (s.committee !== undefined) expect(s.committee.outcome).toMatchObject({ kind: 'done', survivors: list.length, dropped: 0 });
      if (s.committee !== undefined) expect(s.committee.outcome).not.toHaveProperty('abstained');
    }
    // Exactly one member sent the record; every member published a signed result.
    const recordedBy = [...result.states.values()].filter((s) => s.committee?.outcome?.kind === 'done' && s.committee.outcome.recorded);
    expect(recordedBy).toHaveLength(1);
    expect(result.trace.filter((l) => l.includes(' publish kind=6 '))).toHaveLength(committee.length);
  });

  it('replays bit for bit: the same seed gives the identical effect trace, another seed another', () => {
    const a = run('sim-replay');
    const b = run('sim-replay');
    expect(a.result.trace.length).toBeGreaterThan(50);
    expect(b.result.trace).toEqual(a.result.trace);
    const c = run('sim-other');
    expect(c.result.trace).not.toEqual(a.result.trace);
    // Different masks, keys and shares — the same sum.
    expect([...aggregates(c.result.states)[0]!.values]).toEqual([...aggregates(a.result.states)[0]!.values]);
  });

  it('a participant dropping after its keys: the round ends through deadline ticks, the others summed exactly, replayable', () => {
    // A non-committee participant drops after sharing keys: U_2 holds it, U_3 does not, so its
    // pairwise masks are removed with its reconstructed s^SK. The members wait for its input
    // until the input deadline (a tick), then go on.
    const parties = ids(8);
    const committee = selectCommittee('fed', 7, parties, 5);
    const dropper = parties.find((p) => !committee.includes(p))!;
    const { result, list } = run('sim-drop', { dropAfterKeys: [dropper] });
    const expected = plaintextSum(list, new Set([dropper]));
    const aggs = aggregates(result.states);
    expect(aggs.length).toBe(committee.length);
    for (const a of aggs) {
      expect([...a.values]).toEqual(expected.values);
      expect(a.totalSamples).toBe(expected.samples);
      expect(a.unmasked.dropped).toEqual([dropper]);
    }
    expect(result.ticks).toBeGreaterThan(0);
    // The clock moved exactly to the input deadline (open + collectMs), not beyond.
    expect(result.endedAt).toBe(11_000);
    expect(result.states.get(dropper)!.participant!.outcome).toEqual({ kind: 'done' });
    expect(run('sim-drop', { dropAfterKeys: [dropper] }).result.trace).toEqual(result.trace);
  });

  it('a silent position-0 member: position 1 leads the key set and the lock at its turns, the sum is exact, replayable', () => {
    // Position 0 publishes its own input (dropout after its input) but never acts as a member:
    // turn 0 passes with no proposal, and position 1 proposes at open + keysMs + 1 grace period
    // (key set, 1000 + 2000 + 1000) and at viewAt + 1 grace period (lock; the view is signed at
    // 4000, when the certified key set's inputs are all in).
    const parties = ids(8);
    const committee = selectCommittee('fed', 7, parties, 5);
    const silent = committee[0]!;
    const { result, list } = run('sim-silent', { silentMembers: [silent] });
    const expected = plaintextSum(list, new Set());
    const aggs = aggregates(result.states);
    expect(aggs).toHaveLength(committee.length - 1);
    for (const a of aggs) {
      expect([...a.values]).toEqual(expected.values);
      expect(a.totalSamples).toBe(expected.samples);
    }
    const proposals = result.trace.filter((l) => / publish kind=(7|4) /.test(l));
    // Key set (kind 7) and lock (kind 4): each proposed once, by position 1, at its turn.
    expect(proposals.map((l) => l.split(' ').slice(0, 4).join(' '))).toEqual([
      `4000 ${committee[1]} publish kind=7`,
      `5000 ${committee[1]} publish kind=4`,
    ]);
    expect(result.states.get(silent)!.committee!.outcome).toEqual({ kind: 'done', recorded: false });
    expect(run('sim-silent', { silentMembers: [silent] }).result.trace).toEqual(result.trace);
  });
});
