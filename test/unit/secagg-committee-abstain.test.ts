/**
 * The node's secure round (node/services/secure-round.ts via Peer.runRound) when a committee
 * member misses one participant's ShareKeys message — the simulation lab's 32/64-peer crash
 * (`SECAGG_UNKNOWN_KEY: no commitment from …` escaping Peer.runRound). Over the in-memory
 * gossip twin, with a lossy link at the transport: the last committee member never receives
 * participant P's ShareKeys, and the leader never receives that member's view, so the
 * leader's proposal (t views from the others) lists P as a survivor. The member refuses it
 * before revealing (SECAGG_CANNOT_FOLLOW), abstains, and its runRound resolves 'finalized'
 * with the other members' aggregate over every contributor. The round is opened and finalized on
 * FedmeshFederation's bytecode (in-process Hardhat); the committee is the contract's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import type { LabelledData } from '../../protocol/data.js';
import { decodeSecAgg, SecAggKind } from '../../protocol/messages/secagg.js';
import type { ModelWeights } from '../../protocol/model.js';
import { ignore } from '../../protocol/verdict.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { systemClock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import type { Gossip } from '../../node/net/gossip.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { createPeer, type Peer } from '../../node/peer.js';
import type { LocalTrainer } from '../../node/services/round-driver.js';
import { effectiveCommittee } from '../../protocol/secure-aggregation/config.js';
import { config, crypto, entropies, ids, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';
import { openRoundAsPeers, startPeerFederation } from '../contracts/federation-harness.js';

const initial: ModelWeights = { tensors: [{ shape: [4], data: Float32Array.from([0.1, -0.2, 0.3, 0.4]) }] };

class FakeTrainer implements LocalTrainer {
  private w: ModelWeights = initial;
  constructor(private readonly index: number) {}
  getWeights(): ModelWeights {
    return { tensors: this.w.tensors.map((t) => ({ shape: [...t.shape], data: t.data.slice() })) };
  }
  setWeights(w: ModelWeights): void {
    this.w = { tensors: w.tensors.map((t) => ({ shape: [...t.shape], data: Float32Array.from(t.data) })) };
  }
  async train(): Promise<{ loss: number; steps: number; seconds: number }> {
    await new Promise((r) => setTimeout(r, 2));
    this.w = { tensors: this.w.tensors.map((t) => ({ shape: [...t.shape], data: t.data.map((v) => v + (this.index + 1) * 0.01) })) };
    return { loss: 0.1, steps: 1, seconds: 0 };
  }
}

const data = (n: number): LabelledData => ({ x: new Float32Array(n), y: new Uint8Array(n), n, featureShape: [1] });

/**
 * A link that loses, as the receiving peer sees them, the secagg messages `lost(sender, kind)`
 * names and, on the update topic, everything `lostUpdate(sender)` names.
 */
function lossy(
  g: Gossip,
  lost: (sender: string, kind: SecAggKind) => boolean,
  lostUpdate: (sender: string) => boolean = () => false,
): Gossip {
  return {
    get self() {
      return g.self;
    },
    get verdicts() {
      return g.verdicts;
    },
    subscribe: (topic, validator, handler) =>
      g.subscribe(
        topic,
        (m) => {
          if (topic.endsWith('/secagg/1')) {
            const kind = decodeSecAgg(m.data).kind;
            if (lost(m.from, kind)) return ignore('TEST_LOST');
          }
          if (topic.endsWith('/update/1') && lostUpdate(m.from)) return ignore('TEST_LOST');
          return validator(m);
        },
        handler,
      ),
    unsubscribe: (t) => g.unsubscribe(t),
    publish: (t, d) => g.publish(t, d),
    subscribers: (t) => g.subscribers(t),
  } as Gossip;
}

let stop: (() => void) | undefined;
afterEach(() => stop?.());

