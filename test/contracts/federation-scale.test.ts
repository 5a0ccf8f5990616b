/**
 * Issue 14 item 1 and finding H-1: a federation of 1,000 members finalizes a round of the
 * contract's maximum participant count (MAX_PARTICIPANTS = 400), below 10M gas; the record has
 * no per-member list, so nothing grows with the 600 members that did not take part.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { INITIAL, view } from './federation-fixture.js';
import { deployLarge, largeRound } from './federation-large.js';

let chain: InProcessChain;
beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

describe('1,000 members', () => {
  it('a round of 400 participants finalizes under 10M gas and charges every one of them', async () => {
    const large = await deployLarge(chain, 1000, { m: 5, t: 3 });
    expect(await view(large.fed.contract, 'activeMemberCount')).toBe(1000n);
    const max = Number(await view(large.fed.contract, 'MAX_PARTICIPANTS'));
    expect(max).toBe(400);
    const participants = large.members.slice(large.members.length - max);
    const r = await largeRound(chain, large, participants, INITIAL, 3);
    expect(r.finalize).toBeLessThan(10_000_000n);
    expect(await view(large.fed.contract, 'lastFinalizedRound')).toBe(1n);
    for (const p of [participants[0]!, participants[max - 1]!]) {
      expect(await view(large.fed.contract, 'rdpOf', p)).toBe(r.record.participants[0]!.spend);
    }
  }, 600_000);
});
