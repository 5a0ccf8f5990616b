/**
 * The participant's side of secure aggregation for one round (Bonawitz et al., CCS 2017, §4,
 * Figure 4, "User"), as an explicit state machine:
 *
 *   stage           method                 accepts
 *   ADVERTISE_KEYS  advertise()            addAdvert
 *   SHARE_KEYS      shareKeys()            addAdvert
 *   MASKED_INPUT    maskInput(…, keySet)   addAdvert
 *   UNMASK          finish()               — (the committee unmasks; we wait for the result)
 *   DONE
 *
 * The participant masks with exactly the neighbour set the committee certified: N_G(i) ∩ U_2 for
 * the round's masking graph G (graph.ts; U_2 \ {i} when G is complete), where U_2 comes from a
 * key-set certificate (t member endorsements, certify.ts) — Bonawitz et al.'s server-forwarded
 * U_2 (§4, round 2), decided by a quorum. It never masks with
 * whatever reached it by its own deadline (issue 13, attack 1: asymmetric neighbour sets), and
 * refuses (SECAGG_TOO_FEW_NEIGHBOURS) when U_2 excludes it or leaves it fewer than k neighbours.
 *
 * Pure: randomness (`entropy`), the PRG, X25519 and the identity signature are injected.
 * b_i, s_i^SK and c_i^SK are wiped as soon as the masked input is built; nothing secret
 * outlives `maskInput` (or `fail`).
 */
import { wipe } from '../bytes.js';
import type { AdvertiseKeysMsg, EncryptedShare, SecAggScope, ShareKeysMsg } from '../messages/secagg.js';
import { SecAggKind, SHARE_PLAINTEXT_BYTES } from '../messages/secagg.js';
import { type KeySetEvidence, verifyKeySet } from './certify.js';
import type { CommitteeKeyOf } from './committee-keys.js';
import { NO_DP_PARAMS } from '../chain/dp-params.js';
import { checkDeclaredDpParams, ENTRY_SIGNATURE_BYTES, type MaskedInputPayload } from '../messages/masked-input.js';
import type { StageMachine } from '../stage-machine.js';
import { maskingDegreeFor, type SecAggConfig } from './config.js';
import {
  type Entropy,
  type IdentitySign,
  type IdentityVerify,
  roundingKey,
  SECRET_BYTES,
  type SecAggCrypto,
  sealShare,
  selfMaskCommitment,
  shareAssociatedData,
} from './crypto.js';
import { SecAggError } from './errors.js';
import { buildMaskingGraph, type MaskingGraph, type MaskingGraphSource, maskingNeighbours } from './graph.js';
import { maskInPlace } from './masking.js';
import { quantize } from './quantize.js';
import { createAdvert, type RoundKeys, verifyAdvert, wipeRoundKeys } from './round-keys.js';
import { split } from './shamir.js';
import { SecAggStage, secAggMachine } from './stages.js';

export interface SecAggRoundContext {
  /** The deployment (protocol/chain/deployment-binding.ts `deploymentBindingBytes`, 52 bytes). */
  readonly binding: Uint8Array;
  readonly federation: string;
  readonly round: number;
  /** The round's committee in position order; position p holds share x = p + 1. */
  readonly committee: readonly string[];
  /** The round's reconstruction threshold t (effectiveCommittee). */
  readonly threshold: number;
  readonly config: SecAggConfig;
  /**
   * Where the SecAgg+ masking graph comes from (graph.ts): the round's on-chain seed and the member
   * set at its snapshot, both fixed before any in-round message. Absent: the complete graph, every
   * participant masks with U_2 \ {i} (Bonawitz et al. 2017).
   */
  readonly maskingGraph?: MaskingGraphSource;
}

/** The masking graph for a certified U_2 (`shared`); undefined: the complete graph on U_2. */
export type MaskingGraphFor = (shared: readonly string[]) => MaskingGraph | undefined;

