/**
 * What the SecAgg+ masking graph (graph.ts) changes in G1, attacked with the real protocol: a
 * coalition of colluding participants holds its own mask secret keys, every public message
 * (masked inputs, reveals) and so every survivor's b_i and every dropped participant's s_j^SK. It
 * strips from an honest survivor v's masked input y_v every pad it can compute: PRG(b_v), and
 * PRG(s_vj) for each neighbour j that colludes or dropped. It recovers x_v exactly iff every one
 * of v's SURVIVING graph neighbours colludes — with the complete graph that meant all of U_3 \ {v};
 * with degree K it means at most K participants (docs/secure-aggregation.md, "Masking graph").
 * And the floors on the sparse graph abort the round before any reveal when dropouts leave a
 * survivor fewer than k surviving neighbours or cut the graph, even if the lock's leader ignores
 * them, and at the key set when U_2 itself breaks them.
 */
import { describe, expect, it } from 'vitest';
import { fromHex0x } from '../../protocol/bytes.js';
import type { EndorseMsg, RevealMsg, SecAggKind } from '../../protocol/messages/secagg.js';
import type { SecAggRoundContext } from '../../protocol/secure-aggregation/participant.js';
import {
  addPrg,
  agreeAll,
  buildMaskingGraph,
  combine,
  generateRoundKeys,
  pairSign,
  pairwiseMaskKey,
  type RoundKeys,
  SecAggCommitteeMember,
  type SecAggConfig,
  SecAggError,
  SecAggParticipant,
  selfMaskKey,
} from '../../protocol/secure-aggregation/index.js';
import { codeOf, config, crypto, entropies, ids, testSign, testVerify } from './secagg-helpers.js';
import {
  certifyKeySet,
  deliverViews,
  LATE,
  lockAndReveal,
  maskInputs,
  type Round,
  shareKeys,
  signView,
  TEST_BINDING,
} from './secagg-round-harness.js';

const N = 16;
const M = 7;
const T = 5;
const K = 4;
const SEED = fromHex0x(`0x${'c3'.repeat(32)}`);
const PARTIES = ids(N);
// K = 4 exactly ('unchecked': at 16 nodes the bound would need the complete graph). These tests are
// about what the sparse graph does, whatever K a round ends up with.
const CFG: SecAggConfig = config({ committeeSize: M, threshold: T, maskingDegree: K, maskingAssumption: 'unchecked', minNeighbours: 2 });
const SCOPE = { binding: TEST_BINDING, federation: 'fed', round: 7 };
const GRAPH = buildMaskingGraph(SCOPE, { seed: SEED, nodes: PARTIES }, K);
/** A participant outside the committee, and its K graph neighbours. */
const VICTIM = 'peer-012';
const NEIGHBOURS = GRAPH.neighbours(VICTIM);

/** Each participant's mask secret key s_i^SK, as a colluder would keep it. */
const maskSecrets = new Map<string, Uint8Array>();

/** The harness's round (secagg-round-harness.ts `setupRound`) with the masking graph in the context. */
function setup(cfgFor: (id: string) => SecAggConfig = () => CFG, nodes: readonly string[] = PARTIES): Round {
  const committee = PARTIES.slice(0, M);
  const ctxOf = (id: string): SecAggRoundContext => ({
    binding: TEST_BINDING,
    federation: 'fed',
    round: 7,
    committee,
    threshold: T,
    config: cfgFor(id),
    maskingGraph: { seed: SEED, nodes },
  });
  const ent = entropies('graph-attack');
  const keys = new Map<string, RoundKeys>();
  const participants = new Map<string, SecAggParticipant>();
  const members = new Map<string, SecAggCommitteeMember>();
  const adverts = [];
  const ints = new Map<string, number[]>();
  const counts = new Map<string, number>();
  for (const [i, p] of PARTIES.entries()) {
    const k = generateRoundKeys(crypto, ent(`keys/${p}`));
    keys.set(p, k);
    // What a colluding participant keeps: its s_i^SK (the participant wipes its own copy when it masks).
    maskSecrets.set(p, k.mask.secretKey.slice());
    const part = new SecAggParticipant(ctxOf(p), p, k, { crypto, entropy: ent(p), sign: testSign(p), verify: testVerify });
    participants.set(p, part);
    adverts.push(part.advertise());
    ints.set(
      p,
      [0, 1, 2].map((k2) => (((i + 1) * 37 + k2 * 11) % 200) - 100),
    );
    counts.set(p, 10 + i);
  }
  for (const c of committee)
    members.set(
      c,
      new SecAggCommitteeMember(ctxOf(c), c, keys.get(c)!.encryption.secretKey, { crypto, sign: testSign(c), verify: testVerify }),
    );
  return {
    ctx: ctxOf(committee[1]!),
    parties: PARTIES,
    committee,
    keys,
    participants,
    members,
    adverts,
    shares: [],
    ints,
    counts,
    payloads: new Map(),
    payloadHashes: new Map(),
  };
}

