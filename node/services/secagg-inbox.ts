/**
 * SecAggInbox: the secure-aggregation control topic `/fedmesh/<federation>/secagg/1`.
 * Validates every message (protocol/validate.ts `validateSecAggMessage`: decode, federation,
 * round window, sender = gossip signer, membership, committee role, signatures), stores the
 * accepted ones per round, kind and sender in arrival order, and publishes ours.
 *
 * One message per (round, kind, sender): the same bytes again are a replay, IGNOREd at the
 * pipeline's last step (`MSG_REPLAY`); a different message is equivocation and is REJECTed
 * (`SECAGG_EQUIVOCATION`) after the pipeline, as a second different update is on the update
 * topic, and both message digests are logged as evidence (`event: 'equivocation'`).
 * Lock proposals are one per proposer, too. Key-set messages are the exception (H8 F6,
 * protocol/secure-aggregation/certify.ts): a member endorses one key set per turn and a leader
 * proposes once per turn it leads, so endorsements are kept per (sender, digest) and proposals per
 * (sender, turn), at most m of each per sender and round (a bound on memory, not on safety).
 * Liveness evidence likewise: complaints per (sender, accused) (≤ MAX_PARTICIPANTS), lock
 * refusals and releases per (sender, digest) (≤ m).
 */
import { bytesEqual, hash256, toHex0x } from '../../protocol/bytes.js';
import { MAX_PARTICIPANTS } from '../../protocol/messages/limits.js';
import { encodeSecAgg, SecAggKind, type SecAggMessage } from '../../protocol/messages/secagg.js';
import { topicFor } from '../../protocol/messages/topics.js';
import type { IdentityVerify } from '../../protocol/secure-aggregation/crypto.js';
import { validateSecAggMessage } from '../../protocol/validate.js';
import { ACCEPT, reject, type Verdict } from '../../protocol/verdict.js';
import type { Logger } from '../logger.js';
import type { Gossip, GossipMessage } from '../net/gossip.js';
import { ChangeNotifier } from './change-notifier.js';
import { type EquivocationEvidence, recordEquivocation } from './round-inbox.js';

export interface SecAggInboxInit {
  /** The deployment every secagg signature is bound to (`deploymentBindingBytes`). */
  readonly binding: Uint8Array;
  readonly federation: string;
  readonly isMember: (peer: string) => boolean;
  /** The secure-aggregation committee of `round`, in position order. */
  readonly committee: (round: number) => readonly string[];
  readonly verify: IdentityVerify;
  /** Shared with the round inbox so waits can span both. */
  readonly notifier?: ChangeNotifier;
  /** Where equivocation evidence is logged (structured records). */
  readonly log?: Logger;
}

interface Stored {
  readonly message: SecAggMessage;
  readonly hash: Uint8Array;
  readonly bytes: number;
}

type ByKind = Map<SecAggKind, Map<string, Stored>>;

/**
 * Where a message is stored: its sender; (sender, digest) for key-set endorsements and (sender,
 * turn) for key-set proposals — a member endorses one key set per turn and a leader proposes once
 * per turn it leads (H8 F6).
 */
export function slotOf(m: SecAggMessage): string {
  if (m.kind === SecAggKind.KeySetEndorse) return `${m.sender}/${toHex0x(m.digest)}`;
  if (m.kind === SecAggKind.KeySetProposal) return `${m.sender}/turn/${m.turn}`;
  // Liveness evidence (committee-member.ts): one complaint per (member, accused), one refusal per
  // (member, lock digest), one release per (member, lock digest it endorses).
  if (m.kind === SecAggKind.Complaint) return `${m.sender}/${m.accused}`;
  if (m.kind === SecAggKind.LockRefuse || m.kind === SecAggKind.LockRelease) return `${m.sender}/${toHex0x(m.digest)}`;
  return m.sender;
}

/** How many messages of a kind one sender may keep per round (undefined: one). */
function perSenderLimit(kind: SecAggKind, committeeSize: number): number | undefined {
  if (kind === SecAggKind.KeySetEndorse || kind === SecAggKind.KeySetProposal) return committeeSize;
  if (kind === SecAggKind.LockRefuse || kind === SecAggKind.LockRelease) return committeeSize;
  if (kind === SecAggKind.Complaint) return MAX_PARTICIPANTS;
  return undefined;
}

