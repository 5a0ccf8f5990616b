/**
 * A committee member's side of secure aggregation for one round: the server of Bonawitz et
 * al. (CCS 2017, §4, Figure 4), split over m members that each hold one share per secret.
 *
 *   stage           method                   accepts
 *   ADVERTISE_KEYS  beginShares()            addAdvert
 *   SHARE_KEYS      beginInputs()            addAdvert, addShareKeys
 *   MASKED_INPUT    signView(inputs)         addAdvert, addShareKeys
 *   UNMASK          propose(), onProposal(), addView, addReveal,
 *                   learnCommitment (late ShareKeys: public commitment only), unmask(inputs)
 *   DONE
 *
 * Safety rules enforced here, each with its own error code:
 *   - never both kinds of share for one participant (ShareVault, SECAGG_BOTH_KINDS);
 *   - act on at most one proposal per round (SECAGG_CONFLICTING_PROPOSAL) — with t > m/2 two
 *     different proposals can never both gather t reveals from honest members;
 *   - follow only a proposal this member can verify and unmask: every i ∈ U with a known
 *     commitment to b_i and advertised keys, every j ∈ D with advertised keys. Otherwise it
 *     refuses before revealing anything (SECAGG_CANNOT_FOLLOW) — it would otherwise reveal,
 *     then fail at unmask, and could never check a reconstructed b_i. (Bonawitz et al. §4
 *     have one server that computes U from what it received itself, so it never lacks a
 *     survivor's material; a committee member can be handed a U built from others' views);
 *   - reveal only for a proposal whose ≥ t signed views, committee membership and
 *     U ⊆ ∩ views check out, and that agrees with the inputs this member holds;
 *   - reconstructed secrets must match their public commitments (b_i: SHA-256 commitment in
 *     ShareKeys; s_j^SK: the advertised s_j^PK), so a wrong share cannot silently corrupt
 *     the sum: other t-subsets are tried, else SECAGG_TOO_FEW_SHARES.
 */
import { bytesEqual, toHex0x, wipe } from '../bytes.js';
import {
  type AdvertiseKeysMsg,
  type ProposalMsg,
  proposalDigest,
  type RevealedShare,
  type RevealMsg,
  SecAggKind,
  SHARE_PLAINTEXT_BYTES,
  SHARE_Y_BYTES,
  type ShareKeysMsg,
  type ViewEntry,
  type ViewMsg,
  viewStatement,
} from '../messages/secagg.js';
import type { StageMachine } from '../stage-machine.js';
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
import { unmaskSum } from './masking.js';
import { checkContext, type SecAggRoundContext } from './participant.js';
import { verifyAdvert } from './round-keys.js';
import { combineVerified, type Share } from './shamir.js';
import { ShareVault } from './share-vault.js';
import { SecAggStage, secAggMachine } from './stages.js';
import { checkProposal, checkView, intersectViews, selectSurvivors } from './views.js';

export interface CommitteeDeps {
  readonly crypto: SecAggCrypto;
  readonly sign: IdentitySign;
  readonly verify: IdentityVerify;
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

const S = SecAggStage;

interface Followed {
  readonly digest: Uint8Array;
  readonly survivors: readonly ViewEntry[];
  readonly dropped: readonly string[];
}

export class SecAggCommitteeMember {
  readonly machine: StageMachine<SecAggStage>;
  readonly position: number;
  private encryptionKey: SecretKeyHandle | undefined;
  private readonly adverts = new Map<string, AdvertiseKeysMsg>();
  private readonly commitments = new Map<string, Uint8Array>();
  private readonly vault: ShareVault;
  private readonly inputs = new Map<string, HeldInput>();
  private readonly views = new Map<string, ViewMsg['view']>();
  private readonly reveals = new Map<string, RevealMsg>();
  private followed: Followed | undefined;

