/**
 * One whole secure-aggregation round with every party in memory: the reference composition
 * of the two role machines, message by message, with no network. Used by the property tests
 * (exact sums under any dropout set) and by the benchmark (per-phase timings; time enters
 * through the optional `now` argument, protocol/ never reads a clock).
 *
 * Dropouts, one set per gap between stages (Bonawitz et al. 2017 §4: U1 ⊇ U2 ⊇ U3):
 * `dropAfterAdvert` participants advertise keys but never share them (they leave U2: nobody can
 * mask with them, as nobody could later recover their s^SK); `dropAfterKeys` participants
 * advertise and share keys but never send a masked input (they leave U3; their pairwise masks are
 * removed with their reconstructed s^SK); `silentMembers` are committee members that stop after
 * their own masked input (no view, no reveal). A participant that drops after sending its masked
 * input has no duty left, so its input counts. With `maskingGraph` the participants mask along the
 * SecAgg+ graph (graph.ts) instead of the complete graph; a floor the sparse graph breaks throws
 * SECAGG_FLOOR at the key set or the lock, before any reveal.
 */
import { encodeMaskedInput, type MaskedInputPayload } from '../messages/masked-input.js';
import type { EndorseMsg, RevealMsg, ShareKeysMsg, ViewMsg } from '../messages/secagg.js';
import type { SecAggConfig } from './config.js';
import { type Entropy, type IdentitySign, type IdentityVerify, payloadSha256, type SecAggCrypto } from './crypto.js';
import { SecAggCommitteeMember } from './committee-member.js';
import { SecAggError } from './errors.js';
import type { MaskingGraphSource } from './graph.js';
import { SecAggParticipant } from './participant.js';
import { createAdvert, generateRoundKeys, type RoundKeys } from './round-keys.js';

export interface InMemoryParticipant {
  readonly id: string;
  /** n_i·Δ_i (see quantize.ts). */
  readonly values: ArrayLike<number>;
  readonly sampleCount: number;
}

export interface InMemoryRoundOptions {
  /** Deployment binding bytes (52). */
  readonly binding: Uint8Array;
  readonly federation: string;
  readonly round: number;
  readonly config: SecAggConfig;
  /** Committee in position order; members need not be participants. */
  readonly committee: readonly string[];
  readonly threshold: number;
  readonly participants: readonly InMemoryParticipant[];
  readonly dropAfterAdvert?: ReadonlySet<string>;
  readonly dropAfterKeys?: ReadonlySet<string>;
  readonly silentMembers?: ReadonlySet<string>;
  readonly crypto: SecAggCrypto;
  readonly entropy: (party: string) => Entropy;
  readonly sign: (party: string) => IdentitySign;
  readonly verify: IdentityVerify;
  /** Unmask at every live member (true) or only at the proposer (default). */
  readonly unmaskEverywhere?: boolean;
  readonly now?: () => number;
  readonly baseModelHash?: Uint8Array;
  /** The SecAgg+ masking graph's source (graph.ts); absent: the complete graph on U_2. */
  readonly maskingGraph?: MaskingGraphSource;
}

export interface InMemoryRoundTimings {
  /** Per participant: key generation + advertisement + share encryption, ms. */
  readonly keysMs: readonly number[];
  /** Per participant: quantize + mask + encode the payload, ms. */
  readonly maskMs: readonly number[];
  /** The proposer: decrypt shares, sign/verify views, propose, reveal, verify reveals, ms. */
  readonly agreeMs: number;
  /** The proposer: reconstruct secrets and remove every mask, ms. */
  readonly unmaskMs: number;
}

export interface InMemoryRoundResult {
  /** Σ_{i∈U} q_i mod 2^32, from the proposer (last word Σ n_i). */
  readonly sum: Uint32Array;
  /** Every live member's sum, when `unmaskEverywhere`. */
  readonly sums: readonly Uint32Array[];
  readonly survivors: readonly string[];
  readonly dropped: readonly string[];
  readonly payloads: ReadonlyMap<string, Uint8Array>;
  readonly timings: InMemoryRoundTimings;
}

