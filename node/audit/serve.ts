/**
 * `fedmesh audit serve`: a dashboard on 127.0.0.1 that follows the chain. An `Auditor`
 * re-audits every `pollMs` (blocks and finalize calldata are cached, so a poll fetches only the
 * new logs and the views); the page fetches the rendered sections from /api/sections and swaps
 * them in. Routes:
 *
 *   GET /               the page (server-rendered, works without script)
 *   GET /api/report     the latest report as JSON (the `audit --json` document)
 *   GET /api/sections   { block, updatedAt, error?, sections: { summary, rounds, … } }
 *   GET /health         200 once a first audit succeeded, else 503
 *
 * With `--test-data` the "Model quality" section shows each re-evaluated round's task metrics and
 * the latest verified model in detail (confusion matrix, per-class/per-label metrics, Grad-CAM
 * grid or feature importance: ./model-view.ts), recomputed when that model changes.
 *
 * Loopback only: the page shows the federation's public chain data, but it is an operator's
 * tool, not a public site.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AuditReport } from '../../protocol/audit/types.js';
import { isFedmeshError } from '../../protocol/errors.js';
import { type DashboardSections, renderPage, renderSections } from './html.js';
import { latestEvaluatedRound, type ModelInsight, modelInsightOf } from './model-view.js';
import { formatReportJson } from './report.js';
import { type AuditOptions, Auditor } from './run.js';

export const DASHBOARD_HOST = '127.0.0.1';
export const DEFAULT_DASHBOARD_PORT = 8787;
/** Poll period: a few blocks on a devnet, well under a block on a public chain. */
export const DEFAULT_DASHBOARD_POLL_MS = 2_000;

export interface DashboardInit {
  readonly audit: AuditOptions;
  readonly port?: number;
  readonly pollMs?: number;
}

export interface Dashboard {
  readonly url: string;
  readonly port: number;
  /** The latest successful report. */
  latest(): AuditReport | undefined;
  /** Runs one audit now (also what the poller calls). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

interface Snapshot {
  report?: AuditReport;
  sections?: DashboardSections;
  updatedAt?: number;
  error?: string;
}

export async function startDashboard(init: DashboardInit): Promise<Dashboard> {
  const pollMs = init.pollMs ?? DEFAULT_DASHBOARD_POLL_MS;
  const auditor = new Auditor(init.audit);
  const snap: Snapshot = {};
  let running: Promise<void> | undefined;
  // The latest evaluated model's detail (model-view.ts), recomputed only when that model changes,
  // in the background: scoring and explaining a model (seconds for a CNN or KernelSHAP) must not
  // hold back the rounds, findings and budgets of a poll. Until it is ready the previous model's
  // detail stays on the page (it names its round).
  let insight: ModelInsight | undefined;
  let insightHash: string | undefined;
  let pending: Promise<void> | undefined;
  const updateInsight = (report: AuditReport): Promise<void> | undefined => {
    const latest = latestEvaluatedRound(report)?.modelHash;
    if (latest === undefined || latest === insightHash || pending !== undefined) return pending;
    pending = (async () => {
      // A failure (an unreadable artifact, say) leaves the section without the detail, not the page.
      const value = await modelInsightOf(init.audit, report).catch(() => undefined);
      if (value !== undefined) {
        insight = value;
        insightHash = latest;
      }
      if (snap.report !== undefined) snap.sections = await renderSections(snap.report, insight);
    })().finally(() => {
      pending = undefined;
    });
    return pending;
  };
  const sectionsOf = (report: AuditReport): Promise<DashboardSections> => {
    void updateInsight(report);
    return renderSections(report, insight);
  };

  const refresh = (): Promise<void> => {
    running ??= (async () => {
      try {
        const report = await auditor.run();
        snap.sections = await sectionsOf(report);
        snap.report = report;
        snap.updatedAt = Date.now();
        delete snap.error;
      } catch (e) {
        // A failed poll (node restarting, say) keeps the last report on screen and says so.
        snap.error = isFedmeshError(e) ? e.message : String(e);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  // The first audit must succeed: a wrong --rpc or --deployment is a usage error, not a page.
  const first = await auditor.run().catch((e) => {
    auditor.close();
    throw e;
  });
  snap.report = first;
  // The first page waits for the first model's detail.
  await updateInsight(first);
  snap.sections = await sectionsOf(first);
  snap.updatedAt = Date.now();

  const send = (res: ServerResponse, status: number, type: string, body: string): void => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(body);
  };
  const route = (req: IncomingMessage): { status: number; type: string; body: string } => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET') return { status: 405, type: 'text/plain', body: 'GET only\n' };
    if (path === '/') return { status: 200, type: 'text/html; charset=utf-8', body: renderPage(snap.sections!, { live: true, pollMs }) };
    if (path === '/api/report') return { status: 200, type: 'application/json', body: formatReportJson(snap.report!) };
    if (path === '/api/sections') {
      const body = {
        block: snap.report!.block,
        updatedAt: snap.updatedAt,
        ...(snap.error ? { error: snap.error } : {}),
        sections: snap.sections,
      };
      return { status: 200, type: 'application/json', body: JSON.stringify(body) };
    }
    if (path === '/health') return { status: snap.error ? 503 : 200, type: 'text/plain', body: snap.error ? `${snap.error}\n` : 'ok\n' };
    return { status: 404, type: 'text/plain', body: 'not found\n' };
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const r = route(req);
    send(res, r.status, r.type, r.body);
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(init.port ?? DEFAULT_DASHBOARD_PORT, DASHBOARD_HOST, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  const timer = setInterval(() => void refresh(), pollMs);
  timer.unref();

  return {
    url: `http://${DASHBOARD_HOST}:${port}`,
    port,
    latest: () => snap.report,
    refresh,
    close: async () => {
      clearInterval(timer);
      await running;
      await pending;
      auditor.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
