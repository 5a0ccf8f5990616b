/**
 * The auditor's checks (protocol/audit) on constructed event streams: a clean federation of
 * three rounds audits ok, and each tamper case of issue #7 — a forged or non-committee
 * signature, a broken hash chain, declared DP parameters that do not reproduce the spend, a
 * credits balance that disagrees with the rule, a model artifact with one flipped byte — and
 * the other faults the auditor knows are each flagged with their own finding code.
 *
 * Where the contract itself refuses the tampered transaction, its refusal is tested in
 * test/contracts/federation.test.ts ("a member outside the committee and an outsider are
 * refused by address", "keeps an unbroken hash chain", "a spend that would pass the cap
 * reverts"); test/integration/audit-chain.test.ts shows it again next to the auditor.
 */
import { getAddress, Signature, Wallet } from 'ethers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { audit } from '../../protocol/audit/audit.js';
import type { AuditEvent, AuditInput, AuditRecord, EventPosition, FindingCode, MemberView } from '../../protocol/audit/types.js';
import { hash256, toHex0x } from '../../protocol/bytes.js';
import { addPacked, cAlpha, encodeEpsilonCap, epsilonFromPacked, fixedToNumber } from '../../protocol/chain/budget.js';
import { roundSeed, selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { declaredSpend, encodeDpParams } from '../../protocol/chain/dp-params.js';
import { signParticipantEntry } from '../../protocol/chain/participant-entry.js';
import {
  canonicalRoundRecord,
  federationDomain,
  type Hex32,
  ROUND_RECORD_TYPES,
  roundRecordStructHash,
  toTypedValue,
} from '../../protocol/chain/record.js';

const CHAIN_ID = 31337n;
const ADDRESS = getAddress('0x5fbdb2315678afecb367f032d93f642f64180aa3');
const DOMAIN = federationDomain(CHAIN_ID, ADDRESS);
const C = cAlpha(1e-5);
const CAP = encodeEpsilonCap(10);
const DP = encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 1.2, clipNorm: 1, steps: 40 });
const SPEND = declaredSpend(DP);
// Deterministic keys: members 1..5 and an outsider.
const wallets = Array.from({ length: 6 }, (_, i) => new Wallet(toHex0x(hash256(new Uint8Array([0xa0, i])))));
const members = wallets.slice(0, 5);
const outsider = wallets[5]!;
const addr = (w: Wallet) => getAddress(w.address);
const h = (n: number): Hex32 => `0x${n.toString(16).padStart(2, '0').repeat(32)}`;
const INITIAL = h(0xc0);
const ZERO = `0x${'0'.repeat(64)}` as Hex32;

/** Each line's ParticipantEntry signature by its own member, compact as finalizeRound takes it. */
function entrySignaturesOf(record: AuditRecord): Promise<{ r: string; vs: string }[]> {
  return Promise.all(
    record.participants.map(async (p) => {
      const w = wallets.find((x) => addr(x) === getAddress(p.member))!;
      const sig = Signature.from(await signParticipantEntry(w, { chainId: CHAIN_ID, contract: ADDRESS }, { round: record.round, ...p }));
      return { r: sig.r, vs: sig.yParityAndS };
    }),
  );
}

interface Built {
  input: AuditInput;
  /** The model bytes of each round (index = round; 0 = initial). */
  models: Uint8Array[];
}

/**
 * A clean stream: 5 members added, 3 rounds opened and finalized by t = 2 committee signatures,
 * each participant with declared parameters that give its spend; views as the contract would hold them.
 */
