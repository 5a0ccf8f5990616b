/**
 * HTML of an audit report: the sections of the live dashboard (`audit serve`) and the
 * self-contained report (`audit --html`). Plain and accessible (WCAG 2.1 AA): real tables with
 * captions and header scopes, a skip link and section navigation for the keyboard, visible
 * focus, text contrast ≥ 4.5:1, status in words not colour alone, and every number a chart
 * shows also in text — with `data-testid` and `aria-label`s carrying the values, so a person
 * with a screen reader and a browser test read the same thing.
 */
import type { AuditReport, Finding, RoundSummary } from '../../protocol/audit/types.js';
import type { TaskMetrics } from '../../protocol/metrics.js';
import { outputNames } from '../../protocol/task.js';
import { budgetChartSvg, metricsChartSvg, roundsChartSvg } from './charts.js';
import type { ModelInsight } from './model-view.js';

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
  readonly model: string;
  readonly chain: string;
  readonly budgets: string;
  readonly credits: string;
  readonly findings: string;
}

export const SECTION_IDS = ['summary', 'rounds', 'model', 'chain', 'budgets', 'credits', 'findings'] as const;

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
<td>${s.evaluation ? headline(s.evaluation) : '—'}</td>
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

// ── issue 16: model quality per task ───────────────────────────────────────────────────────
/** The stable metric names of protocol/metrics.ts, with their labels, in display order. */
const METRIC_LABELS: Readonly<Record<string, string>> = {
  accuracy: 'Accuracy',
  balancedAccuracy: 'Balanced accuracy',
  macroF1: 'Macro-F1',
  sensitivity: 'Sensitivity',
  specificity: 'Specificity',
  auc: 'AUC',
  macroAuc: 'Macro AUC',
  brier: 'Brier score',
  rmse: 'RMSE',
  mae: 'MAE',
  r2: 'R²',
};
/** The metrics each task reports (issue 16 item 1). */
const TASK_METRICS: Readonly<Record<string, readonly string[]>> = {
  binary: ['accuracy', 'sensitivity', 'specificity', 'balancedAccuracy', 'auc', 'brier'],
  multiclass: ['accuracy', 'balancedAccuracy', 'macroF1', 'macroAuc'],
  multilabel: ['macroAuc', 'accuracy', 'macroF1'],
  regression: ['rmse', 'mae', 'r2'],
};
/** Error metrics in the target's units (charted apart from the bounded ones). */
const UNIT_METRICS = new Set(['rmse', 'mae']);

const num = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(3));

/** The task's metric names: from the model's task, else from the keys an evaluation carries. */
function metricNames(kind: string | undefined, evaluation: Readonly<Record<string, number>> | undefined): readonly string[] {
  if (kind !== undefined) return TASK_METRICS[kind] ?? [];
  const e = evaluation ?? {};
  if ('rmse' in e) return TASK_METRICS.regression!;
  if ('auc' in e) return TASK_METRICS.binary!;
  return TASK_METRICS.multiclass!.filter((k) => k in e);
}

/** The rounds table's short form: the task's first two metrics. */
function headline(e: Readonly<Record<string, number>>): string {
  return metricNames(undefined, e)
    .filter((k) => k !== 'sensitivity' && k !== 'specificity')
    .slice(0, 2)
    .map((k) => `${METRIC_LABELS[k]} ${num(e[k])}`)
    .join(', ');
}

