/**
 * Red team F34 (H-red, 2026-12-07 late): F32's rule on the submit path — one JSON-RPC error
 * answer to the submitter's own `chargeRound` gas estimate is taken as the contract refusing the
 * lock, and the submitting member gives up for good while the charge it signed lands.
 *
 * After F32's fix (349a5fd) a failed READ keeps the member polling. The submit path still
 * refuses when its transaction "fails" while the round is open at the head with no charge ("a
 * refusal on a round still open at the head with no charge is this lock's own fault"). But ethers
 * maps ANY JSON-RPC error answer to `eth_estimateGas` (as to `eth_call`) to CALL_EXCEPTION, and
 * node/chain/errors.ts makes a CALL_EXCEPTION without revert data CHAIN_REVERTED ("reverted
 * without data"), not retried: a rate limit or a lagging backend during the estimate reads as the
 * contract refusing the charge. FedmeshFederation refuses a charge only with a custom error (a
 * participant over its cap, a signer not on the committee, …), which carries revert data.
 *
 * Real contract on in-process Hardhat; the member at position 0 (it submits as soon as it holds t
 * signatures) uses the daemon's client stack over an RPC that answers its FIRST
 * `eth_estimateGas` of `chargeRound` with a JSON-RPC error; the real LockCharger. Control: the
 * same member and RPC without the error submits and answers "charged".
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { systemClock } from '../../node/clock.js';
import { chargeMember, flakyMemberClient } from './charge-member-fixture.js';
import { chargeFor, chargeWith, deployFed, FED_IFACE, hash, INITIAL, openNext, recordFor } from './federation-fixture.js';

let chain: InProcessChain;

beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

describe('F34: a failed gas estimate is not the contract refusing the charge', () => {
  /**
   * The submitting member's answer when its RPC answers its first chargeRound estimate
   * (`'estimate'`) or its first transaction broadcast (`'send'`, with `message`) with a JSON-RPC
   * error, or nothing (undefined); the later members land the charge after that attempt.
   */
  async function submitterAnswer(failOnce?: 'estimate' | 'send', message?: string) {
    const fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5] });
    const { round, committee } = await openNext(chain, fed);
    const me = committee[0]!;
    const participants = [4, 5];
    const lock = hash(0x54);
    const chargeSelector = FED_IFACE.getFunction('chargeRound')!.selector;
    let attempts = 0;
    const { client, close } = await flakyMemberClient(chain, fed, me, (method, call) => {
      const estimate =
        method === 'eth_estimateGas' && call?.to?.toLowerCase() === fed.address.toLowerCase() && call.data?.startsWith(chargeSelector);
      // The member sends no other transaction: its one broadcast is the charge.
      const send = method === 'eth_sendRawTransaction';
      if (!(failOnce === 'send' ? send : estimate)) return false;
      attempts++;
      return failOnce !== undefined && attempts === 1 ? (message ?? true) : false;
    });
    const member = await chargeMember({ chain, fed, round, committee, me, lock, participants, client, position: 0 });
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
    // A second committee member's signature reaches it over the charge topic: it holds t = 2 and submits.
    await member.gossipSignature(committee[2]!);
    // Wait (on events) until the member has tried to submit once.
    while (attempts === 0 && !answered) await systemClock.sleep(20);
    // The members whose turns come later submit the same public signatures (any peer may).
    if (failOnce !== undefined)
      await chargeWith(chain, fed, chargeFor(recordFor(chain, round, INITIAL, participants), lock), [committee[1]!, committee[2]!], 6);
    const result = await answer.catch((e: unknown) => ({ rejected: String(e) }));
    member.close();
    close();
    return result;
  }

  it('one JSON-RPC error on the chargeRound estimate, then the charge lands: the submitter still answers "charged" (reveals)', async () => {
    // Safe (F21's rule): the chain charged exactly this lock's U_3, so the member reveals.
    // Today: refusal CHAIN_REVERTED ("chargeRound reverted without data") from the one bad answer.
    expect(await submitterAnswer('estimate')).toMatchObject({ charged: true });
  }, 120_000);

  it('control: the same submitter and RPC without the error lands the charge and answers "charged"', async () => {
    expect(await submitterAnswer()).toMatchObject({ charged: true, submitted: true });
  }, 120_000);

  // F36 (H-red, 22:47): the same on the broadcast. 280664f retries a transport failure or a revert
  // without data; any other error is rethrown, and `charge` rejects (the driver turns a rejection
  // into the refusal CHARGE_FAILED: no reveal, for good). A broadcast answered "nonce too low"
  // (ethers NONCE_EXPIRED: a nonce race with the member's own queue, or a node that saw the
  // transaction through another path) is no answer from the contract either.
  it('one "nonce too low" answer to the charge broadcast, then the charge lands: the submitter still answers "charged" (reveals)', async () => {
    // Safe (F21's rule): the chain charged exactly this lock's U_3, so the member reveals.
    // Today: `charge` rejects with ethers' NONCE_EXPIRED (the driver's CHARGE_FAILED refusal).
    expect(await submitterAnswer('send', 'nonce too low')).toMatchObject({ charged: true });
  }, 120_000);
});