async function buildClean(): Promise<Built> {
  let block = 10;
  let log = 0;
  const at = (): EventPosition => ({ block: block, logIndex: log++, txHash: toHex0x(hash256(new Uint8Array([block, log]))) });
  const events: AuditEvent[] = [];
  for (const w of members) {
    events.push({ kind: 'MemberAdded', at: at(), account: addr(w), peerId: `peer-${addr(w)}`, epsilonCap: CAP });
    block++;
  }
  const active = members.map(addr);
  const models = [new Uint8Array([0])];
  const modelHashes: Hex32[] = [];
  // Initial model: its hash is the deployment's; the artifact is a stand-in byte string.
  let prev = toHex0x(hash256(models[0]!)) as Hex32;
  const initial = prev;
  let prevRecordHash = ZERO;
  const credits = new Map<string, bigint>(active.map((a) => [a, 0n]));
  const rdp = new Map<string, bigint>(active.map((a) => [a, 0n]));
  for (let round = 1; round <= 3; round++) {
    const prevrandao = BigInt(1000 + round);
    const seed = roundSeed(prevrandao, prevRecordHash, round);
    const committee = selectCommitteeOnChain(seed, active, 3);
    events.push({ kind: 'RoundOpened', at: at(), round, seed, committee, inputDeadline: 0, finalizeDeadline: 0, prevrandao });
    block++;
    const model = new Uint8Array([round, 1, 2, 3]);
    models.push(model);
    const modelHash = toHex0x(hash256(model)) as Hex32;
    modelHashes.push(modelHash);
    const record = canonicalRoundRecord({
      round,
      prevModelHash: prev,
      modelHash,
      aggregateHash: h(0xa0 + round),
      serviceMask: 7n,
      participants: active.slice(0, 4).map((member) => ({ member, dpParams: DP, spend: SPEND })),
    });
    const signers = committee.slice(0, 2);
    const signatures = await Promise.all(
      signers.map((s) => members.find((w) => addr(w) === s)!.signTypedData(DOMAIN, ROUND_RECORD_TYPES, toTypedValue(record))),
    );
    const recordHash = roundRecordStructHash(record);
    events.push({
      kind: 'RoundFinalized',
      at: at(),
      round,
      recordHash,
      record,
      signers,
      credited: committee,
      call: { kind: 'decoded', record, entrySignatures: await entrySignaturesOf(record), signatures },
    });
    block++;
    for (const p of record.participants) {
      credits.set(p.member, credits.get(p.member)! + 1n);
      rdp.set(p.member, addPacked(rdp.get(p.member)!, p.spend));
    }
    for (const s of committee) credits.set(s, credits.get(s)! + 4n);
    prev = modelHash;
    prevRecordHash = recordHash;
  }
  const memberViews = new Map<string, MemberView>(
    active.map((a) => [
      a,
      { status: 1, epsilonCap: CAP, credits: credits.get(a)!, rdp: rdp.get(a)!, epsilonSpent: epsilonFromPacked(rdp.get(a)!, C) },
    ]),
  );
  const input: AuditInput = {
    deployment: { chainId: CHAIN_ID, address: ADDRESS, deployBlock: 1, initialModelHash: initial, m: 3, t: 2, delta: 1e-5, cAlpha: C },
    events,
    views: {
      block,
      initialModelHash: initial,
      headModelHash: prev,
      committeeSize: 3,
      threshold: 2,
      cAlpha: C,
      delta: 10n ** 13n,
      totalCredits: [...credits.values()].reduce((a, b) => a + b, 0n),
      members: memberViews,
    },
  };
  return { input, models };
}

const codes = (input: AuditInput): FindingCode[] => [...new Set(audit(input).findings.map((f) => f.code))].sort();

/** `input` with round `round`'s RoundFinalized replaced by `f(event)`. */
function withFinalized(
  input: AuditInput,
  round: number,
  f: (e: Extract<AuditEvent, { kind: 'RoundFinalized' }>) => Extract<AuditEvent, { kind: 'RoundFinalized' }>,
): AuditInput {
  return { ...input, events: input.events.map((e) => (e.kind === 'RoundFinalized' && e.round === round ? f(e) : e)) };
}

/** A record re-hashed and re-signed by `signers` (as a colluding committee would), with the event's signers matching. */
async function resigned(
  e: Extract<AuditEvent, { kind: 'RoundFinalized' }>,
  record: AuditRecord,
  signers: readonly Wallet[],
): Promise<Extract<AuditEvent, { kind: 'RoundFinalized' }>> {
  const signatures = await Promise.all(signers.map((w) => w.signTypedData(DOMAIN, ROUND_RECORD_TYPES, toTypedValue(record))));
  return {
    ...e,
    record,
    recordHash: roundRecordStructHash(record),
    signers: signers.map(addr),
    call: { kind: 'decoded', record, entrySignatures: await entrySignaturesOf(record), signatures },
  };
}

