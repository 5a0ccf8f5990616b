/**
 * Known answers for every secure-aggregation wire message and signed statement
 * (test/vectors/secagg-messages.json, written by an independent Python encoder from the
 * layouts in protocol/messages/secagg.ts and masked-input.ts). A change to any byte layout,
 * domain tag or binding fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex0x, toHex0x } from '../../protocol/bytes.js';

const toHex = (b: Uint8Array): string => toHex0x(b).slice(2);
const fromHex = (h: string): Uint8Array => fromHex0x(`0x${h}`);
import { deploymentBindingBytes } from '../../protocol/chain/deployment-binding.js';
import { decodeMaskedInput, encodeMaskedInput } from '../../protocol/messages/masked-input.js';
import {
  advertStatement,
  CertPhase,
  ComplaintReason,
  complaintStatement,
  decodeSecAgg,
  encodeSecAgg,
  endorseStatement,
  keySetDigest,
  lockDigest,
  resultStatement,
  SecAggKind,
  type SecAggMessage,
  survivorsHash,
  viewStatement,
} from '../../protocol/messages/secagg.js';

const V = JSON.parse(readFileSync(new URL('../vectors/secagg-messages.json', import.meta.url), 'utf8')) as {
  binding: string;
  messages: Record<string, string>;
  statements: Record<string, string>;
  digests: Record<string, string>;
  maskedInput: string;
};
const fill = (n: number, b: number) => new Uint8Array(n).fill(b);
const binding = deploymentBindingBytes({ chainId: 31337n, contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
const scope = { binding, federation: 'demo', round: 4 };
const base = { federation: 'demo', round: 4 };
const entries = [
  { participant: 'alice', inputHash: fill(32, 1) },
  { participant: 'bob', inputHash: fill(32, 2) },
];
const result = { prevModelHash: fill(32, 0x0b), modelHash: fill(32, 0x0c), participantsHash: fill(32, 0x0d), totalSamples: 455 };

const messages: Record<string, SecAggMessage> = {
  advertise: {
    ...base,
    kind: SecAggKind.AdvertiseKeys,
    sender: 'alice',
    encryptionKey: fill(32, 0x11),
    maskKey: fill(32, 0x22),
    contributes: true,
    signature: fill(64, 0x33),
  },
  'share-keys': {
    ...base,
    kind: SecAggKind.ShareKeys,
    sender: 'alice',
    selfMaskCommitment: fill(32, 3),
    shares: [
      { recipient: 'bob', recipientKey: fill(32, 0x14), nonce: fill(12, 4), ciphertext: fill(81, 5) },
      { recipient: 'carol', recipientKey: fill(32, 0x15), nonce: fill(12, 6), ciphertext: fill(81, 7) },
    ],
  },
  view: {
    ...base,
    kind: SecAggKind.View,
    sender: 'bob',
    view: { member: 'bob', keySet: fill(32, 0x0e), entries, signature: fill(64, 0x44) },
  },
  proposal: {
    ...base,
    kind: SecAggKind.Proposal,
    sender: 'bob',
    turn: 0,
    keySet: fill(32, 0x0e),
    survivors: ['alice'],
    dropped: ['dave'],
    views: [
      { member: 'bob', keySet: fill(32, 0x0e), entries, signature: fill(64, 0x44) },
      { member: 'carol', keySet: fill(32, 0x0e), entries, signature: fill(64, 0x55) },
    ],
  },
  reveal: {
    ...base,
    kind: SecAggKind.Reveal,
    sender: 'carol',
    proposal: fill(32, 8),
    selfMaskShares: [{ participant: 'alice', x: 3, y: fill(32, 9) }],
    keyShares: [{ participant: 'dave', x: 3, y: fill(32, 0x0a) }],
  },
  result: { ...base, kind: SecAggKind.Result, sender: 'carol', result, signature: fill(64, 0x66) },
  'key-set-proposal': {
    ...base,
    kind: SecAggKind.KeySetProposal,
    sender: 'bob',
    turn: 1,
    advertised: ['alice', 'bob', 'dave'],
    shared: ['alice', 'dave'],
  },
  'key-set-endorse': { ...base, kind: SecAggKind.KeySetEndorse, sender: 'carol', digest: fill(32, 0x0f), signature: fill(64, 0x77) },
  'lock-endorse': { ...base, kind: SecAggKind.LockEndorse, sender: 'erin', digest: fill(32, 0x10), signature: fill(64, 0x88) },
  complaint: {
    ...base,
    kind: SecAggKind.Complaint,
    sender: 'carol',
    accused: 'dave',
    reason: ComplaintReason.BadShare,
    signature: fill(64, 0x99),
  },
  'lock-refuse': {
    ...base,
    kind: SecAggKind.LockRefuse,
    sender: 'carol',
    digest: fill(32, 0x10),
    signature: fill(64, 0xaa),
    evidence: [
      { member: 'bob', keySet: fill(32, 0x0e), entries, signature: fill(64, 0x44) },
      { member: 'bob', keySet: fill(32, 0x0e), entries: entries.slice(0, 1), signature: fill(64, 0x45) },
    ],
  },
  'lock-refuse-bare': {
    ...base,
    kind: SecAggKind.LockRefuse,
    sender: 'dave',
    digest: fill(32, 0x10),
    signature: fill(64, 0xab),
    evidence: [],
  },
  'lock-release': {
    ...base,
    kind: SecAggKind.LockRelease,
    sender: 'erin',
    released: fill(32, 0x10),
    digest: fill(32, 0x12),
    signature: fill(64, 0xbb),
    refusals: [
      { member: 'alice', signature: fill(64, 0xc1) },
      { member: 'carol', signature: fill(64, 0xc3) },
      { member: 'dave', signature: fill(64, 0xc4) },
    ],
  },
};

describe('secure-aggregation known answers', () => {
  it('the deployment binding', () => {
    expect(toHex(binding)).toBe(V.binding);
  });

  it('every wire message encodes to the independent bytes and decodes back', () => {
    expect(Object.keys(messages).sort()).toEqual(Object.keys(V.messages).sort());
    for (const [name, m] of Object.entries(messages)) {
      expect(toHex(encodeSecAgg(m)), name).toBe(V.messages[name]);
      expect(decodeSecAgg(fromHex(V.messages[name]!)), name).toEqual(m);
    }
  });

  it('every signed statement and digest', () => {
    expect(toHex(advertStatement(scope, 'alice', fill(32, 0x11), fill(32, 0x22), true))).toBe(V.statements.advertise);
    expect(toHex(viewStatement(scope, 'bob', fill(32, 0x0e), entries))).toBe(V.statements.view);
    expect(toHex(resultStatement(scope, result))).toBe(V.statements.result);
    expect(toHex(endorseStatement(scope, CertPhase.KeySet, fill(32, 0x0f)))).toBe(V.statements['endorse-key-set']);
    expect(toHex(endorseStatement(scope, CertPhase.Lock, fill(32, 0x10)))).toBe(V.statements['endorse-lock']);
    expect(toHex(endorseStatement(scope, CertPhase.Refuse, fill(32, 0x10)))).toBe(V.statements['refuse-lock']);
    expect(toHex(complaintStatement(scope, 'carol', 'dave', ComplaintReason.BadShare))).toBe(V.statements.complaint);
    expect(toHex(keySetDigest(scope, ['alice', 'bob', 'dave'], ['alice', 'dave']))).toBe(V.digests['key-set']);
    expect(toHex(lockDigest(scope, fill(32, 0x0e), entries.slice(0, 1), ['dave']))).toBe(V.digests.lock);
    expect(toHex(survivorsHash(entries))).toBe(V.digests.survivors);
  });

  it('the masked input v3 (no bucket; entry signature)', () => {
    const sig = Uint8Array.from({ length: 65 }, (_, i) => i + 1);
    const p = {
      baseModelHash: fill(32, 1),
      dpParams: 0n,
      entrySignature: sig,
      neighbours: ['a', 'b'],
      masked: Uint32Array.from([7, 8, 9, 10]),
    };
    expect(toHex(encodeMaskedInput(p))).toBe(V.maskedInput);
    const back = decodeMaskedInput(fromHex(V.maskedInput));
    expect([...back.masked]).toEqual([7, 8, 9, 10]);
    expect([...back.entrySignature]).toEqual([...sig]);
  });
});
