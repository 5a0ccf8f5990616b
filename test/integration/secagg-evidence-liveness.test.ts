/**
 * Liveness evidence over the network (issue 13 #13; docs/secure-aggregation.md "Liveness:
 * complaints, refusals and release"): 8 real libp2p peers on TCP 127.0.0.1 and the real
 * FedmeshFederation on in-process Hardhat, secure aggregation at SECAGG_DEFAULTS (m, t) = (7, 5),
 * two rounds with one attacker each. The attacks are the protocol-level ones
 * (test/unit/attack-complaint-split.test.ts, attack-view-equivocation.test.ts) done by a real node:
 * its messages are altered where they leave it (its secagg inbox's `publish`), everything else is
 * the unchanged node.
 *
 *   Round 1: the participant outside the committee sends shares that do not open (the AES-GCM
 *   ciphertext altered) to committee positions 0–2 = m − t + 1 members. Those complain; the
 *   complaints cross the network; the turn-0 key-set leader (one of them) leaves it out of U_2,
 *   the members holding its share accept that (3 ≥ c + 1 complaints: provably unusable), and the
 *   round finalizes with the other seven, whose sum is exact.
 *
 *   Round 2: the first lock leader (position 0 at turn 0, normally) publishes its full View, then
 *   cites a second View it signed that omits one participant (the victim) in its lock proposal, with
 *   U_3 and D derived from it. Every member holding the full View proves it an equivocator and
 *   refuses the lock with a LockRefuse carrying both views; the refusals cross the network; the
 *   protocol's promise is that such a lock is never revealed for and a later turn's lock (citing no
 *   view of the proven equivocator) is certified: the round finalizes with all eight, the victim
 *   included, with the exact sum.
 *
 * Robust under load: every wait is the round's own (runRound resolves when the round ends on
 * chain); timings are secagg-federation's (collectMs 60 s, keysMs 20 s, recordGraceMs 5 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import type { LabelledData } from '../../protocol/data.js';
import {
  type ComplaintMsg,
  ComplaintReason,
  encodeSecAgg,
  type ProposalMsg,
  SecAggKind,
  type SecAggMessage,
  type ShareKeysMsg,
  type SignedView,
  viewStatement,
} from '../../protocol/messages/secagg.js';
import type { ModelWeights } from '../../protocol/model.js';
import { createRng } from '../../protocol/rng.js';
import { SECAGG_DEFAULTS } from '../../protocol/secure-aggregation/config.js';
import { applyAggregate, weightedDelta } from '../../protocol/secure-aggregation/quantize.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { loadBreastCancer } from '../../node/data/breast-cancer.js';
import { createLogger } from '../../node/logger.js';
import { selectBackend } from '../../node/ml/backend.js';
import type { Libp2pGossip } from '../../node/net/libp2p-host.js';
import type { LocalTrainer, RoundOutcome } from '../../node/services/round-driver.js';
import { assertSimFinalized, type LocalFederation, startLocalFederation } from '../../simulations/local-federation.js';
import { prepareSites } from '../../simulations/sites.js';

const PEERS = 8;
const FEDERATION = 'itest-evidence';

async function until(what: string, cond: () => boolean, timeoutMs = 100_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const copy = (w: ModelWeights): ModelWeights => ({ tensors: w.tensors.map((t) => ({ shape: [...t.shape], data: t.data.slice() })) });

/** What one peer trained in one round: the head it started from, the weights it ended with, n_i. */
interface Trained {
  readonly global: ModelWeights;
  readonly local: ModelWeights;
  readonly n: number;
}

/** Round 1's attack: which participant, which members got shares that do not open. */
interface ShareAttack {
  attacker?: string;
  victims?: readonly string[];
}

/** Round 2's attack: the equivocating member, the participant its second view omits, the two views. */
interface ViewAttack {
  member?: string;
  victim?: string;
  full?: SignedView;
  omitting?: SignedView;
}

