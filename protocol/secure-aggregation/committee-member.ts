/**
 * A committee member's side of secure aggregation for one round: the server of Bonawitz et
 * al. (CCS 2017, §4, Figure 4, with the §6–7 consistency check), split over m members that each
 * hold one share per secret and decide every phase by quorum certificate (certify.ts).
 *
 *   stage           method                                  accepts
 *   ADVERTISE_KEYS  beginShares()                           addAdvert
 *   SHARE_KEYS      proposeKeySet(), onKeySetProposal()     addAdvert, addShareKeys, addKeySetEndorse
 *   MASKED_INPUT    beginInputs(); signView(inputs)         the same, learnCommitment
 *   UNMASK          proposeLock(), onLockProposal(), addView, addLockEndorse, reveal(),
 *                   addReveal, learnCommitment, unmask(inputs)
 *   DONE
 *
 * Phases and the rules each honest member enforces (each with its own error code, and every
 * refusal kept in `evidence`):
 *   1. key set: the turn's leader proposes (U_1, U_2); a member endorses at most one key set
 *      per TURN (so a member bound to a turn-τ proposal that can never reach t — H8 F6 — may
 *      endorse a later turn's), only if it holds every U_1 advertisement, U_2 leaves out no
 *      participant whose share it holds unless that one is provably unusable (F12, below), and,
 *      for every i ∈ U_2, it decrypted its own share and holds the commitment to b_i. t endorsements certify
 *      it; participants mask once, with exactly U_2 \ {i} of the first certified key set they
 *      accept. Several key sets may be certified: safety rests on the lock (certify.ts header).
 *   2. views: each member signs, under the first certified key set it learned, the inputs it
 *      holds from that U_2 whose neighbour set is exactly U_2 \ {i}; the signature covers the
 *      key set's digest.
 *   3. lock: the turn's leader (SECAGG_NOT_LEADER, SECAGG_EARLY_PROPOSAL) proposes (U_3, D) on
 *      one certified key set with ≥ t cited views taken under it; D = that key set's U_2 \ U_3;
 *      a member endorses at most one lock per round
 *      (SECAGG_CONFLICTING_PROPOSAL), only if every cited view equals the View that member
 *      published (SECAGG_EQUIVOCATION), U_3 and D are exactly what the views and U_2 give
 *      (SECAGG_BAD_PROPOSAL), the floors hold (SECAGG_FLOOR), U_3 keeps every input of its own
 *      view that ≥ t views it holds carry (SECAGG_BAD_PROPOSAL, F12), it can check every secret it
 *      will help reconstruct (SECAGG_CANNOT_FOLLOW) and never-both holds (SECAGG_BOTH_KINDS).
 *   4. reveal: only for the lock it endorsed, and only once t endorsements certify that lock
 *      and — when the member was told to (`requireCharge`, the node with a chain) — once the
 *      ledger charged exactly that lock's U_3 (`lockToCharge`, `lockCharged`; red team F18: the
 *      reveals release the sum to anyone reading the gossip, so a round that aborts afterwards,
 *      or whose record no quorum can sign, must already be charged; Bonawitz et al. 2017 §4
 *      reveal nothing before the consistency check, and here nothing before the ledger holds
 *      the spend).
 *      Reconstructed secrets must match their public commitments (b_i: SHA-256 commitment in
 *      ShareKeys; s_j^SK: the advertised s_j^PK).
 *
 * Complaints (liveness, issue 13 / H8: two participants splitting the committee). A member whose
 * share from i does not authenticate or is malformed signs a Complaint(i) (`takeOutbox`). The
 * members that can never hold i's share are those i's ShareKeys does not address (public) plus
 * the addressed members that complain: unusable(i). A key-set leader leaves i out of U_2 when
 * unusable(i) ≥ m − t + 1 — then at most t − 1 members hold i's share, so no U_2 containing i can
 * gather t endorsements. Without this, participant A sending garbage to positions 0–2 and B to
 * 3–6 stalled every round: every leader held one of them and put it in U_2, and at most 4 < t
 * members could follow. c active members alone cannot push an honest participant (which
 * addresses every member with a good share) out this way as long as c ≤ m − t: (7, 5, c = 1)
 * needs 3 complaints, 2 of them honest. (With t = m — a committee of 3 or 2 members — one
 * complaint suffices; there any single member can stall every round anyway.) Complaints are a
 * member's word, not a proof: showing the share key would not prove which X25519 secret it came
 * from (a random key fails to decrypt as well), and showing c_k^SK would hand every share of
 * member k to the public. A DLEQ proof of the X25519 secret would make them verifiable (not built).
 * Who may be left out (red team F12: a malicious turn-0 leader dropped exactly the honest
 * participants, within the floors, and 5 of 12 colluding participants recovered the victim's input):
 *   - key set: a member refuses (SECAGG_BAD_PROPOSAL, reason 'omits-held-share') a U_2 that leaves
 *     out a U_1 participant whose share and commitment it holds, unless that participant is
 *     provably unusable (`provablyUnusable`: ≥ m − t + 1 members not addressed, public; or
 *     complaints by ≥ c + 1 distinct members, c = 2t − m − 1, so at least one is honest) or the
 *     record cap cuts it (U_2 = the first maxShared by id). An honest participant addresses every
 *     member whose advert it got with good shares, so ≤ c active members cannot make it
 *     unusable: every honest member holding its share refuses a U_2 without it, and at (7, 5) at
 *     most 1 + 2 members are left to endorse. This rule was rejected before for liveness and is
 *     now taken, safety first: with one member offline and a participant bad to 2 members (only
 *     2 complaints, which ≤ c active members could forge), its 4 live holders cannot include it
 *     and cannot leave it out, so every turn is refused and the round aborts before any view or
 *     reveal (attack-complaint-split, docs/secure-aggregation.md "What still stalls"). A benign
 *     leader that lacks a share a member holds is refused for its turn only; one key set per
 *     TURN lets the members endorse a later leader's U_2 that holds it.
 *   - omission grace Δ (`CommitteeTiming.keySetGraceMs`): both rules above (U_1 ⊇ held adverts,
 *     U_2 ⊇ held shares) apply only to items this member first held at or before
 *     max(now, the turn's due time on its own clock) − Δ; later ones may still be on their way to
 *     the leader (64-peer simulations: every turn refused, round aborted with 0 inputs). The
 *     leader can only raise that cutoff (proposing or being judged later), never lower it, so it
 *     may leave out only participants whose advert or share reached the honest members after
 *     their due time − Δ: keysMs − Δ after their open at turn 0 (a fault-free round forgives
 *     nothing). The network-delay residual below grows by exactly that window.
 *   - lock: a member refuses (SECAGG_BAD_PROPOSAL, reason 'omits-held-input', and a LockRefuse) a
 *     lock whose U_3 leaves out an entry of its own view that ≥ t views it holds under that key
 *     set carry (`keptInputs`): t views whose intersection keeps it exist, so leaving it out is
 *     the leader's choice. The leader cites t views that cover every such entry. The refusal is a
 *     promise like any other LockRefuse: `releaseQuorum`'s count only needs honest refusers to
 *     keep it, whatever their reason. The rule fires only with ≥ t views held: a member that has
 *     only the cited views (others delayed) cannot tell, and the F7 stall below remains in that
 *     timing.
 *   - lock, one view's omission (F26): a member also refuses (reason 'omission-by-one-view', and a
 *     LockRefuse) a lock whose U_3 leaves out an entry of its own view that every cited view but
 *     one carries. The rule above needs > t views to bite: with m − t members offline exactly t
 *     views exist, a lock must cite the malicious member's, and an input it omits is carried by
 *     t − 1 views. Counted over the cited views only, so delayed views do not blind it. A member
 *     cannot tell a malicious view from one that got the input late, so it refuses (the round may
 *     abort; nothing is revealed). Honest leaders cite views so that every omitted input is
 *     missing from ≥ 2 of them (`chooseViews`) or propose nothing. Dropping an honest input now
 *     takes two cited views lacking it: two active members, or one and an honest member the
 *     input reached late (network residual).
 *   What still isolates a victim: real dropouts (a participant that never sends its shares or its
 *   input is not held by anyone, so nobody refuses its absence; the floors bound how many, never
 *   which), or n − 1 colluding participants (the sum itself).
 *
 * Refusals and release (liveness, H8 F7: a member that signs two different Views). Each honest
 * member endorses one lock, so a lock that cites one of the two views and is refused by the
 * members holding the other could neither reach t nor be replaced. Now:
 *   - two different signed views of one member make it a proven equivocator (evidence kept); a
 *     leader never cites its views;
 *   - a lock citing a view that conflicts with one this member holds, or a proven equivocator's
 *     view, is endorsed only if the same (U_3, D) follows from ≥ t views of members that are not
 *     proven equivocators (the lock's content is then justified without the equivocator: safety
 *     never depended on which view was cited, only on the floors and one certified lock);
 *     otherwise it is refused as SECAGG_EQUIVOCATION, and the member signs a LockRefuse — a
 *     promise never to endorse that digest — carrying both views;
 *   - a member that endorsed X releases it once it holds refusals of X from
 *     r ≥ m − t + max(c − p, 0) + 1 distinct members that are not proven equivocators, where
 *     c = 2t − m − 1 is the most active members the thresholds tolerate and p the proven
 *     equivocators it knows (certify.ts `releaseQuorum`): at least r − (c − p) of the refusers are
 *     honest and never endorse X, so at most t − 1 members ever can. It never releases a lock it
 *     sees certified. It may then endorse one other lock (a LockRelease carrying those
 *     refusals), and again only after another release.
 *   Two certified locks remain impossible with fewer than 2t − m active members, as before: an
 *   honest member that endorsed both released one of them, which therefore never reached t; so
 *   the honest endorsers of two certified locks are disjoint, 2(t − c) ≤ m − c, against
 *   2t − m > c. (With c = `maliciousMembers` instead — 1 at (7, 5) — the red team's F14 made two
 *   curious members release a certified lock with 2 active members and recovered an input.)
 *   Still stalls: the lock leader cites the equivocator's version that cannot be justified and
 *   fewer than t − p honest members refuse it — at (7, 5), the cited version shown to 3 or more
 *   honest members (docs/secure-aggregation.md).
 */
import { bytesEqual, hash256, toHex0x, wipe } from '../bytes.js';
import { MAX_RECORD_ENTRIES } from '../chain/record.js';
import { MAX_COMMITTEE_SIZE } from '../messages/limits.js';
import {
  type AdvertiseKeysMsg,
  CertPhase,
  type ComplaintMsg,
  ComplaintReason,
  complaintStatement,
  type EndorseMsg,
  endorseStatement,
  type KeySetProposalMsg,
  keySetDigest,
  type LockRefuseMsg,
  type LockReleaseMsg,
  lockDigest,
  type ProposalMsg,
  type RevealedShare,
  type RevealMsg,
  SecAggKind,
  SHARE_PLAINTEXT_BYTES,
  SHARE_Y_BYTES,
  type ShareKeysMsg,
  type SignedView,
  type ViewEntry,
  type ViewMsg,
  viewStatement,
} from '../messages/secagg.js';
import type { StageMachine } from '../stage-machine.js';
import {
  type Certificate,
  certificateFor,
  certified,
  checkEndorsement,
  checkLeader,
  checkLivenessEvidence,
  endorse,
  releaseQuorum,
} from './certify.js';
import {
  type IdentitySign,
  type IdentityVerify,
  openShare,
  type SecAggCrypto,
  type SecretKeyHandle,
  selfMaskCommitment,
  shareAssociatedData,
} from './crypto.js';
import { SecAggError } from './errors.js';
import { checkFloors, floorViolation, requiredSurvivors } from './floors.js';
import { type MaskingGraph, maskingNeighbours } from './graph.js';
import { unmaskSum } from './masking.js';
import { checkContext, type MaskingGraphFor, roundMaskingGraphs, type SecAggRoundContext, scopeOf } from './participant.js';
import { verifyAdvert } from './round-keys.js';
import { reconstructAll, type SecretShares, type Share } from './shamir.js';
import { ShareVault } from './share-vault.js';
import { SecAggStage, secAggMachine } from './stages.js';
import { checkView, deriveLock, intersectViews, sameView, viewEquivocation } from './views.js';

