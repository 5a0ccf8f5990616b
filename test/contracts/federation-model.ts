/**
 * A stateful, model-based property test of FedmeshFederation on the real bytecode (issue 14,
 * "Tests"): fast-check commands (Claessen & Hughes's QuickCheck state machines, as
 * `fc.commands` / `fc.asyncModelRun` implement them) add, suspend, reinstate and remove members,
 * lower caps, open rounds, finalize them with valid and invalid records, abort them and move
 * time, over many accounts and random DP parameters. After every step the contract is checked
 * against a small model and the invariants:
 *
 * - spends never decrease (lane-wise) and a charge never takes a member past its cap for the round;
 * - credits held = credits minted (Σ creditsOf = totalCredits = the model's count);
 * - activeMemberCount = the members the model has Active, and the active list is that set;
 * - every finalized round carried ≥ t counted committee signatures, each by a committee member,
 *   and one valid entry signature per charged participant (decoded from the calldata);
 * - every committee is drawn from the active list at its snapshot block, by the seed;
 * - charge before release (red team F18): `chargeRound` charges a round's participants once,
 *   with t committee signatures over RoundCharge, and mints their participation credits; a second
 *   charge is refused; a finalize of a charged round must name exactly the charged lines and
 *   charges nobody again (only service credits are minted); an abort keeps the charge;
 *   `getRound(r).chargedHash` is the charged lines' hash or zero;
 * - studies on one budget (IFedmeshStudy): half the runs are a study that continues a closed
 *   predecessor's budgets, so a member's first registration starts from the predecessor's RDP
 *   under the cap it had there; `carriedBudgetOf` is the model's; a close (rare) stops every
 *   later opening, and a late `inheritBudgetFrom` is always refused.
 *
 * Used by test/contracts/federation-model.test.ts (a slice in `npm test`) and test/fuzz/run.ts
 * (≥ 10^4 steps in `npm run fuzz`).
 */
import { Signature, verifyTypedData } from 'ethers';
import fc from 'fast-check';
import type { InProcessChain } from '../../node/chain/hardhat.js';
import { addPacked, encodeEpsilonCap, epsilonFromPacked, RDP_LANE_BITS, RDP_LANES } from '../../protocol/chain/budget.js';
import { selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { declaredSpend, encodeDpParams } from '../../protocol/chain/dp-params.js';
import { PARTICIPANT_ENTRY_TYPES, participantEntryValue } from '../../protocol/chain/participant-entry.js';
import { participantsHash, toChargeValue } from '../../protocol/chain/charge.js';
import { federationDomain, type Hex32, type OnChainRoundRecord, toTypedValue } from '../../protocol/chain/record.js';
import {
  as,
  C_ALPHA,
  chargeFor,
  deployFed,
  entrySigs,
  FED_IFACE,
  type Fed,
  indexOf,
  openNext,
  PROOF,
  recordFor,
  send,
  sign,
  signCharge,
  signerOf,
  view,
} from './federation-fixture.js';

/** What the runs did, for the fuzz report and to show the sequences reach rounds. */
export const modelStats = { steps: 0, opened: 0, charged: 0, finalized: 0, refused: 0, aborted: 0, inherited: 0, closed: 0 };

/** Accounts the model uses: 1 … ACCOUNTS (members come and go among them). */
const ACCOUNTS = 16;
const M = 3;
const T = 2;

type Status = 'none' | 'active' | 'suspended';

interface Model {
  status: Map<number, Status>;
  /** Latest cap per account ever added (1e-6). */
  cap: Map<number, bigint>;
  rdp: Map<number, bigint>;
  /** What the predecessor study carries per account it registered (empty when none). */
  carried: Map<number, { rdp: bigint; cap: bigint }>;
  /** closeStudy succeeded: no round opens again. */
  closed: boolean;
  minted: bigint;
  /** The open round; `charged`: the lines `chargeRound` charged (F18), if any. */
  open: { round: number; committee: number[]; deadline: number; charged?: OnChainRoundRecord['participants'] } | undefined;
  /** Every round charged so far and its participants hash (`getRound(r).chargedHash`). */
  chargedHashes: Map<number, Hex32>;
  round: number;
  head: Hex32;
  steps: number;
}

interface Real {
  chain: InProcessChain;
  fed: Fed;
}

/** A few DP parameter words, from cheap to a round that uses most of a small cap. */
const DP_WORDS: readonly bigint[] = [
  0n,
  encodeDpParams({ sampleRate: 0.01, noiseMultiplier: 1.1, clipNorm: 1, steps: 10 }),
  encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 0.9, clipNorm: 1, steps: 100 }),
  encodeDpParams({ sampleRate: 0.2, noiseMultiplier: 0.6, clipNorm: 1, steps: 200 }),
];

