/**
 * Benchmark: gas of FedmeshFederation's `openRound` and `finalizeRound` (issue 14) on the
 * in-process Hardhat network, with 64, 256 and 1,000 registered members. Gas is deterministic
 * up to the committee draw, so one run per case suffices.
 *
 * Per membership size N: the opening transaction's gas (and the scheduling call's, when round
 * 1 needed one), and `finalizeRound` with P = 8 and P = min(N, 256) participants (plus P = 400,
 * the contract's MAX_PARTICIPANTS, at N = 1,000), every participant with declared DP-SGD
 * parameters, a spend in all 8 RDP lanes and its own ParticipantEntry signature; committee
 * m = 5, t = 3. The record has no per-member list, so the non-participants cost nothing.
 * Baseline in the same run: the 8-participant finalize of each N, against which the marginal
 * cost per participant is measured: (g_P − g_8) / (P − 8).
 *
 * Charge before release (red team F18): the same sizes again with `chargeRound` first (t committee
 * RoundCharge signatures; every line's entry signature checked and charged there) and then
 * `finalizeRound` of the charged round (no entry signatures: it only checks the participants
 * hash), so a secure round's chain cost is charge + charged finalize; marginals as above.
 *
 * Targets: marginal finalize gas per participant, entry signature included, ≤ 20,000; openRound
 * independent of N; finalize at the participant limit < 10M gas. Also reported: the deployed
 * runtime code size against EIP-170's 24,576-byte limit (https://eips.ethereum.org/EIPS/eip-170),
 * the headroom any new contract feature must fit in (docs/contracts.md, "Studies on one budget").
 *
 * Run: npm run bench:gas  (prints a table, writes bench/results/gas.json)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startInProcessChain } from '../node/chain/hardhat.js';
import { INITIAL } from '../test/contracts/federation-fixture.js';
import { deployLarge, largeRound } from '../test/contracts/federation-large.js';

const MEMBERS = [64, 256, 1000] as const;
const COMMITTEE = 5;
const THRESHOLD = 3;
const BASE_P = 8;
const MAX_PARTICIPANTS = 400;
const TARGET_MARGINAL = 20_000;
const TARGET_AT_LIMIT = 10_000_000;
/** EIP-170: the most runtime code a contract may have on Ethereum mainnet and its test chains. */
const EIP170_LIMIT = 24_576;

const chain = await startInProcessChain();

interface Case {
  members: number;
  participants: number;
  openRoundGas: number;
  scheduleGas: number;
  finalizeRoundGas: number;
  /** Charged first (F18): the chargeRound gas; finalizeRoundGas is then the charged finalize. */
  chargeRoundGas?: number;
}
const cases: Case[] = [];
let codeSize = 0;
for (const n of MEMBERS) {
  const sizes = [BASE_P, Math.min(n, 256), ...(n >= MAX_PARTICIPANTS ? [MAX_PARTICIPANTS] : [])];
  for (const p of [...new Set(sizes)]) {
    // A fresh federation per case: every participant spends for the first time.
    const large = await deployLarge(chain, n, { m: COMMITTEE, t: THRESHOLD });
    codeSize = (await chain.provider.getCode(large.fed.address)).length / 2 - 1;
    const r = await largeRound(chain, large, large.members.slice(n - p), INITIAL, THRESHOLD);
    cases.push({
      members: n,
      participants: p,
      openRoundGas: Number(r.open),
      scheduleGas: Number(r.schedule),
      finalizeRoundGas: Number(r.finalize),
    });
  }
}
// F18: the same rounds, charged before the reveals, on fresh federations.
const charged: Case[] = [];
for (const n of MEMBERS) {
  const sizes = [BASE_P, Math.min(n, 256), ...(n >= MAX_PARTICIPANTS ? [MAX_PARTICIPANTS] : [])];
  for (const p of [...new Set(sizes)]) {
    const large = await deployLarge(chain, n, { m: COMMITTEE, t: THRESHOLD });
    const r = await largeRound(chain, large, large.members.slice(n - p), INITIAL, THRESHOLD, true);
    charged.push({
      members: n,
      participants: p,
      openRoundGas: Number(r.open),
      scheduleGas: Number(r.schedule),
      finalizeRoundGas: Number(r.finalize),
      chargeRoundGas: Number(r.charge),
    });
  }
}

