/**
 * Red team F33 (H-red, 2026-12-07 late): anyone can make every honest round's audit fail by
 * submitting the committee's public signatures through a contract of their own.
 *
 * `chargeRound` and `finalizeRound` take any sender (the signatures, not the sender, authorise
 * them), and the members gossip their EIP-712 signatures in the clear (`/charge/1`, `/finalize/1`)
 * so that whoever holds t of them can submit. The auditor (node/audit/fetch.ts `chargeCallOf`,
 * `finalizeCallOf`) re-checks those signatures from the transaction's calldata and reports an
 * ERROR (`SIGNATURES_UNAVAILABLE`: "neither the committee's nor the participants' signatures can
 * be verified") when the transaction did not call the federation directly — the red team's F11
 * fix, aimed at relays a malicious deployer would use. An outsider (no role, no membership)
 * watching the gossip can front-run the designated submitter with the same arguments wrapped in a
 * call from its own forwarder contract: the charge and the record land exactly as the committee
 * signed them (the honest submitter's own transaction reverts `FedmeshRoundsAlreadyCharged` /
 * is read as the round already finalized, which the node treats as success), and `fedmesh audit`
 * reports the round as an error. Every round, for the price of the gas. An audit that fails on
 * every honest round teaches its readers to ignore SIGNATURES_UNAVAILABLE — the finding that
 * would reveal a look-alike contract charging budgets without signatures (F11).
 *
 * Real contract on in-process Hardhat served over HTTP for the auditor; the forwarder is compiled
 * in the test with the solc-js the project already uses (as attack-study-fork does).
 */
import { ContractFactory } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../node/audit/run.js';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { toChargeValue } from '../../protocol/chain/charge.js';
import { toTypedValue } from '../../protocol/chain/record.js';
import {
  chargeFor,
  deployFed,
  entrySigs,
  FED_IFACE,
  INITIAL,
  openNext,
  recordFor,
  sign,
  signCharge,
  signerOf,
  writeAuditDeployment,
} from './federation-fixture.js';
import { compileContract } from './solc-fixture.js';

/** Anyone's forwarder: calls `to` with `data`, bubbling a revert. */
const FORWARDER_SOURCE = `// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;
contract Forwarder {
    bytes private stored;
    function forward(address to, bytes calldata data) external { _call(to, data); }
    /// Carries a decoy call before the real one in its calldata; only \`data\` is executed.
    function forwardWithDecoy(address to, bytes calldata decoy, bytes calldata data) external {
        require(decoy.length > 0);
        _call(to, data);
    }
    /// Two transactions: the call is stored first, then run from storage (not in the run's calldata).
    function store(bytes calldata data) external { stored = data; }
    function run(address to) external { _call(to, stored); }
    function _call(address to, bytes memory data) private {
        (bool ok, bytes memory ret) = to.call(data);
        if (!ok) assembly { revert(add(ret, 32), mload(ret)) }
    }
}`;

const compileForwarder = (): { abi: unknown[]; bytecode: string } => compileContract('Forwarder', FORWARDER_SOURCE);

let chain: InProcessChain;
let node: LocalChainNode;

beforeAll(async () => {
  chain = await startInProcessChain();
  node = await startLocalChainNode(0);
}, 120_000);

afterAll(async () => {
  await node?.close();
});

/** An outsider: a chain account that is no member and holds no role. */
const GRIEFER = 9;

/**
 * A fresh federation's round 1 as the gossip carries it: t committee signatures over the charge
 * and over the record, the participants' entry signatures, and the griefer's forwarder deployed.
 */
