/**
 * The terminal and JSON forms of an audit report. Terminal: a header, one line per round, the
 * findings grouped by severity, budgets and credits, and a last line that is `ok` or says how
 * many errors were found. JSON: the report itself (protocol/audit/types.ts `AuditReport`).
 */
import type { AuditReport, Finding, Severity } from '../../protocol/audit/types.js';

const short = (h: string | undefined): string => (h === undefined ? '—' : `${h.slice(0, 10)}…`);
const addr = (a: string): string => `${a.slice(0, 8)}…${a.slice(-4)}`;
const num = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : '∞');

/** One line of a round's evaluation for the text report: the task's headline metrics (those present). */
function evaluationLine(e: Readonly<Record<string, number>>): string {
  const keys: readonly [string, string][] =
    e.rmse !== undefined
      ? [
          ['rmse', 'rmse'],
          ['mae', 'mae'],
          ['r2', 'r2'],
        ]
      : e.macroAuc !== undefined
        ? [
            ['accuracy', 'acc'],
            ['balancedAccuracy', 'bal.acc'],
            ['macroF1', 'macroF1'],
            ['macroAuc', 'macroAuc'],
          ]
        : [
            ['accuracy', 'acc'],
            ['auc', 'auc'],
          ];
  return keys.map(([k, label]) => `${label} ${num(e[k] ?? Number.NaN)}`).join(' ');
}

/** Address → institution name, from the registry metadata (protocol/audit/member-name.ts). */
export function memberNames(r: AuditReport): ReadonlyMap<string, string> {
  return new Map(r.members.flatMap((m) => (m.name !== undefined ? [[m.address.toLowerCase(), m.name] as const] : [])));
}

export function formatReportText(r: AuditReport): string {
  const names = memberNames(r);
  const who = (a: string): string => {
    const n = names.get(a.toLowerCase());
    return n === undefined ? addr(a) : `${n} (${addr(a)})`;
  };
  const lines: string[] = [];
  lines.push(`fedmesh audit: FedmeshFederation ${r.federation} on chain ${r.chainId}, up to block ${r.block}`);
  lines.push(`initial model ${r.initialModelHash}`);
  lines.push(`${r.members.length} members, ${r.rounds.length} rounds`);
  for (const m of r.members) {
    lines.push(
      `  ${m.name ?? '(no name in the registry metadata)'}  peer ${m.peerId.slice(0, 12)}…${m.peerId.slice(-6)}  ${m.address}  ${m.status}`,
    );
  }
  lines.push('');
  for (const s of r.rounds) {
    const parts = [
      `round ${String(s.round).padStart(3)}`,
      s.status.padEnd(9),
      `committee ${s.committee.length}`,
      `signers ${s.signers.length}${s.signaturesVerified ? ' (verified)' : ' (from event)'}`,
      `participants ${s.participants.length}`,
      `${short(s.prevModelHash)} → ${short(s.modelHash)}`,
    ];
    if (s.artifact !== undefined) parts.push(`artifact ${s.artifact}`);
    if (s.evaluation !== undefined) parts.push(evaluationLine(s.evaluation));
    parts.push(s.findings.length === 0 ? 'ok' : s.findings.join(','));
    lines.push(parts.join('  '));
  }
  lines.push('');
  lines.push('privacy budgets (ε at the federation δ, replayed / contract / cap):');
  for (const b of r.budgets) lines.push(`  ${who(b.member)}  ${num(b.epsilonSpent)} / ${num(b.chainEpsilonSpent)} / ${num(b.cap)}`);
  if (r.studies !== undefined) {
    // Studies on one budget (issue 17 item 7): spend per study, then carried / this study / total.
    lines.push('spend per study (oldest first; ε of each study alone):');
    for (const [i, s] of r.studies.entries()) {
      lines.push(`  study ${i + 1} ${s.address}, ${s.rounds} rounds`);
      for (const m of s.members) lines.push(`    ${who(m.member)}  ${num(m.epsilon)}`);
    }
    lines.push('spend in total (ε carried / this study / total):');
    for (const b of r.budgets)
      lines.push(`  ${who(b.member)}  ${num(b.epsilonCarried ?? 0)} / ${num(b.epsilonThisStudy ?? 0)} / ${num(b.epsilonSpent)}`);
  }
  lines.push(`credits (rule / contract), total ${r.totalCredits.expected} / ${r.totalCredits.onChain}:`);
  for (const c of r.credits) lines.push(`  ${who(c.member)}  ${c.expected} / ${c.onChain}`);
  lines.push('');
  const bySeverity = (s: Severity): Finding[] => r.findings.filter((f) => f.severity === s);
  for (const s of ['error', 'warning', 'info'] as const) {
    const fs = bySeverity(s);
    if (fs.length === 0) continue;
    lines.push(`${s}s (${fs.length}):`);
    for (const f of fs) lines.push(`  [${f.code}] ${f.round === null ? 'deployment' : `round ${f.round}`}: ${f.message}`);
  }
  const errors = bySeverity('error').length;
  lines.push(r.ok ? 'ok' : `FAILED: ${errors} error finding${errors === 1 ? '' : 's'}`);
  return `${lines.join('\n')}\n`;
}

export function formatReportJson(r: AuditReport): string {
  return `${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}
