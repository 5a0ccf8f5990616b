/**
 * The effect collector one `step` writes to. Publishing also stores the message in the
 * machine's own mirror of the inbox, as the node's inboxes store what they publish (gossip
 * does not echo to self): a member's own proposal, endorsement or reveal counts for it at once,
 * and a peer that is participant and member sees its own input.
 */
import { hash256 } from '../../bytes.js';
import { encodeMaskedInput, type MaskedInputPayload } from '../../messages/masked-input.js';
import type { SecAggMessage } from '../../messages/secagg.js';
import type { ReceivedStore } from './store.js';
import type { LogLevel, RoundEffect } from './types.js';

export class Emit {
  readonly effects: RoundEffect[] = [];

  constructor(
    private readonly round: number,
    private readonly self: string,
    private readonly store: ReceivedStore,
  ) {}

  push(e: RoundEffect): void {
    this.effects.push(e);
  }

  publish(message: SecAggMessage): void {
    this.store.add(message);
    this.effects.push({ type: 'publish', message });
  }

  publishInput(input: MaskedInputPayload): void {
    const payload = encodeMaskedInput(input);
    this.store.addInput({ sender: this.self, payloadHash: hash256(payload), input });
    this.effects.push({ type: 'publish-input', payload });
  }

  /** A log record; `round` is always its first field, as every record of the old driver. */
  log(level: LogLevel, fields: Record<string, unknown>, msg: string): void {
    this.effects.push({ type: 'log', level, fields: { round: this.round, ...fields }, msg });
  }

  count(code: string, detail: Record<string, unknown>): void {
    this.effects.push({ type: 'count', code, detail });
  }
}
