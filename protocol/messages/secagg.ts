/**
 * Secure-aggregation control messages on `/fedmesh/<federation>/secagg/1` (STYLE.md §6).
 * Each is one gossip message (never chunked), at most MAX_SECAGG_MESSAGE_BYTES.
 *
 * Envelope (LE): kind u8 | version u8 | federation varBytes16 | round u64 | sender varBytes16 | body
 *
 *   AdvertiseKeys (1)  encryptionKey 32 | maskKey 32 | contributes u8 (0/1) | signature 64
 *                      (Ed25519 by the sender's libp2p identity over advertStatement)
 *   ShareKeys (2)      selfMaskCommitment 32 | count u8 | count × (recipient varBytes16 |
 *                      recipientKey 32 | nonce 12 | ciphertext 81 = AES-256-GCM(x u8 ‖ b-share 32 ‖
 *                      s-share 32) ‖ tag 16); recipientKey is the X25519 key the share was sealed to
 *                      (v3: a member tells a share sealed to a key it does not hold — a prekey of a
 *                      lost state — from a bad one, committee-member.ts `addShareKeys`)
 *   View (3)           keySetDigest 32 | SignedView = count u16 | count × (participant varBytes16 |
 *                      inputHash 32) | signature 64 (member = sender; signed over viewStatement,
 *                      which binds the key set the view was taken under)
 *   Proposal (4)       table u16 × participant varBytes16 (sorted) | survivors u16 × index u16 |
 *                      dropped u16 × index u16 | views u8 × (member varBytes16 | count u16 ×
 *                      (index u16 | inputHash 32) | signature 64); every cited view is for the
 *                      proposal's keySetDigest (decoded so; encoding another one is refused)
 *   Reveal (5)         proposal digest 32 | selfMask u16 × (participant varBytes16 | x u8 | y 32) |
 *                      key u16 × (participant varBytes16 | x u8 | y 32)
 *   Result (6)         prevModelHash 32 | modelHash 32 | participantsHash 32 | totalSamples u64 | signature 64
 *   KeySetProposal (7) turn u16 | advertised u16 × participant varBytes16 (sorted, U_1) |
 *                      shared u16 × index u16 into advertised (sorted, U_2)
 *   KeySetEndorse (8)  keySetDigest 32 | signature 64 (over endorseStatement(KeySet, digest))
 *   LockEndorse (9)    lockDigest 32 | signature 64 (over endorseStatement(Lock, digest))
 *   Complaint (10)     accused varBytes16 | reason u8 (1 = the share addressed to the sender does not
 *                      decrypt or is malformed) | signature 64 (over complaintStatement)
 *   LockRefuse (11)    lockDigest 32 | signature 64 (over endorseStatement(Refuse, digest)) |
 *                      evidence u8 (0 or 2) × (member varBytes16 | keySetDigest 32 | count u16 ×
 *                      (participant varBytes16 | inputHash 32) | signature 64): two different
 *                      views signed by one member (the equivocation the refusal rests on)
 *   LockRelease (12)   released lockDigest 32 | lockDigest 32 | signature 64 (over
 *                      endorseStatement(Lock, lockDigest)) | refusals u8 × (member varBytes16 |
 *                      signature 64 over endorseStatement(Refuse, released)), sorted by member
 *
 * Complaint, LockRefuse and LockRelease are the liveness evidence of issue 13 / H8 F6–F7
 * (committee-member.ts "Complaints" and "Refusals and release"): a complaint lets a key-set
 * leader leave out a participant whose shares could never be certified; a refusal is a member's
 * signed promise never to endorse a lock digest; a release is a second lock endorsement that
 * carries the refusals proving that the member's first lock can never reach t.
 *
 * Proposal (4) is the lock proposal: it is prefixed with turn u16 | keySetDigest 32, and its
 * outcome's identity is `lockDigest` (U_3 with input hashes, D, the key set), which reveals
 * name. Endorsements name no signer in what they sign, so t of them over one digest are a
 * quorum certificate (certify.ts).
 *
 * The proposal indexes participants through a table so that m views of up to
 * MAX_PARTICIPANTS entries stay under 1 MiB. Every participant list is strictly sorted
 * (canonical, no duplicates). Signed statements (`*Statement`) start with a versioned domain
 * tag and repeat the deployment binding (chain id ‖ contract, protocol/chain/deployment-binding.ts),
 * federation and round, so a signature never verifies in another deployment, federation or round.
 */
