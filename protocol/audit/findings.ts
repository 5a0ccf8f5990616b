/**
 * Findings: what the auditor reports, one stable code per kind of fault (./types.ts
 * FINDING_CODES), with evidence a reader can check by hand. Evidence is made JSON-safe here
 * (bigints as decimal strings) so reports serialise without a custom replacer.
 */
import type { Finding, FindingCode, Severity } from './types.js';

/** A finding not yet tied to a round; the caller that knows the round adds it. */
export type LocalFinding = Omit<Finding, 'round'>;

/** `value` with every bigint replaced by its decimal string, recursively. */
export function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), jsonSafe(v)]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, jsonSafe(v)]));
  }
  return value;
}

export function finding(code: FindingCode, severity: Severity, message: string, evidence: Record<string, unknown> = {}): LocalFinding {
  return { code, severity, message, evidence: jsonSafe(evidence) as Record<string, unknown> };
}

export function inRound(round: number | null, f: LocalFinding): Finding {
  return { round, ...f };
}

const SEVERITY_ORDER: Readonly<Record<Severity, number>> = { error: 0, warning: 1, info: 2 };

/** Findings grouped by severity (errors first), then by round, then by code: a stable order for reports. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || (a.round ?? -1) - (b.round ?? -1) || a.code.localeCompare(b.code),
  );
}
