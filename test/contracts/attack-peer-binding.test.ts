/**
 * Issue 14 item 2 / audit finding H-2, end to end on FedmeshFederation's bytecode (in-process
 * Hardhat) with real libp2p Ed25519 keys: an account registered with a victim's peer id, without
 * the victim's key, is refused by every member's RoundOpener (the daemon's and the simulator's
 * peers map peer ids through it) and flagged by the auditor; a rebinding after MemberInfoUpdated
 * is checked again; `admin-trust` takes a missing proof on the admin's word, never a wrong one.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../node/audit/run.js';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import type { InProcessChain } from '../../node/chain/hardhat.js';
import { startInProcessChain } from '../../node/chain/hardhat.js';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { createLogger } from '../../node/logger.js';
import { type PeerProofMode, RoundOpener } from '../../node/services/round-opener.js';
import { type PeerBindingError, signPeerBinding } from '../../protocol/chain/peer-binding.js';
import { as, deployFed, type Fed, latestTimestamp, nextBlockAt, send, signerOf, view, writeAuditDeployment } from './federation-fixture.js';

const NO_PROOF = `0x${'00'.repeat(64)}`;
const CAP = 10_000_000;

let chain: InProcessChain;
let node: LocalChainNode;
let fed: Fed;
let deploymentPath: string;
const keys: PrivateKey[] = [];
const idOf = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString();
const A = (i: number): string => signerOf(chain, i).address;
const binding = () => ({ chainId: node.chainId, contract: fed.address });
const admin = () => as(fed.contract, signerOf(chain, 0));

/** Member i's RoundOpener as its node runs it, collecting its refusals. */
function openerOf(i: number, mode: PeerProofMode = 'require'): { opener: RoundOpener; refused: PeerBindingError[] } {
  const refused: PeerBindingError[] = [];
  const client = new EthersFederationClient(signerOf(chain, i), fed.address, { pollIntervalMs: 10, fromBlock: fed.blockNumber });
  const opener = new RoundOpener(client, createLogger('silent'), 30_000, { mode, onRefused: (e) => refused.push(e) });
  return { opener, refused };
}

async function abortOpenRound(): Promise<void> {
  const round = Number(await view<bigint>(fed.contract, 'currentRound'));
  const state = await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', round);
  await nextBlockAt(chain, Math.max(Number(state.finalizeDeadline), await latestTimestamp(chain)) + 1);
  await send(as(fed.contract, signerOf(chain, 1)), 'abortRound');
}