/** The FedAvg of `who`'s updates on the head `base`, as the committee computes it (quantize.ts), before quantization. */
function fedAvg(trained: ReadonlyMap<string, Trained>, who: readonly number[], base: string): ModelWeights {
  const rows = who.map((i) => trained.get(`${i}/${base.toLowerCase()}`)!);
  const global = rows[0]!.global;
  const sum = new Float64Array(rows[0]!.local.tensors.reduce((n, t) => n + t.data.length, 0));
  let total = 0;
  for (const x of rows) {
    const d = weightedDelta(x.local, global, x.n);
    for (let k = 0; k < sum.length; k++) sum[k]! += d[k]!;
    total += x.n;
  }
  return applyAggregate(global, sum, total);
}

function maxDiff(a: ModelWeights, b: ModelWeights): number {
  let m = 0;
  a.tensors.forEach((t, i) => {
    for (let k = 0; k < t.data.length; k++) m = Math.max(m, Math.abs(t.data[k]! - b.tensors[i]!.data[k]!));
  });
  return m;
}

/** Flip one ciphertext bit: the AES-GCM tag no longer verifies (SECAGG_DECRYPT_FAILED at the recipient). */
function spoil(m: ShareKeysMsg, victims: ReadonlySet<string>): ShareKeysMsg {
  return {
    ...m,
    shares: m.shares.map((s) => {
      if (!victims.has(s.recipient)) return s;
      const ciphertext = s.ciphertext.slice();
      ciphertext[0]! ^= 1;
      return { ...s, ciphertext };
    }),
  };
}

