import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { selectCommittee } from '../../protocol/committee.js';
import { isFedmeshError } from '../../protocol/errors.js';
import {
  CommitteeStage,
  classifyRound,
  committeeMachine,
  ParticipantStage,
  participantMachine,
  planRound,
  recordTurn,
} from '../../protocol/round.js';
import { StageError } from '../../protocol/stage-machine.js';

const members = Array.from({ length: 8 }, (_, i) => `peer-${i}`);

describe('committee selection', () => {
  it('is deterministic, distinct, of the requested size and independent of list order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 8 }), (round, m) => {
        const a = selectCommittee('demo', round, members, m);
        expect(a).toHaveLength(m);
        expect(new Set(a).size).toBe(m);
        expect(a.every((x) => members.includes(x))).toBe(true);
        expect(selectCommittee('demo', round, [...members].reverse(), m)).toEqual(a);
      }),
      { numRuns: 200 },
    );
  });

  it('rotates across rounds and federations', () => {
    const seen = new Set<string>();
    for (let r = 1; r <= 50; r++) for (const x of selectCommittee('demo', r, members, 3)) seen.add(x);
    expect(seen.size).toBe(8);
    expect(selectCommittee('a', 1, members, 3)).not.toEqual(selectCommittee('b', 1, members, 3));
  });

  it('rejects impossible requests', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isFedmeshError(e) ? e.code : 'untyped';
      }
    };
    expect(code(() => selectCommittee('demo', 1, members.slice(0, 2), 3))).toBe('COMMITTEE_TOO_FEW_MEMBERS');
    expect(code(() => selectCommittee('demo', 1, ['a', 'a', 'b'], 2))).toBe('COMMITTEE_DUPLICATE_MEMBER');
    expect(code(() => selectCommittee('demo', 1, members, 0))).toBe('COMMITTEE_BAD_SIZE');
  });
});

describe('round state machines', () => {
  it('walk the documented participant path', () => {
    const m = participantMachine(1);
    m.to(ParticipantStage.Training);
    m.to(ParticipantStage.Publishing);
    m.to(ParticipantStage.AwaitingResult);
    m.to(ParticipantStage.Adopted);
    expect(m.path).toEqual(['idle', 'training', 'publishing', 'awaiting-result', 'adopted']);
  });

  it('refuse out-of-order transitions with the current and expected stages', () => {
    const m = committeeMachine(4);
    try {
      m.to(CommitteeStage.Recording);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(StageError);
      const err = e as StageError;
      expect(err.code).toBe('STAGE_UNEXPECTED');
      expect(err.fields).toEqual({ machine: 'committee[r=4]', current: 'collecting', expected: ['aggregating'], next: 'recording' });
    }
    m.to(CommitteeStage.Failed);
    expect(() => m.to(CommitteeStage.Done)).toThrow(StageError);
  });

  it('plans committees, deadlines and recording turns from explicit times', () => {
    const timing = { collectMs: 1000, recordGraceMs: 200 };
    const plan = planRound({ federation: 'demo', committeeSize: 3, timing }, 2, members, 5000);
    expect(plan.collectDeadline).toBe(6000);
    expect(plan.committee).toEqual(selectCommittee('demo', 2, members, 3));
    expect(recordTurn(plan, 2, timing)).toBe(6400);
    expect(classifyRound(5, 5)).toBe('current');
    expect(classifyRound(6, 5)).toBe('next');
    expect(classifyRound(4, 5)).toBe('stale');
    expect(classifyRound(7, 5)).toBe('future');
  });
});
