/**
 * Quorum certificates: the committee decides what Bonawitz et al.'s server decides (CCS 2017,
 * §4 and the malicious-model consistency check of §6–7) *as a quorum*. A decision — the key set
 * (U_1 advertised, U_2 shared to the committee) or the lock on (U_3, D) — is proposed by the
 * leader of a turn and certified by t endorsements: t member signatures over the same
 * `endorseStatement(phase, digest)`, which names no signer.
 *
 * Locks: one decision per round. Every honest member endorses at most one lock per round. Two
 * certified lock digests need 2t endorsements from m members, so at least 2t − m members signed
 * both; with 2t − m > c (config.ts `maliciousMembers`) that needs more corrupt members than
 * tolerated. An honest member reveals shares only for the lock it endorsed, once that lock is
 * certified, so reveals for two different (U_3, D) never both reach t — the committee-wide
 * never-both guarantee that "one proposal per member" alone did not give (issue 13, attack 2).
 *
 * Key sets: one endorsement per member per TURN, so several key sets may be certified in one
 * round (H8 F6: members bound to a turn whose proposal could never reach t — one late advert,
 * one participant's undecryptable shares — endorse a later turn's). Safety does not rest on the
 * key set: a participant masks once, under the first certified key set it accepts; a view is
 * signed over the key set it was taken under and lists only inputs masked with exactly that key
 * set's U_2 \ {i}; a lock names one certified key set, cites only views under it, and
 * D = that key set's U_2 \ U_3. A second certified key set therefore only splits the inputs
 * between key sets (liveness): b_i is revealed only for the one certified lock's U_3 and s_j^SK
 * only for its D, disjoint, so never-both holds per member and committee-wide as before. Use
 * `certificateFor` (the certificate of one named digest) for key sets, `certified` for locks.
 *
 * Leaders: turn τ's leader is committee[τ mod m]; a member accepts a turn-τ proposal only once
 * its own clock reached the turn's start (the driver supplies `turnStart`); turn 0 starts at
 * once, so a fault-free round waits on no timer. Pure; no I/O.
 */
import { bytesEqual, toHex0x } from '../bytes.js';
import {
  CertPhase,
  type ComplaintMsg,
  complaintStatement,
  type EndorseMsg,
  endorseStatement,
  type KeySetProposalMsg,
  keySetDigest,
  type LockRefuseMsg,
  type LockReleaseMsg,
  SecAggKind,
  type SecAggScope,
} from '../messages/secagg.js';
import type { IdentitySign, IdentityVerify } from './crypto.js';
import { SecAggError } from './errors.js';
import { checkView, sameView } from './views.js';

export interface Certificate {
  readonly digest: Uint8Array;
  /** Signers in committee order, at least t. */
  readonly signers: readonly string[];
  readonly signatures: readonly Uint8Array[];
}

/** Turn τ's leader. */
export function leaderOf(committee: readonly string[], turn: number): string {
  return committee[turn % committee.length]!;
}

/**
 * Throws SECAGG_NOT_LEADER unless `sender` leads `turn`, SECAGG_EARLY_PROPOSAL while `now` is
 * before the turn's start on this member's clock.
 */
export function checkLeader(
  committee: readonly string[],
  sender: string,
  turn: number,
  now: number,
  turnStart: (turn: number) => number,
): void {
  const leader = leaderOf(committee, turn);
  if (sender !== leader) {
    throw new SecAggError('SECAGG_NOT_LEADER', `proposal by ${sender} for turn ${turn}, whose leader is ${leader}`, {
      proposer: sender,
      turn,
      leader,
    });
  }
  const startsAt = turnStart(turn);
  if (now < startsAt) {
    throw new SecAggError('SECAGG_EARLY_PROPOSAL', `proposal for turn ${turn} before the turn starts`, {
      proposer: sender,
      turn,
      startsAt,
      now,
    });
  }
}

export function endorse<K extends SecAggKind.KeySetEndorse | SecAggKind.LockEndorse>(
  scope: SecAggScope,
  kind: K,
  phase: CertPhase,
  self: string,
  digest: Uint8Array,
  sign: IdentitySign,
): EndorseMsg<K> {
  return {
    kind,
    federation: scope.federation,
    round: scope.round,
    sender: self,
    digest: digest.slice(),
    signature: sign(endorseStatement(scope, phase, digest)),
  };
}

/** Throws SECAGG_NOT_COMMITTEE / SECAGG_BAD_SIGNATURE unless `e` is a committee member's valid endorsement. */
export function checkEndorsement(
  scope: SecAggScope,
  phase: CertPhase,
  e: EndorseMsg,
  committee: readonly string[],
  verify: IdentityVerify,
): void {
  if (!committee.includes(e.sender)) {
    throw new SecAggError('SECAGG_NOT_COMMITTEE', `endorsement by ${e.sender}, not on the round's committee`, { member: e.sender });
  }
  if (!verify(e.sender, endorseStatement(scope, phase, e.digest), e.signature)) {
    throw new SecAggError('SECAGG_BAD_SIGNATURE', `endorsement by ${e.sender} does not verify`, { member: e.sender, phase });
  }
}

