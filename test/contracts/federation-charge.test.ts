/**
 * `chargeRound` (red team F18): a secure round's participants are charged on chain before any
 * share is revealed, by t committee signatures over the lock and U_3's lines, with every line's
 * own entry signature; `finalizeRound` of a charged round only checks its participants hash.
 * On the compiled bytecode, in-process Hardhat.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../node/audit/run.js';
import { ChainError } from '../../node/chain/errors.js';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { addPacked, encodeEpsilonCap } from '../../protocol/chain/budget.js';
import { participantsHash, roundChargeDigest } from '../../protocol/chain/charge.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import { participantEntry } from '../../protocol/chain/participant-entry.js';
import { federationDomain, type Hex32, toTypedValue } from '../../protocol/chain/record.js';
import {
  as,
  CHAIN_ID,
  chargeFor,
  chargeWith,
  DP_PARAMS,
  deployFed,
  entrySigs,
  eventsOf,
  expectRevert,
  FED_IFACE,
  finalizeWith,
  hash,
  INITIAL,
  indexOf,
  latestTimestamp,
  nextBlockAt,
  openNext,
  recordFor,
  send,
  sign,
  signCharge,
  signerOf,
  view,
  writeAuditDeployment,
} from './federation-fixture.js';

let chain: InProcessChain;
const addr = (i: number) => signerOf(chain, i).address;
const SPEND = declaredSpend(DP_PARAMS);

/** The decoded custom error's name of a rejected send. */
async function revertName(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'none',
    (e: { data?: string }) => FED_IFACE.parseError(e.data ?? '0x')?.name ?? String(e),
  );
}

beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

