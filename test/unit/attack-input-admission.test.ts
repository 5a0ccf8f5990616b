/**
 * Red-team attack (H8 F1, fixed by H12): a participant whose masked input (secure) or update
 * (plaintext) carries a ParticipantEntry signature that is not its account's. Before the fix the
 * committee admitted it, every member unmasked the sum with it, the recorder then refused the
 * line and round 1 never finalized: honest inputs released, nothing charged, every round.
 * Now every committee member runs protocol/chain/declaration.ts `checkAdmission` on each input
 * before it enters its view (secure) or the aggregate (plaintext) — node/services/round-driver.ts
 * `admission` — so the attacker's input is treated as dropped (its self mask never revealed) and
 * round 1 finalizes with the other 7 lines. Control: `H8_ATTACKER=-1` finalizes with all 8.
 */
import { Wallet } from 'ethers';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { effectiveCommittee } from '../../protocol/secure-aggregation/config.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { participantEntryValue, PARTICIPANT_ENTRY_TYPES } from '../../protocol/chain/participant-entry.js';
import { federationDomain } from '../../protocol/chain/record.js';
import { systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { createPeer, type Peer } from '../../node/peer.js';
import { FakeTrainer, fakeData, INITIAL_WEIGHTS } from './fake-trainer.js';
import type { FederationChainClient } from '../../node/chain/federation-types.js';
import { config, crypto, entropies, ids, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';
import { startPeerFederation } from '../contracts/federation-harness.js';

let stop: (() => void) | undefined;
afterEach(() => stop?.());

async function attack(secure: boolean) {
  const members = ids(8);
  const ATTACKER = Number(process.env.H8_ATTACKER ?? 7);
  const hub = new MemoryGossipHub();
  const quorum = effectiveCommittee(config(), members.length);
  const chain = await startPeerFederation(toHex0x(modelHash(INITIAL_WEIGHTS)), members, quorum);
  const ent = entropies('attack-admission');
  const stranger = Wallet.createRandom();
  const clientOf = (id: string, i: number): FederationChainClient => {
    const honest = chain.clientOf(id);
    if (i !== ATTACKER) return honest;
    // The attacker's own node: its entry signature is made with a key that is not its account's.
    return new Proxy(honest, {
      get(target, prop, receiver) {
        if (prop === 'signParticipantEntry') {
          return async (entry: Parameters<FederationChainClient['signParticipantEntry']>[0]) =>
            stranger.signTypedData(federationDomain(31337n, chain.address), PARTICIPANT_ENTRY_TYPES, participantEntryValue(entry));
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  };
  const peers: Peer[] = members.map((id, i) =>
    createPeer({
      federation: 'unit',
      members,
      committeeSize: quorum.committeeSize,
      timing: { collectMs: 1500, recordGraceMs: 300 },
      training: { epochs: 1, batchSize: 1, learningRate: 0.1, seed: 1 },
      ...(secure ? { secureAggregation: { config: config(), keysMs: 800 } } : {}),
      resultSlackMs: 2000,
      finalize: { threshold: quorum.threshold },
    })({
      gossip: hub.join(id),
      federation: clientOf(id, i),
      trainer: new FakeTrainer(i),
      data: fakeData(10 + i),
      clock: systemClock,
      log: createLogger('error'),
      secagg: { binding: TEST_BINDING, crypto, entropy: ent(id), sign: testSign(id), verify: testVerify },
    }),
  );
  stop = () => {
    for (const p of peers) p.stop();
  };
  for (const p of peers) p.start();
  const outcome = await Promise.race([
    Promise.allSettled(peers.map((p) => p.runRound(1))),
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 25_000)),
  ]);
  expect(await chain.admin.lastFinalizedRound()).toBe(1);
  const fin = await chain.admin.getFinalizedRound(1);
  const honest = ATTACKER < 0 ? 8 : 7;
  if (ATTACKER >= 0) expect(fin?.record.participants.map((p) => p.member)).not.toContain(chain.account(ATTACKER + 1));
  expect(fin?.record.participants).toHaveLength(honest);
  if (secure && outcome !== 'timeout') {
    // No member unmasked a sum with the attacker's input in it: |U| = the honest inputs, and the
    // refusal happened before the views (SECAGG_INADMISSIBLE), i.e. before any reveal.
    const members = outcome.flatMap((o) =>
      o.status === 'fulfilled' && o.value.status === 'finalized' && o.value.secure?.survivors !== undefined ? [o.value.secure] : [],
    );
    expect(members.length).toBeGreaterThan(0);
    for (const s of members) {
      expect(s.survivors).toBe(honest);
      expect(s.errors.SECAGG_INADMISSIBLE ?? 0).toBe(ATTACKER < 0 ? 0 : 1);
    }
  }
}

describe('attack: an input whose record line the contract would refuse is treated as dropped', () => {
  it(
    'secure aggregation: a participant signing its ParticipantEntry with a foreign key does not stop round 1 from finalizing',
    () => attack(true),
    60_000,
  );
  it('plaintext: the same participant does not stop round 1 from finalizing', () => attack(false), 60_000);
});