describe('a committee member that missed a survivor’s shares', () => {
  it('abstains (SECAGG_CANNOT_FOLLOW) instead of crashing runRound; the others finalize over every input', async () => {
    // Nine members, so the (7, 5) committee leaves two outsiders; the late committee member only
    // observes (its participant role shares the inbox).
    const members = ids(9);
    const hub = new MemoryGossipHub();
    const quorum = effectiveCommittee(config(), members.length);
    const chain = await startPeerFederation(toHex0x(modelHash(initial)), members, quorum);
    const ent = entropies('abstain');
    const trainers = members.map((_, i) => new FakeTrainer(i));
    // Round 1 is opened on chain first, so the lossy links below know the contract's committee.
    const committee = await openRoundAsPeers(chain);
    expect(committee).toHaveLength(quorum.committeeSize);
    const late = () => committee[4]!;
    const leader = () => committee[0]!;
    const missed = () => members.find((m) => !committee.includes(m))!;
    const peers: Peer[] = members.map((id, i) =>
      createPeer({
        federation: 'abstain',
        members,
        committeeSize: 7,
        timing: { collectMs: 6000, recordGraceMs: 300 },
        training: { epochs: 1, batchSize: 1, learningRate: 0.1, seed: 1 },
        secureAggregation: { config: config(), keysMs: 1000 },
        resultSlackMs: 3000,
        participate: id !== committee[4],
        finalize: { threshold: quorum.threshold },
      })({
        gossip: lossy(
          hub.join(id),
          (sender, kind) =>
            (id === late() && sender === missed() && kind === SecAggKind.ShareKeys) ||
            (id === leader() && sender === late() && kind === SecAggKind.View),
        ),
        federation: chain.clientOf(id),
        trainer: trainers[i]!,
        data: data(10 + i),
        clock: systemClock,
        log: createLogger('error'),
        secagg: { binding: TEST_BINDING, crypto, entropy: ent(id), sign: testSign(id), verify: testVerify },
      }),
    );
    stop = () => {
      for (const p of peers) p.stop();
    };
    for (const p of peers) p.start();
    expect(await peers[0]!.opener.open(1)).toEqual(committee);

    const outcomes = await Promise.all(peers.map((p) => p.runRound(1)));
    // Nobody's runRound threw; the round finalized with all six contributors' inputs.
    for (const o of outcomes) expect(o.status).toBe('finalized');
    const byId = new Map(members.map((m, i) => [m, outcomes[i]!]));
    const lateOutcome = byId.get(late())!;
    if (lateOutcome.status !== 'finalized') throw new Error('unreachable');
    expect(lateOutcome.record.participantCount).toBe(8);
    // The late member could not verify a proposal (SECAGG_CANNOT_FOLLOW: counted when it gave up,
    // once per proposal still unverifiable then) and signed nothing.
    expect(lateOutcome.secure!.errors.SECAGG_CANNOT_FOLLOW).toBeGreaterThanOrEqual(1);
    expect(lateOutcome.secure!.committeePath!.at(-1)).toBe('failed');
    await hub.settle();
    const signers = peers[0]!.secaggInbox!.messages(1, SecAggKind.Result).map((m) => m.sender);
    expect(signers).not.toContain(late());
    expect(signers.length).toBeGreaterThanOrEqual(5);
    // It still adopted the recorded model, like everyone.
    const adopted = trainers.map((t) => toHex0x(modelHash(t.getWeights())));
    expect(new Set(adopted).size).toBe(1);
    // 60 s as its sibling below: the round now also waits for its charge transaction (F18), and in
    // a batch run of the secagg, audit and attack unit files (2 cores, load ~10) its 5–7 s ran past 30 s.
  }, 60_000);
});

describe('a committee member that lags (one input never reaches it)', () => {
  it('stops waiting for its input deadline once another member’s result arrives, and abstains without a protocol error', async () => {
    const members = ids(9);
    const hub = new MemoryGossipHub();
    const quorum = effectiveCommittee(config(), members.length);
    const chain = await startPeerFederation(toHex0x(modelHash(initial)), members, quorum);
    const ent = entropies('lagging');
    const trainers = members.map((_, i) => new FakeTrainer(i));
    const committee = await openRoundAsPeers(chain);
    expect(committee).toHaveLength(quorum.committeeSize);
    const laggard = committee[4]!;
    const missed = members.find((m) => !committee.includes(m))!;
    const peers: Peer[] = members.map((id, i) =>
      createPeer({
        federation: 'lagging',
        members,
        committeeSize: 7,
        // A long input window: without the early exit the laggard would sit it out.
        timing: { collectMs: 20_000, recordGraceMs: 300 },
        training: { epochs: 1, batchSize: 1, learningRate: 0.1, seed: 1 },
        secureAggregation: { config: config(), keysMs: 1000 },
        resultSlackMs: 3000,
        finalize: { threshold: quorum.threshold },
      })({
        gossip: lossy(
          hub.join(id),
          () => false,
          (sender) => id === laggard && sender === missed,
        ),
        federation: chain.clientOf(id),
        trainer: trainers[i]!,
        data: data(10 + i),
        clock: systemClock,
        log: createLogger('error'),
        secagg: { binding: TEST_BINDING, crypto, entropy: ent(id), sign: testSign(id), verify: testVerify },
      }),
    );
    stop = () => {
      for (const p of peers) p.stop();
    };
    for (const p of peers) p.start();
    expect(await peers[0]!.opener.open(1)).toEqual(committee);

    const outcomes = await Promise.all(peers.map((p) => p.runRound(1)));
    for (const o of outcomes) expect(o.status).toBe('finalized');
    const lag = outcomes[members.indexOf(laggard)]!;
    if (lag.status !== 'finalized') throw new Error('unreachable');
    expect(lag.record.participantCount).toBe(9);
    // It never signed a view: it left from MASKED_INPUT, and nothing was counted as an error.
    expect(lag.secure!.committeePath).toEqual(['advertise-keys', 'share-keys', 'masked-input', 'failed']);
    expect(lag.secure!.errors).toEqual({});
    // As a participant it contributed and adopted the recorded model like everyone.
    expect(lag.secure!.participantPath!.at(-1)).toBe('done');
    expect(new Set(trainers.map((t) => toHex0x(modelHash(t.getWeights())))).size).toBe(1);
  }, 60_000);
});