describe('chargeRound: the spend is on chain before the release (F18)', () => {
  it('t committee signatures charge every line once, store the hash and emit RoundCharged', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2 });
    const { round, committee } = await openNext(chain, fed);
    const rec = recordFor(chain, round, INITIAL, [1, 2, 4]);
    const charge = chargeFor(rec);
    const before = (await view<bigint>(fed.contract, 'totalCredits')) as bigint;
    const receipt = await chargeWith(chain, fed, charge, committee.slice(0, 2));
    const events = eventsOf(receipt, fed.address);
    expect(events.map((e) => e.name)).toEqual(['RoundCharged']);
    const ev = events[0]!;
    expect(Number(ev.args.round)).toBe(round);
    expect(ev.args.lock).toBe(charge.lock);
    expect(ev.args.participantsHash).toBe(participantsHash(rec.participants));
    expect([...(ev.args.participants as { member: string }[])].map((p) => p.member)).toEqual(rec.participants.map((p) => p.member));
    for (const i of [1, 2, 4]) {
      expect(await view(fed.contract, 'rdpOf', addr(i))).toBe(SPEND);
      expect(await view(fed.contract, 'creditsOf', addr(i))).toBe(1n);
    }
    expect(await view(fed.contract, 'rdpOf', addr(3))).toBe(0n);
    expect(await view(fed.contract, 'totalCredits')).toBe(before + 3n);
    const info = await view<{ chargedHash: string; status: bigint }>(fed.contract, 'getRound', round);
    expect(info.chargedHash).toBe(participantsHash(rec.participants));
    expect(info.status).toBe(1n); // still open
  }, 120_000);

  it('the digest the committee signs is protocol/chain/charge.ts’s (a signature over it recovers to the signer)', async () => {
    const fed = await deployFed(chain);
    const { round, committee } = await openNext(chain, fed);
    const charge = chargeFor(recordFor(chain, round, INITIAL, [1]));
    const digest = roundChargeDigest(federationDomain(CHAIN_ID, fed.address), charge);
    const sig = await signCharge(signerOf(chain, committee[0]!), fed.address, charge);
    const { recoverAddress } = await import('ethers');
    expect(recoverAddress(digest, sig)).toBe(addr(committee[0]!));
  }, 120_000);

  it('quorum: t − 1 signatures, an outsider, a duplicate, or a suspended member’s do not charge', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2 });
    const { round, committee } = await openNext(chain, fed);
    const charge = chargeFor(recordFor(chain, round, INITIAL, [1, 2]));
    await expectRevert(chargeWith(chain, fed, charge, committee.slice(0, 1)), 'FedmeshRoundsInsufficientSignatures', [1n, 2n]);
    const outsider = [1, 2, 3, 4, 5, 6].find((i) => !committee.includes(i))!;
    await expectRevert(chargeWith(chain, fed, charge, [committee[0]!, outsider]), 'FedmeshRoundsSignerNotInCommittee', [addr(outsider)]);
    await expectRevert(chargeWith(chain, fed, charge, [committee[0]!, committee[0]!]), 'FedmeshRoundsDuplicateSigner', [
      addr(committee[0]!),
    ]);
    await send(as(fed.contract, signerOf(chain, 0)), 'suspendMember', addr(committee[1]!));
    await expectRevert(chargeWith(chain, fed, charge, committee.slice(0, 2)), 'FedmeshRoundsInsufficientSignatures', [1n, 2n]);
    expect(await view(fed.contract, 'rdpOf', addr(1))).toBe(0n);
  }, 120_000);

  it('replay: a charge signed for another round, another deployment or another lock, or a record signature, is not the committee’s', async () => {
    const fedA = await deployFed(chain, { m: 3, t: 3 });
    const fedB = await deployFed(chain, { m: 3, t: 3 });
    const a = await openNext(chain, fedA);
    await openNext(chain, fedB);
    const charge = chargeFor(recordFor(chain, a.round, INITIAL, [1, 2]));
    const entries = await entrySigs(chain, fedA.address, recordFor(chain, a.round, INITIAL, [1, 2]));
    const submit = (sigs: string[], c = charge) =>
      send(
        as(fedA.contract, signerOf(chain, 0)),
        'chargeRound',
        c.round,
        c.lock,
        c.participants.map((p) => [p.member, p.dpParams, p.spend]),
        entries,
        sigs,
      );
    const by = (f: (i: number) => Promise<string>) => Promise.all(a.committee.map(f));
    // Signed under fedB's domain (same chain, same committee members: every federation here has members 1..5).
    expect(await revertName(submit(await by((i) => signCharge(signerOf(chain, i), fedB.address, charge))))).toMatch(
      /FedmeshRoundsSignerNotInCommittee|FedmeshRoundsInvalidSignature/,
    );
    // Signed for another chain id.
    expect(await revertName(submit(await by((i) => signCharge(signerOf(chain, i), fedA.address, charge, 1n))))).toMatch(
      /FedmeshRoundsSignerNotInCommittee|FedmeshRoundsInvalidSignature/,
    );
    // Signed for the next round.
    expect(
      await revertName(submit(await by((i) => signCharge(signerOf(chain, i), fedA.address, { ...charge, round: a.round + 1 })))),
    ).toMatch(/FedmeshRoundsSignerNotInCommittee|FedmeshRoundsInvalidSignature/);
    // Signed for another lock.
    expect(
      await revertName(submit(await by((i) => signCharge(signerOf(chain, i), fedA.address, { ...charge, lock: hash(0x11) })))),
    ).toMatch(/FedmeshRoundsSignerNotInCommittee|FedmeshRoundsInvalidSignature/);
    // The round's record signatures are not a charge.
    const rec = recordFor(chain, a.round, INITIAL, [1, 2]);
    expect(await revertName(submit(await by((i) => sign(signerOf(chain, i), fedA.address, rec))))).toMatch(
      /FedmeshRoundsSignerNotInCommittee|FedmeshRoundsInvalidSignature/,
    );
    expect(await view(fedA.contract, 'rdpOf', addr(1))).toBe(0n);
    // The right signatures still work afterwards.
    await submit(await by((i) => signCharge(signerOf(chain, i), fedA.address, charge)));
    expect(await view(fedA.contract, 'rdpOf', addr(1))).toBe(SPEND);
  }, 120_000);

  it('a second charge reverts with the charged hash; the first stands', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2 });
    const { round, committee } = await openNext(chain, fed);
    const rec = recordFor(chain, round, INITIAL, [1, 2]);
    await chargeWith(chain, fed, chargeFor(rec), committee.slice(0, 2));
    const h = participantsHash(rec.participants);
    await expectRevert(chargeWith(chain, fed, chargeFor(rec), committee.slice(1, 3)), 'FedmeshRoundsAlreadyCharged', [BigInt(round), h]);
    const other = recordFor(chain, round, INITIAL, [3]);
    await expectRevert(chargeWith(chain, fed, chargeFor(other), committee.slice(0, 2)), 'FedmeshRoundsAlreadyCharged', [BigInt(round), h]);
    expect(await view(fed.contract, 'rdpOf', addr(1))).toBe(SPEND);
    expect(await view(fed.contract, 'rdpOf', addr(3))).toBe(0n);
  }, 120_000);

  it('a participant over its cap makes the whole charge revert: nobody is charged and the round stays uncharged', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2 });
    await send(as(fed.contract, signerOf(chain, 2)), 'lowerEpsilonCap', encodeEpsilonCap(0.001));
    const { round, committee } = await openNext(chain, fed);
    const charge = chargeFor(recordFor(chain, round, INITIAL, [1, 2]));
    expect(await revertName(chargeWith(chain, fed, charge, committee.slice(0, 2)))).toBe('FedmeshLedgerBudgetExceeded');
    expect(await view(fed.contract, 'rdpOf', addr(1))).toBe(0n);
    const info = await view<{ chargedHash: string }>(fed.contract, 'getRound', round);
    expect(BigInt(info.chargedHash)).toBe(0n);
  }, 120_000);

  it('the open-round rules apply: not the current round, or past its finalize deadline', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2 });
    const { round, committee } = await openNext(chain, fed);
    const charge = chargeFor(recordFor(chain, round, INITIAL, [1]));
    await expectRevert(chargeWith(chain, fed, { ...charge, round: round + 1 }, committee.slice(0, 2)), 'FedmeshRoundsUnexpectedRound', [
      BigInt(round),
      BigInt(round + 1),
    ]);
    const info = await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', round);
    await nextBlockAt(chain, Math.max(Number(info.finalizeDeadline), await latestTimestamp(chain)) + 1);
    await expectRevert(chargeWith(chain, fed, charge, committee.slice(0, 2)), 'FedmeshRoundsDeadlinePassed', [
      BigInt(round),
      info.finalizeDeadline,
    ]);
  }, 120_000);
});