  constructor(
    readonly ctx: SecAggRoundContext,
    readonly self: string,
    /** c_i^SK; imported (copied), so the participant role may wipe its own copy independently. */
    encryptionSecretKey: Uint8Array,
    private readonly deps: CommitteeDeps,
  ) {
    this.position = ctx.committee.indexOf(self);
    if (this.position < 0)
      throw new SecAggError('SECAGG_NOT_COMMITTEE', `${self} is not on round ${ctx.round}'s committee`, { member: self });
    this.encryptionKey = deps.crypto.x25519.importSecret(encryptionSecretKey);
    this.vault = new ShareVault(self);
    this.machine = secAggMachine('committee', ctx.round, self);
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

  get followedDigest(): Uint8Array | undefined {
    return this.followed?.digest;
  }

  /** U of the proposal we follow (empty before one). */
  get followedSurvivors(): readonly ViewEntry[] {
    return this.followed?.survivors ?? [];
  }

  beginShares(): void {
    this.machine.to(S.ShareKeys);
  }

  beginInputs(): void {
    this.machine.to(S.MaskedInput);
  }

  addAdvert(m: AdvertiseKeysMsg): void {
    this.machine.expect(S.AdvertiseKeys, S.ShareKeys, S.MaskedInput);
    checkContext(this.ctx, m);
    const prior = this.adverts.get(m.sender);
    if (prior !== undefined)
      throw new SecAggError('SECAGG_DUPLICATE', `second advertisement from ${m.sender}`, { sender: m.sender, kind: 'advertise' });
    verifyAdvert(m, this.deps.verify);
    this.adverts.set(m.sender, m);
  }

  /** Decrypt and keep this member's share pair from `m.sender`. */
  addShareKeys(m: ShareKeysMsg): void {
    this.machine.expect(S.ShareKeys, S.MaskedInput);
    checkContext(this.ctx, m);
    const adv = this.adverts.get(m.sender);
    if (adv === undefined || !adv.contributes) {
      throw new SecAggError('SECAGG_UNKNOWN_KEY', `shares from ${m.sender}, which advertised no contributing keys`, { sender: m.sender });
    }
    if (this.commitments.has(m.sender))
      throw new SecAggError('SECAGG_DUPLICATE', `second share message from ${m.sender}`, { sender: m.sender, kind: 'shares' });
    const mine = m.shares.find((s) => s.recipient === this.self);
    if (mine === undefined) {
      throw new SecAggError('SECAGG_UNKNOWN_KEY', `${m.sender} sent no share to ${this.self}`, { sender: m.sender, recipient: this.self });
    }
    const ad = shareAssociatedData(this.ctx.federation, this.ctx.round, m.sender, this.self);
    if (this.encryptionKey === undefined)
      throw new SecAggError('SECAGG_UNKNOWN_KEY', 'encryption key already disposed', { sender: m.sender });
    const pt = openShare(this.encryptionKey, adv.encryptionKey, ad, mine.nonce, mine.ciphertext);
    try {
      if (pt.length !== SHARE_PLAINTEXT_BYTES || pt[0] !== this.position + 1) {
        throw new SecAggError('SECAGG_DECRYPT_FAILED', `share from ${m.sender} is for x=${pt[0]}, expected ${this.position + 1}`, {
          sender: m.sender,
          x: pt[0],
        });
      }
      const x = pt[0]!;
      this.vault.put(m.sender, { x, y: pt.slice(1, 1 + SHARE_Y_BYTES) }, { x, y: pt.slice(1 + SHARE_Y_BYTES) });
      this.commitments.set(m.sender, m.selfMaskCommitment);
    } finally {
      wipe(pt);
    }
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
    this.machine.expect(S.MaskedInput, S.Unmask);
    checkContext(this.ctx, m);
    const adv = this.adverts.get(m.sender);
    if (adv === undefined || !adv.contributes) {
      throw new SecAggError('SECAGG_UNKNOWN_KEY', `commitment from ${m.sender}, which advertised no contributing keys`, {
        sender: m.sender,
      });
    }
    if (!this.commitments.has(m.sender)) this.commitments.set(m.sender, m.selfMaskCommitment.slice());
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

  /**
   * MASKED_INPUT → UNMASK: sign the view of the inputs this member holds and can help
   * unmask (advertised keys, our share held, well-formed neighbour set). Wipes c^SK: no share
   * is decrypted after the view.
   */
  signView(held: readonly HeldInput[]): ViewMsg {
    this.machine.expect(S.MaskedInput);
    for (const h of held) {
      if (!this.adverts.has(h.participant) || !this.vault.has(h.participant)) continue;
      if (h.neighbours.includes(h.participant) || h.neighbours.some((j) => !this.adverts.has(j))) continue;
      this.inputs.set(h.participant, h);
    }
    const entries = [...this.inputs.values()]
      .map((h) => ({ participant: h.participant, inputHash: h.inputHash }))
      .sort((a, b) => (a.participant < b.participant ? -1 : 1));
    const signature = this.deps.sign(viewStatement(this.ctx.federation, this.ctx.round, this.self, entries));
    this.disposeEncryptionKey();
    this.machine.to(S.Unmask);
    const view = { member: this.self, entries, signature };
    this.views.set(this.self, view);
    return { kind: SecAggKind.View, federation: this.ctx.federation, round: this.ctx.round, sender: this.self, view };
  }

  addView(m: ViewMsg): void {
    this.machine.expect(S.Unmask);
    checkContext(this.ctx, m);
    if (m.sender === this.self) return;
    if (this.views.has(m.sender))
      throw new SecAggError('SECAGG_DUPLICATE', `second view from ${m.sender}`, { sender: m.sender, kind: 'view' });
    checkView(m.view, { ...this.ctx, verify: this.deps.verify });
    this.views.set(m.sender, m.view);
  }

  /**
   * Propose U from every view held (ours included; ≥ t needed). The candidates are the
   * intersection; asymmetric neighbour pairs are removed (views.ts `selectSurvivors`).
   */
  propose(): ProposalMsg {
    this.machine.expect(S.Unmask);
    const { threshold, config, federation, round } = this.ctx;
    if (this.views.size < threshold) {
      throw new SecAggError('SECAGG_TOO_FEW_VIEWS', `${this.views.size} views, threshold ${threshold}`, {
        have: this.views.size,
        threshold,
      });
    }
    const views = [...this.views.values()].sort((a, b) => (a.member < b.member ? -1 : 1));
    const { survivors, dropped } = selectSurvivors(intersectViews(views), (p) => this.neighboursOf(p));
    if (survivors.length < config.minSurvivors) {
      throw new SecAggError('SECAGG_TOO_FEW_SURVIVORS', `${survivors.length} survivors, minimum ${config.minSurvivors}`, {
        survivors: survivors.length,
        min: config.minSurvivors,
      });
    }
    return {
      kind: SecAggKind.Proposal,
      federation,
      round,
      sender: this.self,
      survivors: survivors.map((e) => e.participant),
      dropped,
      views,
    };
  }

  /**
   * Act on a proposal: verify it, then reveal b-shares for U and s^SK-shares for D. Returns
   * the reveal, or undefined when this exact proposal outcome was already acted on.
   */
  onProposal(p: ProposalMsg): RevealMsg | undefined {
    this.machine.expect(S.Unmask);
    checkContext(this.ctx, p);
    const { config } = this.ctx;
    const survivors = checkProposal(p, {
      ...this.ctx,
      minSurvivors: config.minSurvivors,
      maxParticipants: config.maxParticipants,
      verify: this.deps.verify,
    });
    const digest = proposalDigest(this.ctx.federation, this.ctx.round, survivors, p.dropped);
    if (this.followed !== undefined) {
      if (bytesEqual(this.followed.digest, digest)) return undefined;
      throw new SecAggError('SECAGG_CONFLICTING_PROPOSAL', `already acted on proposal ${toHex0x(this.followed.digest)}`, {
        followed: toHex0x(this.followed.digest),
        offered: toHex0x(digest),
        proposer: p.sender,
      });
    }
    // Refuse, before revealing anything, a proposal we could not verify or unmask ourselves.
    // Safety does not depend on it (never-both is per member and per participant, and a refusal
    // is not acting on the proposal, so "at most one proposal" still holds — see
    // docs/secure-aggregation.md "Why t > m/2"); it keeps this member from revealing for a
    // round it can never sign, and from ever signing a sum whose b_i it could not check.
    // The round goes on with the other members (t of m suffice) or aborts at its deadline.
    const missing = this.missingMaterial(p.survivors, p.dropped);
    if (missing !== undefined) {
      throw new SecAggError(
        'SECAGG_CANNOT_FOLLOW',
        `cannot verify proposal from ${p.sender}: ${missing.reason} for ${missing.participants.length} participant(s)`,
        { proposer: p.sender, reason: missing.reason, participants: missing.participants },
      );
    }
    this.checkAgainstHeldInputs(p);
    this.vault.checkRequest(p.survivors, p.dropped);
    const selfMaskShares: RevealedShare[] = [];
    const keyShares: RevealedShare[] = [];
    for (const i of p.survivors) if (this.vault.has(i)) selfMaskShares.push({ participant: i, ...this.vault.reveal(i, 'self-mask') });
    for (const j of p.dropped) if (this.vault.has(j)) keyShares.push({ participant: j, ...this.vault.reveal(j, 'mask-key') });
    this.followed = { digest, survivors, dropped: p.dropped };
    const reveal: RevealMsg = {
      kind: SecAggKind.Reveal,
      federation: this.ctx.federation,
      round: this.ctx.round,
      sender: this.self,
      proposal: digest,
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

  /** True when, for the proposal we follow, every secret has ≥ t revealed shares. */
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
   * proposal, check them against their commitments, and remove every mask from Σ y_i.
   * `maskedInputs` must hold y_i for every survivor.
   */
  unmask(maskedInputs: ReadonlyMap<string, Uint32Array>): UnmaskResult {
    this.machine.expect(S.Unmask);
    const f = this.followed;
    if (f === undefined) throw new SecAggError('SECAGG_BAD_PROPOSAL', 'no proposal followed yet', {});
    const { federation, round, threshold } = this.ctx;
    const collected = this.collectShares(f.digest);
    const selfMaskSeeds = new Map<string, Uint8Array>();
    const droppedSecretKeys = new Map<string, Uint8Array>();
    try {
      for (const e of f.survivors) {
        const commitment = this.commitments.get(e.participant);
        if (commitment === undefined)
          throw new SecAggError('SECAGG_UNKNOWN_KEY', `no commitment from ${e.participant}`, { participant: e.participant });
        const b = combineVerified(collected.selfMask.get(e.participant) ?? [], threshold, (s) =>
          bytesEqual(selfMaskCommitment(s, federation, round, e.participant), commitment),
        );
        selfMaskSeeds.set(e.participant, b);
      }
      for (const j of f.dropped) {
        const adv = this.adverts.get(j);
        if (adv === undefined) throw new SecAggError('SECAGG_UNKNOWN_KEY', `no advertised key of ${j}`, { participant: j });
        const sk = combineVerified(collected.maskKey.get(j) ?? [], threshold, (s) =>
          bytesEqual(this.deps.crypto.x25519.publicKey(s), adv.maskKey),
        );
        droppedSecretKeys.set(j, sk);
      }
      const inputs = new Map<string, Uint32Array>();
      for (const e of f.survivors) {
        const y = maskedInputs.get(e.participant);
        if (y === undefined)
          throw new SecAggError('SECAGG_BAD_INPUT', `masked input of survivor ${e.participant} missing`, { participant: e.participant });
        inputs.set(e.participant, y);
      }
      const sum = unmaskSum({
        crypto: this.deps.crypto,
        federation,
        round,
        inputs,
        selfMaskSeeds,
        droppedSecretKeys,
        neighbours: new Map(f.survivors.map((e) => [e.participant, this.requireNeighbours(e.participant)])),
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

  /** Record neighbour sets of inputs received after the view (needed to unmask if we were not in the proof). */
  learnInput(h: HeldInput): void {
    if (!this.inputs.has(h.participant)) this.inputs.set(h.participant, h);
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

  private requireNeighbours(p: string): ReadonlySet<string> {
    const n = this.neighboursOf(p);
    if (n === undefined) {
      throw new SecAggError('SECAGG_BAD_INPUT', `neighbour set of survivor ${p} unknown (its input is not held)`, { participant: p });
    }
    return n;
  }

  private neighboursOf(p: string): ReadonlySet<string> | undefined {
    const h = this.inputs.get(p);
    return h === undefined ? undefined : new Set(h.neighbours);
  }

  /**
   * Check the proposal against the inputs we hold. If we hold every input in the views'
   * intersection (always so when our own view is in the proof), U and D must be exactly what
   * `selectSurvivors` derives from that intersection: a proposer cannot drop a participant that
   * every view it chose includes. Otherwise, for the inputs we hold, U must be symmetric and D
   * must cover every survivor's non-surviving neighbour.
   */
  private checkAgainstHeldInputs(p: ProposalMsg): void {
    const candidates = intersectViews(p.views);
    if (candidates.every((e) => this.inputs.has(e.participant))) {
      const expected = selectSurvivors(candidates, (x) => this.neighboursOf(x));
      const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
      if (
        !same(
          expected.survivors.map((e) => e.participant),
          p.survivors,
        ) ||
        !same(expected.dropped, p.dropped)
      ) {
        throw new SecAggError('SECAGG_BAD_PROPOSAL', `U and D do not follow from the proposal's views`, {
          proposer: p.sender,
          expected: { survivors: expected.survivors.length, dropped: expected.dropped.length },
          got: { survivors: p.survivors.length, dropped: p.dropped.length },
        });
      }
      return;
    }
    const u = new Set(p.survivors);
    const d = new Set(p.dropped);
    for (const i of p.survivors) {
      const mi = this.neighboursOf(i);
      if (mi === undefined) continue;
      for (const j of mi) {
        const mj = this.neighboursOf(j);
        if (u.has(j) && mj !== undefined && !mj.has(i)) {
          throw new SecAggError('SECAGG_BAD_PROPOSAL', `survivors ${i} and ${j} do not mask with each other symmetrically`, { a: i, b: j });
        }
        if (!u.has(j) && !d.has(j)) {
          throw new SecAggError('SECAGG_BAD_PROPOSAL', `${j} masked ${i}'s input but is neither survivor nor dropped`, {
            survivor: i,
            missing: j,
          });
        }
      }
    }
  }

  private shareCounts(digest: Uint8Array): { selfMask: Map<string, number>; maskKey: Map<string, number> } {
    const selfMask = new Map<string, number>();
    const maskKey = new Map<string, number>();
    for (const r of this.reveals.values()) {
      if (!bytesEqual(r.proposal, digest)) continue;
      for (const s of r.selfMaskShares) selfMask.set(s.participant, (selfMask.get(s.participant) ?? 0) + 1);
      for (const s of r.keyShares) maskKey.set(s.participant, (maskKey.get(s.participant) ?? 0) + 1);
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