async function publicRound() {
  const fed = await deployFed(chain, { m: 3, t: 2 });
  const { round, committee } = await openNext(chain, fed);
  const rec = recordFor(chain, round, INITIAL, [1, 2]);
  const charge = chargeFor(rec);
  const signers = committee.slice(0, 2);
  const chargeSigs = await Promise.all(signers.map((i) => signCharge(signerOf(chain, i), fed.address, charge)));
  const recordSigs = await Promise.all(signers.map((i) => sign(signerOf(chain, i), fed.address, rec)));
  const entries = await entrySigs(chain, fed.address, rec);
  const { abi, bytecode } = compileForwarder();
  const forwarder = await new ContractFactory(abi as never, bytecode, signerOf(chain, GRIEFER)).deploy();
  await forwarder.waitForDeployment();
  const chargeCall = (sigs: readonly string[]) =>
    FED_IFACE.encodeFunctionData('chargeRound', [round, charge.lock, toChargeValue(charge).participants, entries, sigs]);
  const finalizeCall = (sigs: readonly string[]) => FED_IFACE.encodeFunctionData('finalizeRound', [toTypedValue(rec), [], sigs]);
  const send = async (fn: string, ...args: unknown[]): Promise<void> => {
    await (await forwarder.getFunction(fn).send(...args)).wait();
  };
  return { fed, rec, charge, chargeSigs, recordSigs, chargeCall, finalizeCall, send };
}

describe('F33: the audit of an honest round does not depend on who carried its signatures', () => {
  it('an outsider lands the charge and the record through its own forwarder: the audit reports no error', async () => {
    const { fed, chargeSigs, recordSigs, chargeCall, finalizeCall, send } = await publicRound();
    // Front-running the committee's submitters with the very same arguments.
    await send('forward', fed.address, chargeCall(chargeSigs));
    await send('forward', fed.address, finalizeCall(recordSigs));

    const report = await runAudit({ rpc: node.url, deployment: writeAuditDeployment(fed, node.chainId) });
    expect(report.rounds.map((r) => [r.status, r.chargedBlock !== undefined])).toEqual([['finalized', true]]);
    // Safe: the round is exactly what the committee and the participants signed, so nothing is an
    // error (the fixture's placeholder peer proofs aside). Today: SIGNATURES_UNAVAILABLE errors
    // for the charge and the finalize.
    expect(report.findings.filter((f) => f.severity === 'error' && f.code !== 'PEER_PROOF_INVALID')).toEqual([]);
  }, 180_000);

  it("a decoy call with the same arguments and an outsider's signatures ahead of the real one: the audit verifies the real one", async () => {
    const { fed, rec, charge, chargeSigs, recordSigs, chargeCall, finalizeCall, send } = await publicRound();
    // The decoys: valid signatures, by accounts that are not on the committee.
    const outsiders = [GRIEFER, GRIEFER - 1];
    const decoyCharge = await Promise.all(outsiders.map((i) => signCharge(signerOf(chain, i), fed.address, charge)));
    const decoyRecord = await Promise.all(outsiders.map((i) => sign(signerOf(chain, i), fed.address, rec)));
    await send('forwardWithDecoy', fed.address, chargeCall(decoyCharge), chargeCall(chargeSigs));
    await send('forwardWithDecoy', fed.address, finalizeCall(decoyRecord), finalizeCall(recordSigs));
    const report = await runAudit({ rpc: node.url, deployment: writeAuditDeployment(fed, node.chainId) });
    expect(report.rounds.map((r) => r.status)).toEqual(['finalized']);
    expect(report.findings.filter((f) => f.severity === 'error' && f.code !== 'PEER_PROOF_INVALID')).toEqual([]);
  }, 180_000);

  it("residual: a call run from the forwarder's storage is in no calldata: SIGNATURES_UNAVAILABLE stays an error", async () => {
    const { fed, chargeSigs, chargeCall, send } = await publicRound();
    await send('store', chargeCall(chargeSigs));
    await send('run', fed.address);
    const report = await runAudit({ rpc: node.url, deployment: writeAuditDeployment(fed, node.chainId) });
    expect(report.findings.filter((f) => f.code === 'SIGNATURES_UNAVAILABLE' && f.severity === 'error').length).toBe(1);
  }, 180_000);
});
