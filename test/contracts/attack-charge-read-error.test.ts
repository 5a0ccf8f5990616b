/**
 * Red team F32 (H-red, 2026-12-07 late): one failed chain read makes a committee member give up on
 * its lock's charge for good, while the charge it signed can still land.
 *
 * F21's rule (node/services/lock-charger.ts header): a member that signed the charge keeps
 * watching while the chain still accepts it — its signature is public gossip, so anyone holding t
 * of them can land `chargeRound` until the finalize deadline, and a charge landing after every
 * member gave up charges U_3 for a release that never comes. The poll loop, however, turns ANY
 * FedmeshError thrown by a read into a permanent refusal (`catch … return refuse(e.code, …)`), and
 * the node's chain client classifies every JSON-RPC error answer to an `eth_call` as a revert:
 * ethers maps a failed `eth_call` to CALL_EXCEPTION whatever the message, node/chain/errors.ts
 * `classifyChainError` makes that CHAIN_REVERTED ("reverted without data"), which
 * ResilientFederationClient does not retry (only CHAIN_UNAVAILABLE is transient). Real providers
 * answer `eth_call` with such errors routinely: rate limits (-32005 over HTTP 200), "header not
 * found" from a load-balanced backend behind the head — more likely since F30's fix reads the
 * round at a numbered block (head − confirmations + 1). One such answer and the member refuses
 * (no reveal) although the chain is fine and the charge lands a moment later; if the members share
 * the provider's bad minute, all of them refuse and the public signatures charge U_3 for nothing.
 *
 * Real contract on in-process Hardhat; the member's client is the daemon's stack
 * (EthersFederationClient over an ethers JSON-RPC provider, inside ResilientFederationClient)
 * whose RPC answers ONE `eth_call` of `getRound` with a JSON-RPC error; the real LockCharger.
 */
import { BrowserProvider, HDNodeWallet, type Eip1193Provider } from 'ethers';
import { beforeAll, describe, expect, it } from 'vitest';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { ResilientFederationClient } from '../../node/chain/resilient.js';
import { systemClock } from '../../node/clock.js';
import { chargeMember } from './charge-member-fixture.js';
import { chargeFor, chargeWith, deployFed, FED_IFACE, hash, INITIAL, openNext, recordFor, signerOf } from './federation-fixture.js';

let chain: InProcessChain;

beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

/** Hardhat's default accounts (its public test mnemonic), as wallets the test can connect anywhere. */
const HARDHAT_MNEMONIC = 'test test test test test test test test test test test junk';

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
    const rpc: Eip1193Provider = {
      request: async ({ method, params }) => {
        const call = (params as { to?: string; data?: string }[] | undefined)?.[0];
        if (method === 'eth_call' && call?.to?.toLowerCase() === fed.address.toLowerCase() && call.data?.startsWith(getRoundSelector)) {
          reads++;
          if (failOnce && reads === 1) throw Object.assign(new Error('header not found'), { code: -32000 });
        }
        return chain.provider.send(method, (params ?? []) as unknown[]);
      },
    };
    const provider = new BrowserProvider(rpc, Number(await chain.provider.send('eth_chainId', [])));
    const wallet = HDNodeWallet.fromPhrase(HARDHAT_MNEMONIC, undefined, `m/44'/60'/0'/0/${me}`).connect(provider);
    expect(wallet.address).toBe(signerOf(chain, me).address);
    const client = new ResilientFederationClient(
      new EthersFederationClient(wallet, fed.address, { fromBlock: fed.blockNumber, pollIntervalMs: 10 }),
      { provider, pollIntervalMs: 10 },
    );

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
    client.close();
    provider.destroy();
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
