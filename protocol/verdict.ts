/**
 * Verdicts on inbound messages (STYLE.md §9). Mirrors gossipsub's
 * TopicValidatorResult: ACCEPT delivers and forwards, IGNORE drops without penalty,
 * REJECT drops and penalises the forwarding peer through peer scoring. The reason code is
 * stable and doubles as a metric label.
 */
export type VerdictAction = 'accept' | 'ignore' | 'reject';

export interface Verdict {
  readonly action: VerdictAction;
  /** Stable reason code, e.g. 'OK', 'MSG_BAD_VERSION', 'ROUND_STALE'. */
  readonly code: string;
}

export const ACCEPT: Verdict = { action: 'accept', code: 'OK' };
export const ignore = (code: string): Verdict => ({ action: 'ignore', code });
export const reject = (code: string): Verdict => ({ action: 'reject', code });
