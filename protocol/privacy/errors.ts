/**
 * Typed errors of the privacy accountant (STYLE.md §10). Every invalid argument names the
 * parameter, its value and the rule it broke, so callers (the CLI, the simulator, the committee
 * recomputing a declared spend) can report it without parsing the message.
 */
import { FedmeshError } from '../errors.js';

export type PrivacyErrorCode =
  /** A parameter is outside its domain (q ∉ (0, 1], σ ≤ 0, δ ∉ (0, 1), steps not an integer, …). */
  | 'PRIVACY_ARGUMENT_INVALID'
  /** Noise planning: no noise multiplier up to `maxNoiseMultiplier` meets the target ε. */
  | 'PRIVACY_TARGET_UNREACHABLE'
  /** A log-space series lost its sign (should not happen for valid inputs; reported, never hidden). */
  | 'PRIVACY_NUMERIC';

export interface PrivacyArgumentFields extends Record<string, unknown> {
  /** The parameter's name in the library API, e.g. 'sampleRate'. */
  field: string;
  /** The offending value, as given (NaN and ±Infinity stringified so the fields stay JSON-safe). */
  value: number | string | null;
  /** The rule it broke, in words. */
  rule: string;
}

export class PrivacyError extends FedmeshError<PrivacyErrorCode> {}

function jsonSafe(v: unknown): number | string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (v === undefined || v === null) return null;
  return String(v);
}

export function invalidArgument(field: string, value: unknown, rule: string): PrivacyError {
  const fields: PrivacyArgumentFields = { field, value: jsonSafe(value), rule };
  return new PrivacyError('PRIVACY_ARGUMENT_INVALID', `${field} = ${String(value)}: ${rule}`, fields);
}
