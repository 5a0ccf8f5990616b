/**
 * A whole secure-aggregation round in memory, phase by phase, with every message exposed, so
 * tests can drop, reorder, forge or race any of them (issue 13's attacks and property tests).
 * The adversary's view is exactly what the protocol gives it: every public message (`wire`)
 * and the state of the members it controls.
 */
import { hash256 } from '../../protocol/bytes.js';
import { encodeMaskedInput, type MaskedInputPayload } from '../../protocol/messages/masked-input.js';
import type {
  AdvertiseKeysMsg,
  EndorseMsg,
  KeySetProposalMsg,
  RevealMsg,
  SecAggKind,
  ShareKeysMsg,
  ViewMsg,
} from '../../protocol/messages/secagg.js';
import {
  createAdvert,
  generateRoundKeys,
  type RoundKeys,
  SecAggCommitteeMember,
  type SecAggConfig,
  SecAggParticipant,
  type SecAggRoundContext,
} from '../../protocol/secure-aggregation/index.js';
import { crypto, entropies, ids, testSign, testVerify } from './secagg-helpers.js';

/** A fixed test deployment: chain id 31337 ‖ 0x…0f3d. */
export const TEST_BINDING = (() => {
  const b = new Uint8Array(52);
  b[30] = 0x7a;
  b[31] = 0x69;
  b[50] = 0x0f;
  b[51] = 0x3d;
  return b;
})();

export interface RoundSetup {
  readonly n: number;
  readonly m: number;
  readonly t: number;
  readonly config: SecAggConfig;
  readonly d?: number;
  readonly seed?: string;
}

export interface Round {
  readonly ctx: SecAggRoundContext;
  readonly parties: readonly string[];
  readonly committee: readonly string[];
  readonly keys: Map<string, RoundKeys>;
  readonly participants: Map<string, SecAggParticipant>;
  readonly members: Map<string, SecAggCommitteeMember>;
  readonly adverts: AdvertiseKeysMsg[];
  readonly shares: ShareKeysMsg[];
  /** Integer inputs (already at the fixed-point grid), per participant, and n_i. */
  readonly ints: Map<string, number[]>;
  readonly counts: Map<string, number>;
  readonly payloads: Map<string, MaskedInputPayload>;
  readonly payloadHashes: Map<string, Uint8Array>;
}

