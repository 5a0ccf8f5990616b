/**
 * Typed errors of the on-chain encodings (STYLE.md §10): a value that cannot be represented the
 * way the FedmeshFederation contract stores it. The field names the argument, `value` is what
 * was given and `rule` says what it must be.
 */
import { FedmeshError } from '../errors.js';

export interface OnChainErrorFields {
  /** An argument cannot be encoded for the contract. */
  ONCHAIN_INVALID_VALUE: { field: string; value: string; rule: string };
  /** More committee seats than members to fill them. */
  ONCHAIN_COMMITTEE_TOO_LARGE: { size: number; members: number };
}

export type OnChainErrorCode = keyof OnChainErrorFields;

export class OnChainError<C extends OnChainErrorCode = OnChainErrorCode> extends FedmeshError<C, OnChainErrorFields[C]> {}

export function invalidValue(field: string, value: unknown, rule: string): OnChainError<'ONCHAIN_INVALID_VALUE'> {
  const shown = typeof value === 'bigint' ? `${value}n` : String(value);
  return new OnChainError('ONCHAIN_INVALID_VALUE', `${field} = ${shown}: ${rule}`, { field, value: shown, rule });
}