export function runInMemoryRound(o: InMemoryRoundOptions): InMemoryRoundResult {
  const now = o.now ?? (() => 0);
  const ctx = {
    binding: o.binding,
    federation: o.federation,
    round: o.round,
    committee: o.committee,
    threshold: o.threshold,
    config: o.config,
    ...(o.maskingGraph !== undefined ? { maskingGraph: o.maskingGraph } : {}),
  };
  const scope = { binding: o.binding, federation: o.federation, round: o.round };
  const dropped = o.dropAfterKeys ?? new Set<string>();
  const goneAfterAdvert = o.dropAfterAdvert ?? new Set<string>();
  const silent = o.silentMembers ?? new Set<string>();
  const parties = [...new Set([...o.participants.map((p) => p.id), ...o.committee])].sort();
  const keys = new Map<string, RoundKeys>();
  const keysMs = new Map<string, number>();

  // Round 0: advertise keys.
  const participants = new Map<string, SecAggParticipant>();
  const adverts = parties.map((id) => {
    const t0 = now();
    const k = generateRoundKeys(o.crypto, o.entropy(id));
    keys.set(id, k);
    const p = o.participants.some((x) => x.id === id)
      ? new SecAggParticipant(ctx, id, k, { crypto: o.crypto, entropy: o.entropy(id), sign: o.sign(id), verify: o.verify })
      : undefined;
    const adv = p !== undefined ? p.advertise() : undefined;
    if (p !== undefined) participants.set(id, p);
    keysMs.set(id, now() - t0);
    return { id, adv, k };
  });
  const members = new Map<string, SecAggCommitteeMember>();
  for (const id of o.committee) {
    members.set(
      id,
      new SecAggCommitteeMember(ctx, id, keys.get(id)!.encryption.secretKey, { crypto: o.crypto, sign: o.sign(id), verify: o.verify }),
    );
  }
  // Non-participating members still advertise their encryption key.
  const allAdverts = adverts.map(({ id, adv, k }) => {
    if (adv !== undefined) return adv;
    // A member that does not contribute advertises keys like anyone; it simply never shares.
    return createAdvert(scope, id, k, o.sign(id), false);
  });

  // Round 1: share keys (to the committee; no neighbour set yet).
  const shareMsgs: ShareKeysMsg[] = [];
  for (const [id, p] of participants) {
    if (goneAfterAdvert.has(id)) continue;
    const t0 = now();
    for (const a of allAdverts) if (a.sender !== id) p.addAdvert(a);
    shareMsgs.push(p.shareKeys());
    keysMs.set(id, keysMs.get(id)! + now() - t0);
  }

  // Committee: collect keys and shares, certify the key set (U_1, U_2).
  const live = o.committee.filter((id) => !silent.has(id));
  const leader = live[0];
  if (leader === undefined)
    throw new SecAggError('SECAGG_TOO_FEW_COMMITTEE', 'no live committee member', { live: 0, threshold: o.threshold });
  let agreeMs = 0;
  const timed = <T>(id: string, f: () => T): T => {
    if (id !== leader) return f();
    const t0 = now();
    try {
      return f();
    } finally {
      agreeMs += now() - t0;
    }
  };
  for (const id of live) {
    const m = members.get(id)!;
    timed(id, () => {
      for (const a of allAdverts) m.addAdvert(a);
      m.beginShares();
      for (const s of shareMsgs) if (s.shares.some((x) => x.recipient === id)) m.addShareKeys(s);
    });
  }
  // The first live member leads: turn = its position, every earlier turn having passed.
  const turn = o.committee.indexOf(leader);
  const clock = { now: turn, turnStart: (t: number) => t };
  const keySetProposal = timed(leader, () => members.get(leader)!.proposeKeySet(turn));
  const keySetEndorsements: EndorseMsg[] = [];
  for (const id of live) {
    const e = timed(id, () => members.get(id)!.onKeySetProposal(keySetProposal, clock));
    if (e !== undefined) keySetEndorsements.push(e);
  }
  for (const id of live)
    timed(id, () => {
      for (const e of keySetEndorsements) members.get(id)!.addKeySetEndorse(e);
    });
  const keySet = { proposal: keySetProposal, endorsements: keySetEndorsements };

  // Round 2: masked inputs, with exactly the certified U_2 (M_i = N_G(i) ∩ U_2).
  const payloads = new Map<string, Uint8Array>();
  const decoded = new Map<string, MaskedInputPayload>();
  const maskMs = new Map<string, number>();
  const base = o.baseModelHash ?? new Uint8Array(32);
  for (const part of o.participants) {
    if (goneAfterAdvert.has(part.id)) continue;
    const p = participants.get(part.id)!;
    if (dropped.has(part.id)) {
      p.fail();
      continue;
    }
    const t0 = now();
    const payload = p.maskInput(part.values, part.sampleCount, base, keySet);
    payloads.set(part.id, encodeMaskedInput(payload));
    maskMs.set(part.id, now() - t0);
    decoded.set(part.id, payload);
  }

  // Round 3: views, lock, reveals — by the live members.
  const held = [...decoded].map(([participant, d]) => ({
    participant,
    inputHash: payloadSha256(o.crypto)(payloads.get(participant)!),
    neighbours: d.neighbours,
  }));
  const views: ViewMsg[] = [];
  for (const id of live) {
    const m = members.get(id)!;
    views.push(
      timed(id, () => {
        m.beginInputs();
        return m.signView(held);
      }),
    );
  }
  for (const id of live)
    timed(id, () => {
      for (const v of views) members.get(id)!.addView(v);
    });
  const proposal = timed(leader, () => members.get(leader)!.proposeLock(turn));
  const lockEndorsements: EndorseMsg[] = [];
  for (const id of live) {
    const e = timed(id, () => members.get(id)!.onLockProposal(proposal, clock));
    if (e !== undefined) lockEndorsements.push(e);
  }
  for (const id of live)
    timed(id, () => {
      for (const e of lockEndorsements) members.get(id)!.addLockEndorse(e);
    });
  const reveals: RevealMsg[] = [];
  for (const id of live) {
    const r = timed(id, () => members.get(id)!.reveal());
    if (r !== undefined) reveals.push(r);
  }
  for (const id of live)
    timed(id, () => {
      for (const r of reveals) members.get(id)!.addReveal(r);
    });

  // Round 4: unmask.
  const inputs = new Map([...decoded].map(([id, d]) => [id, d.masked]));
  const sums: Uint32Array[] = [];
  let unmaskMs = 0;
  for (const id of o.unmaskEverywhere === true ? live : [leader]) {
    const t0 = now();
    const res = members.get(id)!.unmask(inputs);
    if (id === leader) unmaskMs = now() - t0;
    sums.push(res.sum);
  }
  for (const m of members.values()) m.dispose();
  return {
    sum: sums[0]!,
    sums,
    survivors: [...proposal.survivors],
    dropped: [...proposal.dropped],
    payloads,
    timings: {
      keysMs: o.participants.map((p) => keysMs.get(p.id) ?? 0),
      maskMs: o.participants.filter((p) => maskMs.has(p.id)).map((p) => maskMs.get(p.id)!),
      agreeMs,
      unmaskMs,
    },
  };
}
