/**
 * protocol/chain/participant-entry.ts and deployment-binding.ts: the participant's EIP-712
 * authorization of its record line, checked against a hand-built EIP-712 encoding, and the
 * deployment binding bytes. That the contract agrees is test/contracts' job.
 */
import { AbiCoder, concat, getAddress, keccak256, toUtf8Bytes, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { cAlpha } from '../../protocol/chain/budget.js';
import { checkAdmission } from '../../protocol/chain/declaration.js';
import { deploymentBinding, deploymentBindingBytes } from '../../protocol/chain/deployment-binding.js';
import { encodeDpParams } from '../../protocol/chain/dp-params.js';
import {
  participantEntry,
  participantEntryDigest,
  participantEntryStructHash,
  recoverParticipantEntry,
  signParticipantEntry,
  verifyParticipantEntry,
} from '../../protocol/chain/participant-entry.js';
import { isFedmeshError } from '../../protocol/errors.js';

const abi = AbiCoder.defaultAbiCoder();
const CONTRACT = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const BINDING = { chainId: 31337n, contract: CONTRACT };
const DP = encodeDpParams({ sampleRate: 0.01, noiseMultiplier: 1.1, clipNorm: 1, steps: 100 });

describe('deployment binding', () => {
  it('encodes 32-byte big-endian chain id then the 20 address bytes', () => {
    const bytes = deploymentBindingBytes({ chainId: 0x0102n, contract: CONTRACT.toLowerCase() });
    expect(bytes.length).toBe(52);
    expect(Array.from(bytes.slice(0, 32))).toEqual([...new Array(30).fill(0), 1, 2]);
    expect(`0x${Buffer.from(bytes.slice(32)).toString('hex')}`).toBe(CONTRACT.toLowerCase());
  });

  it('refuses a zero chain id and a malformed address with the field named', () => {
    for (const [chainId, contract, field] of [
      [0n, CONTRACT, 'chainId'],
      [1n, '0x1234', 'contract'],
    ] as const) {
      try {
        deploymentBinding(chainId, contract);
        expect.unreachable();
      } catch (e) {
        expect(isFedmeshError(e) && e.code === 'ONCHAIN_INVALID_VALUE' && (e.fields as { field: string }).field).toBe(field);
      }
    }
  });
});

describe('participant entry', () => {
  it('hashes as EIP-712 ParticipantEntry(uint64 round,address member,uint256 dpParams,uint256 spend)', () => {
    const member = getAddress('0x00000000000000000000000000000000000000aa');
    const e = participantEntry(7, member, DP);
    const typeHash = keccak256(toUtf8Bytes('ParticipantEntry(uint64 round,address member,uint256 dpParams,uint256 spend)'));
    const struct = keccak256(abi.encode(['bytes32', 'uint64', 'address', 'uint256', 'uint256'], [typeHash, 7, member, DP, e.spend]));
    expect(participantEntryStructHash(e)).toBe(struct);
    const domainType = keccak256(toUtf8Bytes('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'));
    const domainSep = keccak256(
      abi.encode(
        ['bytes32', 'bytes32', 'bytes32', 'uint256', 'address'],
        [domainType, keccak256(toUtf8Bytes('fedmesh')), keccak256(toUtf8Bytes('1')), 31337n, CONTRACT],
      ),
    );
    expect(participantEntryDigest(BINDING, e)).toBe(keccak256(concat(['0x1901', domainSep, struct])));
    expect(e.spend).not.toBe(0n);
  });

  it('verifies only the member signature over the exact round, spend and deployment', async () => {
    const w = Wallet.createRandom();
    const e = participantEntry(3, w.address, DP);
    const sig = await signParticipantEntry(w, BINDING, e);
    expect(verifyParticipantEntry(BINDING, e, sig)).toBe(true);
    expect(verifyParticipantEntry(BINDING, { ...e, round: 4 }, sig)).toBe(false);
    expect(verifyParticipantEntry(BINDING, { ...e, spend: e.spend + 1n }, sig)).toBe(false);
    expect(verifyParticipantEntry({ chainId: 1n, contract: CONTRACT }, e, sig)).toBe(false);
    const other = Wallet.createRandom();
    expect(verifyParticipantEntry(BINDING, { ...e, member: other.address }, sig)).toBe(false);
    // A spend that is not what dpParams implies is refused even when the member signed it.
    const odd = { ...e, spend: 0n };
    expect(verifyParticipantEntry(BINDING, odd, await signParticipantEntry(w, BINDING, odd))).toBe(false);
    expect(recoverParticipantEntry(BINDING, e, '0x1234')).toBeUndefined();
  });
});

describe('committee admission (checkAdmission)', () => {
  it('admits a signed, affordable line; refuses an unsigned one, non-DP in a DP federation, and one over its cap', async () => {
    const w = Wallet.createRandom();
    const sig = await signParticipantEntry(w, BINDING, participantEntry(5, w.address, DP));
    const base = {
      binding: BINDING,
      round: 5,
      member: w.address,
      dpParams: DP,
      entrySignature: sig,
      dpRequired: true,
      spentRdp: 0n,
      cAlpha: cAlpha(1e-5),
      cap: 100_000_000n,
    };
    expect(checkAdmission(base)).toBeUndefined();
    expect(checkAdmission({ ...base, round: 6 })).toBe('ENTRY_UNSIGNED');
    const { entrySignature: _, ...unsigned } = base;
    expect(checkAdmission(unsigned)).toBe('ENTRY_UNSIGNED');
    const noDp = await signParticipantEntry(w, BINDING, participantEntry(5, w.address, 0n));
    expect(checkAdmission({ ...base, dpParams: 0n, entrySignature: noDp })).toBe('DP_REQUIRED');
    expect(checkAdmission({ ...base, dpParams: 0n, entrySignature: noDp, dpRequired: false })).toBeUndefined();
    expect(checkAdmission({ ...base, cap: 1n })).toBe('OVER_CAP');
  });
});
