/**
 * Secure aggregation end to end: 8 real libp2p peers on TCP 127.0.0.1 and the in-process
 * Hardhat chain run 3 rounds with one dropout per round — the committee's position 0 after
 * its input (position 1 takes over), a non-committee participant after sharing its keys (its
 * mask key is reconstructed), a non-committee participant after its input — then the same
 * federation, seed and dropouts run plaintext FedAvg. The secure model must learn as well:
 * final accuracy within 0.01 of the plaintext run. Deadlines leave room for a loaded machine:
 * an honest input that missed the deadline would (safely) count as a dropout.
 */
import { prepareSites } from '../../simulations/sites.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { participantsHash } from '../../protocol/chain/charge.js';
import type { LabelledData, Standardizer } from '../../protocol/data.js';
import { SecAggKind } from '../../protocol/messages/secagg.js';
import { createRng } from '../../protocol/rng.js';
import { SECAGG_DEFAULTS } from '../../protocol/secure-aggregation/config.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { loadBreastCancer } from '../../node/data/breast-cancer.js';
import { createLogger } from '../../node/logger.js';
import { selectBackend } from '../../node/ml/backend.js';
import type { DropoutPoint, RoundOutcome } from '../../node/services/round-driver.js';
import { assertSimFinalized, type DropoutPlan, startLocalFederation } from '../../simulations/local-federation.js';
import { evaluateAcrossSites } from '../../simulations/simulate.js';

const PEERS = 8;
const ROUNDS = 3;

/** One dropout per round, chosen from the round's committee (peer indices). */
const dropouts: DropoutPlan = (round, { committee, peers }) => {
  const outsider = Array.from({ length: peers }, (_, i) => i).find((i) => !committee.includes(i))!;
  const plan: Record<number, [number, DropoutPoint]> = {
    1: [committee[0]!, 'after-input'],
    2: [outsider, 'after-keys'],
    3: [outsider, 'after-input'],
  };
  return new Map([plan[round]!]);
};

interface Run {
  ids: string[];
  accuracy: number;
  outcomes: RoundOutcome[][];
  verdicts: string[];
  resultSigners: number[];
  charges: { charged: boolean; sameParticipants: boolean; beforeRecord: boolean }[];
}

async function run(
  secure: boolean,
  siteData: readonly LabelledData[],
  test: LabelledData,
  standardizers: readonly Standardizer[],
): Promise<Run> {
  const fed = await startLocalFederation({
    federation: secure ? 'itest-secure' : 'itest-plain',
    seed: 11,
    model: { kind: 'mlp', inputShape: [30], hidden: [16] },
    siteData,
    committeeSize: 5,
    // Holds at load 20 on 2 cores (8 peers training and the chain share this one process): at
    // collectMs 6 s / keysMs 3 s an honest input missed round 1's collect window at load ~12
    // (participant counts [7, 7, 8]); at 15 s / 7.5 s no key set was certified by round 1's
    // input deadline at load ~15 (every member abstained SECAGG_NOT_CERTIFIED, the round aborted
    // on chain), and at 30 s / 12 s once more in 2 runs at load ~15 (3 members certified the key
    // set 51 s after the open, 3 others had abstained at the deadline: 3 < t views); at
    // recordGraceMs 2 s position 2 recorded round 1 before position 1 (a member's turn counts
    // from when it is ready to record, and members lagged each other by over 2 s).
    timing: { collectMs: 60_000, recordGraceMs: 5_000 },
    training: { epochs: 2, batchSize: 16, learningRate: 0.01 },
    log: createLogger('error'),
    dropouts,
    ...(secure ? { secureAggregation: { config: SECAGG_DEFAULTS, keysMs: 20_000 } } : {}),
  });
  try {
    const outcomes: RoundOutcome[][] = [];
    const resultSigners: number[] = [];
    const charges: { charged: boolean; sameParticipants: boolean; beforeRecord: boolean }[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const out = (await fed.runRound(r)).map(assertSimFinalized);
      outcomes.push(out);
      const record = (await fed.federationClients[0]!.getFinalizedRound(r))?.record;
      expect(new Set(fed.peers.map((p) => toHex0x(modelHash(p.weights))))).toEqual(new Set([record!.modelHash]));
      if (secure) resultSigners.push(fed.peers[0]!.secaggInbox!.messages(r, SecAggKind.Result).length);
      const finalized = (await fed.federationClients[0]!.getFinalizedRound(r))!;
      const charge = await fed.federationClients[0]!.getChargedRound(r);
      charges.push({
        charged: charge !== undefined,
        sameParticipants: charge !== undefined && charge.participantsHash === participantsHash(finalized.record.participants),
        beforeRecord: charge !== undefined && charge.blockNumber < finalized.blockNumber,
      });
    }
    const verdicts = fed.peers.flatMap((p) => [...(p.components.gossip.verdicts as Map<string, number>).keys()]);
    return {
      ids: fed.peers.map((p) => p.id),
      accuracy: evaluateAcrossSites(fed.trainers[0]!, test, standardizers).accuracy,
      outcomes,
      verdicts,
      resultSigners,
      charges,
    };
  } finally {
    await fed.stop();
  }
}