describe('finalizeRound of a charged round', () => {
  it('names exactly the charged participants (else FedmeshRoundsChargeMismatch) and charges nobody twice', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2 });
    const { round, committee } = await openNext(chain, fed);
    const rec = recordFor(chain, round, INITIAL, [1, 2]);
    await chargeWith(chain, fed, chargeFor(rec), committee.slice(0, 2));
    const wider = recordFor(chain, round, INITIAL, [1, 2, 3]);
    await expectRevert(finalizeWith(chain, fed, wider, committee.slice(0, 2)), 'FedmeshRoundsChargeMismatch', [
      BigInt(round),
      participantsHash(rec.participants),
      participantsHash(wider.participants),
    ]);
    const credits = (await view<bigint>(fed.contract, 'totalCredits')) as bigint;
    // The entry signatures are not read for a charged round: an empty list finalizes.
    const sigs = await Promise.all(committee.slice(0, 2).map((i) => sign(signerOf(chain, i), fed.address, rec)));
    const receipt = await send(as(fed.contract, signerOf(chain, 0)), 'finalizeRound', toTypedValue(rec), [], sigs);
    expect(eventsOf(receipt, fed.address).map((e) => e.name)).toEqual(['RoundFinalized', 'RoundScheduled']);
    for (const i of [1, 2]) expect(await view(fed.contract, 'rdpOf', addr(i))).toBe(SPEND);
    // Only the service credits are minted at finalize (3 members × SERVICE_CREDIT 4).
    expect(await view(fed.contract, 'totalCredits')).toBe(credits + 12n);
    const info = await view<{ status: bigint; recordHash: Hex32 }>(fed.contract, 'getRound', round);
    expect(info.status).toBe(2n);
  }, 120_000);

  it('an uncharged round is still charged by finalizeRound (no lock: the plaintext path)', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2 });
    const { round, committee } = await openNext(chain, fed);
    await finalizeWith(chain, fed, recordFor(chain, round, INITIAL, [1, 2]), committee.slice(0, 2));
    expect(await view(fed.contract, 'rdpOf', addr(1))).toBe(SPEND);
    const info = await view<{ chargedHash: string }>(fed.contract, 'getRound', round);
    expect(BigInt(info.chargedHash)).toBe(0n);
  }, 120_000);

  it('an abort after the charge leaves the charge (the release happened)', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2 });
    const { round, committee } = await openNext(chain, fed);
    await chargeWith(chain, fed, chargeFor(recordFor(chain, round, INITIAL, [1, 2])), committee.slice(0, 2));
    const info = await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', round);
    await nextBlockAt(chain, Math.max(Number(info.finalizeDeadline), await latestTimestamp(chain)) + 1);
    await send(as(fed.contract, signerOf(chain, 1)), 'abortRound');
    expect(await view(fed.contract, 'rdpOf', addr(1))).toBe(SPEND);
    expect(await view(fed.contract, 'creditsOf', addr(1))).toBe(1n);
  }, 120_000);
});

