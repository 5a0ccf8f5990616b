/**
 * Red team (H-red, finding F21, with F22's one-member variant): charge before release (the F18
 * fix) leaves a window between the time a committee member stops waiting for the charge and the
 * time the chain stops accepting `chargeRound` (the round's finalize deadline). The t committee
 * signatures over RoundCharge and every entry signature are public gossip, so anyone holding
 * them can submit the charge inside that window.
 *   - late: a network that delivers each member's charge signature to the adversary at once and
 *     to the other members only after their `until` (node/services/lock-charger.ts answers
 *     CHARGE_DEADLINE there; committee-stages.ts `lockUntil`) makes every member abstain — nothing
 *     is revealed — and then lands the charge;
 *   - result: one committee member publishes a signed Result (F22) once the others asked for the
 *     charge and before the chain answers: every honest member leaves the lock phase as lagging
 *     without revealing, while the charge lands.
 * Either way every participant of U_3 was charged a round's spend for a release that never happened.
 * Driven on the round machine with `chargesLock` (attack-machine-driver.ts).
 *
 * Fixed on branch `lock` (H-lock): a member that asked for the charge waits for the chain's answer
 * (committee-stages.ts `lockUntil`: no machine deadline once asked; lock-charger.ts answers when
 * the charge lands, the contract refuses it or the round is no longer open on chain) and a Result
 * does not end that wait; so a charged lock is revealed for. The red team's test (prepared against
 * c10660d, /tmp/red-f21) is kept with its safe properties asserted; "late" now holds the answer ten
 * minutes (the request's `until` is +∞: there is no give-up time to be late against).
 */
import { describe, expect, it } from 'vitest';
import { fromHex0x } from '../../protocol/bytes.js';
import type { Hex32 } from '../../protocol/chain/record.js';
import { type ResultMsg, resultStatement, SecAggKind } from '../../protocol/messages/secagg.js';
import type { RoundEvent } from '../../protocol/secure-aggregation/machine/index.js';
import { driveRound, HEAD, ROUND } from './attack-machine-driver.js';
import { testSign } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const M = 5;
const T = 3;
const MALICIOUS = 'peer-004';

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

/** `mode`: the charge's answer in time, after each member's `until`, or in time but after one member's bogus Result. */
function run(mode: 'in-time' | 'late' | 'result') {
  let charged: { lock: Hex32; contributors: readonly string[] } | undefined;
  let resultSent = false;
  const o = driveRound({
    seed: 'late-charge',
    n: 7,
    m: M,
    t: T,
    extra: { chargesLock: true },
    onEffect: (from, e, ctl) => {
      if (e.type !== 'charge-lock') return false;
      // The chain takes the first lock's charge (t signatures exist: every member asked for it).
      charged ??= { lock: e.request.lock, contributors: [...e.request.contributors] };
      const answer: RoundEvent = { type: 'lock-charged', now: ctl.now(), lock: charged.lock };
      if (mode === 'late') ctl.hold(ctl.now() + 600_000, from, answer);
      else if (mode === 'result') {
        if (!resultSent) {
          resultSent = true;
          const r = bogusResult(MALICIOUS);
          for (const to of ['peer-000', 'peer-001', 'peer-002', 'peer-003', 'peer-005', 'peer-006'])
            ctl.push(to, { type: 'received', now: ctl.now(), messages: [r], inputs: [] });
        }
        ctl.hold(ctl.now() + 1, from, answer);
      } else ctl.push(from, answer);
      return true;
    },
  });
  return { ...o, charged };
}

describe('a charge without a release (F21; F22 on the F18 branch)', () => {
  it('control: answered in time, the charged lock is revealed for and recorded', () => {
    const o = run('in-time');
    expect(o.charged).toBeDefined();
    expect(o.reveals.length).toBeGreaterThanOrEqual(T);
    expect(o.records.length).toBeGreaterThan(0);
  });

  it('the charge answered ten minutes late: nobody gave up; U_3 charged and revealed for, none abstained NOT_CHARGED', () => {
    const o = run('late');
    expect(o.charged?.contributors.length).toBe(7);
    expect(o.codes.filter((c) => c === 'SECAGG_NOT_CHARGED')).toEqual([]);
  });

  it('safe (late): a lock the ledger charged is revealed for', () => {
    const o = run('late');
    expect(o.charged).toBeDefined();
    expect(o.reveals.length).toBeGreaterThanOrEqual(T);
  });

  it('safe (one member’s Result): a lock the ledger charged is revealed for by the honest members', () => {
    const o = run('result');
    expect(o.charged).toBeDefined();
    expect(o.reveals.filter((s) => s !== MALICIOUS).length).toBeGreaterThanOrEqual(T);
  });
});
