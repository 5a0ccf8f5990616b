/**
 * Signed committee prekeys (issue 13 item 4, red team F13): every federation member publishes, in
 * advance, a fresh X25519 public key for each of its next W rounds, signed with its libp2p Ed25519
 * identity and bound to the deployment, the federation and the round numbers. Participants of
 * round r encrypt a committee member's shares of b_i and s_i^SK to that member's prekey for r as
 * soon as the round opens — no in-round wait for the member's advertisement — and the member
 * takes the secret out of its store when r opens there and drops it by the end of r (its role
 * holds it until its view; every round that ended on chain, finalized or aborted, is erased), so
 * the shares of r stay sealed against a later theft of the member's identity key and node state
 * (forward secrecy per round). This is the "signed prekey" of Signal's X3DH (Marlinspike & Perrin 2016, §2.2, §4.6),
 * with one prekey per round instead of one per rotation period.
 *
 * The committee of r is drawn on chain only when r opens, so every member publishes for every
 * round of its window. The member's in-round advertisement (round-keys.ts) then carries the same
 * key as its c_k^PK (node/services/round-driver.ts), so a participant that missed the bundle (a
 * cold start, a member that never published) falls back to the advertisement and reaches the
 * same key: one secret per member and round, whichever path a participant took.
 *
 * Re-keying (issue 13 liveness, red team F25). A member whose prekey store was lost (or restored
 * from a backup, or is behind the chain) cannot open shares sealed to the keys it published
 * before. It starts a new key generation: `epoch`, signed in every bundle, is the last round that
 * had closed on chain when the generation began (so every key of a generation is for a round
 * after its epoch: epoch < firstRound). A receiver keeps, per member, the keys of the highest
 * epoch it has verified: a bundle of a higher epoch replaces every key it held for that member
 * (rounds the new bundle does not cover fall back to the member's advert), one of a lower epoch
 * is IGNOREd (PREKEY_SUPERSEDED: a replayed old bundle never brings a lost key back), and within
 * one epoch the first key per round stands (PREKEY_EQUIVOCATION). So a re-keyed member is
 * usable from the next round on, instead of skipping a window. Forward secrecy is unchanged: a
 * generation's secrets are erased at their round's open, like any other. Shares name the key
 * they were sealed to (messages/secagg.ts, ShareKeys v3), so in the rounds an old generation may
 * still be used the member knows which shares it cannot open, and complains about none of them
 * (committee-member.ts `CommitteeDeps.staleKeys`).
 *
 * Wire format of a bundle (gossip `/fedmesh/<federation>/prekeys/2`, little-endian):
 *   version u8 = 2 | sequence u32 | federation varBytes16 | member varBytes16 | epoch u64 |
 *   firstRound u64 | count u16 | count × X25519 public key 32 (key i is for round firstRound + i) |
 *   signature 64
 * `sequence` is not signed: it only makes a republication (for peers that joined since) a new
 * gossip message, whose id is SHA-256(author ‖ data) (node/net/libp2p-host.ts); the author's gossip
 * signature still authenticates it and only the member itself may send its bundle.
 * The signature is the member's Ed25519 identity signature over `prekeyBundleStatement`:
 *   "fedmesh/secagg/prekeys/v2" ‖ deployment binding 52 ‖ federation varBytes16 ‖ member
 *   varBytes16 ‖ epoch u64 ‖ firstRound u64 ‖ count u16 ‖ the keys.
 *
 * Pure: no I/O, no clock; the directory below is the receiver's state, bounded by its window.
 */
import { ByteReader, ByteWriter, bytesEqual, hash256, toHex0x, utf8 } from '../bytes.js';
import { DEPLOYMENT_BINDING_BYTES } from '../chain/deployment-binding.js';
import { FedmeshError } from '../errors.js';
import { MAX_FEDERATION_ID_BYTES, MAX_PEER_ID_BYTES } from '../messages/limits.js';
import type { IdentitySign, IdentityVerify, KeyAgreement } from './crypto.js';
import { SecAggError } from './errors.js';

/** 2: bundles carry a signed key generation (`epoch`). */
export const PREKEY_TOPIC_VERSION = 2;
export const PREKEY_BUNDLE_VERSION = 2;
export const PREKEY_STATEMENT_TAG = 'fedmesh/secagg/prekeys/v2';
/** X25519 public keys (RFC 7748 §5). */
export const PREKEY_BYTES = 32;
export const PREKEY_SIGNATURE_BYTES = 64;
/**
 * Most rounds one bundle may cover. A member needs only its window (DEFAULT_PREKEY_WINDOW); 64 keeps
 * the largest bundle near 2.3 KiB and bounds what one member can make a receiver store.
 */
