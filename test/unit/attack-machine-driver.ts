/**
 * Red-team driver for the node's secure round machine (protocol/secure-aggregation/machine/): N
 * parties driven only by `step`, exactly as machine/simulation.ts drives them (one FIFO queue of
 * wire-decoded messages, a manual clock that jumps to the earliest wake, effects answered at
 * once), with hooks where an attacker or the network acts: what each recipient receives of a
 * published input (`inputFor`: equivocation), messages injected at the start (`inject`), and
 * every effect seen before the default answer (`onEffect`: return true to answer it yourself,
 * e.g. hold an answer back with `ctl.hold`). Deterministic: seeded entropy and signatures.
 */
import { hash256, toHex0x } from '../../protocol/bytes.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import { decodeMaskedInput } from '../../protocol/messages/masked-input.js';
import { decodeSecAgg, encodeSecAgg, SecAggKind, type SecAggMessage } from '../../protocol/messages/secagg.js';
import type { ModelWeights } from '../../protocol/model.js';
import { parameterCount } from '../../protocol/model.js';
import {
  createRoundState,
  type ReceivedInput,
  type RoundEffect,
  type RoundEvent,
  type RoundMachineConfig,
  type RoundState,
  roundDone,
  type SecureRecordRequest,
  step,
} from '../../protocol/secure-aggregation/machine/index.js';
import { generateRoundKeys, ringWords, SecAggCommitteeMember, SecAggParticipant } from '../../protocol/secure-aggregation/index.js';
import { config, crypto, entropies, ids, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

export const D = 4;
export const GLOBAL: ModelWeights = { tensors: [{ shape: [D], data: new Float32Array(D) }] };
export const HEAD = toHex0x(new Uint8Array(32).fill(7));
export const ROUND = 7;

function weightsOf(i: number): ModelWeights {
  return { tensors: [{ shape: [D], data: Float32Array.from({ length: D }, (_, k) => ((((i + 1) * 37 + k * 11) % 200) - 100) / 1024) }] };
}

export interface Control {
  now(): number;
  push(to: string, event: RoundEvent): void;
  /** Deliver `event` to `to` once the clock reaches `at`. */
  hold(at: number, to: string, event: RoundEvent): void;
}

export interface DriveOptions {
  readonly seed: string;
  readonly n: number;
  readonly m: number;
  readonly t: number;
  /** Extra machine configuration (e.g. the F18 branch's `chargesLock`). */
  readonly extra?: Partial<RoundMachineConfig>;
  /** What `to` receives when `from` publishes `input` (default: `input`). */
  readonly inputFor?: (from: string, input: ReceivedInput, to: string) => ReceivedInput;
  /** Messages delivered to every party right after the start. */
  readonly inject?: readonly SecAggMessage[];
  /** Sees every effect first; true: the test answered it. */
  readonly onEffect?: (from: string, e: RoundEffect, ctl: Control) => boolean;
}

export interface Recorded {
  readonly member: string;
  readonly request: SecureRecordRequest;
}

export interface DriveResult {
  readonly parties: readonly string[];
  readonly committee: readonly string[];
  readonly records: readonly Recorded[];
  /** Reveal messages published, by sender. */
  readonly reveals: readonly string[];
  /** Error codes counted by the machines (`count` effects). */
  readonly codes: readonly string[];
  readonly states: ReadonlyMap<string, RoundState>;
}

export function driveRound(o: DriveOptions): DriveResult {
  const parties = ids(o.n);
  const committee = parties.slice(0, o.m);
  const cfgSecAgg = config({ committeeSize: o.m, threshold: o.t });
  const ctx = { binding: TEST_BINDING, federation: 'fed', round: ROUND, committee, threshold: o.t, config: cfgSecAgg };
  const words = ringWords(parameterCount(GLOBAL) + 1);
  const ent = entropies(o.seed);
  const states = new Map<string, RoundState>();
  parties.forEach((id, i) => {
    const entropy = ent(id);
    const sign = testSign(id);
    const keys = generateRoundKeys(crypto, entropy);
    const position = committee.indexOf(id);
    const member =
      position >= 0 ? new SecAggCommitteeMember(ctx, id, keys.encryption.secretKey, { crypto, sign, verify: testVerify }) : undefined;
    const participant = new SecAggParticipant(ctx, id, keys, { crypto, entropy, sign, verify: testVerify });
    states.set(
      id,
      createRoundState(
        {
          round: ROUND,
          self: id,
          committee,
          members: parties,
          threshold: o.t,
          position,
          openedAt: 1_000,
          keysMs: 2_000,
          collectDeadline: 11_000,
          recordGraceMs: 1_000,
          config: cfgSecAgg,
          head: HEAD,
          global: GLOBAL,
          sampleCount: 10 + i,
          dropout: undefined,
          committeeKeysKnown: false,
          signsEntry: false,
          charges: false,
          admits: false,
          sign,
          verify: testVerify,
          ...o.extra,
        },
        { participant, ...(member !== undefined ? { member } : {}), advert: participant.advertise() },
      ),
    );
  });
  const weights = new Map(parties.map((id, i) => [id, weightsOf(i)]));
  const queue: { to: string; event: RoundEvent }[] = [];
  const held: { at: number; to: string; event: RoundEvent }[] = [];
  const wakes = new Map<string, number>();
  const records: Recorded[] = [];
  const reveals: string[] = [];
  const codes: string[] = [];
  let now = 1_000;
  let recorded: { hash: Hex32; by: string } | undefined;
  const ctl: Control = {
    now: () => now,
    push: (to, event) => queue.push({ to, event }),
    hold: (at, to, event) => held.push({ at, to, event }),
  };
  const broadcast = (from: string, messages: readonly SecAggMessage[]): void => {
    for (const m of messages) {
      const bytes = encodeSecAgg(m);
      for (const to of states.keys())
        if (to !== from) queue.push({ to, event: { type: 'received', now, messages: [decodeSecAgg(bytes)], inputs: [] } });
    }
  };
  const handle = (from: string, effects: readonly RoundEffect[]): void => {
    for (const e of effects) {
      if (e.type === 'publish' && e.message.kind === SecAggKind.Reveal) reveals.push(from);
      if (e.type === 'count') codes.push(e.code);
      if (o.onEffect?.(from, e, ctl) === true) continue;
      switch (e.type) {
        case 'publish':
          broadcast(from, [e.message]);
          break;
        case 'publish-input': {
          const input: ReceivedInput = { sender: from, payloadHash: hash256(e.payload), input: decodeMaskedInput(e.payload, words) };
          for (const to of states.keys())
            if (to !== from)
              queue.push({ to, event: { type: 'received', now, messages: [], inputs: [o.inputFor?.(from, input, to) ?? input] } });
          break;
        }
        case 'train':
          queue.push({ to: from, event: { type: 'trained', now, result: { loss: 0, weights: () => weights.get(from)! } } });
          break;
        case 'sign-entry':
          queue.push({ to: from, event: { type: 'entry-signed', now, signature: new Uint8Array(65) } });
          break;
        case 'charge':
          queue.push({ to: from, event: { type: 'charged', now } });
          break;
        case 'admit':
          queue.push({ to: from, event: { type: 'admitted', now, participant: e.participant, refusal: undefined } });
          break;
        case 'record':
          records.push({ member: from, request: e.request });
          recorded ??= { hash: e.request.modelHash, by: from };
          queue.push({ to: from, event: { type: 'recorded', now, recorded: recorded.by === from, modelHash: recorded.hash } });
          break;
        case 'wake':
          wakes.set(from, e.at);
          break;
        default:
          break;
      }
    }
  };
  for (const [id, s] of states) handle(id, step(s, { type: 'start', now }).effects);
  if (o.inject !== undefined) for (const m of o.inject) broadcast(m.sender, [m]);
  for (let delivered = 0; ; ) {
    const next = queue.shift();
    if (next !== undefined) {
      if (++delivered > 1_000_000) throw new Error('driveRound: runaway');
      const s = states.get(next.to)!;
      if (!roundDone(s)) handle(next.to, step(s, next.event).effects);
      continue;
    }
    let at = Number.POSITIVE_INFINITY;
    for (const [id, w] of wakes) if (!roundDone(states.get(id)!)) at = Math.min(at, w);
    for (const h of held) at = Math.min(at, h.at);
    if (at === Number.POSITIVE_INFINITY) break;
    now = Math.max(now, at);
    for (const h of held.filter((x) => x.at <= now)) {
      held.splice(held.indexOf(h), 1);
      queue.push({ to: h.to, event: { ...h.event, now } as RoundEvent });
    }
    for (const [id, w] of [...wakes]) {
      if (w > now) continue;
      wakes.delete(id);
      const s = states.get(id)!;
      if (!roundDone(s)) handle(id, step(s, { type: 'tick', now }).effects);
    }
  }
  return { parties, committee, records, reveals, codes, states };
}
