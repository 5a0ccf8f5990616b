/**
 * FedmeshFederation on the real in-process Hardhat network (issue 14): every custom error
 * asserted with its arguments, and every audit finding (H-1, H-2, M-1 … M-4, L-1 … L-8, "released
 * but never charged") performed as an attack that now fails. The stateful model-based test is
 * federation-model.test.ts; the 1,000-member round is federation-scale.test.ts.
 */
import { Interface, keccak256, recoverAddress, toUtf8Bytes, ZeroAddress, zeroPadValue, toBeHex, AbiCoder } from 'ethers';
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { EPSILON_UNBOUNDED, encodeEpsilonCap } from '../../protocol/chain/budget.js';
import { roundSeed, selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import { participantEntry, participantEntryDigest, signParticipantEntry } from '../../protocol/chain/participant-entry.js';
import { canonicalRoundRecord, roundRecordStructHash, toTypedValue } from '../../protocol/chain/record.js';
import {
  as,
  C_ALPHA,
  DELTA_E18,
  DP_PARAMS,
  deployFed,
  entrySig,
  entrySigs,
  eventsOf,
  expectRevert,
  FED_IFACE,
  type Fed,
  LENS_IFACE,
  FIRST_OUTSIDER,
  finalizeWith,
  hash,
  INITIAL,
  indexOf,
  latestTimestamp,
  nextBlockAt,
  openNext,
  PROOF,
  recordFor,
  recordTuple,
  send,
  sign,
  signerOf,
  view,
} from './federation-fixture.js';

let chain: InProcessChain;
beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

const admin = () => as(fedOf.contract, signerOf(chain, 0));
let fedOf: Fed;
const addr = (i: number) => signerOf(chain, i).address;
const cap = (e: number) => encodeEpsilonCap(e);

async function deployRaw(config: Record<string, unknown>, adminAddress = addr(0)): Promise<unknown> {
  const artifact = await chain.hre.artifacts.readArtifact('FedmeshFederation');
  const { ContractFactory } = await import('ethers');
  const factory = new ContractFactory(artifact.abi, artifact.bytecode, signerOf(chain, 0));
  const base = {
    initialModelHash: INITIAL,
    manifestHash: hash(1),
    committeeSize: 3,
    threshold: 2,
    inputDuration: 600,
    finalizeDuration: 600,
    seedDelay: 0,
    dpRequired: false,
    adminDelay: 0,
    delta: DELTA_E18,
    cAlpha: [...C_ALPHA],
  };
  const c = await factory.deploy(adminAddress, { ...base, ...config });
  return c.waitForDeployment();
}

describe('ABI', () => {
  it('node/chain/federation-abi.ts equals the compiled artifact, fragment for fragment', async () => {
    const artifact = await chain.hre.artifacts.readArtifact('FedmeshFederation');
    const compiled = new Interface(artifact.abi).format(false).sort();
    expect([...FED_IFACE.format(false)].sort()).toEqual(compiled);
    const lens = await chain.hre.artifacts.readArtifact('FedmeshRegistryLens');
    expect([...LENS_IFACE.format(false)].sort()).toEqual(new Interface(lens.abi).format(false).sort());
  });
});

describe('registry lens (EIP-170 room)', () => {
  it('the federation names the lens it deployed, and the lens names the federation back', async () => {
    const fed = await deployFed(chain);
    expect(await view(fed.lens, 'federation')).toBe(fed.address);
    expect(await chain.provider.getCode(fed.lens.target as string)).not.toBe('0x');
    // The federation no longer carries the views (that is the room the lens makes).
    for (const name of ['getMember', 'peerIdOwner', 'activeMembers', 'activeMembersAt']) expect(FED_IFACE.getFunction(name)).toBeNull();
  });

  it('getMember reads short and long strings, the cap and credits exactly as stored; extsload is the raw storage', async () => {
    const fed = await deployFed(chain, { members: [1] });
    const c = as(fed.contract, signerOf(chain, 0));
    // 31, 32 and 33 bytes straddle the short/long string encodings; 512 is the URI limit.
    const cases: [number, string, string][] = [
      [2, 'p'.repeat(31), ''],
      [3, 'q'.repeat(32), 'u'.repeat(33)],
      [4, `12D3KooW${'x'.repeat(44)}`, `https://${'m'.repeat(504)}`],
      [6, 'r'.repeat(128), 'v'.repeat(1)],
    ];
    for (const [i, peerId, uri] of cases) {
      const proof = `0x${i.toString(16).padStart(2, '0').repeat(63)}ff`;
      await send(c, 'addMember', addr(i), peerId, uri, cap(i), proof);
      const m = await view<{ status: bigint; epsilonCap: bigint; credits: bigint; peerId: string; metadataURI: string; peerProof: string }>(
        fed.lens,
        'getMember',
        addr(i),
      );
      expect([m.status, m.epsilonCap, m.credits, m.peerId, m.metadataURI, m.peerProof]).toEqual([1n, cap(i), 0n, peerId, uri, proof]);
      expect(await view(fed.lens, 'peerIdOwner', peerId)).toBe(addr(i));
    }
    expect(await view(fed.lens, 'peerIdOwner', 'nobody')).toBe(ZeroAddress);
    const slot = await ledgerSlot(fed, addr(1));
    const [word] = await view<string[]>(fed.contract, 'extsload', [slot]);
    expect(word).toBe(await chain.provider.send('eth_getStorageAt', [fed.address, slot, 'latest']));
    expect([...(await view<string[]>(fed.contract, 'extsload', []))]).toEqual([]);
  });

  it('activeMembersAt answers every past block, through swaps at the same position (the search path)', async () => {
    const fed = await deployFed(chain, { members: [1, 2, 3] });
    const c = as(fed.contract, signerOf(chain, 0));
    const lists: [number, string[]][] = [[fed.blockNumber - 1, []]];
    const record = async () => {
      const block = await chain.provider.getBlockNumber();
      lists.push([block, [...(await view<string[]>(fed.lens, 'activeMembers'))]]);
    };
    await record();
    for (const [op, i] of [
      ['suspendMember', 1],
      ['addMember', 4],
      ['reinstateMember', 1],
      ['removeMember', 3],
      ['suspendMember', 4],
      ['addMember', 5],
      ['removeMember', 2],
    ] as const) {
      if (op === 'addMember') await send(c, op, addr(i), `peer-${i}`, '', cap(1), PROOF);
      else await send(c, op, addr(i));
      await record();
    }
    expect(lists.at(-1)![1]).toEqual([addr(1), addr(5)]);
    for (const [block, list] of lists) expect([...(await view<string[]>(fed.lens, 'activeMembersAt', block))]).toEqual(list);
  });
});

describe('constructor (L-2, L-5)', () => {
  it('refuses t <= m/2, t = 0, t > m and m > 32 with FedmeshRoundsInvalidCommittee(size, threshold)', async () => {
    for (const [m, t] of [
      [3, 1],
      [4, 2],
      [3, 0],
      [3, 4],
      [33, 20],
    ] as const) {
      await expectRevert(deployRaw({ committeeSize: m, threshold: t }), 'FedmeshRoundsInvalidCommittee', [BigInt(m), BigInt(t)]);
    }
    await deployRaw({ committeeSize: 1, threshold: 1 });
  });

  it('refuses zero durations, a seed delay over 64, a zero model hash, δ outside (0, 1) and c_α below its δ → 1 limit', async () => {
    await expectRevert(deployRaw({ inputDuration: 0 }), 'FedmeshRoundsInvalidDurations', [0n, 600n]);
    await expectRevert(deployRaw({ seedDelay: 65 }), 'FedmeshRoundsInvalidSeedDelay', [65n]);
    await expectRevert(deployRaw({ initialModelHash: `0x${'00'.repeat(32)}` }), 'FedmeshRoundsZeroModelHash');
    await expectRevert(deployRaw({ delta: 0n }), 'FedmeshLedgerInvalidDelta', [0n]);
    await expectRevert(deployRaw({ delta: 10n ** 18n }), 'FedmeshLedgerInvalidDelta', [10n ** 18n]);
    const bad = [...C_ALPHA];
    bad[7] = -81_764n; // one unit below ln(63/64) − ln(64)/63
    await expectRevert(deployRaw({ cAlpha: bad }), 'FedmeshLedgerInvalidCAlpha', [7n, -81_764n]);
    await expectRevert(deployRaw({}, ZeroAddress), 'AccessControlInvalidDefaultAdmin', [ZeroAddress]);
  });

  it('stores δ, the DP policy and the seed delay', async () => {
    const fed = await deployFed(chain, { dpRequired: true, seedDelay: 3 });
    expect(await view(fed.contract, 'delta')).toBe(DELTA_E18);
    expect(await view(fed.contract, 'dpRequired')).toBe(true);
    expect(await view(fed.contract, 'seedDelay')).toBe(3n);
  });
});

describe('registry', () => {
  beforeAll(async () => {
    fedOf = await deployFed(chain);
  });

  it('addMember refuses the zero address, members, bad peer ids, URIs and proofs, and outsiders', async () => {
    await expectRevert(send(admin(), 'addMember', ZeroAddress, 'p', '', cap(1), PROOF), 'FedmeshRegistryZeroAddress');
    await expectRevert(send(admin(), 'addMember', addr(1), 'p', '', cap(1), PROOF), 'FedmeshRegistryAlreadyMember', [addr(1)]);
    await expectRevert(send(admin(), 'addMember', addr(9), '', '', cap(1), PROOF), 'FedmeshRegistryInvalidPeerId', [0n]);
    await expectRevert(send(admin(), 'addMember', addr(9), 'x'.repeat(129), '', cap(1), PROOF), 'FedmeshRegistryInvalidPeerId', [129n]);
    await expectRevert(send(admin(), 'addMember', addr(9), 'p9', 'u'.repeat(513), cap(1), PROOF), 'FedmeshRegistryInvalidMetadataURI', [
      513n,
    ]);
    await expectRevert(send(admin(), 'addMember', addr(9), 'p9', '', cap(1), '0x1234'), 'FedmeshRegistryInvalidPeerProof', [2n]);
    await expectRevert(
      send(as(fedOf.contract, signerOf(chain, 1)), 'addMember', addr(9), 'p9', '', cap(1), PROOF),
      'AccessControlUnauthorizedAccount',
      [addr(1), keccak256(toUtf8Bytes('FEDERATION_ADMIN_ROLE'))],
    );
  });

  it('suspend, reinstate, remove, setPeerId, lowerEpsilonCap and updateMetadataURI refuse the wrong status', async () => {
    await expectRevert(send(admin(), 'suspendMember', addr(9)), 'FedmeshRegistryNotActive', [addr(9)]);
    await expectRevert(send(admin(), 'reinstateMember', addr(1)), 'FedmeshRegistryNotSuspended', [addr(1)]);
    await expectRevert(send(admin(), 'removeMember', addr(9)), 'FedmeshRegistryNotMember', [addr(9)]);
    await expectRevert(send(admin(), 'setPeerId', addr(9), 'p9', PROOF), 'FedmeshRegistryNotMember', [addr(9)]);
    await expectRevert(send(as(fedOf.contract, signerOf(chain, 9)), 'lowerEpsilonCap', 1), 'FedmeshRegistryNotMember', [addr(9)]);
    await expectRevert(send(as(fedOf.contract, signerOf(chain, 9)), 'updateMetadataURI', 'x'), 'FedmeshRegistryNotMember', [addr(9)]);
    await expectRevert(send(as(fedOf.contract, signerOf(chain, 1)), 'lowerEpsilonCap', cap(10)), 'FedmeshRegistryCapNotLowered', [
      addr(1),
      cap(10),
      cap(10),
    ]);
  });

  it('H-2: a peer id belongs to one account; only the admin binds one, and never another member’s', async () => {
    // The member-side call that let an attacker claim a victim's peer id no longer exists.
    expect(fedOf.contract.interface.getFunction('updateMemberInfo')).toBeNull();
    await expectRevert(send(admin(), 'setPeerId', addr(2), 'peer-1', PROOF), 'FedmeshRegistryPeerIdTaken', ['peer-1', addr(1)]);
    await expectRevert(send(admin(), 'addMember', addr(9), 'peer-1', '', cap(1), PROOF), 'FedmeshRegistryPeerIdTaken', ['peer-1', addr(1)]);
    expect(await view(fedOf.lens, 'peerIdOwner', 'peer-1')).toBe(addr(1));
    const before = (await view<bigint>(fedOf.contract, 'memberInfoVersion')) as bigint;
    const r = await send(admin(), 'setPeerId', addr(2), 'peer-2b', PROOF);
    expect(eventsOf(r, fedOf.address).map((e) => [e.name, ...e.args])).toEqual([
      ['MemberInfoUpdated', addr(2), 'peer-2b', 'https://m2.example'],
    ]);
    expect(await view(fedOf.contract, 'memberInfoVersion')).toBe(before + 1n);
    // The former id is free again; the new one is taken.
    expect(await view(fedOf.lens, 'peerIdOwner', 'peer-2')).toBe(ZeroAddress);
    expect(await view(fedOf.lens, 'peerIdOwner', 'peer-2b')).toBe(addr(2));
  });

  it('L-4 and M-2: a removed member reads as none; re-adding keeps the lower of its old and new cap', async () => {
    await send(as(fedOf.contract, signerOf(chain, 5)), 'lowerEpsilonCap', cap(2));
    await send(admin(), 'removeMember', addr(5));
    const m = await view<{ status: bigint; epsilonCap: bigint; peerId: string; metadataURI: string; peerProof: string }>(
      fedOf.lens,
      'getMember',
      addr(5),
    );
    expect([m.status, m.epsilonCap, m.peerId, m.metadataURI, m.peerProof]).toEqual([0n, 0n, '', '', '0x']);
    const r = await send(admin(), 'addMember', addr(5), 'peer-5', 'https://m5.example', cap(50), PROOF);
    expect(eventsOf(r, fedOf.address).find((e) => e.name === 'MemberAdded')?.args.epsilonCap).toBe(cap(2));
    expect((await view<{ epsilonCap: bigint }>(fedOf.lens, 'getMember', addr(5))).epsilonCap).toBe(cap(2));
  });

  it('L-6: the default admin role changes hands only in two delayed steps and is never renounced in one', async () => {
    const fed = await deployFed(chain, { adminDelay: 3600 });
    const c = as(fed.contract, signerOf(chain, 0));
    const role = `0x${'00'.repeat(32)}`;
    await expectRevert(send(c, 'grantRole', role, addr(7)), 'AccessControlEnforcedDefaultAdminRules');
    await expectRevert(send(c, 'renounceRole', role, addr(0)), 'AccessControlEnforcedDefaultAdminDelay', [0n]);
    await send(c, 'beginDefaultAdminTransfer', addr(7));
    const [, schedule] = await view<bigint[]>(fed.contract, 'pendingDefaultAdmin');
    await expectRevert(send(as(fed.contract, signerOf(chain, 7)), 'acceptDefaultAdminTransfer'), 'AccessControlEnforcedDefaultAdminDelay', [
      schedule,
    ]);
    await chain.provider.send('evm_increaseTime', [3601]);
    await send(as(fed.contract, signerOf(chain, 7)), 'acceptDefaultAdminTransfer');
    expect(await view(fed.contract, 'defaultAdmin')).toBe(addr(7));
  });
});

describe('rounds: errors with arguments', () => {
  it('openRound: not active, still open, too few members, seed not ready', async () => {
    const fed = await deployFed(chain, { seedDelay: 2 });
    await expectRevert(send(as(fed.contract, signerOf(chain, FIRST_OUTSIDER)), 'openRound'), 'FedmeshRegistryNotActive', [
      addr(FIRST_OUTSIDER),
    ]);
    const r = await send(as(fed.contract, signerOf(chain, 1)), 'openRound');
    const scheduled = eventsOf(r, fed.address).find((e) => e.name === 'RoundScheduled')!;
    expect([scheduled.args.round, scheduled.args.seedBlock - scheduled.args.snapshotBlock]).toEqual([1n, 2n]);
    await expectRevert(send(as(fed.contract, signerOf(chain, 1)), 'openRound'), 'FedmeshRoundsSeedNotReady', [
      scheduled.args.seedBlock,
      BigInt(r.blockNumber + 1),
    ]);
    await openNext(chain, fed);
    await expectRevert(send(as(fed.contract, signerOf(chain, 1)), 'openRound'), 'FedmeshRoundsStillOpen', [1n]);
    const small = await deployFed(chain, { members: [1, 2] });
    await expectRevert(send(as(small.contract, signerOf(chain, 1)), 'openRound'), 'FedmeshRoundsTooFewActiveMembers', [2n, 3n]);
  });

  it('finalizeRound refuses every malformed record with its arguments', async () => {
    const fed = await deployFed(chain, { dpRequired: true });
    const { round, committee } = await openNext(chain, fed);
    const head = INITIAL;
    const rec = recordFor(chain, round, head, [1, 2, 3]);
    const sigs = await Promise.all(committee.slice(0, 2).map((i) => sign(signerOf(chain, i), fed.address, rec)));
    const entries = await entrySigs(chain, fed.address, rec);
    const c = as(fed.contract, signerOf(chain, 0));
    const fin = (r: typeof rec, e = entries, s = sigs) => send(c, 'finalizeRound', toTypedValue(r), e, s);
    await expectRevert(fin({ ...rec, round: 2 }), 'FedmeshRoundsUnexpectedRound', [1n, 2n]);
    await expectRevert(fin({ ...rec, prevModelHash: hash(9) }), 'FedmeshRoundsPrevModelHashMismatch', [INITIAL, hash(9)]);
    await expectRevert(fin({ ...rec, modelHash: `0x${'00'.repeat(32)}` }), 'FedmeshRoundsZeroModelHash');
    await expectRevert(fin({ ...rec, participants: [] }, []), 'FedmeshRoundsNoParticipants');
    const many = Array.from({ length: 401 }, (_, i) => ({
      member: `0x${(i + 1).toString(16).padStart(40, '0')}`,
      dpParams: DP_PARAMS,
      spend: 0n,
    }));
    await expectRevert(fin({ ...rec, participants: many }), 'FedmeshRoundsTooManyParticipants', [401n, 400n]);
    await expectRevert(fin(rec, entries.slice(1)), 'FedmeshRoundsEntrySignatureCount', [2n, 3n]);
    await expectRevert(fin({ ...rec, serviceMask: 8n }), 'FedmeshRoundsInvalidServiceMask', [8n]);
    const reversed = { ...rec, participants: [...rec.participants].reverse() };
    await expectRevert(fin(reversed, [...entries].reverse()), 'FedmeshRoundsUnsortedParticipants', [1n]);
    const p0 = rec.participants[0]!;
    const withLine = (line: Partial<typeof p0>) => ({ ...rec, participants: [{ ...p0, ...line }, ...rec.participants.slice(1)] });
    await expectRevert(fin(withLine({ spend: 1n << 224n })), 'FedmeshRoundsInvalidSpend', [p0.member, 1n << 224n]);
    await expectRevert(fin(withLine({ dpParams: 0n })), 'FedmeshRoundsSpendWithoutParams', [p0.member, p0.spend]);
    // M-4: a DP federation refuses non-DP participation.
    await expectRevert(fin(withLine({ dpParams: 0n, spend: 0n })), 'FedmeshRoundsDpRequired', [p0.member]);
    // M-3: the quorum cannot charge a member that did not sign its line.
    await expectRevert(fin(withLine({ spend: p0.spend + 1n })), 'FedmeshRoundsInvalidEntrySignature', [p0.member, 0n]);
    const swapped = [entries[1]!, entries[0]!, entries[2]!];
    await expectRevert(fin(rec, swapped), 'FedmeshRoundsInvalidEntrySignature', [p0.member, 0n]);
    await expectRevert(fin(rec, entries, sigs.slice(0, 1)), 'FedmeshRoundsInsufficientSignatures', [1n, 2n]);
    await expectRevert(fin(rec, entries, [sigs[0]!, '0x1234']), 'FedmeshRoundsInvalidSignature', [1n]);
    const outsider = await sign(signerOf(chain, FIRST_OUTSIDER), fed.address, rec);
    await expectRevert(fin(rec, entries, [sigs[0]!, outsider]), 'FedmeshRoundsSignerNotInCommittee', [addr(FIRST_OUTSIDER)]);
    await expectRevert(fin(rec, entries, [sigs[0]!, sigs[0]!]), 'FedmeshRoundsDuplicateSigner', [addr(committee[0]!)]);
    // A non-member that signed its own line is still refused.
    const stranger = recordFor(chain, round, head, [1, FIRST_OUTSIDER]);
    await expectRevert(
      fin(
        stranger,
        await entrySigs(chain, fed.address, stranger),
        await Promise.all(committee.slice(0, 2).map((i) => sign(signerOf(chain, i), fed.address, stranger))),
      ),
      'FedmeshRoundsParticipantNotMember',
      [addr(FIRST_OUTSIDER)],
    );
    await fin(rec);
    await expectRevert(fin(rec), 'FedmeshRoundsNotOpen', [1n, 2n]);
  });

  it('finalize after the deadline, abort before it, abort of a closed round', async () => {
    const fed = await deployFed(chain);
    await expectRevert(send(as(fed.contract, signerOf(chain, 1)), 'abortRound'), 'FedmeshRoundsNotOpen', [0n, 0n]);
    const { round, committee } = await openNext(chain, fed);
    const info = await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', round);
    await expectRevert(send(as(fed.contract, signerOf(chain, 1)), 'abortRound'), 'FedmeshRoundsDeadlineNotPassed', [
      1n,
      info.finalizeDeadline,
    ]);
    await nextBlockAt(chain, Number(info.finalizeDeadline) + 1);
    const rec = recordFor(chain, round, INITIAL, [1]);
    await expectRevert(finalizeWith(chain, fed, rec, committee.slice(0, 2)), 'FedmeshRoundsDeadlinePassed', [1n, info.finalizeDeadline]);
    const r = await send(as(fed.contract, signerOf(chain, 1)), 'abortRound');
    expect(eventsOf(r, fed.address).map((e) => e.name)).toEqual(['RoundAborted', 'RoundScheduled']);
  });

  it('the participant budget: FedmeshLedgerBudgetExceeded(member, ε, cap) and FedmeshLedgerCreditsOverflow(member)', async () => {
    const fed = await deployFed(chain, { cap: 0.5 });
    const { round, committee } = await openNext(chain, fed);
    const rec = recordFor(chain, round, INITIAL, [1]);
    const [, capOf, fits] = await view<[bigint, bigint, boolean]>(fed.contract, 'budgetAfter', addr(1), round, rec.participants[0]!.spend);
    expect([capOf, fits]).toEqual([cap(0.5), false]);
    const eps = (await view<[bigint]>(fed.contract, 'budgetAfter', addr(1), round, rec.participants[0]!.spend))[0];
    await expectRevert(finalizeWith(chain, fed, rec, committee.slice(0, 2)), 'FedmeshLedgerBudgetExceeded', [addr(1), eps, cap(0.5)]);
    // Credits: set member 1's 24-bit counter to its maximum (the mapping is found by probing slots).
    const slot = await ledgerSlot(fed, addr(1));
    const word = BigInt((await chain.provider.send('eth_getStorageAt', [fed.address, slot, 'latest'])) as string);
    await chain.provider.send('hardhat_setStorageAt', [fed.address, slot, zeroPadValue(toBeHex(word | (((1n << 24n) - 1n) << 232n)), 32)]);
    const free = recordFor(chain, round, INITIAL, [1], { dpParams: 0n });
    await expectRevert(finalizeWith(chain, fed, free, committee.slice(0, 2)), 'FedmeshLedgerCreditsOverflow', [addr(1)]);
    expect(EPSILON_UNBOUNDED).toBe((1n << 256n) - 1n);
  });
});

/** The storage slot of `_ledger[account]`: the mapping's slot is found by probing which one holds the status byte. */
async function ledgerSlot(fed: Fed, account: string): Promise<string> {
  const abi = AbiCoder.defaultAbiCoder();
  for (let base = 0; base < 32; base++) {
    const slot = keccak256(abi.encode(['address', 'uint256'], [account, base]));
    const word = BigInt((await chain.provider.send('eth_getStorageAt', [fed.address, slot, 'latest'])) as string);
    if (((word >> 224n) & 0xffn) === 1n) return slot;
  }
  throw new Error('ledger slot not found');
}

describe('findings: each attack now fails', () => {
  it('M-1 and "released but never charged": lowering a cap, suspension or removal mid-round do not revert the round; all are charged', async () => {
    const fed = await deployFed(chain, { members: [1, 2, 3, 4, 5, 6] });
    const { round, committee } = await openNext(chain, fed);
    const [a, b, d] = [1, 2, 3, 4, 5, 6].filter((i) => !committee.includes(i)) as [number, number, number];
    const rec = recordFor(chain, round, INITIAL, [a, b, d]);
    // After the committee collected everything: a lowers its cap to 1e-6, the admin suspends b and removes d.
    await send(as(fed.contract, signerOf(chain, a)), 'lowerEpsilonCap', 1);
    const c = as(fed.contract, signerOf(chain, 0));
    await send(c, 'suspendMember', addr(b));
    await send(c, 'removeMember', addr(d));
    await finalizeWith(chain, fed, rec, committee.slice(0, 2));
    for (const i of [a, b, d]) expect(await view(fed.contract, 'rdpOf', addr(i))).toBe(rec.participants[0]!.spend);
    // The lowered cap applies from the next round: 4 now cannot pay, and budgetAfter says so.
    const [, capNext, fits] = await view<[bigint, bigint, boolean]>(fed.contract, 'budgetAfter', addr(a), round + 1, 0n);
    expect([capNext, fits]).toEqual([1n, false]);
    expect(await view(fed.contract, 'epsilonCapAt', addr(a), round)).toBe(cap(10));
  });

  it('L-7: a suspended committee member’s signature does not count', async () => {
    const fed = await deployFed(chain);
    const { round, committee } = await openNext(chain, fed);
    const outside = [1, 2, 3, 4, 5].find((i) => !committee.includes(i))!;
    const rec = recordFor(chain, round, INITIAL, [outside]);
    await send(as(fed.contract, signerOf(chain, 0)), 'suspendMember', addr(committee[0]!));
    await expectRevert(finalizeWith(chain, fed, rec, committee.slice(0, 2)), 'FedmeshRoundsInsufficientSignatures', [1n, 2n]);
    const r = await finalizeWith(chain, fed, rec, committee.slice(1, 3));
    const fin = eventsOf(r, fed.address).find((e) => e.name === 'RoundFinalized')!;
    expect([...fin.args.signers]).toEqual(committee.slice(1, 3).map(addr));
    // The suspended member is not credited either.
    expect([...fin.args.credited]).toEqual(committee.slice(1).map(addr));
  });

  it('L-3: resubmitting with exactly t signatures strips no service credit (the mask is signed)', async () => {
    const fed = await deployFed(chain, { m: 5, t: 3, members: [1, 2, 3, 4, 5, 6] });
    const { round, committee } = await openNext(chain, fed);
    const rec = recordFor(chain, round, INITIAL, [6], { m: 5 });
    const r = await finalizeWith(chain, fed, rec, committee.slice(0, 3), FIRST_OUTSIDER);
    const fin = eventsOf(r, fed.address).find((e) => e.name === 'RoundFinalized')!;
    expect(fin.args.record.toArray().map((x: unknown) => x)).toHaveLength(6);
    expect(recordTuple(rec)[4]).toBe(31n);
    for (const i of committee) expect(await view(fed.contract, 'creditsOf', addr(i))).toBe(4n + (i === 6 ? 1n : 0n));
    expect(await view(fed.contract, 'totalCredits')).toBe(1n + 5n * 4n);
    // A mask the quorum did not sign does not verify: its digest recovers strangers.
    const fed2 = await deployFed(chain, { m: 5, t: 3, members: [1, 2, 3, 4, 5, 6] });
    const o2 = await openNext(chain, fed2);
    const signed = recordFor(chain, o2.round, INITIAL, [6], { m: 5 });
    const sigs = await Promise.all(o2.committee.slice(0, 3).map((i) => sign(signerOf(chain, i), fed2.address, signed)));
    const stripped = { ...signed, serviceMask: 1n };
    const err = (await send(
      as(fed2.contract, signerOf(chain, FIRST_OUTSIDER)),
      'finalizeRound',
      toTypedValue(stripped),
      await entrySigs(chain, fed2.address, stripped),
      sigs,
    ).then(
      () => expect.unreachable('a stripped mask finalized'),
      (e: unknown) => e,
    )) as { data: string };
    expect(FED_IFACE.parseError(err.data)?.name).toBe('FedmeshRoundsSignerNotInCommittee');
  });

  it('M-2 and L-1: registry changes after the snapshot do not move the committee; the seed is the seed block’s hash', async () => {
    const fed = await deployFed(chain, { members: [1, 2, 3, 4, 5, 6, 7, 8], seedDelay: 2 });
    await openNext(chain, fed);
    // Close round 1 by aborting it after its deadline, which fixes round 2's snapshot and seed block.
    const info = await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', 1);
    await nextBlockAt(chain, Number(info.finalizeDeadline) + 1);
    await send(as(fed.contract, signerOf(chain, 1)), 'abortRound');
    const [snapshot] = (await view<bigint[]>(fed.contract, 'nextRoundSchedule')).map(Number);
    const listAtSnapshot = [...(await view<string[]>(fed.lens, 'activeMembersAt', snapshot!))];
    // The admin reshuffles the registry right before the open: nothing of it reaches the draw.
    const c = as(fed.contract, signerOf(chain, 0));
    for (const i of [2, 3, 4]) await send(c, 'suspendMember', addr(i));
    await send(c, 'reinstateMember', addr(3));
    expect([...(await view<string[]>(fed.lens, 'activeMembers'))]).not.toEqual(listAtSnapshot);
    const opened = await openNext(chain, fed, 1);
    expect(opened.round).toBe(2);
    const got = await view<{ seed: string; snapshotBlock: bigint; seedBlock: bigint; committee: string[] }>(fed.contract, 'getRound', 2);
    expect(Number(got.snapshotBlock)).toBe(snapshot);
    const seedBlock = await chain.provider.getBlock(Number(got.seedBlock));
    expect(got.seed).toBe(roundSeed(seedBlock!.hash as `0x${string}`, `0x${'00'.repeat(32)}`, 2));
    expect([...got.committee]).toEqual(selectCommitteeOnChain(got.seed as `0x${string}`, listAtSnapshot, 3));
  });

  it('H-1: the record has no per-member list, so a round’s size is its participants, not the membership', async () => {
    const fed = await deployFed(chain);
    expect(fed.contract.interface.getFunction('finalizeRound')?.inputs[0]?.format('full')).not.toContain('dropped');
    const { round, committee } = await openNext(chain, fed);
    const rec = recordFor(chain, round, INITIAL, [1, 2]);
    const r = await finalizeWith(chain, fed, rec, committee.slice(0, 2));
    // The contract recomputes the struct hash itself (its view left for EIP-170 room, F18): the
    // event's recordHash is protocol/chain/record.ts's.
    expect(eventsOf(r, fed.address)[0]?.args.recordHash).toBe(roundRecordStructHash(rec));
    expect(eventsOf(r, fed.address).map((e) => e.name)).toEqual(['RoundFinalized', 'RoundScheduled']);
  });

  it('the contract’s entry digest is protocol/chain/participant-entry.ts’s', async () => {
    const fed = await deployFed(chain);
    const e = participantEntry(3, addr(1), DP_PARAMS);
    // The contract's view left for EIP-170 room (F18); a signature over the off-chain digest is
    // what finalizeRound recovers (every finalize in these tests), and it recovers to the member.
    const signed = await signParticipantEntry(signerOf(chain, 1), { chainId: 31337n, contract: fed.address }, e);
    expect(recoverAddress(participantEntryDigest({ chainId: 31337n, contract: fed.address }, e), signed)).toBe(addr(1));
    expect(e.spend).toBe(declaredSpend(DP_PARAMS));
    expect((await entrySig(signerOf(chain, 1), fed.address, 3, DP_PARAMS)).r).toMatch(/^0x[0-9a-f]{64}$/);
    expect(indexOf(chain, addr(1))).toBe(1);
    expect(canonicalRoundRecord(recordFor(chain, 1, INITIAL, [2, 1])).participants.map((p) => p.member)).toHaveLength(2);
    expect(await latestTimestamp(chain)).toBeGreaterThan(0);
  });
});