import { ByteReader, ByteWriter, bytesEqual, fromUtf8, hash256, utf8 } from '../bytes.js';
import { DEPLOYMENT_BINDING_BYTES } from '../chain/deployment-binding.js';
import { MessageError, truncated } from './errors.js';
import { MAX_COMMITTEE_SIZE, MAX_FEDERATION_ID_BYTES, MAX_PARTICIPANTS, MAX_PEER_ID_BYTES, MAX_SECAGG_MESSAGE_BYTES } from './limits.js';

/**
 * 2: certified phases (kinds 7–9, lock proposals, statements bound to the deployment).
 * 3: each ShareKeys share names the recipient key it was sealed to (issue 13 liveness, F25).
 */
export const SECAGG_MESSAGE_VERSION = 3;

export enum SecAggKind {
  AdvertiseKeys = 1,
  ShareKeys = 2,
  View = 3,
  Proposal = 4,
  Reveal = 5,
  Result = 6,
  KeySetProposal = 7,
  KeySetEndorse = 8,
  LockEndorse = 9,
  Complaint = 10,
  LockRefuse = 11,
  LockRelease = 12,
}

/** Why a member complains about a participant (Complaint's reason byte). */
export enum ComplaintReason {
  /** The share addressed to the complainer does not authenticate, or decrypts to a malformed share. */
  BadShare = 1,
}

/** What an endorsement certifies (endorseStatement's phase byte). */
export enum CertPhase {
  KeySet = 1,
  Lock = 2,
  /** A signed promise never to endorse a lock digest (LockRefuse). */
  Refuse = 3,
}

/** What every signed statement is bound to. */
export interface SecAggScope {
  /** `deploymentBindingBytes` (52 bytes: chain id ‖ contract). */
  readonly binding: Uint8Array;
  readonly federation: string;
  readonly round: number;
}

export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const NONCE_BYTES = 12;
/** x u8 ‖ self-mask share 32 ‖ mask-key share 32. */
export const SHARE_PLAINTEXT_BYTES = 1 + 32 + 32;
export const SHARE_CIPHERTEXT_BYTES = SHARE_PLAINTEXT_BYTES + 16;
export const SHARE_Y_BYTES = 32;

export interface SecAggHeader {
  readonly federation: string;
  readonly round: number;
  readonly sender: string;
}

export interface AdvertiseKeysMsg extends SecAggHeader {
  readonly kind: SecAggKind.AdvertiseKeys;
  /** c_i^PK: X25519 key for encrypting shares. */
  readonly encryptionKey: Uint8Array;
  /** s_i^PK: X25519 key for pairwise masks. */
  readonly maskKey: Uint8Array;
  /** False for a committee member that only holds shares and contributes no input this round. */
  readonly contributes: boolean;
  readonly signature: Uint8Array;
}