describe('the auditor replays charges (F18): privacyBudgetOf and the audit agree', () => {
  let node: LocalChainNode;
  beforeAll(async () => {
    node = await startLocalChainNode(0);
  }, 120_000);
  afterAll(async () => {
    await node?.close();
  });

  it('a round aborted after its charge, a charged round finalized and an uncharged one: clean, budgets and credits equal the contract’s', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2 });
    // Round 1: charged, then aborted (the release happened; the sum was never recorded).
    const r1 = await openNext(chain, fed);
    await chargeWith(chain, fed, chargeFor(recordFor(chain, r1.round, INITIAL, [1, 2])), r1.committee.slice(0, 2));
    const info = await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', r1.round);
    await nextBlockAt(chain, Math.max(Number(info.finalizeDeadline), await latestTimestamp(chain)) + 1);
    await send(as(fed.contract, signerOf(chain, 1)), 'abortRound');
    // Round 2: charged, then finalized (no entry signatures at finalize).
    const r2 = await openNext(chain, fed);
    const rec2 = recordFor(chain, r2.round, INITIAL, [2, 3]);
    await chargeWith(chain, fed, chargeFor(rec2), r2.committee.slice(0, 2));
    const sigs = await Promise.all(r2.committee.slice(0, 2).map((i) => sign(signerOf(chain, i), fed.address, rec2)));
    await send(as(fed.contract, signerOf(chain, 0)), 'finalizeRound', toTypedValue(rec2), [], sigs);
    // Round 3: uncharged, charged by its finalize.
    const r3 = await openNext(chain, fed);
    const rec3 = recordFor(chain, r3.round, rec2.modelHash, [1, 4]);
    await finalizeWith(chain, fed, rec3, r3.committee.slice(0, 2));

    const report = await runAudit({ rpc: node.url, deployment: writeAuditDeployment(fed, node.chainId) });
    // The fixture registers placeholder peer id proofs (PEER_PROOF_INVALID); nothing else is found.
    expect(report.findings.filter((f) => f.severity === 'error' && f.code !== 'PEER_PROOF_INVALID')).toEqual([]);
    expect(report.rounds.map((r) => [r.status, r.chargedBlock !== undefined])).toEqual([
      ['aborted', true],
      ['finalized', true],
      ['finalized', false],
    ]);
    for (const b of report.budgets) expect(BigInt(b.rdp)).toBe(await view<bigint>(fed.contract, 'rdpOf', b.member));
    // Member 1: charged in rounds 1 and 3; member 2 in 1 and 2.
    expect(await view(fed.contract, 'rdpOf', addr(1))).toBe(addPacked(SPEND, SPEND));
    expect(report.credits.every((c) => c.expected === c.onChain)).toBe(true);
  }, 180_000);
});

