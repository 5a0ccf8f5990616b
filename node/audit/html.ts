/**
 * HTML of an audit report: the sections of the live dashboard (`audit serve`) and the
 * self-contained report (`audit --html`). Plain and accessible (WCAG 2.1 AA): real tables with
 * captions and header scopes, a skip link and section navigation for the keyboard, visible
 * focus, text contrast ≥ 4.5:1, status in words not colour alone, and every number a chart
 * shows also in text — with `data-testid` and `aria-label`s carrying the values, so a person
 * with a screen reader and a browser test read the same thing.
 */
import type { AuditReport, Finding } from '../../protocol/audit/types.js';
import { budgetChartSvg, roundsChartSvg } from './charts.js';

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => ESC[c]!);

const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(6) : '∞');
const code = (h: string | undefined): string => (h === undefined ? '—' : `<code title="${esc(h)}">${esc(h.slice(0, 12))}…</code>`);
const list = (xs: readonly string[]): string =>
  xs.length === 0 ? '—' : xs.map((a) => `<code title="${esc(a)}">${esc(a.slice(0, 8))}…</code>`).join(' ');

/** A member's name (registry metadata) with its address, or the address alone. */
function named(r: AuditReport, address: string): string {
  const name = r.members.find((m) => m.address.toLowerCase() === address.toLowerCase())?.name;
  return `${name !== undefined ? `${esc(name)} ` : ''}<code>${esc(address)}</code>`;
}

export interface DashboardSections {
  readonly summary: string;
  readonly rounds: string;
  readonly chain: string;
  readonly budgets: string;
  readonly credits: string;
  readonly findings: string;
}

export const SECTION_IDS = ['summary', 'rounds', 'chain', 'budgets', 'credits', 'findings'] as const;

function summary(r: AuditReport): string {
  const errors = r.findings.filter((f) => f.severity === 'error').length;
  const warnings = r.findings.filter((f) => f.severity === 'warning').length;
  return `<p class="verdict ${r.ok ? 'ok' : 'bad'}" data-testid="verdict" data-ok="${r.ok}">${
    r.ok ? 'OK — every check passed' : `FAILED — ${errors} error finding${errors === 1 ? '' : 's'}`
  }${warnings > 0 ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}</p>
<dl class="facts">
<dt>Contract</dt><dd><code>${esc(r.federation)}</code> on chain ${esc(r.chainId)}</dd>
<dt>Audited up to block</dt><dd data-testid="block">${r.block}</dd>
<dt>Members</dt><dd>${r.members.length}${
    r.members.length === 0
      ? ''
      : `<ul class="members">${r.members
          .map(
            (m) =>
              `<li data-testid="member" data-address="${esc(m.address)}" data-peer-id="${esc(m.peerId)}"${m.name !== undefined ? ` data-name="${esc(m.name)}"` : ''}>${m.name !== undefined ? `<strong>${esc(m.name)}</strong> ` : ''}<code title="${esc(m.peerId)}">${esc(m.peerId.slice(0, 12))}…</code> <code title="${esc(m.address)}">${esc(m.address.slice(0, 10))}…</code> ${esc(m.status)}</li>`,
          )
          .join('')}</ul>`
  }</dd>
<dt>Rounds</dt><dd data-testid="round-count">${r.rounds.length}</dd>
<dt>Committee</dt><dd>m = ${r.m}, threshold t = ${r.t}</dd>
</dl>`;
}

