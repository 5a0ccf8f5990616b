/**
 * Red team (H-red, finding F20): a participant that sends two different masked inputs — one to
 * some committee members, another to the rest — under the node's round machine
 * (protocol/secure-aggregation/machine/). Views carry each member's input hash, and the lock's
 * U_3 keeps the participant with the hash that t cited views agree on (h1). A member that holds
 * the other version (h2) still endorses (its (p, h2) entry is in fewer than t views, so the F12
 * lock rule does not fire), reveals, and then unmasks with ITS OWN copy: committee-stages.ts
 * `unmask` passes `store.inputs` to `member.unmask` and takes each survivor's declaration from
 * `store.inputs` too, never comparing the copy's hash with the lock's `inputHash` for that
 * survivor. So honest members that followed one certified lock compute different sums (and
 * different dpParams lines) and sign different records.
 *
 * Consequences: (1) liveness after the reveal — with the honest h1 holders short of t signers
 * (one member offline or withholding its record signature, which c ≤ 2t − m − 1 active members
 * may do), no record reaches t signatures: the round aborts after the unmasking, its release
 * charged on no chain ledger (F18's second route, by a bit flip that passes decodeSum's bounds
 * and therefore also escapes a bounds-only fix); (2) for the on-chain charge at the lock (F18 fix
 * in progress): the dpParams charged for a survivor must be those of the input whose hash the lock
 * names, not each member's own copy.
 *
 * Fixed on branch `lock` (H-lock): `unmask` (and, with a ledger, the charge request) uses only the
 * copy whose hash the lock names; a member holding another abstains. The safe property is asserted.
 *
 * The round is driven exactly as machine/simulation.ts drives it (one FIFO queue, manual clock,
 * effects answered at once), except that the attacker's `publish-input` reaches members 3 and 4
 * (of 5, t = 3) as a second version: one masked word + 1 and other dpParams.
 */
import { describe, expect, it } from 'vitest';
import { hash256 } from '../../protocol/bytes.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import { encodeDpParams, NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { decodeMaskedInput, encodeMaskedInput } from '../../protocol/messages/masked-input.js';
import type { ReceivedInput } from '../../protocol/secure-aggregation/machine/index.js';
import { driveRound } from './attack-machine-driver.js';

const M = 5;
const T = 3;
const OTHER_DP = encodeDpParams({ sampleRate: 0.5, noiseMultiplier: 50, clipNorm: 1, steps: 1 });

interface RecordSeen {
  readonly member: string;
  readonly modelHash: Hex32;
  readonly contributors: readonly string[];
  readonly dpParamsOfAttacker: bigint | undefined;
}

/** One round; `attacker` (if any) shows `variantTo` a second version of its masked input. */
function run(attacker: string | undefined, variantTo: ReadonlySet<string>): { records: RecordSeen[] } {
  let variant: ReceivedInput | undefined;
  const { records } = driveRound({
    seed: 'input-equivocation',
    n: 8,
    m: M,
    t: T,
    inputFor: (from, input, to) => {
      if (from !== attacker || !variantTo.has(to)) return input;
      // Same neighbours and base model; one masked word + 1 (within every bound) and other dpParams.
      if (variant === undefined) {
        const masked = input.input.masked.slice();
        masked[0] = (masked[0]! + 1) >>> 0;
        const bytes = encodeMaskedInput({ ...input.input, masked, dpParams: OTHER_DP });
        variant = { sender: from, payloadHash: hash256(bytes), input: decodeMaskedInput(bytes, input.input.masked.length) };
      }
      return variant;
    },
  });
  return {
    records: records.map((r) => ({
      member: r.member,
      modelHash: r.request.modelHash,
      contributors: r.request.contributors,
      dpParamsOfAttacker: attacker === undefined ? undefined : r.request.declarations?.get(attacker)?.dpParams,
    })),
  };
}

const ATTACKER = 'peer-007';
const B = new Set(['peer-003', 'peer-004']); // 2 of 5 members get the second version; 3 = t agree on the first

describe('a participant equivocating its masked input between committee members (F20)', () => {
  it('control: without equivocation every committee member records the same model and lines', () => {
    const { records } = run(undefined, new Set());
    expect(records.length).toBe(M);
    expect(new Set(records.map((r) => r.modelHash)).size).toBe(1);
  });

  it('fixed (H-lock, branch lock): the members holding the other copy abstain; the others record the locked sum and its lines', () => {
    const { records } = run(ATTACKER, B);
    // committee-stages.ts `unmask` now compares each survivor's held copy with the lock's input
    // hash (SECAGG_CANNOT_FOLLOW, reason 'input-copy'): the h2 holders sign nothing.
    expect(records.map((r) => r.member).filter((m) => B.has(m))).toEqual([]);
    expect(records.length).toBe(T);
    for (const r of records) expect(r.contributors).toContain(ATTACKER);
    expect(records.every((r) => r.dpParamsOfAttacker === NO_DP_PARAMS)).toBe(true);
  });

  it('safe: every member that follows a lock unmasks exactly the locked inputs (or abstains): one record', () => {
    const { records } = run(ATTACKER, B);
    // Members holding a copy whose hash is not the lock's fetch the locked one or do not unmask;
    // every record request names the same model and the same dpParams for the attacker.
    expect(new Set(records.map((r) => r.modelHash)).size).toBe(1);
    expect(new Set(records.map((r) => r.dpParamsOfAttacker)).size).toBe(1);
  });
});