/**
 * The digest that ≥ t distinct committee members endorsed with a valid signature, or
 * undefined. Endorsements are verified here (callers may pass unverified ones); if two digests
 * both reach t — impossible unless ≥ 2t − m members signed both — the result is undefined and
 * SECAGG_EQUIVOCATION is thrown with both digests, because acting on either would be unsafe.
 */
export function certified(
  scope: SecAggScope,
  phase: CertPhase,
  endorsements: Iterable<EndorseMsg>,
  committee: readonly string[],
  threshold: number,
  verify: IdentityVerify,
): Certificate | undefined {
  const byDigest = signersByDigest(scope, phase, endorsements, committee, verify);
  const certs = [...byDigest.values()].filter((g) => g.by.size >= threshold);
  if (certs.length > 1) {
    throw new SecAggError('SECAGG_EQUIVOCATION', `two ${phase === 1 ? 'key sets' : 'locks'} each certified by ≥ ${threshold} members`, {
      phase,
      digests: certs.map((c) => toHex0x(c.digest)),
      signers: certs.map((c) => [...c.by.keys()].sort()),
    });
  }
  const c = certs[0];
  return c === undefined ? undefined : certificateOf(c, committee);
}

interface Endorsers {
  readonly digest: Uint8Array;
  /** Valid signatures by distinct committee members. */
  readonly by: Map<string, Uint8Array>;
}

/** Valid endorsements grouped by digest (hex); endorsements are verified here. */
function signersByDigest(
  scope: SecAggScope,
  phase: CertPhase,
  endorsements: Iterable<EndorseMsg>,
  committee: readonly string[],
  verify: IdentityVerify,
  only?: Uint8Array,
): Map<string, Endorsers> {
  const byDigest = new Map<string, Endorsers>();
  for (const e of endorsements) {
    if (!committee.includes(e.sender) || e.digest.length !== 32) continue;
    if (only !== undefined && !bytesEqual(e.digest, only)) continue;
    const key = toHex0x(e.digest);
    let g = byDigest.get(key);
    if (g === undefined) {
      g = { digest: e.digest.slice(), by: new Map() };
      byDigest.set(key, g);
    }
    if (g.by.has(e.sender)) continue;
    if (!verify(e.sender, endorseStatement(scope, phase, e.digest), e.signature)) continue;
    g.by.set(e.sender, e.signature);
  }
  return byDigest;
}

function certificateOf(g: Endorsers, committee: readonly string[]): Certificate {
  const signers = committee.filter((m) => g.by.has(m));
  return { digest: g.digest, signers, signatures: signers.map((s) => g.by.get(s)!) };
}

/**
 * The certificate of `digest`: ≥ t distinct committee members' valid endorsements of exactly that
 * digest, or undefined. Other digests are ignored — for key sets, where certificates on several
 * digests are allowed (see the header); locks use `certified`, which refuses two.
 */
export function certificateFor(
  scope: SecAggScope,
  phase: CertPhase,
  endorsements: Iterable<EndorseMsg>,
  committee: readonly string[],
  threshold: number,
  verify: IdentityVerify,
  digest: Uint8Array,
): Certificate | undefined {
  const g = signersByDigest(scope, phase, endorsements, committee, verify, digest).get(toHex0x(digest));
  return g === undefined || g.by.size < threshold ? undefined : certificateOf(g, committee);
}

/** Whether `cert` certifies `digest`. */
export function certifies(cert: Certificate | undefined, digest: Uint8Array): boolean {
  return cert !== undefined && bytesEqual(cert.digest, digest);
}

/** A key-set proposal with the endorsements that certify it, as a participant receives them. */
export interface KeySetEvidence {
  readonly proposal: KeySetProposalMsg;
  readonly endorsements: Iterable<EndorseMsg>;
}

export interface CertifiedKeySet {
  readonly digest: Uint8Array;
  /** U_1, sorted. */
  readonly advertised: readonly string[];
  /** U_2 ⊆ U_1, sorted. */
  readonly shared: readonly string[];
  readonly certificate: Certificate;
}

/**
 * The key set `ev.proposal` names, if t committee members endorsed exactly its digest
 * (SECAGG_NOT_CERTIFIED otherwise). Participants mask with U_2 \ {self} only after this.
 */