const lanes = (w: bigint): bigint[] =>
  Array.from({ length: RDP_LANES }, (_, i) => (w >> BigInt(i * RDP_LANE_BITS)) & ((1n << BigInt(RDP_LANE_BITS)) - 1n));

async function check(m: Model, r: Real): Promise<void> {
  const c = r.fed.contract;
  let held = 0n;
  const active: number[] = [];
  for (let i = 1; i <= ACCOUNTS; i++) {
    const a = signerOf(r.chain, i).address;
    const rdp = (await view<bigint>(c, 'rdpOf', a)) as bigint;
    const before = m.rdp.get(i) ?? 0n;
    const [now, was] = [lanes(rdp), lanes(before)];
    if (now.some((x, k) => x < was[k]!)) throw new Error(`spend of ${i} decreased`);
    if (rdp !== before) throw new Error(`spend of ${i}: chain ${rdp}, model ${before}`);
    held += (await view<bigint>(c, 'creditsOf', a)) as bigint;
    if (m.status.get(i) === 'active') active.push(i);
    const member = await view<{ status: bigint }>(r.fed.lens, 'getMember', a);
    const want = { none: 0n, active: 1n, suspended: 2n }[m.status.get(i) ?? 'none'];
    if (member.status !== want) throw new Error(`status of ${i}: chain ${member.status}, model ${want}`);
  }
  const total = (await view<bigint>(c, 'totalCredits')) as bigint;
  if (held !== total || total !== m.minted) throw new Error(`credits held ${held}, totalCredits ${total}, minted ${m.minted}`);
  const count = Number(await view<bigint>(c, 'activeMemberCount'));
  if (count !== active.length) throw new Error(`activeMemberCount ${count}, model ${active.length}`);
  const list = [...(await view<string[]>(r.fed.lens, 'activeMembers'))].map((a) => indexOf(r.chain, a)).sort((x, y) => x - y);
  if (list.join() !== active.join()) throw new Error(`active list ${list}, model ${active}`);
  for (const round of new Set([...m.chargedHashes.keys(), ...(m.open !== undefined ? [m.open.round] : [])])) {
    const info = await view<{ chargedHash: Hex32 }>(c, 'getRound', round);
    const want = m.chargedHashes.get(round) ?? `0x${'00'.repeat(32)}`;
    if (info.chargedHash !== want) throw new Error(`round ${round} chargedHash ${info.chargedHash}, model ${want}`);
  }
  const [, , closed] = await view<[string, string, boolean]>(c, 'studyChain');
  if (closed !== m.closed) throw new Error(`studyChain closed ${closed}, model ${m.closed}`);
  for (let i = 1; i <= ACCOUNTS; i++) {
    // What a successor of this study would start account i from: its own entry once registered
    // here, else the predecessor's (no overcharge, no evasion).
    const [rdp, cap, known] = await view<[bigint, bigint, boolean]>(c, 'carriedBudgetOf', addr(r, i));
    const own = m.cap.get(i);
    const want = own !== undefined ? { rdp: m.rdp.get(i) ?? 0n, cap: own } : m.carried.get(i);
    const got = known ? `${rdp}/${cap}` : 'none';
    if (got !== (want === undefined ? 'none' : `${want.rdp}/${want.cap}`))
      throw new Error(`carriedBudgetOf ${i}: ${got}, model ${JSON.stringify(want, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  }
  m.steps++;
  modelStats.steps++;
}

const addr = (r: Real, i: number) => signerOf(r.chain, i).address;

/** Runs `p`; returns whether it succeeded (a revert is an expected outcome here). */
async function attempt(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (e) {
    const data = (e as { data?: string }).data;
    if (typeof data !== 'string' || FED_IFACE.parseError(data) === null) throw e;
    return false;
  }
}

class Add implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly i: number,
    readonly capEps: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const ok = await attempt(
      send(
        as(r.fed.contract, signerOf(r.chain, 0)),
        'addMember',
        addr(r, this.i),
        `peer-${this.i}`,
        '',
        encodeEpsilonCap(this.capEps),
        PROOF,
      ),
    );
    const expect = (m.status.get(this.i) ?? 'none') === 'none';
    if (ok !== expect) throw new Error(`addMember ${this.i}: ok ${ok}, expected ${expect}`);
    if (ok) {
      const given = encodeEpsilonCap(this.capEps);
      // A former member keeps the lower cap; a first registration starts from what the
      // predecessor study carries, under its cap there (IFedmeshStudy).
      const bound = m.cap.get(this.i) ?? m.carried.get(this.i)?.cap;
      if (!m.cap.has(this.i) && m.carried.has(this.i)) m.rdp.set(this.i, m.carried.get(this.i)!.rdp);
      m.cap.set(this.i, bound !== undefined && bound < given ? bound : given);
      m.status.set(this.i, 'active');
    }
    await check(m, r);
  }
  toString = () => `add(${this.i}, ${this.capEps})`;
}

class Registry implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly op: 'suspendMember' | 'reinstateMember' | 'removeMember',
    readonly i: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const s = m.status.get(this.i) ?? 'none';
    const expect = this.op === 'suspendMember' ? s === 'active' : this.op === 'reinstateMember' ? s === 'suspended' : s !== 'none';
    const ok = await attempt(send(as(r.fed.contract, signerOf(r.chain, 0)), this.op, addr(r, this.i)));
    if (ok !== expect) throw new Error(`${this.op} ${this.i}: ok ${ok}, expected ${expect}`);
    if (ok) m.status.set(this.i, this.op === 'suspendMember' ? 'suspended' : this.op === 'reinstateMember' ? 'active' : 'none');
    await check(m, r);
  }
  toString = () => `${this.op}(${this.i})`;
}

class LowerCap implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly i: number,
    readonly capEps: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const given = encodeEpsilonCap(this.capEps);
    const latest = m.cap.get(this.i);
    const expect = (m.status.get(this.i) ?? 'none') !== 'none' && latest !== undefined && given < latest;
    const ok = await attempt(send(as(r.fed.contract, signerOf(r.chain, this.i)), 'lowerEpsilonCap', given));
    if (ok !== expect) throw new Error(`lowerEpsilonCap ${this.i}: ok ${ok}, expected ${expect}`);
    if (ok) m.cap.set(this.i, given);
    await check(m, r);
  }
  toString = () => `lowerCap(${this.i}, ${this.capEps})`;
}

class Open implements fc.AsyncCommand<Model, Real> {
  constructor(readonly opener: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    if (m.open !== undefined || m.status.get(this.opener) !== 'active' || m.closed) {
      const ok = await attempt(send(as(r.fed.contract, signerOf(r.chain, this.opener)), 'openRound'));
      if (ok && m.open !== undefined) throw new Error('opened a second round');
      if (ok) {
        m.open = undefined; // only scheduled or opened by a non-active caller: impossible
        throw new Error(`inactive ${this.opener} opened or scheduled a round`);
      }
      await check(m, r);
      return;
    }
    const active = [...m.status].filter(([, s]) => s === 'active').length;
    let opened: { round: number; committee: number[] } | undefined;
    try {
      opened = await openNext(r.chain, r.fed, this.opener);
    } catch (e) {
      const data = (e as { data?: string }).data;
      if (active >= M || typeof data !== 'string') throw e;
    }
    if (opened !== undefined) {
      const info = await view<{ seed: Hex32; snapshotBlock: bigint; finalizeDeadline: bigint; committee: string[] }>(
        r.fed.contract,
        'getRound',
        opened.round,
      );
      const snapshot = [...(await view<string[]>(r.fed.lens, 'activeMembersAt', info.snapshotBlock))];
      const expected = selectCommitteeOnChain(info.seed, snapshot, M);
      if (expected.join() !== [...info.committee].join()) throw new Error('committee is not the snapshot draw');
      m.open = { round: opened.round, committee: opened.committee, deadline: Number(info.finalizeDeadline) };
      modelStats.opened++;
      m.round = opened.round;
    }
    await check(m, r);
  }
  toString = () => `open(${this.opener})`;
}

type Fault = 'none' | 'foreign-entry' | 'outsider' | 'over-cap' | 'few-signatures' | 'wrong-spend';

/**
 * The lines a committee would put in a record or a charge for `picks` (members only, and only
 * those whose declared spend fits their cap for this round: budgetAfter), with `fault` applied,
 * their entry signatures and t active committee signers; undefined when no round could be
 * recorded now (nobody admitted, fewer than t active committee members, deadline passed).
 */
async function propose(
  m: Model,
  r: Real,
  picks: readonly number[],
  dps: readonly number[],
  wanted: Fault,
): Promise<{ rec: OnChainRoundRecord; entries: { r: string; vs: string }[]; signers: number[]; fault: Fault } | undefined> {
  const open = m.open!;
  const now = (await r.chain.provider.getBlock('latest'))!.timestamp;
  // The committee's admission (issue 14 item 3): members only (active or suspended), and only
  // those whose declared spend fits their cap for this round (budgetAfter).
  const chosen = new Map<number, bigint>();
  for (const [k, i] of picks.entries()) {
    if ((m.status.get(i) ?? 'none') === 'none') continue;
    const dp = DP_WORDS[dps[k % dps.length]! % DP_WORDS.length]!;
    const [, , fits] = await view<[bigint, bigint, boolean]>(r.fed.contract, 'budgetAfter', addr(r, i), open.round, declaredSpend(dp));
    if (fits) chosen.set(i, dp);
  }
  const signers = open.committee.filter((i) => m.status.get(i) === 'active');
  // A charged round's finalize names the charged lines whatever is admitted now (their spend was
  // already charged, so budgetAfter may refuse them again).
  if ((chosen.size === 0 && open.charged === undefined) || signers.length < T || now + 1 > open.deadline) return undefined;
  let participants = [...chosen.keys()];
  let fault = wanted;
  if (fault === 'outsider') participants = [...participants, ACCOUNTS + 1];
  if (fault === 'over-cap') {
    // Someone the committee's budgetAfter would have left out, if any.
    const over = [...m.status].find(([i, s]) => s !== 'none' && !chosen.has(i));
    if (over === undefined) fault = 'none';
    else participants = [...participants, over[0]];
  }
  const record = recordFor(r.chain, open.round, m.head, participants, { dpParams: 0n, m: M });
  const lines = record.participants.map((p) => {
    const i = indexOf(r.chain, p.member);
    const dp = fault === 'over-cap' && !chosen.has(i) && i <= ACCOUNTS ? DP_WORDS[3]! : (chosen.get(i) ?? DP_WORDS[1]!);
    return { ...p, dpParams: dp, spend: declaredSpend(dp) };
  });
  const rec = { ...record, participants: lines };
  if (fault === 'over-cap') {
    const overIndex = lines.findIndex((p) => !chosen.has(indexOf(r.chain, p.member)));
    const p = lines[overIndex]!;
    const [, , fits] = await view<[bigint, bigint, boolean]>(r.fed.contract, 'budgetAfter', p.member, open.round, p.spend);
    if (fits) fault = 'none';
    if (fits) rec.participants.splice(overIndex, 1);
  }
  let entries = await entrySigs(r.chain, r.fed.address, rec);
  if (fault === 'foreign-entry' && entries.length > 1) entries = [entries[1]!, entries[0]!, ...entries.slice(2)];
  else if (fault === 'foreign-entry') fault = 'none';
  return { rec, entries, signers: signers.slice(0, fault === 'few-signatures' ? T - 1 : T), fault };
}

/** Charges `lines` to the model: spends (never past a cap: checked against the chain) and credits. */
async function chargeModel(m: Model, r: Real, round: number, lines: OnChainRoundRecord['participants']): Promise<void> {
  for (const p of lines) {
    const i = indexOf(r.chain, p.member);
    const after = addPacked(m.rdp.get(i) ?? 0n, p.spend);
    const capRound = (await view<bigint>(r.fed.contract, 'epsilonCapAt', p.member, round)) as bigint;
    if (epsilonFromPacked(after, C_ALPHA) > capRound) throw new Error(`${i} charged past its cap`);
    m.rdp.set(i, after);
  }
  m.minted += BigInt(lines.length);
}

/**
 * `chargeRound` (F18: a secure round's certified lock is charged before anything is revealed):
 * t committee signatures over RoundCharge(round, lock, lines), one entry signature per line.
 * Succeeds iff the lines are a valid charge and the round is not charged yet.
 */
class Charge implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly picks: readonly number[],
    readonly dp: readonly number[],
    readonly fault: Fault,
    readonly lock: number,
  ) {}
  check = (m: Readonly<Model>) => m.open !== undefined;
  async run(m: Model, r: Real) {
    const open = m.open!;
    const p = await propose(m, r, this.picks, this.dp, this.fault);
    if (p === undefined) {
      await check(m, r);
      return;
    }
    let charge = chargeFor(p.rec, `0x${this.lock.toString(16).padStart(64, '0')}`);
    const sigs = await Promise.all(p.signers.map((i) => signCharge(signerOf(r.chain, i), r.fed.address, charge)));
    if (p.fault === 'wrong-spend')
      charge = { ...charge, participants: charge.participants.map((x, k) => (k === 0 ? { ...x, spend: x.spend + 1n } : x)) };
    const ok = await attempt(
      send(
        as(r.fed.contract, signerOf(r.chain, 0)),
        'chargeRound',
        open.round,
        charge.lock,
        toChargeValue(charge).participants,
        p.entries,
        sigs,
      ),
    );
    const expect = p.fault === 'none' && open.charged === undefined;
    if (ok !== expect) throw new Error(`charge with fault ${p.fault}, charged before ${open.charged !== undefined}: ok ${ok}`);
    if (ok) {
      await chargeModel(m, r, open.round, p.rec.participants);
      open.charged = p.rec.participants;
      m.chargedHashes.set(open.round, participantsHash(p.rec.participants));
      modelStats.charged++;
    } else modelStats.refused++;
    await check(m, r);
  }
  toString = () => `charge([${this.picks}], [${this.dp}], ${this.fault}, lock ${this.lock})`;
}

class Finalize implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly picks: readonly number[],
    readonly dp: readonly number[],
    readonly fault: Fault,
  ) {}
  check = (m: Readonly<Model>) => m.open !== undefined;
  async run(m: Model, r: Real) {
    const open = m.open!;
    const p = await propose(m, r, this.picks, this.dp, this.fault);
    if (p === undefined) {
      await check(m, r);
      return;
    }
    let { rec, entries, fault } = p;
    if (open.charged !== undefined) {
      // A charged round's record names exactly the charged lines (else FedmeshRoundsChargeMismatch);
      // entry signatures are not read. The proposal's lines stand in for a mismatching record.
      const same = participantsHash(rec.participants) === participantsHash(open.charged);
      if (fault === 'none' || same) rec = { ...rec, participants: open.charged };
      if (fault !== 'few-signatures') fault = fault === 'none' || same ? 'none' : fault;
      entries = [];
    }
    const committeeSigs = await Promise.all(p.signers.map((i) => sign(signerOf(r.chain, i), r.fed.address, rec)));
    let sent = rec;
    if (fault === 'wrong-spend')
      sent = { ...rec, participants: rec.participants.map((x, k) => (k === 0 ? { ...x, spend: x.spend + 1n } : x)) };
    let receipt: Awaited<ReturnType<typeof send>> | undefined;
    const ok = await attempt(
      send(as(r.fed.contract, signerOf(r.chain, 0)), 'finalizeRound', toTypedValue(sent), entries, committeeSigs).then((x) => {
        receipt = x;
      }),
    );
    if (ok !== (fault === 'none')) throw new Error(`finalize with fault ${fault}, charged ${open.charged !== undefined}: ok ${ok}`);
    if (ok) modelStats.finalized++;
    else modelStats.refused++;
    if (ok && receipt !== undefined) {
      await this.audit(r, receipt.hash, open.committee, m, rec.participants.length, open.charged !== undefined);
      // A charged round was charged once, at chargeRound; its finalize mints service credits only.
      if (open.charged === undefined) await chargeModel(m, r, open.round, rec.participants);
      m.minted += 4n * BigInt(open.committee.filter((i) => m.status.get(i) === 'active').length);
      m.head = rec.modelHash;
      m.open = undefined;
    }
    await check(m, r);
  }

  /** Decodes the finalize calldata: ≥ t committee signatures, one valid entry signature per participant. */
  private async audit(
    r: Real,
    txHash: string,
    committee: readonly number[],
    m: Model,
    participants: number,
    charged: boolean,
  ): Promise<void> {
    const tx = await r.chain.provider.getTransaction(txHash);
    const parsed = FED_IFACE.parseTransaction({ data: tx!.data });
    const [record, entries, sigs] = parsed!.args as unknown as [
      Parameters<typeof toTypedValue>[0] & { participants: { member: string; dpParams: bigint; spend: bigint }[] },
      { r: string; vs: string }[],
      string[],
    ];
    if (record.participants.length !== participants) throw new Error('participant count');
    // A charged round's entries were checked at chargeRound; its finalize carries none.
    if (entries.length !== (charged ? 0 : participants)) throw new Error('entry count');
    const domain = federationDomain(31337n, r.fed.address);
    for (const [k, p] of charged ? [] : record.participants.entries()) {
      const sig = Signature.from({ r: entries[k]!.r, yParityAndS: entries[k]!.vs }).serialized;
      const value = participantEntryValue({ round: Number(record.round), member: p.member, dpParams: p.dpParams, spend: p.spend });
      if (verifyTypedData(domain, PARTICIPANT_ENTRY_TYPES, value, sig) !== p.member) throw new Error('entry not signed by its member');
    }
    if (sigs.length < T) throw new Error('fewer than t committee signatures');
    const members = committee.map((i) => addr(r, i));
    const receipt = await r.chain.provider.getTransactionReceipt(txHash);
    const event = receipt!.logs.map((l) => FED_IFACE.parseLog(l)).find((e) => e?.name === 'RoundFinalized')!;
    const counted = [...event.args.signers] as string[];
    if (counted.length < T || counted.some((s) => !members.includes(s))) throw new Error('counted signers not t committee members');
    void m;
  }

  toString = () => `finalize([${this.picks}], [${this.dp}], ${this.fault})`;
}

class Abort implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.open !== undefined;
  async run(m: Model, r: Real) {
    const open = m.open!;
    const now = (await r.chain.provider.getBlock('latest'))!.timestamp;
    if (now < open.deadline) await r.chain.provider.send('evm_setNextBlockTimestamp', [open.deadline + 1]);
    await send(as(r.fed.contract, signerOf(r.chain, 0)), 'abortRound');
    m.open = undefined;
    modelStats.aborted++;
    await check(m, r);
  }
  toString = () => 'abort';
}

/** closeStudy: succeeds only with no round open and not closed before; then nothing opens. */
class Close implements fc.AsyncCommand<Model, Real> {
  constructor(readonly toOutsider: boolean) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const successor = this.toOutsider ? addr(r, ACCOUNTS + 2) : '0x0000000000000000000000000000000000000000';
    const ok = await attempt(send(as(r.fed.contract, signerOf(r.chain, 0)), 'closeStudy', successor));
    const expect = !m.closed && m.open === undefined;
    if (ok !== expect) throw new Error(`closeStudy: ok ${ok}, expected ${expect}`);
    if (ok) {
      m.closed = true;
      modelStats.closed++;
    }
    await check(m, r);
  }
  toString = () => `close(${this.toOutsider ? 'outsider' : 'none'})`;
}

/** inheritBudgetFrom once members exist (or after a close, or a second time): always refused. */
class InheritLate implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.cap.size > 0;
  async run(m: Model, r: Real) {
    const ok = await attempt(send(as(r.fed.contract, signerOf(r.chain, 0)), 'inheritBudgetFrom', r.fed.address));
    if (ok) throw new Error('inheritBudgetFrom succeeded after members were registered');
    await check(m, r);
  }
  toString = () => 'inheritLate';
}

class TimeJump implements fc.AsyncCommand<Model, Real> {
  constructor(readonly seconds: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    await r.chain.provider.send('evm_increaseTime', [this.seconds]);
    await r.chain.provider.send('evm_mine', []);
    await check(m, r);
  }
  toString = () => `time(+${this.seconds})`;
}

const account = fc.integer({ min: 1, max: ACCOUNTS });
const capEps = fc.constantFrom(0.5, 1, 2, 4, 8, 20);

export const federationCommands = fc.commands(
  [
    fc.tuple(account, capEps).map(([i, c]) => new Add(i, c)),
    fc.tuple(fc.constantFrom('suspendMember', 'reinstateMember', 'removeMember' as const), account).map(([op, i]) => new Registry(op, i)),
    fc.tuple(account, capEps).map(([i, c]) => new LowerCap(i, c)),
    account.map((i) => new Open(i)),
    fc.integer({ min: 1, max: 6 }).map((i) => new Open(i)),
    fc.integer({ min: 1, max: 6 }).map((i) => new Open(i)),
    fc
      .tuple(
        fc.uniqueArray(account, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 4 }),
        fc.constantFrom('none', 'none', 'none', 'foreign-entry', 'outsider', 'over-cap', 'few-signatures', 'wrong-spend' as const),
      )
      .map(([p, d, f]) => new Finalize(p, d, f)),
    fc
      .tuple(fc.uniqueArray(account, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(3), { minLength: 1, maxLength: 4 }))
      .map(([p, d]) => new Finalize(p, d, 'none')),
    fc
      .tuple(
        fc.uniqueArray(account, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 4 }),
        fc.constantFrom('none', 'none', 'none', 'foreign-entry', 'outsider', 'over-cap', 'few-signatures', 'wrong-spend' as const),
        fc.integer({ min: 1, max: 1000 }),
      )
      .map(([p, d, f, l]) => new Charge(p, d, f, l)),
    fc
      .tuple(fc.uniqueArray(account, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(3), { minLength: 1, maxLength: 4 }))
      .map(([p, d]) => new Charge(p, d, 'none', 1)),
    fc.constant(new Abort()),
    fc.integer({ min: 1, max: 400 }).map((s) => new TimeJump(s)),
    // Rare: a close ends the run's rounds, so it should come late in most sequences.
    fc
      .nat(24)
      .map(
        (k): fc.AsyncCommand<Model, Real> =>
          k === 0 ? new Close(true) : k === 1 ? new Close(false) : k === 2 ? new InheritLate() : new TimeJump(k),
      ),
  ],
  { maxCommands: 100, size: 'max' },
);

/**
 * Runs `runs` command sequences, each on a fresh federation with members 1 … 6 (caps 4) added;
 * returns the number of steps checked.
 */
export async function runFederationModel(chain: InProcessChain, runs: number, seed?: number): Promise<number> {
  let steps = 0;
  await fc.assert(
    fc.asyncProperty(fc.boolean(), federationCommands, async (inherits, cmds) => {
      const shape = { cap: 4, m: M, t: T, finalizeDuration: 600, inputDuration: 600 };
      const carried = new Map<number, { rdp: bigint; cap: bigint }>();
      let fed: Fed;
      if (inherits) {
        fed = await deployFed(chain, { ...shape, members: [] });
        await inheritFromPredecessor(chain, fed, carried);
        for (const i of [1, 2, 3, 4, 5, 6]) {
          await send(
            as(fed.contract, signerOf(chain, 0)),
            'addMember',
            signerOf(chain, i).address,
            `peer-${i}`,
            '',
            encodeEpsilonCap(4),
            PROOF,
          );
        }
        modelStats.inherited++;
      } else {
        fed = await deployFed(chain, { ...shape, members: [1, 2, 3, 4, 5, 6] });
      }
      const firstCap = (i: number) => {
        const bound = carried.get(i)?.cap;
        return bound !== undefined && bound < encodeEpsilonCap(4) ? bound : encodeEpsilonCap(4);
      };
      const m: Model = {
        status: new Map([1, 2, 3, 4, 5, 6].map((i) => [i, 'active' as Status])),
        cap: new Map([1, 2, 3, 4, 5, 6].map((i) => [i, firstCap(i)])),
        rdp: new Map([1, 2, 3, 4, 5, 6].flatMap((i) => (carried.has(i) ? [[i, carried.get(i)!.rdp] as const] : []))),
        carried,
        closed: false,
        minted: 0n,
        open: undefined,
        chargedHashes: new Map(),
        round: 0,
        head: (await view<Hex32>(fed.contract, 'headModelHash')) as Hex32,
        steps: 0,
      };
      await fc.asyncModelRun(() => ({ model: m, real: { chain, fed } }), cmds);
      steps += m.steps;
    }),
    { numRuns: runs, ...(seed !== undefined ? { seed } : {}), endOnFailure: true },
  );
  return steps;
}

/**
 * A closed predecessor of `fed` that registered accounts 2, 3, 7, 8 and 9 with their own caps
 * (two below the successor's 4, so the bound shows) and charged 2, 7 and 8 one round; `fed`
 * inherits from it. Fills `carried` with what each registered account carries.
 */
async function inheritFromPredecessor(chain: InProcessChain, fed: Fed, carried: Map<number, { rdp: bigint; cap: bigint }>): Promise<void> {
  const pred = await deployFed(chain, { members: [], m: M, t: T });
  const caps: [number, number][] = [
    [2, 10],
    [3, 2],
    [7, 2],
    [8, 6],
    [9, 3],
  ];
  const admin = as(pred.contract, signerOf(chain, 0));
  for (const [i, c] of caps) await send(admin, 'addMember', signerOf(chain, i).address, `peer-${i}`, '', encodeEpsilonCap(c), PROOF);
  const { round, committee } = await openNext(chain, pred, 2);
  const rec = recordFor(chain, round, (await view<Hex32>(pred.contract, 'headModelHash')) as Hex32, [2, 7, 8], {
    dpParams: DP_WORDS[1]!,
    m: M,
  });
  const sigs = await Promise.all(committee.slice(0, T).map((k) => sign(signerOf(chain, k), pred.address, rec)));
  await send(admin, 'finalizeRound', toTypedValue(rec), await entrySigs(chain, pred.address, rec), sigs);
  await send(admin, 'closeStudy', fed.address);
  await send(as(fed.contract, signerOf(chain, 0)), 'inheritBudgetFrom', pred.address);
  for (const [i, c] of caps) carried.set(i, { rdp: [2, 7, 8].includes(i) ? declaredSpend(DP_WORDS[1]!) : 0n, cap: encodeEpsilonCap(c) });
}