/** Run the round with `absent` never sending a masked input (dropped after sharing keys); returns the reveals. */
function runRound(r: Round, absent: ReadonlySet<string> = new Set()): RevealMsg[] {
  shareKeys(r);
  const ks = certifyKeySet(r);
  expect(ks.endorsements).toHaveLength(M);
  maskInputs(
    r,
    ks,
    PARTIES.filter((p) => !absent.has(p)),
  );
  deliverViews(
    r,
    r.committee.map((id) => signView(r, id)),
  );
  const endorsements = r.committee.map((id) => r.members.get(id)!.onLockProposal(r.members.get(r.committee[0]!)!.proposeLock(0), LATE)!);
  return lockAndReveal(r, endorsements as EndorseMsg<SecAggKind.LockEndorse>[]);
}

/** The coalition's estimate of v's quantized input from public messages and its own mask keys. */
function estimate(r: Round, reveals: readonly RevealMsg[], coalition: ReadonlySet<string>, v: string): bigint[] {
  const y = r.payloads.get(v)!.masked.slice();
  // b_v from any t revealed self-mask shares (the reveals are public).
  const bShares = reveals.flatMap((rv) => rv.selfMaskShares.filter((s) => s.participant === v).map((s) => ({ x: s.x, y: s.y })));
  const self = selfMaskKey(combine(bShares.slice(0, T), T), SCOPE, v);
  addPrg(crypto, y, self, -1);
  const vKey = r.adverts.find((a) => a.sender === v)!.maskKey;
  for (const j of r.payloads.get(v)!.neighbours) {
    // s_j^SK: the coalition's own, or a dropped neighbour's from the revealed key shares.
    let sk: Uint8Array | undefined;
    if (coalition.has(j)) sk = maskSecrets.get(j)!;
    else {
      const kShares = reveals.flatMap((rv) => rv.keyShares.filter((s) => s.participant === j).map((s) => ({ x: s.x, y: s.y })));
      if (kShares.length >= T) sk = combine(kShares.slice(0, T), T);
    }
    if (sk === undefined) continue; // an honest surviving neighbour: its pad stays
    const [shared] = agreeAll(crypto.x25519, sk, [vKey]);
    const key = pairwiseMaskKey(shared!, SCOPE, { id: v, publicKey: vKey }, { id: j, publicKey: crypto.x25519.publicKey(sk) });
    addPrg(crypto, y, key, pairSign(v, j) === 1 ? -1 : 1);
  }
  // Signed 64-bit words (ring.ts), the d coordinates then n_v.
  const words: bigint[] = [];
  for (let k = 0; k < y.length / 2; k++) words.push(BigInt.asIntN(64, (BigInt(y[2 * k + 1]!) << 32n) | BigInt(y[2 * k]!)));
  return words;
}

const truth = (r: Round, v: string): bigint[] => [...r.ints.get(v)!.map((x) => BigInt(x)), BigInt(r.counts.get(v)!)];

describe('SecAgg+ graph: who can recover an honest survivor', () => {
  it(`the victim masks with exactly its ${K} graph neighbours`, () => {
    const r = setup();
    runRound(r);
    expect(r.payloads.get(VICTIM)!.neighbours).toEqual(NEIGHBOURS);
    expect(NEIGHBOURS).toHaveLength(K);
  });

  it('all of its surviving graph neighbours collude: the coalition recovers its exact input (the guarantee is only that strong)', () => {
    const r = setup();
    const reveals = runRound(r);
    expect(estimate(r, reveals, new Set(NEIGHBOURS), VICTIM)).toEqual(truth(r, VICTIM));
  });

  it('a graph neighbour dropped: its s^SK is revealed, so the surviving neighbours alone suffice', () => {
    const r = setup();
    const gone = NEIGHBOURS.find((j) => !r.committee.includes(j)) ?? NEIGHBOURS[0]!;
    const reveals = runRound(r, new Set([gone]));
    expect(estimate(r, reveals, new Set(NEIGHBOURS.filter((j) => j !== gone)), VICTIM)).toEqual(truth(r, VICTIM));
  });

  it('one honest surviving neighbour: every other participant colluding does not recover the input', () => {
    const r = setup();
    const reveals = runRound(r);
    const honest = NEIGHBOURS[0]!;
    const coalition = new Set(PARTIES.filter((p) => p !== VICTIM && p !== honest));
    const est = estimate(r, reveals, coalition, VICTIM);
    expect(est.slice(0, 3)).not.toEqual(truth(r, VICTIM).slice(0, 3));
  });
});

