/**
 * Question 2 of the audit: did a quorum of the committee sign the record, and did every member
 * the record charges sign its own line?
 *
 * The auditor does not trust the `signers` the `RoundFinalized` event lists: it takes the
 * signatures from the finalize transaction's calldata and verifies each itself, as the contract
 * does (IFedmeshRounds.finalizeRound): the EIP-712 digest of the record under the federation's
 * domain (chain id, contract address), ECDSA recovery with low s (EIP-2), a committee member,
 * not seen before in the list, and at least t of them. Each participant line must carry its
 * member's ParticipantEntry signature (protocol/chain/participant-entry.ts; contract
 * `_applyParticipant`, M-3 "nobody else can charge it"), checked here again so a look-alike
 * contract that skips the check is caught (red team F11). When the calldata cannot be decoded
 * (a relay), the event's signers are still held to the committee and the threshold
 * (`checkEventSigners`), but the round stays unverified.
 */
import { getAddress, recoverAddress, Signature, type TypedDataDomain } from 'ethers';
import type { DeploymentBinding } from '../chain/deployment-binding.js';
import { participantEntryDigest } from '../chain/participant-entry.js';
import { participantsHash, roundChargeDigest } from '../chain/charge.js';
import { type Hex32, roundRecordDigest, roundRecordStructHash } from '../chain/record.js';
import { finding, type LocalFinding } from './findings.js';
import type { AuditParticipant, AuditRecord, EntrySignature } from './types.js';

export interface SignatureCheck {
  /** Distinct committee members whose signature verified, in signature order. */
  readonly signers: readonly string[];
  readonly findings: LocalFinding[];
}

/** secp256k1 n / 2: a signature with s above it is malleable and refused (EIP-2, OpenZeppelin ECDSA). */
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/** The address that signed `digest` with `signature`, or a reason it is not a valid signature. */
export function recoverSigner(digest: string, signature: string): { signer: string } | { invalid: string } {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return { invalid: 'not 65 bytes' };
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130, 132), 16);
  if (s > HALF_N) return { invalid: 'high s' };
  if (v !== 27 && v !== 28) return { invalid: `v = ${v}` };
  try {
    return { signer: getAddress(recoverAddress(digest, Signature.from(signature))) };
  } catch (e) {
    return { invalid: (e as Error).message };
  }
}

export function checkFinalizeSignatures(input: {
  readonly round: number;
  readonly domain: TypedDataDomain;
  /** The record the event carries. */
  readonly record: AuditRecord;
  /** The record and signatures the transaction carried. */
  readonly callRecord: AuditRecord;
  readonly signatures: readonly string[];
  readonly committee: readonly string[];
  readonly threshold: number;
  /** The event's `signers`, to compare with what the signatures say. */
  readonly eventSigners: readonly string[];
}): SignatureCheck {
  const findings: LocalFinding[] = [];
  const eventHash = roundRecordStructHash(input.record);
  const callHash = roundRecordStructHash(input.callRecord);
  if (eventHash !== callHash) {
    findings.push(
      finding(
        'CALLDATA_RECORD_MISMATCH',
        'error',
        `round ${input.round}: the finalize transaction carried a different record than the event`,
        {
          eventRecordHash: eventHash,
          calldataRecordHash: callHash,
        },
      ),
    );
  }
  const { signers, findings: quorum } = checkQuorum(
    input.round,
    roundRecordDigest(input.domain, input.callRecord),
    input.signatures,
    input.committee,
    input.threshold,
  );
  findings.push(...quorum);
  const listed = input.eventSigners.map((a) => getAddress(a));
  if (listed.length !== signers.length || listed.some((a, i) => a !== signers[i])) {
    findings.push(
      finding('SIGNERS_EVENT_MISMATCH', 'error', `round ${input.round}: the event's signers are not the ones the signatures verify to`, {
        eventSigners: listed,
        verifiedSigners: signers,
      }),
    );
  }
  return { signers, findings };
}

