/**
 * protocol/chain/peer-binding.ts: the Ed25519 proof that binds a libp2p peer id to one account on
 * one deployment, made with a real libp2p key (the contract only stores it; docs/contracts.md).
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import { startInProcessChain } from '../../node/chain/hardhat.js';
import { createLogger } from '../../node/logger.js';
import { RoundOpener } from '../../node/services/round-opener.js';
import { ed25519KeyOfPeerId, peerBindingMessage, verifyPeerBinding } from '../../protocol/chain/peer-binding.js';
import { as, CHAIN_ID, deployFed, PROOF, send, signerOf } from '../contracts/federation-fixture.js';

const BINDING = { chainId: 31337n, contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' };
const ACCOUNT = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const OTHER = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';

describe('peer binding proof', () => {
  it('verifies only the peer’s own signature over its account and deployment', async () => {
    const key = await generateKeyPair('Ed25519');
    const peerId = peerIdFromPrivateKey(key).toString();
    expect(ed25519KeyOfPeerId(peerId)).toEqual(key.publicKey.raw);
    const proof = await key.sign(peerBindingMessage(BINDING, ACCOUNT));
    expect(verifyPeerBinding(peerId, BINDING, ACCOUNT, proof)).toBe(true);
    expect(verifyPeerBinding(peerId, BINDING, ACCOUNT, `0x${Buffer.from(proof).toString('hex')}`)).toBe(true);
    // H-2: the proof does not carry over to another account, chain or contract, or to another peer's id.
    expect(verifyPeerBinding(peerId, BINDING, OTHER, proof)).toBe(false);
    expect(verifyPeerBinding(peerId, { ...BINDING, chainId: 1n }, ACCOUNT, proof)).toBe(false);
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
    expect(verifyPeerBinding(other, BINDING, ACCOUNT, proof)).toBe(false);
    expect(verifyPeerBinding(peerId, BINDING, ACCOUNT, `0x${'00'.repeat(64)}`)).toBe(false);
    expect(verifyPeerBinding('not-a-peer-id', BINDING, ACCOUNT, proof)).toBe(false);
  });
});

describe('RoundOpener with proof checks (real chain)', () => {
  it('maps a member whose stored proof verifies and refuses one registered without a proof', async () => {
    const chain = await startInProcessChain();
    const fed = await deployFed(chain, { members: [] });
    const binding = { chainId: CHAIN_ID, contract: fed.address };
    const admin = as(fed.contract, signerOf(chain, 0));
    const ids: string[] = [];
    for (const i of [1, 2, 3]) {
      const key = await generateKeyPair('Ed25519');
      const peerId = peerIdFromPrivateKey(key).toString();
      ids.push(peerId);
      const proof =
        i === 3 ? PROOF : `0x${Buffer.from(await key.sign(peerBindingMessage(binding, signerOf(chain, i).address))).toString('hex')}`;
      await send(admin, 'addMember', signerOf(chain, i).address, peerId, '', 10_000_000, proof);
    }
    const client = new EthersFederationClient(signerOf(chain, 1), fed.address, { pollIntervalMs: 10 });
    const opener = new RoundOpener(client, createLogger('silent'), 30_000, { mode: 'require' });
    await opener.open(1);
    expect(opener.isActive(ids[0]!)).toBe(true);
    expect(opener.isActive(ids[1]!)).toBe(true);
    expect(opener.isActive(ids[2]!)).toBe(false);
    expect(opener.addressOf(ids[2]!)).toBeUndefined();
    expect(opener.addressOf(ids[0]!)).toBe(signerOf(chain, 1).address);
  }, 120_000);
});