export interface CommitteeDeps {
  readonly crypto: SecAggCrypto;
  readonly sign: IdentitySign;
  readonly verify: IdentityVerify;
  /**
   * Participants may have sealed this member's shares to a key it does not hold (a signed prekey
   * an earlier, lost state of this member published: node/services/secagg-prekeys.ts
   * `mayHoldStaleKey`). A share that names another recipient key (wire v3) is then no evidence
   * against its sender, so the member does not complain about it (red team F25: its complaint
   * about everyone would hand two active members the c + 1st complaint about whom they choose).
   * A share that names this member's own key and does not open is a complaint either way.
   */
  readonly staleKeys?: boolean;
}

/** What the member knows about one received masked input. */
export interface HeldInput {
  readonly participant: string;
  /** SHA-256 of the MaskedInputPayload (what views sign). */
  readonly inputHash: Uint8Array;
  readonly neighbours: readonly string[];
}

export interface UnmaskResult {
  /** U with input hashes, sorted. */
  readonly survivors: readonly ViewEntry[];
  /** D, sorted. */
  readonly dropped: readonly string[];
  /** Σ_{i∈U} q_i mod 2^32 (last word Σ n_i). */
  readonly sum: Uint32Array;
}

/** When a proposal's turn starts on this member's clock, and the clock's reading. */
export interface TurnClock {
  readonly now: number;
  readonly turnStart: (turn: number) => number;
  /**
   * When key-set turn `turn` is due on this member's clock (turn 0: its key deadline, openedAt +
   * keysMs), for the omission grace (`CommitteeTiming.keySetGraceMs`). Absent: `now`.
   */
  readonly turnDue?: (turn: number) => number;
  /**
   * The same for shares, if they may be sent later than adverts: without committee keys known at
   * open a participant shares once it holds every member's advert, or at keysMs when a member is
   * down, so the driver passes turnDue + keysMs. Absent: `turnDue`.
   */
  readonly shareDue?: (turn: number) => number;
}

/** Timing rules of the member (times from the driver's clock: protocol/ reads none). */
export interface CommitteeTiming {
  /**
   * Δ: a key-set proposal may leave out an advert (from U_1) or a share (from U_2) that this member
   * first held less than Δ before max(now, the turn's due time) — gossip still carrying it to the
   * leader (views diverged for tens of seconds in 64-peer simulations: every turn was refused). An
   * item held for ≥ Δ by then must be in (F9, F12: refused as today). 0: every held item must be
   * in. Must be below the key window (keysMs): an honest participant's advert and share that reach
   * this member within keysMs − Δ of its open are never forgivable (docs/secure-aggregation.md
   * "Excluding someone").
   */
  readonly keySetGraceMs: number;
}

/** Strict: no omission is forgiven (in-memory rounds, tests without a clock). */
export const NO_KEY_SET_GRACE: CommitteeTiming = { keySetGraceMs: 0 };

/**
 * Validate Δ against the key window (STYLE.md §11): an integer in [0, keysMs − 1]. With Δ ≥ keysMs
 * a turn-0 leader could leave out every item that arrived after the member opened the round, i.e.
 * all of them, and F12 would be open again.
 */
export function validateKeySetGrace(keySetGraceMs: number, keysMs: number): CommitteeTiming {
  if (!Number.isInteger(keySetGraceMs) || keySetGraceMs < 0 || keySetGraceMs >= keysMs) {
    throw new SecAggError('SECAGG_BAD_CONFIG', `keySetGraceMs=${keySetGraceMs}: integer in [0, keysMs − 1 = ${keysMs - 1}]`, {
      field: 'keySetGraceMs',
      value: keySetGraceMs,
      rule: `integer in [0, keysMs − 1 = ${keysMs - 1}]`,
    });
  }
  return { keySetGraceMs };
}

/** The default Δ: half the key window (5 s with the node's keysMs = 10 s, one recordGraceMs there). */
export const defaultKeySetGraceMs = (keysMs: number): number => Math.floor(keysMs / 2);

/** Turn 0 only, at once: for callers without leader rotation (in-memory rounds, tests). */
export const TURN_ZERO: TurnClock = { now: 0, turnStart: (turn) => (turn === 0 ? 0 : Number.POSITIVE_INFINITY) };

interface KeySet {
  readonly digest: Uint8Array;
  readonly advertised: readonly string[];
  readonly shared: readonly string[];
}

interface Lock {
  readonly digest: Uint8Array;
  /** The certified key set it names: U_3 ⊆ its U_2, D = its U_2 \ U_3, masks with its U_2. */
  readonly keySet: KeySet;
  readonly survivors: readonly ViewEntry[];
  readonly dropped: readonly string[];
}

const S = SecAggStage;

export class SecAggCommitteeMember {
  readonly machine: StageMachine<SecAggStage>;
  readonly position: number;
  /** Every proposal or message this member refused as a protocol violation, oldest first. */
  readonly evidence: SecAggError[] = [];
  private encryptionKey: SecretKeyHandle | undefined;
  /** c_k^PK: bound into every share's AD and key (crypto.ts `shareAssociatedData`). */
  private readonly encryptionPublicKey: Uint8Array;
  private readonly adverts = new Map<string, AdvertiseKeysMsg>();
  /**
   * When this member first held each participant's advert, and its share with the commitment (the
   * driver's clock, `at`; absent: −∞, held long enough): the omission grace (`CommitteeTiming`).
   */
  private readonly advertHeldAt = new Map<string, number>();
  private readonly shareHeldAt = new Map<string, number>();
  private readonly commitments = new Map<string, Uint8Array>();
  private readonly vault: ShareVault;
  private readonly inputs = new Map<string, HeldInput>();
  private readonly views = new Map<string, SignedView>();
  private readonly reveals = new Map<string, RevealMsg>();
  private readonly keySetProposals = new Map<string, KeySet>();
  /** Key-set endorsements by `sender/digest`: a member may endorse one key set per turn. */
  private readonly keySetEndorsements = new Map<string, EndorseMsg>();
  private readonly lockProposals = new Map<string, Lock>();
  private readonly lockEndorsements = new Map<string, EndorseMsg>();
  /** The key set this member endorsed, per turn. */
  private readonly endorsedKeySets = new Map<number, KeySet>();
  /** Every key set this member knows t endorsements of, by digest (hex). */
  private readonly certifiedKeySets = new Map<string, KeySet>();
  /** The first certified key set this member learned: the one its view is taken under. */
  private certifiedKeySet: KeySet | undefined;
  private endorsedLock: Lock | undefined;
  private followed: Lock | undefined;
  /** Recipients named in each participant's ShareKeys (public): a member not named can never hold its share. */
  private readonly shareRecipients = new Map<string, ReadonlySet<string>>();
  /** Valid complaints, by accused participant and then by complaining member. */
  private readonly complaints = new Map<string, Map<string, ComplaintMsg>>();
  /** Messages this member signed for the driver to publish (complaints, refusals, releases). */
  private outbox: (ComplaintMsg | LockRefuseMsg | LockReleaseMsg)[] = [];
  /** Proven equivocators: two different views each member signed. */
  private readonly equivocators = new Map<string, readonly [SignedView, SignedView]>();
  /** Valid refusals of lock digests (hex), by refusing member. */
  private readonly refusals = new Map<string, Map<string, LockRefuseMsg>>();
  /** Lock digests (hex) this member refused: it never endorses them. */
  private readonly refusedLocks = new Set<string>();
  /** Lock digests (hex) this member endorsed and then released (proven never to reach t). */
  private readonly releasedLocks = new Set<string>();
  /** Endorsements carried by LockRelease messages (second and later endorsements), by `sender/digest`. */
  private readonly releaseEndorsements = new Map<string, EndorseMsg>();
  /** Reveal only once the ledger charged the lock (`requireCharge`); never unset. */
  private chargeRequired = false;
  /** The lock digest the ledger charged exactly (`lockCharged`). */
  private chargedLock: Uint8Array | undefined;
  /** The round's masking graph for a certified U_2 (graph.ts); undefined: complete on U_2. */
  private readonly graphs: MaskingGraphFor;
  /** The masking graph's node set, when the round has one: nobody outside it can mask. */
  private readonly graphNodes: ReadonlySet<string> | undefined;

  constructor(
    readonly ctx: SecAggRoundContext,
    readonly self: string,
    /** c_i^SK; imported (copied), so the participant role may wipe its own copy independently. */
    encryptionSecretKey: Uint8Array,
    private readonly deps: CommitteeDeps,
    private readonly timing: CommitteeTiming = NO_KEY_SET_GRACE,
  ) {
    if (!Number.isInteger(timing.keySetGraceMs) || timing.keySetGraceMs < 0)
      throw new SecAggError('SECAGG_BAD_CONFIG', `keySetGraceMs=${timing.keySetGraceMs}: integer ≥ 0`, {
        field: 'keySetGraceMs',
        value: timing.keySetGraceMs,
        rule: 'integer ≥ 0',
      });
    this.position = ctx.committee.indexOf(self);
    if (this.position < 0)
      throw new SecAggError('SECAGG_NOT_COMMITTEE', `${self} is not on round ${ctx.round}'s committee`, { member: self });
    this.encryptionKey = deps.crypto.x25519.importSecret(encryptionSecretKey);
    this.encryptionPublicKey = deps.crypto.x25519.publicKey(encryptionSecretKey);
    this.vault = new ShareVault(self);
    this.machine = secAggMachine('committee', ctx.round, self);
    this.graphs = roundMaskingGraphs(ctx);
    this.graphNodes = ctx.maskingGraph === undefined ? undefined : new Set(ctx.maskingGraph.nodes);
  }

  get stage(): SecAggStage {
    return this.machine.stage;
  }

  /** Participants whose share this member holds, sorted. */
  get shareHolders(): string[] {
    return this.vault.participants;
  }

  get viewCount(): number {
    return this.views.size;
  }

  /** The first certified key set (U_1, U_2) this member learned (its view's), once t members endorsed one. */
  get keySet(): { readonly digest: Uint8Array; readonly advertised: readonly string[]; readonly shared: readonly string[] } | undefined {
    return this.certifiedKeySet;
  }

  /** The lock this member endorsed (at most one per round). */
  get endorsedLockDigest(): Uint8Array | undefined {
    return this.endorsedLock?.digest;
  }

  /** The certified lock this member reveals for (set by `reveal`). */
  get followedDigest(): Uint8Array | undefined {
    return this.followed?.digest;
  }

