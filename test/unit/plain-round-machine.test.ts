/**
 * The plaintext FedAvg strategy of the round machine (protocol/round-machine/), driven only by
 * `stepPlain` on a manual clock: N parties exchange wire-encoded updates through one in-memory
 * event queue ordered by (time, sequence); effects are answered the way the node answers them
 * (train → `trained`, sign-entry → `entry-signed`, charge → `charged`, admit-update → `admitted`,
 * record → a one-slot chain that lands the first request at its turn and shows every later one
 * the record). Nothing here reads a clock.
 *
 *   - a fault-free round: every member's update ends collecting with no timer, member 0 records
 *     at its turn, the others see the record and announce; the aggregate is the weighted mean;
 *     each participant signs, charges and publishes in that order;
 *   - a participant that never sends (dropout): the committee collects until the deadline tick;
 *   - a member that drops out: the next position records at its turn;
 *   - an update after the collect deadline is left out and counted (ROUND_LATE_UPDATE);
 *   - a second, different update from one sender is refused with both digests as evidence;
 *   - a member whose record lost the race to another member's absorbs it (no announce, a warning);
 *   - an update refused at admission is left out of the record;
 *   - two runs of one schedule give the identical effect trace, bit for bit; another schedule does not;
 *   - property: for random schedules (dropouts, training times around the deadline, refusals), the
 *     record holds exactly the on-time, admitted updates of participants that sent one, its
 *     model is their weighted mean, and the schedule replays to the identical trace.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash256, toHex0x } from '../../protocol/bytes.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import { decodeUpdate, encodeUpdate } from '../../protocol/messages/update.js';
import type { ModelWeights } from '../../protocol/model.js';
import {
  createPlainRoundState,
  type PlainRoundConfig,
  type PlainRoundState,
  plainRoundDone,
  stepPlain,
} from '../../protocol/round-machine/index.js';
import { CommitteeStage } from '../../protocol/round.js';
import { describe as describeEffect } from '../../protocol/secure-aggregation/machine/simulation.js';
import type { DropoutPoint, RoundEffect, RoundEvent } from '../../protocol/secure-aggregation/machine/types.js';
import { modelHash } from '../../protocol/weights-codec.js';

const D = 4;
const GLOBAL: ModelWeights = { tensors: [{ shape: [D], data: new Float32Array(D) }] };
const HEAD = toHex0x(new Uint8Array(32).fill(7));
const OPENED_AT = 1_000;
const COLLECT_MS = 10_000;
const GRACE_MS = 1_000;
const DEADLINE = OPENED_AT + COLLECT_MS;
const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `peer-${i}`);

/** Weights on a 2^−8 grid, distinct per party. */
function weightsOf(i: number): ModelWeights {
  return { tensors: [{ shape: [D], data: Float32Array.from({ length: D }, (_, k) => (((i + 1) * 13 + k * 5) % 64) / 256) }] };
}

function configFor(id: string, members: readonly string[], committee: readonly string[], dropout?: DropoutPoint): PlainRoundConfig {
  return {
    mode: 'plaintext',
    plan: { round: 3, committee, collectDeadline: DEADLINE },
    timing: { collectMs: COLLECT_MS, recordGraceMs: GRACE_MS },
    self: id,
    members,
    position: committee.indexOf(id),
    head: HEAD,
    global: GLOBAL,
    sampleCount: 10 + members.indexOf(id),
    dropout,
    signsEntry: true,
    charges: true,
    admits: true,
  };
}

interface Schedule {
  readonly n: number;
  readonly m: number;
  readonly dropout?: Readonly<Record<string, DropoutPoint>>;
  /** When a party's training completes (default: at once). */
  readonly trainedAt?: Readonly<Record<string, number>>;
  /** Parties whose record line admission refuses. */
  readonly refuse?: readonly string[];
}

type Pending = RoundEvent extends infer E ? (E extends { now: number } ? Omit<E, 'now'> : never) : never;

