/**
 * Defence (b), the validation gate before signing (issue #8 §6): masked updates cannot be
 * inspected one by one, but the committee sees the candidate aggregate in the clear before it
 * signs. Each committee member evaluates it on its own held-out validation split and refuses to
 * sign when the loss is worse than the round's base model's by more than `validationMargin`
 * (protocol/round.ts `validationGate`). Without t signatures the round is aborted at its finalize
 * deadline (./round-abort.ts) and the next round opens from the unchanged head.
 *
 * The loss is binary cross-entropy (the models here output P(y = 1)), in nats, with
 * probabilities clamped to [ε, 1 − ε] so a confidently wrong row costs at most −log ε.
 *
 * Privacy (issue 15): the gate's decision — sign or refuse, visible to everyone as a finalized
 * or an aborted round — is computed from the member's private held-out records without noise,
 * so it is not differentially private and no ε accounts for it. It is therefore refused together
 * with DP (`assertGateAllowed`): a federation that reports an ε does not run it.
 */
import type { LabelledData } from '../../protocol/data.js';
import type { ModelWeights } from '../../protocol/model.js';
import { RoundError, validationGate, type ValidationVerdict } from '../../protocol/round.js';

/** Probability clamp for the log loss (as Keras' binary cross-entropy uses 1e-7). */
export const LOG_LOSS_EPSILON = 1e-7;

/** A member's validation loss of any model on its own split (the port the gate evaluates with). */
export interface Validator {
  loss(weights: ModelWeights): Promise<number>;
}

/** Mean binary cross-entropy of `probs` against 0/1 `labels`; NaN when a probability is NaN. */
export function binaryLogLoss(labels: ArrayLike<number>, probs: ArrayLike<number>): number {
  if (labels.length !== probs.length) throw new RangeError(`${labels.length} labels, ${probs.length} predictions`);
  if (labels.length === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - LOG_LOSS_EPSILON, Math.max(LOG_LOSS_EPSILON, probs[i]!));
    sum -= labels[i]! === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / labels.length;
}

/**
 * A Validator over a model evaluator of its own (never the trainer that trains: the gate runs
 * while the participant's trained weights are still in it) and a validation split.
 */
export function modelValidator(
  evaluator: { setWeights(w: ModelWeights): void; predict(x: Float32Array, n: number): Float32Array },
  data: LabelledData,
): Validator {
  return {
    loss: async (weights) => {
      evaluator.setWeights(weights);
      return binaryLogLoss(data.y, evaluator.predict(data.x, data.n));
    },
  };
}

/** Evaluates base and candidate with `validator` and applies the gate. */
export async function gateCandidate(
  validator: Validator,
  base: ModelWeights,
  candidate: ModelWeights,
  margin: number,
): Promise<ValidationVerdict> {
  const baseLoss = await validator.loss(base);
  const candidateLoss = await validator.loss(candidate);
  return validationGate(baseLoss, candidateLoss, margin);
}

/**
 * Refuses the validation gate together with DP-SGD (ROUND_BAD_CONFIG naming
 * `defence.validationMargin`): its sign-or-refuse decision is a non-private release of the
 * member's held-out data (module header).
 */
export function assertGateAllowed(dp: unknown, validationMargin: number | undefined): void {
  if (dp === undefined || validationMargin === undefined) return;
  const rule = 'the validation gate decides on private held-out data without noise (not differentially private): not allowed with DP';
  throw new RoundError('ROUND_BAD_CONFIG', `defence.validationMargin=${validationMargin}: ${rule}`, {
    field: 'defence.validationMargin',
    value: validationMargin,
    rule,
  });
}
