/**
 * Structured evidence records of the secure-aggregation liveness messages (issue 13 #13;
 * docs/secure-aggregation.md "Liveness: complaints, refusals and release", docs/threat-model.md
 * G13): who complained about whom, who refused which lock (and which member's two views it
 * proved an equivocator with), who released which lock on whose refusals. The secagg inbox writes
 * one record per accepted message — its own and other members' — to the node's log
 * (`event: 'complaint' | 'lock-refusal' | 'lock-release'`) and keeps the latest in memory.
 *
 * Every record carries what an auditor needs to check it offline against the signer's public key
 * (its Ed25519 peer id): the signature, and for a view the SHA-256 of the exact statement signed
 * (protocol/messages/secagg.ts `viewStatement`) with its entry count; the statements themselves are
 * rebuilt from the fields and the deployment binding. A refusal's two views are also an
 * equivocation record (`event: 'equivocation'`, kind `secagg-View`, the digests of the two signed
 * statements), once per (round, member).
 */
import { hash256, toHex0x } from '../../protocol/bytes.js';
import {
  ComplaintReason,
  type ComplaintMsg,
  type LockRefuseMsg,
  type LockReleaseMsg,
  SecAggKind,
  type SecAggScope,
  type SignedView,
  viewStatement,
} from '../../protocol/messages/secagg.js';
import type { EquivocationEvidence } from './round-inbox.js';

/** One view of an equivocation pair, as an auditor checks it. */
export interface ViewEvidence {
  readonly member: string;
  /** The key set (keySetDigest) the view was taken under. */
  readonly keySet: string;
  readonly entries: number;
  /** SHA-256 (hex, no 0x) and length of viewStatement(scope, member, keySet, entries): what `signature` signs. */
  readonly statementSha256: string;
  readonly statementBytes: number;
  readonly signature: string;
}

export type LivenessEvidence =
  | {
      readonly event: 'complaint';
      readonly round: number;
      /** The committee member that complained. */
      readonly member: string;
      /** The participant whose share to `member` did not open. */
      readonly accused: string;
      readonly reason: 'bad-share' | `reason-${number}`;
      readonly signature: string;
    }
  | {
      readonly event: 'lock-refusal';
      readonly round: number;
      readonly member: string;
      /** The lock digest `member` promised never to endorse. */
      readonly lock: string;
      readonly signature: string;
      /** The member proven to have signed two different views, when the refusal carries them. */
      readonly equivocator?: string;
      readonly views?: readonly [ViewEvidence, ViewEvidence];
    }
  | {
      readonly event: 'lock-release';
      readonly round: number;
      readonly member: string;
      /** The lock `member` released, and the one it endorses instead (`signature`). */
      readonly released: string;
      readonly lock: string;
      readonly signature: string;
      /** The members whose refusals of `released` the release carries. */
      readonly refusers: readonly string[];
    };

export type LivenessMessage = ComplaintMsg | LockRefuseMsg | LockReleaseMsg;

function viewEvidence(scope: SecAggScope, v: SignedView): ViewEvidence {
  const statement = viewStatement(scope, v.member, v.keySet, v.entries);
  return {
    member: v.member,
    keySet: toHex0x(v.keySet),
    entries: v.entries.length,
    statementSha256: toHex0x(hash256(statement)).slice(2),
    statementBytes: statement.length,
    signature: toHex0x(v.signature),
  };
}

/** The evidence record of an accepted liveness message (`binding`: the deployment its statements are bound to). */
export function livenessEvidence(binding: Uint8Array, m: LivenessMessage): LivenessEvidence {
  const base = { round: m.round, member: m.sender, signature: toHex0x(m.signature) };
  switch (m.kind) {
    case SecAggKind.Complaint:
      return {
        event: 'complaint',
        ...base,
        accused: m.accused,
        reason: m.reason === ComplaintReason.BadShare ? 'bad-share' : `reason-${m.reason}`,
      };
    case SecAggKind.LockRefuse: {
      const scope = { binding, federation: m.federation, round: m.round };
      const [a, b] = m.evidence;
      return {
        event: 'lock-refusal',
        ...base,
        lock: toHex0x(m.digest),
        ...(a !== undefined && b !== undefined
          ? { equivocator: a.member, views: [viewEvidence(scope, a), viewEvidence(scope, b)] as const }
          : {}),
      };
    }
    case SecAggKind.LockRelease:
      return {
        event: 'lock-release',
        ...base,
        released: toHex0x(m.released),
        lock: toHex0x(m.digest),
        refusers: m.refusals.map((r) => r.member),
      };
  }
}

/** The equivocation record a refusal's two views make (undefined: a refusal without evidence). */
export function viewEquivocationEvidence(e: LivenessEvidence): EquivocationEvidence | undefined {
  if (e.event !== 'lock-refusal' || e.views === undefined) return undefined;
  const [a, b] = e.views;
  return {
    kind: 'secagg-View',
    round: e.round,
    sender: a.member,
    first: { sha256: a.statementSha256, bytes: a.statementBytes },
    second: { sha256: b.statementSha256, bytes: b.statementBytes },
  };
}
