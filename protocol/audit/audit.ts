/**
 * The audit: one pass over a FedmeshFederation's event stream, answering the five questions of
 * issue #7 (docs/auditor-guide.md) without trusting any member:
 *
 *   1. committee  — ./committee.ts: recomputed from the seed and the replayed active list;
 *   2. signatures — ./signatures.ts: verified from the finalize calldata, ≥ t distinct members,
 *                   and each charged member's own ParticipantEntry signature; a finalize whose
 *                   calldata cannot be decoded is an error (unverified), its event signers held
 *                   to the committee and t;
 *   3. hash chain — here: each record's prevModelHash is the previous finalized modelHash, and
 *                   round 1's is the deployed initial model hash;
 *   4. privacy    — ./privacy.ts: declared parameters reproduce each spend; cumulative ε ≤ cap;
 *                   a round charged before its reveals (`RoundCharged`, red team F18) spends at its
 *                   charge — finalized or not — and its record must name exactly the charged
 *                   participants (CHARGE_MISMATCH); an uncharged round spends at its finalize;
 *   5. credits    — protocol/chain/credits.ts `replayCredits` over the records equals `creditsOf`;
 *
 * plus the deployment's constants (c_α = `cAlpha(δ)` for the contract's δ: ./privacy-constants.ts),
 * membership at each event (./membership.ts) and, when given, model artifacts (./artifacts.ts). Pure: the input is already fetched (./types.ts), the output is a report.
 */
import { memberName } from './member-name.js';
import { getAddress } from 'ethers';
import { addPacked, EPSILON_UNBOUNDED, epsilonFromPacked, fixedToNumber } from '../chain/budget.js';
import { replayCredits } from '../chain/credits.js';
import { deploymentBinding } from '../chain/deployment-binding.js';
import { participantsHash } from '../chain/charge.js';
import { federationDomain, type Hex32, roundRecordStructHash } from '../chain/record.js';
import { peerBindingRefusal } from '../chain/peer-binding.js';
import { checkArtifact } from './artifacts.js';
import { checkRuntimeCode } from './code.js';
import { checkCommittee } from './committee.js';
import { checkConstructorRules } from './constructor-rules.js';
import { finding, inRound, type LocalFinding, sortFindings } from './findings.js';
import { MembershipReplay } from './membership.js';
import { checkDeclaredSpend, epsilonOfSpend, studySpendOf, studySpendRows } from './privacy.js';
import { checkCAlpha, deltaForConstants, deltaOfUnits, deltaUnits } from './privacy-constants.js';
import { checkChargeSignatures, checkEntrySignatures, checkEventSigners, checkFinalizeSignatures } from './signatures.js';
import { checkServerStep } from './server-step.js';
import type { AuditInput, AuditReport, BudgetRow, CreditRow, Finding, FindingCode, RoundSummary } from './types.js';

const ZERO_HASH = `0x${'0'.repeat(64)}` as Hex32;

interface RoundState {
  round: number;
  status: 'open' | 'finalized' | 'aborted';
  openedBlock: number;
  closedBlock?: number;
  committee: string[];
  signers: string[];
  signaturesVerified: boolean;
  prevModelHash?: Hex32;
  modelHash?: Hex32;
  recordHash?: Hex32;
  participants: string[];
  dropped: string[];
  artifact?: RoundSummary['artifact'];
  /** The charge before the reveals (F18): its block and participants hash. */
  chargedBlock?: number;
  chargedHash?: Hex32;
}

const sameHash = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