export interface EncryptedShare {
  readonly recipient: string;
  /**
   * The recipient's X25519 public key the share was sealed to (its signed prekey for the round, its
   * advertised c_k, or its identity-derived key). Also bound into the share's associated data
   * (crypto.ts `shareAssociatedData`), so a share opens only under the key it names.
   */
  readonly recipientKey: Uint8Array;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

export interface ShareKeysMsg extends SecAggHeader {
  readonly kind: SecAggKind.ShareKeys;
  /** SHA-256 commitment to b_i (crypto.ts `selfMaskCommitment`). */
  readonly selfMaskCommitment: Uint8Array;
  readonly shares: readonly EncryptedShare[];
}

export interface ViewEntry {
  readonly participant: string;
  /** SHA-256 of the participant's MaskedInputPayload. */
  readonly inputHash: Uint8Array;
}

export interface SignedView {
  readonly member: string;
  /**
   * The certified key set (its `keySetDigest`) this view was taken under: the view lists only
   * inputs masked with exactly that key set's U_2 \ {i}, and its signature covers the digest, so
   * a lock on another key set cannot cite it (several key sets may be certified in one round).
   */
  readonly keySet: Uint8Array;
  readonly entries: readonly ViewEntry[];
  readonly signature: Uint8Array;
}

export interface ViewMsg extends SecAggHeader {
  readonly kind: SecAggKind.View;
  readonly view: SignedView;
}

export interface ProposalMsg extends SecAggHeader {
  readonly kind: SecAggKind.Proposal;
  /** The leader turn this proposal is for: its sender must be committee[turn mod m]. */
  readonly turn: number;
  /** The certified key set (U_1, U_2) it builds on. */
  readonly keySet: Uint8Array;
  /** U: participants whose inputs are summed (sorted). */
  readonly survivors: readonly string[];
  /** D: participants whose mask keys are reconstructed (sorted). */
  readonly dropped: readonly string[];
  /** The signed views U was derived from (≥ t, distinct committee members). */
  readonly views: readonly SignedView[];
}

export interface RevealedShare {
  readonly participant: string;
  readonly x: number;
  readonly y: Uint8Array;
}

export interface RevealMsg extends SecAggHeader {
  readonly kind: SecAggKind.Reveal;
  /** `lockDigest` of the t-certified lock this member reveals for. */
  readonly proposal: Uint8Array;
  /** Shares of b_i for survivors. */
  readonly selfMaskShares: readonly RevealedShare[];
  /** Shares of s_j^SK for dropped participants. */
  readonly keyShares: readonly RevealedShare[];
}

export interface ResultStatement {
  readonly prevModelHash: Uint8Array;
  readonly modelHash: Uint8Array;
  /** SHA-256 over the sorted (participant, inputHash) list of U (`survivorsHash`). */
  readonly participantsHash: Uint8Array;
  readonly totalSamples: number;
}

export interface ResultMsg extends SecAggHeader {
  readonly kind: SecAggKind.Result;
  readonly result: ResultStatement;
  readonly signature: Uint8Array;
}

/** The turn's leader's proposal of U_1 (advertised) and U_2 ⊆ U_1 (shared to the committee). */
export interface KeySetProposalMsg extends SecAggHeader {
  readonly kind: SecAggKind.KeySetProposal;
  readonly turn: number;
  readonly advertised: readonly string[];
  readonly shared: readonly string[];
}

/** A member's signature over a key-set or lock digest. */
export interface EndorseMsg<K extends SecAggKind.KeySetEndorse | SecAggKind.LockEndorse = SecAggKind.KeySetEndorse | SecAggKind.LockEndorse>
  extends SecAggHeader {
  readonly kind: K;
  readonly digest: Uint8Array;
  readonly signature: Uint8Array;
}

/** A member's signed statement that the share `accused` addressed to it is unusable. */
export interface ComplaintMsg extends SecAggHeader {
  readonly kind: SecAggKind.Complaint;
  readonly accused: string;
  readonly reason: ComplaintReason;
  readonly signature: Uint8Array;
}

/**
 * A member's signed promise never to endorse the lock `digest`; `evidence` is empty or two
 * different views signed by one member (the equivocation the refusal rests on).
 */
export interface LockRefuseMsg extends SecAggHeader {
  readonly kind: SecAggKind.LockRefuse;
  readonly digest: Uint8Array;
  readonly signature: Uint8Array;
  readonly evidence: readonly SignedView[];
}

/** One refusal inside a release: who refused, and its signature over endorseStatement(Refuse, released). */
export interface SignedRefusal {
  readonly member: string;
  readonly signature: Uint8Array;
}

/**
 * A second lock endorsement (of `digest`) by a member that released its endorsement of
 * `released`: `refusals` are the signed refusals of `released` that prove it can never reach t.
 */
export interface LockReleaseMsg extends SecAggHeader {
  readonly kind: SecAggKind.LockRelease;
  readonly released: Uint8Array;
  readonly digest: Uint8Array;
  readonly signature: Uint8Array;
  readonly refusals: readonly SignedRefusal[];
}

export type SecAggMessage =
  | AdvertiseKeysMsg
  | ShareKeysMsg
  | ViewMsg
  | ProposalMsg
  | RevealMsg
  | ResultMsg
  | KeySetProposalMsg
  | EndorseMsg
  | ComplaintMsg
  | LockRefuseMsg
  | LockReleaseMsg;

/** Highest leader turn on the wire (turns past m·4 mean the round should have aborted long ago). */
export const MAX_TURN = 4 * MAX_COMMITTEE_SIZE;

const bad = (field: string, value: unknown, msg: string): MessageError => new MessageError('MSG_BAD_FIELD', msg, { field, value });

function isSortedUnique(ids: readonly string[]): boolean {
  for (let i = 1; i < ids.length; i++) if (!(ids[i - 1]! < ids[i]!)) return false;
  return true;
}

function checkList(field: string, ids: readonly string[], max: number): void {
  if (ids.length > max) throw bad(field, ids.length, `${field}: ${ids.length} entries, max ${max}`);
  if (!isSortedUnique(ids)) throw bad(field, ids.length, `${field} must be strictly sorted`);
  for (const id of ids) if (id.length === 0) throw bad(field, id, `${field}: empty id`);
}

function checkBytes(field: string, b: Uint8Array, n: number): void {
  if (b.length !== n) throw bad(field, b.length, `${field} must be ${n} bytes, got ${b.length}`);
}

function writeEntries(w: ByteWriter, entries: readonly ViewEntry[]): void {
  w.u16(entries.length);
  for (const e of entries) w.varBytes16(utf8(e.participant)).bytes(e.inputHash);
}

function writeShares(w: ByteWriter, shares: readonly RevealedShare[]): void {
  w.u16(shares.length);
  for (const s of shares) w.varBytes16(utf8(s.participant)).u8(s.x).bytes(s.y);
}

export function encodeSecAgg(m: SecAggMessage): Uint8Array {
  const w = new ByteWriter(256)
    .u8(m.kind)
    .u8(SECAGG_MESSAGE_VERSION)
    .varBytes16(utf8(m.federation))
    .u64(m.round)
    .varBytes16(utf8(m.sender));
  switch (m.kind) {
    case SecAggKind.AdvertiseKeys:
      checkBytes('encryptionKey', m.encryptionKey, KEY_BYTES);
      checkBytes('maskKey', m.maskKey, KEY_BYTES);
      checkBytes('signature', m.signature, SIGNATURE_BYTES);
      w.bytes(m.encryptionKey)
        .bytes(m.maskKey)
        .u8(m.contributes ? 1 : 0)
        .bytes(m.signature);
      break;
    case SecAggKind.ShareKeys:
      checkBytes('selfMaskCommitment', m.selfMaskCommitment, 32);
      checkList(
        'shares',
        m.shares.map((s) => s.recipient),
        MAX_COMMITTEE_SIZE,
      );
      w.bytes(m.selfMaskCommitment).u8(m.shares.length);
      for (const s of m.shares) {
        checkBytes('recipientKey', s.recipientKey, KEY_BYTES);
        checkBytes('nonce', s.nonce, NONCE_BYTES);
        checkBytes('ciphertext', s.ciphertext, SHARE_CIPHERTEXT_BYTES);
        w.varBytes16(utf8(s.recipient)).bytes(s.recipientKey).bytes(s.nonce).bytes(s.ciphertext);
      }
      break;
    case SecAggKind.View:
      if (m.view.member !== m.sender) throw bad('view.member', m.view.member, 'a view is published by its own member');
      checkBytes('view.keySet', m.view.keySet, 32);
      w.bytes(m.view.keySet);
      writeView(w, m.view);
      break;
    case SecAggKind.Proposal: {
      checkTurn(m.turn);
      checkBytes('keySet', m.keySet, 32);
      w.u16(m.turn).bytes(m.keySet);
      checkList('survivors', m.survivors, MAX_PARTICIPANTS);
      checkList('dropped', m.dropped, MAX_PARTICIPANTS);
      checkList(
        'views',
        m.views.map((v) => v.member),
        MAX_COMMITTEE_SIZE,
      );
      const ids = new Set<string>([...m.survivors, ...m.dropped]);
      for (const v of m.views) for (const e of v.entries) ids.add(e.participant);
      const table = [...ids].sort();
      if (table.length > MAX_PARTICIPANTS) throw bad('table', table.length, `${table.length} participants, max ${MAX_PARTICIPANTS}`);
      const index = new Map(table.map((id, i) => [id, i]));
      w.u16(table.length);
      for (const id of table) w.varBytes16(utf8(id));
      w.u16(m.survivors.length);
      for (const id of m.survivors) w.u16(index.get(id)!);
      w.u16(m.dropped.length);
      for (const id of m.dropped) w.u16(index.get(id)!);
      w.u8(m.views.length);
      for (const v of m.views) {
        checkList(
          'view.entries',
          v.entries.map((e) => e.participant),
          MAX_PARTICIPANTS,
        );
        checkBytes('view.signature', v.signature, SIGNATURE_BYTES);
        if (!bytesEqual(v.keySet, m.keySet)) throw bad('view.keySet', v.member, "a cited view must be for the proposal's key set");
        w.varBytes16(utf8(v.member)).u16(v.entries.length);
        for (const e of v.entries) w.u16(index.get(e.participant)!).bytes(e.inputHash);
        w.bytes(v.signature);
      }
      break;
    }
    case SecAggKind.Reveal:
      checkBytes('proposal', m.proposal, 32);
      checkList(
        'selfMaskShares',
        m.selfMaskShares.map((s) => s.participant),
        MAX_PARTICIPANTS,
      );
      checkList(
        'keyShares',
        m.keyShares.map((s) => s.participant),
        MAX_PARTICIPANTS,
      );
      w.bytes(m.proposal);
      writeShares(w, m.selfMaskShares);
      writeShares(w, m.keyShares);
      break;
    case SecAggKind.KeySetProposal: {
      checkTurn(m.turn);
      checkList('advertised', m.advertised, MAX_PARTICIPANTS);
      checkList('shared', m.shared, MAX_PARTICIPANTS);
      const index = new Map(m.advertised.map((id, i) => [id, i]));
      w.u16(m.turn).u16(m.advertised.length);
      for (const id of m.advertised) w.varBytes16(utf8(id));
      w.u16(m.shared.length);
      for (const id of m.shared) {
        const i = index.get(id);
        if (i === undefined) throw bad('shared', id, `shared participant ${id} is not in advertised`);
        w.u16(i);
      }
      break;
    }
    case SecAggKind.KeySetEndorse:
    case SecAggKind.LockEndorse:
      checkBytes('digest', m.digest, 32);
      checkBytes('signature', m.signature, SIGNATURE_BYTES);
      w.bytes(m.digest).bytes(m.signature);
      break;
    case SecAggKind.Complaint:
      if (m.accused.length === 0) throw bad('accused', m.accused, 'empty accused');
      if (m.reason !== ComplaintReason.BadShare) throw bad('reason', m.reason, `complaint reason ${m.reason}`);
      checkBytes('signature', m.signature, SIGNATURE_BYTES);
      w.varBytes16(utf8(m.accused)).u8(m.reason).bytes(m.signature);
      break;
    case SecAggKind.LockRefuse:
      checkBytes('digest', m.digest, 32);
      checkBytes('signature', m.signature, SIGNATURE_BYTES);
      checkEvidence(m.evidence);
      w.bytes(m.digest).bytes(m.signature).u8(m.evidence.length);
      for (const v of m.evidence) {
        checkBytes('evidence.keySet', v.keySet, 32);
        w.varBytes16(utf8(v.member)).bytes(v.keySet);
        writeView(w, v);
      }
      break;
    case SecAggKind.LockRelease:
      checkBytes('released', m.released, 32);
      checkBytes('digest', m.digest, 32);
      checkBytes('signature', m.signature, SIGNATURE_BYTES);
      checkList(
        'refusals',
        m.refusals.map((r) => r.member),
        MAX_COMMITTEE_SIZE,
      );
      w.bytes(m.released).bytes(m.digest).bytes(m.signature).u8(m.refusals.length);
      for (const r of m.refusals) {
        checkBytes('refusal.signature', r.signature, SIGNATURE_BYTES);
        w.varBytes16(utf8(r.member)).bytes(r.signature);
      }
      break;
    case SecAggKind.Result:
      checkBytes('signature', m.signature, SIGNATURE_BYTES);
      w.bytes(m.result.prevModelHash)
        .bytes(m.result.modelHash)
        .bytes(m.result.participantsHash)
        .u64(m.result.totalSamples)
        .bytes(m.signature);
      break;
  }
  const out = w.finish();
  if (out.length > MAX_SECAGG_MESSAGE_BYTES) {
    throw new MessageError('MSG_TOO_LARGE', `secagg message is ${out.length} bytes`, { size: out.length, max: MAX_SECAGG_MESSAGE_BYTES });
  }
  return out;
}

/** Refusal evidence: none, or two views by one member that differ (an equivocation). */
function checkEvidence(evidence: readonly SignedView[]): void {
  if (evidence.length === 0) return;
  if (evidence.length !== 2) throw bad('evidence', evidence.length, 'evidence is 0 or 2 views');
  const [a, b] = evidence as [SignedView, SignedView];
  if (a.member !== b.member || a.member.length === 0) throw bad('evidence', a.member, 'evidence views must be by one member');
}

function checkTurn(turn: number): void {
  if (!(Number.isInteger(turn) && turn >= 0 && turn <= MAX_TURN)) throw bad('turn', turn, `turn must be an integer in [0, ${MAX_TURN}]`);
}

function writeView(w: ByteWriter, v: SignedView): void {
  checkList(
    'view.entries',
    v.entries.map((e) => e.participant),
    MAX_PARTICIPANTS,
  );
  checkBytes('view.signature', v.signature, SIGNATURE_BYTES);
  writeEntries(w, v.entries);
  w.bytes(v.signature);
}

const readId = (r: ByteReader): string => fromUtf8(r.varBytes16(MAX_PEER_ID_BYTES));

function readCount(r: ByteReader, field: string, max: number): number {
  const n = r.u16();
  if (n > max) throw bad(field, n, `${field}: ${n} entries, max ${max}`);
  return n;
}

function readShares(r: ByteReader, field: string): RevealedShare[] {
  const n = readCount(r, field, MAX_PARTICIPANTS);
  const out: RevealedShare[] = [];
  for (let i = 0; i < n; i++) {
    const participant = readId(r);
    const x = r.u8();
    if (x === 0) throw bad(`${field}.x`, x, 'share x must be 1..255');
    out.push({ participant, x, y: r.bytes(SHARE_Y_BYTES) });
  }
  checkList(
    field,
    out.map((s) => s.participant),
    MAX_PARTICIPANTS,
  );
  return out;
}

/**
 * Decode one secagg message. Checks, in order: size, kind, version, field bounds, canonical
 * ordering, trailing bytes. Federation, round, sender-is-signer and roles are the validator's.
 */
export function decodeSecAgg(bytes: Uint8Array): SecAggMessage {
  if (bytes.length > MAX_SECAGG_MESSAGE_BYTES) {
    throw new MessageError('MSG_TOO_LARGE', `message is ${bytes.length} bytes`, { size: bytes.length, max: MAX_SECAGG_MESSAGE_BYTES });
  }
  const r = new ByteReader(bytes, truncated);
  const kind = r.u8();
  if (kind < SecAggKind.AdvertiseKeys || kind > SecAggKind.LockRelease)
    throw new MessageError('MSG_BAD_TYPE', `secagg kind ${kind}`, { field: 'kind', value: kind });
  const version = r.u8();
  if (version !== SECAGG_MESSAGE_VERSION) {
    throw new MessageError('MSG_BAD_VERSION', `secagg version ${version}`, {
      field: 'version',
      got: version,
      expected: SECAGG_MESSAGE_VERSION,
    });
  }
  const federation = fromUtf8(r.varBytes16(MAX_FEDERATION_ID_BYTES));
  const round = r.u64();
  if (round < 1) throw bad('round', round, `round ${round}`);
  const sender = readId(r);
  if (sender.length === 0) throw bad('sender', sender, 'empty sender');
  const h = { federation, round, sender };
  let m: SecAggMessage;
  switch (kind as SecAggKind) {
    case SecAggKind.AdvertiseKeys: {
      const encryptionKey = r.bytes(KEY_BYTES);
      const maskKey = r.bytes(KEY_BYTES);
      const flag = r.u8();
      if (flag > 1) throw bad('contributes', flag, `contributes must be 0 or 1, got ${flag}`);
      m = { ...h, kind: SecAggKind.AdvertiseKeys, encryptionKey, maskKey, contributes: flag === 1, signature: r.bytes(SIGNATURE_BYTES) };
      break;
    }
    case SecAggKind.ShareKeys: {
      const selfMaskCommitment = r.bytes(32);
      const n = r.u8();
      if (n < 1 || n > MAX_COMMITTEE_SIZE) throw bad('shares', n, `${n} shares, need 1..${MAX_COMMITTEE_SIZE}`);
      const shares: EncryptedShare[] = [];
      for (let i = 0; i < n; i++)
        shares.push({
          recipient: readId(r),
          recipientKey: r.bytes(KEY_BYTES),
          nonce: r.bytes(NONCE_BYTES),
          ciphertext: r.bytes(SHARE_CIPHERTEXT_BYTES),
        });
      checkList(
        'shares',
        shares.map((s) => s.recipient),
        MAX_COMMITTEE_SIZE,
      );
      m = { ...h, kind: SecAggKind.ShareKeys, selfMaskCommitment, shares };
      break;
    }
    case SecAggKind.View: {
      const keySet = r.bytes(32);
      const n = readCount(r, 'view.entries', MAX_PARTICIPANTS);
      const entries: ViewEntry[] = [];
      for (let i = 0; i < n; i++) entries.push({ participant: readId(r), inputHash: r.bytes(32) });
      checkList(
        'view.entries',
        entries.map((e) => e.participant),
        MAX_PARTICIPANTS,
      );
      m = { ...h, kind: SecAggKind.View, view: { member: sender, keySet, entries, signature: r.bytes(SIGNATURE_BYTES) } };
      break;
    }
    case SecAggKind.Proposal: {
      const turn = r.u16();
      checkTurn(turn);
      const keySet = r.bytes(32);
      const tn = readCount(r, 'table', MAX_PARTICIPANTS);
      const table: string[] = [];
      for (let i = 0; i < tn; i++) table.push(readId(r));
      checkList('table', table, MAX_PARTICIPANTS);
      const at = (field: string): string => {
        const i = r.u16();
        if (i >= table.length) throw bad(field, i, `${field}: index ${i} outside the table of ${table.length}`);
        return table[i]!;
      };
      const readIds = (field: string): string[] => {
        const n = readCount(r, field, MAX_PARTICIPANTS);
        const ids: string[] = [];
        for (let i = 0; i < n; i++) ids.push(at(field));
        checkList(field, ids, MAX_PARTICIPANTS);
        return ids;
      };
      const survivors = readIds('survivors');
      const dropped = readIds('dropped');
      const vn = r.u8();
      if (vn < 1 || vn > MAX_COMMITTEE_SIZE) throw bad('views', vn, `${vn} views, need 1..${MAX_COMMITTEE_SIZE}`);
      const views: SignedView[] = [];
      for (let i = 0; i < vn; i++) {
        const member = readId(r);
        const n = readCount(r, 'view.entries', MAX_PARTICIPANTS);
        const entries: ViewEntry[] = [];
        for (let k = 0; k < n; k++) entries.push({ participant: at('view.entries'), inputHash: r.bytes(32) });
        checkList(
          'view.entries',
          entries.map((e) => e.participant),
          MAX_PARTICIPANTS,
        );
        views.push({ member, keySet: keySet.slice(), entries, signature: r.bytes(SIGNATURE_BYTES) });
      }
      checkList(
        'views',
        views.map((v) => v.member),
        MAX_COMMITTEE_SIZE,
      );
      m = { ...h, kind: SecAggKind.Proposal, turn, keySet, survivors, dropped, views };
      break;
    }
    case SecAggKind.Reveal: {
      const proposal = r.bytes(32);
      m = {
        ...h,
        kind: SecAggKind.Reveal,
        proposal,
        selfMaskShares: readShares(r, 'selfMaskShares'),
        keyShares: readShares(r, 'keyShares'),
      };
      break;
    }
    case SecAggKind.KeySetProposal: {
      const turn = r.u16();
      checkTurn(turn);
      const an = readCount(r, 'advertised', MAX_PARTICIPANTS);
      const advertised: string[] = [];
      for (let i = 0; i < an; i++) advertised.push(readId(r));
      checkList('advertised', advertised, MAX_PARTICIPANTS);
      const sn = readCount(r, 'shared', MAX_PARTICIPANTS);
      const shared: string[] = [];
      for (let i = 0; i < sn; i++) {
        const k = r.u16();
        if (k >= advertised.length) throw bad('shared', k, `shared: index ${k} outside advertised (${advertised.length})`);
        shared.push(advertised[k]!);
      }
      checkList('shared', shared, MAX_PARTICIPANTS);
      m = { ...h, kind: SecAggKind.KeySetProposal, turn, advertised, shared };
      break;
    }
    case SecAggKind.KeySetEndorse:
    case SecAggKind.LockEndorse:
      m = {
        ...h,
        kind: kind as SecAggKind.KeySetEndorse | SecAggKind.LockEndorse,
        digest: r.bytes(32),
        signature: r.bytes(SIGNATURE_BYTES),
      };
      break;
    case SecAggKind.Complaint: {
      const accused = readId(r);
      if (accused.length === 0) throw bad('accused', accused, 'empty accused');
      const reason = r.u8();
      if (reason !== ComplaintReason.BadShare) throw bad('reason', reason, `complaint reason ${reason}`);
      m = { ...h, kind: SecAggKind.Complaint, accused, reason, signature: r.bytes(SIGNATURE_BYTES) };
      break;
    }
    case SecAggKind.LockRefuse: {
      const digest = r.bytes(32);
      const signature = r.bytes(SIGNATURE_BYTES);
      const n = r.u8();
      if (n !== 0 && n !== 2) throw bad('evidence', n, 'evidence is 0 or 2 views');
      const evidence: SignedView[] = [];
      for (let i = 0; i < n; i++) {
        const member = readId(r);
        const keySet = r.bytes(32);
        const c = readCount(r, 'evidence.entries', MAX_PARTICIPANTS);
        const entries: ViewEntry[] = [];
        for (let k = 0; k < c; k++) entries.push({ participant: readId(r), inputHash: r.bytes(32) });
        checkList(
          'evidence.entries',
          entries.map((e) => e.participant),
          MAX_PARTICIPANTS,
        );
        evidence.push({ member, keySet, entries, signature: r.bytes(SIGNATURE_BYTES) });
      }
      checkEvidence(evidence);
      m = { ...h, kind: SecAggKind.LockRefuse, digest, signature, evidence };
      break;
    }
    case SecAggKind.LockRelease: {
      const released = r.bytes(32);
      const digest = r.bytes(32);
      const signature = r.bytes(SIGNATURE_BYTES);
      const n = r.u8();
      if (n > MAX_COMMITTEE_SIZE) throw bad('refusals', n, `${n} refusals, max ${MAX_COMMITTEE_SIZE}`);
      const refusals: SignedRefusal[] = [];
      for (let i = 0; i < n; i++) refusals.push({ member: readId(r), signature: r.bytes(SIGNATURE_BYTES) });
      checkList(
        'refusals',
        refusals.map((x) => x.member),
        MAX_COMMITTEE_SIZE,
      );
      m = { ...h, kind: SecAggKind.LockRelease, released, digest, signature, refusals };
      break;
    }
    case SecAggKind.Result: {
      const result = { prevModelHash: r.bytes(32), modelHash: r.bytes(32), participantsHash: r.bytes(32), totalSamples: r.u64() };
      m = { ...h, kind: SecAggKind.Result, result, signature: r.bytes(SIGNATURE_BYTES) };
      break;
    }
  }
  if (r.remaining !== 0) throw new MessageError('MSG_TRAILING_BYTES', `${r.remaining} bytes after secagg message`, { extra: r.remaining });
  return m;
}

function statement(tag: string, scope: SecAggScope): ByteWriter {
  if (scope.binding.length !== DEPLOYMENT_BINDING_BYTES) {
    throw bad('binding', scope.binding.length, `deployment binding must be ${DEPLOYMENT_BINDING_BYTES} bytes`);
  }
  return new ByteWriter(256).bytes(utf8(tag)).bytes(scope.binding).varBytes16(utf8(scope.federation)).u64(scope.round);
}

/** What an advertisement's signature covers. */
export function advertStatement(
  scope: SecAggScope,
  sender: string,
  encryptionKey: Uint8Array,
  maskKey: Uint8Array,
  contributes: boolean,
): Uint8Array {
  return statement('fedmesh/secagg/advertise/v2', scope)
    .varBytes16(utf8(sender))
    .bytes(encryptionKey)
    .bytes(maskKey)
    .u8(contributes ? 1 : 0)
    .finish();
}

/**
 * What a view's signature covers: the member, the key set it was taken under and its sorted
 * (participant, inputHash) list. v3 adds the key set: with key-set endorsements per turn (H8
 * F6) two key sets may be certified, and a view must not be citable by a lock on the other one.
 */
export function viewStatement(scope: SecAggScope, member: string, keySet: Uint8Array, entries: readonly ViewEntry[]): Uint8Array {
  const w = statement('fedmesh/secagg/view/v3', scope).varBytes16(utf8(member)).bytes(keySet);
  writeEntries(w, entries);
  return w.finish();
}

/**
 * What a result signature covers. It names no signer, so the same statement signed by t
 * members is a quorum certificate.
 */
export function resultStatement(scope: SecAggScope, r: ResultStatement): Uint8Array {
  return statement('fedmesh/secagg/result/v2', scope)
    .bytes(r.prevModelHash)
    .bytes(r.modelHash)
    .bytes(r.participantsHash)
    .u64(r.totalSamples)
    .finish();
}

/** SHA-256 over the sorted (participant, inputHash) entries of U: the result's participant set. */
export function survivorsHash(entries: readonly ViewEntry[]): Uint8Array {
  const w = new ByteWriter(64 + entries.length * 96).bytes(utf8('fedmesh/secagg/survivors/v1'));
  writeEntries(w, entries);
  return hash256(w.finish());
}

function writeIds(w: ByteWriter, ids: readonly string[]): void {
  w.u16(ids.length);
  for (const id of ids) w.varBytes16(utf8(id));
}

/** Identity of a key set (U_1, U_2): what KeySetEndorse signs and a lock builds on. */
export function keySetDigest(scope: SecAggScope, advertised: readonly string[], shared: readonly string[]): Uint8Array {
  const w = statement('fedmesh/secagg/keyset/v1', scope);
  writeIds(w, advertised);
  writeIds(w, shared);
  return hash256(w.finish());
}

/** Identity of a lock: U_3 with input hashes, D, and the key set they come from. Reveals name it. */
export function lockDigest(
  scope: SecAggScope,
  keySet: Uint8Array,
  survivors: readonly ViewEntry[],
  dropped: readonly string[],
): Uint8Array {
  const w = statement('fedmesh/secagg/lock/v1', scope).bytes(keySet);
  writeEntries(w, survivors);
  writeIds(w, dropped);
  return hash256(w.finish());
}

/**
 * What a complaint signs: the complaining member, the accused participant and the reason. It is
 * the member's word, not a proof (committee-member.ts "Complaints": a proof would have to show
 * the X25519 secret the share key comes from, which a member cannot do without a DLEQ proof or
 * handing over its own decryption key).
 */
export function complaintStatement(scope: SecAggScope, member: string, accused: string, reason: ComplaintReason): Uint8Array {
  return statement('fedmesh/secagg/complaint/v1', scope).varBytes16(utf8(member)).varBytes16(utf8(accused)).u8(reason).finish();
}

/** What an endorsement signs: (phase, digest). It names no signer: t of them form a certificate. */
export function endorseStatement(scope: SecAggScope, phase: CertPhase, digest: Uint8Array): Uint8Array {
  return statement('fedmesh/secagg/endorse/v1', scope).u8(phase).bytes(digest).finish();
}
