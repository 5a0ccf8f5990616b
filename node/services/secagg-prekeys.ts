/**
 * SecAggPrekeys: this member's signed per-round committee prekeys and every other member's
 * (protocol/secure-aggregation/prekeys.ts; issue 13 item 4, red team F13), on the gossip topic
 * `/fedmesh/<federation>/prekeys/2`.
 *
 * Publisher. The node keeps one fresh X25519 secret per upcoming round, W rounds ahead
 * (`topUp`), in its prekey store (./secagg-prekey-store.ts: encrypted at rest in the daemon),
 * saves each new secret *before* its public key leaves the node (a crash never leaves a published
 * key without its secret), and publishes one signed bundle of all of them. It publishes again
 * whenever the topic gains a subscriber it has not announced to (a late joiner), checked every
 * `republishMs`, and every REPUBLISH_EVERY_TICKS checks regardless.
 *
 * Erasure (the forward secrecy). When round r opens here (`roundOpened`), every round before it
 * has ended on chain, so their secrets are erased; r's own secret is handed to the round (`take`)
 * and erased from the store at once — the committee member keeps a handle until its view
 * (committee-member.ts), the participant role wipes its copy after masking. `endedThrough(r)`
 * erases the rest when the node learns of an ended round it did not run. What a thief of the
 * node's state finds afterwards are the secrets of rounds that have not opened yet.
 *
 * Re-keying (F25). A store that may not know everything this identity published (lost, restored
 * from a backup, a node that was away) starts a new key generation at its first top-up or round
 * open (`checkHistory`): epoch = the last closed round, every held secret dropped, fresh keys from
 * the next round on (the round opening now included), published at once. Receivers replace the
 * old generation's keys with them, so participants seal to keys this member holds from the next
 * round on. In the rounds the old generation may still have keyed (`mayHoldStaleKey`) the member
 * role does not complain about shares naming another key (ShareKeys v3).
 *
 * Receiver. Every bundle gets a verdict before it is stored (STYLE.md §9): size before decoding
 * (REJECT PREKEY_TOO_LARGE), decoding (REJECT PREKEY_MALFORMED), membership (REJECT
 * PEER_NOT_MEMBER), federation, author = member, the identity signature bound to the deployment
 * (REJECT PREKEY_WRONG_FEDERATION, PREKEY_NOT_AUTHOR, PREKEY_BAD_SIGNATURE), every key a usable
 * X25519 point (REJECT PREKEY_BAD_KEY: a low-order key would fail every participant's sealing to
 * the member), then the directory: IGNORE PREKEY_STALE / PREKEY_TOO_EARLY /
 * PREKEY_DUPLICATE / PREKEY_SUPERSEDED (an older key generation), REJECT PREKEY_EQUIVOCATION (the first key stands; both digests are logged as
 * an `event: 'equivocation'` record, as the other inboxes do).
 */
import { wipe } from '../../protocol/bytes.js';
import type { IdentitySign, IdentityVerify, Entropy, SecAggCrypto } from '../../protocol/secure-aggregation/crypto.js';
import {
  checkPrekeyPoints,
  DEFAULT_PREKEY_WINDOW,
  decodePrekeyBundle,
  encodePrekeyBundle,
  MAX_PREKEY_WINDOW,
  MAX_PREKEYS_PER_BUNDLE,
  PrekeyDirectory,
  PrekeyError,
  type PrekeyBundle,
  prekeyTopic,
  signPrekeyBundle,
  verifyPrekeyBundle,
} from '../../protocol/secure-aggregation/prekeys.js';
import type { KeyPair } from '../../protocol/secure-aggregation/round-keys.js';
import { ACCEPT, ignore, reject, type Verdict } from '../../protocol/verdict.js';
import type { Logger } from '../logger.js';
import type { Gossip, GossipMessage } from '../net/gossip.js';
import type { PrekeySecretStore } from './secagg-prekey-store.js';

/** How often the publisher looks for subscribers it has not announced its bundle to (ms). */
export const DEFAULT_PREKEY_REPUBLISH_MS = 2_000;

/** Every this many subscriber checks the bundle goes out again regardless (a minute at the default interval). */
export const REPUBLISH_EVERY_TICKS = 30;

export interface SecAggPrekeysInit {
  readonly federation: string;
  /** The deployment every bundle is bound to (`deploymentBindingBytes`). */
  readonly binding: Uint8Array;
  /** W: rounds ahead this member keeps keys for (1 … MAX_PREKEY_WINDOW; default DEFAULT_PREKEY_WINDOW). */
  readonly window?: number;
  /** Subscriber check interval (ms; default DEFAULT_PREKEY_REPUBLISH_MS); 0: never (tests drive it). */
  readonly republishMs?: number;
}