/** Run one round under `s`; returns every state, the trace (one line per effect, with its party and time) and the chain. */
function simulate(s: Schedule) {
  const members = ids(s.n);
  const committee = members.slice(0, s.m);
  const states = new Map<string, PlainRoundState>();
  for (const id of members) {
    states.set(id, createPlainRoundState(configFor(id, members, committee, s.dropout?.[id]), { participant: true, committee: true }));
  }
  const queue: { at: number; seq: number; to: string; event: Pending }[] = [];
  let seq = 0;
  const post = (at: number, to: string, event: Pending): void => {
    queue.push({ at, seq: seq++, to, event });
  };
  const trace: string[] = [];
  const effects = new Map<string, RoundEffect[]>(members.map((id) => [id, []]));
  let chain: { hash: Hex32; by: string; at: number } | undefined;
  const awaiting = new Map<string, number>();
  const wakes = new Map<string, number>();
  let now = OPENED_AT;

  const handle = (id: string, out: readonly RoundEffect[]): void => {
    for (const e of out) {
      trace.push(`${now} ${id} ${describeEffect(e)}`);
      effects.get(id)!.push(e);
      const i = members.indexOf(id);
      switch (e.type) {
        case 'train':
          post(s.trainedAt?.[id] ?? now, id, { type: 'trained', result: { loss: i / 10, weights: () => weightsOf(i) } });
          break;
        case 'sign-entry':
          post(now, id, { type: 'entry-signed', signature: new Uint8Array(65).fill(i + 1) });
          break;
        case 'charge':
          post(now, id, { type: 'charged' });
          break;
        case 'publish-update': {
          const update = decodeUpdate(e.payload, GLOBAL);
          for (const to of members)
            if (to !== id)
              post(now, to, {
                type: 'received',
                messages: [],
                inputs: [],
                updates: [{ sender: id, payloadHash: hash256(e.payload), update }],
              });
          break;
        }
        case 'admit-update':
          post(now, id, {
            type: 'admitted',
            participant: e.participant,
            refusal: s.refuse?.includes(e.participant) ? 'NOT_MEMBER' : undefined,
          });
          break;
        case 'record': {
          // node/services/federation-recorder.ts: position 0 submits at once, position k at its turn.
          const due = e.request.position === 0 ? now : now + e.request.turnDelayMs;
          if (chain !== undefined) post(now, id, { type: 'recorded', recorded: false, modelHash: chain.hash });
          else awaiting.set(id, due);
          post(due, id, { type: 'tick' });
          break;
        }
        case 'wake':
          wakes.set(id, e.at);
          post(e.at, id, { type: 'tick' });
          break;
        default:
          break;
      }
    }
  };
  const deliver = (id: string, event: Pending): void => {
    const st = states.get(id)!;
    if (plainRoundDone(st)) return;
    handle(id, stepPlain(st, { ...event, now } as RoundEvent).effects);
  };
  /** The one-slot chain: the earliest due request lands; every other member is shown the record. */
  const settleChain = (): void => {
    for (const [id, due] of [...awaiting].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))) {
      if (chain === undefined && due <= now) {
        const req = effects.get(id)!.findLast((e) => e.type === 'record');
        chain = { hash: req!.type === 'record' ? req!.request.modelHash : HEAD, by: id, at: now };
        awaiting.delete(id);
        post(now, id, { type: 'recorded', recorded: true, modelHash: chain.hash });
      } else if (chain !== undefined) {
        awaiting.delete(id);
        post(now, id, { type: 'recorded', recorded: false, modelHash: chain.hash });
      }
    }
  };

  for (const id of members) deliver(id, { type: 'start' });
  for (let guard = 0; guard < 10_000 && queue.length > 0; guard++) {
    queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = queue.shift()!;
    now = Math.max(now, next.at);
    settleChain();
    if (next.event.type === 'tick') {
      // Only the tick the machine last asked for is a wake; the chain's own ticks just settle it.
      if (wakes.get(next.to) !== next.at) continue;
      wakes.delete(next.to);
    }
    deliver(next.to, next.event);
  }
  return { states, trace, effects, chain, committee, members };
}

const typesOf = (es: readonly RoundEffect[]) => es.map((e) => e.type).filter((t) => t !== 'log' && t !== 'wake' && t !== 'count');

/** Σ n_i·w_i / Σ n_i over `parties` (indices), computed independently of protocol/fedavg.ts. */
function weightedMean(parties: readonly number[]): number[] {
  let total = 0;
  const acc = new Array<number>(D).fill(0);
  for (const i of parties) {
    const n = 10 + i;
    total += n;
    const w = weightsOf(i).tensors[0]!.data;
    for (let k = 0; k < D; k++) acc[k]! += n * w[k]!;
  }
  return acc.map((x) => x / total);
}

function announced(effects: readonly RoundEffect[]): Uint8Array | undefined {
  const a = effects.find((e) => e.type === 'announce');
  return a?.type === 'announce' ? a.payload : undefined;
}

