/**
 * Question 4 of the audit: did any institution exceed its privacy budget?
 *
 * Per participant and round, the RDP spend is recomputed from the declared DP-SGD parameters
 * (q, σ, steps; protocol/chain/dp-params.ts `declaredSpend`, the subsampled Gaussian RDP of
 * Mironov, Talwar & Zhang 2019 at the 8 on-chain orders) and must equal the packed spend in the
 * record bit for bit. The spends are then summed lane by lane (`addPacked`) and converted to ε
 * at the federation's δ (`epsilonFromPacked`, Balle et al. 2020 Thm. 21), which must never
 * exceed the member's cap at that point of the stream.
 *
 * Studies on one budget: a study that continues another starts each member from what the chain
 * of earlier studies carries (`carriedInto`, replayed from their records), and the report gives
 * the spend per study and in total (docs/auditor-guide.md, "Several studies").
 */
import { getAddress } from 'ethers';
import { addPacked, epsilonFromPacked, fixedToNumber } from '../chain/budget.js';
import { declaredSpend } from '../chain/dp-params.js';
import { finding, type LocalFinding } from './findings.js';
import type { AuditEvent, AuditParticipant, StudyLinkView, StudySpendRow } from './types.js';

/** The finding for one participant whose declared parameters do not give its recorded spend, if any. */
export function checkDeclaredSpend(round: number, p: AuditParticipant): LocalFinding | undefined {
  let expected: bigint;
  try {
    expected = declaredSpend(p.dpParams);
  } catch (e) {
    return finding(
      'PRIVACY_PARAMS_INVALID',
      'error',
      `round ${round}: ${p.member}'s declared DP parameters do not decode (${(e as Error).message})`,
      {
        member: p.member,
        dpParams: p.dpParams,
      },
    );
  }
  if (expected === p.spend) return undefined;
  return finding(
    'PRIVACY_SPEND_MISMATCH',
    'error',
    `round ${round}: ${p.member}'s declared DP parameters give a different spend than the one recorded`,
    { member: p.member, dpParams: p.dpParams, recordedSpend: p.spend, recomputedSpend: expected },
  );
}

// ───────────── studies on one budget (issue 17 item 7, contracts/IFedmeshStudy.sol) ─────────────

/** One study of a chain as the auditor fetched it: its stream and its `studyChain()` links. */
export interface StudyStream {
  readonly address: string;
  readonly events: readonly AuditEvent[];
  readonly link: StudyLinkView;
  /** Its runtime code is FedmeshFederation's, immutables aside (node/chain/federation-code.ts). */
  readonly genuine: boolean;
}

/** What one study's records spent: packed RDP per member (lane-wise sums), and who it registered. */
export interface StudySpend {
  readonly address: string;
  readonly rounds: number;
  readonly spends: ReadonlyMap<string, bigint>;
  readonly registered: ReadonlySet<string>;
}

/**
 * The spends of one study's charges and finalized records and the accounts it registered
 * (MemberAdded): a round charged before its reveals (`RoundCharged`, red team F18) spends there,
 * whether or not it was finalized; its record spends nothing more.
 */
export function studySpendOf(address: string, events: readonly AuditEvent[]): StudySpend {
  const spends = new Map<string, bigint>();
  const registered = new Set<string>();
  const charged = new Set<number>();
  let rounds = 0;
  for (const e of events) {
    if (e.kind === 'MemberAdded') registered.add(getAddress(e.account));
    if (e.kind === 'RoundFinalized') rounds++;
    let lines: readonly { readonly member: string; readonly spend: bigint }[];
    if (e.kind === 'RoundCharged') {
      charged.add(e.round);
      lines = e.participants;
    } else if (e.kind === 'RoundFinalized' && !charged.has(e.round)) lines = e.record.participants;
    else continue;
    for (const p of lines) {
      const a = getAddress(p.member);
      spends.set(a, addPacked(spends.get(a) ?? 0n, p.spend));
    }
  }
  return { address: getAddress(address), rounds, spends, registered };
}

/**
 * What each account carries into the study after `earlier` (oldest first), by the contract's
 * rule (IFedmeshStudy `carriedBudgetOf`) replayed from the records: a study that registered an
 * account holds what it carried in plus its own spends, and passes that on; one that never
 * registered it passes on what it carried in. The first study carries nothing.
 */