export const MAX_PREKEYS_PER_BUNDLE = 64;
/** Largest bundle on the wire: header, 64 keys and the signature (well under the 1 MiB gossip cap). */
export const MAX_PREKEY_BUNDLE_BYTES =
  1 + 4 + 2 + MAX_FEDERATION_ID_BYTES + 2 + MAX_PEER_ID_BYTES + 8 + 8 + 2 + MAX_PREKEYS_PER_BUNDLE * PREKEY_BYTES + PREKEY_SIGNATURE_BYTES;
/**
 * Largest window W (rounds ahead a member publishes keys for), and the default. A round takes tens
 * of seconds to minutes, so 8 rounds ahead outlasts any republication gap while few secrets wait
 * on disk. Receivers accept keys up to twice it ahead (DEFAULT_PREKEY_MAX_AHEAD).
 */
export const MAX_PREKEY_WINDOW = 8;
export const DEFAULT_PREKEY_WINDOW = MAX_PREKEY_WINDOW;

/** The gossip topic of the federation's prekey bundles (versioned, STYLE.md §6). */
export function prekeyTopic(federation: string): string {
  return `/fedmesh/${federation}/prekeys/${PREKEY_TOPIC_VERSION}`;
}

export type PrekeyErrorCode =
  /** More bytes than MAX_PREKEY_BUNDLE_BYTES (checked before decoding). */
  | 'PREKEY_TOO_LARGE'
  /** Not a well-formed bundle: `fields.reason` (truncated, trailing, version, count, utf8, zero-key). */
  | 'PREKEY_MALFORMED'
  /** A bundle for another federation (`fields.federation`, `fields.expected`). */
  | 'PREKEY_WRONG_FEDERATION'
  /** The member's identity did not sign this statement (another deployment, round or key). */
  | 'PREKEY_BAD_SIGNATURE'
  /** The gossip author is not the member the bundle names. */
  | 'PREKEY_NOT_AUTHOR'
  /** Every round of the bundle has already ended (`fields.lastRound`, `fields.endedThrough`). */
  | 'PREKEY_STALE'
  /** The bundle starts beyond the receiver's window (`fields.firstRound`, `fields.maxRound`). */
  | 'PREKEY_TOO_EARLY'
  /** A second, different key for a round this member already published a key for: the first stands. */
  | 'PREKEY_EQUIVOCATION'
  /** Nothing new: every round's key is already held with these bytes. */
  | 'PREKEY_DUPLICATE'
  /** A key generation older than one already held for this member (`fields.epoch`, `fields.current`). */
  | 'PREKEY_SUPERSEDED'
  /** A key X25519 refuses (a low-order point: every shared secret with it is zero; `fields.round`). */
  | 'PREKEY_BAD_KEY';

export class PrekeyError extends FedmeshError<PrekeyErrorCode> {}

export interface PrekeyBundle {
  readonly federation: string;
  /** The member's peer id (its identity verifies the signature). */
  readonly member: string;
  /**
   * The key generation: the last closed round when the member (re)started keying (0: its first);
   * a higher epoch supersedes every key of a lower one. Always < firstRound.
   */
  readonly epoch: number;
  /** The round of `keys[0]`; key i is for round firstRound + i. */
  readonly firstRound: number;
  readonly keys: readonly Uint8Array[];
  readonly signature: Uint8Array;
  /** Republication counter (unsigned; see the header). */
  readonly sequence?: number;
}

function checkShape(federation: string, member: string, epoch: number, firstRound: number, keys: readonly Uint8Array[]): void {
  const bad = (reason: string, extra: Record<string, unknown> = {}): PrekeyError =>
    new PrekeyError('PREKEY_MALFORMED', `prekey bundle: ${reason}`, { reason, ...extra });
  if (utf8(federation).length > MAX_FEDERATION_ID_BYTES) throw bad('federation', { bytes: utf8(federation).length });
  if (utf8(member).length > MAX_PEER_ID_BYTES || member.length === 0) throw bad('member', { bytes: utf8(member).length });
  if (!Number.isSafeInteger(firstRound) || firstRound < 1) throw bad('first-round', { firstRound });
  // A generation keys only rounds after the one that had closed when it began.
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch >= firstRound) throw bad('epoch', { epoch, firstRound });
  if (keys.length < 1 || keys.length > MAX_PREKEYS_PER_BUNDLE) throw bad('count', { count: keys.length, max: MAX_PREKEYS_PER_BUNDLE });
  if (!Number.isSafeInteger(firstRound + keys.length)) throw bad('first-round', { firstRound });
  keys.forEach((k, i) => {
    if (k.length !== PREKEY_BYTES) throw bad('key-length', { round: firstRound + i, length: k.length });
    // The all-zero u is a low-order point: X25519 with it yields the zero secret (RFC 7748 §6.1).
    if (k.every((b) => b === 0)) throw bad('zero-key', { round: firstRound + i });
  });
}