  /** U of the lock we follow (empty before one). */
  get followedSurvivors(): readonly ViewEntry[] {
    return this.followed?.survivors ?? [];
  }

  get followedDropped(): readonly string[] {
    return this.followed?.dropped ?? [];
  }

  /**
   * The most participants a key set may certify: the overflow bound's N, and never more than a
   * round record can list (protocol/chain/record.ts MAX_RECORD_ENTRIES): a larger sum could be
   * unmasked but never recorded (H8 F2).
   */
  private get maxShared(): number {
    return Math.min(this.ctx.config.maxParticipants, MAX_RECORD_ENTRIES);
  }

  beginShares(): void {
    this.machine.to(S.ShareKeys);
  }

  beginInputs(): void {
    this.machine.to(S.MaskedInput);
  }

  /** Keep `m.sender`'s advert; `at`: the driver's clock now (for the omission grace; absent: −∞). */
  addAdvert(m: AdvertiseKeysMsg, at: number = Number.NEGATIVE_INFINITY): void {
    this.machine.expect(S.AdvertiseKeys, S.ShareKeys, S.MaskedInput);
    checkContext(this.ctx, m);
    const prior = this.adverts.get(m.sender);
    if (prior !== undefined)
      throw new SecAggError('SECAGG_DUPLICATE', `second advertisement from ${m.sender}`, { sender: m.sender, kind: 'advertise' });
    verifyAdvert(this.ctx.binding, m, this.deps.verify);
    this.adverts.set(m.sender, m);
    this.advertHeldAt.set(m.sender, at);
  }

  /** Decrypt and keep this member's share pair from `m.sender`; `at` as in `addAdvert`. */
  addShareKeys(m: ShareKeysMsg, at: number = Number.NEGATIVE_INFINITY): void {
    this.machine.expect(S.ShareKeys, S.MaskedInput);
    checkContext(this.ctx, m);
    const adv = this.adverts.get(m.sender);
    if (adv === undefined || !adv.contributes) {
      throw new SecAggError('SECAGG_UNKNOWN_KEY', `shares from ${m.sender}, which advertised no contributing keys`, { sender: m.sender });
    }
    if (this.commitments.has(m.sender))
      throw new SecAggError('SECAGG_DUPLICATE', `second share message from ${m.sender}`, { sender: m.sender, kind: 'shares' });
    this.noteRecipients(m);
    const mine = m.shares.find((s) => s.recipient === this.self);
    if (mine === undefined) {
      throw new SecAggError('SECAGG_UNKNOWN_KEY', `${m.sender} sent no share to ${this.self}`, { sender: m.sender, recipient: this.self });
    }
    if (!bytesEqual(mine.recipientKey, this.encryptionPublicKey)) this.otherKey(m, mine.recipientKey);
    const ad = shareAssociatedData(
      scopeOf(this.ctx),
      { id: m.sender, publicKey: adv.encryptionKey },
      { id: this.self, publicKey: this.encryptionPublicKey },
    );
    if (this.encryptionKey === undefined)
      throw new SecAggError('SECAGG_UNKNOWN_KEY', 'encryption key already disposed', { sender: m.sender });
    let pt: Uint8Array;
    try {
      pt = openShare(this.encryptionKey, adv.encryptionKey, ad, mine.nonce, mine.ciphertext);
    } catch (e) {
      // The share names our key and does not authenticate under it: i is at fault (its ShareKeys
      // is signed gossip, so nobody else altered it). Complain, so that leaders can leave i out of U_2.
      if (e instanceof SecAggError && e.code === 'SECAGG_DECRYPT_FAILED') this.complain(m.sender);
      throw e;
    }
    try {
      if (pt.length !== SHARE_PLAINTEXT_BYTES || pt[0] !== this.position + 1) {
        this.complain(m.sender);
        throw new SecAggError('SECAGG_DECRYPT_FAILED', `share from ${m.sender} is for x=${pt[0]}, expected ${this.position + 1}`, {
          sender: m.sender,
          x: pt[0],
        });
      }
      const x = pt[0]!;
      this.vault.put(m.sender, { x, y: pt.slice(1, 1 + SHARE_Y_BYTES) }, { x, y: pt.slice(1 + SHARE_Y_BYTES) });
      this.commitments.set(m.sender, m.selfMaskCommitment);
      this.shareHeldAt.set(m.sender, at);
    } finally {
      wipe(pt);
    }
  }

  /**
   * The share addressed to us names a recipient key we do not hold for this round, so we never
   * try to open it (what the share names is what it is judged by: a participant gains nothing by
   * naming one key and sealing to another). In a round a lost prekey state of ours may have keyed
   * (`staleKeys`) it may be sealed to that lost key: the sender is not at fault and we stay silent,
   * as a member that never got the share (F25). Otherwise every key of ours a participant could
   * hold for the round is the one we hold (bundle and advert carry the same key), so the sender
   * named a key that is not ours: complain. As with a share that does not open, the commitment to
   * b_i is not kept: this member then cannot check a lock that includes the sender and does not
   * endorse it — a lock it endorses gets its reveals, and it has no share of the sender's b_i to
   * reveal (a lock certified by members lacking the shares would never reconstruct).
   */
  private otherKey(m: ShareKeysMsg, named: Uint8Array): never {
    const complained = this.deps.staleKeys !== true;
    if (complained) this.complain(m.sender);
    throw new SecAggError('SECAGG_WRONG_RECIPIENT_KEY', `${m.sender} sealed our share to another key`, {
      sender: m.sender,
      named: toHex0x(hash256(named)),
      held: toHex0x(hash256(this.encryptionPublicKey)),
      complained,
    });
  }

  /**
   * Learn the public commitment to b_i from a ShareKeys message that carries no share for
   * this member, or that arrived after its view (the decryption key is gone then: the share
   * stays unread). The commitment
   * is public — every member receives the same gossip message — so learning it reveals
   * nothing; it lets this member check a reconstructed b_i and so follow, and sign the result
   * of, a proposal whose U includes i on the strength of other members' views. A second
   * message from the same sender is ignored (the inbox already refuses equivocation).
   */
  learnCommitment(m: ShareKeysMsg): void {
    this.machine.expect(S.ShareKeys, S.MaskedInput, S.Unmask);
    checkContext(this.ctx, m);
    const adv = this.adverts.get(m.sender);
    if (adv === undefined || !adv.contributes) {
      throw new SecAggError('SECAGG_UNKNOWN_KEY', `commitment from ${m.sender}, which advertised no contributing keys`, {
        sender: m.sender,
      });
    }
    if (!this.commitments.has(m.sender)) this.commitments.set(m.sender, m.selfMaskCommitment.slice());
    this.noteRecipients(m);
  }

  // ── Complaints (liveness: participants that split the committee) ─────────────────────────

  private noteRecipients(m: ShareKeysMsg): void {
    if (!this.shareRecipients.has(m.sender)) this.shareRecipients.set(m.sender, new Set(m.shares.map((x) => x.recipient)));
  }

  /** Sign a complaint about `accused` (once) and queue it for publication. */
  private complain(accused: string): void {
    if (this.complaints.get(accused)?.has(this.self) === true) return;
    const reason = ComplaintReason.BadShare;
    const c: ComplaintMsg = {
      kind: SecAggKind.Complaint,
      federation: this.ctx.federation,
      round: this.ctx.round,
      sender: this.self,
      accused,
      reason,
      signature: this.deps.sign(complaintStatement(scopeOf(this.ctx), this.self, accused, reason)),
    };
    this.storeComplaint(c);
    this.outbox.push(c);
  }

  private storeComplaint(c: ComplaintMsg): void {
    let by = this.complaints.get(c.accused);
    if (by === undefined) {
      by = new Map();
      this.complaints.set(c.accused, by);
    }
    if (!by.has(c.sender)) by.set(c.sender, c);
  }

  /** Another member's complaint (kept as evidence; counted by `unusable`). Duplicates are ignored. */
  addComplaint(c: ComplaintMsg): void {
    checkContext(this.ctx, c);
    if (c.sender === this.self || this.complaints.get(c.accused)?.has(c.sender) === true) return;
    checkLivenessEvidence(scopeOf(this.ctx), c, this.ctx.committee, this.deps.verify);
    this.storeComplaint(c);
  }

  /** Members that complained about `participant` (sorted by committee position). */
  complainers(participant: string): string[] {
    const by = this.complaints.get(participant);
    return by === undefined ? [] : this.ctx.committee.filter((k) => by.has(k));
  }

  /**
   * How many committee members can never hold `participant`'s share: those its ShareKeys does not
   * address (public) plus the addressed ones that complained. Undefined before its ShareKeys.
   */
  unusable(participant: string): number | undefined {
    const to = this.shareRecipients.get(participant);
    if (to === undefined) return undefined;
    const by = this.complaints.get(participant);
    return this.ctx.committee.filter((k) => !to.has(k) || by?.has(k) === true).length;
  }

  /**
   * Whether `participant` can never be in a certified key set: unusable ≥ m − t + 1 leaves at most
   * t − 1 members able to endorse a U_2 containing it (if the complaints are honest; c ≤ m − t
   * active members alone never reach it for a participant that addressed every member).
   */
  excluded(participant: string): boolean {
    const u = this.unusable(participant);
    return u !== undefined && u >= this.ctx.committee.length - this.ctx.threshold + 1;
  }

  /**
   * Whether leaving `participant` out of U_2 is not the leader's choice (F12): its ShareKeys
   * addresses at most t − 1 members (≥ m − t + 1 not addressed: public, and then no U_2 holding it
   * can be certified), or ≥ c + 1 distinct members complained about it, c = 2t − m − 1 the active
   * members the thresholds tolerate (so at least one complaint is honest: the participant sent a
   * bad share). An honest participant addresses every member whose advert it got and sends good
   * shares, so ≤ c active members never make it provably unusable; a leader may still leave it out
   * only at the cost of every honest holder's refusal. Liveness cost (stated in
   * docs/secure-aggregation.md): a participant that is neither (e.g. bad to c members while
   * m − t + 1 − c others are offline) can be neither included nor left out: the key set stalls and
   * the round aborts before any reveal.
   */
  provablyUnusable(participant: string): boolean {
    const to = this.shareRecipients.get(participant);
    if (to === undefined) return false;
    const { committee, threshold } = this.ctx;
    const m = committee.length;
    const unaddressed = committee.filter((k) => !to.has(k)).length;
    const c = Math.max(2 * threshold - m - 1, 0);
    return unaddressed >= m - threshold + 1 || this.complainers(participant).length >= c + 1;
  }

  /**
   * Contributors whose share this member neither holds nor can show will never be held by enough
   * members (`provablyUnusable`: the omission every honest member accepts). A key-set leader that
   * waits for "every contributor shared" stops waiting once this is empty (machine/committee-stages.ts
   * KEY_SET), instead of waiting for shares that will never open until the key deadline. A share it
   * lacks for another reason (bad to this member only, sealed to a key it lost) is still waited
   * for: a U_2 without that participant would be refused by its holders (F12), and the complaints
   * that could make it provably unusable may still arrive.
   */
  awaitingShares(contributors: readonly string[]): string[] {
    return contributors.filter((p) => !(this.vault.has(p) && this.commitments.has(p)) && !this.provablyUnusable(p));
  }

