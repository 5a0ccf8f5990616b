/**
 * The plaintext FedAvg strategy of the round machine: its configuration, its mirror of the
 * round inbox and its effect collector (issue 13, "The shape: one round core, pure"). The
 * event and effect vocabulary is the round machine's own (./types.ts `RoundEvent`, `RoundEffect`),
 * which the secure strategy speaks too: one machine, two strategies, one driver loop.
 */
import { hash256, toHex0x } from '../bytes.js';
import type { Hex32 } from '../chain/record.js';
import { encodeUpdate, type UpdatePayload } from '../messages/update.js';
import type { ModelWeights } from '../model.js';
import type { RoundPlan, RoundTiming } from '../round.js';
import type { DropoutPoint, LogLevel, ReceivedPlainUpdate, RoundEffect } from './types.js';

/** Everything the plaintext strategy needs to know about the round and this peer, fixed when it opens. */
export interface PlainRoundConfig {
  readonly mode: 'plaintext';
  /** The round's plan: its number, committee (position order) and collect deadline (protocol/round.ts). */
  readonly plan: RoundPlan;
  readonly timing: RoundTiming;
  readonly self: string;
  /** Every member of the federation this round: an update from each ends the collect wait early. */
  readonly members: readonly string[];
  /** This peer's committee position (−1: not on the committee). */
  readonly position: number;
  /** The ledger head this round builds on. */
  readonly head: Hex32;
  readonly global: ModelWeights;
  /**
   * The federation's server optimizer (protocol/server-optimizer.ts `serverStep`, bound to this
   * round's w_{t−1} and head): the round's plain average → the next model. Absent: FedAvg. It may
   * throw (SERVER_OPTIMIZER_PREVIOUS_MISSING: this member cannot aggregate and ends `thrown`).
   */
  readonly serverStep?: (average: ModelWeights) => ModelWeights;
  /** n_i this participant declares (protocol/privacy/public-statistics.ts `fedAvgWeight`). */
  readonly sampleCount: number;
  /** The federation's L2 bound on each update (defence.updateNormBound); undefined: none. */
  readonly updateNormBound?: number;
  readonly dropout: DropoutPoint | undefined;
  /** The node signs a ParticipantEntry for its update (`sign-entry` effect); false: 65 zero bytes. */
  readonly signsEntry: boolean;
  /** The node charges its privacy ledger right before the update leaves (`charge` effect). */
  readonly charges: boolean;
  /** The node checks each update's record line before the aggregate (`admit-update` effects). */
  readonly admits: boolean;
}

/**
 * What the machine has received this round: one update per sender, in arrival order (the round
 * inbox's rule, node/services/round-inbox.ts). A second, different update from one sender is
 * equivocation: refused, with both payload digests as evidence.
 */
export class PlainUpdateStore {
  readonly updates = new Map<string, ReceivedPlainUpdate>();

  /** Store `u`; the first of a sender's updates wins. */
  add(u: ReceivedPlainUpdate, out: PlainEmit): void {
    const prior = this.updates.get(u.sender);
    if (prior === undefined) {
      this.updates.set(u.sender, u);
      return;
    }
    const first = toHex0x(prior.payloadHash);
    const second = toHex0x(u.payloadHash);
    if (first === second) return;
    const evidence = { kind: 'update', sender: u.sender, first: { sha256: first.slice(2) }, second: { sha256: second.slice(2) } };
    out.count('UPDATE_EQUIVOCATION', evidence);
    out.log('warn', { event: 'equivocation', ...evidence }, `${u.sender} sent two different update messages for round ${out.round}`);
  }
}

/**
 * The effect collector one plaintext `step` writes to. Publishing an update also stores it in
 * the machine's store, as the round inbox stores what it publishes (gossip does not echo to self).
 */
export class PlainEmit {
  readonly effects: RoundEffect[] = [];

  constructor(
    readonly round: number,
    private readonly self: string,
    private readonly store: PlainUpdateStore,
  ) {}

  push(e: RoundEffect): void {
    this.effects.push(e);
  }

  publishUpdate(update: UpdatePayload): void {
    const payload = encodeUpdate(update);
    this.store.add({ sender: this.self, payloadHash: hash256(payload), update }, this);
    this.effects.push({ type: 'publish-update', payload });
  }

  /** A log record; `round` is always its first field. */
  log(level: LogLevel, fields: Record<string, unknown>, msg: string): void {
    this.effects.push({ type: 'log', level, fields: { round: this.round, ...fields }, msg });
  }

  count(code: string, detail: Record<string, unknown>): void {
    this.effects.push({ type: 'count', code, detail });
  }
}

/** What a plaintext stage function sees: the round, the store, the clock reading of this event, the effect sink. */
export interface PlainStageContext {
  readonly cfg: PlainRoundConfig;
  readonly store: PlainUpdateStore;
  readonly now: number;
  readonly out: PlainEmit;
}