/**
 * The charge before the reveals (red team F18; IFedmeshRounds.chargeRound), from its calldata:
 * the lines the transaction carried hash to the event's `participantsHash` (else
 * CALLDATA_RECORD_MISMATCH), and at least t distinct committee members signed the EIP-712
 * `RoundCharge` of the round, the lock and those lines, under the deployment's domain.
 */
export function checkChargeSignatures(input: {
  readonly round: number;
  readonly domain: TypedDataDomain;
  readonly eventParticipantsHash: Hex32;
  readonly call: { readonly round: number; readonly lock: Hex32; readonly participants: readonly AuditParticipant[] };
  readonly signatures: readonly string[];
  readonly committee: readonly string[];
  readonly threshold: number;
}): SignatureCheck {
  const findings: LocalFinding[] = [];
  const callHash = participantsHash(input.call.participants);
  if (callHash.toLowerCase() !== input.eventParticipantsHash.toLowerCase() || input.call.round !== input.round) {
    findings.push(
      finding('CALLDATA_RECORD_MISMATCH', 'error', `round ${input.round}: the charge transaction carried other lines than the event`, {
        eventParticipantsHash: input.eventParticipantsHash,
        calldataParticipantsHash: callHash,
        calldataRound: input.call.round,
      }),
    );
  }
  const q = checkQuorum(input.round, roundChargeDigest(input.domain, input.call), input.signatures, input.committee, input.threshold);
  return { signers: q.signers, findings: [...findings, ...q.findings] };
}

/**
 * `signatures` over `digest` as the contract counts them: each valid (low s, v ∈ {27, 28}), by a
 * committee member, none twice; at least `threshold` of them.
 */
function checkQuorum(
  round: number,
  digest: string,
  signatures: readonly string[],
  committeeList: readonly string[],
  threshold: number,
): SignatureCheck {
  const input = { round, threshold, signatures };
  const findings: LocalFinding[] = [];
  const committee = new Set(committeeList.map((a) => getAddress(a)));
  const seen = new Set<string>();
  const signers: string[] = [];
  input.signatures.forEach((sig, index) => {
    const r = recoverSigner(digest, sig);
    if ('invalid' in r) {
      findings.push(
        finding('SIGNATURE_INVALID', 'error', `round ${input.round}: signature ${index} is invalid (${r.invalid})`, {
          index,
          signature: sig,
          digest,
        }),
      );
      return;
    }
    if (!committee.has(r.signer)) {
      findings.push(
        finding('SIGNER_NOT_IN_COMMITTEE', 'error', `round ${input.round}: signature ${index} is by ${r.signer}, not a committee member`, {
          index,
          signer: r.signer,
          committee: [...committee],
          digest,
        }),
      );
      return;
    }
    if (seen.has(r.signer)) {
      findings.push(finding('SIGNER_DUPLICATE', 'error', `round ${input.round}: ${r.signer} signed twice`, { index, signer: r.signer }));
      return;
    }
    seen.add(r.signer);
    signers.push(r.signer);
  });
  if (signers.length < input.threshold) {
    findings.push(
      finding(
        'SIGNATURES_BELOW_THRESHOLD',
        'error',
        `round ${input.round}: ${signers.length} valid committee signatures, fewer than the threshold ${input.threshold}`,
        { valid: signers, threshold: input.threshold, carried: input.signatures.length },
      ),
    );
  }
  return { signers, findings };
}

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const LOW_255 = (1n << 255n) - 1n;

/**
 * The 65-byte r ‖ s ‖ v form of an EIP-2098 compact signature (s = vs with its top bit
 * cleared, v = 27 + that bit), as OpenZeppelin `ECDSA.tryRecover(hash, r, vs)` expands it;
 * undefined when r or vs is not 32 bytes of hex.
 */
export function expandCompact(sig: EntrySignature): string | undefined {
  if (!HEX32.test(sig.r) || !HEX32.test(sig.vs)) return undefined;
  const vs = BigInt(sig.vs);
  const s = vs & LOW_255;
  const v = 27 + Number(vs >> 255n);
  return `${sig.r.toLowerCase()}${s.toString(16).padStart(64, '0')}${v.toString(16)}`;
}

