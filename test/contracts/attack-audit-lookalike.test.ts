/**
 * Red team (H10, finding F11): the auditor's guide says it checks what the contract checks
 * "because its point is not to trust the contract's deployment" (docs/auditor-guide.md). Two
 * things the real contract refuses are not checked again, so a look-alike contract (same ABI and
 * events, other code: the auditor only asks that the address has code, node/audit/fetch.ts) can
 * pass the audit with them:
 *
 *  1. a line charged to a member that never signed its ParticipantEntry (M-3: "nobody else can
 *     charge it") — fetch.ts drops the calldata's entry signatures (`finalizeCallOf` keeps
 *     args[0] and args[2] only) and protocol/audit never verifies them;
 *  2. a finalize whose calldata does not decode as a direct finalizeRound call (a relay): the
 *     auditor takes the event's `signers` on its word with a warning, without checking that they
 *     are committee members or at least t (protocol/audit/audit.ts, the `SIGNATURES_UNAVAILABLE`
 *     branch), and the report stays ok.
 *
 * The stream is the real one of a real deployment, with one finalized round replaced the way a
 * look-alike contract would emit it (record, recordHash, calldata and the views consistent with
 * it). The first test shows the real stream audits clean and what the look-alike stream claims;
 * the other two assert the safe behaviour (F11 in /work/notes/redteam-findings.md, fixed: the
 * auditor verifies each line's ParticipantEntry signature from the calldata, and a finalize it
 * cannot verify is an error).
 */
import { Signature } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDeployment } from '../../node/audit/deployment.js';
import { fetchAuditStream, openAuditSource } from '../../node/audit/fetch.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { audit } from '../../protocol/audit/audit.js';
import type { AuditEvent, AuditInput, MemberView } from '../../protocol/audit/types.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import { participantEntry, signParticipantEntry } from '../../protocol/chain/participant-entry.js';
import { canonicalRoundRecord, roundRecordStructHash } from '../../protocol/chain/record.js';
import {
  DP_PARAMS,
  deployFed,
  type Fed,
  finalizeWith,
  INITIAL,
  indexOf,
  openNext,
  recordFor,
  sign,
  signerOf,
  writeAuditDeployment,
} from './federation-fixture.js';

let chain: InProcessChain;
let node: LocalChainNode;
let fed: Fed;
let input: AuditInput;
let committee: number[];
const A = (i: number) => signerOf(chain, i).address;
const SPEND = declaredSpend(DP_PARAMS);
type Finalized = Extract<AuditEvent, { kind: 'RoundFinalized' }>;

/** Errors other than the fixture's placeholder peer proofs (deployFed registers synthetic ids). */
const errorsOf = (i: AuditInput) => audit(i).findings.filter((f) => f.severity === 'error' && f.code !== 'PEER_PROOF_INVALID');

describe('the auditor against a look-alike contract (F11)', () => {
  beforeAll(async () => {
    chain = await startInProcessChain();
    node = await startLocalChainNode(0);
    fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5], cap: 10 });
    const o = await openNext(chain, fed);
    committee = o.committee;
    await finalizeWith(chain, fed, recordFor(chain, o.round, INITIAL, [1, 2, 3]), committee.slice(0, 2));
    const deployment = await readDeployment(writeAuditDeployment(fed, node.chainId));
    const source = await openAuditSource(node.url, deployment);
    try {
      const { events, views } = await fetchAuditStream(source, deployment);
      input = { deployment, events, views };
    } finally {
      source.close();
    }
  }, 120_000);

  afterAll(async () => {
    await node?.close();
  });

  /** Round 1 as a look-alike would report it: member 5 charged too, its entry signed by member 4. */
  async function chargedWithoutConsent(): Promise<AuditInput> {
    const fin = input.events.find((e) => e.kind === 'RoundFinalized') as Finalized;
    const record = canonicalRoundRecord({
      ...fin.record,
      participants: [...fin.record.participants, { member: A(5), dpParams: DP_PARAMS, spend: SPEND }],
    });
    const quorum = committee.slice(0, 2);
    const signatures = await Promise.all(quorum.map((i) => sign(signerOf(chain, i), fed.address, record)));
    // Entry signatures as finalizeRound takes them: the real members' own, member 5's made by member 4.
    const entrySignatures = await Promise.all(
      record.participants.map(async (p) => {
        const by = p.member === A(5) ? signerOf(chain, 4) : signerOf(chain, indexOf(chain, p.member));
        const sig = Signature.from(
          await signParticipantEntry(
            by,
            { chainId: node.chainId, contract: fed.address },
            participantEntry(record.round, p.member, p.dpParams),
          ),
        );
        return { r: sig.r, vs: sig.yParityAndS };
      }),
    );
    const views = input.views;
    const members = new Map<string, MemberView>(views.members);
    const five = members.get(A(5))!;
    members.set(A(5), { ...five, rdp: SPEND, credits: five.credits + 1n });
    return {
      ...input,
      events: input.events.map((e) =>
        e === fin
          ? {
              ...fin,
              record,
              recordHash: roundRecordStructHash(record),
              // What finalizeRound would carry, entry signatures included (member 5's by member 4).
              call: { kind: 'decoded', record, signatures, entrySignatures } as Finalized['call'],
            }
          : e,
      ),
      views: { ...views, members, totalCredits: views.totalCredits + 1n },
    };
  }

  it('the real stream audits clean (entry signatures included); the look-alike stream charges member 5', async () => {
    expect(errorsOf(input)).toEqual([]);
    const forged = await chargedWithoutConsent();
    const fin = forged.events.find((e) => e.kind === 'RoundFinalized') as Finalized;
    expect(fin.record.participants.map((p) => p.member)).toContain(A(5));
  });

  // F11 (1), fixed: each line's ParticipantEntry signature is verified from the calldata.
  it('a line without its member’s ParticipantEntry signature is an error naming the member', async () => {
    const errors = errorsOf(await chargedWithoutConsent());
    expect(errors.some((f) => f.evidence.member === A(5))).toBe(true);
    expect(errors.map((f) => [f.code, f.evidence.member, f.evidence.signer])).toEqual([['ENTRY_SIGNATURE_INVALID', A(5), A(4)]]);
  });

  // F11 (2), fixed: with undecodable calldata the round is unverified and the event's signers are held to t.
  it('a finalize whose signatures cannot be verified and whose event names one signer is not ok', () => {
    const fin = input.events.find((e) => e.kind === 'RoundFinalized') as Finalized;
    const relayed: AuditInput = {
      ...input,
      events: input.events.map((e) =>
        e === fin ? { ...fin, signers: [A(committee[0]!)], call: { kind: 'unavailable', reason: 'the transaction called a relay' } } : e,
      ),
    };
    const report = audit(relayed);
    expect(report.findings.map((f) => f.code)).toContain('SIGNATURES_UNAVAILABLE');
    expect(report.findings.filter((f) => f.severity === 'error' && f.code !== 'PEER_PROOF_INVALID').length).toBeGreaterThan(0);
  });
});