/**
 * The round's masking graphs (graph.ts `buildMaskingGraph`): one order, fixed by the round's seed
 * and node set; the degree from config.ts `maskingDegreeFor` for the certified |U_2| (so the
 * 'auto' bound holds for every U_3 the floors allow; red team F23). Cached per degree. The source
 * is checked here, when the round's machine is built (SECAGG_BAD_CONFIG).
 */
export function roundMaskingGraphs(ctx: SecAggRoundContext): MaskingGraphFor {
  const src = ctx.maskingGraph;
  if (src === undefined) return () => undefined;
  const n = src.nodes.length;
  const nodes = new Set(src.nodes);
  const byDegree = new Map<number, MaskingGraph>();
  const graphOf = (k: number): MaskingGraph => {
    let g = byDegree.get(k);
    if (g === undefined) {
      g = buildMaskingGraph(scopeOf(ctx), src, k);
      byDegree.set(k, g);
    }
    return g;
  };
  graphOf(Math.max(n - 1, 0)); // validates the seed and the node set now
  return (shared) => graphOf(maskingDegreeFor(ctx.config, n, shared.filter((v) => nodes.has(v)).length));
}

export interface ParticipantDeps {
  readonly crypto: SecAggCrypto;
  readonly entropy: Entropy;
  readonly sign: IdentitySign;
  readonly verify: IdentityVerify;
  /**
   * Committee members' share-encryption keys known before the round (committee-keys.ts: derived
   * from their identities). Absent: a member's key comes from its in-round advertisement.
   */
  readonly committeeKey?: CommitteeKeyOf;
}

const S = SecAggStage;

export function scopeOf(ctx: SecAggRoundContext): SecAggScope {
  return { binding: ctx.binding, federation: ctx.federation, round: ctx.round };
}

export function checkContext(ctx: SecAggRoundContext, m: { federation: string; round: number; sender: string; kind: number }): void {
  if (m.federation !== ctx.federation || m.round !== ctx.round) {
    throw new SecAggError(
      'SECAGG_WRONG_ROUND',
      `message for ${m.federation} round ${m.round}, expected ${ctx.federation} round ${ctx.round}`,
      {
        sender: m.sender,
        kind: m.kind,
        federation: m.federation,
        round: m.round,
        expected: { federation: ctx.federation, round: ctx.round },
      },
    );
  }
}

export class SecAggParticipant {
  readonly machine: StageMachine<SecAggStage>;
  private readonly adverts = new Map<string, AdvertiseKeysMsg>();
  private selfMaskSeed: Uint8Array | undefined;
  private maskedWith: readonly string[] = [];
  private readonly graphs: MaskingGraphFor;

  constructor(
    readonly ctx: SecAggRoundContext,
    readonly self: string,
    private readonly keys: RoundKeys,
    private readonly deps: ParticipantDeps,
  ) {
    this.machine = secAggMachine('participant', ctx.round, self);
    this.graphs = roundMaskingGraphs(ctx);
  }

  get stage(): SecAggStage {
    return this.machine.stage;
  }

  /** The neighbour set this participant masked with (N_G(self) ∩ U_2, graph.ts `maskingNeighbours`); empty before masking. */
  get neighbours(): readonly string[] {
    return this.maskedWith;
  }

  /** Whether this participant holds a verified advertisement from `peer`. */
  hasAdvert(peer: string): boolean {
    return this.adverts.has(peer);
  }

  /** ADVERTISE_KEYS → SHARE_KEYS: the signed advertisement of c_i^PK and s_i^PK. */
  advertise(): AdvertiseKeysMsg {
    this.machine.expect(S.AdvertiseKeys);
    const m = createAdvert(scopeOf(this.ctx), this.self, this.keys, this.deps.sign);
    this.adverts.set(this.self, m);
    this.machine.to(S.ShareKeys);
    return m;
  }