async function rounds(r: AuditReport): Promise<string> {
  const rows = r.rounds
    .map(
      (s) => `<tr data-testid="round-row" data-round="${s.round}" data-status="${s.status}" data-signers="${s.signers.length}">
<th scope="row">${s.round}</th><td>${s.status}</td><td>${list(s.committee)}</td>
<td>${list(s.signers)} <span class="muted">(${s.signers.length}${s.signaturesVerified ? ', verified from calldata' : ', from event'})</span></td>
<td>${s.participants.length}</td><td>${s.artifact ?? '—'}</td>
<td>${s.evaluation ? `acc ${s.evaluation.accuracy?.toFixed(3)}, AUC ${s.evaluation.auc?.toFixed(3)}` : '—'}</td>
<td>${s.findings.length === 0 ? 'none' : `<strong>${esc(s.findings.join(', '))}</strong>`}</td></tr>`,
    )
    .join('\n');
  const svg = r.rounds.length > 0 ? await roundsChartSvg(r, r.t) : '';
  return `${
    svg === ''
      ? '<p>No round has been opened yet.</p>'
      : `<figure role="img" aria-label="Verified committee signatures per round, against the threshold t = ${r.t}">${svg}<figcaption>Verified signatures per round; the dashed line is the threshold t = ${r.t}.</figcaption></figure>`
  }
<div class="scroll" tabindex="0" role="region" aria-label="Rounds table"><table>
<caption>Rounds: status, committee (selection order), signers verified from the finalize calldata</caption>
<thead><tr><th scope="col">Round</th><th scope="col">Status</th><th scope="col">Committee</th><th scope="col">Signers</th><th scope="col">Participants</th><th scope="col">Artifact</th><th scope="col">Evaluation</th><th scope="col">Findings</th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

function chain(r: AuditReport): string {
  const items = [`<li data-testid="chain-link" data-round="0"><span>initial model</span> ${code(r.initialModelHash)}</li>`];
  for (const s of r.rounds) {
    if (s.status !== 'finalized') continue;
    const broken = s.findings.includes('HASH_CHAIN_BROKEN');
    items.push(
      `<li data-testid="chain-link" data-round="${s.round}" data-model-hash="${esc(s.modelHash ?? '')}"><span>round ${s.round}</span> ${code(s.prevModelHash)} → ${code(s.modelHash)} <span class="${broken ? 'bad' : 'ok'}">${broken ? 'broken link' : 'linked'}</span>${s.artifact !== undefined ? ` <span class="${s.artifact === 'verified' ? 'ok' : 'bad'}">artifact ${esc(s.artifact)}</span>` : ''}</li>`,
    );
  }
  return `<ol class="chain">${items.join('\n')}</ol>`;
}

async function budgets(r: AuditReport): Promise<string> {
  const svg = r.budgets.length > 0 ? await budgetChartSvg(r) : '';
  const rows = r.budgets
    .map(
      (b) => `<tr data-testid="budget-row" data-member="${esc(b.member)}">
<th scope="row">${named(r, b.member)}</th>
<td><meter min="0" max="${Number.isFinite(b.cap) ? b.cap : 1}" value="${Number.isFinite(b.epsilonSpent) ? b.epsilonSpent : 1}" data-testid="budget-bar" data-member="${esc(b.member)}" data-spent="${b.epsilonSpent}" data-cap="${b.cap}" data-chain-spent="${b.chainEpsilonSpent}" aria-label="ε spent ${fmt(b.epsilonSpent)} of cap ${fmt(b.cap)}"></meter></td>
<td>${fmt(b.epsilonSpent)}</td><td>${fmt(b.chainEpsilonSpent)}</td><td>${fmt(b.cap)}</td><td>${b.epsilonSpent > b.cap ? '<strong class="bad">over cap</strong>' : 'within cap'}</td></tr>`,
    )
    .join('\n');
  return `${svg === '' ? '' : `<figure role="img" aria-label="Privacy budget spent per member against its cap">${svg}<figcaption>ε spent per member (bars) and its cap (black tick; caps far off the scale are listed in the table only).</figcaption></figure>`}
<div class="scroll" tabindex="0" role="region" aria-label="Privacy budgets table"><table>
<caption>Privacy budget per member: ε at the federation's δ replayed from the records, the contract's own figure, and the cap</caption>
<thead><tr><th scope="col">Member</th><th scope="col">Spent vs cap</th><th scope="col">ε replayed</th><th scope="col">ε contract</th><th scope="col">Cap</th><th scope="col">Status</th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

function credits(r: AuditReport): string {
  const rows = r.credits
    .map(
      (c) =>
        `<tr data-testid="credit-row" data-member="${esc(c.member)}" data-expected="${esc(c.expected)}" data-onchain="${esc(c.onChain)}"><th scope="row">${named(r, c.member)}</th><td>${esc(c.expected)}</td><td>${esc(c.onChain)}</td><td>${c.expected === c.onChain ? 'agree' : '<strong class="bad">disagree</strong>'}</td></tr>`,
    )
    .join('\n');
  return `<div class="scroll" tabindex="0" role="region" aria-label="Credits table"><table>
<caption>Credits: by the rule of docs/credits.md over the records, and on chain (total ${esc(r.totalCredits.expected)} / ${esc(r.totalCredits.onChain)})</caption>
<thead><tr><th scope="col">Member</th><th scope="col">By the rule</th><th scope="col">On chain</th><th scope="col">Status</th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

function findingItem(f: Finding): string {
  return `<li data-testid="finding" data-code="${esc(f.code)}" data-severity="${f.severity}" data-round="${f.round ?? ''}"><strong>${esc(f.severity)}</strong> <code>${esc(f.code)}</code> ${
    f.round === null ? 'deployment' : `round ${f.round}`
  }: ${esc(f.message)}<details><summary>evidence</summary><pre>${esc(JSON.stringify(f.evidence, null, 2))}</pre></details></li>`;
}

function findings(r: AuditReport): string {
  if (r.findings.length === 0) return '<p data-testid="no-findings">No findings.</p>';
  return (['error', 'warning', 'info'] as const)
    .map((s) => {
      const fs = r.findings.filter((f) => f.severity === s);
      return fs.length === 0 ? '' : `<h3>${s}s (${fs.length})</h3><ul class="findings">${fs.map(findingItem).join('\n')}</ul>`;
    })
    .join('\n');
}

export async function renderSections(r: AuditReport): Promise<DashboardSections> {
  return {
    summary: summary(r),
    rounds: await rounds(r),
    chain: chain(r),
    budgets: await budgets(r),
    credits: credits(r),
    findings: findings(r),
  };
}

const TITLES: Record<(typeof SECTION_IDS)[number], string> = {
  summary: 'Summary',
  rounds: 'Rounds',
  chain: 'Model hash chain',
  budgets: 'Privacy budgets',
  credits: 'Credits',
  findings: 'Findings',
};

const STYLE = `
:root{color-scheme:light}
body{font:16px/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff;margin:0}
header,main{max-width:72rem;margin:0 auto;padding:0 1rem}
a{color:#0b4f9c}
:focus-visible{outline:3px solid #0b4f9c;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}
nav ul{display:flex;gap:1rem;flex-wrap:wrap;list-style:none;padding:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid #8a8a8a;padding:.3rem .5rem;text-align:left;vertical-align:top}
thead th{background:#eef1f5}
.scroll{overflow-x:auto}
.muted{color:#4a4a4a}
.ok{color:#1b5e20}.bad{color:#b00020}
.verdict{font-size:1.25rem;font-weight:700}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
.facts dt{font-weight:600}
.chain{font-family:ui-monospace,monospace}
meter{width:10rem}
figure{margin:.5rem 0}figcaption{color:#4a4a4a}
pre{white-space:pre-wrap;word-break:break-all}
`;

/** Refreshes each section from /api/sections every `pollMs`; announces updates politely. */
const SCRIPT = (pollMs: number) => `
const ids=${JSON.stringify(SECTION_IDS)};
async function refresh(){
  try{
    const res=await fetch('/api/sections',{cache:'no-store'});
    if(!res.ok)throw new Error('HTTP '+res.status);
    const body=await res.json();
    for(const id of ids){const el=document.getElementById('section-'+id);if(el&&body.sections[id]!==undefined&&el.innerHTML!==body.sections[id])el.innerHTML=body.sections[id];}
    document.getElementById('status').textContent=body.error?('Last poll failed: '+body.error):('Updated at block '+body.block+' ('+new Date(body.updatedAt).toLocaleTimeString()+')');
  }catch(e){document.getElementById('status').textContent='Cannot reach the auditor: '+e.message;}
}
setInterval(refresh,${pollMs});
`;

/** The whole page: live (with the refresh script) or a self-contained static report. */
export function renderPage(
  sections: DashboardSections,
  opts: { readonly live: boolean; readonly pollMs?: number; readonly title?: string },
): string {
  const title = opts.title ?? 'fedmesh audit';
  const body = SECTION_IDS.map(
    (id) =>
      `<section aria-labelledby="h-${id}"><h2 id="h-${id}" tabindex="-1">${TITLES[id]}</h2><div id="section-${id}">${sections[id]}</div></section>`,
  ).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><h1>${esc(title)}</h1>
<nav aria-label="Sections"><ul>${SECTION_IDS.map((id) => `<li><a href="#h-${id}">${TITLES[id]}</a></li>`).join('')}</ul></nav>
<p id="status" role="status" aria-live="polite">${opts.live ? 'Following the chain…' : 'Static report.'}</p></header>
<main id="main" tabindex="-1">${body}</main>
${opts.live ? `<script>${SCRIPT(opts.pollMs ?? 2000)}</script>` : ''}
</body></html>
`;
}

/** The self-contained report of `audit --html`. */
export async function renderReportHtml(r: AuditReport): Promise<string> {
  return renderPage(await renderSections(r), { live: false, title: `fedmesh audit — ${r.ok ? 'ok' : 'FAILED'}` });
}