export function verifyKeySet(
  scope: SecAggScope,
  ev: KeySetEvidence,
  committee: readonly string[],
  threshold: number,
  verify: IdentityVerify,
): CertifiedKeySet {
  const digest = keySetDigest(scope, ev.proposal.advertised, ev.proposal.shared);
  const cert = certificateFor(scope, CertPhase.KeySet, ev.endorsements, committee, threshold, verify, digest);
  if (cert === undefined) {
    throw new SecAggError(
      'SECAGG_NOT_CERTIFIED',
      `key set of ${ev.proposal.sender} (turn ${ev.proposal.turn}) is not certified by ${threshold} members`,
      {
        phase: 'key-set',
        digest: toHex0x(digest),
      },
    );
  }
  return { digest, advertised: ev.proposal.advertised, shared: ev.proposal.shared, certificate: cert };
}

/**
 * How many refusals of a lock digest let a member that endorsed it release it, and why
 * (committee-member.ts "Refusals and release"). Lock uniqueness is promised against any a < 2t − m
 * active members (docs/secure-aggregation.md "Which coalitions learn nothing"), so the quorum is
 * computed for the largest such a, c = 2t − m − 1 — not for the configured `maliciousMembers`
 * (red team H10 F14: with c = 1 at (7, 5), two active members plus two curious ones made two
 * curious members release a lock that was certified, and recovered an input). With p of the c
 * proven equivocators (two different signed views), r signed refusals of X by distinct members
 * that are not proven equivocators include at least r − (c − p) honest members, and an honest
 * member never endorses a digest it refused. So at most m − r + (c − p) members can ever endorse
 * X, which is below t exactly when r ≥ m − t + max(c − p, 0) + 1. Returns that r.
 */
export function releaseQuorum(m: number, t: number, provenEquivocators: number): number {
  const c = Math.max(2 * t - m - 1, 0);
  return m - t + Math.max(c - provenEquivocators, 0) + 1;
}

/** Valid refusals of `digest` by distinct committee members, from `refusals` (signatures checked here). */
export function validRefusers(
  scope: SecAggScope,
  digest: Uint8Array,
  refusals: Iterable<{ readonly member: string; readonly signature: Uint8Array }>,
  committee: readonly string[],
  verify: IdentityVerify,
): Set<string> {
  const out = new Set<string>();
  const statement = endorseStatement(scope, CertPhase.Refuse, digest);
  for (const r of refusals) {
    if (out.has(r.member) || !committee.includes(r.member)) continue;
    if (verify(r.member, statement, r.signature)) out.add(r.member);
  }
  return out;
}

/**
 * Role and signatures of the liveness evidence kinds (Complaint, LockRefuse, LockRelease), as the
 * gossip validator checks them: the sender is on the round's committee and every signature it
 * carries verifies (a refusal's evidence is two different views by one member; a release names
 * a digest other than the one it releases and carries only valid refusals by other members).
 * How many refusals a release needs is the member's check (it knows t and c).
 */
export function checkLivenessEvidence(
  scope: SecAggScope,
  m: ComplaintMsg | LockRefuseMsg | LockReleaseMsg,
  committee: readonly string[],
  verify: IdentityVerify,
): void {
  if (!committee.includes(m.sender)) {
    throw new SecAggError('SECAGG_NOT_COMMITTEE', `${SecAggKind[m.kind]} by ${m.sender}, not on the round's committee`, {
      member: m.sender,
    });
  }
  const badSignature = (what: string): never => {
    throw new SecAggError('SECAGG_BAD_SIGNATURE', `${what} of ${m.sender} does not verify`, { member: m.sender, kind: m.kind });
  };
  switch (m.kind) {
    case SecAggKind.Complaint:
      if (!verify(m.sender, complaintStatement(scope, m.sender, m.accused, m.reason), m.signature)) badSignature('complaint');
      return;
    case SecAggKind.LockRefuse:
      if (!verify(m.sender, endorseStatement(scope, CertPhase.Refuse, m.digest), m.signature)) badSignature('refusal');
      if (m.evidence.length === 2) {
        for (const v of m.evidence) checkView(v, scope, committee, verify);
        if (sameView(m.evidence[0]!, m.evidence[1]!)) {
          throw new SecAggError('SECAGG_BAD_PROPOSAL', `refusal of ${m.sender}: its evidence views are the same view`, {
            proposer: m.sender,
            reason: 'evidence',
          });
        }
      }
      return;
    case SecAggKind.LockRelease: {
      if (!verify(m.sender, endorseStatement(scope, CertPhase.Lock, m.digest), m.signature)) badSignature('release endorsement');
      if (bytesEqual(m.released, m.digest)) {
        throw new SecAggError('SECAGG_BAD_PROPOSAL', `release of ${m.sender} endorses the lock it releases`, {
          proposer: m.sender,
          reason: 'release',
        });
      }
      const valid = validRefusers(scope, m.released, m.refusals, committee, verify);
      if (valid.has(m.sender) || valid.size !== m.refusals.length) badSignature('a refusal in the release');
      return;
    }
  }
}