describe('secure aggregation: 8 libp2p peers + Hardhat, 3 rounds, one dropout per round', () => {
  let secure: Run;
  let plain: Run;

  beforeAll(async () => {
    await selectBackend();
    const all = loadBreastCancer();
    const { test, standardizers, siteData } = prepareSites(all, {
      testFraction: 0.2,
      peers: PEERS,
      splitRng: createRng(11),
      partitionRng: createRng(12),
    });
    secure = await run(true, siteData, test, standardizers);
    plain = await run(false, siteData, test, standardizers);
  }, 900_000);

  it('records every round with the survivors only, and every peer adopts it', () => {
    expect(secure.outcomes.map((o) => o[0]!.record.participantCount)).toEqual([8, 7, 8]);
    expect(plain.outcomes.map((o) => o[0]!.record.participantCount)).toEqual([8, 7, 8]);
    for (const round of secure.outcomes) {
      expect(round.every((o) => o.participantPath.at(-1) === 'adopted')).toBe(true);
      expect(round.filter((o) => o.dropout !== undefined)).toHaveLength(1);
    }
  });

  it('routes around dropped committee members: a later position records when position 0 is silent', () => {
    const r1 = secure.outcomes[0]!;
    const committee = r1[0]!.committee;
    const dropped = r1.findIndex((o) => o.dropout === 'after-input');
    expect(committee.indexOf(secure.ids[dropped]!)).toBe(0);
    // A live member records in its turn; which one is timing: a member's turn counts from when it
    // is ready to record, so under load (members lagging each other by more than recordGraceMs)
    // position 2 may submit first (seen once in 4 runs at load 5-12). The silent position 0 never.
    const recorder = r1.findIndex((o) => o.recordedBySelf);
    expect(recorder).toBeGreaterThanOrEqual(0);
    expect(committee.indexOf(secure.ids[recorder]!)).toBeGreaterThanOrEqual(1);
    // Round 1 loses a committee member, rounds 2 and 3 a plain participant. The secure committee
    // is SECAGG_DEFAULTS' (m, t) = (7, 5) (it tolerates one malicious member; issue 13).
    secure.outcomes.forEach((round, r) => {
      const members = round.filter((o) => o.committeePath !== undefined);
      expect(members).toHaveLength(7);
      // Every live member normally ends 'done'; under load a member may lag and abstain (it signs
      // nothing; t = 5 suffice), so the count is bounded by the quorum and by the live members.
      const done = members.filter((o) => o.committeePath!.at(-1) === 'done').length;
      expect(done).toBeGreaterThanOrEqual(5);
      expect(done).toBeLessThanOrEqual(r === 0 ? 6 : 7);
      expect(round.filter((o) => o.recordedBySelf)).toHaveLength(1);
    });
  });

  it('unmasks with the dropped participant’s mask key and gathers ≥ t signed results', () => {
    const live = secure.outcomes[1]!.filter((o) => o.secure?.survivors !== undefined);
    expect(live.length).toBeGreaterThanOrEqual(5);
    for (const o of live) expect([o.secure!.survivors, o.secure!.dropped]).toEqual([7, 1]);
    for (const n of secure.resultSigners) expect(n).toBeGreaterThanOrEqual(5);
    for (const round of secure.outcomes) for (const o of round) expect(o.secure!.errors).toEqual({});
  });

  it('charges each secure round’s U_3 on chain before its record, exactly the record’s participants (F18); plaintext rounds only at finalize', () => {
    expect(secure.charges).toEqual(Array.from({ length: ROUNDS }, () => ({ charged: true, sameParticipants: true, beforeRecord: true })));
    expect(plain.charges.map((c) => c.charged)).toEqual(Array.from({ length: ROUNDS }, () => false));
  });

  it('no gossip message is rejected', () => {
    expect(secure.verdicts.filter((k) => k.startsWith('reject'))).toEqual([]);
    expect(plain.verdicts.filter((k) => k.startsWith('reject'))).toEqual([]);
  });

  it('learns as well as plaintext FedAvg with the same seed: accuracy within 0.01', () => {
    expect(plain.accuracy).toBeGreaterThan(0.9);
    expect(Math.abs(secure.accuracy - plain.accuracy)).toBeLessThanOrEqual(0.01);
  });
});
