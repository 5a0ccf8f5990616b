/**
 * A whole secure round driven only by `step` (./step.ts): N parties, each with its own round
 * state (participant, committee member or both), exchanging wire-encoded messages through one
 * in-memory FIFO queue, on a manual clock. Effects the node would execute are answered here at
 * once: training returns the party's fixed weights, the "chain" records the first record request
 * it receives and (with `ledger`) charges the first lock a member asks it to charge (red team
 * F18: later requests for the same lock read that charge; for another lock, or when `ledger`
 * refuses, the answer is a refusal), every other request succeeds. Time moves only when the queue is empty and some
 * party asked to be woken: the clock jumps to the earliest `wake` (Lodestar's slot clock, in
 * miniature), and the parties due get a `tick`.
 *
 * Deterministic: the same options (seeded entropy and deterministic signatures) give the same
 * trace of effects, byte for byte. Used by test/unit/secagg-machine-sim.test.ts; the node's
 * driver (node/services/secure-round.ts) runs the same machine over the real inboxes and clock.
 */
import { hash256, toHex0x } from '../../bytes.js';
import type { Hex32 } from '../../chain/record.js';
import { decodeMaskedInput } from '../../messages/masked-input.js';
import { decodeSecAgg, encodeSecAgg } from '../../messages/secagg.js';
import type { ModelWeights } from '../../model.js';
import { parameterCount } from '../../model.js';
import { defaultKeySetGraceMs, SecAggCommitteeMember, validateKeySetGrace } from '../committee-member.js';
import type { SecAggConfig } from '../config.js';
import type { Entropy, IdentitySign, IdentityVerify, SecAggCrypto } from '../crypto.js';
import { SecAggParticipant } from '../participant.js';
import { ringWords } from '../ring.js';
import { createAdvert, generateRoundKeys, wipeRoundKeys } from '../round-keys.js';
import { createRoundState, type RoundState, roundDone, step } from './step.js';
import type { DropoutPoint, RoundEffect, RoundEvent } from './types.js';

export interface SimulatedParty {
  readonly id: string;
  /** Trains and contributes an input (false: an observer, e.g. a committee-only member). */
  readonly participates: boolean;
  /** The weights its training returns. */
  readonly weights?: ModelWeights;
  readonly sampleCount?: number;
  readonly dropout?: DropoutPoint;
}

export interface SimulationOptions {
  readonly binding: Uint8Array;
  readonly federation: string;
  readonly round: number;
  readonly config: SecAggConfig;
  /** The round's committee in position order. */
  readonly committee: readonly string[];
  readonly threshold: number;
  readonly parties: readonly SimulatedParty[];
  readonly global: ModelWeights;
  readonly head: Hex32;
  readonly crypto: SecAggCrypto;
  readonly entropy: (party: string) => Entropy;
  readonly sign: (party: string) => IdentitySign;
  readonly verify: IdentityVerify;
  readonly openedAt?: number;
  readonly keysMs?: number;
  readonly collectMs?: number;
  readonly recordGraceMs?: number;
  /** Δ of the key-set omission grace (committee-member.ts `CommitteeTiming`); default ⌊keysMs/2⌋. */
  readonly keySetGraceMs?: number;
  /** Safety bound on delivered events. */
  readonly maxEvents?: number;
  /**
   * A ledger that must charge the certified lock's U_3 before any member reveals (F18; the
   * machine's `chargesLock`): returns a refusal code for a charge it refuses (say, a participant
   * over its cap), undefined to charge it. Absent: no ledger, members reveal once certified.
   */
  readonly ledger?: (lock: Hex32, contributors: readonly string[]) => string | undefined;
}

export interface SimulationResult {
  /** Every effect, in execution order, as `time party effect`: equal traces mean a bit-for-bit replay. */
  readonly trace: readonly string[];
  readonly states: ReadonlyMap<string, RoundState>;
  /** Ticks delivered (0: no party ever waited on a timer). */
  readonly ticks: number;
  /** The model hash the "chain" recorded, if any. */
  readonly recorded?: Hex32;
  /** The lock and U_3 the ledger charged (with `ledger`), if any. */
  readonly charged?: { readonly lock: Hex32; readonly contributors: readonly string[] };
  /** The clock when the queue ran dry. */
  readonly endedAt: number;
}

