import { FedmeshError } from '../errors.js';

export type MessageErrorCode =
  | 'MSG_TOO_LARGE'
  | 'MSG_TRUNCATED'
  | 'MSG_TRAILING_BYTES'
  | 'MSG_BAD_TYPE'
  | 'MSG_BAD_VERSION'
  | 'MSG_BAD_FIELD'
  | 'MSG_WRONG_FEDERATION'
  | 'MSG_WRONG_ROUND'
  | 'MSG_BAD_SHAPE'
  | 'MSG_BAD_CHUNK'
  | 'MSG_HASH_MISMATCH';

/** Decoding/validation failure of a wire message. `fields` name the offending field and value. */
export class MessageError extends FedmeshError<MessageErrorCode> {}

export function truncated(need: number, offset: number, have: number): MessageError {
  return new MessageError('MSG_TRUNCATED', `needed ${need} bytes at offset ${offset}, have ${have}`, { need, offset, have });
}