describe('SecAgg+ graph: the floors on the sparse graph abort before any reveal', () => {
  /** Masked inputs from all but `absent`, views everywhere; returns the round before any lock. */
  function toViews(r: Round, absent: ReadonlySet<string>): void {
    shareKeys(r);
    const ks = certifyKeySet(r);
    expect(ks.endorsements).toHaveLength(M);
    maskInputs(
      r,
      ks,
      PARTIES.filter((p) => !absent.has(p)),
    );
    deliverViews(
      r,
      r.committee.map((id) => signView(r, id)),
    );
  }

  it('dropouts leave the victim one surviving neighbour (< k = 2): no lock, even from a leader that skips the floors', () => {
    const lenient = config({ ...CFG, minNeighbours: 1 });
    const r = setup((id) => (id === PARTIES[0] ? lenient : CFG));
    const absent = new Set(NEIGHBOURS.slice(0, K - 1));
    toViews(r, absent);
    // An honest leader refuses to propose it.
    const e = (() => {
      try {
        r.members.get(PARTIES[1]!)!.proposeLock(1);
      } catch (x) {
        return x as SecAggError;
      }
      return undefined;
    })();
    expect(e?.code).toBe('SECAGG_FLOOR');
    expect(e?.fields).toMatchObject({ rule: 'neighbours', participant: VICTIM, neighbours: 1, required: 2 });
    // The lenient leader (position 0) proposes; every honest member refuses it as SECAGG_FLOOR.
    const proposal = r.members.get(PARTIES[0]!)!.proposeLock(0);
    expect(proposal.survivors).toContain(VICTIM);
    const codes = r.committee.slice(1).map((id) => codeOf(() => r.members.get(id)!.onLockProposal(proposal, LATE)));
    expect(codes).toEqual(Array(M - 1).fill('SECAGG_FLOOR'));
    // Nothing to reveal anywhere: no member holds a certified lock.
    for (const m of r.members.values()) expect(m.reveal()).toBeUndefined();
  });

  it('dropouts cut the Harary ring in two places: SECAGG_FLOOR (connected) and no reveal', () => {
    const r = setup();
    const at = (p: number) => GRAPH.order[((p % N) + N) % N]!;
    const absent = new Set([at(2), at(3), at(10), at(11)]);
    toViews(r, absent);
    const e = (() => {
      try {
        r.members.get(PARTIES[0]!)!.proposeLock(0);
      } catch (x) {
        return x as SecAggError;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(SecAggError);
    expect(e!.fields).toMatchObject({ rule: 'connected', components: 2 });
    for (const m of r.members.values()) expect(m.reveal()).toBeUndefined();
  });

  it('the same cut before the key set (participants that never share): the leader waits, and a U_2 that breaks the floor is refused', () => {
    const r = setup();
    const at = (p: number) => GRAPH.order[((p % N) + N) % N]!;
    const silent = new Set([at(2), at(3), at(10), at(11)]);
    for (const [p, part] of r.participants) {
      for (const a of r.adverts) part.addAdvert(a);
      if (!silent.has(p)) r.shares.push(part.shareKeys());
    }
    for (const [id, m] of r.members) {
      for (const a of r.adverts) m.addAdvert(a);
      m.beginShares();
      for (const s of r.shares) if (s.shares.some((x) => x.recipient === id)) m.addShareKeys(s);
    }
    const leader = r.members.get(PARTIES[0]!)!;
    expect(leader.keySetReady()).toBe(false);
    const proposal = leader.proposeKeySet(0);
    const err = (() => {
      try {
        r.members.get(PARTIES[1]!)!.onKeySetProposal(proposal, LATE);
      } catch (x) {
        return x as SecAggError;
      }
      return undefined;
    })();
    expect(err?.code).toBe('SECAGG_FLOOR');
    expect(err?.fields).toMatchObject({ rule: 'connected' });
  });
});

describe('SecAgg+ graph: a participant outside the node set', () => {
  it('is left out of U_2 by every key-set leader and refuses to mask; the round completes with the others', () => {
    const outsider = 'peer-015'; // e.g. a member added after the round's snapshot
    const nodes = PARTIES.filter((p) => p !== outsider);
    const r = setup(() => CFG, nodes);
    shareKeys(r);
    const ks = certifyKeySet(r);
    expect(ks.proposal.shared).not.toContain(outsider);
    expect(ks.endorsements).toHaveLength(M); // nobody refuses it as omitting a held share
    expect(codeOf(() => r.participants.get(outsider)!.neighboursFrom(ks))).toBe('SECAGG_TOO_FEW_NEIGHBOURS');
    maskInputs(r, ks, nodes);
    deliverViews(
      r,
      r.committee.map((id) => signView(r, id)),
    );
    const lock = r.members.get(r.committee[0]!)!.proposeLock(0);
    expect(lock.survivors).toEqual(nodes);
    const endorsements = r.committee.map((id) => r.members.get(id)!.onLockProposal(lock, LATE)!);
    lockAndReveal(r, endorsements as EndorseMsg<SecAggKind.LockEndorse>[]);
    const { sum } = r.members.get(r.committee[1]!)!.unmask(new Map([...r.payloads].map(([id, x]) => [id, x.masked])));
    const got = [0, 1, 2].map((k) => BigInt.asIntN(64, (BigInt(sum[2 * k + 1]!) << 32n) | BigInt(sum[2 * k]!)));
    expect(got).toEqual([0, 1, 2].map((k) => BigInt(nodes.reduce((a, p) => a + r.ints.get(p)![k]!, 0))));
  });
});
