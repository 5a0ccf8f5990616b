/**
 * Red team (H-red, finding F22): one committee member ends the round for every other member with
 * a single signed Result message. The round machine treats any stored Result as "the round was
 * recorded without waiting for us" (machine/store.ts `resultSeen`) and every wait ends on it:
 * the key-set, view and lock phases then give up as lagging (committee-stages.ts `lagged`), the
 * participants stop waiting too. The inbox accepts a Result from any committee member whose
 * signature over its own statement verifies (protocol/validate.ts, step 6) — nothing ties it to a
 * record on chain or to t signers. So one active member (within the bound: c = 2t − m − 1) aborts
 * every round it is drawn on, before anything is revealed, although t honest members are live:
 * the t-of-m redundancy that tolerates m − t absent members does not hold against one that speaks.
 * On the F18 branch (charge at the lock) the same message sent after the honest members asked for
 * the charge and before they reveal leaves a charge with no release (F21, one member, no network).
 *
 * Fixed on branch `lock` (H-lock): a wait ends on Results only when t distinct committee members
 * signed one statement (machine/store.ts `resultSeen`); the safe property is asserted.
 *
 * Driven on the real round machine (attack-machine-driver.ts), (m, t) = (5, 3), 7 participants.
 */
import { describe, expect, it } from 'vitest';
import { fromHex0x } from '../../protocol/bytes.js';
import { type ResultMsg, resultStatement, SecAggKind } from '../../protocol/messages/secagg.js';
import { driveRound, HEAD, ROUND } from './attack-machine-driver.js';
import { testSign } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const M = 5;
const T = 3;
const MALICIOUS = 'peer-004'; // committee position 4

/** A Result for the current round signed by `sender` over a made-up statement. */
function bogusResult(sender: string): ResultMsg {
  const result = {
    prevModelHash: fromHex0x(HEAD),
    modelHash: new Uint8Array(32).fill(0xee),
    participantsHash: new Uint8Array(32).fill(0xdd),
    totalSamples: 1,
  };
  const scope = { binding: TEST_BINDING, federation: 'fed', round: ROUND };
  return {
    kind: SecAggKind.Result,
    federation: 'fed',
    round: ROUND,
    sender,
    result,
    signature: testSign(sender)(resultStatement(scope, result)),
  };
}

function run(inject: boolean) {
  return driveRound({ seed: 'bogus-result', n: 7, m: M, t: T, ...(inject ? { inject: [bogusResult(MALICIOUS)] } : {}) });
}

/** The bogus Result sent once the first honest Reveal is on the wire (the member saw it). */
function runAfterReveal() {
  let sent = false;
  return driveRound({
    seed: 'bogus-result',
    n: 7,
    m: M,
    t: T,
    onEffect: (from, e, ctl) => {
      if (!sent && from !== MALICIOUS && e.type === 'publish' && e.message.kind === SecAggKind.Reveal) {
        sent = true;
        const r = bogusResult(MALICIOUS);
        for (const to of ['peer-000', 'peer-001', 'peer-002', 'peer-003', 'peer-005', 'peer-006'])
          ctl.push(to, { type: 'received', now: ctl.now(), messages: [r], inputs: [] });
      }
      return false;
    },
  });
}

describe('one committee member’s signed Result ends everyone’s round (F22)', () => {
  it('control: the round records with every member', () => {
    const o = run(false);
    expect(o.records.length).toBe(M);
    expect(o.reveals.length).toBe(M);
  });

  it('fixed (H-lock, branch lock): sent after the first reveal, it no longer stops the unmasking: the honest members record', () => {
    const o = runAfterReveal();
    expect(o.reveals.filter((x) => x !== MALICIOUS).length).toBeGreaterThanOrEqual(T);
    expect(o.records.filter((r) => r.member !== MALICIOUS).length).toBeGreaterThanOrEqual(T);
  });

  it('safe: a Result that no record on chain backs does not end the honest members’ round', () => {
    const o = run(true);
    // The four honest members (≥ t) reveal and record as in the control.
    expect(o.records.filter((r) => r.member !== MALICIOUS).length).toBeGreaterThanOrEqual(T);
  });
});
