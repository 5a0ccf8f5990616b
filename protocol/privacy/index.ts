/**
 * Differential-privacy accounting for fedmesh (docs/privacy.md): RDP of the Poisson-subsampled
 * Gaussian (./rdp.ts), conversion to (ε, δ) (./epsilon.ts), composition (./accountant.ts), noise
 * planning (./planning.ts), the step arithmetic of DP-SGD (./dp-sgd.ts) and the loss-threshold
 * membership-inference attack (./membership-inference.ts). Pure code.
 */
export { RdpAccountant } from './accountant.js';
export { clipFactor, type DpSgdParams, dpSgdSteps, fillGaussian, poissonSample, stepsPerEpoch, validateDpSgdParams } from './dp-sgd.js';
export { conversionFloor, epsilonFromRdp, type PrivacySpent, validateDelta } from './epsilon.js';
export { type PrivacyArgumentFields, PrivacyError, type PrivacyErrorCode } from './errors.js';
export { CHAIN_RDP_ORDERS, DEFAULT_RDP_ORDERS, RDP_ORDER_SETS, type RdpOrderSetName, rdpOrderSet } from './orders.js';
export {
  computeEpsilon,
  DEFAULT_PLANNING_TOLERANCE,
  type EpsilonQuery,
  type FederatedDpPlan,
  type FederatedDpQuery,
  MAX_NOISE_MULTIPLIER,
  type NoisePlan,
  type NoisePlanQuery,
  planFederatedDpSgd,
  planNoiseMultiplier,
} from './planning.js';
export {
  advantageAt,
  dpAdvantageBound,
  heldOutThresholdAdvantage,
  lossThresholdAttack,
  permutationNullAdvantage,
  type ThresholdAttack,
} from './membership-inference.js';
export { composeRdp, computeRdp, rdpPerStep, type SubsampledGaussian } from './rdp.js';