  addAdvert(m: AdvertiseKeysMsg): void {
    this.machine.expect(S.AdvertiseKeys, S.ShareKeys, S.MaskedInput);
    checkContext(this.ctx, m);
    if (m.sender === this.self) return; // our own, already recorded by advertise()
    if (this.adverts.has(m.sender))
      throw new SecAggError('SECAGG_DUPLICATE', `second advertisement from ${m.sender}`, { sender: m.sender, kind: 'advertise' });
    verifyAdvert(this.ctx.binding, m, this.deps.verify);
    this.adverts.set(m.sender, m);
  }

  /**
   * SHARE_KEYS → MASKED_INPUT: draw b_i, split b_i and s_i^SK t-of-m, encrypt each share pair
   * to the committee member at that position, naming the member's key it was sealed to (its
   * signed prekey, identity-derived key or advertised c_k). Members whose key we lack get nothing;
   * fewer than t advertised members fail with SECAGG_TOO_FEW_COMMITTEE.
   */
  shareKeys(): ShareKeysMsg {
    this.machine.expect(S.ShareKeys);
    const { committee, threshold, federation, round } = this.ctx;
    const keyOf = (c: string): Uint8Array | undefined => this.deps.committeeKey?.(c) ?? this.adverts.get(c)?.encryptionKey;
    const reachable = committee.filter((c) => keyOf(c) !== undefined);
    if (reachable.length < threshold) {
      throw new SecAggError('SECAGG_TOO_FEW_COMMITTEE', `${reachable.length} committee members advertised keys, threshold ${threshold}`, {
        advertised: reachable.length,
        threshold,
      });
    }
    const b = this.deps.entropy(SECRET_BYTES);
    this.selfMaskSeed = b;
    const bShares = split(b, committee.length, threshold, this.deps.entropy);
    const sShares = split(this.keys.mask.secretKey, committee.length, threshold, this.deps.entropy);
    const shares: EncryptedShare[] = [];
    const c = this.deps.crypto.x25519.importSecret(this.keys.encryption.secretKey);
    committee.forEach((member, pos) => {
      const key = keyOf(member);
      const bs = bShares[pos]!;
      const ss = sShares[pos]!;
      if (key !== undefined) {
        const pt = new Uint8Array(SHARE_PLAINTEXT_BYTES);
        pt[0] = bs.x;
        pt.set(bs.y, 1);
        pt.set(ss.y, 1 + bs.y.length);
        const ad = shareAssociatedData(
          scopeOf(this.ctx),
          { id: this.self, publicKey: this.keys.encryption.publicKey },
          { id: member, publicKey: key },
        );
        const sealed = sealShare(c, key, ad, pt, this.deps.entropy);
        wipe(pt);
        // The share names the key it was sealed to (wire v3): a member that holds another key for
        // this round (its prekey state was lost) then knows the share is not a bad one.
        shares.push({ recipient: member, recipientKey: key.slice(), ...sealed });
      }
      wipe(bs.y);
      wipe(ss.y);
    });
    c.dispose();
    shares.sort((a, b) => (a.recipient < b.recipient ? -1 : 1));
    this.machine.to(S.MaskedInput);
    return {
      kind: SecAggKind.ShareKeys,
      federation,
      round,
      sender: this.self,
      selfMaskCommitment: selfMaskCommitment(b, scopeOf(this.ctx), this.self),
      shares,
    };
  }

