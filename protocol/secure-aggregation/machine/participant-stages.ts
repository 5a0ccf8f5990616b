/**
 * The participant's stages of a secure round (Bonawitz et al., CCS 2017, §4, Figure 4, "User";
 * Flower's SecAgg+ workflow has one function per stage, so has this file):
 *
 *   COMMITTEE_KEYS  wait for the advertisement of every member whose key we lack (none with
 *                   identity-derived keys, none for members whose signed prekey we hold),
 *                   a recorded result, or openedAt + keysMs; then share b_i, s_i^SK to the committee
 *   TRAINING        wait for local training (started when the round opened)
 *   KEY_SET         wait for a certified key set whose every neighbour's advert we hold (or a
 *                   refusal: excluded, fewer than k neighbours) while the chain can still record
 *                   the round (`followUntil`; absent: the input deadline) — never a timer of our
 *                   own choosing
 *   ENTRY_SIGNATURE the node signs the ParticipantEntry (effect `sign-entry`)
 *   MASK            mask with exactly U_2 \ {i}
 *   CHARGE          the node charges its local privacy ledger (effect `charge`, H8 F8)
 *   PUBLISH         the masked input leaves (effect `publish-input`) → DONE
 *
 * Each function runs when anything changed and returns the time it wants to be woken at
 * (undefined: it waits for an event, not a time). A wait ends as soon as what it waits for
 * has arrived; deadlines only matter when someone is down.
 */
import { fromHex0x } from '../../bytes.js';
import { NO_DP_PARAMS } from '../../chain/dp-params.js';
import type { MaskedInputPayload } from '../../messages/masked-input.js';
import { type KeySetProposalMsg, SecAggKind } from '../../messages/secagg.js';
import { verifyKeySet } from '../certify.js';
import { SecAggError } from '../errors.js';
import { type SecAggParticipant, scopeOf } from '../participant.js';
import { weightedDelta } from '../quantize.js';
import type { Emit } from './emit.js';
import { Feeder, type ReceivedStore } from './store.js';
import type { ParticipantOutcome, RoundMachineConfig, Trained } from './types.js';

export enum ParticipantPhase {
  CommitteeKeys = 'committee-keys',
  Training = 'training',
  KeySet = 'key-set',
  EntrySignature = 'entry-signature',
  Mask = 'mask',
  Charge = 'charge',
  Publish = 'publish',
  Done = 'done',
}

export interface ParticipantRoleState {
  readonly role: SecAggParticipant;
  readonly feeder: Feeder;
  phase: ParticipantPhase;
  /** Training was asked for (false: a simulated dropout right after sharing keys). */
  training: boolean;
  trainResult?: { readonly ok: Trained } | { readonly error: unknown };
  keySet?: KeySetProposalMsg;
  refused?: SecAggError;
  values?: Float64Array;
  entrySignature?: Uint8Array;
  charged: boolean;
  payload?: MaskedInputPayload;
  outcome?: ParticipantOutcome;
}

/** What a stage function sees: the round, the store, the clock reading of this event, the effect sink. */
export interface StageContext {
  readonly cfg: RoundMachineConfig;
  readonly store: ReceivedStore;
  readonly now: number;
  readonly out: Emit;
}

/**
 * How long a peer keeps following a round whose key set is late: `followUntil` (the chain can still
 * record the round), never before the input deadline (types.ts `RoundMachineConfig.followUntil`).
 */
export const followUntilOf = (cfg: RoundMachineConfig): number => Math.max(cfg.collectDeadline, cfg.followUntil ?? cfg.collectDeadline);

export function participantRole(role: SecAggParticipant, store: ReceivedStore): ParticipantRoleState {
  return { role, feeder: new Feeder(store), phase: ParticipantPhase.CommitteeKeys, training: false, charged: false };
}

/** The round opened: start training at once (it overlaps the key exchange), unless this peer drops after its keys. */
export function startParticipant(p: ParticipantRoleState, c: StageContext): void {
  if (c.cfg.dropout === 'after-keys') return;
  p.training = true;
  c.out.push({ type: 'train' });
}