export function audit(input: AuditInput): AuditReport {
  const { deployment: dep, views } = input;
  const findings: Finding[] = [];
  const add = (round: number | null, f: LocalFinding | undefined): void => {
    if (f !== undefined) findings.push(inRound(round, f));
  };
  const domain = federationDomain(dep.chainId, dep.address);
  const binding = deploymentBinding(dep.chainId, dep.address);

  // The deployment file against the contract itself.
  if (!sameHash(dep.initialModelHash, views.initialModelHash)) {
    add(
      null,
      finding('INITIAL_MODEL_MISMATCH', 'error', 'the deployment file and the contract disagree on the initial model hash', {
        deploymentFile: dep.initialModelHash,
        contract: views.initialModelHash,
      }),
    );
  }
  const mismatched: Record<string, { file: unknown; contract: unknown; contractUnits?: bigint }> = {};
  if (dep.m !== views.committeeSize) mismatched.committeeSize = { file: dep.m, contract: views.committeeSize };
  if (dep.t !== views.threshold) mismatched.threshold = { file: dep.t, contract: views.threshold };
  if (dep.cAlpha.length !== views.cAlpha.length || dep.cAlpha.some((c, i) => c !== views.cAlpha[i])) {
    mismatched.cAlpha = { file: dep.cAlpha, contract: views.cAlpha };
  }
  if (deltaUnits(dep.delta) !== views.delta)
    mismatched.delta = { file: dep.delta, contract: deltaOfUnits(views.delta), contractUnits: views.delta };
  if (dep.manifestHash !== undefined && views.manifestHash !== undefined && !sameHash(dep.manifestHash, views.manifestHash)) {
    mismatched.manifestHash = { file: dep.manifestHash, contract: views.manifestHash };
  }
  if (Object.keys(mismatched).length > 0) {
    add(
      null,
      finding(
        'DEPLOYMENT_MISMATCH',
        'error',
        `the deployment file and the contract disagree on ${Object.keys(mismatched).join(', ')}`,
        mismatched,
      ),
    );
  }
  // The contract's c_α must be the constants of its δ (red team F10): the constructor checks
  // them only against the δ → 1 floor, and the file's c_α come from the same deployer, so
  // comparing the two proves nothing. The δ is the contract's (the file's number when it is
  // the one stored: that is what the deployer passed to `cAlpha`).
  const delta = deltaForConstants(dep.delta, views.delta);
  const constants = checkCAlpha(delta, views.cAlpha);
  for (const x of constants.mismatches) {
    const direction =
      x.expected === undefined || x.actual === undefined
        ? ''
        : x.actual < x.expected
          ? ': every ε it reports is too small'
          : ': ε is overstated';
    add(
      null,
      finding(
        'C_ALPHA_MISMATCH',
        'error',
        `the contract's c_α for order ${x.order} is ${x.actual ?? 'missing'}, the constant of its δ = ${delta} is ${x.expected ?? 'undefined'}${direction}`,
        { lane: x.lane, order: x.order, expected: x.expected ?? null, actual: x.actual ?? null, delta, deltaUnits: views.delta },
      ),
    );
  }
  // The code at the address must be the compiled contract (red team F11): the checks below
  // replay what FedmeshFederation enforces, which says nothing about a look-alike.
  for (const [name, compiled] of Object.entries(input.compiledCode ?? {})) {
    const at = views.runtimeCode?.[name];
    if (at !== undefined) add(null, checkRuntimeCode(name, at.address, at.code, compiled));
  }
  // …and its immutables must obey the constructor's rules: the runtime does not show which
  // constructor wrote them (red team F19).
  for (const f of checkConstructorRules(views)) add(null, f);
  // The contract is the authority for what it enforced; the checks below use its parameters,
  // except ε: it is replayed with the constants of δ, so a cap the wrong constants hid shows.
  const m = views.committeeSize;
  const t = views.threshold;
  const cConsts = constants.expected ?? views.cAlpha;

  const members = new MembershipReplay();
  const rounds = new Map<number, RoundState>();
  let lastOpened = 0;
  let openRound: RoundState | undefined;
  let head: Hex32 = views.initialModelHash;
  /** w_{t−1} of the server step: the model the last finalized record started from (issue 16). */
  let beforeHead: Hex32 = views.initialModelHash;
  let prevRecordHash: Hex32 = ZERO_HASH;
  // A study that continues others starts each member from what they carry (issue 17 item 7).
  const cumulative = new Map<string, bigint>(input.studies?.carried ?? []);
  for (const f of input.studies?.findings ?? []) add(null, f);
  const finalizedForCredits: { record: { participants: { member: string }[] }; credited: readonly string[] }[] = [];

  /**
   * Membership and privacy of one round's lines at `block`, where the contract charged them (the
   * charge, or the finalize of an uncharged round): a member suspended or removed while the round
   * was open is still charged (its input was released; IFedmeshRounds.finalizeRound); someone
   * never added is not a participant. Participation credits are minted with the spend.
   */
  const chargeLines = (r: number, lines: readonly { member: string; dpParams: bigint; spend: bigint }[], block: number): void => {
    for (const p of lines) {
      const a = getAddress(p.member);
      if (!members.isKnown(a)) {
        add(
          r,
          finding('PARTICIPANT_NOT_ACTIVE', 'error', `round ${r}: participant ${a} was never a member (block ${block})`, {
            member: a,
            block,
          }),
        );
      }
    }
    for (const p of lines) {
      add(r, checkDeclaredSpend(r, p));
      const a = getAddress(p.member);
      const total = addPacked(cumulative.get(a) ?? 0n, p.spend);
      cumulative.set(a, total);
      const eps = epsilonFromPacked(total, cConsts);
      const cap = members.capAt(a, r);
      if (cap !== undefined && eps > cap) {
        add(
          r,
          finding('PRIVACY_CAP_EXCEEDED', 'error', `round ${r}: ${a}'s cumulative ε ${fmtEps(eps)} exceeds its cap ${fmtEps(cap)}`, {
            member: a,
            epsilon: eps,
            cap,
            rdp: total,
          }),
        );
      }
    }
    finalizedForCredits.push({ record: { participants: lines.map((p) => ({ member: p.member })) }, credited: [] });
  };

  for (const e of input.events) {
    if (e.kind === 'RoundCharged') {
      // F18: the spends of a secure round, charged before any reveal; they stand whatever follows.
      const state = rounds.get(e.round);
      if (state === undefined || state !== openRound || state.chargedBlock !== undefined) {
        add(
          e.round,
          finding(
            state?.chargedBlock !== undefined ? 'CHARGE_MISMATCH' : 'ROUND_SEQUENCE',
            'error',
            `round ${e.round} was charged ${state?.chargedBlock !== undefined ? 'twice' : 'without being the open round'}`,
            { round: e.round, open: openRound?.round ?? null, block: e.at.block },
          ),
        );
      }
      const h = participantsHash(e.participants);
      if (!sameHash(h, e.participantsHash)) {
        add(
          e.round,
          finding('CHARGE_MISMATCH', 'error', `round ${e.round}'s charge event lines do not hash to its participantsHash`, {
            eventHash: e.participantsHash,
            recomputed: h,
          }),
        );
      }
      // Signatures, from calldata: t committee members over the RoundCharge, each line its member's.
      if (e.call.kind === 'decoded') {
        const call = e.call;
        // A forwarder's calldata may carry several calls with these arguments (red team F33: a
        // decoy with bad signatures first); the first whose signatures all verify is the evidence.
        const judge = (c: Pick<typeof call, 'signatures' | 'entrySignatures'>) => [
          ...checkChargeSignatures({
            round: e.round,
            domain,
            eventParticipantsHash: e.participantsHash,
            call,
            signatures: c.signatures,
            committee: state?.committee ?? [],
            threshold: t,
          }).findings,
          ...checkEntrySignatures({ round: e.round, binding, record: call, entrySignatures: c.entrySignatures }),
        ];
        const first = judge(call);
        let chosen = first;
        for (const alt of first.length === 0 ? [] : (call.alternatives ?? [])) {
          const fs = judge(alt);
          if (fs.length === 0) {
            chosen = fs;
            break;
          }
        }
        for (const f of chosen) add(e.round, f);
      } else {
        add(
          e.round,
          finding(
            'SIGNATURES_UNAVAILABLE',
            'error',
            `round ${e.round}: the charge calldata could not be decoded (${e.call.reason}); neither the committee's nor the participants' signatures can be verified`,
            { txHash: e.at.txHash, reason: e.call.reason },
          ),
        );
      }
      if (state !== undefined && state.chargedBlock === undefined) {
        state.chargedBlock = e.at.block;
        state.chargedHash = e.participantsHash;
        state.participants = e.participants.map((p) => getAddress(p.member));
      }
      chargeLines(e.round, e.participants, e.at.block);
      continue;
    }
    if (e.kind !== 'RoundOpened' && e.kind !== 'RoundFinalized' && e.kind !== 'RoundAborted') {
      members.apply(e);
      continue;
    }
    if (e.kind === 'RoundOpened') {
      if (e.round !== lastOpened + 1 || openRound !== undefined) {
        add(
          e.round,
          finding(
            'ROUND_SEQUENCE',
            'error',
            `round ${e.round} opened after round ${lastOpened}${openRound ? ' while it was still open' : ''}`,
            {
              round: e.round,
              lastOpened,
              block: e.at.block,
            },
          ),
        );
      }
      lastOpened = e.round;
      members.round = e.round;
      const c = checkCommittee({
        round: e.round,
        seed: e.seed,
        announced: e.committee,
        active: e.snapshotActive ?? members.active,
        m,
        prevRecordHash,
        ...(e.prevrandao !== undefined ? { prevrandao: e.prevrandao } : {}),
      });
      for (const f of c.findings) add(e.round, f);
      const state: RoundState = {
        round: e.round,
        status: 'open',
        openedBlock: e.at.block,
        committee: e.committee.map((a) => getAddress(a)),
        signers: [],
        signaturesVerified: false,
        participants: [],
        dropped: [],
      };
      rounds.set(e.round, state);
      openRound = state;
      continue;
    }
    const state = rounds.get(e.round);
    if (state === undefined || state !== openRound) {
      add(
        e.round,
        finding(
          'ROUND_SEQUENCE',
          'error',
          `round ${e.round} was ${e.kind === 'RoundAborted' ? 'aborted' : 'finalized'} without being the open round`,
          {
            round: e.round,
            open: openRound?.round ?? null,
            block: e.at.block,
          },
        ),
      );
      if (state === undefined) continue;
    }
    openRound = undefined;
    state.closedBlock = e.at.block;
    if (e.kind === 'RoundAborted') {
      state.status = 'aborted';
      continue;
    }

    // RoundFinalized.
    const r = e.round;
    const record = e.record;
    state.status = 'finalized';
    state.prevModelHash = record.prevModelHash;
    state.modelHash = record.modelHash;
    state.recordHash = e.recordHash;
    state.participants = record.participants.map((p) => getAddress(p.member));

    if (record.round !== r) {
      add(
        r,
        finding('ROUND_SEQUENCE', 'error', `the record in round ${r}'s event is for round ${record.round}`, {
          round: r,
          recordRound: record.round,
        }),
      );
    }
    const structHash = roundRecordStructHash(record);
    if (!sameHash(structHash, e.recordHash)) {
      add(
        r,
        finding('RECORD_HASH_MISMATCH', 'error', `round ${r}'s recordHash is not the EIP-712 struct hash of its record`, {
          eventRecordHash: e.recordHash,
          recomputed: structHash,
        }),
      );
    }

    // 2. Signatures, from calldata.
    if (e.call.kind === 'decoded') {
      const call = e.call;
      const charged = state.chargedHash !== undefined;
      // The first candidate whose signatures all verify (F33: a forwarder's decoys), else the call.
      const judge = (c: Pick<typeof call, 'signatures' | 'entrySignatures'>) => {
        const q = checkFinalizeSignatures({
          round: r,
          domain,
          record,
          callRecord: call.record,
          signatures: c.signatures,
          committee: state.committee,
          threshold: t,
          eventSigners: e.signers,
        });
        // A charged round's lines were signed into its charge (checked there); its finalize carries none.
        const entries = charged ? [] : checkEntrySignatures({ round: r, binding, record: call.record, entrySignatures: c.entrySignatures });
        return { signers: q.signers, findings: [...q.findings, ...entries] };
      };
      let s = judge(call);
      for (const alt of s.findings.length === 0 ? [] : (call.alternatives ?? [])) {
        const j = judge(alt);
        if (j.findings.length === 0) {
          s = j;
          break;
        }
      }
      for (const f of s.findings) add(r, f);
      state.signers = [...s.signers];
      state.signaturesVerified = true;
    } else {
      // Unverified: neither the committee's signatures nor the participants' entries can be
      // checked, and the event is the contract's word (red team F11). An error, so `ok` is
      // false until the calldata is verified; the event's signers are still held to the rules.
      add(
        r,
        finding(
          'SIGNATURES_UNAVAILABLE',
          'error',
          `round ${r}: the finalize calldata could not be decoded (${e.call.reason}); neither the committee's nor the participants' signatures can be verified, signers taken from the event`,
          {
            txHash: e.at.txHash,
            reason: e.call.reason,
          },
        ),
      );
      const s = checkEventSigners({ round: r, signers: e.signers, committee: state.committee, threshold: t });
      for (const f of s.findings) add(r, f);
      state.signers = e.signers.map((a) => getAddress(a));
    }

    // 3. Hash chain.
    if (!sameHash(record.prevModelHash, head)) {
      add(
        r,
        finding(
          'HASH_CHAIN_BROKEN',
          'error',
          `round ${r}'s prevModelHash is not the ${r === 1 ? 'initial model hash' : 'previous round’s modelHash'}`,
          {
            prevModelHash: record.prevModelHash,
            expected: head,
          },
        ),
      );
    }
    // Under a server optimizer, its step from the recorded average to the recorded model (issue 16).
    const optimizer = input.serverOptimizer;
    if (optimizer !== undefined && optimizer.kind !== 'fedavg' && input.artifacts !== undefined) {
      add(r, checkServerStep({ optimizer, round: r, previousModelHash: beforeHead, record, artifacts: input.artifacts }));
    }
    beforeHead = record.prevModelHash;
    head = record.modelHash;
    prevRecordHash = e.recordHash;

    // Membership and privacy: at the charge for a charged round (F18), which must be exactly
    // this record's participants; here for an uncharged one.
    if (state.chargedHash !== undefined) {
      const h = participantsHash(record.participants);
      if (!sameHash(h, state.chargedHash)) {
        add(
          r,
          finding('CHARGE_MISMATCH', 'error', `round ${r}'s record names other participants than its charge`, {
            charged: state.chargedHash,
            recorded: h,
          }),
        );
      }
    } else {
      chargeLines(r, record.participants, e.at.block);
    }
    for (const s of state.signers) {
      if (!members.isActive(s)) {
        add(
          r,
          finding('SIGNER_NOT_ACTIVE', 'warning', `round ${r}: signer ${s} was not an active member at block ${e.at.block}`, {
            member: s,
            block: e.at.block,
          }),
        );
      }
    }

    // 5. Credits are replayed at the end; collect what this round minted.
    // (Participation credits were minted with the spend: chargeLines.)
    finalizedForCredits.push({ record: { participants: [] }, credited: e.credited });

    // Artifacts.
    if (input.artifacts !== undefined) {
      const a = checkArtifact(r, record.modelHash, input.artifacts.get(record.modelHash.toLowerCase()));
      state.artifact = a.status;
      add(r, a.finding);
    }
  }

  if (!sameHash(head, views.headModelHash)) {
    add(
      null,
      finding('HEAD_MISMATCH', 'error', "the replayed model chain does not end at the contract's headModelHash", {
        replayed: head,
        contract: views.headModelHash,
      }),
    );
  }
  if (input.artifacts !== undefined) {
    const a = checkArtifact(0, views.initialModelHash, input.artifacts.get(views.initialModelHash.toLowerCase()));
    add(0, a.finding);
  }

  // 4, end: the replayed budgets against the contract's ledger.
  const budgets: BudgetRow[] = [];
  const own = input.studies !== undefined ? studySpendOf(dep.address, input.events) : undefined;
  for (const [address, view] of views.members) {
    const rdp = cumulative.get(address) ?? 0n;
    if (rdp !== view.rdp) {
      add(
        null,
        finding('PRIVACY_LEDGER_MISMATCH', 'error', `${address}'s replayed RDP differs from the contract's rdpOf`, {
          member: address,
          replayed: rdp,
          contract: view.rdp,
        }),
      );
    }
    const cap = members.capOf(address) ?? view.epsilonCap;
    budgets.push({
      member: address,
      epsilonSpent: fixedToNumber(epsilonFromPacked(rdp, cConsts)),
      cap: fixedToNumber(cap),
      chainEpsilonSpent: fixedToNumber(view.epsilonSpent),
      rdp: rdp.toString(),
      ...(own !== undefined
        ? {
            epsilonCarried: epsilonOfSpend(input.studies?.carried.get(address) ?? 0n, cConsts),
            epsilonThisStudy: epsilonOfSpend(own.spends.get(address) ?? 0n, cConsts),
          }
        : {}),
    });
  }

  // 4b. Peer id bindings (issue 14 item 2): every member's stored proof, as nodes check it.
  for (const [address, view] of views.members) {
    if (view.peerId === undefined || view.peerProof === undefined || view.status === 0) continue;
    const binding = { chainId: input.deployment.chainId, contract: input.deployment.address };
    const reason = peerBindingRefusal(view.peerId, binding, address, view.peerProof);
    if (reason === undefined) continue;
    add(
      null,
      finding(
        'PEER_PROOF_INVALID',
        reason === 'missing' ? 'warning' : 'error',
        reason === 'missing'
          ? `${address}'s peer id ${view.peerId} is registered without a proof: the binding rests on the admin alone`
          : `${address}'s stored proof is not peer id ${view.peerId}'s key binding it to this account on this deployment`,
        { member: address, peerId: view.peerId, reason, peerProof: view.peerProof },
      ),
    );
  }

  // 5. Credits.
  const expected = replayCredits(finalizedForCredits);
  const credits: CreditRow[] = [];
  let expectedTotal = 0n;
  for (const [address, view] of views.members) {
    const want = expected.get(address) ?? 0n;
    expectedTotal += want;
    if (want !== view.credits) {
      add(
        null,
        finding('CREDITS_MISMATCH', 'error', `${address} holds ${view.credits} credits; the credit rule over the records gives ${want}`, {
          member: address,
          expected: want,
          onChain: view.credits,
        }),
      );
    }
    credits.push({ member: address, expected: want.toString(), onChain: view.credits.toString() });
  }
  for (const [address, want] of expected) {
    if (!views.members.has(address)) {
      expectedTotal += want;
      add(
        null,
        finding('CREDITS_MISMATCH', 'error', `${address} earned ${want} credits by the rule but is not a member`, {
          member: address,
          expected: want,
        }),
      );
    }
  }
  if (expectedTotal !== views.totalCredits) {
    add(
      null,
      finding(
        'CREDITS_TOTAL_MISMATCH',
        'error',
        `totalCredits is ${views.totalCredits}; the credit rule over the records gives ${expectedTotal}`,
        {
          expected: expectedTotal,
          onChain: views.totalCredits,
        },
      ),
    );
  }

  // Scope to the requested rounds (state above was replayed from the start regardless).
  const from = input.fromRound ?? 1;
  const to = input.toRound ?? Number.MAX_SAFE_INTEGER;
  const inScope = (round: number | null): boolean => round === null || round === 0 || (round >= from && round <= to);
  const scoped = sortFindings(findings.filter((f) => inScope(f.round)));
  const codesOf = (round: number): FindingCode[] => [...new Set(scoped.filter((f) => f.round === round).map((f) => f.code))];
  const summaries: RoundSummary[] = [...rounds.values()]
    .filter((s) => s.round >= from && s.round <= to)
    .sort((a, b) => a.round - b.round)
    .map((s) => {
      const evaluation = input.evaluations?.get(s.round);
      return {
        ...s,
        ...(evaluation !== undefined ? { evaluation } : {}),
        findings: codesOf(s.round),
      };
    });

  return {
    ok: !scoped.some((f) => f.severity === 'error'),
    federation: getAddress(dep.address),
    chainId: dep.chainId.toString(),
    block: views.block,
    initialModelHash: views.initialModelHash,
    m,
    t,
    rounds: summaries,
    members: [...members.members.values()].map((mm) => {
      const uri = views.members.get(mm.address)?.metadataURI;
      const name = memberName(uri);
      return {
        address: mm.address,
        peerId: mm.peerId,
        status: mm.status,
        ...(name !== undefined ? { name } : {}),
        ...(uri !== undefined ? { metadataURI: uri } : {}),
      };
    }),
    findings: scoped,
    budgets,
    credits,
    totalCredits: { expected: expectedTotal.toString(), onChain: views.totalCredits.toString() },
    ...(input.studies !== undefined && own !== undefined ? { studies: [...input.studies.earlier, ...studySpendRows([own], cConsts)] } : {}),
  };
}

function fmtEps(units: bigint): string {
  return units === EPSILON_UNBOUNDED ? '∞' : fixedToNumber(units).toFixed(6);
}