describe('a peer id registered without its key (H-2) on the real contract', () => {
  beforeAll(async () => {
    chain = await startInProcessChain();
    node = await startLocalChainNode(0);
    fed = await deployFed(chain, { members: [] });
    for (let i = 0; i < 6; i++) keys.push(await generateKeyPair('Ed25519'));
    // Members 1–3: honest, each with its own key's proof.
    for (const i of [1, 2, 3]) {
      await send(admin(), 'addMember', A(i), idOf(keys[i]!), '', CAP, await signPeerBinding(keys[i]!, binding(), A(i)));
    }
    // Member 4 registers the peer id of key 5 (an institution not yet registered: the victim)
    // with a proof made by its own key: the contract cannot tell, it has no Ed25519 check.
    await send(admin(), 'addMember', A(4), idOf(keys[5]!), '', CAP, await signPeerBinding(keys[4]!, binding(), A(4)));
    deploymentPath = writeAuditDeployment(fed, node.chainId);
  }, 120_000);

  afterAll(async () => {
    await node?.close();
  });

  it('every honest member refuses the victim’s peer id (typed refusal naming member, peer id, reason); the honest ones are mapped', async () => {
    const nodes = [1, 2, 3].map((i) => openerOf(i));
    for (const n of nodes) await n.opener.open(1);
    const victim = idOf(keys[5]!);
    for (const { opener, refused } of nodes) {
      expect(opener.isActive(victim)).toBe(false);
      expect(opener.addressOf(victim)).toBeUndefined();
      for (const i of [1, 2, 3]) expect(opener.addressOf(idOf(keys[i]!))).toBe(A(i));
      expect(opener.activeMembers()).toEqual([1, 2, 3].map((i) => idOf(keys[i]!)));
      expect(refused.map((e) => [e.code, e.fields])).toEqual([['PEER_PROOF_REFUSED', { member: A(4), peerId: victim, reason: 'invalid' }]]);
      expect(opener.peerProofRefusals).toBe(1);
      // A committee seat member 4 holds maps to no peer id: nothing sent under the victim's id counts.
      const committee = opener.committeeOf(1)!;
      expect(committee).not.toContain(victim);
    }
  }, 120_000);

  it('the auditor flags the binding (PEER_PROOF_INVALID, error) and only it', async () => {
    const report = await runAudit({ rpc: node.url, deployment: deploymentPath });
    const flagged = report.findings.filter((f) => f.code === 'PEER_PROOF_INVALID');
    expect(flagged.map((f) => [f.severity, f.evidence.member, f.evidence.peerId, f.evidence.reason])).toEqual([
      ['error', A(4), idOf(keys[5]!), 'invalid'],
    ]);
    expect(report.ok).toBe(false);
  }, 120_000);

  it('after MemberInfoUpdated: a rebinding is checked again (missing proof refused under require, mapped under admin-trust; a wrong one refused in both)', async () => {
    await abortOpenRound();
    // Member 3 is re-pointed to key 0's id with no proof; member 4 keeps its wrong one.
    await send(admin(), 'setPeerId', A(3), idOf(keys[0]!), NO_PROOF);
    const strict = openerOf(1);
    const trusting = openerOf(2, 'admin-trust');
    await strict.opener.open(2);
    await trusting.opener.open(2);
    expect(strict.opener.isActive(idOf(keys[0]!))).toBe(false);
    expect(strict.refused.map((e) => e.fields)).toEqual([
      { member: A(3), peerId: idOf(keys[0]!), reason: 'missing' },
      { member: A(4), peerId: idOf(keys[5]!), reason: 'invalid' },
    ]);
    expect(trusting.opener.addressOf(idOf(keys[0]!))).toBe(A(3));
    expect(trusting.opener.isActive(idOf(keys[5]!))).toBe(false);
    expect(trusting.refused.map((e) => e.fields)).toEqual([{ member: A(4), peerId: idOf(keys[5]!), reason: 'invalid' }]);
    // The victim joins with its own key: its id is taken on chain (FedmeshRegistryPeerIdTaken) until
    // the admin fixes member 4's binding, so the audit finding is what tells the admin.
    await expect(
      send(admin(), 'addMember', A(5), idOf(keys[5]!), '', CAP, await signPeerBinding(keys[5]!, binding(), A(5))),
    ).rejects.toThrow(/FedmeshRegistryPeerIdTaken|reverted/);
  }, 120_000);

  it('a member removed and re-added under a new peer id between two opens is re-read by a node that cached the old id', async () => {
    const n = openerOf(1);
    await abortOpenRound();
    await n.opener.open(3);
    expect(n.opener.addressOf(idOf(keys[2]!))).toBe(A(2));
    await abortOpenRound();
    const fresh = await generateKeyPair('Ed25519');
    const version = await view<bigint>(fed.contract, 'memberInfoVersion');
    await send(admin(), 'removeMember', A(2));
    await send(admin(), 'addMember', A(2), idOf(fresh), '', CAP, await signPeerBinding(fresh, binding(), A(2)));
    // addMember moves the account's binding, so it is member info nodes must re-read.
    expect(await view<bigint>(fed.contract, 'memberInfoVersion')).toBe(version + 1n);
    await n.opener.open(4);
    expect(n.opener.addressOf(idOf(fresh))).toBe(A(2));
    expect(n.opener.addressOf(idOf(keys[2]!))).toBeUndefined();
  }, 120_000);
});