const trainLoss = (p: ParticipantRoleState): { trainLoss?: number } =>
  p.trainResult !== undefined && 'ok' in p.trainResult ? { trainLoss: p.trainResult.ok.loss } : {};

function finish(p: ParticipantRoleState, outcome: ParticipantOutcome): undefined {
  p.phase = ParticipantPhase.Done;
  p.outcome = outcome;
  return undefined;
}

/** A result was recorded by the committee without our input: stop here. */
function lagging(p: ParticipantRoleState, c: StageContext): boolean {
  if (!c.store.resultSeen) return false;
  p.role.fail();
  c.out.log('debug', {}, 'round already recorded by the committee: no input from this peer');
  return true;
}

/** COMMITTEE_KEYS: the committee's encryption keys — derived from identities (no wait), or every member's advert, or keysMs. */
function committeeKeys(p: ParticipantRoleState, c: StageContext): number | undefined | 'next' {
  const { cfg, store, out } = c;
  const deadline = cfg.openedAt + cfg.keysMs;
  // Signed prekeys (../prekeys.ts): a member whose prekey for this round we hold needs no advert.
  const preKeyed = new Set(cfg.preKeyed);
  const advertised = cfg.committeeKeysKnown || cfg.committee.every((m) => preKeyed.has(m) || store.has(SecAggKind.AdvertiseKeys, m));
  if (!advertised && !store.resultSeen && c.now < deadline) return deadline;
  if (preKeyed.size > 0) {
    const advertsHeld = cfg.committee.filter((m) => store.has(SecAggKind.AdvertiseKeys, m)).length;
    out.log('debug', { preKeyed: preKeyed.size, committee: cfg.committee.length, advertsHeld }, 'committee keys: shares sealed to prekeys');
  }
  if (lagging(p, c)) return finish(p, { kind: 'done' });
  p.feeder.feed(out, SecAggKind.AdvertiseKeys, (m) => p.role.addAdvert(m));
  out.publish(p.role.shareKeys());
  if (!p.training) {
    p.role.fail();
    out.log('debug', {}, 'simulated dropout after sharing keys');
    return finish(p, { kind: 'done' });
  }
  p.phase = ParticipantPhase.Training;
  return 'next';
}

/** TRAINING: wait for the trainer (a training error ends the role, as it ended the old driver). */
function training(p: ParticipantRoleState): number | undefined | 'next' {
  if (p.trainResult === undefined) return undefined;
  if ('error' in p.trainResult) throw p.trainResult.error;
  p.phase = ParticipantPhase.KeySet;
  return 'next';
}

/** The key-set evidence for the first proposal that t endorsements certify, if any. */
function certifiedKeySet(p: ParticipantRoleState, c: StageContext): KeySetProposalMsg | undefined {
  const endorsements = c.store.messages(SecAggKind.KeySetEndorse);
  if (endorsements.length < c.cfg.threshold) return undefined;
  for (const proposal of c.store.messages(SecAggKind.KeySetProposal)) {
    try {
      verifyKeySet(scopeOf(p.role.ctx), { proposal, endorsements }, p.role.ctx.committee, p.role.ctx.threshold, c.cfg.verify);
      return proposal;
    } catch (e) {
      if (!(e instanceof SecAggError)) throw e;
    }
  }
  return undefined;
}