export class SecAggInbox {
  readonly topic: string;
  readonly notifier: ChangeNotifier;
  /** Equivocation evidence seen by this inbox, oldest first (bounded; the log has every record). */
  readonly evidence: EquivocationEvidence[] = [];
  private current = 1;
  private readonly rounds = new Map<number, ByKind>();

  constructor(
    private readonly gossip: Gossip,
    private readonly init: SecAggInboxInit,
  ) {
    this.topic = topicFor(init.federation, 'secagg');
    this.notifier = init.notifier ?? new ChangeNotifier();
  }

  start(): void {
    this.gossip.subscribe(
      this.topic,
      (m) => this.onMessage(m),
      () => {},
    );
  }

  stop(): void {
    this.gossip.unsubscribe(this.topic);
  }

  /** Move to `round`, forgetting rounds before `round − 1` (the last round's results stay). */
  setRound(round: number): void {
    this.current = round;
    for (const r of this.rounds.keys()) if (r < round - 1) this.rounds.delete(r);
  }

  /** Accepted messages of one kind for `round`, in arrival order. */
  messages<K extends SecAggKind>(round: number, kind: K): Extract<SecAggMessage, { kind: K }>[] {
    const m = this.rounds.get(round)?.get(kind);
    return m === undefined ? [] : [...m.values()].map((s) => s.message as Extract<SecAggMessage, { kind: K }>);
  }

  count(round: number, kind: SecAggKind): number {
    return this.rounds.get(round)?.get(kind)?.size ?? 0;
  }

  has(round: number, kind: SecAggKind, sender: string): boolean {
    return this.rounds.get(round)?.get(kind)?.has(sender) === true;
  }

  /** Publish our own message and store it locally (gossip does not echo to self). */
  async publish(m: SecAggMessage): Promise<void> {
    const bytes = encodeSecAgg(m);
    this.store(m, hash256(bytes), bytes.length);
    await this.gossip.publish(this.topic, bytes);
  }

  private onMessage(g: GossipMessage): Verdict {
    const { verdict, message } = validateSecAggMessage(g.data, g.from, {
      binding: this.init.binding,
      federation: this.init.federation,
      currentRound: this.current,
      isMember: this.init.isMember,
      committee: this.init.committee,
      verify: this.init.verify,
      isReplay: (m, data) => {
        const prior = this.rounds.get(m.round)?.get(m.kind)?.get(slotOf(m));
        return prior !== undefined && bytesEqual(prior.hash, hash256(data));
      },
    });
    if (message === undefined) return verdict;
    return this.store(message, hash256(g.data), g.data.length);
  }

  private store(m: SecAggMessage, hash: Uint8Array, bytes: number): Verdict {
    let byKind = this.rounds.get(m.round);
    if (byKind === undefined) {
      byKind = new Map();
      this.rounds.set(m.round, byKind);
    }
    let bySender = byKind.get(m.kind);
    if (bySender === undefined) {
      bySender = new Map();
      byKind.set(m.kind, bySender);
    }
    const slot = slotOf(m);
    const prior = bySender.get(slot);
    const limit = perSenderLimit(m.kind, this.init.committee(m.round).length);
    if (prior === undefined && limit !== undefined) {
      let fromSender = 0;
      for (const s of bySender.values()) if (s.message.sender === m.sender) fromSender++;
      if (fromSender >= limit) return reject('SECAGG_DUPLICATE');
    }
    if (prior !== undefined) {
      if (bytesEqual(prior.hash, hash)) return ACCEPT;
      recordEquivocation(this.evidence, this.init.log, {
        kind: `secagg-${SecAggKind[m.kind]}`,
        round: m.round,
        sender: m.sender,
        first: { sha256: toHex0x(prior.hash).slice(2), bytes: prior.bytes },
        second: { sha256: toHex0x(hash).slice(2), bytes },
      });
      return reject('SECAGG_EQUIVOCATION');
    }
    bySender.set(slot, { message: m, hash, bytes });
    this.notifier.notify();
    return ACCEPT;
  }
}