export function simulateRound(o: SimulationOptions): SimulationResult {
  const openedAt = o.openedAt ?? 0;
  const keysMs = o.keysMs ?? 1_000;
  const collectDeadline = openedAt + (o.collectMs ?? 10_000);
  const recordGraceMs = o.recordGraceMs ?? 1_000;
  const timing = validateKeySetGrace(o.keySetGraceMs ?? defaultKeySetGraceMs(keysMs), keysMs);
  const scope = { binding: o.binding, federation: o.federation, round: o.round };
  const ctx = { ...scope, committee: o.committee, threshold: o.threshold, config: o.config };
  const members = o.parties.map((p) => p.id);
  const words = ringWords(parameterCount(o.global) + 1);
  const states = new Map<string, RoundState>();
  const byId = new Map(o.parties.map((p) => [p.id, p]));

  for (const party of o.parties) {
    const { id } = party;
    const entropy = o.entropy(id);
    const sign = o.sign(id);
    const keys = generateRoundKeys(o.crypto, entropy);
    const position = o.committee.indexOf(id);
    const member =
      position >= 0
        ? new SecAggCommitteeMember(ctx, id, keys.encryption.secretKey, { crypto: o.crypto, sign, verify: o.verify }, timing)
        : undefined;
    const participant = party.participates
      ? new SecAggParticipant(ctx, id, keys, { crypto: o.crypto, entropy, sign, verify: o.verify })
      : undefined;
    const advert = participant?.advertise() ?? createAdvert(scope, id, keys, sign, false);
    if (participant === undefined) wipeRoundKeys(keys);
    const state = createRoundState(
      {
        round: o.round,
        self: id,
        committee: o.committee,
        members,
        threshold: o.threshold,
        position,
        openedAt,
        keysMs,
        collectDeadline,
        recordGraceMs,
        config: o.config,
        head: o.head,
        global: o.global,
        sampleCount: party.sampleCount ?? 1,
        dropout: party.dropout,
        committeeKeysKnown: false,
        signsEntry: false,
        charges: false,
        admits: false,
        chargesLock: o.ledger !== undefined,
        sign,
        verify: o.verify,
      },
      { ...(participant !== undefined ? { participant } : {}), ...(member !== undefined ? { member } : {}), advert },
    );
    states.set(id, state);
  }

  const trace: string[] = [];
  const queue: { to: string; event: RoundEvent }[] = [];
  const wakes = new Map<string, number>();
  let now = openedAt;
  let ticks = 0;
  let recorded: { hash: Hex32; by: string } | undefined;
  let charged: { lock: Hex32; contributors: readonly string[] } | undefined;

  const handle = (from: string, effects: readonly RoundEffect[]): void => {
    for (const e of effects) {
      trace.push(`${now} ${from} ${describe(e)}`);
      switch (e.type) {
        case 'publish': {
          const bytes = encodeSecAgg(e.message);
          for (const to of states.keys())
            if (to !== from) queue.push({ to, event: { type: 'received', now, messages: [decodeSecAgg(bytes)], inputs: [] } });
          break;
        }
        case 'publish-input': {
          const input = { sender: from, payloadHash: hash256(e.payload), input: decodeMaskedInput(e.payload, words) };
          for (const to of states.keys())
            if (to !== from) queue.push({ to, event: { type: 'received', now, messages: [], inputs: [input] } });
          break;
        }
        case 'train': {
          const party = byId.get(from)!;
          const weights = party.weights ?? o.global;
          queue.push({ to: from, event: { type: 'trained', now, result: { loss: 0, weights: () => weights } } });
          break;
        }
        case 'sign-entry':
          queue.push({ to: from, event: { type: 'entry-signed', now, signature: new Uint8Array(65) } });
          break;
        case 'charge':
          queue.push({ to: from, event: { type: 'charged', now } });
          break;
        case 'admit':
          queue.push({ to: from, event: { type: 'admitted', now, participant: e.participant, refusal: undefined } });
          break;
        case 'charge-lock': {
          const { lock, contributors } = e.request;
          const refused = charged === undefined ? o.ledger?.(lock, contributors) : undefined;
          if (charged === undefined && refused === undefined) charged = { lock, contributors: [...contributors] };
          const refusal =
            refused !== undefined
              ? { code: refused, message: `the ledger refused the charge (${refused})` }
              : charged!.lock !== lock
                ? { code: 'CHAIN_CHARGE_MISMATCH', message: `lock ${charged!.lock} was charged` }
                : undefined;
          queue.push({ to: from, event: { type: 'lock-charged', now, lock, ...(refusal !== undefined ? { refusal } : {}) } });
          break;
        }
        case 'record':
          recorded ??= { hash: e.request.modelHash, by: from };
          queue.push({ to: from, event: { type: 'recorded', now, recorded: recorded.by === from, modelHash: recorded.hash } });
          break;
        case 'wake':
          wakes.set(from, e.at);
          break;
        case 'announce':
        case 'log':
        case 'count':
          break;
      }
    }
  };

  for (const [id, s] of states) handle(id, step(s, { type: 'start', now }).effects);
  let delivered = 0;
  const maxEvents = o.maxEvents ?? 1_000_000;
  for (;;) {
    const next = queue.shift();
    if (next !== undefined) {
      if (++delivered > maxEvents) throw new Error(`simulation exceeded ${maxEvents} events`);
      const s = states.get(next.to)!;
      if (!roundDone(s)) handle(next.to, step(s, next.event).effects);
      continue;
    }
    // The queue is dry: move the clock to the earliest wake of a party still running.
    let at = Number.POSITIVE_INFINITY;
    for (const [id, t] of wakes) if (!roundDone(states.get(id)!)) at = Math.min(at, t);
    if (at === Number.POSITIVE_INFINITY) break;
    now = Math.max(now, at);
    for (const [id, t] of [...wakes]) {
      if (t > now) continue;
      wakes.delete(id);
      const s = states.get(id)!;
      if (roundDone(s)) continue;
      ticks++;
      handle(id, step(s, { type: 'tick', now }).effects);
    }
  }
  return {
    trace,
    states,
    ticks,
    ...(recorded !== undefined ? { recorded: recorded.hash } : {}),
    ...(charged !== undefined ? { charged } : {}),
    endedAt: now,
  };
}

