/**
 * Typed errors of local training (node/ml): one code per way a trainer call can be refused.
 */
import { FedmeshError } from '../../protocol/errors.js';

export type TrainerErrorCode =
  | 'TRAINER_SHAPE_MISMATCH'
  | 'TRAINER_SPEC_INVALID'
  | 'TRAINER_OPTIONS_INVALID'
  | 'TRAINER_DATA_INVALID'
  | 'TRAINER_BUSY'
  | 'TRAINER_DISPOSED';

export class TrainerError extends FedmeshError<TrainerErrorCode> {}
