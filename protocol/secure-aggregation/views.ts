/**
 * View agreement: how the committee converges on the survivor set U (docs/secure-aggregation.md
 * §"Agreeing on U").
 *
 * After the input deadline each member signs its view: the sorted (participant, inputHash)
 * pairs of the masked inputs it holds and can help unmask. The committee position 0 — or
 * position k after k grace periods — proposes U with ≥ t signed views as proof:
 *
 *   candidates = ∩ of the views (same participant *and* same input hash in every view)
 *   U          = candidates minus participants whose neighbour sets are not symmetric on U
 *   D          = (∪_{i∈U} M_i) \ U        participants whose pairwise masks must be removed
 *
 * Every member checks the proof itself (signatures, committee membership, U ⊆ ∩ views,
 * U ∩ D = ∅, |U| ≥ minSurvivors, symmetry and D ⊇ M_i \ U for the inputs it holds) before it
 * reveals anything, and acts on at most one proposal per round.
 */
import { bytesEqual } from '../bytes.js';
import { type ProposalMsg, type SignedView, type ViewEntry, viewStatement } from '../messages/secagg.js';
import type { IdentityVerify } from './crypto.js';
import { SecAggError } from './errors.js';

/** Entries present, with the same input hash, in every view. */
export function intersectViews(views: readonly SignedView[]): ViewEntry[] {
  if (views.length === 0) return [];
  const [first, ...rest] = views;
  const maps = rest.map((v) => new Map(v.entries.map((e) => [e.participant, e.inputHash])));
  return first!.entries.filter((e) =>
    maps.every((m) => {
      const h = m.get(e.participant);
      return h !== undefined && bytesEqual(h, e.inputHash);
    }),
  );
}

/**
 * U and D from the candidates and each candidate's neighbour set M_i. A pair i, j ∈ U with
 * j ∈ M_i but i ∉ M_j would leave PRG(s_ij) in the sum; the participant that masked with a
 * non-reciprocating peer (i) leaves U — its input is excluded, its mask key is reconstructed
 * only if a survivor masked with it, and its self-mask seed is never revealed.
 */
export function selectSurvivors(
  candidates: readonly ViewEntry[],
  neighbours: (participant: string) => ReadonlySet<string> | undefined,
): { survivors: ViewEntry[]; dropped: string[] } {
  const inU = new Map(candidates.map((e) => [e.participant, e]));
  let changed = true;
  while (changed) {
    changed = false;
    for (const i of [...inU.keys()].sort()) {
      const mi = neighbours(i);
      const asymmetric = mi === undefined || [...mi].some((j) => inU.has(j) && neighbours(j)?.has(i) !== true) || mi.has(i);
      if (asymmetric) {
        inU.delete(i);
        changed = true;
      }
    }
  }
  const survivors = [...inU.values()].sort((a, b) => (a.participant < b.participant ? -1 : 1));
  const dropped = new Set<string>();
  for (const e of survivors) for (const j of neighbours(e.participant)!) if (!inU.has(j)) dropped.add(j);
  return { survivors, dropped: [...dropped].sort() };
}

export interface ProposalCheckContext {
  readonly federation: string;
  readonly round: number;
  readonly committee: readonly string[];
  readonly threshold: number;
  readonly minSurvivors: number;
  readonly maxParticipants: number;
  readonly verify: IdentityVerify;
}

/** Verify one signed view: signer on the committee and signature valid. */
export function checkView(view: SignedView, ctx: Pick<ProposalCheckContext, 'federation' | 'round' | 'committee' | 'verify'>): void {
  if (!ctx.committee.includes(view.member)) {
    throw new SecAggError('SECAGG_NOT_COMMITTEE', `view by ${view.member}, not on the round's committee`, { member: view.member });
  }
  if (!ctx.verify(view.member, viewStatement(ctx.federation, ctx.round, view.member, view.entries), view.signature)) {
    throw new SecAggError('SECAGG_BAD_SIGNATURE', `view signature of ${view.member} does not verify`, { member: view.member });
  }
}

/**
 * Check a proposal against its proof; returns U with input hashes. Does not check the
 * never-both rule or held inputs (the member does, with its own state).
 */
export function checkProposal(p: ProposalMsg, ctx: ProposalCheckContext): ViewEntry[] {
  const badProposal = (msg: string, fields: Record<string, unknown>): SecAggError =>
    new SecAggError('SECAGG_BAD_PROPOSAL', `proposal by ${p.sender}: ${msg}`, { proposer: p.sender, ...fields });
  if (!ctx.committee.includes(p.sender)) {
    throw new SecAggError('SECAGG_NOT_COMMITTEE', `proposal by ${p.sender}, not on the round's committee`, { member: p.sender });
  }
  const signers = new Set(p.views.map((v) => v.member));
  if (signers.size !== p.views.length) throw badProposal('repeated view signer', {});
  if (p.views.length < ctx.threshold) {
    throw new SecAggError('SECAGG_TOO_FEW_VIEWS', `${p.views.length} views, threshold ${ctx.threshold}`, {
      have: p.views.length,
      threshold: ctx.threshold,
    });
  }
  for (const v of p.views) checkView(v, ctx);
  const agreed = new Map(intersectViews(p.views).map((e) => [e.participant, e]));
  const survivors: ViewEntry[] = [];
  for (const id of p.survivors) {
    const e = agreed.get(id);
    if (e === undefined) throw badProposal(`survivor ${id} is not in every view`, { participant: id });
    survivors.push(e);
  }
  const u = new Set(p.survivors);
  for (const j of p.dropped) {
    if (u.has(j)) {
      throw new SecAggError('SECAGG_BOTH_KINDS', `${j} is both a survivor and dropped`, {
        participant: j,
        revealed: 'self-mask',
        requested: 'mask-key',
      });
    }
  }
  if (survivors.length < ctx.minSurvivors) {
    throw new SecAggError('SECAGG_TOO_FEW_SURVIVORS', `${survivors.length} survivors, minimum ${ctx.minSurvivors}`, {
      survivors: survivors.length,
      min: ctx.minSurvivors,
    });
  }
  if (survivors.length > ctx.maxParticipants) {
    throw new SecAggError('SECAGG_TOO_MANY_PARTICIPANTS', `${survivors.length} survivors, overflow bound is for ${ctx.maxParticipants}`, {
      survivors: survivors.length,
      max: ctx.maxParticipants,
    });
  }
  return survivors;
}