/**
 * Every line of `record` against its ParticipantEntry signature, one per line in record order
 * (the contract's rule): recovered under the deployment's EIP-712 domain with recoverSigner's
 * rules (low s, v ∈ {27, 28}), it must be the line's member. One ENTRY_SIGNATURE_INVALID
 * {member, index, reason} per line that fails, and one per signature beyond the lines.
 * Whether the spend is what the declared parameters give is ./privacy.ts's question.
 */
export function checkEntrySignatures(input: {
  readonly round: number;
  readonly binding: DeploymentBinding;
  /** The round and lines the transaction carried (what the contract charged: a record, or a charge). */
  readonly record: { readonly round: number; readonly participants: readonly AuditParticipant[] };
  readonly entrySignatures: readonly EntrySignature[];
}): LocalFinding[] {
  const findings: LocalFinding[] = [];
  const bad = (member: string | null, index: number, reason: string, extra: Record<string, unknown> = {}): void => {
    findings.push(
      finding(
        'ENTRY_SIGNATURE_INVALID',
        'error',
        member === null
          ? `round ${input.round}: entry signature ${index} has no record line (${reason})`
          : `round ${input.round}: line ${index} charges ${member} without its ParticipantEntry signature (${reason})`,
        { member, index, reason, ...extra },
      ),
    );
  };
  for (const [index, p] of input.record.participants.entries()) {
    const member = getAddress(p.member);
    const sig = input.entrySignatures[index];
    if (sig === undefined) {
      bad(member, index, 'missing');
      continue;
    }
    const full = expandCompact(sig);
    if (full === undefined) {
      bad(member, index, 'not a compact signature', { signature: sig });
      continue;
    }
    let digest: string;
    try {
      digest = participantEntryDigest(input.binding, { round: input.record.round, member, dpParams: p.dpParams, spend: p.spend });
    } catch (e) {
      bad(member, index, `the line does not encode (${(e as Error).message})`);
      continue;
    }
    const r = recoverSigner(digest, full);
    if ('invalid' in r) bad(member, index, r.invalid, { signature: sig, digest });
    else if (r.signer !== member) bad(member, index, `signed by ${r.signer}`, { signer: r.signer, digest });
  }
  for (let index = input.record.participants.length; index < input.entrySignatures.length; index++) {
    bad(null, index, `${input.entrySignatures.length} signatures for ${input.record.participants.length} lines`);
  }
  return findings;
}

/**
 * When the calldata cannot be verified, the event's `signers` at least: each a member of the
 * round's committee, none twice, at least t. Passing this does not verify the round — anyone
 * can emit such an event from a look-alike — so the caller still reports it unverified.
 */
export function checkEventSigners(input: {
  readonly round: number;
  readonly signers: readonly string[];
  readonly committee: readonly string[];
  readonly threshold: number;
}): SignatureCheck {
  const findings: LocalFinding[] = [];
  const committee = new Set(input.committee.map((a) => getAddress(a)));
  const seen = new Set<string>();
  const signers: string[] = [];
  input.signers.forEach((raw, index) => {
    const signer = getAddress(raw);
    if (!committee.has(signer)) {
      findings.push(
        finding(
          'SIGNER_NOT_IN_COMMITTEE',
          'error',
          `round ${input.round}: the event names ${signer} as signer ${index}, not a committee member`,
          {
            index,
            signer,
            committee: [...committee],
            source: 'event',
          },
        ),
      );
      return;
    }
    if (seen.has(signer)) {
      findings.push(
        finding('SIGNER_DUPLICATE', 'error', `round ${input.round}: the event names ${signer} twice`, { index, signer, source: 'event' }),
      );
      return;
    }
    seen.add(signer);
    signers.push(signer);
  });
  if (signers.length < input.threshold) {
    findings.push(
      finding(
        'SIGNATURES_BELOW_THRESHOLD',
        'error',
        `round ${input.round}: the event names ${signers.length} distinct committee signers, fewer than the threshold ${input.threshold}`,
        { valid: signers, threshold: input.threshold, carried: input.signers.length, source: 'event' },
      ),
    );
  }
  return { signers, findings };
}