export interface SecAggPrekeysComponents {
  readonly gossip: Gossip;
  readonly crypto: SecAggCrypto;
  readonly entropy: Entropy;
  /** This peer's libp2p identity signature (it signs the bundle). */
  readonly sign: IdentitySign;
  readonly verify: IdentityVerify;
  readonly isMember: (peer: string) => boolean;
  readonly store: PrekeySecretStore;
  readonly log?: Logger;
}

/** Two different keys one member signed for one round (the first stands). */
export interface PrekeyEquivocation {
  readonly member: string;
  readonly round: number;
  readonly first: string;
  readonly second: string;
}

const MAX_EVIDENCE = 256;

export class SecAggPrekeys {
  readonly topic: string;
  /** Other members' public prekeys, by member and round. */
  readonly directory = new PrekeyDirectory();
  /** Equivocation evidence seen here, oldest first (bounded; the log has every record). */
  readonly evidence: PrekeyEquivocation[] = [];
  /** Verdict counts by `${action}:${code}` on this topic (a metric; the gossip port counts too). */
  readonly verdicts = new Map<string, number>();
  readonly window: number;
  /** This member's secrets by round (rounds not opened yet), mirrored in the store. */
  private readonly own = new Map<number, Uint8Array>();
  /** Highest round a key was ever generated for (persisted): never a second key for a round. */
  private generatedThrough = 0;
  /** Rounds up to this one may have been keyed by a state this store lost (persisted; F25). */
  private unknownThrough = 0;
  /** This member's key generation (persisted; prekeys.ts `PrekeyBundle.epoch`). */
  private epoch = 0;
  /** Rounds whose secret this process handed to a round (`take`): not stale for this process. */
  private readonly handedOut = new Set<number>();
  private readonly announced = new Set<string>();
  private sequence = 0;
  private ticks = 0;
  /** Whether the store's history was checked against the chain (first `topUp`). */
  private checked = false;
  /** A new key generation was started and not published yet. */
  private rekeyed = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private running = false;

  constructor(
    private readonly init: SecAggPrekeysInit,
    private readonly c: SecAggPrekeysComponents,
  ) {
    const w = init.window ?? DEFAULT_PREKEY_WINDOW;
    // Receivers keep keys up to 2·MAX_PREKEY_WINDOW rounds ahead: a longer window is not heard.
    if (!Number.isInteger(w) || w < 1 || w > MAX_PREKEY_WINDOW) {
      throw new RangeError(`prekeys.window=${w}: an integer in [1, ${MAX_PREKEY_WINDOW}]`);
    }
    this.window = w;
    this.topic = prekeyTopic(init.federation);
    const state = c.store.load();
    for (const [round, secret] of state.secrets) this.own.set(round, secret);
    this.generatedThrough = state.generatedThrough;
    this.unknownThrough = state.unknownThrough ?? 0;
    this.epoch = state.epoch ?? 0;
  }

  get self(): string {
    return this.c.gossip.self;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.c.gossip.subscribe(
      this.topic,
      (m) => this.validate(m),
      () => {},
    );
    const every = this.init.republishMs ?? DEFAULT_PREKEY_REPUBLISH_MS;
    if (every > 0) {
      this.timer = setInterval(() => void this.announceToNewSubscribers(), every);
      this.timer.unref?.();
    }
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.c.gossip.unsubscribe(this.topic);
  }

  /** The rounds this member holds a secret for, ascending (what a thief of its state would find). */
  heldRounds(): number[] {
    return [...this.own.keys()].sort((a, b) => a - b);
  }

  /** `member`'s prekey for `round` (this member's own too), or undefined: the participant falls back to the advert. */
  keyFor(member: string, round: number): Uint8Array | undefined {
    if (member === this.self) {
      const s = this.own.get(round);
      return s === undefined ? this.directory.keyFor(member, round) : this.c.crypto.x25519.publicKey(s);
    }
    return this.directory.keyFor(member, round);
  }

