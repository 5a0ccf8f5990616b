/**
 * Views and the lock proposal: how the committee derives (U_3, D) (docs/secure-aggregation.md
 * §"Agreeing on U").
 *
 * Each member signs its view: the sorted (participant, inputHash) pairs of the masked inputs it
 * holds from the certified U_2 whose neighbour set is exactly U_2 \ {i}, bound to that key set's
 * digest (a lock cites only views taken under the key set it names). The turn's leader
 * proposes a lock with ≥ t signed views as proof:
 *
 *   U_3 = ∩ of the cited views (same participant *and* same input hash in every view) ∩ U_2
 *   D   = U_2 \ U_3        every survivor masked with all of U_2, so every non-survivor's
 *                          pairwise masks must be removed (its s^SK reconstructed, never its b)
 *
 * Every member recomputes U_3 and D from the cited views and requires them exactly, checks that
 * each cited view equals the View that member published (else equivocation, both kept as
 * evidence), and checks the floors (floors.ts) before it endorses the lock.
 */
import { bytesEqual, toHex0x } from '../bytes.js';
import { type SecAggScope, type SignedView, type ViewEntry, viewStatement } from '../messages/secagg.js';
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

/** (U_3, D) from ≥ t views and the certified U_2 (sorted). */
export function deriveLock(views: readonly SignedView[], shared: readonly string[]): { survivors: ViewEntry[]; dropped: string[] } {
  const u2 = new Set(shared);
  const survivors = intersectViews(views).filter((e) => u2.has(e.participant));
  const u3 = new Set(survivors.map((e) => e.participant));
  return { survivors, dropped: shared.filter((j) => !u3.has(j)) };
}

/** Verify one signed view: signer on the committee and signature valid. */
export function checkView(view: SignedView, scope: SecAggScope, committee: readonly string[], verify: IdentityVerify): void {
  if (!committee.includes(view.member)) {
    throw new SecAggError('SECAGG_NOT_COMMITTEE', `view by ${view.member}, not on the round's committee`, { member: view.member });
  }
  if (view.keySet.length !== 32 || !verify(view.member, viewStatement(scope, view.member, view.keySet, view.entries), view.signature)) {
    throw new SecAggError('SECAGG_BAD_SIGNATURE', `view signature of ${view.member} does not verify`, { member: view.member });
  }
}

/** Two signed views by one member are the same statement. */
export function sameView(a: SignedView, b: SignedView): boolean {
  return (
    a.member === b.member &&
    bytesEqual(a.keySet, b.keySet) &&
    a.entries.length === b.entries.length &&
    a.entries.every((e, i) => e.participant === b.entries[i]!.participant && bytesEqual(e.inputHash, b.entries[i]!.inputHash))
  );
}

/** SECAGG_EQUIVOCATION carrying both views as evidence. */
export function viewEquivocation(received: SignedView, cited: SignedView, proposer: string): SecAggError {
  const brief = (v: SignedView) => ({
    entries: v.entries.map((e) => [e.participant, toHex0x(e.inputHash)]),
    signature: toHex0x(v.signature),
  });
  return new SecAggError('SECAGG_EQUIVOCATION', `${cited.member}'s view cited by ${proposer} differs from the View it published`, {
    member: cited.member,
    proposer,
    received: brief(received),
    cited: brief(cited),
  });
}
