/**
 * Charts of an audit report, as SVG strings: Vega-Lite specs compiled to Vega and rendered
 * headless on the server (`renderer: 'none'` + `toSVG()`), so the page needs no script bundle
 * and the self-contained HTML report embeds them as they are. Every chart is also given as a
 * table next to it (node/audit/html.ts): the SVG is for the eye, the numbers are in text.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { AuditReport } from '../../protocol/audit/types.js';

const FONT = 'system-ui, sans-serif';
const CONFIG = {
  font: FONT,
  axis: { labelFontSize: 12, titleFontSize: 12, labelColor: '#1a1a1a', titleColor: '#1a1a1a' },
  legend: { labelFontSize: 12, titleFontSize: 12, labelLimit: 400 },
  view: { stroke: null },
};

async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const label = (a: string): string => `${a.slice(0, 6)}…${a.slice(-4)}`;

/**
 * Per-member ε spent (bars) against the cap (a tick). Caps far beyond what anyone spent (e.g.
 * an unbounded simulation cap) would flatten the bars, so the scale stops at 1.2 × the largest
 * spend and such caps are marked off scale in the table.
 */
export async function budgetChartSvg(r: AuditReport): Promise<string> {
  const maxSpent = Math.max(1e-6, ...r.budgets.map((b) => (Number.isFinite(b.epsilonSpent) ? b.epsilonSpent : 0)));
  const domainMax = Math.max(maxSpent * 1.2, ...r.budgets.filter((b) => b.cap <= maxSpent * 5).map((b) => b.cap * 1.05));
  const values = r.budgets.map((b) => ({
    member: label(b.member),
    spent: Number.isFinite(b.epsilonSpent) ? b.epsilonSpent : domainMax,
    cap: b.cap <= domainMax ? b.cap : null,
    over: b.epsilonSpent > b.cap ? 'over cap' : 'within cap',
  }));
  return toSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 520,
    height: { step: 26 },
    config: CONFIG,
    data: { values },
    encoding: { y: { field: 'member', type: 'nominal', title: 'member', sort: null } },
    layer: [
      {
        mark: { type: 'bar', color: '#1f5fa8' },
        encoding: {
          x: { field: 'spent', type: 'quantitative', title: 'ε spent at the federation δ', scale: { domain: [0, domainMax] } },
          color: {
            field: 'over',
            type: 'nominal',
            title: null,
            scale: { domain: ['within cap', 'over cap'], range: ['#1f5fa8', '#b00020'] },
          },
        },
      },
      {
        transform: [{ filter: 'datum.cap !== null' }],
        mark: { type: 'tick', color: '#1a1a1a', thickness: 3 },
        encoding: { x: { field: 'cap', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec);
}

/** Rounds on a timeline: valid signatures per round (bars, coloured by status) and the threshold t (a rule). */
export async function roundsChartSvg(r: AuditReport, threshold: number): Promise<string> {
  const values = r.rounds.map((s) => ({
    round: s.round,
    signatures: s.signers.length,
    status: s.findings.length > 0 && s.status === 'finalized' ? 'finalized, with findings' : s.status,
  }));
  return toSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 520,
    height: 160,
    config: CONFIG,
    layer: [
      {
        data: { values },
        mark: { type: 'bar' },
        encoding: {
          x: { field: 'round', type: 'ordinal', title: 'round' },
          y: { field: 'signatures', type: 'quantitative', title: 'verified committee signatures', axis: { tickMinStep: 1 } },
          color: {
            field: 'status',
            type: 'nominal',
            title: 'status',
            scale: {
              domain: ['finalized', 'finalized, with findings', 'aborted', 'open'],
              range: ['#2e7d32', '#b00020', '#8a6d00', '#5f6368'],
            },
          },
        },
      },
      {
        data: { values: [{ t: threshold }] },
        mark: { type: 'rule', color: '#1a1a1a', strokeDash: [4, 3] },
        encoding: { y: { field: 't', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec);
}

/**
 * The re-evaluated metrics per round (issue 16: the task's own — accuracy, balanced accuracy,
 * macro-F1, AUC, … or RMSE, MAE, R²), one line each. Error metrics (RMSE, MAE) are in the
 * target's units and can exceed 1, so they get their own chart from the caller when present.
 */
export async function metricsChartSvg(points: readonly { round: number; metric: string; value: number }[], title: string): Promise<string> {
  return toSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 520,
    height: 180,
    config: CONFIG,
    data: { values: points.filter((p) => Number.isFinite(p.value)) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'round', type: 'ordinal', title: 'round' },
      y: { field: 'value', type: 'quantitative', title },
      color: { field: 'metric', type: 'nominal', title: 'metric', scale: { scheme: 'dark2' } },
      // Dashes as well as colours, so overlapping lines and colour-blind readers can tell them apart (one merged legend).
      strokeDash: { field: 'metric', type: 'nominal', title: 'metric' },
    },
  } as TopLevelSpec);
}
