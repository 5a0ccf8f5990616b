/**
 * Red team (issue 14 items 3–4): the committee's admission check (protocol/chain/declaration.ts
 * `checkAdmission`) must say exactly what `finalizeRound` will accept for a participant line, or
 * a round gets unmasked with a line the contract refuses (released, charged to nobody) — or an
 * honest input is dropped for nothing. Each case is an adversarial line a participant can send
 * (its own signature made for another round, deployment, chain, member or DP word; no
 * signature; no DP in a DP federation; a spend past the cap it lowered before the round; exactly
 * at the cap), checked both ways on the real bytecode: the pure verdict from chain reads, and
 * `finalizeRound` as a static call with that line and t committee signatures.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { cAlpha, encodeEpsilonCap, epsilonFromPacked } from '../../protocol/chain/budget.js';
import { type AdmissionRefusal, checkAdmission } from '../../protocol/chain/declaration.js';
import { declaredSpend, NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { participantEntry, signParticipantEntry } from '../../protocol/chain/participant-entry.js';
import { canonicalRoundRecord, toTypedValue } from '../../protocol/chain/record.js';
import { Signature } from 'ethers';
import { as, DP_PARAMS, deployFed, FED_IFACE, INITIAL, hash, openNext, send, sign, signerOf, view } from './federation-fixture.js';

let chain: InProcessChain;
beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

const addr = (i: number) => signerOf(chain, i).address;

interface Case {
  readonly name: string;
  /** Who signs the entry (signer index), for which round offset, deployment, chain and word; undefined: unsigned. */
  readonly signer?: number;
  readonly roundOffset?: number;
  readonly otherContract?: boolean;
  readonly chainId?: bigint;
  readonly signedWord?: bigint;
  /** The word the line declares. */
  readonly word: bigint;
  /** Cap the member lowers to before the round opens (ε, float), if any. */
  readonly lowerCapTo?: (spendEpsilon: number) => number;
  readonly dpRequired: boolean;
  /** What the committee must decide (so every case is meaningful, not only consistent). */
  readonly verdict: AdmissionRefusal | undefined;
}

const cases: Case[] = [
  { name: 'honest line', verdict: undefined, signer: 1, word: DP_PARAMS, dpRequired: true },
  { name: 'no signature', verdict: 'ENTRY_UNSIGNED', word: DP_PARAMS, dpRequired: false },
  { name: 'signature for a later round', verdict: 'ENTRY_UNSIGNED', signer: 1, roundOffset: 2, word: DP_PARAMS, dpRequired: false },
  { name: 'signature for the next round', verdict: 'ENTRY_UNSIGNED', signer: 1, roundOffset: 1, word: DP_PARAMS, dpRequired: false },
  { name: 'signature for another contract', verdict: 'ENTRY_UNSIGNED', signer: 1, otherContract: true, word: DP_PARAMS, dpRequired: false },
  { name: 'signature for another chain id', verdict: 'ENTRY_UNSIGNED', signer: 1, chainId: 1n, word: DP_PARAMS, dpRequired: false },
  { name: 'another member’s signature', verdict: 'ENTRY_UNSIGNED', signer: 2, word: DP_PARAMS, dpRequired: false },
  {
    name: 'signature over a smaller DP word',
    verdict: 'ENTRY_UNSIGNED',
    signer: 1,
    signedWord: DP_PARAMS + (1n << 64n),
    word: DP_PARAMS,
    dpRequired: false,
  },
  { name: 'no DP in a DP federation', verdict: 'DP_REQUIRED', signer: 1, word: NO_DP_PARAMS, dpRequired: true },
  { name: 'no DP in a federation without the policy', verdict: undefined, signer: 1, word: NO_DP_PARAMS, dpRequired: false },
  {
    name: 'cap lowered below the spend before the round',
    verdict: 'OVER_CAP',
    signer: 1,
    word: DP_PARAMS,
    lowerCapTo: (e) => e / 2,
    dpRequired: true,
  },
  {
    name: 'cap lowered to exactly the spend before the round',
    verdict: undefined,
    signer: 1,
    word: DP_PARAMS,
    lowerCapTo: (e) => e,
    dpRequired: true,
  },
];

describe('checkAdmission agrees with finalizeRound on every adversarial line', () => {
  for (const c of cases) {
    it(c.name, async () => {
      // Members 1–4, member 1 the participant (it may also sit on the committee: that changes nothing).
      const fed = await deployFed(chain, { members: [1, 2, 3, 4], dpRequired: c.dpRequired });
      const other = c.otherContract ? await deployFed(chain, { members: [1, 2, 3, 4] }) : undefined;
      const spend = declaredSpend(c.word);
      const C = cAlpha(1e-5);
      if (c.lowerCapTo !== undefined) {
        const eps = Number(epsilonFromPacked(spend, C)) / 1e6;
        await send(as(fed.contract, signerOf(chain, 1)), 'lowerEpsilonCap', encodeEpsilonCap(c.lowerCapTo(eps)));
      }
      const { round, committee } = await openNext(chain, fed, 2);
      const line = { member: addr(1), dpParams: c.word, spend };
      let entrySignature: string | undefined;
      if (c.signer !== undefined) {
        const signedWord = c.signedWord ?? c.word;
        const entry = { ...participantEntry(round + (c.roundOffset ?? 0), addr(1), signedWord) };
        entrySignature = await signParticipantEntry(
          signerOf(chain, c.signer),
          { chainId: c.chainId ?? 31337n, contract: (other ?? fed).address },
          entry,
        );
      }
      const verdict = checkAdmission({
        binding: { chainId: 31337n, contract: fed.address },
        round,
        member: addr(1),
        dpParams: c.word,
        ...(entrySignature !== undefined ? { entrySignature } : {}),
        dpRequired: await view<boolean>(fed.contract, 'dpRequired'),
        spentRdp: await view<bigint>(fed.contract, 'rdpOf', addr(1)),
        cAlpha: C,
        cap: await view<bigint>(fed.contract, 'epsilonCapAt', addr(1), round),
      });
      const record = canonicalRoundRecord({
        round,
        prevModelHash: INITIAL,
        modelHash: hash(40),
        aggregateHash: hash(41),
        serviceMask: 7n,
        participants: [line],
      });
      const sig = Signature.from(entrySignature ?? `0x${'11'.repeat(32)}${'22'.repeat(32)}1b`);
      const sigs = await Promise.all(committee.slice(0, 2).map((i) => sign(signerOf(chain, i), fed.address, record)));
      const outcome = await fed.contract
        .getFunction('finalizeRound')
        .staticCall(toTypedValue(record), [{ r: sig.r, vs: sig.yParityAndS }], sigs, { from: addr(5) })
        .then(
          () => 'accepted',
          (e: { data?: string }) => FED_IFACE.parseError(e.data ?? '0x')?.name ?? `undecoded ${String(e)}`,
        );
      const expected: Record<string, string> = {
        ENTRY_UNSIGNED: 'FedmeshRoundsInvalidEntrySignature',
        DP_REQUIRED: 'FedmeshRoundsDpRequired',
        OVER_CAP: 'FedmeshLedgerBudgetExceeded',
      };
      expect(verdict).toBe(c.verdict);
      expect(outcome).toBe(verdict === undefined ? 'accepted' : expected[verdict]);
    });
  }
});
