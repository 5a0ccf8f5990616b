/**
 * Typed errors of the auditor's I/O (STYLE.md §10). These are not findings: a finding is
 * something wrong with the federation; these say the auditor could not look (bad usage, an
 * unreachable endpoint, a deployment file that does not parse). The CLI exits 2 on them.
 */
import { FedmeshError } from '../../protocol/errors.js';

export interface AuditErrorFields {
  /** A flag or the deployment file is invalid; `field` names it. */
  AUDIT_USAGE: { field: string; value: unknown; rule: string };
  /** The JSON-RPC endpoint (or a peer) could not be reached or answered nonsense. */
  AUDIT_CONNECTION: { operation: string; reason: string };
}

export type AuditErrorCode = keyof AuditErrorFields;

export class AuditError<C extends AuditErrorCode = AuditErrorCode> extends FedmeshError<C, AuditErrorFields[C]> {}

export function usageError(field: string, value: unknown, rule: string): AuditError<'AUDIT_USAGE'> {
  return new AuditError('AUDIT_USAGE', `${field}=${JSON.stringify(value)}: ${rule}`, { field, value, rule });
}
