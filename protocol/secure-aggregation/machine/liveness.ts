/**
 * The committee member's liveness evidence in the round machine (issue 13 #13; committee-member.ts
 * "Complaints" and "Refusals and release", certify.ts `releaseQuorum`): what the member signs is
 * published, what other members signed is fed to it.
 *
 *   - Complaints (wire kind 10): a member whose share from participant i does not open signs a
 *     Complaint(i) (`SecAggCommitteeMember.takeOutbox`); other members' complaints are fed with
 *     `addComplaint`, so a key-set leader leaves i out of U_2 once unusable(i) ≥ m − t + 1 and
 *     every member accepts the omission once ≥ c + 1 members complained (F12's `provablyUnusable`).
 *     Without them, a participant sending bad shares to m − t + 1 members stalls every key set.
 *   - Refusals (kind 11) and releases (kind 12, H8 F7): a member that refuses a lock signs a
 *     LockRefuse (with the two views of an equivocating member when that is why); a member that
 *     endorsed a lock releases it once `releaseQuorum` refusals prove it can never reach t, and may
 *     then endorse one other lock, published as a LockRelease. A proposal this member turned down
 *     because it had already endorsed another lock is offered again once that endorsement was
 *     released (and only then: re-checking a proposal verifies t view signatures).
 *
 * Pure: every function only reads the stored messages and writes effects (publish, count, log).
 */
import { toHex0x } from '../../bytes.js';
import { type ProposalMsg, SecAggKind } from '../../messages/secagg.js';
import type { SecAggCommitteeMember } from '../committee-member.js';
import { SecAggError } from '../errors.js';
import type { StageContext } from './participant-stages.js';
import { type Feeder, slotOf } from './store.js';

/** Per-role bookkeeping of the liveness kinds. */
export interface LivenessState {
  /**
   * Lock proposals refused because this member had endorsed another lock (SECAGG_CONFLICTING_PROPOSAL
   * with `endorsed`), by slot: offered again once that endorsement is released.
   */
  readonly conflicting: Set<string>;
}

export function livenessState(): LivenessState {
  return { conflicting: new Set() };
}

/** Publish every complaint, refusal and release the member signed since the last call, oldest first. */
export function publishOutbox(member: SecAggCommitteeMember, c: StageContext): void {
  for (const m of member.takeOutbox()) {
    c.out.log(
      'debug',
      {
        kind: SecAggKind[m.kind],
        ...(m.kind === SecAggKind.Complaint ? { accused: m.accused } : { lock: toHex0x(m.digest) }),
      },
      'secure aggregation: publishing liveness evidence',
    );
    c.out.publish(m);
  }
}

/** Other members' complaints (any phase: a late one still counts toward excluding a participant). */
export function feedComplaints(feeder: Feeder, member: SecAggCommitteeMember, c: StageContext): void {
  feeder.feed(c.out, SecAggKind.Complaint, (x) => member.addComplaint(x));
}

/** Other members' refusals (each may release this member's lock) and releases (endorsements that count). */
export function feedLockEvidence(feeder: Feeder, member: SecAggCommitteeMember, c: StageContext): void {
  feeder.feed(c.out, SecAggKind.LockRefuse, (x) => member.addLockRefuse(x));
  feeder.feed(c.out, SecAggKind.LockRelease, (x) => member.addLockRelease(x));
}

/**
 * Wrap the lock phase's proposal handler: a proposal refused because this member holds another
 * endorsement (SECAGG_CONFLICTING_PROPOSAL with `endorsed`) is noted, and still thrown (the feeder
 * counts it once, as before). A refusal of a digest this member refused or released is final.
 */
export function notingConflicts(l: LivenessState, handler: (p: ProposalMsg) => void): (p: ProposalMsg) => void {
  return (p) => {
    try {
      handler(p);
    } catch (e) {
      if (isAwaitingRelease(e)) l.conflicting.add(slotOf(p));
      throw e;
    }
  };
}

/**
 * Once this member's endorsement was released (`endorsedLockDigest` undefined again), offer the
 * noted proposals again, oldest first: one of them may now be endorsed (a LockRelease joins the
 * outbox). Proposals still waiting for material, or turned down because an earlier one of them was
 * just endorsed, stay noted; any other refusal is counted and final.
 */
export function reofferAfterRelease(
  l: LivenessState,
  member: SecAggCommitteeMember,
  c: StageContext,
  handler: (p: ProposalMsg) => void,
): void {
  if (l.conflicting.size === 0 || member.endorsedLockDigest !== undefined) return;
  for (const p of c.store.messages(SecAggKind.Proposal)) {
    const slot = slotOf(p);
    if (!l.conflicting.has(slot)) continue;
    try {
      handler(p);
      l.conflicting.delete(slot);
    } catch (e) {
      if (!(e instanceof SecAggError)) throw e;
      if (isAwaitingRelease(e) || e.code === 'SECAGG_CANNOT_FOLLOW') continue;
      l.conflicting.delete(slot);
      c.out.count(e.code, { kind: SecAggKind.Proposal, sender: p.sender, error: e.message, step: 'reoffer' });
    }
  }
}

const isAwaitingRelease = (e: unknown): boolean =>
  e instanceof SecAggError && e.code === 'SECAGG_CONFLICTING_PROPOSAL' && (e.fields as { endorsed?: unknown }).endorsed !== undefined;