describe('plaintext round machine (protocol/round-machine)', () => {
  it('fault-free: collects without a timer, member 0 records, the others announce the same aggregate', () => {
    const { states, effects, chain, committee, members } = simulate({ n: 5, m: 3 });
    // Every participant: train, sign its entry, charge its ledger immediately before its update leaves.
    for (const id of members) expect(typesOf(effects.get(id)!).slice(0, 4)).toEqual(['train', 'sign-entry', 'charge', 'publish-update']);
    expect(chain?.by).toBe(committee[0]);
    // No member waited for the collect deadline: all five updates ended collecting.
    expect(chain!.at).toBe(OPENED_AT);
    const record = effects.get(committee[0]!)!.find((e) => e.type === 'record');
    if (record?.type !== 'record') throw new Error('no record effect');
    expect(record.request.contributors).toEqual(members);
    expect(record.request.turnDelayMs).toBe(DEADLINE - OPENED_AT);
    expect([...record.request.sampleCounts!.values()]).toEqual([10, 11, 12, 13, 14]);
    expect(record.request.declarations.get('peer-2')?.entrySignature).toBe(toHex0x(new Uint8Array(65).fill(3)));
    const got = record.request.candidate!.tensors[0]!.data;
    const want = weightedMean([0, 1, 2, 3, 4]);
    for (let k = 0; k < D; k++) expect(got[k]).toBeCloseTo(want[k]!, 6);
    expect(toHex0x(modelHash(record.request.candidate!))).toBe(chain!.hash);
    // Every member announces the one aggregate; only member 0's path shows Recording.
    const payloads = committee.map((id) => toHex0x(announced(effects.get(id)!)!));
    expect(new Set(payloads).size).toBe(1);
    expect(states.get(committee[0]!)!.committee!.stages.path).toEqual([
      CommitteeStage.Collecting,
      CommitteeStage.Aggregating,
      CommitteeStage.Recording,
      CommitteeStage.Announcing,
      CommitteeStage.Done,
    ]);
    expect(states.get(committee[1]!)!.committee!.stages.path).toEqual([
      CommitteeStage.Collecting,
      CommitteeStage.Aggregating,
      CommitteeStage.Announcing,
      CommitteeStage.Done,
    ]);
    for (const id of committee) expect(states.get(id)!.committee!.outcome).toEqual({ kind: 'done', recorded: id === committee[0] });
    for (const id of members) expect(states.get(id)!.participant!.outcome).toEqual({ kind: 'done', trainLoss: members.indexOf(id) / 10 });
  });

  it('a participant that never sends: the committee collects until the deadline tick and aggregates the rest', () => {
    const { effects, chain, committee, members } = simulate({ n: 5, m: 3, dropout: { 'peer-4': 'after-keys' } });
    expect(typesOf(effects.get('peer-4')!)).not.toContain('publish-update');
    expect(effects.get(committee[0]!)!.some((e) => e.type === 'wake' && e.at === DEADLINE)).toBe(true);
    const record = effects.get(committee[0]!)!.find((e) => e.type === 'record');
    if (record?.type !== 'record') throw new Error('no record effect');
    expect(record.request.contributors).toEqual(members.slice(0, 4));
    const want = weightedMean([0, 1, 2, 3]);
    for (let k = 0; k < D; k++) expect(record.request.candidate!.tensors[0]!.data[k]).toBeCloseTo(want[k]!, 6);
    expect(chain?.by).toBe(committee[0]);
  });

  it('a committee member that drops out signs nothing; the next position records at its turn', () => {
    const { states, effects, chain, committee } = simulate({ n: 5, m: 3, dropout: { 'peer-0': 'after-input' } });
    expect(typesOf(effects.get('peer-0')!)).toContain('publish-update');
    expect(typesOf(effects.get('peer-0')!)).not.toContain('record');
    expect(states.get('peer-0')!.committee!.stages.path).toEqual([CommitteeStage.Collecting, CommitteeStage.Failed]);
    expect(chain?.by).toBe(committee[1]);
    expect(chain!.at).toBe(DEADLINE + GRACE_MS);
  });

  it('an update after the collect deadline is left out and counted', () => {
    // Member 0 drops out, so members 1 and 2 are still waiting for the record (position 1's turn
    // is one grace period after the deadline) when the late update arrives.
    const late = DEADLINE + GRACE_MS / 2;
    const { effects, chain, committee, members } = simulate({
      n: 5,
      m: 3,
      dropout: { 'peer-0': 'after-input' },
      trainedAt: { 'peer-3': late },
    });
    expect(typesOf(effects.get('peer-3')!)).toContain('publish-update');
    const record = effects.get(committee[1]!)!.find((e) => e.type === 'record');
    if (record?.type !== 'record') throw new Error('no record effect');
    expect(record.request.contributors).toEqual(members.filter((id) => id !== 'peer-3'));
    for (const id of committee.slice(1)) {
      expect(
        effects
          .get(id)!
          .filter((e) => e.type === 'count')
          .map((e) => (e.type === 'count' ? [e.code, e.detail.sender] : [])),
      ).toEqual([['ROUND_LATE_UPDATE', 'peer-3']]);
    }
    expect(chain).toEqual({ hash: record.request.modelHash, by: committee[1], at: DEADLINE + GRACE_MS });
  });

  it('an update refused at admission stays out of the record', () => {
    const { effects, committee, members } = simulate({ n: 5, m: 3, refuse: ['peer-1'] });
    const record = effects.get(committee[0]!)!.find((e) => e.type === 'record');
    if (record?.type !== 'record') throw new Error('no record effect');
    expect(record.request.contributors).toEqual(members.filter((id) => id !== 'peer-1'));
    expect(
      effects
        .get(committee[0]!)!
        .some((e) => e.type === 'log' && e.level === 'warn' && e.fields.participant === 'peer-1' && e.fields.reason === 'NOT_MEMBER'),
    ).toBe(true);
  });

  it('a second, different update from one sender is refused with both digests as evidence', () => {
    const members = ids(3);
    const cfg = { ...configFor('peer-0', members, members), admits: false };
    const st = createPlainRoundState(cfg, { committee: true });
    stepPlain(st, { type: 'start', now: OPENED_AT });
    const payloadOf = (i: number) => encodeUpdate({ baseModelHash: new Uint8Array(32).fill(7), sampleCount: 5, weights: weightsOf(i) });
    const receive = (now: number, sender: string, payload: Uint8Array) =>
      stepPlain(st, {
        type: 'received',
        now,
        messages: [],
        inputs: [],
        updates: [{ sender, payloadHash: hash256(payload), update: decodeUpdate(payload, GLOBAL) }],
      }).effects;
    const first = payloadOf(1);
    const second = payloadOf(2);
    expect(receive(OPENED_AT + 1, 'peer-1', first).filter((e) => e.type === 'count')).toEqual([]);
    const out = receive(OPENED_AT + 2, 'peer-1', second);
    const count = out.find((e) => e.type === 'count');
    expect(count).toEqual({
      type: 'count',
      code: 'UPDATE_EQUIVOCATION',
      detail: {
        kind: 'update',
        sender: 'peer-1',
        first: { sha256: toHex0x(hash256(first)).slice(2) },
        second: { sha256: toHex0x(hash256(second)).slice(2) },
      },
    });
    expect(out.some((e) => e.type === 'log' && e.level === 'warn' && e.fields.event === 'equivocation')).toBe(true);
    // The same update again is no equivocation.
    expect(receive(OPENED_AT + 3, 'peer-1', first).filter((e) => e.type === 'count')).toEqual([]);
    const rest = [...receive(OPENED_AT + 4, 'peer-0', payloadOf(0)), ...receive(OPENED_AT + 5, 'peer-2', payloadOf(3))];
    const record = rest.find((e) => e.type === 'record');
    if (record?.type !== 'record') throw new Error('no record effect');
    expect(record.request.contributors).toEqual(['peer-0', 'peer-1', 'peer-2']);
    // The first update is the one aggregated.
    expect(st.store.updates.get('peer-1')!.payloadHash).toEqual(hash256(first));
  });

  it('a member whose record lost the race absorbs the other record: no announce, a warning, done', () => {
    const members = ids(3);
    const run = (recordedHash: (ours: Hex32) => Hex32) => {
      const st = createPlainRoundState({ ...configFor('peer-1', members, members), admits: false }, { committee: true });
      stepPlain(st, { type: 'start', now: OPENED_AT });
      const updates = members.map((sender, i) => {
        const payload = encodeUpdate({ baseModelHash: new Uint8Array(32).fill(7), sampleCount: 5, weights: weightsOf(i) });
        return { sender, payloadHash: hash256(payload), update: decodeUpdate(payload, GLOBAL) };
      });
      const { effects } = stepPlain(st, { type: 'received', now: OPENED_AT + 10, messages: [], inputs: [], updates });
      const record = effects.find((e) => e.type === 'record');
      if (record?.type !== 'record') throw new Error('no record effect');
      // Position 1's turn: one grace period after the deadline.
      expect(record.request.turnDelayMs).toBe(DEADLINE + GRACE_MS - (OPENED_AT + 10));
      const after = stepPlain(st, { type: 'recorded', now: DEADLINE, recorded: false, modelHash: recordedHash(record.request.modelHash) });
      return { st, after: after.effects };
    };
    const other = toHex0x(new Uint8Array(32).fill(9));
    const lost = run(() => other);
    expect(lost.after.some((e) => e.type === 'announce')).toBe(false);
    expect(lost.after.some((e) => e.type === 'log' && e.level === 'warn' && e.fields.recorded === other)).toBe(true);
    expect(lost.st.committee!.outcome).toEqual({ kind: 'done', recorded: false });
    expect(lost.st.committee!.stages.path).toEqual([CommitteeStage.Collecting, CommitteeStage.Aggregating, CommitteeStage.Done]);
    // Another member recorded the same aggregate: this one announces it too.
    const same = run((ours) => ours);
    expect(same.after.some((e) => e.type === 'announce')).toBe(true);
    expect(same.st.committee!.outcome).toEqual({ kind: 'done', recorded: false });
  });

  it('an effect answer out of its stage is a typed STAGE_UNEXPECTED', () => {
    const members = ids(3);
    const st = createPlainRoundState(configFor('peer-1', members, members), { committee: true });
    stepPlain(st, { type: 'start', now: OPENED_AT });
    expect(() => stepPlain(st, { type: 'recorded', now: OPENED_AT, recorded: true, modelHash: HEAD })).toThrowError(
      expect.objectContaining({ code: 'STAGE_UNEXPECTED' }),
    );
  });

  it('replay: two runs of one schedule give the identical effect trace; another schedule does not', () => {
    const schedule: Schedule = {
      n: 6,
      m: 3,
      dropout: { 'peer-0': 'after-input', 'peer-5': 'after-keys' },
      trainedAt: { 'peer-4': DEADLINE + 1 },
    };
    const a = simulate(schedule);
    const b = simulate(schedule);
    expect(a.trace.length).toBeGreaterThan(20);
    expect(b.trace).toEqual(a.trace);
    expect(b.chain).toEqual(a.chain);
    const c = simulate({ ...schedule, trainedAt: { 'peer-4': DEADLINE - 1 } });
    expect(c.trace).not.toEqual(a.trace);
    expect(c.chain!.hash).not.toBe(a.chain!.hash);
  });

  it('property: the record holds exactly the on-time admitted updates, at their weighted mean, and replays', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 7 }),
        fc.array(
          fc.constantFrom<'ok' | 'after-keys' | 'after-input' | 'late' | 'refused'>(
            'ok',
            'ok',
            'after-keys',
            'after-input',
            'late',
            'refused',
          ),
          {
            minLength: 7,
            maxLength: 7,
          },
        ),
        fc.integer({ min: 1, max: 3 }),
        (n, fates, m) => {
          const members = ids(n);
          const dropout: Record<string, DropoutPoint> = {};
          const trainedAt: Record<string, number> = {};
          const refuse: string[] = [];
          members.forEach((id, i) => {
            const f = fates[i]!;
            if (f === 'after-keys' || f === 'after-input') dropout[id] = f;
            if (f === 'late') trainedAt[id] = DEADLINE + 1 + i;
            if (f === 'refused') refuse.push(id);
          });
          const schedule: Schedule = { n, m, dropout, trainedAt, refuse };
          const a = simulate(schedule);
          expect(simulate(schedule).trace).toEqual(a.trace);
          const honest = a.committee.filter((id) => dropout[id] === undefined);
          const sent = members.filter((_, i) => fates[i] !== 'after-keys' && fates[i] !== 'late' && fates[i] !== 'refused');
          if (honest.length === 0 || sent.length === 0) {
            expect(a.chain).toBeUndefined();
            return;
          }
          const recorder = a.chain!.by;
          expect(recorder).toBe(honest[0]);
          const record = a.effects.get(recorder)!.find((e) => e.type === 'record');
          if (record?.type !== 'record') throw new Error('no record effect');
          expect(record.request.contributors).toEqual(sent);
          const want = weightedMean(sent.map((id) => members.indexOf(id)));
          for (let k = 0; k < D; k++) expect(record.request.candidate!.tensors[0]!.data[k]).toBeCloseTo(want[k]!, 6);
          // Every honest member that saw the record announced the one aggregate.
          for (const id of honest) expect(announced(a.effects.get(id)!)).toBeDefined();
        },
      ),
      { numRuns: 60 },
    );
  });
});
