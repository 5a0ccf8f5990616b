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
  validationGate,
} from '../../protocol/round.js';
import { binaryLogLoss, LOG_LOSS_EPSILON } from '../../node/services/validation-gate.js';
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

describe('validation gate (defence b)', () => {
  it('signs within the margin, refuses beyond it or on a non-finite candidate', () => {
    expect(validationGate(0.3, 0.34, 0.05).sign).toBe(true);
    expect(validationGate(0.3, 0.35, 0.05).sign).toBe(true);
    expect(validationGate(0.3, 0.36, 0.05).sign).toBe(false);
    expect(validationGate(0.3, 0.1, 0).sign).toBe(true);
    expect(validationGate(0.3, Number.NaN, 1).sign).toBe(false);
    expect(validationGate(0.3, Number.POSITIVE_INFINITY, 1).sign).toBe(false);
    // Nothing to compare with: a finite candidate passes.
    expect(validationGate(Number.NaN, 0.7, 0).sign).toBe(true);
    expect(validationGate(0.3, 0.5, 0.05)).toEqual({ sign: false, baseLoss: 0.3, candidateLoss: 0.5, margin: 0.05 });
  });

  it('refuses a bad margin with ROUND_BAD_CONFIG', () => {
    for (const m of [-0.01, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => validationGate(0.3, 0.3, m)).toThrow(expect.objectContaining({ code: 'ROUND_BAD_CONFIG' }));
    }
  });

  it('binaryLogLoss is the mean clamped cross-entropy', () => {
    expect(binaryLogLoss([1, 0], [0.5, 0.5])).toBeCloseTo(Math.log(2), 12);
    expect(binaryLogLoss([1], [0])).toBeCloseTo(-Math.log(LOG_LOSS_EPSILON), 6);
    expect(binaryLogLoss([0, 1], [0.1, 0.8])).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8)) / 2, 12);
    expect(binaryLogLoss([1], [Number.NaN])).toBeNaN();
  });
});
