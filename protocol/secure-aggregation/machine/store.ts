/**
 * What the machine has received this round — its mirror of the node's inboxes — and the
 * feeder that offers each stored message to a role object once, counting the protocol errors
 * it raises (the old node/services/secure-round.ts `Feeder`, unchanged in behaviour).
 *
 * Messages are stored per kind and slot in arrival order, exactly as the secagg inbox stores
 * them (node/services/secagg-inbox.ts `slotOf`): one per (kind, sender), key-set endorsements
 * per (sender, digest), key-set proposals per (sender, turn) (H8 F6), complaints per (sender,
 * accused), lock refusals and releases per (sender, digest). A second message in a slot
 * is ignored (the inbox refused it already, or it is the node echoing what we published).
 * Masked inputs are one per sender.
 */
import { toHex0x } from '../../bytes.js';
import { type FedmeshError, isFedmeshError } from '../../errors.js';
import { SecAggKind, type SecAggMessage } from '../../messages/secagg.js';
import type { Emit } from './emit.js';
import type { ReceivedInput } from './types.js';

/** Where a message is stored (node/services/secagg-inbox.ts `slotOf`, the same rule). */
export function slotOf(m: SecAggMessage): string {
  if (m.kind === SecAggKind.KeySetEndorse) return `${m.sender}/${toHex0x(m.digest)}`;
  if (m.kind === SecAggKind.KeySetProposal) return `${m.sender}/turn/${m.turn}`;
  // Liveness evidence (committee-member.ts): one complaint per (member, accused), one refusal per
  // (member, lock digest), one release per (member, lock digest it endorses).
  if (m.kind === SecAggKind.Complaint) return `${m.sender}/${m.accused}`;
  if (m.kind === SecAggKind.LockRefuse || m.kind === SecAggKind.LockRelease) return `${m.sender}/${toHex0x(m.digest)}`;
  return m.sender;
}

export class ReceivedStore {
  private readonly byKind = new Map<SecAggKind, Map<string, SecAggMessage>>();
  readonly inputs = new Map<string, ReceivedInput>();

  /** `threshold`: how many committee members' agreeing Results mean the round was recorded (t). */
  constructor(private readonly threshold = 1) {}

  /** Store `m`; false when its slot is taken (already held). */
  add(m: SecAggMessage): boolean {
    let slots = this.byKind.get(m.kind);
    if (slots === undefined) {
      slots = new Map();
      this.byKind.set(m.kind, slots);
    }
    const slot = slotOf(m);
    if (slots.has(slot)) return false;
    slots.set(slot, m);
    return true;
  }

  addInput(x: ReceivedInput): boolean {
    if (this.inputs.has(x.sender)) return false;
    this.inputs.set(x.sender, x);
    return true;
  }

  messages<K extends SecAggKind>(kind: K): Extract<SecAggMessage, { kind: K }>[] {
    const slots = this.byKind.get(kind);
    return slots === undefined ? [] : ([...slots.values()] as Extract<SecAggMessage, { kind: K }>[]);
  }

  count(kind: SecAggKind): number {
    return this.byKind.get(kind)?.size ?? 0;
  }

  has(kind: SecAggKind, sender: string): boolean {
    return this.byKind.get(kind)?.has(sender) === true;
  }

  /**
   * The round was recorded without waiting for us (a peer that lags under load): t distinct
   * committee members signed one result statement. Every wait ends on it. One member's word is
   * not enough (red team F22: a single signed Result, backed by no record, ended every honest
   * member's round before any reveal); t agreeing members include at least t − c honest ones,
   * who sign a result only after the record landed (committee-stages.ts `onRecorded`).
   */
  get resultSeen(): boolean {
    const results = this.messages(SecAggKind.Result);
    if (results.length < this.threshold) return false;
    const agreeing = new Map<string, number>();
    for (const r of results) {
      const key =
        [r.result.prevModelHash, r.result.modelHash, r.result.participantsHash].map((b) => toHex0x(b)).join('/') +
        `/${r.result.totalSamples}`;
      const n = (agreeing.get(key) ?? 0) + 1;
      if (n >= this.threshold) return true;
      agreeing.set(key, n);
    }
    return false;
  }
}

/** Offers stored messages to a role once each (per role: each role has its own feeder). */
export class Feeder {
  private readonly fed = new Map<SecAggKind, Set<string>>();
  /** SECAGG_CANNOT_FOLLOW refusals not (yet) resolved, by kind/slot. */
  private readonly pending = new Map<string, FedmeshError<string>>();

  constructor(private readonly store: ReceivedStore) {}

  private fedOf(kind: SecAggKind): Set<string> {
    let done = this.fed.get(kind);
    if (done === undefined) {
      done = new Set();
      this.fed.set(kind, done);
    }
    return done;
  }

  /** Count and log the refusals still pending: this member could never verify those proposals. */
  countPending(out: Emit): void {
    for (const [key, e] of this.pending) {
      out.count(e.code, { key, error: e.message });
      out.log(
        'warn',
        { code: e.code, ...e.fields },
        'secure aggregation: could not verify a proposal (material never arrived); not endorsed',
      );
    }
    this.pending.clear();
  }

  /**
   * Like `feed`, but a message whose handler throws one of `retryOn` is offered again on the
   * next call (its missing material may arrive); other errors are counted once.
   */
  feedRetrying<K extends SecAggKind>(
    out: Emit,
    kind: K,
    retryOn: readonly string[],
    fn: (m: Extract<SecAggMessage, { kind: K }>) => void,
  ): void {
    const done = this.fedOf(kind);
    for (const m of this.store.messages(kind)) {
      const slot = slotOf(m);
      if (done.has(slot)) continue;
      try {
        fn(m);
        done.add(slot);
        this.pending.delete(`${kind}/${slot}`);
      } catch (e) {
        if (!isFedmeshError(e)) throw e;
        if (retryOn.includes(e.code)) {
          // Offered again as material arrives; a refusal still pending when this member gives up
          // is counted then (`countPending`), so a transient gossip race is not an error.
          if (e.code === 'SECAGG_CANNOT_FOLLOW') this.pending.set(`${kind}/${slot}`, e);
          continue;
        }
        this.pending.delete(`${kind}/${slot}`);
        done.add(slot);
        out.count(e.code, { kind, sender: m.sender, error: e.message, ...e.fields });
        out.log('warn', { code: e.code, sender: m.sender, ...e.fields }, `secure aggregation: refused (${e.message})`);
      }
    }
  }

  feed<K extends SecAggKind>(out: Emit, kind: K, fn: (m: Extract<SecAggMessage, { kind: K }>) => void): void {
    const done = this.fedOf(kind);
    for (const m of this.store.messages(kind)) {
      const slot = slotOf(m);
      if (done.has(slot)) continue;
      done.add(slot);
      try {
        fn(m);
      } catch (e) {
        if (!isFedmeshError(e)) throw e;
        out.count(e.code, { kind, sender: m.sender, error: e.message });
      }
    }
  }
}
