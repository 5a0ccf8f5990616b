/**
 * The round machine's lock leader and F26 (committee-member.ts `chooseViews`): a leader whose
 * Views admit no lock without a one-View omission proposes nothing (SECAGG_TOO_FEW_VIEWS, reason
 * 'omission-by-one-view', counted) and tries again in the same turn once it holds more Views
 * (committee-stages.ts `lockRetry`). Driven only through `step` (./attack-machine-driver.ts).
 * Turn 0's leader (position 0) first holds the Views of 0–3 and a View of position 6 that lacks
 * one participant's input (as if it arrived late there; re-signed with 6's test key); every
 * choice of five of those leaves that input out on one View's say. The Views of 4 and 5 reach it
 * 300 ms later, inside its turn (recordGraceMs = 1 s): it then proposes at turn 0 a lock keeping
 * every input, and the round records all nine. Without the retry the first lock would come from
 * turn 1's leader.
 */
import { describe, expect, it } from 'vitest';
import { decodeSecAgg, encodeSecAgg, SecAggKind, type SecAggMessage, type ViewMsg, viewStatement } from '../../protocol/messages/secagg.js';
import type { RoundEvent } from '../../protocol/secure-aggregation/machine/index.js';
import { type Control, driveRound, ROUND } from './attack-machine-driver.js';
import { testSign } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

const wire = <T extends SecAggMessage>(m: T): T => decodeSecAgg(encodeSecAgg(m)) as T;
const received = (ctl: Control, m: SecAggMessage): RoundEvent => ({ type: 'received', now: ctl.now(), messages: [wire(m)], inputs: [] });
const scope = { binding: TEST_BINDING, federation: 'fed', round: ROUND };

describe('round machine: lock leader retries in its turn when more Views arrive (F26)', () => {
  it('no safe lock from five Views (one lacks an input), then seven: turn 0’s leader proposes at turn 0, every input kept, all nine recorded', () => {
    const LEADER = 'peer-000';
    const LATE_AT = 'peer-006';
    const victim = 'peer-008';
    const everyone = ['peer-000', 'peer-001', 'peer-002', 'peer-003', 'peer-004', 'peer-005', 'peer-006', 'peer-007', victim];
    const proposals: { from: string; turn: number; dropped: readonly string[] }[] = [];
    const r = driveRound({
      seed: 'machine-lock-retry',
      n: 9,
      m: 7,
      t: 5,
      onEffect: (from, e, ctl) => {
        if (e.type !== 'publish') return false;
        const m = e.message;
        if (m.kind === SecAggKind.Proposal) proposals.push({ from, turn: m.turn, dropped: m.dropped });
        if (m.kind !== SecAggKind.View) return false;
        const others = everyone.filter((to) => to !== from);
        if (from === LATE_AT) {
          const entries = m.view.entries.filter((x) => x.participant !== victim);
          const lacking: ViewMsg = {
            ...m,
            view: { ...m.view, entries, signature: testSign(LATE_AT)(viewStatement(scope, LATE_AT, m.view.keySet, entries)) },
          };
          for (const to of others) ctl.push(to, received(ctl, lacking));
          return true;
        }
        if (from === 'peer-004' || from === 'peer-005') {
          for (const to of others) {
            if (to === LEADER) ctl.hold(ctl.now() + 300, to, received(ctl, m));
            else ctl.push(to, received(ctl, m));
          }
          return true;
        }
        return false;
      },
    });
    expect(r.codes).toContain('SECAGG_TOO_FEW_VIEWS');
    expect(proposals[0]).toEqual({ from: LEADER, turn: 0, dropped: [] });
    expect(r.records.length).toBeGreaterThanOrEqual(5);
    for (const x of r.records) expect(x.request.contributors).toEqual(r.parties);
  });
});