/** What a bundle's signature covers (see the header); throws PREKEY_MALFORMED for a binding of the wrong size. */
export function prekeyBundleStatement(
  binding: Uint8Array,
  b: Pick<PrekeyBundle, 'federation' | 'member' | 'epoch' | 'firstRound' | 'keys'>,
): Uint8Array {
  if (binding.length !== DEPLOYMENT_BINDING_BYTES) {
    throw new PrekeyError('PREKEY_MALFORMED', `deployment binding of ${binding.length} bytes`, {
      reason: 'binding',
      bytes: binding.length,
    });
  }
  checkShape(b.federation, b.member, b.epoch, b.firstRound, b.keys);
  const w = new ByteWriter(128 + b.keys.length * PREKEY_BYTES)
    .bytes(utf8(PREKEY_STATEMENT_TAG))
    .bytes(binding)
    .varBytes16(utf8(b.federation))
    .varBytes16(utf8(b.member))
    .u64(b.epoch)
    .u64(b.firstRound)
    .u16(b.keys.length);
  for (const k of b.keys) w.bytes(k);
  return w.finish();
}

/** A member's signed bundle of public prekeys of generation `epoch` for rounds firstRound … firstRound + keys.length − 1. */
export function signPrekeyBundle(
  binding: Uint8Array,
  federation: string,
  member: string,
  firstRound: number,
  keys: readonly Uint8Array[],
  sign: IdentitySign,
  epoch = 0,
): PrekeyBundle {
  const signature = sign(prekeyBundleStatement(binding, { federation, member, epoch, firstRound, keys }));
  return { federation, member, epoch, firstRound, keys: keys.map((k) => k.slice()), signature };
}

export function encodePrekeyBundle(b: PrekeyBundle): Uint8Array {
  checkShape(b.federation, b.member, b.epoch, b.firstRound, b.keys);
  if (b.signature.length !== PREKEY_SIGNATURE_BYTES) {
    throw new PrekeyError('PREKEY_MALFORMED', 'signature length', { reason: 'signature', length: b.signature.length });
  }
  const w = new ByteWriter(128 + b.keys.length * PREKEY_BYTES)
    .u8(PREKEY_BUNDLE_VERSION)
    .u32((b.sequence ?? 0) >>> 0)
    .varBytes16(utf8(b.federation))
    .varBytes16(utf8(b.member))
    .u64(b.epoch)
    .u64(b.firstRound)
    .u16(b.keys.length);
  for (const k of b.keys) w.bytes(k);
  return w.bytes(b.signature).finish();
}

/** Decode a bundle; the size limit is checked before any parsing (STYLE.md §7). Never returns a half-filled bundle. */
export function decodePrekeyBundle(data: Uint8Array): PrekeyBundle {
  if (data.length > MAX_PREKEY_BUNDLE_BYTES) {
    throw new PrekeyError('PREKEY_TOO_LARGE', `prekey bundle of ${data.length} bytes`, {
      bytes: data.length,
      max: MAX_PREKEY_BUNDLE_BYTES,
    });
  }
  const r = new ByteReader(
    data,
    (need, offset, have) => new PrekeyError('PREKEY_MALFORMED', 'truncated prekey bundle', { reason: 'truncated', need, offset, have }),
  );
  const version = r.u8();
  if (version !== PREKEY_BUNDLE_VERSION) throw new PrekeyError('PREKEY_MALFORMED', `version ${version}`, { reason: 'version', version });
  const sequence = r.u32();
  const text = (bytes: Uint8Array, field: string): string => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new PrekeyError('PREKEY_MALFORMED', `${field} is not UTF-8`, { reason: 'utf8', field });
    }
  };
  const federation = text(r.varBytes16(MAX_FEDERATION_ID_BYTES), 'federation');
  const member = text(r.varBytes16(MAX_PEER_ID_BYTES), 'member');
  const epoch = r.u64();
  const firstRound = r.u64();
  const count = r.u16();
  if (count < 1 || count > MAX_PREKEYS_PER_BUNDLE) {
    throw new PrekeyError('PREKEY_MALFORMED', `${count} keys`, { reason: 'count', count, max: MAX_PREKEYS_PER_BUNDLE });
  }
  const keys = Array.from({ length: count }, () => r.bytes(PREKEY_BYTES));
  const signature = r.bytes(PREKEY_SIGNATURE_BYTES);
  if (r.remaining !== 0)
    throw new PrekeyError('PREKEY_MALFORMED', `${r.remaining} trailing bytes`, { reason: 'trailing', bytes: r.remaining });
  checkShape(federation, member, epoch, firstRound, keys);
  return { federation, member, epoch, firstRound, keys, signature, sequence };
}

