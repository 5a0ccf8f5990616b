/**
 * Validation of committee signatures on the finalize topic (node/services/federation-recorder.ts),
 * over the in-memory gossip twin: only the round's committee, only signatures that recover the
 * author's registered address, one record per member per round.
 */
import { type BaseWallet, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { fromHex0x, hash256, utf8 } from '../../protocol/bytes.js';
import { encodeFinalizeSignature } from '../../protocol/messages/finalize.js';
import type { FederationChainClient } from '../../node/chain/federation-types.js';
import { systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { FederationRecorder } from '../../node/services/federation-recorder.js';

describe('finalize-signature validation', () => {
  it('accepts committee signatures and rejects outsiders, forgeries, equivocation and wrong authors', async () => {
    const hub = new MemoryGossipHub();
    const wallets = { alice: Wallet.createRandom(), bob: Wallet.createRandom(), mallory: Wallet.createRandom() };
    const observer = hub.join('observer');
    const recorder = new FederationRecorder(
      { federation: 'fin', members: ['alice', 'bob', 'mallory', 'observer'], threshold: 2 },
      {
        self: 'observer',
        gossip: observer,
        fed: {} as FederationChainClient, // not used by validation
        committeeOf: (round) => (round === 1 ? ['alice', 'bob'] : undefined),
        addressOf: (peer) => (peer in wallets ? wallets[peer as keyof typeof wallets].address : undefined),
        clock: systemClock,
        log: createLogger('silent'),
      },
    );
    recorder.start();
    const peers = { alice: hub.join('alice'), bob: hub.join('bob'), mallory: hub.join('mallory') };
    const digestA = hash256(utf8('record A'));
    const digestB = hash256(utf8('record B'));
    const sign = (w: BaseWallet, d: Uint8Array) => fromHex0x(w.signingKey.sign(d).serialized);
    const send = async (from: keyof typeof peers, author: string, round: number, digest: Uint8Array, signer: BaseWallet) => {
      await peers[from].publish(
        recorder.topic,
        encodeFinalizeSignature({ federation: 'fin', round, author, digest, signature: sign(signer, digest) }),
      );
      await hub.settle();
    };

    await send('alice', 'alice', 1, digestA, wallets.alice);
    await send('bob', 'bob', 1, digestA, wallets.bob);
    await send('alice', 'alice', 1, digestB, wallets.alice); // a second record from the same member
    await send('mallory', 'mallory', 1, digestA, wallets.mallory); // not on the committee
    await send('bob', 'bob', 1, digestB, wallets.mallory); // bob's message, someone else's key
    await send('bob', 'alice', 1, digestA, wallets.alice); // author field is not the gossip signer
    await send('alice', 'alice', 9, digestA, wallets.alice); // a round this peer never opened

    expect(Object.fromEntries(observer.verdicts)).toEqual({
      'accept:OK': 2,
      'reject:FINALIZE_EQUIVOCATION': 1,
      'reject:PEER_NOT_COMMITTEE': 1,
      'reject:FINALIZE_BAD_SIGNATURE': 1,
      'reject:MSG_SENDER_NOT_SIGNER': 1,
      'ignore:ROUND_UNKNOWN': 1,
    });
    expect([...recorder.signaturesFor(1, `0x${Buffer.from(digestA).toString('hex')}`).keys()].sort()).toEqual(['alice', 'bob']);
    recorder.stop();
  });
});