const openedOf = (input: AuditInput, round: number) =>
  input.events.find((e) => e.kind === 'RoundOpened' && e.round === round) as Extract<AuditEvent, { kind: 'RoundOpened' }>;
/** The malleable twin of a signature (s → n − s, v flipped): same signer, refused by EIP-2. */
function highS(sig: string): string {
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const s = BigInt(`0x${sig.slice(66, 130)}`);
  const v = Number.parseInt(sig.slice(130, 132), 16);
  return `${sig.slice(0, 66)}${(n - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}`;
}
const walletOf = (a: string) => members.find((w) => addr(w) === getAddress(a))!;

describe('protocol/audit on constructed event streams', () => {
  it('a clean stream audits ok: no findings, rounds finalized, budgets and credits equal the views', async () => {
    const { input, models } = await buildClean();
    const artifacts = new Map(models.map((m) => [toHex0x(hash256(m)), { source: 'mem', bytes: m }]));
    const r = audit({ ...input, artifacts });
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.rounds.map((s) => [s.round, s.status, s.signers.length, s.signaturesVerified, s.artifact])).toEqual([
      [1, 'finalized', 2, true, 'verified'],
      [2, 'finalized', 2, true, 'verified'],
      [3, 'finalized', 2, true, 'verified'],
    ]);
    for (const b of r.budgets) expect(b.epsilonSpent).toBe(b.chainEpsilonSpent);
    for (const c of r.credits) expect(c.expected).toBe(c.onChain);
    expect(r.members).toHaveLength(5);
  });

  it('a non-committee signature injected into the calldata: SIGNER_NOT_IN_COMMITTEE (and the quorum falls short)', async () => {
    const { input } = await buildClean();
    const e2 = input.events.find((e) => e.kind === 'RoundFinalized' && e.round === 2) as Extract<AuditEvent, { kind: 'RoundFinalized' }>;
    if (e2.call.kind !== 'decoded') throw new Error('fixture');
    const forged = await outsider.signTypedData(DOMAIN, ROUND_RECORD_TYPES, toTypedValue(e2.record));
    const input2 = withFinalized(input, 2, (e) => ({
      ...e,
      call: { ...e2.call, record: e2.record, signatures: [(e2.call as { signatures: readonly string[] }).signatures[0]!, forged] },
    }));
    const r = audit(input2);
    expect(r.ok).toBe(false);
    const round2 = r.findings.filter((f) => f.round === 2).map((f) => f.code);
    expect(round2).toContain('SIGNER_NOT_IN_COMMITTEE');
    expect(round2).toContain('SIGNATURES_BELOW_THRESHOLD');
    // The event still claims two committee signers: the auditor does not take its word.
    expect(round2).toContain('SIGNERS_EVENT_MISMATCH');
    const f = r.findings.find((x) => x.code === 'SIGNER_NOT_IN_COMMITTEE')!;
    expect(f.evidence.signer).toBe(addr(outsider));
    // Other rounds are unaffected.
    expect(r.findings.filter((x) => x.round === 1 || x.round === 3)).toEqual([]);
  });

  it('a signature over another domain (a forged record digest) recovers a stranger; malformed and duplicate signatures are named', async () => {
    const { input } = await buildClean();
    const e1 = input.events.find((e) => e.kind === 'RoundFinalized' && e.round === 1) as Extract<AuditEvent, { kind: 'RoundFinalized' }>;
    if (e1.call.kind !== 'decoded') throw new Error('fixture');
    const [a, b] = e1.call.signatures as [string, string];
    const otherChain = await walletOf(e1.signers[1]!).signTypedData(
      federationDomain(1n, ADDRESS),
      ROUND_RECORD_TYPES,
      toTypedValue(e1.record),
    );
    const cases: [string[], FindingCode][] = [
      [[a, otherChain], 'SIGNER_NOT_IN_COMMITTEE'],
      [[a, `${b.slice(0, 130)}1d`], 'SIGNATURE_INVALID'],
      [[a, b.slice(0, 100)], 'SIGNATURE_INVALID'],
      [[a, a, b], 'SIGNER_DUPLICATE'],
      [[a, highS(b)], 'SIGNATURE_INVALID'],
    ];
    for (const [signatures, code] of cases) {
      const r = audit(withFinalized(input, 1, (e) => ({ ...e, call: { ...e1.call, record: e.record, signatures } })));
      expect(r.findings.map((f) => f.code)).toContain(code);
    }
    // A duplicate on top of t valid signatures is flagged but the quorum holds.
    const dup = audit(withFinalized(input, 1, (e) => ({ ...e, call: { ...e1.call, record: e.record, signatures: [a, a, b] } })));
    expect(dup.findings.map((f) => f.code)).not.toContain('SIGNATURES_BELOW_THRESHOLD');
  });

  it('property: the verified signers are the distinct committee members among the signatures, and the quorum holds iff there are at least t', async () => {
    const { input } = await buildClean();
    const e1 = input.events.find((e) => e.kind === 'RoundFinalized' && e.round === 1) as Extract<AuditEvent, { kind: 'RoundFinalized' }>;
    const committee = openedOf(input, 1).committee.map((a) => getAddress(a));
    // One signature of round 1's record by every member and the outsider, signed once.
    const pool = await Promise.all(
      wallets.map(async (w) => ({ who: addr(w), sig: await w.signTypedData(DOMAIN, ROUND_RECORD_TYPES, toTypedValue(e1.record)) })),
    );
    await fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { maxLength: 6 }), (picks) => {
        const chosen = picks.map((i) => pool[i]!);
        const expected: string[] = [];
        for (const c of chosen) if (committee.includes(c.who) && !expected.includes(c.who)) expected.push(c.who);
        const r = audit(
          withFinalized(input, 1, (e) => ({
            ...e,
            signers: expected,
            call: { ...(e.call as Extract<typeof e.call, { kind: 'decoded' }>), record: e.record, signatures: chosen.map((c) => c.sig) },
          })),
        );
        const round1 = r.findings.filter((f) => f.round === 1).map((f) => f.code);
        expect(r.rounds[0]!.signers).toEqual(expected);
        expect(round1.includes('SIGNATURES_BELOW_THRESHOLD')).toBe(expected.length < 2);
        expect(round1.includes('SIGNER_NOT_IN_COMMITTEE')).toBe(chosen.some((c) => !committee.includes(c.who)));
        expect(round1.includes('SIGNER_DUPLICATE')).toBe(chosen.filter((c) => committee.includes(c.who)).length > expected.length);
      }),
      { numRuns: 60, seed: 7 },
    );
  });

  it('calldata that differs from the event record: CALLDATA_RECORD_MISMATCH; an event recordHash that is not the record’s: RECORD_HASH_MISMATCH', async () => {
    const { input } = await buildClean();
    const r = audit(
      withFinalized(input, 1, (e) => ({
        ...e,
        call: { ...(e.call as Extract<typeof e.call, { kind: 'decoded' }>), record: { ...e.record, aggregateHash: h(0xee) } },
      })),
    );
    expect(r.findings.map((f) => f.code)).toContain('CALLDATA_RECORD_MISMATCH');
    expect(codes(withFinalized(input, 1, (e) => ({ ...e, recordHash: h(0xee) })))).toContain('RECORD_HASH_MISMATCH');
  });

  it('a broken hash chain, even signed by the committee: HASH_CHAIN_BROKEN for that round', async () => {
    const { input } = await buildClean();
    const e3 = input.events.find((e) => e.kind === 'RoundFinalized' && e.round === 3) as Extract<AuditEvent, { kind: 'RoundFinalized' }>;
    const committee3 = openedOf(input, 3).committee;
    const broken = await resigned(e3, { ...e3.record, prevModelHash: INITIAL }, committee3.slice(0, 2).map(walletOf));
    const r = audit(withFinalized(input, 3, () => broken));
    expect(r.findings.map((f) => [f.round, f.code])).toEqual([[3, 'HASH_CHAIN_BROKEN']]);
    expect(r.findings[0]!.evidence).toMatchObject({ prevModelHash: INITIAL });
  });

  it('declared DP parameters that do not reproduce the recorded spend: PRIVACY_SPEND_MISMATCH naming the member', async () => {
    const { input } = await buildClean();
    const e2 = input.events.find((e) => e.kind === 'RoundFinalized' && e.round === 2) as Extract<AuditEvent, { kind: 'RoundFinalized' }>;
    const committee2 = openedOf(input, 2).committee;
    // The member declares 40 steps but is charged for 4: its privacy loss is under-recorded.
    const lie = encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 1.2, clipNorm: 1, steps: 4 });
    const victim = e2.record.participants[1]!.member;
    const record = {
      ...e2.record,
      participants: e2.record.participants.map((p) => (p.member === victim ? { ...p, spend: declaredSpend(lie), dpParams: DP } : p)),
    };
    const forged = await resigned(e2, record, committee2.slice(0, 2).map(walletOf));
    const r = audit(withFinalized(input, 2, () => forged));
    const f = r.findings.filter((x) => x.code === 'PRIVACY_SPEND_MISMATCH');
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      round: 2,
      severity: 'error',
      evidence: { member: victim, recordedSpend: declaredSpend(lie).toString(), recomputedSpend: SPEND.toString() },
    });
    // Undecodable parameters are their own finding.
    const bad = await resigned(
      e2,
      { ...e2.record, participants: e2.record.participants.map((p) => (p.member === victim ? { ...p, dpParams: 1n << 200n } : p)) },
      committee2.slice(0, 2).map(walletOf),
    );
    expect(codes(withFinalized(input, 2, () => bad))).toContain('PRIVACY_PARAMS_INVALID');
  });

  it('a credits balance that disagrees with the rule: CREDITS_MISMATCH (and the total: CREDITS_TOTAL_MISMATCH)', async () => {
    const { input } = await buildClean();
    const a = addr(members[0]!);
    const views = new Map(input.views.members);
    views.set(a, { ...views.get(a)!, credits: views.get(a)!.credits + 1n });
    const r = audit({ ...input, views: { ...input.views, members: views } });
    expect(r.findings.map((f) => f.code)).toEqual(['CREDITS_MISMATCH']);
    expect(r.findings[0]!.evidence).toMatchObject({ member: a });
    expect(codes({ ...input, views: { ...input.views, totalCredits: input.views.totalCredits + 5n } })).toEqual(['CREDITS_TOTAL_MISMATCH']);
  });

  it('a model artifact with one flipped byte: ARTIFACT_HASH_MISMATCH for its round; a missing one is a warning', async () => {
    const { input, models } = await buildClean();
    const artifacts = new Map(models.map((m) => [toHex0x(hash256(m)), { source: `mem:${m[0]}`, bytes: m }]));
    const key = toHex0x(hash256(models[2]!));
    const flipped = models[2]!.slice();
    flipped[1]! ^= 0x01;
    artifacts.set(key, { source: 'mem:flipped', bytes: flipped });
    const r = audit({ ...input, artifacts });
    expect(r.findings.map((f) => [f.round, f.code, f.severity])).toEqual([[2, 'ARTIFACT_HASH_MISMATCH', 'error']]);
    expect(r.rounds[1]!.artifact).toBe('mismatch');
    artifacts.delete(key);
    const missing = audit({ ...input, artifacts });
    expect(missing.ok).toBe(true);
    expect(missing.findings.map((f) => [f.round, f.code, f.severity])).toEqual([[2, 'ARTIFACT_MISSING', 'warning']]);
  });

  it('a committee that is not the one drawn from the seed and the replayed members: COMMITTEE_MISMATCH; a seed not from prevrandao: COMMITTEE_SEED_MISMATCH', async () => {
    const { input } = await buildClean();
    const swap = (f: (e: Extract<AuditEvent, { kind: 'RoundOpened' }>) => AuditEvent): AuditInput => ({
      ...input,
      events: input.events.map((e) => (e.kind === 'RoundOpened' && e.round === 1 ? f(e) : e)),
    });
    const reversed = swap((e) => ({ ...e, committee: [...e.committee].reverse() }));
    expect(codes(reversed)).toContain('COMMITTEE_MISMATCH');
    expect(codes(swap((e) => ({ ...e, prevrandao: e.prevrandao! + 1n })))).toEqual(['COMMITTEE_SEED_MISMATCH']);
  });

  it('membership is replayed in registry order: a participant suspended mid-round is still charged, a never-added one is PARTICIPANT_NOT_ACTIVE; a cap lowered for the round below the spend is PRIVACY_CAP_EXCEEDED, one lowered mid-round applies from the next', async () => {
    const { input } = await buildClean();
    const finalize3 = input.events.findIndex((e) => e.kind === 'RoundFinalized' && e.round === 3);
    const fin = input.events[finalize3] as Extract<AuditEvent, { kind: 'RoundFinalized' }>;
    const p = fin.record.participants[0]!.member;
    const at = input.events[finalize3]!.at;
    const suspend: AuditEvent = { kind: 'MemberSuspended', at, account: p };
    const suspended = audit({ ...input, events: [...input.events.slice(0, finalize3), suspend, ...input.events.slice(finalize3)] });
    expect(suspended.findings.filter((f) => f.code === 'PARTICIPANT_NOT_ACTIVE')).toEqual([]);
    const stranger = addr(new Wallet(h(0x99)));
    const withStranger = withFinalized(input, 3, (e) => ({
      ...e,
      record: { ...e.record, participants: [...e.record.participants, { member: stranger, dpParams: 0n, spend: 0n }] },
    }));
    expect(
      audit(withStranger)
        .findings.filter((f) => f.code === 'PARTICIPANT_NOT_ACTIVE')
        .map((f) => [f.round, f.evidence.member]),
    ).toEqual([[3, stranger]]);
    // Lowered while round 3 was open: applies from round 4, so round 3 is within its cap.
    const midRound: AuditEvent = { kind: 'EpsilonCapLowered', at, account: p, previousCap: CAP, newCap: 1n, fromRound: 4 };
    const late = audit({ ...input, events: [...input.events.slice(0, finalize3), midRound, ...input.events.slice(finalize3)] });
    expect(late.findings.filter((f) => f.code === 'PRIVACY_CAP_EXCEEDED')).toEqual([]);
    const lower: AuditEvent = { kind: 'EpsilonCapLowered', at, account: p, previousCap: CAP, newCap: 1n, fromRound: 3 };
    const capped = audit({ ...input, events: [...input.events.slice(0, finalize3), lower, ...input.events.slice(finalize3)] });
    expect(capped.findings.filter((f) => f.code === 'PRIVACY_CAP_EXCEEDED').map((f) => [f.round, f.evidence.member])).toEqual([[3, p]]);
  });

  it('rounds out of sequence, a replayed RDP that differs from rdpOf, a head that is not the contract’s, and a deployment file that disagrees are each flagged', async () => {
    const { input } = await buildClean();
    const noOpen2 = { ...input, events: input.events.filter((e) => !(e.kind === 'RoundOpened' && e.round === 2)) };
    expect(codes(noOpen2)).toContain('ROUND_SEQUENCE');
    const a = addr(members[1]!);
    const views = new Map(input.views.members);
    views.set(a, { ...views.get(a)!, rdp: 0n });
    expect(codes({ ...input, views: { ...input.views, members: views } })).toEqual(['PRIVACY_LEDGER_MISMATCH']);
    expect(codes({ ...input, views: { ...input.views, headModelHash: h(0x77) } })).toEqual(['HEAD_MISMATCH']);
    expect(codes({ ...input, deployment: { ...input.deployment, t: 1 } })).toEqual(['DEPLOYMENT_MISMATCH']);
    const manifest = audit({
      ...input,
      deployment: { ...input.deployment, manifestHash: h(0x5e) },
      views: { ...input.views, manifestHash: h(0x5f) },
    });
    expect(manifest.findings.map((f) => [f.code, Object.keys(f.evidence)])).toEqual([['DEPLOYMENT_MISMATCH', ['manifestHash']]]);
    expect(codes({ ...input, deployment: { ...input.deployment, initialModelHash: h(0x01) } })).toEqual(['INITIAL_MODEL_MISMATCH']);
  });

  it('undecodable finalize calldata is an error (the round is unverified); the event signers are still held to the committee and t', async () => {
    const { input } = await buildClean();
    const relayed = (signers?: string[]) =>
      audit(
        withFinalized(input, 2, (e) => ({
          ...e,
          ...(signers !== undefined ? { signers } : {}),
          call: { kind: 'unavailable', reason: 'relay' },
        })),
      );
    const r = relayed();
    expect(r.ok).toBe(false);
    expect(r.findings.map((f) => [f.round, f.code, f.severity])).toEqual([[2, 'SIGNATURES_UNAVAILABLE', 'error']]);
    expect(r.rounds[1]!.signaturesVerified).toBe(false);
    // The event signers are used for credits and checked: one signer, an outsider, a duplicate.
    const committee2 = openedOf(input, 2).committee.map((a) => getAddress(a));
    const round2 = (x: ReturnType<typeof audit>) => x.findings.filter((f) => f.round === 2).map((f) => f.code);
    expect(round2(relayed([committee2[0]!]))).toEqual(['SIGNATURES_BELOW_THRESHOLD', 'SIGNATURES_UNAVAILABLE']);
    const withOutsider = relayed([committee2[0]!, addr(outsider)]);
    expect(round2(withOutsider)).toEqual([
      'SIGNATURES_BELOW_THRESHOLD',
      'SIGNATURES_UNAVAILABLE',
      'SIGNER_NOT_IN_COMMITTEE',
      'SIGNER_NOT_ACTIVE',
    ]);
    expect(withOutsider.findings.find((f) => f.code === 'SIGNER_NOT_IN_COMMITTEE')!.evidence).toMatchObject({
      signer: addr(outsider),
      source: 'event',
    });
    expect(round2(relayed([committee2[0]!, committee2[0]!]))).toEqual([
      'SIGNATURES_BELOW_THRESHOLD',
      'SIGNATURES_UNAVAILABLE',
      'SIGNER_DUPLICATE',
    ]);
  });

  it('a record line without its member’s ParticipantEntry signature: ENTRY_SIGNATURE_INVALID naming the member and the line', async () => {
    const { input } = await buildClean();
    const e1 = input.events.find((e) => e.kind === 'RoundFinalized' && e.round === 1) as Extract<AuditEvent, { kind: 'RoundFinalized' }>;
    if (e1.call.kind !== 'decoded') throw new Error('fixture');
    const call = e1.call;
    const lines = e1.record.participants;
    const binding = { chainId: CHAIN_ID, contract: ADDRESS };
    const compact = (sig: string) => {
      const x = Signature.from(sig);
      return { r: x.r, vs: x.yParityAndS };
    };
    const entryFindings = (entrySignatures: readonly { r: string; vs: string }[]) =>
      audit(withFinalized(input, 1, (e) => ({ ...e, call: { ...call, entrySignatures } }))).findings.filter(
        (f) => f.code === 'ENTRY_SIGNATURE_INVALID',
      );
    // Line 1 signed by line 0's member.
    const byOther = compact(await signParticipantEntry(walletOf(lines[0]!.member), binding, { round: 1, ...lines[1]! }));
    const other = entryFindings(call.entrySignatures.map((s, i) => (i === 1 ? byOther : s)));
    expect(other).toHaveLength(1);
    expect(other[0]).toMatchObject({
      round: 1,
      severity: 'error',
      evidence: { member: lines[1]!.member, index: 1, signer: lines[0]!.member },
    });
    // The member's own signature, but for another round, another deployment or another spend.
    for (const [entry, b] of [
      [{ round: 2, ...lines[1]! }, binding],
      [
        { round: 1, ...lines[1]! },
        { chainId: 1n, contract: ADDRESS },
      ],
      [{ round: 1, ...lines[1]!, spend: lines[1]!.spend + 1n }, binding],
    ] as const) {
      const sig = compact(await signParticipantEntry(walletOf(lines[1]!.member), b, entry));
      expect(entryFindings(call.entrySignatures.map((s, i) => (i === 1 ? sig : s))).map((f) => f.evidence.index)).toEqual([1]);
    }
    // Missing (one short), one too many, malformed. (A high-s twin has no compact form: s' = n − s ≥ 2^255 but for
    // a negligible range, so EIP-2098 itself rules it out; recoverSigner refuses the rest.)
    expect(entryFindings(call.entrySignatures.slice(0, -1)).map((f) => [f.evidence.member, f.evidence.reason])).toEqual([
      [lines.at(-1)!.member, 'missing'],
    ]);
    expect(entryFindings([...call.entrySignatures, call.entrySignatures[0]!]).map((f) => [f.evidence.member, f.evidence.index])).toEqual([
      [null, lines.length],
    ]);
    expect(entryFindings(call.entrySignatures.map((s, i) => (i === 0 ? { r: s.r, vs: '0x12' } : s))).map((f) => f.evidence.index)).toEqual([
      0,
    ]);
  });

  it('c_α that are not the constants of the contract’s δ: C_ALPHA_MISMATCH per lane, and ε replayed with the right constants', async () => {
    const { input } = await buildClean();
    // Constants for δ = 1e-3 on a contract that stores δ = 1e-5 (the deployment file agreeing with the contract).
    const loose = cAlpha(1e-3);
    const r = audit({ ...input, deployment: { ...input.deployment, cAlpha: loose }, views: { ...input.views, cAlpha: loose } });
    const mism = r.findings.filter((f) => f.code === 'C_ALPHA_MISMATCH');
    expect(mism.map((f) => [f.evidence.lane, f.evidence.expected, f.evidence.actual])).toEqual(
      C.map((c, lane) => [lane, c.toString(), loose[lane]!.toString()]),
    );
    expect(mism[0]).toMatchObject({ round: null, severity: 'error', evidence: { order: 1.25, delta: 1e-5 } });
    expect(r.ok).toBe(false);
    // The report's ε is at the contract's δ, not the contract's own (smaller) number.
    for (const b of r.budgets) expect(b.epsilonSpent).toBe(fixedToNumber(epsilonFromPacked(BigInt(b.rdp), C)));
    expect(r.budgets.some((b) => b.epsilonSpent > fixedToNumber(epsilonFromPacked(BigInt(b.rdp), loose)))).toBe(true);
    // A file whose δ is not the contract's: DEPLOYMENT_MISMATCH naming delta (the contract's c_α are its δ's).
    const d = audit({ ...input, deployment: { ...input.deployment, delta: 1e-6 } });
    expect(d.findings.map((f) => [f.code, Object.keys(f.evidence)])).toEqual([['DEPLOYMENT_MISMATCH', ['delta']]]);
    // A δ the contract stores rounded (1/3000 is not a multiple of 1e-18) with its own constants: clean.
    const third = 1 / 3000;
    expect(
      audit({
        ...input,
        deployment: { ...input.deployment, delta: third, cAlpha: cAlpha(third) },
        views: { ...input.views, delta: BigInt(Math.round(third * 1e18)), cAlpha: cAlpha(third) },
      }).findings.filter((f) => f.round === null),
    ).toEqual([]);
  });

  it('--from-round/--to-round scope the report; state is still replayed from the start', async () => {
    const { input } = await buildClean();
    const e3 = input.events.find((e) => e.kind === 'RoundFinalized' && e.round === 3) as Extract<AuditEvent, { kind: 'RoundFinalized' }>;
    const committee3 = openedOf(input, 3).committee;
    const broken = await resigned(e3, { ...e3.record, prevModelHash: INITIAL }, committee3.slice(0, 2).map(walletOf));
    const tampered = withFinalized(input, 3, () => broken);
    const early = audit({ ...tampered, fromRound: 1, toRound: 2 });
    expect(early.rounds.map((s) => s.round)).toEqual([1, 2]);
    expect(early.ok).toBe(true);
    const late = audit({ ...tampered, fromRound: 3 });
    expect(late.rounds.map((s) => s.round)).toEqual([3]);
    expect(late.findings.map((f) => f.code)).toEqual(['HASH_CHAIN_BROKEN']);
  });
});