/** KEY_SET: mask only with the certified U_2 — wait for the certificate and every certified neighbour's advert. */
function keySet(p: ParticipantRoleState, c: StageContext): number | undefined | 'next' {
  const { cfg, store, out } = c;
  const ready = (): boolean => {
    if (store.resultSeen) return true;
    p.feeder.feed(out, SecAggKind.AdvertiseKeys, (m) => p.role.addAdvert(m));
    p.keySet ??= certifiedKeySet(p, c);
    if (p.keySet === undefined) return false;
    try {
      p.role.neighboursFrom({ proposal: p.keySet, endorsements: store.messages(SecAggKind.KeySetEndorse) });
      return true;
    } catch (e) {
      if (!(e instanceof SecAggError)) throw e;
      if (e.code === 'SECAGG_UNKNOWN_KEY') return false;
      p.refused = e;
      return true;
    }
  };
  // A key set certified after the input deadline still takes this input while the chain can record
  // the round (issue #13 liveness under load: under load certificates arrive late, and an input
  // masked with a certified U_2 is safe to send whenever it is sent — Bonawitz et al. §4: a late
  // y_i is a dropout, for which only s_i^SK is revealed, never b_i).
  const until = followUntilOf(cfg);
  if (!ready() && c.now < until) return Number.isFinite(until) ? until : undefined;
  if (lagging(p, c)) return finish(p, { kind: 'done', ...trainLoss(p) });
  if (p.refused !== undefined || p.keySet === undefined) {
    p.role.fail();
    const code = p.refused?.code ?? 'SECAGG_NOT_CERTIFIED';
    out.count(code, { step: 'mask', ...(p.refused?.fields ?? {}) });
    out.log('info', { code, ...(p.refused?.fields ?? {}) }, 'secure aggregation: no input this round (key set not certified or too small)');
    return finish(p, { kind: 'done', ...trainLoss(p) });
  }
  // Defence (a): the update is clipped to the federation's L2 bound before quantizing and
  // masking (quantize.ts weightedDelta).
  const trained = (p.trainResult as { ok: Trained }).ok;
  p.values = weightedDelta(trained.weights(), cfg.global, cfg.sampleCount, cfg.updateNormBound);
  if (cfg.signsEntry) {
    out.push({ type: 'sign-entry', dpParams: trained.dpParams ?? NO_DP_PARAMS });
    p.phase = ParticipantPhase.EntrySignature;
  } else p.phase = ParticipantPhase.Mask;
  return 'next';
}

/** MASK: y_i under exactly U_2 \ {i}; then the ledger charge (if the node keeps one) or the publish. */
function mask(p: ParticipantRoleState, c: StageContext): 'next' {
  const { cfg, store, out } = c;
  const dpParams = (p.trainResult as { ok: Trained }).ok.dpParams ?? NO_DP_PARAMS;
  p.payload = p.role.maskInput(
    p.values!,
    cfg.sampleCount,
    fromHex0x(cfg.head),
    { proposal: p.keySet!, endorsements: store.messages(SecAggKind.KeySetEndorse) },
    dpParams,
    p.entrySignature,
  );
  p.values = undefined;
  if (cfg.charges) {
    // Charged, durably, right before the input leaves — only once a key set is certified (H8 F8).
    out.push({ type: 'charge', dpParams });
    p.phase = ParticipantPhase.Charge;
  } else p.phase = ParticipantPhase.Publish;
  return 'next';
}

/**
 * Run the participant's stages as far as what it holds allows. Returns the time it wants a
 * tick at, or undefined. A SecAggError or any other throw is the caller's (step.ts): it ends
 * the role with outcome `thrown`, as the old driver rethrew it.
 */
export function advanceParticipant(p: ParticipantRoleState, c: StageContext): number | undefined {
  for (;;) {
    let r: number | undefined | 'next';
    switch (p.phase) {
      case ParticipantPhase.CommitteeKeys:
        r = committeeKeys(p, c);
        break;
      case ParticipantPhase.Training:
        r = training(p);
        break;
      case ParticipantPhase.KeySet:
        r = keySet(p, c);
        break;
      case ParticipantPhase.EntrySignature:
        if (p.entrySignature === undefined) return undefined;
        p.phase = ParticipantPhase.Mask;
        r = 'next';
        break;
      case ParticipantPhase.Mask:
        r = mask(p, c);
        break;
      case ParticipantPhase.Charge:
        if (!p.charged) return undefined;
        p.phase = ParticipantPhase.Publish;
        r = 'next';
        break;
      case ParticipantPhase.Publish:
        c.out.publishInput(p.payload!);
        p.payload = undefined;
        return finish(p, { kind: 'done', ...trainLoss(p) });
      case ParticipantPhase.Done:
        return undefined;
    }
    if (r !== 'next') return r;
  }
}

/** End the role on an error (thrown by a stage, a failed effect, or the round being stopped). */
export function failParticipant(p: ParticipantRoleState, error: unknown): void {
  p.role.fail();
  finish(p, { kind: 'thrown', error });
}