/** Parties peer-000 … ; the committee is the first m of them (participants too). */
export function setupRound(s: RoundSetup): Round {
  const parties = ids(s.n);
  const committee = parties.slice(0, s.m);
  const ctx: SecAggRoundContext = { binding: TEST_BINDING, federation: 'fed', round: 7, committee, threshold: s.t, config: s.config };
  const ent = entropies(s.seed ?? 'harness');
  const keys = new Map<string, RoundKeys>();
  const participants = new Map<string, SecAggParticipant>();
  const members = new Map<string, SecAggCommitteeMember>();
  const adverts: AdvertiseKeysMsg[] = [];
  const d = s.d ?? 3;
  const ints = new Map<string, number[]>();
  const counts = new Map<string, number>();
  parties.forEach((p, i) => {
    const k = generateRoundKeys(crypto, ent(`keys/${p}`));
    keys.set(p, k);
    const part = new SecAggParticipant(ctx, p, k, { crypto, entropy: ent(p), sign: testSign(p), verify: testVerify });
    participants.set(p, part);
    adverts.push(part.advertise());
    ints.set(
      p,
      Array.from({ length: d }, (_, k2) => (((i + 1) * 37 + k2 * 11) % 200) - 100),
    );
    counts.set(p, 10 + i);
  });
  for (const c of committee) {
    members.set(c, new SecAggCommitteeMember(ctx, c, keys.get(c)!.encryption.secretKey, { crypto, sign: testSign(c), verify: testVerify }));
  }
  void createAdvert;
  return {
    ctx,
    parties,
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

/** Every participant not in `skip` shares its keys; every member collects adverts and the shares addressed to it. */
export function shareKeys(r: Round, skip: ReadonlySet<string> = new Set()): void {
  for (const [p, part] of r.participants) {
    for (const a of r.adverts) part.addAdvert(a);
    if (!skip.has(p)) r.shares.push(part.shareKeys());
  }
  for (const [id, m] of r.members) {
    for (const a of r.adverts) m.addAdvert(a);
    m.beginShares();
    for (const s of r.shares) if (s.shares.some((x) => x.recipient === id)) m.addShareKeys(s);
  }
}

/** Key-set certification: `leader` proposes (turn 0), `endorsers` endorse; returns the evidence. */
export function certifyKeySet(
  r: Round,
  endorsers: readonly string[] = r.committee,
  leader = r.committee[0]!,
): { proposal: KeySetProposalMsg; endorsements: EndorseMsg[] } {
  const proposal = r.members.get(leader)!.proposeKeySet(0);
  const endorsements: EndorseMsg[] = [];
  const turn = { now: 0, turnStart: (t: number) => (t === 0 ? 0 : t * 1000) };
  for (const id of endorsers) {
    const e = r.members.get(id)!.onKeySetProposal(proposal, turn);
    if (e !== undefined) endorsements.push(e);
  }
  for (const m of r.members.values()) {
    m.learnKeySetProposal(proposal);
    for (const e of endorsements) if (e.sender !== m.self) m.addKeySetEndorse(e);
  }
  return { proposal, endorsements };
}

/** The fixed-point values whose quantization is exact: ints / 2^f. */
export function valuesOf(r: Round, p: string): Float64Array {
  const f = r.ctx.config.fractionalBits;
  return Float64Array.from(r.ints.get(p)!, (x) => x / 2 ** f);
}

/** Participants in `who` mask and publish. */
export function maskInputs(r: Round, keySet: { proposal: KeySetProposalMsg; endorsements: EndorseMsg[] }, who: readonly string[]): void {
  for (const p of who) {
    const payload = r.participants.get(p)!.maskInput(valuesOf(r, p), r.counts.get(p)!, new Uint8Array(32), keySet);
    r.payloads.set(p, payload);
    r.payloadHashes.set(p, hash256(encodeMaskedInput(payload)));
  }
}

/** Member `id` signs its view over the inputs in `holds` (default: every published input). */
export function signView(r: Round, id: string, holds: readonly string[] = [...r.payloads.keys()]): ViewMsg {
  const m = r.members.get(id)!;
  m.beginInputs();
  return m.signView(holds.map((p) => ({ participant: p, inputHash: r.payloadHashes.get(p)!, neighbours: r.payloads.get(p)!.neighbours })));
}

export const LATE = { now: 1e12, turnStart: (t: number) => (t === 0 ? 0 : t * 1000) };

/** Deliver `views` to every member in `to`. */
export function deliverViews(r: Round, views: readonly ViewMsg[], to: readonly string[] = r.committee): void {
  for (const id of to) for (const v of views) if (v.sender !== id) r.members.get(id)!.addView(v);
}

/** Lock endorsements → every member; then every member that can reveals; reveals → every member. */
export function lockAndReveal(
  r: Round,
  endorsements: readonly EndorseMsg<SecAggKind.LockEndorse>[],
  members: readonly string[] = r.committee,
): RevealMsg[] {
  for (const id of members) for (const e of endorsements) if (e.sender !== id) r.members.get(id)!.addLockEndorse(e);
  const reveals: RevealMsg[] = [];
  for (const id of members) {
    const rv = r.members.get(id)!.reveal();
    if (rv !== undefined) reveals.push(rv);
  }
  for (const id of members) for (const rv of reveals) if (rv.sender !== id) r.members.get(id)!.addReveal(rv);
  return reveals;
}

/** Shares of each kind per participant that the reveals (plus `ownShares` of a curious coalition) expose. */
export function exposedShareCounts(reveals: readonly RevealMsg[]): {
  selfMask: Map<string, Set<number>>;
  maskKey: Map<string, Set<number>>;
} {
  const selfMask = new Map<string, Set<number>>();
  const maskKey = new Map<string, Set<number>>();
  const add = (m: Map<string, Set<number>>, p: string, x: number) => {
    const s = m.get(p) ?? new Set<number>();
    s.add(x);
    m.set(p, s);
  };
  for (const r of reveals) {
    for (const s of r.selfMaskShares) add(selfMask, s.participant, s.x);
    for (const s of r.keyShares) add(maskKey, s.participant, s.x);
  }
  return { selfMask, maskKey };
}