  /**
   * The neighbour set the certified key set gives this participant, N_G(self) ∩ U_2 (U_2 \ {self}
   * with the complete graph), after
   * checking the certificate (SECAGG_NOT_CERTIFIED), that U_2 holds us and leaves ≥ k
   * neighbours (SECAGG_TOO_FEW_NEIGHBOURS) and that we hold every neighbour's advertised
   * mask key (SECAGG_UNKNOWN_KEY: the driver retries once the advertisement arrives).
   */
  neighboursFrom(keySet: KeySetEvidence): string[] {
    const { committee, threshold, config } = this.ctx;
    const ks = verifyKeySet(scopeOf(this.ctx), keySet, committee, threshold, this.deps.verify);
    if (!ks.shared.includes(this.self)) {
      throw new SecAggError('SECAGG_TOO_FEW_NEIGHBOURS', `certified U_2 does not include ${this.self}`, {
        participant: this.self,
        reason: 'excluded',
        shared: ks.shared.length,
      });
    }
    // M_i = N_G(i) ∩ U_2 (graph.ts; U_2 \ {i} without a graph source).
    const neighbours = maskingNeighbours(this.graphs(ks.shared), ks.shared, this.self);
    if (neighbours.length < config.minNeighbours) {
      throw new SecAggError(
        'SECAGG_TOO_FEW_NEIGHBOURS',
        `certified U_2 leaves ${neighbours.length} masking-graph neighbours, minimum ${config.minNeighbours}`,
        {
          participant: this.self,
          reason: 'too-few',
          neighbours: neighbours.length,
          required: config.minNeighbours,
        },
      );
    }
    const missing = neighbours.filter((j) => !this.adverts.get(j)?.contributes);
    if (missing.length > 0) {
      throw new SecAggError('SECAGG_UNKNOWN_KEY', `no contributing advertisement from ${missing.length} certified neighbour(s)`, {
        participants: missing,
      });
    }
    return neighbours;
  }

  /**
   * MASKED_INPUT → UNMASK: quantize `values` (= n_i·Δ_i, see quantize.ts), append n_i, and mask
   * with PRG(b_i) and ±PRG(s_ij) for every masking-graph neighbour in the certified U_2 (`neighboursFrom`).
   * Wipes b_i, s_i^SK and c_i^SK.
   *
   * The payload declares `dpParams`, the DP-SGD parameters it trained with this round
   * (protocol/chain/dp-params.ts; NO_DP_PARAMS without DP), and carries `entrySignature`, its
   * EIP-712 ParticipantEntry signature (protocol/chain/participant-entry.ts), for the round
   * record. No sample-count bucket: n_i is only ever masked.
   */
  maskInput(
    values: ArrayLike<number>,
    sampleCount: number,
    baseModelHash: Uint8Array,
    keySet: KeySetEvidence,
    dpParams: bigint = NO_DP_PARAMS,
    entrySignature?: Uint8Array,
  ): MaskedInputPayload {
    checkDeclaredDpParams(dpParams);
    this.machine.expect(S.MaskedInput);
    const neighbours = this.neighboursFrom(keySet);
    const { config } = this.ctx;
    const rho = this.deps.entropy(SECRET_BYTES);
    const rk = roundingKey(rho, scopeOf(this.ctx), this.self);
    wipe(rho);
    const rounding = this.deps.crypto.prg.keystream(rk, 4 * values.length);
    wipe(rk);
    let q: Uint32Array;
    try {
      q = quantize(values, sampleCount, config, rounding);
    } finally {
      wipe(rounding);
    }
    this.maskedWith = neighbours;
    maskInPlace(q, {
      crypto: this.deps.crypto,
      scope: scopeOf(this.ctx),
      self: this.self,
      maskPublicKey: this.keys.mask.publicKey,
      selfMaskSeed: this.selfMaskSeed!,
      maskSecretKey: this.keys.mask.secretKey,
      neighbours: new Map(neighbours.map((j) => [j, this.adverts.get(j)!.maskKey])),
    });
    this.wipeSecrets();
    this.machine.to(S.Unmask);
    return {
      baseModelHash,
      dpParams,
      entrySignature: entrySignature?.slice() ?? new Uint8Array(ENTRY_SIGNATURE_BYTES),
      neighbours,
      masked: q,
    };
  }

  /** UNMASK → DONE, once the round's result is adopted. */
  finish(): void {
    this.machine.to(S.Done);
  }

  /** Abandon the round (dropout, deadline, error): wipe secrets, go to FAILED. */
  fail(): void {
    this.wipeSecrets();
    if (!this.machine.is(S.Done, S.Failed)) this.machine.to(S.Failed);
  }

  private wipeSecrets(): void {
    if (this.selfMaskSeed !== undefined) wipe(this.selfMaskSeed);
    wipeRoundKeys(this.keys);
  }
}