/**
 * The checks that need no receiver state: the federation, the gossip author (= the member), and
 * the member's identity signature over the statement bound to `binding`.
 */
export function verifyPrekeyBundle(binding: Uint8Array, federation: string, b: PrekeyBundle, from: string, verify: IdentityVerify): void {
  if (b.federation !== federation) {
    throw new PrekeyError('PREKEY_WRONG_FEDERATION', `bundle for ${b.federation}`, { federation: b.federation, expected: federation });
  }
  if (b.member !== from) throw new PrekeyError('PREKEY_NOT_AUTHOR', `bundle of ${b.member} sent by ${from}`, { member: b.member, from });
  if (!verify(b.member, prekeyBundleStatement(binding, b), b.signature)) {
    throw new PrekeyError('PREKEY_BAD_SIGNATURE', `bundle not signed by ${b.member} for this deployment`, { member: b.member });
  }
}

/** Any fixed scalar: clamped (RFC 7748 §5) it is a multiple of 8, so it sends a low-order point to zero. */
const PROBE_SECRET = new Uint8Array(32).fill(0x5a);

/**
 * Throws PREKEY_BAD_KEY for a key X25519 refuses. A low-order key would make every participant's
 * sealing to that member fail (crypto.ts `shareKey` refuses the all-zero secret), so one member
 * could cost a whole round every participant's input; it is refused before it is stored.
 */
export function checkPrekeyPoints(b: PrekeyBundle, ka: KeyAgreement): void {
  const probe = ka.importSecret(PROBE_SECRET);
  try {
    b.keys.forEach((k, i) => {
      try {
        probe.agree(k);
      } catch (e) {
        if (!(e instanceof SecAggError && e.code === 'SECAGG_BAD_KEY')) throw e;
        throw new PrekeyError('PREKEY_BAD_KEY', `${b.member}'s key for round ${b.firstRound + i} is a low-order point`, {
          member: b.member,
          round: b.firstRound + i,
        });
      }
    });
  } finally {
    probe.dispose();
  }
}

/** SHA-256 of a key (hex), for evidence records: which two keys one member signed for one round. */
export const prekeyDigest = (key: Uint8Array): string => toHex0x(hash256(key));

export interface PrekeyDirectoryOptions {
  /**
   * Rounds ahead of the last ended round a received key may be for (default
   * DEFAULT_PREKEY_MAX_AHEAD). Small on purpose: the first key per round stands, so a thief of an
   * identity key who publishes far beyond the member's own window would own those rounds' keys.
   */
  readonly maxAhead?: number;
}

/** Twice the largest window: room for a member that skipped ahead (see MAX_PREKEY_WINDOW), and no further. */
export const DEFAULT_PREKEY_MAX_AHEAD = 2 * MAX_PREKEY_WINDOW;

/** What `add` stored: the rounds whose key is new. */
export interface PrekeyAdded {
  readonly member: string;
  readonly rounds: readonly number[];
  /** The bundle's generation replaced a lower one: the old generation's rounds that were dropped. */
  readonly superseded?: readonly number[];
}

interface MemberKeys {
  readonly epoch: number;
  readonly keys: Map<number, Uint8Array>;
}

/**
 * The receiver's prekeys: per member, the keys of the highest key generation (epoch) verified
 * here; within it one key per round, the first one signed stands. Bounded per member by the
 * window (rounds in (endedThrough, endedThrough + maxAhead]); the caller admits only federation
 * members. Holds public keys only.
 */
export class PrekeyDirectory {
  private readonly byMember = new Map<string, MemberKeys>();
  private ended = 0;
  readonly maxAhead: number;

  constructor(opts: PrekeyDirectoryOptions = {}) {
    this.maxAhead = opts.maxAhead ?? DEFAULT_PREKEY_MAX_AHEAD;
  }