  /**
   * Ensure keys for rounds [from, from + W − 1], durably stored, then publish the bundle.
   * Rounds before `from` keep their keys (they may not have opened yet); `endedThrough` drops them.
   */
  async topUp(from: number): Promise<void> {
    this.checkHistory(from - 1);
    const last = from + this.window - 1;
    let changed = false;
    for (let r = Math.max(from, this.directory.endedThrough + 1, this.generatedThrough + 1); r <= last; r++) {
      if (!this.own.has(r)) this.own.set(r, this.c.entropy(32)); // a held secret keeps its key (re-keying)
      this.generatedThrough = r;
      changed = true;
    }
    // A new generation goes out at once, even when it brings no new key.
    if (this.rekeyed) changed = true;
    this.rekeyed = false;
    // Durable before the public keys leave the node (a published key always has its secret).
    if (changed) this.save();
    if (changed) await this.publish();
  }

  /**
   * Round `round` opened here: every earlier round ended on chain (erased), and this round's key
   * pair is handed over and erased from the store before the round runs; then the window is
   * topped up from round + 1. Undefined: no prekey for this round (the member advertises fresh keys).
   */
  async roundOpened(round: number): Promise<KeyPair | undefined> {
    const rekeyed = this.checkHistory(round - 1);
    this.endedThrough(round - 1);
    // Re-keyed just now: this round gets a key of the new generation too, published before the
    // round's own advert, so participants that have not sealed yet can use it (and the advert
    // carries the same key).
    if (rekeyed) await this.topUp(round).catch((e) => this.c.log?.warn({ err: String(e), round }, 'prekeys: re-key failed'));
    const pair = this.take(round);
    await this.topUp(round + 1).catch((e) => this.c.log?.warn({ err: String(e), round }, 'prekeys: top-up failed'));
    return pair;
  }

  /**
   * Red team F25, checked once, at the first top-up or round open after the store was loaded: a
   * store that may not know everything this identity published (lost, restored from a backup, a
   * node that was away) must never reuse a published round's key slot within its generation —
   * receivers keep the first key of a generation, and participants would seal to a key this
   * member does not hold. A store in use is W ahead of the last closed round; one behind it starts
   * a new generation (prekeys.ts "Re-keying"): epoch = the last closed round (above any earlier
   * generation's), fresh keys for the rounds after it that it holds no secret for, and the whole
   * run — the secrets it still holds (a node that was away, a backup) re-signed with their keys
   * unchanged, so shares already sealed to them still open — published at once. Receivers
   * replace the old generation's keys on the first bundle of the new one. The rounds the old generation may
   * have keyed — up to MAX_PREKEY_WINDOW + 1 past the last closed round (a live store tops up to
   * r + W when r opens, r − 1 closed) — are remembered (`mayHoldStaleKey`). Before round 1 closes
   * nothing is detectable: a store lost then can still re-key rounds 1 … W in generation 0 (and
   * its bundle is refused as equivocation where the first one arrived). Returns whether it re-keyed.
   */
  private checkHistory(closed: number): boolean {
    if (this.checked) return false;
    this.checked = true;
    if (closed < 1 || this.generatedThrough >= closed + this.window) return false;
    const epoch = Math.max(closed, this.epoch + 1);
    this.c.log?.info(
      { closed, generatedThrough: this.generatedThrough, epoch },
      'prekeys: store behind the chain; starting a new key generation',
    );
    // A generation keys only rounds after its epoch (prekeys.ts); a held secret at or below it is
    // of a round that closed (erased anyway) or that an earlier generation above `closed` keyed.
    for (const [r, secret] of this.own) {
      if (r > epoch) continue;
      wipe(secret);
      this.own.delete(r);
    }
    this.epoch = epoch;
    this.rekeyed = true;
    this.generatedThrough = epoch;
    this.unknownThrough = Math.max(this.unknownThrough, closed + MAX_PREKEY_WINDOW + 1);
    this.save();
    return true;
  }

  /**
   * Whether participants may hold a key of this member for `round` other than the one it holds
   * (or none): a round an earlier, lost state may have keyed (F25), or one whose key was taken by
   * an earlier run of this node (a restart inside the round). A share sealed to another key is
   * then no evidence against its sender, so the member must not complain about it.
   */
  mayHoldStaleKey(round: number): boolean {
    if (round <= this.unknownThrough) return true;
    return round <= this.generatedThrough && !this.own.has(round) && !this.handedOut.has(round);
  }

  /** This member's key generation (0 until a state loss was detected). */
  get generation(): number {
    return this.epoch;
  }

  /** Hand over round `round`'s key pair (a copy) and erase the stored secret. */
  take(round: number): KeyPair | undefined {
    const s = this.own.get(round);
    if (s === undefined) return undefined;
    const pair = { secretKey: s.slice(), publicKey: this.c.crypto.x25519.publicKey(s) };
    this.own.delete(round);
    this.handedOut.add(round);
    wipe(s);
    this.save();
    return pair;
  }