describe('the chain port (EthersFederationClient): chargeRound, signRoundCharge, getChargedRound', () => {
  it('charges once; a racing second submitter of the same charge gets the landed one; another charge is CHAIN_CHARGE_MISMATCH', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2 });
    const { round, committee } = await openNext(chain, fed);
    const client = (i: number) =>
      new EthersFederationClient(signerOf(chain, i), fed.address, { pollIntervalMs: 10, fromBlock: fed.blockNumber });
    const rec = recordFor(chain, round, INITIAL, [1, 2]);
    const charge = chargeFor(rec);
    const a = client(committee[0]!);
    const b = client(committee[1]!);
    expect(await a.getChargedRound(round)).toBeUndefined();
    const sigs = [await a.signRoundCharge(charge), await b.signRoundCharge(charge)];
    const entries = await Promise.all(
      rec.participants.map((p) => client(indexOf(chain, p.member)).signParticipantEntry(participantEntry(round, p.member, p.dpParams))),
    );
    const first = await a.chargeRound(charge, entries, sigs);
    expect(first).toMatchObject({ round, lock: charge.lock, participantsHash: participantsHash(rec.participants) });
    expect(first.participants.map((p) => p.member)).toEqual(rec.participants.map((p) => p.member));
    expect((await a.getRound(round))?.chargedHash).toBe(participantsHash(rec.participants));
    // The racing second submitter: success, the landed charge.
    expect(await b.chargeRound(charge, entries, sigs)).toEqual(first);
    expect(await b.getChargedRound(round)).toEqual(first);
    // Another charge: the chain holds a different one.
    const other = chargeFor(recordFor(chain, round, INITIAL, [1]));
    const otherSigs = [await a.signRoundCharge(other), await b.signRoundCharge(other)];
    const err = await b.chargeRound(other, [entries[0]!], otherSigs).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainError);
    expect((err as ChainError).code).toBe('CHAIN_CHARGE_MISMATCH');
    // A charge the contract refuses is classified: a participant over its cap.
    const fed2 = await deployFed(chain, { m: 3, t: 2 });
    await send(as(fed2.contract, signerOf(chain, 2)), 'lowerEpsilonCap', encodeEpsilonCap(0.001));
    const r2 = await openNext(chain, fed2);
    const c2 = (i: number) =>
      new EthersFederationClient(signerOf(chain, i), fed2.address, { pollIntervalMs: 10, fromBlock: fed2.blockNumber });
    const rec2 = recordFor(chain, r2.round, INITIAL, [1, 2]);
    const charge2 = chargeFor(rec2);
    const e2 = await Promise.all(
      rec2.participants.map((p) => c2(indexOf(chain, p.member)).signParticipantEntry(participantEntry(r2.round, p.member, p.dpParams))),
    );
    const s2 = await Promise.all(r2.committee.slice(0, 2).map((i) => c2(i).signRoundCharge(charge2)));
    const refused = await c2(r2.committee[0]!)
      .chargeRound(charge2, e2, s2)
      .catch((e: unknown) => e);
    expect((refused as ChainError).code).toBe('CHAIN_BUDGET_EXCEEDED');
    expect(await c2(1).getChargedRound(r2.round)).toBeUndefined();
  }, 120_000);
});
