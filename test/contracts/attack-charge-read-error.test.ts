import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { systemClock } from '../../node/clock.js';
import { chargeMember, flakyMemberClient } from './charge-member-fixture.js';
import { chargeFor, chargeWith, deployFed, FED_IFACE, hash, INITIAL, openNext, recordFor } from './federation-fixture.js';

let chain: InProcessChain;

beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

describe('F32: a failed read is not the chain’s answer', () => {
  /** The member's answer when its RPC fails its first getRound eth_call (`failOnce`) or none, the charge landing after that read. */
  async function memberAnswer(failOnce: boolean) {
    const fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5] });
    const { round, committee } = await openNext(chain, fed);
    const me = committee[1]!;
    const participants = [4, 5];
    const lock = hash(0x53);
    const charge = chargeFor(recordFor(chain, round, INITIAL, participants), lock);

    // The member's RPC: the in-process chain, except that it may answer the first eth_call of
    // getRound to the federation with a JSON-RPC error (what a rate limit or a lagging backend sends).
    const getRoundSelector = FED_IFACE.getFunction('getRound')!.selector;
    let reads = 0;
    const { client, close } = await flakyMemberClient(chain, fed, me, (method, call) => {
      if (method !== 'eth_call' || call?.to?.toLowerCase() !== fed.address.toLowerCase() || !call.data?.startsWith(getRoundSelector))
        return false;
      reads++;
      return failOnce && reads === 1;
    });

    const member = await chargeMember({ chain, fed, round, committee, me, lock, participants, client });
    const answer = member.answer();
    let answered = false;
    answer.then(
      () => {
        answered = true;
      },
      () => {
        answered = true;
      },
    );
    // Wait (on events) until the member has read the round once (and, with failOnce, been failed).
    while (reads === 0 && !answered) await systemClock.sleep(20);
    // The other two members' public charge signatures land the charge (any peer may submit them).
    await chargeWith(chain, fed, charge, [committee[0]!, committee[2]!], 6);

    const result = await answer;
    member.close();
    close();
    return result;
  }

  it('one JSON-RPC error on a getRound eth_call, then the charge lands: the member still answers "charged" (reveals)', async () => {
    // Safe (F21's rule): the chain charged exactly this lock's U_3, so the member reveals.
    // Today: refusal CHAIN_REVERTED ("getRound reverted without data") from the one bad answer.
    expect(await memberAnswer(true)).toMatchObject({ charged: true });
  }, 120_000);

  it('control: the same member and RPC without the error answers "charged"', async () => {
    expect(await memberAnswer(false)).toMatchObject({ charged: true });
  }, 120_000);
});