  /** Rounds up to `round` ended on chain (finalized or aborted): erase their secrets and keys. */
  endedThrough(round: number): void {
    let erased = false;
    for (const [r, s] of this.own) {
      if (r > round) continue;
      wipe(s);
      this.own.delete(r);
      erased = true;
    }
    if (erased) this.save();
    this.directory.endThrough(round);
  }

  private save(): void {
    this.c.store.save({
      secrets: this.own,
      generatedThrough: this.generatedThrough,
      unknownThrough: this.unknownThrough,
      epoch: this.epoch,
    });
  }

  /** This member's current bundle: the contiguous run of held rounds ending at the last one. */
  bundle(): PrekeyBundle | undefined {
    const rounds = this.heldRounds();
    if (rounds.length === 0) return undefined;
    let first = rounds.length - 1;
    while (first > 0 && rounds[first - 1] === rounds[first]! - 1 && rounds.length - first < MAX_PREKEYS_PER_BUNDLE) first--;
    const run = rounds.slice(first);
    const keys = run.map((r) => this.c.crypto.x25519.publicKey(this.own.get(r)!));
    const b = signPrekeyBundle(this.init.binding, this.init.federation, this.self, run[0]!, keys, this.c.sign, this.epoch);
    return { ...b, sequence: this.sequence++ };
  }

  /** Publish the current bundle (no-op without keys); a publish error is logged, never thrown. */
  async publish(): Promise<void> {
    const b = this.bundle();
    if (b === undefined) return;
    const subscribers = this.c.gossip.subscribers(this.topic);
    try {
      await this.c.gossip.publish(this.topic, encodePrekeyBundle(b));
      for (const p of subscribers) this.announced.add(p);
    } catch (e) {
      this.c.log?.debug({ err: String(e), firstRound: b.firstRound }, 'prekeys: publish failed (no subscribers yet?)');
    }
  }

  /**
   * Publish again when the topic has a subscriber this bundle was not announced to, and every
   * REPUBLISH_EVERY_TICKS checks regardless (a peer that restarted under the same id).
   */
  async announceToNewSubscribers(): Promise<void> {
    if (this.own.size === 0) return;
    const periodic = ++this.ticks % REPUBLISH_EVERY_TICKS === 0;
    if (periodic || this.c.gossip.subscribers(this.topic).some((p) => !this.announced.has(p))) await this.publish();
  }

  private count(v: Verdict): Verdict {
    const key = `${v.action}:${v.code}`;
    this.verdicts.set(key, (this.verdicts.get(key) ?? 0) + 1);
    return v;
  }

  /** The verdict on one gossip message (see the header for the order of checks). */
  validate(msg: GossipMessage): Verdict {
    let b: PrekeyBundle;
    try {
      b = decodePrekeyBundle(msg.data);
    } catch (e) {
      if (e instanceof PrekeyError) return this.count(reject(e.code));
      throw e;
    }
    if (!this.c.isMember(b.member)) return this.count(reject('PEER_NOT_MEMBER'));
    try {
      verifyPrekeyBundle(this.init.binding, this.init.federation, b, msg.from, this.c.verify);
      checkPrekeyPoints(b, this.c.crypto.x25519);
      const added = this.directory.add(b);
      if (added.superseded !== undefined)
        this.c.log?.info(
          { member: b.member, epoch: b.epoch, rounds: added.rounds, superseded: added.superseded },
          `${b.member} re-keyed: its prekeys of an earlier generation are dropped`,
        );
      return this.count(ACCEPT);
    } catch (e) {
      if (!(e instanceof PrekeyError)) throw e;
      if (e.code === 'PREKEY_STALE' || e.code === 'PREKEY_TOO_EARLY' || e.code === 'PREKEY_DUPLICATE' || e.code === 'PREKEY_SUPERSEDED')
        return this.count(ignore(e.code));
      if (e.code === 'PREKEY_EQUIVOCATION') {
        const f = e.fields as unknown as PrekeyEquivocation;
        this.evidence.push({ member: f.member, round: f.round, first: f.first, second: f.second });
        if (this.evidence.length > MAX_EVIDENCE) this.evidence.shift();
        this.c.log?.warn(
          { event: 'equivocation', kind: 'prekey', sender: f.member, round: f.round, first: f.first, second: f.second },
          `${f.member} signed two different prekeys for round ${f.round}`,
        );
      }
      return this.count(reject(e.code));
    }
  }
}