describe('liveness evidence over libp2p + Hardhat: complaints, refusals (8 peers, m = 7, t = 5)', () => {
  let fed: LocalFederation;
  /** By `peer index/head model hash` (a round's head is its base). */
  const trained = new Map<string, Trained>();
  const shareAttack: ShareAttack = {};
  const viewAttack: ViewAttack = {};
  /** Round 2's Views as each member published them. */
  const fullViews = new Map<string, SignedView>();
  const outcomes: RoundOutcome[][] = [];

  beforeAll(async () => {
    await selectBackend();
    const { siteData } = prepareSites(loadBreastCancer(), {
      testFraction: 0.2,
      peers: PEERS,
      splitRng: createRng(21),
      partitionRng: createRng(22),
    });
    const capture = (i: number, inner: LocalTrainer): LocalTrainer => ({
      getWeights: () => inner.getWeights(),
      setWeights: (w) => inner.setWeights(w),
      train: async (data: LabelledData, opts) => {
        const global = copy(inner.getWeights());
        const res = await inner.train(data, opts);
        trained.set(`${i}/${toHex0x(modelHash(global))}`, { global, local: copy(inner.getWeights()), n: data.n });
        return res;
      },
    });
    fed = await startLocalFederation({
      federation: FEDERATION,
      seed: 21,
      model: { kind: 'mlp', inputShape: [30], hidden: [16] },
      siteData,
      committeeSize: 5,
      timing: { collectMs: 60_000, recordGraceMs: 5_000 },
      training: { epochs: 2, batchSize: 16, learningRate: 0.01 },
      log: createLogger('error'),
      secureAggregation: { config: SECAGG_DEFAULTS, keysMs: 20_000 },
      wrapTrainer: capture,
    });
    // Each peer's outgoing secagg messages pass through the attack for the round (the node's own
    // inbox stores what it publishes, so the attacker's node holds the altered message too).
    for (const peer of fed.peers) {
      const inbox = peer.secaggInbox!;
      const secagg = peer.components.secagg!;
      const publish = inbox.publish.bind(inbox);
      inbox.publish = (m: SecAggMessage) => {
        const committee = peer.opener.committeeOf(m.round) ?? [];
        if (m.round === 1 && m.kind === SecAggKind.ShareKeys && !committee.includes(m.sender)) {
          const victims = committee.slice(0, SECAGG_DEFAULTS.committeeSize - SECAGG_DEFAULTS.threshold + 1);
          shareAttack.attacker = m.sender;
          shareAttack.victims = victims;
          return publish(spoil(m, new Set(victims)));
        }
        if (m.round === 2 && m.kind === SecAggKind.View) fullViews.set(m.sender, m.view);
        // The first lock proposal of round 2 (normally position 0's, turn 0; under load a later
        // turn's leader may come first): its sender becomes the equivocator.
        if (m.round === 2 && m.kind === SecAggKind.Proposal && viewAttack.member === undefined && fullViews.has(m.sender)) {
          const scope = { binding: secagg.binding, federation: FEDERATION, round: 2 };
          return publish(equivocate(m, scope, secagg.sign));
        }
        return publish(m);
      };
    }
    /** Position 0 cites a second view of its own that omits one survivor; U_3 and D follow from it. */
    const equivocate = (
      p: ProposalMsg,
      scope: { binding: Uint8Array; federation: string; round: number },
      sign: (b: Uint8Array) => Uint8Array,
    ): ProposalMsg => {
      const M = p.sender;
      const full = fullViews.get(M)!;
      const victim = p.survivors.find((x) => x !== M)!;
      const entries = full.entries.filter((e) => e.participant !== victim);
      const omitting: SignedView = {
        member: M,
        keySet: full.keySet,
        entries,
        signature: sign(viewStatement(scope, M, full.keySet, entries)),
      };
      Object.assign(viewAttack, { member: M, victim, full, omitting });
      // Replace its own cited view (or, if it cited none of its own, the last one) with the omitting one.
      const own = p.views.findIndex((v) => v.member === M);
      const at = own >= 0 ? own : p.views.length - 1;
      const views = p.views.map((v, k) => (k === at ? omitting : v)).sort((a, b) => (a.member < b.member ? -1 : 1));
      return {
        ...p,
        views,
        survivors: p.survivors.filter((x) => x !== victim),
        dropped: [...p.dropped, victim].sort(),
      };
    };
    for (let r = 1; r <= 2; r++) outcomes.push((await fed.runRound(r)).map(assertSimFinalized));
  }, 600_000);

  afterAll(async () => {
    await fed?.stop();
  });

  const indexOf = (id: string): number => fed.peers.findIndex((p) => p.id === id);
  const accountOf = (id: string): string => fed.peers[0]!.opener.addressOf(id)!.toLowerCase();
  const recorded = async (r: number) => (await fed.federationClients[0]!.getFinalizedRound(r))!;

  it('round 1: the members the attacker sent bad shares complain, and every peer holds the three complaints', () => {
    const { attacker, victims } = shareAttack;
    expect(attacker).toBeDefined();
    expect(victims).toHaveLength(3);
    for (const p of fed.peers) {
      const complaints = p.secaggInbox!.liveness.filter((e) => e.event === 'complaint' && e.round === 1);
      expect(complaints.map((e) => [e.member, e.event === 'complaint' ? e.accused : ''])).toEqual(
        expect.arrayContaining(victims!.map((v) => [v, attacker])),
      );
      // Nobody else was accused, and no honest participant's share failed anywhere.
      expect(complaints.filter((e) => e.event === 'complaint' && e.accused !== attacker)).toEqual([]);
      expect(new Set(complaints.map((e) => e.member))).toEqual(new Set(victims));
    }
  });

  it('round 1: certifies without the attacker and finalizes with the exact sum of the other seven', async () => {
    const { attacker } = shareAttack;
    const { record } = await recorded(1);
    expect(record.participants.map((a) => a.member.toLowerCase()).sort()).toEqual(
      fed.peers
        .map((p) => p.id)
        .filter((id) => id !== attacker)
        .map(accountOf)
        .sort(),
    );
    const others = fed.peers.map((_, i) => i).filter((i) => i !== indexOf(attacker!));
    const model = fed.recordedModels.get(outcomes[0]![0]!.record.modelHash.toLowerCase())!;
    // Stochastic rounding at 2^−24 on n_i·Δ_i and one float32 rounding: far below 1e-5.
    expect(maxDiff(model, fedAvg(trained, others, record.prevModelHash))).toBeLessThan(1e-5);
    // The check can tell: with the attacker's update the average is elsewhere.
    expect(maxDiff(model, fedAvg(trained, [...others, indexOf(attacker!)], record.prevModelHash))).toBeGreaterThan(1e-4);
  });

  it('round 2: the equivocating lock leader is proven over the network, with both of its signed views', () => {
    const { member: M, full, omitting } = viewAttack;
    expect(M).toBeDefined();
    const honest = fed.peers.filter((p) => p.id !== M);
    for (const p of honest) {
      const refusals = p.secaggInbox!.liveness.filter((e) => e.event === 'lock-refusal' && e.round === 2 && e.equivocator === M);
      // Refusals by other members reached this peer over gossip (each member refuses once per lock).
      expect(refusals.filter((e) => e.member !== p.id).length).toBeGreaterThanOrEqual(1);
      for (const e of refusals) {
        if (e.event !== 'lock-refusal') continue;
        expect(new Set(e.views!.map((v) => v.signature))).toEqual(new Set([toHex0x(full!.signature), toHex0x(omitting!.signature)]));
      }
      // And as an equivocation record, once.
      expect(p.secaggInbox!.evidence.filter((e) => e.kind === 'secagg-View' && e.round === 2 && e.sender === M)).toHaveLength(1);
    }
    // The refusing members, as seen anywhere: enough that the lock could never reach t = 5 even
    // had some honest member endorsed it (releaseQuorum(7, 5, p = 1) = 4).
    const refusers = new Set(
      fed.peers.flatMap((p) => p.secaggInbox!.liveness.filter((e) => e.event === 'lock-refusal' && e.round === 2).map((e) => e.member)),
    );
    expect(refusers.size).toBeGreaterThanOrEqual(4);
    expect(refusers.has(M!)).toBe(false);
  });

  it('round 2: the refused lock is never revealed for; a later lock without the equivocator finalizes with everyone, exactly', async () => {
    const { victim } = viewAttack;
    const refused = new Set(
      fed.peers.flatMap((p) =>
        p.secaggInbox!.liveness.flatMap((e) => (e.event === 'lock-refusal' && e.round === 2 ? [e.lock.toLowerCase()] : [])),
      ),
    );
    expect(refused.size).toBeGreaterThanOrEqual(1);
    for (const p of fed.peers)
      for (const rv of p.secaggInbox!.messages(2, SecAggKind.Reveal)) expect(refused.has(toHex0x(rv.proposal).toLowerCase())).toBe(false);
    const { record } = await recorded(2);
    expect(record.participants.map((a) => a.member.toLowerCase())).toContain(accountOf(victim!));
    expect(record.participants).toHaveLength(PEERS);
    const model = fed.recordedModels.get(outcomes[1]![0]!.record.modelHash.toLowerCase())!;
    expect(maxDiff(model, fedAvg(trained, [...fed.peers.keys()], record.prevModelHash))).toBeLessThan(1e-5);
  });

  it('no liveness message of an honest member is rejected (they cost nobody peer score)', () => {
    const verdicts = fed.peers.flatMap((p) => [...(p.components.gossip.verdicts as Map<string, number>).keys()]);
    expect(verdicts.filter((k) => k.startsWith('reject'))).toEqual([]);
  });

  it('forged complaints from a committee member are REJECTed by every peer and score it below 0', async () => {
    const committee = fed.peers[0]!.opener.committeeOf(2)!;
    const liar = fed.peers[indexOf(committee[1]!)]!;
    const gossip = liar.components.gossip as Libp2pGossip;
    const others = fed.peers.filter((p) => p !== liar).map((p) => p.components.gossip as Libp2pGossip);
    // Three complaints about three members, each with a signature that is not the liar's over them.
    const accused = fed.peers
      .map((p) => p.id)
      .filter((id) => id !== liar.id)
      .slice(0, 3);
    for (const a of accused) {
      const forged: ComplaintMsg = {
        kind: SecAggKind.Complaint,
        federation: FEDERATION,
        round: 2,
        sender: liar.id,
        accused: a,
        reason: ComplaintReason.BadShare,
        signature: new Uint8Array(64).fill(7),
      };
      await gossip.publish(liar.secaggInbox!.topic, encodeSecAgg(forged));
    }
    await until('every other peer REJECTs the three forgeries and scores the liar below 0', () =>
      others.every((g) => (g.verdicts.get('reject:SECAGG_BAD_SIGNATURE') ?? 0) >= 3 && g.score(liar.id) < 0),
    );
    for (const p of fed.peers) expect(p.secaggInbox!.messages(2, SecAggKind.Complaint)).toEqual([]);
  }, 120_000);
});