export function carriedInto(earlier: readonly StudySpend[]): Map<string, bigint> {
  let carried = new Map<string, bigint>();
  for (const s of earlier) {
    const next = new Map(carried);
    for (const a of s.registered) next.set(a, addPacked(carried.get(a) ?? 0n, s.spends.get(a) ?? 0n));
    carried = next;
  }
  return carried;
}

/**
 * The chain's links checked both ways, oldest first: every study is FedmeshFederation code (a
 * contract that only imitates `studyChain`, `delta` and `carriedBudgetOf` could name any
 * caller, and two studies would then continue one budget: red team F16); each predecessor is
 * closed and names the study after it; and the file's list of studies is the chain's.
 * `successor`: what the audited study's named successor says, when it is closed and names one.
 */
export function checkStudyChain(
  chain: readonly StudyStream[],
  fileStudies: readonly string[] | undefined,
  successor?: { readonly address: string; readonly genuine: boolean; readonly predecessor?: string },
): LocalFinding[] {
  const out: LocalFinding[] = [];
  for (const s of chain) {
    if (!s.genuine) {
      out.push(
        finding(
          'STUDY_NOT_FEDERATION',
          'error',
          `study ${s.address} in the chain is not FedmeshFederation code: its budget answers prove nothing`,
          {
            study: s.address,
          },
        ),
      );
    }
  }
  for (let i = 1; i < chain.length; i++) {
    const pred = chain[i - 1]!;
    const s = chain[i]!;
    if (!pred.link.closed || pred.link.successor === undefined || getAddress(pred.link.successor) !== getAddress(s.address)) {
      out.push(
        finding('STUDY_CHAIN_BROKEN', 'error', `${s.address} continues ${pred.address}, which does not name it as its successor`, {
          study: s.address,
          predecessor: pred.address,
          named: pred.link.successor ?? null,
          closed: pred.link.closed,
        }),
      );
    }
  }
  if (fileStudies !== undefined) {
    const onChain = chain.slice(0, -1).map((s) => getAddress(s.address));
    const inFile = fileStudies.map((a) => getAddress(a));
    if (onChain.join() !== inFile.join()) {
      out.push(
        finding('STUDY_CHAIN_MISMATCH', 'error', 'the deployment file and the contracts disagree on the earlier studies', {
          file: inFile,
          contract: onChain,
        }),
      );
    }
  }
  if (successor !== undefined) {
    const audited = chain.at(-1)!;
    if (!successor.genuine) {
      out.push(
        finding('STUDY_NOT_FEDERATION', 'error', `the successor ${successor.address} the study named is not FedmeshFederation code`, {
          study: successor.address,
        }),
      );
    } else if (successor.predecessor === undefined || getAddress(successor.predecessor) !== getAddress(audited.address)) {
      // Not (yet) continuing: its members' budgets would start from zero there.
      out.push(
        finding('STUDY_SUCCESSOR_NOT_CONTINUING', 'warning', `the successor ${successor.address} does not continue this study's budgets`, {
          successor: successor.address,
          itsPredecessor: successor.predecessor ?? null,
        }),
      );
    }
  }
  return out;
}

/**
 * ε of a spend alone, as a number: 0 for no spend at all (nothing was released, so (0, 0)-DP,
 * as the accountant says), else the ledger's conversion (epsilonFromPacked), whose floor is the
 * smallest c_α.
 */
export function epsilonOfSpend(rdp: bigint, cConsts: readonly bigint[]): number {
  return rdp === 0n ? 0 : fixedToNumber(epsilonFromPacked(rdp, cConsts));
}

/** Per study, oldest first, each member's spend there: packed RDP (decimal) and its ε alone at `cConsts`. */
export function studySpendRows(studies: readonly StudySpend[], cConsts: readonly bigint[]): StudySpendRow[] {
  return studies.map((s) => ({
    address: s.address,
    rounds: s.rounds,
    members: [...s.spends].map(([member, rdp]) => ({
      member,
      rdp: rdp.toString(),
      epsilon: epsilonOfSpend(rdp, cConsts),
    })),
  }));
}
