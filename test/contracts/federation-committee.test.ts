/**
 * Committee equality between protocol/chain (TypeScript) and FedmeshFederation (Solidity):
 * the contract's pure `selectCommittee` over 210 random seeds, member lists and sizes; then real
 * `openRound`s under membership churn, where an auditor's reconstruction (seed from the seed block’s
 * hash and the last record hash, active list replayed from registry events up to the snapshot block) must give
 * exactly the committee the `RoundOpened` event announced.
 */
import { getAddress, hexlify, type Log } from 'ethers';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { type ActiveListChange, nextActiveMembers, roundSeed, selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { canonicalRoundRecord, type Hex32, roundRecordStructHash, toTypedValue } from '../../protocol/chain/record.js';
import {
  as,
  deployFed,
  expectRevert,
  FED_IFACE,
  hash,
  INITIAL,
  indexOf,
  send,
  sign,
  signerOf,
  view,
  entrySigs,
  openNext,
  PROOF,
} from './federation-fixture.js';

let chain: InProcessChain;
beforeAll(async () => {
  chain = await startInProcessChain();
});

describe('committee: TypeScript reproduces Solidity', () => {
  it('selectCommittee agrees on 210 random seeds, member counts and sizes', async () => {
    const fed = await deployFed(chain, { members: [] });
    const cases = fc.integer({ min: 1, max: 64 }).chain((n) =>
      fc.record({
        seed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
        members: fc.uniqueArray(fc.uint8Array({ minLength: 20, maxLength: 20 }), {
          minLength: n,
          maxLength: n,
          selector: (a) => hexlify(a),
        }),
        m: fc.integer({ min: 0, max: n }),
      }),
    );
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(cases, async ({ seed, members, m }) => {
        const s = hexlify(seed) as Hex32;
        const list = members.map((a) => getAddress(hexlify(a)));
        const onChain = await view<string[]>(fed.lens, 'selectCommittee', s, list, m);
        expect([...onChain]).toEqual(selectCommitteeOnChain(s, list, m));
        checked++;
      }),
      { numRuns: 210, seed: 0x5eed },
    );
    expect(checked).toBe(210);
  });

  it('more seats than members reverts FedmeshRoundsTooFewActiveMembers(members, size)', async () => {
    const fed = await deployFed(chain, { members: [] });
    const list = [1, 2, 3].map((i) => signerOf(chain, i).address);
    await expectRevert(view(fed.lens, 'selectCommittee', hash(1), list, 4), 'FedmeshRoundsTooFewActiveMembers', [3n, 4n]);
  });

  it("RoundOpened's committee is what an auditor rebuilds from the logs, through 24 rounds of churn", async () => {
    const members = Array.from({ length: 10 }, (_, i) => i + 1);
    const fed = await deployFed(chain, { m: 4, t: 3, members });
    const admin = as(fed.contract, signerOf(chain, 0));
    const rng = fc.sample(fc.integer({ min: 0, max: 1_000_000 }), { numRuns: 200, seed: 42 });
    let r = 0;
    const next = () => rng[r++ % rng.length]!;
    let prevRecordHash: Hex32 = hash(0);
    let head: Hex32 = INITIAL;
    for (let round = 1; round <= 24; round++) {
      // Churn: suspend, reinstate, remove or re-add someone, keeping at least m active.
      const active = await view<string[]>(fed.lens, 'activeMembers');
      const pick = members[next() % members.length]!;
      const status = Number((await view<unknown[]>(fed.lens, 'getMember', signerOf(chain, pick).address))[0]);
      const address = signerOf(chain, pick).address;
      if (status === 1 && active.length > 5) await send(admin, next() % 2 ? 'suspendMember' : 'removeMember', address);
      else if (status === 2) await send(admin, 'reinstateMember', address);
      else if (status === 0) await send(admin, 'addMember', address, `peer-${pick}`, '', 10_000_000, PROOF);

      const opener = indexOf(chain, (await view<string[]>(fed.lens, 'activeMembers'))[0]!);
      const opened = await openNext(chain, fed, opener);
      const info = await view<{ seed: Hex32; snapshotBlock: bigint; seedBlock: bigint; committee: string[] }>(
        fed.contract,
        'getRound',
        round,
      );

      // The auditor's view: replay every registry event up to the end of the snapshot block.
      const logs = await chain.provider.getLogs({ address: fed.address, fromBlock: fed.blockNumber, toBlock: Number(info.snapshotBlock) });
      const replayed = replayActive(logs);
      const seedBlock = await chain.provider.getBlock(Number(info.seedBlock));
      const seed = roundSeed(seedBlock!.hash as Hex32, prevRecordHash, round);
      expect(info.seed).toBe(seed);
      expect([...info.committee]).toEqual(selectCommitteeOnChain(seed, replayed, 4));
      expect(opened.round).toBe(round);

      // Finalize (or, every fifth round, let it lapse) so the next seed moves on.
      if (round % 5 === 0) {
        const info = await view<unknown[]>(fed.contract, 'getRound', round);
        await chain.provider.send('evm_setNextBlockTimestamp', [Number(info[3]) + 1]);
        await send(admin, 'abortRound');
        continue;
      }
      const record = canonicalRoundRecord({
        round,
        prevModelHash: head,
        modelHash: hash(round),
        aggregateHash: hash(round),
        serviceMask: 15n,
        participants: [{ member: signerOf(chain, opener).address, dpParams: 0n, spend: 0n }],
      });
      // Members suspended or removed after the snapshot are still on the committee, but their
      // signatures no longer count: sign with the active ones.
      const committee: string[] = [];
      for (const a of info.committee) if (await view<boolean>(fed.contract, 'isActiveMember', a)) committee.push(a);
      if (committee.length < 3) {
        await chain.provider.send('evm_setNextBlockTimestamp', [Number((await view<unknown[]>(fed.contract, 'getRound', round))[3]) + 1]);
        await send(admin, 'abortRound');
        continue;
      }
      const signatures = await Promise.all(committee.slice(0, 3).map((a) => sign(signerOf(chain, indexOf(chain, a)), fed.address, record)));
      await send(admin, 'finalizeRound', toTypedValue(record), await entrySigs(chain, fed.address, record), signatures);
      prevRecordHash = roundRecordStructHash(record);
      head = hash(round);
    }
  });
});

/** The active list from registry events in log order (protocol/chain `nextActiveMembers`). */
function replayActive(logs: readonly Log[]): string[] {
  const kinds: Record<string, ActiveListChange['kind']> = {
    MemberAdded: 'added',
    MemberReinstated: 'reinstated',
    MemberSuspended: 'suspended',
    MemberRemoved: 'removed',
  };
  let active: string[] = [];
  for (const log of logs) {
    const parsed = FED_IFACE.parseLog(log);
    const kind = parsed ? kinds[parsed.name] : undefined;
    if (kind !== undefined) active = nextActiveMembers(active, { kind, account: parsed!.args.account });
  }
  return active;
}
