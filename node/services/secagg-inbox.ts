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
 * refusals and releases per (sender, digest) (≤ m). A complaint must accuse a federation member
 * (only members contribute; REJECT `SECAGG_COMPLAINT_NOT_MEMBER` otherwise, checked after the
 * pipeline's signature step). Each accepted one — ours or another member's — is written as a
 * structured evidence record (./secagg-evidence.ts: `event: 'complaint' | 'lock-refusal' |
 * 'lock-release'`) and kept in `liveness`; a refusal's two views also make an `equivocation`
 * record (kind `secagg-View`), once per (round, member).
 *
 * Messages of a round this peer has not opened yet (the pipeline IGNOREs them, ROUND_UNKNOWN:
 * without the round's committee it cannot judge them) are *held*, not lost: a member whose chain
 * poll lags the others' by a few hundred ms would otherwise drop, for good, the ShareKeys that
 * participants send the moment they open the round (with committee keys from identities they
 * wait for nobody), and then lack those shares — the cause of the aborted rounds when committee
 * keys were first enabled (issue 13 item 4). Held messages come only from members, signed into
 * gossip by their own sender (both checked before holding), and only of the kinds other members
 * send within seconds of their own open (HOLDABLE_KINDS); one per slot, bounded per sender in
 * count and bytes (PENDING_PER_SENDER, PENDING_BYTES_PER_SENDER) and in all (PENDING_BYTES); they
 * go through the whole pipeline again once the round's committee is known (`setRound`, or any
 * later arrival), and a sender one of whose held messages fails it has the rest of its held
 * messages for that round dropped and no more held (red team F24: one member filled the whole
 * buffer with unsigned junk lock proposals, IGNOREd and so unscored, and honest early ShareKeys
 * were then lost for good).
 */
import { bytesEqual, hash256, toHex0x } from '../../protocol/bytes.js';
import { MAX_PARTICIPANTS } from '../../protocol/messages/limits.js';
import { decodeSecAgg, encodeSecAgg, SecAggKind, type SecAggMessage } from '../../protocol/messages/secagg.js';
import { topicFor } from '../../protocol/messages/topics.js';
import type { IdentityVerify } from '../../protocol/secure-aggregation/crypto.js';
import { validateSecAggMessage } from '../../protocol/validate.js';
import { ACCEPT, reject, type Verdict } from '../../protocol/verdict.js';
import type { Logger } from '../logger.js';
import type { Gossip, GossipMessage } from '../net/gossip.js';
import { ChangeNotifier } from './change-notifier.js';
import { type EquivocationEvidence, MAX_EVIDENCE_RECORDS, recordEquivocation } from './round-inbox.js';
import { type LivenessEvidence, type LivenessMessage, livenessEvidence, viewEquivocationEvidence } from './secagg-evidence.js';

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
 * Held messages of not-yet-opened rounds, per sender: one of each kind a sender sends in a round
 * (13 kinds), with slack for the per-turn key-set messages. A bound on memory only.
 */
export const PENDING_PER_SENDER = 32;
/** Total bytes held for not-yet-opened rounds (ShareKeys at m = 7 are ~1 KiB; 64 peers hold < 1 MiB). */
export const PENDING_BYTES = 8 * 1024 * 1024;
/**
 * Bytes held per sender (F24): the largest message worth holding is a key-set proposal naming
 * MAX_PARTICIPANTS = 1024 ids of ≤ MAX_PEER_ID_BYTES = 128 bytes (≈ 135 KiB); one sender can take
 * at most 1/32 of PENDING_BYTES.
 */
export const PENDING_BYTES_PER_SENDER = 256 * 1024;
/**
 * What a member that has not opened the round yet may legitimately receive from members that
 * opened it a moment earlier: participants' ShareKeys (sent at once with committee keys known), a
 * fast turn-0 key-set proposal, key-set endorsements and complaints (sent on a ShareKeys). Views,
 * lock proposals, endorsements, refusals, releases, reveals and results follow the key set by
 * seconds to minutes; a member that lagged that long cannot take part anyway. (AdvertiseKeys is
 * accepted without the committee and never held.)
 */
export const HOLDABLE_KINDS: ReadonlySet<SecAggKind> = new Set([
  SecAggKind.ShareKeys,
  SecAggKind.KeySetProposal,
  SecAggKind.KeySetEndorse,
  SecAggKind.Complaint,
]);

interface Pending {
  readonly round: number;
  readonly from: string;
  /** `round/kind/slot`: at most one held message per slot. */
  readonly slot: string;
  readonly data: Uint8Array;
}

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
  /** Complaints, refusals and releases accepted (ours too), oldest first (bounded; the log has every record). */
  readonly liveness: LivenessEvidence[] = [];
  /** Views proven equivocal by a refusal's evidence, as `round/member` (one equivocation record each). */
  private readonly provenViews = new Set<string>();
  private current = 1;
  private readonly rounds = new Map<number, ByKind>();
  /** Messages of rounds whose committee was unknown on arrival, oldest first (see the header). */
  private pending: Pending[] = [];
  private pendingBytes = 0;
  /** `round/sender` whose held message failed the pipeline on replay: nothing more held from it that round. */
  private readonly distrusted = new Set<string>();

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
    for (const k of this.provenViews) if (Number(k.slice(0, k.indexOf('/'))) < round - 1) this.provenViews.delete(k);
    for (const k of this.distrusted) if (Number(k.slice(0, k.indexOf('/'))) < round) this.distrusted.delete(k);
    this.replayPending();
  }

  /** Messages held for rounds not opened yet (a gauge). */
  get pendingCount(): number {
    return this.pending.length;
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
    if (this.pending.length > 0) this.replayPending();
    const { verdict, message } = this.validate(g);
    if (verdict.action === 'ignore' && verdict.code === 'ROUND_UNKNOWN') this.hold(g);
    if (message === undefined) return verdict;
    const refused = this.refuseContent(message);
    if (refused !== undefined) return refused;
    return this.store(message, hash256(g.data), g.data.length);
  }

  /**
   * Content rules the pipeline (protocol/validate.ts) leaves to the node, judged after its
   * signature step: a complaint accuses a federation member (only members contribute shares), so
   * a member cannot fill the inbox's complaint slots with made-up names.
   */
  private refuseContent(m: SecAggMessage): Verdict | undefined {
    if (m.kind === SecAggKind.Complaint && !this.init.isMember(m.accused)) return reject('SECAGG_COMPLAINT_NOT_MEMBER');
    return undefined;
  }

  private validate(g: GossipMessage): ReturnType<typeof validateSecAggMessage> {
    return validateSecAggMessage(g.data, g.from, {
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
  }

  /** Keep a ROUND_UNKNOWN message of a member for when its round's committee is known (bounded). */
  private hold(g: GossipMessage): void {
    if (!this.init.isMember(g.from)) return;
    if (this.pendingBytes + g.data.length > PENDING_BYTES) return;
    let fromSender = 0;
    let senderBytes = 0;
    for (const p of this.pending) {
      if (p.from !== g.from) continue;
      fromSender++;
      senderBytes += p.data.length;
    }
    if (fromSender >= PENDING_PER_SENDER || senderBytes + g.data.length > PENDING_BYTES_PER_SENDER) return;
    let m: SecAggMessage;
    try {
      m = decodeSecAgg(g.data);
    } catch {
      return;
    }
    // The author check of the pipeline (step 6) needs no committee: a message its gossip signer
    // did not write would be refused anyway.
    if (m.sender !== g.from || !HOLDABLE_KINDS.has(m.kind) || this.distrusted.has(`${m.round}/${g.from}`)) return;
    const slot = `${m.round}/${m.kind}/${slotOf(m)}`;
    if (this.pending.some((p) => p.slot === slot)) return;
    this.pending.push({ round: m.round, from: g.from, slot, data: g.data });
    this.pendingBytes += g.data.length;
  }

  /** Run held messages whose round's committee is now known through the pipeline again; drop stale ones. */
  private replayPending(): void {
    const keep: Pending[] = [];
    const ready: Pending[] = [];
    for (const p of this.pending) {
      if (p.round < this.current) continue;
      if (this.init.committee(p.round).length > 0) ready.push(p);
      else keep.push(p);
    }
    if (ready.length === 0 && keep.length === this.pending.length) return;
    this.pending = keep;
    this.pendingBytes = keep.reduce((n, p) => n + p.data.length, 0);
    for (const p of ready) {
      const who = `${p.round}/${p.from}`;
      if (this.distrusted.has(who)) continue;
      const { verdict, message } = this.validate({ topic: this.topic, from: p.from, data: p.data });
      const refused = message !== undefined ? this.refuseContent(message) : verdict.action === 'reject' ? verdict : undefined;
      if (refused !== undefined) {
        // Counted against its sender (its IGNORE cost it nothing): the rest of what it had held for
        // the round is dropped, and nothing more is held from it for that round.
        this.distrusted.add(who);
        this.init.log?.debug({ round: p.round, sender: p.from, code: refused.code }, 'held secagg message refused on replay');
        continue;
      }
      if (message !== undefined) this.store(message, hash256(p.data), p.data.length);
    }
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
    if (m.kind === SecAggKind.Complaint || m.kind === SecAggKind.LockRefuse || m.kind === SecAggKind.LockRelease) this.recordLiveness(m);
    this.notifier.notify();
    return ACCEPT;
  }

  /** Write the evidence record of a newly stored complaint, refusal or release (see the header). */
  private recordLiveness(m: LivenessMessage): void {
    const e = livenessEvidence(this.init.binding, m);
    this.liveness.push(e);
    if (this.liveness.length > MAX_EVIDENCE_RECORDS) this.liveness.shift();
    const log = this.init.log;
    if (e.event === 'complaint')
      log?.warn({ ...e }, `${e.member} complains that the share of ${e.accused} does not open (round ${e.round})`);
    else if (e.event === 'lock-refusal')
      log?.warn(
        { ...e },
        `${e.member} refuses lock ${e.lock} (round ${e.round})${e.equivocator !== undefined ? `: ${e.equivocator} signed two views` : ''}`,
      );
    else log?.info({ ...e }, `${e.member} released lock ${e.released} for ${e.lock} on ${e.refusers.length} refusals (round ${e.round})`);
    const pair = viewEquivocationEvidence(e);
    if (pair === undefined) return;
    const key = `${pair.round}/${pair.sender}`;
    if (this.provenViews.has(key)) return;
    this.provenViews.add(key);
    recordEquivocation(this.evidence, log, pair);
  }
}
