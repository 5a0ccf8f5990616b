/**
 * Red team F31 (H-red, 2026-12-07 late; fixed in 62302f8 before it was committed, kept as a
 * regression test): the local privacy ledger's settlement (H-recip, issue #13 "a late masker
 * still charges its local ledger") withheld a masked input for good on a round state read at the
 * head block. It now settles on `getRoundConfirmed`.
 *
 * node/services/privacy-guard.ts `settle`: a masked input is charged to the local ledger as
 * PENDING and settled before the next round by the chain: listed in the round's RoundCharged
 * participants → released; the round charged without it, or ABORTED without a charge →
 * WITHHELD, no longer counted, and never looked at again. The reads were at the head, whatever
 * `chain.confirmations` says, and the next round's `beforeRound` runs right after the previous
 * round closed — exactly when an abort is in the head block. At the finalize deadline an
 * `abortRound` and the lock's `chargeRound` race (F30); when the charge's branch wins, the honest
 * members reveal (their charger waits for confirmations: F29's fix) and this participant's input
 * is released, but its ledger has already withheld it. The chain of THIS deployment still counts
 * it (the guard takes max(local, chain)), so the loss is in what only the local ledger carries:
 * the total over every deployment the same patients take part in (privacy-ledger.ts, "Several
 * studies"), which no chain sees.
 *
 * Real contract on in-process Hardhat; the daemon's client stack (EthersFederationClient inside
 * ResilientFederationClient, confirmations 3); the real PrivacyGuard and MemoryPrivacyLedger.
 * The reorg is `evm_revert` to a snapshot taken before the abort's blocks (depth 2 < 3).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type InProcessChain, startInProcessChain } from '../../node/chain/hardhat.js';
import { createLogger } from '../../node/logger.js';
import { PrivacyGuard } from '../../node/services/privacy-guard.js';
import { MemoryPrivacyLedger } from '../../node/store/privacy-ledger.js';
import { participantsHash } from '../../protocol/chain/charge.js';
import { deploymentBinding } from '../../protocol/chain/deployment-binding.js';
import { declaredSpend } from '../../protocol/chain/dp-params.js';
import { memberClient } from './charge-member-fixture.js';
import {
  as,
  CHAIN_ID,
  chargeFor,
  chargeWith,
  DP_PARAMS,
  deployFed,
  hash,
  INITIAL,
  mineAt,
  openNext,
  recordFor,
  send,
  signerOf,
  view,
} from './federation-fixture.js';

let chain: InProcessChain;

beforeAll(async () => {
  chain = await startInProcessChain();
}, 120_000);

const CONFIRMATIONS = 3;

describe('F31: a masked input is withheld from the local ledger only on a settled chain', () => {
  it('an abort read at the head, then the charge (with this participant) wins: the local ledger still counts the release', async () => {
    const fed = await deployFed(chain, { m: 3, t: 2, members: [1, 2, 3, 4, 5] });
    const { round, committee } = await openNext(chain, fed);
    const ME = 4;
    const participants = [4, 5];
    const rec = recordFor(chain, round, INITIAL, participants);
    const charge = chargeFor(rec, hash(0x44));

    const { client, close } = memberClient(chain, fed, ME, CONFIRMATIONS);
    const ledger = new MemoryPrivacyLedger(deploymentBinding(CHAIN_ID, fed.address));
    const guard = new PrivacyGuard({ epochs: 1, masked: true }, { fed: client, log: createLogger('silent'), ledger });
    // This participant's masked input of `round` left: charged as pending, counted.
    guard.charge(round, DP_PARAMS);
    expect(ledger.spent()).toBe(declaredSpend(DP_PARAMS));

    const { finalizeDeadline } = (await view<{ finalizeDeadline: bigint }>(fed.contract, 'getRound', round)) as {
      finalizeDeadline: bigint;
    };
    // Branch B, seen first: a block past the deadline and anyone's abortRound, in the head block.
    const snapshot = (await chain.provider.send('evm_snapshot', [])) as string;
    await mineAt(chain, Number(finalizeDeadline) + 1);
    await send(as(fed.contract, signerOf(chain, 6)), 'abortRound');
    // The next round's guard settles the pending input right away.
    await guard.settle(round + 1);

    // Branch A wins: the t public charge signatures landed before the deadline, with this
    // participant in U_3; confirmed (2 blocks on top), then the round aborts as usual.
    expect(await chain.provider.send('evm_revert', [snapshot])).toBe(true);
    await chargeWith(chain, fed, charge, [committee[0]!, committee[1]!], 6);
    for (let i = 0; i < CONFIRMATIONS - 1; i++) await chain.provider.send('evm_mine', []);
    await mineAt(chain, Number(finalizeDeadline) + 1);
    await send(as(fed.contract, signerOf(chain, 6)), 'abortRound');
    for (let i = 0; i < CONFIRMATIONS - 1; i++) await chain.provider.send('evm_mine', []);
    const state = (await view<{ chargedHash: string }>(fed.contract, 'getRound', round)) as { chargedHash: string };
    expect(state.chargedHash).toBe(participantsHash(rec.participants));
    expect(await view<bigint>(fed.contract, 'rdpOf', signerOf(chain, ME).address)).toBe(declaredSpend(DP_PARAMS));

    // Later rounds settle again (any pending entry).
    await guard.settle(round + 2);
    close();
    // Safe: the canonical chain charged (so the members released) this input: the local
    // ledger, the only record across deployments, counts it. Today: withheld on the head's
    // abort and never revisited — spent() is 0.
    expect(ledger.spent()).toBe(declaredSpend(DP_PARAMS));
  }, 120_000);
});
