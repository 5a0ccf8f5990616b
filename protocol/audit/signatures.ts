/**
 * Question 2 of the audit: did a quorum of the committee sign the record?
 *
 * The auditor does not trust the `signers` the `RoundFinalized` event lists: it takes the
 * signatures from the finalize transaction's calldata and verifies each itself, as the contract
 * does (IFedmeshRounds.finalizeRound): the EIP-712 digest of the record under the federation's
 * domain (chain id, contract address), ECDSA recovery with low s (EIP-2), a committee member,
 * not seen before in the list, and at least t of them.
 */
import { getAddress, recoverAddress, Signature, type TypedDataDomain } from 'ethers';
import { roundRecordDigest, roundRecordStructHash } from '../chain/record.js';
import { finding, type LocalFinding } from './findings.js';
import type { AuditRecord } from './types.js';

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
  const digest = roundRecordDigest(input.domain, input.callRecord);
  const committee = new Set(input.committee.map((a) => getAddress(a)));
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