  /** Complaints, refusals and releases this member signed since the last call, to publish (oldest first). */
  takeOutbox(): (ComplaintMsg | LockRefuseMsg | LockReleaseMsg)[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  /**
   * What this member lacks to verify and unmask a proposal with survivors `survivors` and
   * dropped `dropped`: a commitment (b_i cannot be checked), or advertised keys (s_j^SK cannot
   * be checked against s_j^PK, pairwise masks cannot be regenerated). Empty: it can.
   */
  missingMaterial(
    survivors: readonly string[],
    dropped: readonly string[],
  ): { reason: 'no-commitment' | 'no-advert'; participants: string[] } | undefined {
    const noAdvert = [...survivors, ...dropped].filter((p) => !this.adverts.has(p)).sort();
    if (noAdvert.length > 0) return { reason: 'no-advert', participants: noAdvert };
    const noCommitment = survivors.filter((p) => !this.commitments.has(p));
    if (noCommitment.length > 0) return { reason: 'no-commitment', participants: noCommitment };
    return undefined;
  }

  /** Record `e` as evidence and throw it. */
  private refuse(e: SecAggError): never {
    this.evidence.push(e);
    throw e;
  }

  // ── Phase 1: the key set (U_1, U_2) ────────────────────────────────────────────────────

  /**
   * Whether a key set this member would propose now passes its own floors (|U_2| ≥ ⌈α·|U_1|⌉,
   * ≥ k + 1, ≥ minSurvivors): a leader waits (for more shares) rather than propose one every
   * honest member refuses.
   */
  keySetReady(): boolean {
    const p = this.proposeKeySet(0);
    const { minNeighbours, minSurvivors, minSurvivorFraction } = this.ctx.config;
    const need = Math.max(
      requiredSurvivors(minSurvivorFraction, Math.min(p.advertised.length, this.maxShared)),
      minNeighbours + 1,
      minSurvivors,
    );
    return p.shared.length >= need && this.keySetGraphFloor(p.shared) === undefined;
  }

  /** Whether `p` is in the masking graph's node set (always, without a graph source). */
  private inGraph(p: string): boolean {
    return this.graphNodes?.has(p) ?? true;
  }

  /**
   * The neighbour and connectivity floors (floors.ts) on U_2 itself: U_3 ⊆ U_2 only loses edges,
   * so a U_2 whose masking graph leaves someone fewer than k neighbours, or is disconnected, can
   * never be locked. Skipped for the complete graph: there it is |U_2| ≥ k + 1, checked by the caller.
   */
  private keySetGraphFloor(shared: readonly string[]): ReturnType<typeof floorViolation> {
    const { minNeighbours } = this.ctx.config;
    const graph = this.graphs(shared);
    if (graph === undefined || graph.complete) return undefined; // |U_2| ≥ k + 1 is checked by the caller
    return floorViolation(shared, shared.length, (i) => maskingNeighbours(graph, shared, i), {
      minSurvivorFraction: 1,
      minNeighbours,
      minSurvivors: 0,
    });
  }

  /**
   * The leader's key-set proposal for `turn`: U_1 = contributing advertisers this member holds,
   * U_2 = those of U_1 whose own share it decrypted (so it can endorse its own proposal).
   */
  proposeKeySet(turn: number): KeySetProposalMsg {
    this.machine.expect(S.ShareKeys, S.MaskedInput);
    const advertised = [...this.adverts.values()]
      .filter((a) => a.contributes)
      .map((a) => a.sender)
      .sort();
    // At most maxParticipants (a round record's limit): the first by id, deterministically. A
    // participant with unusable ≥ m − t + 1 (complaints, omitted recipients) is left out even if we
    // hold its share: no U_2 containing it can be certified (see "Complaints" above).
    // Outside the masking graph's node set (graph.ts: the snapshot's members) a participant has no
    // neighbours and can never mask, so it is left out like an unusable one.
    const shared = advertised
      .filter((p) => this.vault.has(p) && this.commitments.has(p) && !this.excluded(p) && this.inGraph(p))
      .slice(0, this.maxShared);
    return {
      kind: SecAggKind.KeySetProposal,
      federation: this.ctx.federation,
      round: this.ctx.round,
      sender: this.self,
      turn,
      advertised,
      shared,
    };
  }

  /**
   * Check a key-set proposal and endorse it (at most one per turn). Returns undefined when it
   * is a key set already endorsed. Throws (and keeps as evidence) SECAGG_NOT_LEADER,
   * SECAGG_EARLY_PROPOSAL, SECAGG_CONFLICTING_PROPOSAL, SECAGG_CANNOT_FOLLOW (an advert, share
   * or commitment this member lacks: it may endorse a later turn's proposal once it has them),
   * SECAGG_FLOOR (U_2 too small for any lock to pass the floors).
   */
  onKeySetProposal(p: KeySetProposalMsg, clock: TurnClock): EndorseMsg<SecAggKind.KeySetEndorse> | undefined {
    this.machine.expect(S.ShareKeys, S.MaskedInput, S.Unmask);
    checkContext(this.ctx, p);
    const scope = scopeOf(this.ctx);
    const digest = keySetDigest(scope, p.advertised, p.shared);
    this.keySetProposals.set(toHex0x(digest), { digest, advertised: p.advertised, shared: p.shared });
    try {
      checkLeader(this.ctx.committee, p.sender, p.turn, clock.now, clock.turnStart);
    } catch (e) {
      this.refuse(e as SecAggError);
    }
    // One key set per turn (not per round: H8 F6). Endorsing turn τ+1's key set after turn τ's
    // is safe because nothing is revealed for a key set — only for the one certified lock, which
    // names one key set (certify.ts header).
    const sameTurn = this.endorsedKeySets.get(p.turn);
    if (sameTurn !== undefined) {
      if (bytesEqual(sameTurn.digest, digest)) return undefined;
      this.refuse(
        new SecAggError('SECAGG_CONFLICTING_PROPOSAL', `already endorsed key set ${toHex0x(sameTurn.digest)} in turn ${p.turn}`, {
          phase: 'key-set',
          turn: p.turn,
          endorsed: toHex0x(sameTurn.digest),
          offered: toHex0x(digest),
          proposer: p.sender,
        }),
      );
    }
    if ([...this.endorsedKeySets.values()].some((k) => bytesEqual(k.digest, digest))) return undefined;
    const u1 = new Set(p.advertised);
    const noAdvert = p.advertised.filter((i) => this.adverts.get(i)?.contributes !== true);
    const notAdvertised = p.shared.filter((i) => !u1.has(i));
    const noShare = p.shared.filter((i) => !this.vault.has(i) || !this.commitments.has(i));
    if (notAdvertised.length > 0) {
      this.refuse(
        new SecAggError('SECAGG_BAD_PROPOSAL', 'U_2 is not a subset of U_1', { proposer: p.sender, participants: notAdvertised }),
      );
    }
    // Omission grace Δ (`CommitteeTiming`): an advert or share this member first held after
    // `cutoff` may still be on its way to the leader (gossip under load: views diverged for tens of
    // seconds in 64-peer simulations and every turn was refused), so leaving it out is forgiven.
    // The cutoff is taken from the turn's due time on OUR clock, never earlier, so a leader cannot
    // widen it: proposing early (turn 0 may come before the key deadline) or having us decide early
    // forgives nothing more, and a fast fault-free round (everything held within keysMs − Δ of our
    // open) forgives nothing at all. What a malicious leader still gets is stated in
    // docs/secure-aggregation.md "Excluding someone": participants whose advert or share reached
    // the honest members within Δ of that time.
    const graceMs = this.timing.keySetGraceMs;
    const advertDue = clock.turnDue?.(p.turn) ?? clock.now;
    const cutoff = Math.max(clock.now, advertDue) - graceMs;
    const shareCutoff = Math.max(clock.now, clock.shareDue?.(p.turn) ?? advertDue) - graceMs;
    const heldLong = (at: number | undefined, by: number): boolean => (at ?? Number.NEGATIVE_INFINITY) <= by;
    // U_1 must hold every contributing advertiser this member knows: adverts go out when the round
    // opens, so a leader that leaves one out is shrinking the round on purpose (it could otherwise
    // pick U_2 = {victim, its own participants}: issue 13 attack 3 moved to the key set).
    const omittedAll = [...this.adverts.values()]
      .filter((a) => a.contributes && !u1.has(a.sender))
      .map((a) => a.sender)
      .sort();
    const omitted = omittedAll.filter((i) => heldLong(this.advertHeldAt.get(i), cutoff));
    if (omitted.length > 0) {
      this.refuse(
        new SecAggError('SECAGG_BAD_PROPOSAL', `U_1 omits ${omitted.length} advertiser(s) this member holds`, {
          proposer: p.sender,
          phase: 'key-set',
          reason: 'omits-held-advert',
          participants: omitted,
          graceMs,
          cutoff,
          forgiven: omittedAll.length - omitted.length,
        }),
      );
    }
    if (noAdvert.length > 0 || noShare.length > 0) {
      throw new SecAggError('SECAGG_CANNOT_FOLLOW', `cannot endorse key set of ${p.sender}: material missing`, {
        proposer: p.sender,
        phase: 'key-set',
        reason: noAdvert.length > 0 ? 'no-advert' : 'no-share',
        participants: noAdvert.length > 0 ? noAdvert : noShare,
      });
    }
    const { minNeighbours, minSurvivors, minSurvivorFraction } = this.ctx.config;
    // The survivor-fraction floor applies to U_2 against U_1 as it does to U_3 against U_2.
    // (Of at most maxParticipants: U_2 is capped at the record limit.)
    const fraction = requiredSurvivors(minSurvivorFraction, Math.min(p.advertised.length, this.maxShared));
    if (p.shared.length < fraction) {
      this.refuse(
        new SecAggError('SECAGG_FLOOR', `U_2 of ${p.shared.length} of ${p.advertised.length} advertisers`, {
          rule: 'shared-fraction',
          shared: p.shared.length,
          advertised: p.advertised.length,
          required: fraction,
        }),
      );
    }
    if (p.shared.length > this.maxShared) {
      this.refuse(
        new SecAggError('SECAGG_TOO_MANY_PARTICIPANTS', `U_2 of ${p.shared.length}, limit ${this.maxShared}`, {
          shared: p.shared.length,
          max: this.maxShared,
        }),
      );
    }
    const required = Math.max(minNeighbours + 1, minSurvivors);
    if (p.shared.length < required) {
      this.refuse(
        new SecAggError('SECAGG_FLOOR', `U_2 of ${p.shared.length} participants: no lock on it can pass the floors`, {
          rule: 'min-survivors',
          survivors: p.shared.length,
          required,
        }),
      );
    }
    // SecAgg+ (graph.ts): with a sparse masking graph, U_2 must already pass the neighbour and
    // connectivity floors — no lock on it could otherwise.
    const graphFloor = this.keySetGraphFloor(p.shared);
    if (graphFloor !== undefined) {
      this.refuse(new SecAggError('SECAGG_FLOOR', `U_2 breaks the ${graphFloor.rule} floor on the masking graph`, { ...graphFloor }));
    }
    // F12, key-set half: U_2 may leave out a U_1 participant whose share and commitment we hold
    // only if it is provably unusable (`provablyUnusable`) or the record cap forces it (U_2 = the
    // first maxShared by id). Otherwise the leader would choose whom the floor drops — the red
    // team's malicious turn-0 leader dropped exactly the honest participants. A benign leader that
    // lacks a share we hold is refused for its turn only; a later turn's leader includes it.
    const u2 = new Set(p.shared);
    const last = p.shared.length > 0 ? p.shared[p.shared.length - 1]! : '';
    const capped = p.shared.length >= this.maxShared;
    const leftOutAll = p.advertised.filter(
      (i) =>
        !u2.has(i) && this.vault.has(i) && this.commitments.has(i) && !this.provablyUnusable(i) && !(capped && i > last) && this.inGraph(i),
    );
    // Shares first held after their cutoff are forgiven, as adverts above (a share may be due
    // keysMs later than an advert: `TurnClock.shareDue`).
    const leftOut = leftOutAll.filter((i) => heldLong(this.shareHeldAt.get(i), shareCutoff));
    if (leftOut.length > 0) {
      this.refuse(
        new SecAggError('SECAGG_BAD_PROPOSAL', `U_2 leaves out ${leftOut.length} participant(s) whose share this member holds`, {
          proposer: p.sender,
          phase: 'key-set',
          reason: 'omits-held-share',
          participants: leftOut,
          graceMs,
          cutoff: shareCutoff,
          forgiven: leftOutAll.length - leftOut.length,
        }),
      );
    }
    this.endorsedKeySets.set(p.turn, { digest, advertised: p.advertised, shared: p.shared });
    const e = endorse(scope, SecAggKind.KeySetEndorse, CertPhase.KeySet, this.self, digest, this.deps.sign);
    this.keySetEndorsements.set(`${this.self}/${toHex0x(digest)}`, e);
    this.updateKeySet();
    return e;
  }

  /** Record a key-set proposal's content without endorsing it (a participant-only view of the wire, or a late one). */
  learnKeySetProposal(p: KeySetProposalMsg): void {
    checkContext(this.ctx, p);
    const digest = keySetDigest(scopeOf(this.ctx), p.advertised, p.shared);
    this.keySetProposals.set(toHex0x(digest), { digest, advertised: p.advertised, shared: p.shared });
    this.updateKeySet();
  }

  /**
   * A key-set endorsement. A member may endorse one key set per turn, so several digests per
   * sender are kept — at most one per committee member's turn (each leader proposes once per
   * round), beyond that SECAGG_DUPLICATE.
   */
  addKeySetEndorse(e: EndorseMsg): void {
    checkContext(this.ctx, e);
    if (e.sender === this.self) return;
    const key = `${e.sender}/${toHex0x(e.digest)}`;
    if (this.keySetEndorsements.has(key)) return; // the same endorsement again
    const bySender = [...this.keySetEndorsements.values()].filter((x) => x.sender === e.sender).length;
    if (bySender >= this.ctx.committee.length) {
      throw new SecAggError('SECAGG_DUPLICATE', `more than ${bySender} key-set endorsements from ${e.sender}`, {
        sender: e.sender,
        kind: 'key-set-endorse',
      });
    }
    checkEndorsement(scopeOf(this.ctx), CertPhase.KeySet, e, this.ctx.committee, this.deps.verify);
    this.keySetEndorsements.set(key, e);
    this.updateKeySet();
  }

  /** The certificate of the key set this member's view is taken under, once there is one. */
  keySetCertificate(): Certificate | undefined {
    const ks = this.certifiedKeySet;
    return ks === undefined ? undefined : this.keySetCertificateFor(ks.digest);
  }

  private keySetCertificateFor(digest: Uint8Array): Certificate | undefined {
    return certificateFor(
      scopeOf(this.ctx),
      CertPhase.KeySet,
      this.keySetEndorsements.values(),
      this.ctx.committee,
      this.ctx.threshold,
      this.deps.verify,
      digest,
    );
  }

  private updateKeySet(): void {
    for (const [hex, ks] of this.keySetProposals) {
      if (this.certifiedKeySets.has(hex) || this.keySetCertificateFor(ks.digest) === undefined) continue;
      this.certifiedKeySets.set(hex, ks);
      this.certifiedKeySet ??= ks;
    }
  }

  // ── Phase 2: views ─────────────────────────────────────────────────────────────────────

  /**
   * MASKED_INPUT → UNMASK: sign the view of the inputs this member holds and can help unmask:
   * i ∈ U_2 of the certified key set, neighbour set exactly U_2 \ {i}, our share and the
   * commitment held. Wipes c^SK: no share is decrypted after the view.
   */
  signView(held: readonly HeldInput[]): ViewMsg {
    this.machine.expect(S.MaskedInput);
    const ks = this.certifiedKeySet;
    if (ks === undefined) throw new SecAggError('SECAGG_NOT_CERTIFIED', 'no certified key set before the view', { phase: 'key-set' });
    const u2 = new Set(ks.shared);
    const graph = this.graphs(ks.shared);
    for (const h of held) {
      if (!u2.has(h.participant) || !this.vault.has(h.participant) || !this.commitments.has(h.participant)) continue;
      if (!sameIds(h.neighbours, maskingNeighbours(graph, ks.shared, h.participant))) continue;
      this.inputs.set(h.participant, h);
    }
    const entries = [...this.inputs.values()]
      .map((h) => ({ participant: h.participant, inputHash: h.inputHash }))
      .sort((a, b) => (a.participant < b.participant ? -1 : 1));
    const signature = this.deps.sign(viewStatement(scopeOf(this.ctx), this.self, ks.digest, entries));
    this.disposeEncryptionKey();
    this.machine.to(S.Unmask);
    const view = { member: this.self, keySet: ks.digest.slice(), entries, signature };
    this.views.set(this.self, view);
    return { kind: SecAggKind.View, federation: this.ctx.federation, round: this.ctx.round, sender: this.self, view };
  }

  /**
   * A View message. If this member already holds a different view by the same member (cited
   * in a proposal), that is equivocation: refused and kept as evidence.
   */
  addView(m: ViewMsg): void {
    this.machine.expect(S.Unmask);
    checkContext(this.ctx, m);
    if (m.sender === this.self) return;
    checkView(m.view, scopeOf(this.ctx), this.ctx.committee, this.deps.verify);
    const prior = this.views.get(m.sender);
    if (prior !== undefined) {
      if (sameView(prior, m.view)) return;
      this.noteEquivocation(prior, m.view);
      this.refuse(viewEquivocation(m.view, prior, '(earlier proposal)'));
    }
    this.views.set(m.sender, m.view);
  }

  /** Two different valid views by one member: it is a proven equivocator (kept once). */
  private noteEquivocation(a: SignedView, b: SignedView): void {
    if (a.member === b.member && !sameView(a, b) && !this.equivocators.has(a.member)) this.equivocators.set(a.member, [a, b]);
  }

  /** How many lock endorsements this member released (each proven unable to reach t). */
  get releasedLockCount(): number {
    return this.releasedLocks.size;
  }

  /** Members this member holds two different signed views of, sorted. */
  get provenEquivocators(): string[] {
    return [...this.equivocators.keys()].sort();
  }

  // ── Phase 3: the lock on (U_3, D) ──────────────────────────────────────────────────────

  /**
   * The leader's lock proposal for `turn`: t views under the certified key set with the most views,
   * chosen so that U_3 (their intersection) keeps every input that ≥ t held views carry
   * (`keptInputs`) — members refuse a lock that leaves out such an input of their own view (F12) —
   * and leaves out no input that exactly one cited view lacks (F26, `chooseViews`); the largest
   * such U_3, ours first on a tie. If fewer than t views carry all the F12 inputs, the choice is
   * among all held views. Members recompute U_3 from the cited views.
   * Throws SECAGG_TOO_FEW_VIEWS (`reason` 'omission-by-one-view') when no choice satisfies F26:
   * nothing is proposed. Throws SECAGG_FLOOR when the derived U_3 breaks a floor: the round aborts
   * before any reveal.
   */
  proposeLock(turn: number): ProposalMsg {
    this.machine.expect(S.Unmask);
    const { threshold, config, federation, round } = this.ctx;
    const own = this.requireKeySet();
    // The certified key set with the most views (ours on a tie): a lock cites only views taken
    // under the key set it names.
    let ks = own;
    let mine = this.viewsUnder(own.digest);
    for (const other of this.certifiedKeySets.values()) {
      const vs = this.viewsUnder(other.digest);
      if (vs.length > mine.length) {
        ks = other;
        mine = vs;
      }
    }
    if (mine.length < threshold) {
      throw new SecAggError('SECAGG_TOO_FEW_VIEWS', `${mine.length} views under one key set, threshold ${threshold}`, {
        have: mine.length,
        threshold,
      });
    }
    // F12: members refuse a lock that leaves out an input of their view that ≥ t held views carry,
    // so cite only views that carry every such input when t of them do. F26: among those, no input
    // may be missing from exactly one cited view (`chooseViews`).
    const target = keptInputs(mine, threshold);
    const covering = mine.filter((v) =>
      target.every((e) => v.entries.some((x) => x.participant === e.participant && bytesEqual(x.inputHash, e.inputHash))),
    );
    const ownView = this.views.get(this.self);
    const chosen = chooseViews(
      ownView !== undefined && bytesEqual(ownView.keySet, ks.digest) ? ownView : undefined,
      covering.length >= threshold ? covering : mine,
      threshold,
      ks.shared,
    );
    if (chosen === undefined) {
      // Every choice of t views leaves out an input that one chosen view alone lacks: honest members
      // carrying it would refuse (F26). Propose nothing; more views may make a choice possible.
      throw new SecAggError('SECAGG_TOO_FEW_VIEWS', `no ${threshold} of ${mine.length} views leave out only inputs that ≥ 2 of them lack`, {
        have: mine.length,
        threshold,
        reason: 'omission-by-one-view',
      });
    }
    const views = chosen.sort((a, b) => (a.member < b.member ? -1 : 1));
    const { survivors, dropped } = deriveLock(views, ks.shared);
    const ids = survivors.map((e) => e.participant);
    const graph = this.graphs(ks.shared);
    checkFloors(ids, ks.shared.length, (i) => neighboursIn(graph, ks, i), config);
    return { kind: SecAggKind.Proposal, federation, round, sender: this.self, turn, keySet: ks.digest, survivors: ids, dropped, views };
  }

  /** Views under one key set, never a proven equivocator's (F7: citing one splits the committee). */
  private viewsUnder(digest: Uint8Array): SignedView[] {
    return [...this.views.values()].filter((v) => bytesEqual(v.keySet, digest) && !this.equivocators.has(v.member));
  }

  /**
   * Check a lock proposal and endorse it. Returns the endorsement, or undefined when it is the
   * lock already endorsed. Nothing is revealed here: `reveal` does, once the lock is certified.
   */
  onLockProposal(p: ProposalMsg, clock: TurnClock): EndorseMsg<SecAggKind.LockEndorse> | undefined {
    this.machine.expect(S.Unmask);
    checkContext(this.ctx, p);
    const scope = scopeOf(this.ctx);
    const { config } = this.ctx;
    const lock = this.checkLock(p, clock);
    const hex = toHex0x(lock.digest);
    this.lockProposals.set(hex, lock);
    if (this.endorsedLock !== undefined && bytesEqual(this.endorsedLock.digest, lock.digest)) return undefined;
    if (this.refusedLocks.has(hex) || this.releasedLocks.has(hex)) {
      // A digest we promised never to endorse (LockRefuse, kept as evidence when we refused it), or
      // released as unable to reach t. Not kept again: a driver may offer the proposal many times.
      throw new SecAggError('SECAGG_CONFLICTING_PROPOSAL', `lock ${hex} was refused or released by this member`, {
        phase: 'lock',
        offered: hex,
        proposer: p.sender,
        refused: this.refusedLocks.has(hex),
      });
    }
    this.tryRelease();
    if (this.endorsedLock !== undefined) {
      // Not kept as evidence: once refusals prove our lock cannot reach t (`tryRelease`), this
      // proposal may be offered again and endorsed.
      throw new SecAggError('SECAGG_CONFLICTING_PROPOSAL', `already endorsed lock ${toHex0x(this.endorsedLock.digest)}`, {
        phase: 'lock',
        endorsed: toHex0x(this.endorsedLock.digest),
        offered: toHex0x(lock.digest),
        proposer: p.sender,
      });
    }
    const ids = lock.survivors.map((e) => e.participant);
    // Refuse, before endorsing, a lock we could not verify or unmask ourselves (never received a
    // survivor's commitment or a participant's advert): we would reveal for a sum we can never check.
    const missing = this.missingMaterial(ids, lock.dropped);
    if (missing !== undefined) {
      throw new SecAggError(
        'SECAGG_CANNOT_FOLLOW',
        `cannot verify lock of ${p.sender}: ${missing.reason} for ${missing.participants.length} participant(s)`,
        {
          proposer: p.sender,
          reason: missing.reason,
          participants: missing.participants,
        },
      );
    }
    if (ids.length > config.maxParticipants) {
      this.refuse(
        new SecAggError('SECAGG_TOO_MANY_PARTICIPANTS', `${ids.length} survivors, overflow bound is for ${config.maxParticipants}`, {
          survivors: ids.length,
          max: config.maxParticipants,
        }),
      );
    }
    try {
      this.vault.checkRequest(ids, lock.dropped);
    } catch (e) {
      this.refuse(e as SecAggError);
    }
    const e = endorse(scope, SecAggKind.LockEndorse, CertPhase.Lock, this.self, lock.digest, this.deps.sign);
    if (this.releasedLocks.size === 0) {
      this.endorsedLock = lock;
      this.lockEndorsements.set(this.self, e);
      return e;
    }
    // A second (or later) endorsement, after a release: published as a LockRelease carrying the
    // refusals that prove the released lock can never reach t (the inbox keeps one LockEndorse per
    // member; a bare second one is equivocation to every peer).
    const released = this.lastReleased!;
    this.endorsedLock = lock;
    this.releaseEndorsements.set(`${this.self}/${hex}`, e);
    this.outbox.push({
      kind: SecAggKind.LockRelease,
      federation: this.ctx.federation,
      round: this.ctx.round,
      sender: this.self,
      released: released.digest,
      digest: lock.digest.slice(),
      signature: e.signature,
      refusals: released.refusals,
    });
    return undefined;
  }

  /** The lock released last, with the refusals that justified it (sorted by member). */
  private lastReleased: { digest: Uint8Array; refusals: { member: string; signature: Uint8Array }[] } | undefined;

  /**
   * Release our lock endorsement if refusals prove it can never reach t: valid refusals by
   * r ≥ m − t + max(c − p, 0) + 1 distinct members that are not proven equivocators (certify.ts
   * `releaseQuorum`; the argument is in this file's header). Returns whether it released.
   */
  tryRelease(): boolean {
    const lock = this.endorsedLock;
    if (lock === undefined || this.followed !== undefined) return false;
    const { committee, threshold } = this.ctx;
    const hex = toHex0x(lock.digest);
    const by = this.refusals.get(hex);
    if (by === undefined) return false;
    const counted = [...by.values()].filter((r) => r.sender !== this.self && !this.equivocators.has(r.sender));
    const need = releaseQuorum(committee.length, threshold, this.equivocators.size);
    if (counted.length < need) return false;
    // Still certified in our eyes? Then it reached t despite the refusals: more than c members are
    // active, and we keep to the lock (never release a certified lock).
    const cert = this.lockCertificate();
    if (cert !== undefined && bytesEqual(cert.digest, lock.digest)) return false;
    this.releasedLocks.add(hex);
    this.lastReleased = {
      digest: lock.digest.slice(),
      refusals: counted.map((r) => ({ member: r.sender, signature: r.signature })).sort((a, b) => (a.member < b.member ? -1 : 1)),
    };
    this.endorsedLock = undefined;
    return true;
  }

  /**
   * Another member's LockRefuse: kept (it may release our lock), and its evidence — two different
   * views of one member — makes that member a proven equivocator here too.
   */
  addLockRefuse(m: LockRefuseMsg): void {
    checkContext(this.ctx, m);
    if (m.sender === this.self) return;
    const hex = toHex0x(m.digest);
    if (this.refusals.get(hex)?.has(m.sender) === true) return;
    checkLivenessEvidence(scopeOf(this.ctx), m, this.ctx.committee, this.deps.verify);
    if (m.evidence.length === 2) this.noteEquivocation(m.evidence[0]!, m.evidence[1]!);
    let by = this.refusals.get(hex);
    if (by === undefined) {
      by = new Map();
      this.refusals.set(hex, by);
    }
    by.set(m.sender, m);
    this.tryRelease();
  }

  /**
   * Another member's LockRelease: its endorsement of `m.digest` counts toward that lock's
   * certificate. Refused (SECAGG_NOT_CERTIFIED) unless its refusals reach m − t + 1, the least any
   * release needs (the releaser's own count also depends on the equivocators it knows).
   */
  addLockRelease(m: LockReleaseMsg): void {
    checkContext(this.ctx, m);
    if (m.sender === this.self) return;
    const key = `${m.sender}/${toHex0x(m.digest)}`;
    if (this.releaseEndorsements.has(key)) return;
    checkLivenessEvidence(scopeOf(this.ctx), m, this.ctx.committee, this.deps.verify);
    // The least any release needs: every one of the c = 2t − m − 1 tolerated active members proven.
    const min = releaseQuorum(this.ctx.committee.length, this.ctx.threshold, this.ctx.committee.length);
    if (m.refusals.length < min) {
      throw new SecAggError('SECAGG_NOT_CERTIFIED', `release by ${m.sender} carries ${m.refusals.length} refusals, needs ${min}`, {
        phase: 'release',
        have: m.refusals.length,
        need: min,
      });
    }
    const bySender = [...this.releaseEndorsements.values()].filter((x) => x.sender === m.sender).length;
    if (bySender >= this.ctx.committee.length) {
      throw new SecAggError('SECAGG_DUPLICATE', `more than ${bySender} releases from ${m.sender}`, {
        sender: m.sender,
        kind: 'lock-release',
      });
    }
    this.releaseEndorsements.set(key, {
      kind: SecAggKind.LockEndorse,
      federation: m.federation,
      round: m.round,
      sender: m.sender,
      digest: m.digest,
      signature: m.signature,
    });
  }

  /** Sign a refusal of `digest` (a promise never to endorse it), with `evidence`, and queue it. */
  private refuseLock(digest: Uint8Array, evidence: readonly SignedView[]): void {
    const hex = toHex0x(digest);
    if (this.refusedLocks.has(hex)) return;
    if (this.endorsedLock !== undefined && bytesEqual(this.endorsedLock.digest, digest)) return;
    if (this.releasedLocks.has(hex)) return;
    this.refusedLocks.add(hex);
    this.outbox.push({
      kind: SecAggKind.LockRefuse,
      federation: this.ctx.federation,
      round: this.ctx.round,
      sender: this.self,
      digest: digest.slice(),
      signature: this.deps.sign(endorseStatement(scopeOf(this.ctx), CertPhase.Refuse, digest)),
      evidence: evidence.length === 2 ? evidence : [],
    });
  }

  /** Every rule of a lock proposal except "one lock per member" and material; returns the lock. */
  private checkLock(p: ProposalMsg, clock: TurnClock): Lock {
    const { committee, threshold, config } = this.ctx;
    const scope = scopeOf(this.ctx);
    const bad = (msg: string, fields: Record<string, unknown>): never =>
      this.refuse(new SecAggError('SECAGG_BAD_PROPOSAL', `lock proposal by ${p.sender}: ${msg}`, { proposer: p.sender, ...fields }));
    if (!committee.includes(p.sender)) {
      this.refuse(new SecAggError('SECAGG_NOT_COMMITTEE', `proposal by ${p.sender}, not on the round's committee`, { member: p.sender }));
    }
    try {
      checkLeader(committee, p.sender, p.turn, clock.now, clock.turnStart);
    } catch (e) {
      this.refuse(e as SecAggError);
    }
    // The lock's key set must be one this member knows certified (any of them, not only its own):
    // until it learns the proposal and t endorsements it cannot check the lock (retry later).
    if (p.views.some((v) => !bytesEqual(v.keySet, p.keySet))) bad('cites a view taken under another key set', {});
    const ks = this.certifiedKeySets.get(toHex0x(p.keySet));
    if (ks === undefined) {
      throw new SecAggError('SECAGG_CANNOT_FOLLOW', `lock of ${p.sender} names a key set this member does not know certified`, {
        proposer: p.sender,
        reason: 'no-key-set',
        keySet: toHex0x(p.keySet),
      });
    }
    const signers = new Set(p.views.map((v) => v.member));
    if (signers.size !== p.views.length) bad('repeated view signer', {});
    if (p.views.length < threshold) {
      this.refuse(
        new SecAggError('SECAGG_TOO_FEW_VIEWS', `${p.views.length} views, threshold ${threshold}`, { have: p.views.length, threshold }),
      );
    }
    // A cited view that differs from the one we hold, or by a proven equivocator (F7).
    let conflict: { error: SecAggError; evidence: readonly SignedView[] } | undefined;
    for (const v of p.views) {
      try {
        checkView(v, scope, committee, this.deps.verify);
      } catch (e) {
        this.refuse(e as SecAggError);
      }
      const received = this.views.get(v.member);
      if (received !== undefined && !sameView(received, v)) {
        this.noteEquivocation(received, v);
        conflict ??= { error: viewEquivocation(received, v, p.sender), evidence: [received, v] };
      } else if (this.equivocators.has(v.member)) {
        const pair = this.equivocators.get(v.member)!;
        conflict ??= {
          error: new SecAggError('SECAGG_EQUIVOCATION', `lock of ${p.sender} cites a view of ${v.member}, a proven equivocator`, {
            member: v.member,
            proposer: p.sender,
            proven: true,
          }),
          evidence: pair,
        };
      }
    }
    // Every cited view is now this member's record of that member's view: a different View later is equivocation.
    for (const v of p.views) if (!this.views.has(v.member)) this.views.set(v.member, v);
    const expected = deriveLock(p.views, ks.shared);
    if (conflict !== undefined) {
      // The lock's content (U_3, D) may still follow from views of members that are not proven
      // equivocators: then the equivocator's view changed nothing, and we endorse the content (the
      // evidence is kept). Otherwise refuse, and promise never to endorse this digest (LockRefuse
      // with both views): that is what lets the members who endorsed it release it (F7).
      if (this.justifiedWithoutEquivocators(ks, expected.survivors)) this.evidence.push(conflict.error);
      else {
        this.refuseLock(lockDigest(scope, ks.digest, expected.survivors, expected.dropped), conflict.evidence);
        this.refuse(conflict.error);
      }
    }
    if (
      !sameIds(
        expected.survivors.map((e) => e.participant),
        p.survivors,
      ) ||
      !sameIds(expected.dropped, p.dropped)
    ) {
      bad('U_3 and D do not follow from the cited views and the certified U_2', {
        expected: { survivors: expected.survivors.length, dropped: expected.dropped.length },
        got: { survivors: p.survivors.length, dropped: p.dropped.length },
      });
    }
    try {
      const graph = this.graphs(ks.shared);
      checkFloors(p.survivors, ks.shared.length, (i) => neighboursIn(graph, ks, i), config);
    } catch (e) {
      this.refuse(e as SecAggError);
    }
    // F12, lock half: an input of our own signed view that ≥ t views we hold carry (t members vouch
    // for it, so t views whose intersection keeps it exist) must be in U_3. Otherwise the leader
    // chose which inputs the intersection drops — the red team's malicious turn-0 leader cited its
    // own view, which omitted exactly the honest inputs. We refuse and sign a LockRefuse (a promise
    // never to endorse this digest; certify.ts `releaseQuorum` counts any refusal, since an honest
    // member keeps that promise whatever its reason), so that a benign leader that held fewer views
    // than we do can be released from and a later turn's lock keep the input.
    const own = this.views.get(this.self);
    // (Also when a cited view conflicts but the content was justified without the equivocator:
    // justification does not show that no ≥ t views keep an omitted input.)
    if (own !== undefined && bytesEqual(own.keySet, ks.digest)) {
      const inU3 = new Set(expected.survivors.map((e) => `${e.participant}/${toHex0x(e.inputHash)}`));
      const ownKeys = new Set(own.entries.map((e) => `${e.participant}/${toHex0x(e.inputHash)}`));
      const u2 = new Set(ks.shared);
      const omitted = keptInputs(this.viewsUnder(ks.digest), threshold)
        .filter((e) => u2.has(e.participant))
        .map((e) => `${e.participant}/${toHex0x(e.inputHash)}`)
        .filter((k) => ownKeys.has(k) && !inU3.has(k))
        .map((k) => k.slice(0, k.lastIndexOf('/')));
      if (omitted.length > 0) {
        this.refuseLock(lockDigest(scope, ks.digest, expected.survivors, expected.dropped), []);
        this.refuse(
          new SecAggError('SECAGG_BAD_PROPOSAL', `lock of ${p.sender} leaves out ${omitted.length} input(s) of this member's view`, {
            proposer: p.sender,
            phase: 'lock',
            reason: 'omits-held-input',
            participants: omitted,
          }),
        );
      }
      // F26: an input of our own view that every cited view but one carries is left out of U_3 by
      // that one view alone. With m − t members offline only t views exist, so the rule above
      // (≥ t views carry it) cannot fire, and a malicious member's view that omits honest inputs
      // chose whom the floor drops (red team F26). We cannot tell a malicious view from an honest
      // one that saw the input late, so we refuse (safety first: the round may abort, nothing is
      // revealed) and sign a LockRefuse like any refusal. Counted over the cited views only, so it
      // also holds when the other views are delayed. An omission needs ≥ 2 cited views lacking
      // the input (one of them honest when a single member is active); honest leaders choose
      // views that way (`chooseViews`).
      const byOne = omittedByOneView(own, p.views, inU3, u2);
      if (byOne.length > 0) {
        this.refuseLock(lockDigest(scope, ks.digest, expected.survivors, expected.dropped), []);
        this.refuse(
          new SecAggError(
            'SECAGG_BAD_PROPOSAL',
            `lock of ${p.sender} leaves out ${byOne.length} input(s) of this member's view that one cited view alone omits`,
            {
              proposer: p.sender,
              phase: 'lock',
              reason: 'omission-by-one-view',
              participants: byOne.map((x) => x.participant),
              omittedBy: byOne.map((x) => x.by),
            },
          ),
        );
      }
    }
    return {
      digest: lockDigest(scope, ks.digest, expected.survivors, expected.dropped),
      keySet: ks,
      survivors: expected.survivors,
      dropped: expected.dropped,
    };
  }

  /**
   * Whether exactly `survivors` (with their input hashes) is the intersection of ≥ t views under
   * `ks` by members that are not proven equivocators: the views holding every survivor entry, all
   * of them (a subset's intersection can only be larger).
   */
  private justifiedWithoutEquivocators(ks: KeySet, survivors: readonly ViewEntry[]): boolean {
    const supporting = this.viewsUnder(ks.digest).filter((v) => {
      const held = new Map(v.entries.map((e) => [e.participant, e.inputHash]));
      return survivors.every((e) => bytesEqualOpt(held.get(e.participant), e.inputHash));
    });
    if (supporting.length < this.ctx.threshold) return false;
    const u2 = new Set(ks.shared);
    const got = intersectViews(supporting).filter((e) => u2.has(e.participant));
    return sameIds(
      got.map((e) => e.participant),
      survivors.map((e) => e.participant),
    );
  }

  addLockEndorse(e: EndorseMsg): void {
    checkContext(this.ctx, e);
    if (e.sender === this.self) return;
    const prior = this.lockEndorsements.get(e.sender);
    if (prior !== undefined) {
      if (bytesEqual(prior.digest, e.digest)) return; // the same endorsement again
      throw new SecAggError('SECAGG_DUPLICATE', `second lock endorsement from ${e.sender}`, { sender: e.sender, kind: 'lock-endorse' });
    }
    checkEndorsement(scopeOf(this.ctx), CertPhase.Lock, e, this.ctx.committee, this.deps.verify);
    this.lockEndorsements.set(e.sender, e);
  }

  /** The lock certificate (t endorsements on one digest), once there is one. */
  lockCertificate(): Certificate | undefined {
    return certified(
      scopeOf(this.ctx),
      CertPhase.Lock,
      [...this.lockEndorsements.values(), ...this.releaseEndorsements.values()],
      this.ctx.committee,
      this.ctx.threshold,
      this.deps.verify,
    );
  }

  // ── Phase 4: reveal and unmask ─────────────────────────────────────────────────────────

  /**
   * From now on, reveal only once the ledger charged the lock (`lockCharged`): a member whose
   * node has a chain calls it before the round (red team F18). It cannot be undone.
   */
  requireCharge(): void {
    this.chargeRequired = true;
  }

  /** Whether this member reveals only after `lockCharged`. */
  get requiresCharge(): boolean {
    return this.chargeRequired;
  }

  /** The lock this member endorsed, once t endorsements certify it (its digest, U_3 and D). */
  private certifiedEndorsedLock(): Lock | undefined {
    const lock = this.endorsedLock;
    if (lock === undefined) return undefined;
    const cert = this.lockCertificate();
    if (cert === undefined || !bytesEqual(cert.digest, lock.digest)) return undefined;
    return lock;
  }

  /**
   * What the ledger must charge before this member reveals (red team F18): the certified lock it
   * endorsed, with U_3 (entries with their input hashes) and D. Undefined until t endorsements
   * certify the lock it endorsed. A certified lock is never released (`tryRelease`), so the
   * answer does not change once given.
   */
  lockToCharge():
    | { readonly digest: Uint8Array; readonly survivors: readonly ViewEntry[]; readonly dropped: readonly string[] }
    | undefined {
    const lock = this.certifiedEndorsedLock();
    return lock === undefined ? undefined : { digest: lock.digest.slice(), survivors: lock.survivors, dropped: lock.dropped };
  }

  /**
   * The ledger charged exactly the U_3 of lock `digest` (the node checked the chain's charge
   * against this lock's lines). Throws SECAGG_NOT_CHARGED for a digest that is not this
   * member's certified lock: nothing is revealed for it.
   */
  lockCharged(digest: Uint8Array): void {
    const lock = this.certifiedEndorsedLock();
    if (lock === undefined || !bytesEqual(lock.digest, digest)) {
      throw new SecAggError('SECAGG_NOT_CHARGED', `charge for lock ${toHex0x(digest)}, not this member's certified lock`, {
        lock: toHex0x(digest),
        reason: 'not-the-certified-lock',
        ...(lock !== undefined ? { certified: toHex0x(lock.digest) } : {}),
      });
    }
    this.chargedLock = digest.slice();
  }

  /**
   * Reveal b-shares for U_3 and s^SK-shares for D — only for the lock this member endorsed,
   * only once t endorsements certify it, and (`requireCharge`) only once the ledger charged it.
   * Returns undefined until then, and after the reveal was made.
   */
  reveal(): RevealMsg | undefined {
    this.machine.expect(S.Unmask);
    if (this.followed !== undefined) return undefined;
    const lock = this.certifiedEndorsedLock();
    if (lock === undefined) return undefined;
    if (this.chargeRequired && (this.chargedLock === undefined || !bytesEqual(this.chargedLock, lock.digest))) return undefined;
    const ids = lock.survivors.map((e) => e.participant);
    this.vault.checkRequest(ids, lock.dropped);
    const selfMaskShares: RevealedShare[] = [];
    const keyShares: RevealedShare[] = [];
    for (const i of ids) if (this.vault.has(i)) selfMaskShares.push({ participant: i, ...this.vault.reveal(i, 'self-mask') });
    for (const j of lock.dropped) if (this.vault.has(j)) keyShares.push({ participant: j, ...this.vault.reveal(j, 'mask-key') });
    this.followed = lock;
    const reveal: RevealMsg = {
      kind: SecAggKind.Reveal,
      federation: this.ctx.federation,
      round: this.ctx.round,
      sender: this.self,
      proposal: lock.digest,
      selfMaskShares,
      keyShares,
    };
    this.reveals.set(this.self, reveal);
    return reveal;
  }

  addReveal(m: RevealMsg): void {
    this.machine.expect(S.Unmask);
    checkContext(this.ctx, m);
    if (!this.ctx.committee.includes(m.sender)) {
      throw new SecAggError('SECAGG_NOT_COMMITTEE', `reveal from ${m.sender}, not on the round's committee`, { member: m.sender });
    }
    if (m.sender === this.self) return;
    if (this.reveals.has(m.sender))
      throw new SecAggError('SECAGG_DUPLICATE', `second reveal from ${m.sender}`, { sender: m.sender, kind: 'reveal' });
    this.reveals.set(m.sender, m);
  }

  /**
   * True when, for the lock we follow, every secret has ≥ t revealed shares that can count (x =
   * the revealer's position + 1). A lying value is only found by reconstruction: `unmask` then
   * throws SECAGG_TOO_FEW_SHARES and leaves the member in UNMASK, so the caller may wait for more
   * reveals and try again (reconstructAll drops a liar once t honest shares verify).
   */
  canUnmask(): boolean {
    const f = this.followed;
    if (f === undefined) return false;
    const t = this.ctx.threshold;
    const counts = this.shareCounts(f.digest);
    return (
      f.survivors.every((e) => (counts.selfMask.get(e.participant) ?? 0) >= t) && f.dropped.every((j) => (counts.maskKey.get(j) ?? 0) >= t)
    );
  }

  /**
   * UNMASK → DONE: reconstruct b_i (i ∈ U) and s_j^SK (j ∈ D) from the reveals for our
   * lock, check them against their commitments, and remove every mask from Σ y_i.
   * `maskedInputs` must hold y_i for every survivor.
   */
  unmask(maskedInputs: ReadonlyMap<string, Uint32Array>): UnmaskResult {
    this.machine.expect(S.Unmask);
    const f = this.followed;
    if (f === undefined) throw new SecAggError('SECAGG_NOT_CERTIFIED', 'no certified lock followed yet', { phase: 'lock' });
    const { threshold } = this.ctx;
    const scope = scopeOf(this.ctx);
    const collected = this.collectShares(f.digest);
    const selfMaskSeeds = new Map<string, Uint8Array>();
    const droppedSecretKeys = new Map<string, Uint8Array>();
    try {
      // One pass over every secret (shamir.ts `reconstructAll`): once a member's share disagrees
      // with a verified secret's polynomials, its shares are left out of every later search, so
      // a lying member costs one search, not one per survivor (issue 13 item 7).
      const items: SecretShares[] = [];
      for (const e of f.survivors) {
        const commitment = this.commitments.get(e.participant);
        if (commitment === undefined)
          throw new SecAggError('SECAGG_UNKNOWN_KEY', `no commitment from ${e.participant}`, { participant: e.participant });
        items.push({
          id: `b/${e.participant}`,
          shares: collected.selfMask.get(e.participant) ?? [],
          check: (s) => bytesEqual(selfMaskCommitment(s, scope, e.participant), commitment),
        });
      }
      for (const j of f.dropped) {
        const adv = this.adverts.get(j);
        if (adv === undefined) throw new SecAggError('SECAGG_UNKNOWN_KEY', `no advertised key of ${j}`, { participant: j });
        items.push({
          id: `s/${j}`,
          shares: collected.maskKey.get(j) ?? [],
          check: (s) => bytesEqual(this.deps.crypto.x25519.publicKey(s), adv.maskKey),
        });
      }
      const rebuilt = reconstructAll(items, threshold);
      for (const e of f.survivors) selfMaskSeeds.set(e.participant, rebuilt.secrets.get(`b/${e.participant}`)!);
      for (const j of f.dropped) droppedSecretKeys.set(j, rebuilt.secrets.get(`s/${j}`)!);
      const inputs = new Map<string, Uint32Array>();
      for (const e of f.survivors) {
        const y = maskedInputs.get(e.participant);
        if (y === undefined)
          throw new SecAggError('SECAGG_BAD_INPUT', `masked input of survivor ${e.participant} missing`, { participant: e.participant });
        inputs.set(e.participant, y);
      }
      const graph = this.graphs(f.keySet.shared);
      const sum = unmaskSum({
        crypto: this.deps.crypto,
        scope,
        inputs,
        selfMaskSeeds,
        droppedSecretKeys,
        neighbours: new Map(f.survivors.map((e) => [e.participant, neighboursIn(graph, f.keySet, e.participant)])),
        maskPublicKeys: new Map(f.survivors.map((e) => [e.participant, this.adverts.get(e.participant)!.maskKey])),
      });
      this.machine.to(S.Done);
      return { survivors: f.survivors, dropped: f.dropped, sum };
    } finally {
      for (const s of selfMaskSeeds.values()) wipe(s);
      for (const s of droppedSecretKeys.values()) wipe(s);
      for (const list of [...collected.selfMask.values(), ...collected.maskKey.values()]) for (const s of list) wipe(s.y);
    }
  }

  /** Abandon the round: wipe every secret, go to FAILED. */
  fail(): void {
    this.dispose();
    if (!this.machine.is(S.Done, S.Failed)) this.machine.to(S.Failed);
  }

  /** Wipe shares and keys (after DONE as well). */
  dispose(): void {
    this.disposeEncryptionKey();
    this.vault.dispose();
  }

  private disposeEncryptionKey(): void {
    this.encryptionKey?.dispose();
    this.encryptionKey = undefined;
  }

  private requireKeySet(): KeySet {
    const ks = this.certifiedKeySet;
    if (ks === undefined) throw new SecAggError('SECAGG_NOT_CERTIFIED', 'no certified key set', { phase: 'key-set' });
    return ks;
  }

  private shareCounts(digest: Uint8Array): { selfMask: Map<string, number>; maskKey: Map<string, number> } {
    const selfMask = new Map<string, number>();
    const maskKey = new Map<string, number>();
    for (const [member, r] of this.reveals) {
      if (!bytesEqual(r.proposal, digest)) continue;
      // Only shares that can count: x must be the revealer's position + 1 (collectShares drops the rest).
      const x = this.ctx.committee.indexOf(member) + 1;
      for (const s of r.selfMaskShares) if (s.x === x) selfMask.set(s.participant, (selfMask.get(s.participant) ?? 0) + 1);
      for (const s of r.keyShares) if (s.x === x) maskKey.set(s.participant, (maskKey.get(s.participant) ?? 0) + 1);
    }
    return { selfMask, maskKey };
  }

  /** Shares per participant from reveals for `digest`, ordered by committee position (x). */
  private collectShares(digest: Uint8Array): { selfMask: Map<string, Share[]>; maskKey: Map<string, Share[]> } {
    const selfMask = new Map<string, Share[]>();
    const maskKey = new Map<string, Share[]>();
    const add = (m: Map<string, Share[]>, s: RevealedShare, member: string): void => {
      // A share's x is its holder's position + 1: a member cannot pass off another position's share.
      if (s.x !== this.ctx.committee.indexOf(member) + 1) return;
      const list = m.get(s.participant) ?? [];
      list.push({ x: s.x, y: s.y.slice() });
      m.set(s.participant, list);
    };
    for (const [member, r] of [...this.reveals].sort(([a], [b]) => this.ctx.committee.indexOf(a) - this.ctx.committee.indexOf(b))) {
      if (!bytesEqual(r.proposal, digest)) continue;
      for (const s of r.selfMaskShares) add(selfMask, s, member);
      for (const s of r.keyShares) add(maskKey, s, member);
    }
    return { selfMask, maskKey };
  }
}

/**
 * The t views a lock cites, from `pool` (the held views under one key set; ≥ t of them), or
 * undefined when every choice leaves out some input that exactly one chosen view lacks.
 *
 * Members refuse such a lock (F26, 'omission-by-one-view'): the omission would be one view's
 * choice, and a malicious member's view can omit exactly the honest inputs. So an input may be
 * left out only when ≥ 2 cited views lack it (0 keeps it in U_3). Among the choices that satisfy
 * this, the one with the largest U_3 (the most inputs in the sum); ties go to the choice whose
 * sorted positions in [own, then the others by member id] come first, so the leader's own view is
 * cited when it can be and the choice is deterministic. Exhaustive: a committee has at most
 * MAX_COMMITTEE_SIZE = 16 members, so at most C(16, 9) = 11,440 choices, and inputs are grouped by
 * which views carry them (a bitmask), so each choice costs one pass over the distinct groups —
 * usually one or two, since honest views mostly agree. No choice at all happens when the held
 * views are exactly t and one lacks an input the others carry (m − t members offline and one
 * view malicious or late): the leader then proposes nothing (the caller throws
 * SECAGG_TOO_FEW_VIEWS), and the round aborts at its deadline unless more views arrive.
 */
function chooseViews(
  own: SignedView | undefined,
  pool: readonly SignedView[],
  t: number,
  shared: readonly string[],
): SignedView[] | undefined {
  const order = [
    ...(own !== undefined && pool.includes(own) ? [own] : []),
    ...pool.filter((v) => v !== own).sort((a, b) => (a.member < b.member ? -1 : 1)),
  ];
  const n = order.length;
  if (n < t || n > MAX_COMMITTEE_SIZE) return undefined;
  const u2 = new Set(shared);
  const carriers = new Map<string, number>();
  order.forEach((v, i) => {
    for (const e of v.entries) {
      if (!u2.has(e.participant)) continue;
      const k = `${e.participant}/${toHex0x(e.inputHash)}`;
      carriers.set(k, (carriers.get(k) ?? 0) | (1 << i));
    }
  });
  const groups = new Map<number, number>();
  for (const mask of carriers.values()) groups.set(mask, (groups.get(mask) ?? 0) + 1);
  let best: number | undefined;
  let bestSize = -1;
  for (let s = 0; s < 1 << n; s++) {
    if (popcount(s) !== t) continue;
    let size = 0;
    let safe = true;
    for (const [mask, count] of groups) {
      const carried = popcount(mask & s);
      if (carried === t - 1) {
        safe = false;
        break;
      }
      if (carried === t) size += count;
    }
    if (!safe) continue;
    // Lexicographically first positions: the lowest position where the two choices differ is ours.
    const lowest = best === undefined ? 0 : (s ^ best) & -(s ^ best);
    if (size > bestSize || (size === bestSize && (s & lowest) !== 0)) {
      best = s;
      bestSize = size;
    }
  }
  if (best === undefined) return undefined;
  const chosen = best;
  return order.filter((_, i) => (chosen & (1 << i)) !== 0);
}

function popcount(x: number): number {
  let c = 0;
  for (let y = x; y !== 0; y &= y - 1) c++;
  return c;
}

/**
 * Entries of `own` in U_2 and not in U_3 (`inU3`: `participant/inputHash` keys) that every view of
 * `cited` but one carries with the same input hash (F26), with the member whose view lacks it.
 */
function omittedByOneView(
  own: SignedView,
  cited: readonly SignedView[],
  inU3: ReadonlySet<string>,
  u2: ReadonlySet<string>,
): { participant: string; by: string }[] {
  const out: { participant: string; by: string }[] = [];
  for (const e of own.entries) {
    if (!u2.has(e.participant) || inU3.has(`${e.participant}/${toHex0x(e.inputHash)}`)) continue;
    const lacking = cited.filter((v) => !v.entries.some((x) => x.participant === e.participant && bytesEqual(x.inputHash, e.inputHash)));
    if (lacking.length === 1) out.push({ participant: e.participant, by: lacking[0]!.member });
  }
  return out;
}

/**
 * The (participant, input hash) entries carried by ≥ t of `views` (sorted by participant): inputs
 * that t members vouch for, which a lock must keep (F12). A participant with two such hashes (it
 * sent different inputs to different members) is in neither: no t views agree on it.
 */
function keptInputs(views: readonly SignedView[], t: number): ViewEntry[] {
  const count = new Map<string, [ViewEntry, number]>();
  for (const v of views)
    for (const e of v.entries) {
      const k = `${e.participant}/${toHex0x(e.inputHash)}`;
      count.set(k, [count.get(k)?.[0] ?? e, (count.get(k)?.[1] ?? 0) + 1]);
    }
  const kept = [...count.values()].filter(([, n]) => n >= t).map(([e]) => e);
  const ids = kept.map((e) => e.participant);
  return kept
    .filter((e) => ids.indexOf(e.participant) === ids.lastIndexOf(e.participant))
    .sort((a, b) => (a.participant < b.participant ? -1 : 1));
}

function bytesEqualOpt(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && bytesEqual(a, b);
}

/**
 * M_i for i ∈ U_2 of `ks`: N_G(i) ∩ U_2 for the round's masking graph (graph.ts), U_2 \ {i} without
 * one — every participant under `ks` masks with exactly that (participant.ts `neighboursFrom`).
 */
function neighboursIn(graph: MaskingGraph | undefined, ks: KeySet, p: string): ReadonlySet<string> {
  return new Set(maskingNeighbours(graph, ks.shared, p));
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
