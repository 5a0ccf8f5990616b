/**
 * Red team (issue 14 H-1 one layer up; H8's finding F2, fixed in af6613a): a round must never
 * unmask more inputs than a round record can list (protocol/chain/record.ts MAX_RECORD_ENTRIES,
 * the contract's MAX_PARTICIPANTS = 400), or the sum is released and the round can only abort.
 * With 402 participants that all shared their keys, the key-set leader certifies the first 400
 * by id, and a leader that proposes all 402 is refused by every honest member.
 */
import { describe, expect, it } from 'vitest';
import { MAX_RECORD_ENTRIES } from '../../protocol/chain/record.js';
import { codeOf, config } from './secagg-helpers.js';
import { setupRound, shareKeys } from './secagg-round-harness.js';

describe('a key set never certifies more participants than a record holds', () => {
  it('402 participants: the leader proposes the first 400 (endorsed), all 402 is refused (SECAGG_TOO_MANY_PARTICIPANTS)', () => {
    const r = setupRound({ n: MAX_RECORD_ENTRIES + 2, m: 7, t: 5, config: config(), seed: 'record-limit', d: 1 });
    shareKeys(r);
    const leader = r.members.get(r.committee[0]!)!;
    const honest = leader.proposeKeySet(0);
    expect(honest.advertised).toHaveLength(MAX_RECORD_ENTRIES + 2);
    expect(honest.shared).toEqual([...r.parties].sort().slice(0, MAX_RECORD_ENTRIES));
    const greedy = { ...honest, shared: [...r.parties].sort() };
    for (const id of r.committee.slice(1)) {
      expect(codeOf(() => r.members.get(id)!.onKeySetProposal(greedy, { now: 0, turnStart: (t) => t * 1000 }))).toBe(
        'SECAGG_TOO_MANY_PARTICIPANTS',
      );
    }
    const clock = { now: 0, turnStart: (t: number) => t * 1000 };
    const endorsed = r.committee.filter((id) => r.members.get(id)!.onKeySetProposal(honest, clock) !== undefined);
    expect(endorsed).toHaveLength(7);
  }, 60_000);
});