/** One effect as a canonical line: messages and payloads by their SHA-256, logs as sorted JSON. */
export function describe(e: RoundEffect): string {
  switch (e.type) {
    case 'publish':
      return `publish kind=${e.message.kind} ${toHex0x(hash256(encodeSecAgg(e.message)))}`;
    case 'publish-input':
    case 'publish-update':
    case 'announce':
      return `${e.type} ${toHex0x(hash256(e.payload))}`;
    case 'train':
      return 'train';
    case 'sign-entry':
    case 'charge':
      return `${e.type} ${e.dpParams}`;
    case 'admit':
    case 'admit-update':
      return `${e.type} ${e.participant}`;
    case 'charge-lock':
      return `charge-lock ${e.request.lock} turnDelay=${e.request.turnDelayMs} ${e.request.contributors.join(',')}`;
    case 'record':
      return `record ${e.request.modelHash} ${e.request.aggregateHash} turnDelay=${e.request.turnDelayMs} ${e.request.contributors.join(',')}${
        e.request.sampleCounts !== undefined ? ` n=${[...e.request.sampleCounts.values()].join(',')}` : ''
      }`;
    case 'log':
      return `log ${e.level} ${e.msg} ${canonical(e.fields)}`;
    case 'count':
      return `count ${e.code} ${canonical(e.detail)}`;
    case 'wake':
      return `wake ${e.at}`;
  }
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return `${x}n`;
    if (x instanceof Uint8Array) return toHex0x(x);
    if (x !== null && typeof x === 'object' && !Array.isArray(x))
      return Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)));
    return x;
  });
}
