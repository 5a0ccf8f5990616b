/**
 * The participant's stages of a plaintext FedAvg round (McMahan et al., AISTATS 2017, Alg. 1,
 * "ClientUpdate"), one function per stage as in the secure strategy
 * (protocol/secure-aggregation/machine/participant-stages.ts), with the same effect order
 * around the release:
 *
 *   TRAINING        wait for local training (asked for when the round opens)
 *   ENTRY_SIGNATURE the node signs the ParticipantEntry (effect `sign-entry`; issue 14 item 4:
 *                   without it FedmeshFederation refuses the record line)
 *   CHARGE          the node charges its local privacy ledger (effect `charge`), durably,
 *                   immediately before the update leaves (issue 14 item 3; H8 F8)
 *   PUBLISH         the UpdatePayload leaves (effect `publish-update`) → DONE
 *
 * Defence (a) (docs/threat-model.md): the update (trained − head) is clipped to the federation's
 * L2 bound before it is published (quantize.ts `clipModelUpdate`).
 */
import { fromHex0x } from '../bytes.js';
import { NO_DP_PARAMS } from '../chain/dp-params.js';
import type { UpdatePayload } from '../messages/update.js';
import { clipModelUpdate } from '../secure-aggregation/quantize.js';
import type { ParticipantOutcome, Trained } from './types.js';
import type { PlainStageContext } from './plaintext-types.js';

export enum PlainParticipantPhase {
  Training = 'training',
  EntrySignature = 'entry-signature',
  Charge = 'charge',
  Publish = 'publish',
  Done = 'done',
}

export interface PlainParticipantState {
  phase: PlainParticipantPhase;
  trainResult?: { readonly ok: Trained } | { readonly error: unknown };
  entrySignature?: Uint8Array;
  charged: boolean;
  update?: UpdatePayload;
  outcome?: ParticipantOutcome;
}

export function plainParticipantRole(): PlainParticipantState {
  return { phase: PlainParticipantPhase.Training, charged: false };
}

const trainLoss = (p: PlainParticipantState): { trainLoss?: number } =>
  p.trainResult !== undefined && 'ok' in p.trainResult ? { trainLoss: p.trainResult.ok.loss } : {};

function finish(p: PlainParticipantState, outcome: ParticipantOutcome): undefined {
  p.phase = PlainParticipantPhase.Done;
  p.outcome = outcome;
  return undefined;
}

/** The round opened: train at once, unless this peer drops before sending anything (simulations). */
export function startPlainParticipant(p: PlainParticipantState, c: PlainStageContext): void {
  if (c.cfg.dropout === 'after-keys') {
    c.out.log('debug', { dropout: c.cfg.dropout }, 'simulated dropout: no update this round');
    finish(p, { kind: 'done' });
    return;
  }
  c.out.push({ type: 'train' });
}

/** The update this participant publishes: trained weights clipped to the bound, its declaration and entry signature. */
function buildUpdate(p: PlainParticipantState, c: PlainStageContext, trained: Trained): UpdatePayload {
  const { cfg } = c;
  const weights = trained.weights();
  return {
    baseModelHash: fromHex0x(cfg.head),
    sampleCount: cfg.sampleCount,
    ...(trained.dpParams !== undefined ? { dpParams: trained.dpParams } : {}),
    ...(p.entrySignature !== undefined ? { entrySignature: p.entrySignature } : {}),
    weights: cfg.updateNormBound === undefined ? weights : clipModelUpdate(weights, cfg.global, cfg.updateNormBound).weights,
  };
}

/**
 * Run the participant's stages as far as what it holds allows. Returns the time it wants a tick
 * at (never: every wait here is for an effect's answer). A throw is the caller's (./step.ts): it
 * ends the role `thrown`, as the old driver rethrew a training error.
 */
export function advancePlainParticipant(p: PlainParticipantState, c: PlainStageContext): number | undefined {
  for (;;) {
    switch (p.phase) {
      case PlainParticipantPhase.Training: {
        if (p.trainResult === undefined) return undefined;
        if ('error' in p.trainResult) throw p.trainResult.error;
        const dpParams = p.trainResult.ok.dpParams ?? NO_DP_PARAMS;
        if (c.cfg.signsEntry) {
          c.out.push({ type: 'sign-entry', dpParams });
          p.phase = PlainParticipantPhase.EntrySignature;
          break;
        }
        p.update = buildUpdate(p, c, p.trainResult.ok);
        p.phase = c.cfg.charges ? PlainParticipantPhase.Charge : PlainParticipantPhase.Publish;
        if (c.cfg.charges) c.out.push({ type: 'charge', dpParams });
        break;
      }
      case PlainParticipantPhase.EntrySignature: {
        if (p.entrySignature === undefined) return undefined;
        const trained = (p.trainResult as { ok: Trained }).ok;
        p.update = buildUpdate(p, c, trained);
        p.phase = c.cfg.charges ? PlainParticipantPhase.Charge : PlainParticipantPhase.Publish;
        if (c.cfg.charges) c.out.push({ type: 'charge', dpParams: trained.dpParams ?? NO_DP_PARAMS });
        break;
      }
      case PlainParticipantPhase.Charge:
        if (!p.charged) return undefined;
        p.phase = PlainParticipantPhase.Publish;
        break;
      case PlainParticipantPhase.Publish:
        c.out.publishUpdate(p.update!);
        p.update = undefined;
        c.out.log('debug', { ...trainLoss(p) }, 'update published');
        return finish(p, { kind: 'done', ...trainLoss(p) });
      case PlainParticipantPhase.Done:
        return undefined;
    }
  }
}

/** End the role on an error (a training failure, a failed effect, or the round being stopped). */
export function failPlainParticipant(p: PlainParticipantState, error: unknown): void {
  finish(p, { kind: 'thrown', error });
}
