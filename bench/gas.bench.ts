/**
 * Benchmark: gas of FedmeshFederation's `openRound` and `finalizeRound` with 8, 32 and 64
 * participants, on the in-process Hardhat network (gas is deterministic up to the committee
 * draw, so one run per case suffices). Baseline in the same run: the foundation RoundLedger's
 * `recordRound`, the cost of recording a round with no committee, signatures, credits or
 * budget.
 *
 * Setup: 64 members, committee m = 5, threshold t = 3 (three signatures per finalization), every
 * participant with declared DP-SGD parameters, a spend in all 8 RDP lanes and a non-zero bucket. Each case runs on a fresh
 * deployment, so every participant spends for the first time; a second round with the same
 * participants ("steady") shows that first spends cost no more, because the ledger word is
 * non-zero from registration (contracts/libraries/PackedLedger.sol).
 *
 * Target: marginal finalize gas per participant, (g64 − g8) / 56, at most 20,000.
 *
 * Run: npm run bench:gas  (prints a table, writes bench/results/gas.json)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deployFederation, registerMembers } from '../node/chain/federation-deploy.js';
import { EthersFederationClient } from '../node/chain/federation-ethers.js';
import { deployRoundLedger, type InProcessSigner, startInProcessChain } from '../node/chain/hardhat.js';
import { EthersChainClient } from '../node/chain/ethers-client.js';
import { cAlpha, encodeEpsilonCap } from '../protocol/chain/budget.js';
import { declaredSpend, encodeDpParams } from '../protocol/chain/dp-params.js';
import { canonicalRoundRecord, type Hex32 } from '../protocol/chain/record.js';

const PARTICIPANTS = [8, 32, 64] as const;
const MEMBERS = 64;
const COMMITTEE = 5;
const THRESHOLD = 3;
const TARGET_MARGINAL = 20_000;
const INITIAL: Hex32 = `0x${'11'.repeat(32)}`;
/**
 * A realistic declaration: one DP-SGD round (q = 0.05, σ = 1.1, C = 1, 20 steps), and the spend
 * the committee recomputes from it (protocol/chain/dp-params.ts `declaredSpend`).
 */
const DP_PARAMS = encodeDpParams({ sampleRate: 0.05, noiseMultiplier: 1.1, clipNorm: 1, steps: 20 });
const SPEND = declaredSpend(DP_PARAMS);

const chain = await startInProcessChain();
const signers = chain.signers;
const byAddress = new Map(signers.map((s) => [s.address, s]));
const gasOf = async (txHash: string) => Number((await chain.provider.getTransactionReceipt(txHash))?.gasUsed ?? Number.NaN);

interface RoundGas {
  open: number;
  finalize: number;
}

async function round(fed: string, participants: readonly InProcessSigner[], round: number, prev: Hex32): Promise<RoundGas> {
  const opener = new EthersFederationClient(signers[1]!, fed);
  const opened = await opener.openRound();
  const record = canonicalRoundRecord({
    round,
    prevModelHash: prev,
    modelHash: `0x${(0x20 + round).toString(16).repeat(32)}` as Hex32,
    aggregateHash: `0x${(0x40 + round).toString(16).repeat(32)}` as Hex32,
    participants: participants.map((s, i) => ({ member: s.address, bucket: 1 + (i % 7), spend: SPEND, dpParams: DP_PARAMS })),
    dropped: [],
  });
  const sigs = await Promise.all(
    opened.committee.slice(0, THRESHOLD).map((a) => new EthersFederationClient(byAddress.get(a)!, fed).signRecord(record)),
  );
  const done = await opener.finalizeRound(record, sigs);
  return { open: await gasOf(opened.txHash), finalize: await gasOf(done.txHash) };
}

// Baseline: the foundation ledger records a round with one transaction and no checks beyond
// membership, sequence and linkage.
const ledger = await deployRoundLedger(signers[0]!, INITIAL, [signers[1]!.address]);
const recorded = await new EthersChainClient(signers[1]!, ledger.address).recordRound({
  round: 1,
  prevModelHash: INITIAL,
  modelHash: `0x${'22'.repeat(32)}`,
  participantCount: 64,
});
const baselineGas = await gasOf(recorded.txHash);

const cases: { participants: number; openRoundGas: number; finalizeRoundGas: number; steadyFinalizeRoundGas: number }[] = [];
for (const p of PARTICIPANTS) {
  const deployed = await deployFederation(signers[0]!, {
    initialModelHash: INITIAL,
    committeeSize: COMMITTEE,
    threshold: THRESHOLD,
    inputDurationSec: 600,
    finalizeDurationSec: 600,
    cAlpha: cAlpha(1e-5),
  });
  const members = signers.slice(1, 1 + MEMBERS);
  await registerMembers(
    signers[0]!,
    deployed.address,
    members.map((s, i) => ({ account: s.address, peerId: `peer-${i}`, metadataURI: '', epsilonCap: encodeEpsilonCap(100) })),
  );
  const first = await round(deployed.address, members.slice(0, p), 1, INITIAL);
  const steady = await round(deployed.address, members.slice(0, p), 2, `0x${'21'.repeat(32)}`);
  cases.push({ participants: p, openRoundGas: first.open, finalizeRoundGas: first.finalize, steadyFinalizeRoundGas: steady.finalize });
}

const g = (p: number) => cases.find((c) => c.participants === p)!;
const marginal = (g(64).finalizeRoundGas - g(8).finalizeRoundGas) / 56;
const steadyMarginal = (g(64).steadyFinalizeRoundGas - g(8).steadyFinalizeRoundGas) / 56;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(
  `FedmeshFederation gas (m = ${COMMITTEE}, t = ${THRESHOLD}, ${MEMBERS} members; baseline RoundLedger.recordRound = ${fmt(baselineGas)})`,
);
console.log('participants  openRound  finalizeRound (first spend)  finalizeRound (steady)  finalize / participant');
for (const c of cases) {
  console.log(
    `${String(c.participants).padStart(12)}  ${fmt(c.openRoundGas).padStart(9)}  ${fmt(c.finalizeRoundGas).padStart(27)}  ${fmt(c.steadyFinalizeRoundGas).padStart(22)}  ${fmt(c.finalizeRoundGas / c.participants).padStart(22)}`,
  );
}
console.log(
  `marginal finalize gas per participant (g64 − g8)/56: ${fmt(marginal)} (steady ${fmt(steadyMarginal)}); target <= ${fmt(TARGET_MARGINAL)}: ${marginal <= TARGET_MARGINAL ? 'met' : 'NOT met'}`,
);

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'gas.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(
  out,
  `${JSON.stringify(
    {
      contract: 'FedmeshFederation',
      committeeSize: COMMITTEE,
      threshold: THRESHOLD,
      members: MEMBERS,
      baseline: { name: 'RoundLedger.recordRound', gas: baselineGas },
      cases: cases.map(({ participants, openRoundGas, finalizeRoundGas }) => ({ participants, openRoundGas, finalizeRoundGas })),
      steadyState: cases.map(({ participants, steadyFinalizeRoundGas }) => ({ participants, finalizeRoundGas: steadyFinalizeRoundGas })),
      marginalFinalizeGasPerParticipant: marginal,
      steadyMarginalFinalizeGasPerParticipant: steadyMarginal,
      target: TARGET_MARGINAL,
      targetMet: marginal <= TARGET_MARGINAL,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
process.exit(0);