  /** Rounds up to this one have ended on chain (finalized or aborted). */
  get endedThrough(): number {
    return this.ended;
  }

  /**
   * Store a verified bundle's keys for rounds that have not ended. Throws PREKEY_STALE (every
   * round ended), PREKEY_TOO_EARLY (it starts beyond the window), PREKEY_SUPERSEDED (a lower
   * generation than the member's held one), PREKEY_EQUIVOCATION (within the held generation, a
   * different key for a round already held: nothing of the bundle is stored, the first stands;
   * `fields` carry both keys' digests) or PREKEY_DUPLICATE (nothing new). A higher generation
   * replaces every key held for the member (`superseded`).
   */
  add(b: PrekeyBundle): PrekeyAdded {
    const last = b.firstRound + b.keys.length - 1;
    if (last <= this.ended) {
      throw new PrekeyError('PREKEY_STALE', `bundle of ${b.member} ends at round ${last}`, {
        member: b.member,
        lastRound: last,
        endedThrough: this.ended,
      });
    }
    const maxRound = this.ended + this.maxAhead;
    if (b.firstRound > maxRound) {
      throw new PrekeyError('PREKEY_TOO_EARLY', `bundle of ${b.member} starts at round ${b.firstRound}`, {
        member: b.member,
        firstRound: b.firstRound,
        maxRound,
      });
    }
    const inWindow = (round: number): boolean => round > this.ended && round <= maxRound;
    const held = this.byMember.get(b.member);
    if (held !== undefined && b.epoch < held.epoch) {
      throw new PrekeyError('PREKEY_SUPERSEDED', `bundle of ${b.member} is of generation ${b.epoch}, held ${held.epoch}`, {
        member: b.member,
        epoch: b.epoch,
        current: held.epoch,
      });
    }
    if (held === undefined || b.epoch > held.epoch) {
      // A new generation (the member re-keyed after losing its state): the old keys' secrets are
      // gone, so none of them may be sealed to again.
      const keys = new Map<number, Uint8Array>();
      b.keys.forEach((key, i) => {
        if (inWindow(b.firstRound + i)) keys.set(b.firstRound + i, key.slice());
      });
      this.byMember.set(b.member, { epoch: b.epoch, keys });
      const superseded = held === undefined ? undefined : [...held.keys.keys()].sort((x, y) => x - y);
      return { member: b.member, rounds: [...keys.keys()], ...(superseded !== undefined ? { superseded } : {}) };
    }
    const fresh: number[] = [];
    b.keys.forEach((key, i) => {
      const round = b.firstRound + i;
      if (!inWindow(round)) return;
      const prior = held.keys.get(round);
      if (prior === undefined) fresh.push(round);
      else if (!bytesEqual(prior, key)) {
        throw new PrekeyError('PREKEY_EQUIVOCATION', `${b.member} signed two prekeys for round ${round}`, {
          member: b.member,
          round,
          first: prekeyDigest(prior),
          second: prekeyDigest(key),
        });
      }
    });
    if (fresh.length === 0) throw new PrekeyError('PREKEY_DUPLICATE', `nothing new from ${b.member}`, { member: b.member });
    for (const round of fresh) held.keys.set(round, b.keys[round - b.firstRound]!.slice());
    return { member: b.member, rounds: fresh };
  }

  /** `member`'s prekey for `round`, if a verified bundle gave one. */
  keyFor(member: string, round: number): Uint8Array | undefined {
    return this.byMember.get(member)?.keys.get(round);
  }

  /** The key generation held for `member` (undefined: none). */
  epochOf(member: string): number | undefined {
    return this.byMember.get(member)?.epoch;
  }

  /** The last round `member` has a key for (0: none): a publisher tops its window up from here. */
  lastRound(member: string): number {
    const m = this.byMember.get(member)?.keys;
    return m === undefined || m.size === 0 ? 0 : Math.max(...m.keys());
  }

  /**
   * Rounds up to `round` ended: their keys are dropped (never moves back). A member's generation
   * is remembered even when none of its keys is left, so its older bundles stay refused.
   */
  endThrough(round: number): void {
    if (round <= this.ended) return;
    this.ended = round;
    for (const { keys } of this.byMember.values()) for (const r of [...keys.keys()]) if (r <= round) keys.delete(r);
  }

  /** Keys held, over all members (a metric; bounded by members × maxAhead). */
  get size(): number {
    let n = 0;
    for (const m of this.byMember.values()) n += m.keys.size;
    return n;
  }
}