function confusionTable(m: TaskMetrics, names: readonly string[]): string {
  const cm =
    m.confusionMatrix ??
    (m.confusion !== undefined
      ? [
          [m.confusion.tn, m.confusion.fp],
          [m.confusion.fn, m.confusion.tp],
        ]
      : undefined);
  if (cm === undefined) return '';
  const head = names.map((c) => `<th scope="col">${esc(c)}</th>`).join('');
  const rows = cm
    .map(
      (row, a) =>
        `<tr><th scope="row">${esc(names[a])}</th>${row
          .map(
            (v, p) =>
              `<td data-testid="confusion-cell" data-actual="${esc(names[a])}" data-predicted="${esc(names[p])}" data-count="${v}"${a === p ? ' class="diag"' : ''}>${v}</td>`,
          )
          .join('')}</tr>`,
    )
    .join('\n');
  return `<div class="scroll" tabindex="0" role="region" aria-label="Confusion matrix"><table data-testid="confusion-matrix">
<caption>Confusion matrix: rows are the actual class, columns the predicted class (counts of test rows; the diagonal is correct)</caption>
<thead><tr><th scope="col">actual \\ predicted</th>${head}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

function perClassTable(m: TaskMetrics, kind: string): string {
  if (m.perClass === undefined) return '';
  const label = kind === 'multilabel' ? 'Label' : 'Class';
  const rows = m.perClass
    .map(
      (c) =>
        `<tr data-testid="class-row" data-name="${esc(c.name)}" data-auc="${c.auc}" data-sensitivity="${c.sensitivity}" data-specificity="${c.specificity}"><th scope="row">${esc(c.name)}</th><td>${c.support}</td><td>${num(c.sensitivity)}</td><td>${num(c.specificity)}</td><td>${num(c.f1)}</td><td>${num(c.auc)}</td></tr>`,
    )
    .join('\n');
  return `<div class="scroll" tabindex="0" role="region" aria-label="Per-${label.toLowerCase()} metrics"><table data-testid="per-class">
<caption>Per ${label.toLowerCase()}: support, sensitivity, specificity, F1 and one-vs-rest AUC (— where undefined: one side absent from the test data)</caption>
<thead><tr><th scope="col">${label}</th><th scope="col">Support</th><th scope="col">Sensitivity</th><th scope="col">Specificity</th><th scope="col">F1</th><th scope="col">AUC</th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

function latestModel(i: ModelInsight): string {
  const m = i.metrics;
  const kind = i.task.kind;
  const names = TASK_METRICS[kind] ?? [];
  const facts = names
    .map(
      (k) =>
        `<dt>${METRIC_LABELS[k]}</dt><dd data-testid="latest-metric" data-metric="${k}" data-value="${(m as unknown as Record<string, number>)[k]}">${num((m as unknown as Record<string, number>)[k])}${UNIT_METRICS.has(k) ? ' <span class="muted">(target units)</span>' : ''}</dd>`,
    )
    .join('');
  const classNames = kind === 'binary' ? ['negative (0)', 'positive (1)'] : outputNames(i.task);
  return `<h3>Round ${i.round}'s model on the test data</h3>
<p>Model ${code(i.modelHash)}, task <strong data-testid="task" data-task="${kind}">${esc(kind)}</strong>, ${m.n} test rows.</p>
<dl class="facts">${facts}</dl>
${kind === 'binary' || kind === 'multiclass' ? confusionTable(m, classNames) : ''}
${kind === 'multiclass' || kind === 'multilabel' ? perClassTable(m, kind) : ''}
<h3>Explanations</h3>
${i.explanation !== undefined ? `<div data-testid="explanation">${i.explanation}</div>` : `<p>No explanation: ${esc(i.explanationError ?? 'unavailable')}</p>`}`;
}

/** Model quality: the task's metrics per re-evaluated round (table and chart) and the latest model in detail. */
export async function modelSection(rounds: readonly RoundSummary[], insight?: ModelInsight): Promise<string> {
  const evaluated = rounds.filter((s) => s.evaluation !== undefined);
  if (evaluated.length === 0)
    return '<p data-testid="no-evaluation">No re-evaluation: start the auditor with <code>--test-data</code> (and <code>--artifacts</code> or <code>--fetch-from</code>) to see each round\'s model quality on held-out data.</p>';
  const names = metricNames(insight?.task.kind, evaluated[evaluated.length - 1]!.evaluation);
  const rows = evaluated
    .map(
      (s) =>
        `<tr data-testid="metrics-row" data-round="${s.round}"><th scope="row">${s.round}</th>${names
          .map((k) => `<td data-metric="${k}" data-value="${s.evaluation![k]}">${num(s.evaluation![k])}</td>`)
          .join('')}</tr>`,
    )
    .join('\n');
  const points = (keep: (k: string) => boolean) =>
    evaluated.flatMap((s) =>
      names.filter(keep).map((k) => ({ round: s.round, metric: METRIC_LABELS[k]!, value: s.evaluation![k] ?? Number.NaN })),
    );
  const bounded = points((k) => !UNIT_METRICS.has(k));
  const units = points((k) => UNIT_METRICS.has(k));
  const figure = async (pts: typeof bounded, title: string, what: string): Promise<string> =>
    pts.length === 0
      ? ''
      : `<figure role="img" aria-label="${esc(what)} per re-evaluated round: ${esc(
          [...new Set(pts.map((p) => p.metric))].join(', '),
        )} (values in the table below)">${await metricsChartSvg(pts, title)}<figcaption>${esc(what)} of each round's model on the auditor's test data.</figcaption></figure>`;
  return `${await figure(bounded, 'metric on the test data', 'Model quality')}${await figure(units, 'error (target units)', 'Regression error')}
<div class="scroll" tabindex="0" role="region" aria-label="Model quality table"><table>
<caption>Each round's model re-evaluated on the auditor's test data (metrics of its task)</caption>
<thead><tr><th scope="col">Round</th>${names.map((k) => `<th scope="col">${METRIC_LABELS[k]}</th>`).join('')}</tr></thead>
<tbody>${rows}</tbody></table></div>
${insight !== undefined ? latestModel(insight) : ''}`;
}
// ── end issue 16 ───────────────────────────────────────────────────────────────────────────

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
<tbody>${rows}</tbody></table></div>${studies(r)}`;
}

/** Studies on one budget (issue 17 item 7): each study's spend per member, and each member's carried / this study / total ε. */
function studies(r: AuditReport): string {
  if (r.studies === undefined) return '';
  const perStudy = r.studies
    .flatMap((s, i) =>
      s.members.map(
        (m) =>
          `<tr data-testid="study-spend-row" data-study="${esc(s.address)}" data-member="${esc(m.member)}" data-epsilon="${m.epsilon}"><td>study ${i + 1} ${code(s.address)}</td><td>${s.rounds}</td><th scope="row">${named(r, m.member)}</th><td>${fmt(m.epsilon)}</td></tr>`,
      ),
    )
    .join('\n');
  const perMember = r.budgets
    .map(
      (b) =>
        `<tr data-testid="study-total-row" data-member="${esc(b.member)}"><th scope="row">${named(r, b.member)}</th><td>${fmt(b.epsilonCarried ?? 0)}</td><td>${fmt(b.epsilonThisStudy ?? 0)}</td><td>${fmt(b.epsilonSpent)}</td></tr>`,
    )
    .join('\n');
  return `
<div class="scroll" tabindex="0" role="region" aria-label="Spend per study table"><table>
<caption>Spend per study (oldest first; ε of that study's records alone, at the federation's δ)</caption>
<thead><tr><th scope="col">Study</th><th scope="col">Rounds</th><th scope="col">Member</th><th scope="col">ε in the study</th></tr></thead>
<tbody>${perStudy}</tbody></table></div>
<div class="scroll" tabindex="0" role="region" aria-label="Spend in total table"><table>
<caption>Spend in total: ε carried from earlier studies, of this study alone, and of all together (RDP adds up; ε does not)</caption>
<thead><tr><th scope="col">Member</th><th scope="col">ε carried</th><th scope="col">ε this study</th><th scope="col">ε total</th></tr></thead>
<tbody>${perMember}</tbody></table></div>`;
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

export async function renderSections(r: AuditReport, insight?: ModelInsight): Promise<DashboardSections> {
  return {
    summary: summary(r),
    rounds: await rounds(r),
    model: await modelSection(r.rounds, insight),
    chain: chain(r),
    budgets: await budgets(r),
    credits: credits(r),
    findings: findings(r),
  };
}

const TITLES: Record<(typeof SECTION_IDS)[number], string> = {
  summary: 'Summary',
  rounds: 'Rounds',
  model: 'Model quality',
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
td.diag{font-weight:700;background:#eef6ee}
.gradcam-grid{display:flex;flex-wrap:wrap;gap:.5rem}
.gradcam-grid img{image-rendering:pixelated}
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
export async function renderReportHtml(r: AuditReport, insight?: ModelInsight): Promise<string> {
  return renderPage(await renderSections(r, insight), { live: false, title: `fedmesh audit — ${r.ok ? 'ok' : 'FAILED'}` });
}