const g = (n: number, p: number) => cases.find((c) => c.members === n && c.participants === p)!.finalizeRoundGas;
const marginals = MEMBERS.map((n) => {
  const p = Math.min(n, 256);
  return { members: n, from: BASE_P, to: p, gasPerParticipant: (g(n, p) - g(n, BASE_P)) / (p - BASE_P) };
});
const worstMarginal = Math.max(...marginals.map((m) => m.gasPerParticipant));
const opens = cases.map((c) => c.openRoundGas);
const openSpread = Math.max(...opens) - Math.min(...opens);
const atLimit = g(1000, MAX_PARTICIPANTS);

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`FedmeshFederation gas (m = ${COMMITTEE}, t = ${THRESHOLD}; baseline per N: the ${BASE_P}-participant finalize)`);
console.log('members  participants  openRound  (schedule)  finalizeRound  finalize / participant');
for (const c of cases) {
  console.log(
    `${String(c.members).padStart(7)}  ${String(c.participants).padStart(12)}  ${fmt(c.openRoundGas).padStart(9)}  ${fmt(c.scheduleGas).padStart(10)}  ${fmt(c.finalizeRoundGas).padStart(13)}  ${fmt(c.finalizeRoundGas / c.participants).padStart(22)}`,
  );
}
for (const m of marginals)
  console.log(
    `marginal finalize gas per participant at N = ${m.members}, (g${m.to} − g${m.from})/${m.to - m.from}: ${fmt(m.gasPerParticipant)}`,
  );
console.log(
  `target marginal <= ${fmt(TARGET_MARGINAL)}: ${worstMarginal <= TARGET_MARGINAL ? 'met' : 'NOT met'} (worst ${fmt(worstMarginal)})`,
);
console.log(
  `openRound spread across N = ${MEMBERS.join(', ')}: ${fmt(openSpread)} gas (min ${fmt(Math.min(...opens))}, max ${fmt(Math.max(...opens))})`,
);
console.log(
  `finalize at the participant limit (${MAX_PARTICIPANTS}, N = 1000): ${fmt(atLimit)}; target < ${fmt(TARGET_AT_LIMIT)}: ${atLimit < TARGET_AT_LIMIT ? 'met' : 'NOT met'}`,
);
console.log('charged before the reveals (F18): members  participants  chargeRound  finalizeRound (charged)  total');
for (const c of charged)
  console.log(
    `${String(c.members).padStart(7)}  ${String(c.participants).padStart(12)}  ${fmt(c.chargeRoundGas!).padStart(11)}  ${fmt(c.finalizeRoundGas).padStart(23)}  ${fmt(c.chargeRoundGas! + c.finalizeRoundGas).padStart(9)}`,
  );
const cg = (n: number, p: number, k: 'chargeRoundGas' | 'finalizeRoundGas') =>
  charged.find((c) => c.members === n && c.participants === p)![k]!;
const chargedMarginals = MEMBERS.map((n) => {
  const p = Math.min(n, 256);
  return {
    members: n,
    from: BASE_P,
    to: p,
    chargePerParticipant: (cg(n, p, 'chargeRoundGas') - cg(n, BASE_P, 'chargeRoundGas')) / (p - BASE_P),
    chargedFinalizePerParticipant: (cg(n, p, 'finalizeRoundGas') - cg(n, BASE_P, 'finalizeRoundGas')) / (p - BASE_P),
  };
});
for (const m of chargedMarginals)
  console.log(
    `marginal per participant at N = ${m.members}: chargeRound ${fmt(m.chargePerParticipant)}, charged finalize ${fmt(m.chargedFinalizePerParticipant)}, together ${fmt(m.chargePerParticipant + m.chargedFinalizePerParticipant)} (uncharged finalize ${fmt(marginals.find((x) => x.members === m.members)!.gasPerParticipant)})`,
  );
const chargeAtLimit = cg(1000, MAX_PARTICIPANTS, 'chargeRoundGas');
console.log(
  `chargeRound at the participant limit (${MAX_PARTICIPANTS}, N = 1000): ${fmt(chargeAtLimit)}; target < ${fmt(TARGET_AT_LIMIT)}: ${chargeAtLimit < TARGET_AT_LIMIT ? 'met' : 'NOT met'}`,
);
console.log(`runtime code ${fmt(codeSize)} bytes; EIP-170 limit ${fmt(EIP170_LIMIT)}; headroom ${fmt(EIP170_LIMIT - codeSize)}`);

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'gas.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(
  out,
  `${JSON.stringify(
    {
      contract: 'FedmeshFederation',
      committeeSize: COMMITTEE,
      threshold: THRESHOLD,
      baseline: { name: `finalizeRound, ${BASE_P} participants, per N`, gas: MEMBERS.map((n) => ({ members: n, gas: g(n, BASE_P) })) },
      cases,
      marginalFinalizeGasPerParticipant: marginals,
      openRoundSpread: openSpread,
      finalizeAtParticipantLimit: atLimit,
      charged: { cases: charged, marginals: chargedMarginals, chargeAtParticipantLimit: chargeAtLimit },
      runtimeCodeBytes: { size: codeSize, eip170Limit: EIP170_LIMIT, headroom: EIP170_LIMIT - codeSize },
      targets: {
        marginal: { target: TARGET_MARGINAL, worst: worstMarginal, met: worstMarginal <= TARGET_MARGINAL },
        atLimit: { target: TARGET_AT_LIMIT, gas: atLimit, met: atLimit < TARGET_AT_LIMIT },
      },
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
process.exit(0);
