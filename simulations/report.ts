/**
 * report.html: a self-contained report of one simulation (no scripts, no network). Charts are
 * vega-lite specs compiled to vega and rendered to SVG in Node by vega's headless View
 * (renderer 'none' + toSVG), so the file opens anywhere, offline.
 */
import { writeFileSync } from 'node:fs';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { Task } from '../protocol/task.js';
import { headlineMetrics, type RoundReport } from './simulate.js';

/** Render one vega-lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const WIDTH = 520;
const HEIGHT = 220;

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

type Row = Record<string, string | number>;

function lineChart(title: string, values: Row[], y: string, yTitle: string, color?: string, scaleZero = true): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'round', type: 'ordinal', title: 'round' },
      y: { field: y, type: 'quantitative', title: yTitle, scale: { zero: scaleZero } },
      ...(color !== undefined ? { color: { field: color, type: 'nominal', title: null, legend: { labelLimit: 260 } } } : {}),
    },
  } as TopLevelSpec;
}

export interface ReportInput {
  readonly title: string;
  readonly summary: Record<string, unknown>;
  readonly rounds: readonly RoundReport[];
  /** Extra sections (e.g. explanations: Grad-CAM grid, global importance), trusted HTML. */
  readonly sections?: readonly { readonly title: string; readonly html: string }[];
}

/** The charts of a run, as SVG strings keyed by section title. */
export async function reportCharts(input: ReportInput): Promise<{ title: string; svg: string }[]> {
  const { rounds, summary } = input;
  const task = taskOf(summary);
  // The task's first two headline metrics (binary: accuracy and AUC; regression: RMSE and MAE, …).
  const shown = headlineMetrics(task).slice(0, 2);
  const central = summary.centralized as Record<string, number> | undefined;
  const quality: Row[] = rounds.flatMap((r) =>
    shown.flatMap(([k, title]) => [
      { round: r.round, metric: `${title} (federated)`, value: (r[k] as number | undefined) ?? Number.NaN },
      ...(central?.[k] !== undefined ? [{ round: r.round, metric: `${title} (centralized)`, value: central[k]! }] : []),
    ]),
  );
  const last = rounds[rounds.length - 1]!;
  const c = last.confusion;
  const names = task.kind === 'multiclass' ? task.classes : [];
  const confusion: Row[] =
    c !== undefined
      ? [
          { actual: 'positive', predicted: 'positive', count: c.tp },
          { actual: 'positive', predicted: 'negative', count: c.fn },
          { actual: 'negative', predicted: 'positive', count: c.fp },
          { actual: 'negative', predicted: 'negative', count: c.tn },
        ]
      : (last.confusionMatrix ?? []).flatMap((row, a) =>
          row.map((count, p) => ({ actual: names[a] ?? String(a), predicted: names[p] ?? String(p), count })),
        );
  const order = c !== undefined ? ['positive', 'negative'] : names.length > 0 ? [...names] : null;
  const bytes: Row[] = rounds.flatMap((r) => [
    { round: r.round, series: 'sent (median peer)', value: r.bytes.sent.median },
    { round: r.round, series: 'sent (max peer)', value: r.bytes.sent.max },
    { round: r.round, series: 'received (median peer)', value: r.bytes.received.median },
    { round: r.round, series: 'received (max peer)', value: r.bytes.received.max },
  ]);
  const phases: Row[] = rounds.flatMap((r) => Object.entries(r.phases).map(([phase, s]) => ({ round: r.round, phase, seconds: s })));
  const charts: { title: string; svg: string }[] = [
    {
      title: `${shown.map(([, t]) => t).join(' and ')} per round vs the centralized baseline`,
      svg: await renderSvg(lineChart(shown.map(([, t]) => t).join(' and '), quality, 'value', 'score', 'metric', false)),
    },
  ];
  if (confusion.length > 0) {
    charts.push({
      title: `Confusion matrix (round ${last.round})`,
      svg: await renderSvg({
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title: `Confusion matrix, round ${last.round}`,
        width: 220,
        height: 220,
        data: { values: confusion },
        encoding: {
          x: { field: 'predicted', type: 'nominal', sort: order },
          y: { field: 'actual', type: 'nominal', sort: order },
        },
        layer: [
          { mark: 'rect', encoding: { color: { field: 'count', type: 'quantitative', legend: null } } },
          { mark: { type: 'text', fontSize: 16 }, encoding: { text: { field: 'count', type: 'quantitative' } } },
        ],
      } as TopLevelSpec),
    });
  }
  charts.push(
    {
      title: 'Gossip payload bytes per round',
      svg: await renderSvg(lineChart('Bytes per peer per round', bytes, 'value', 'bytes', 'series')),
    },
    {
      title: 'Time per phase',
      svg: await renderSvg({
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title: 'Seconds per phase',
        width: WIDTH,
        height: HEIGHT,
        data: { values: phases },
        mark: 'bar',
        encoding: {
          x: { field: 'round', type: 'ordinal' },
          y: { field: 'seconds', type: 'quantitative', stack: 'zero' },
          color: { field: 'phase', type: 'nominal' },
        },
      } as TopLevelSpec),
    },
  );
  if (rounds.some((r) => r.epsilon !== undefined)) {
    const eps: Row[] = rounds.map((r) => ({ round: r.round, epsilon: r.epsilon ?? 0 }));
    charts.push({
      title: 'Privacy spent per round (ε per institution)',
      svg: await renderSvg(lineChart('ε spent (cumulative)', eps, 'epsilon', 'ε')),
    });
  } else {
    charts.push({
      title: 'Privacy spent per round',
      svg: '<p>DP is off in this run: no ε is spent (use dpEpsilon or dpNoiseMultiplier).</p>',
    });
  }
  return charts;
}

/** The run's task from summary.json (absent in pre-issue-16 summaries: binary). */
function taskOf(summary: Record<string, unknown>): Task {
  return (summary.task as Task | undefined) ?? { kind: 'binary' };
}

function table(rows: readonly RoundReport[], task: Task): string {
  const heads = headlineMetrics(task);
  const head = ['round', ...heads.map(([, t]) => t), 'loss', 'ε', 'inputs', 'seconds', 'dropouts'];
  const body = rows
    .map((r) =>
      [
        r.round,
        ...heads.map(([k]) => ((r[k] as number | undefined) ?? Number.NaN).toFixed(4)),
        r.loss.toFixed(4),
        r.epsilon?.toFixed(3) ?? '—',
        r.participants,
        r.seconds.toFixed(2),
        Object.keys(r.dropouts).join(',') || '—',
      ]
        .map((v) => `<td>${escapeHtml(String(v))}</td>`)
        .join(''),
    )
    .map((tr) => `<tr>${tr}</tr>`)
    .join('\n');
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table>`;
}

export async function renderReport(input: ReportInput): Promise<string> {
  const charts = await reportCharts(input);
  const scenario = JSON.stringify(input.summary.scenario ?? {}, null, 2);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}
section{margin:1.5em 0}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head>
<body><h1>${escapeHtml(input.title)}</h1>
${charts.map((c) => `<section><h2>${escapeHtml(c.title)}</h2>\n${c.svg}</section>`).join('\n')}
${(input.sections ?? []).map((x) => `<section><h2>${escapeHtml(x.title)}</h2>\n${x.html}</section>`).join('\n')}
<section><h2>Per round</h2>${table(input.rounds, taskOf(input.summary))}</section>
<section><h2>Scenario</h2><pre>${escapeHtml(scenario)}</pre></section>
</body></html>
`;
}

export async function writeReport(path: string, input: ReportInput): Promise<void> {
  writeFileSync(path, await renderReport(input));
}
