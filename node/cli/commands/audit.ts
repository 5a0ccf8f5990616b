/**
 * `fedmesh audit` and `fedmesh audit serve`: parse flags and delegate to node/audit
 * (STYLE.md §12; docs/auditor-guide.md).
 *
 *   fedmesh audit --rpc URL --deployment FILE [--from-round A --to-round B]
 *                 [--artifacts DIR | --fetch-from MULTIADDR... --federation ID]
 *                 [--test-data FILE.csv --manifest MANIFEST | --test-data FILE.json] [--json] [--html OUT.html]
 *   fedmesh audit serve --rpc URL --deployment FILE [--port P] [--poll-ms MS] [--artifacts DIR]
 *                       [--test-data FILE [--manifest FILE]]   (model quality per task, issue 16)
 *
 * Exit status: 0 when the audit is ok, 1 when any finding has severity error (AUDIT_FAILED),
 * 2 on usage or connection errors (AUDIT_USAGE, AUDIT_CONNECTION; node/cli/main.ts).
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { FedmeshError } from '../../../protocol/errors.js';
import { usageError } from '../../audit/errors.js';
import { renderReportHtml } from '../../audit/html.js';
import { modelInsightOf } from '../../audit/model-view.js';
import { formatReportJson, formatReportText } from '../../audit/report.js';
import { type AuditOptions, runAudit } from '../../audit/run.js';
import { DEFAULT_DASHBOARD_POLL_MS, DEFAULT_DASHBOARD_PORT, startDashboard } from '../../audit/serve.js';

/** Findings of severity error: exit status 1 (node/cli/main.ts maps every other FedmeshError code to 1). */
export class AuditFailedError extends FedmeshError<'AUDIT_FAILED', { errors: number }> {}

function int(flag: string): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw usageError(flag, v, 'a non-negative integer');
    return Number(v);
  };
}

interface AuditFlags {
  rpc: string;
  deployment: string;
  fromRound?: number;
  toRound?: number;
  artifacts?: string;
  fetchFrom?: string[];
  federation?: string;
  testData?: string;
  manifest?: string;
  json?: boolean;
  html?: string;
}

function auditOptions(f: AuditFlags): AuditOptions {
  return {
    rpc: f.rpc,
    deployment: f.deployment,
    ...(f.fromRound !== undefined ? { fromRound: f.fromRound } : {}),
    ...(f.toRound !== undefined ? { toRound: f.toRound } : {}),
    ...(f.artifacts !== undefined ? { artifacts: f.artifacts } : {}),
    ...(f.fetchFrom !== undefined ? { fetchFrom: f.fetchFrom } : {}),
    ...(f.federation !== undefined ? { federation: f.federation } : {}),
    ...(f.testData !== undefined ? { testData: f.testData } : {}),
    ...(f.manifest !== undefined ? { manifest: f.manifest } : {}),
  };
}

function required(f: Partial<AuditFlags>): asserts f is AuditFlags {
  if (f.rpc === undefined) throw usageError('--rpc', undefined, 'required');
  if (f.deployment === undefined) throw usageError('--deployment', undefined, 'required');
}

export function registerAudit(program: Command): void {
  const audit = program
    .command('audit')
    .description('verify every round of a federation from the chain (and model artifacts); exit 1 on any error finding')
    // Not `requiredOption`: commander checks a subcommand's ancestors' mandatory options too,
    // and `audit serve` takes these same flags from here (commander parses parent options
    // wherever they appear). Checked in `required` instead.
    .option('--rpc <url>', 'EVM JSON-RPC endpoint, e.g. http://127.0.0.1:8545 (required)')
    .option('--deployment <file>', 'deployment JSON written by `fedmesh chain deploy` (required)')
    .option('--from-round <a>', 'first round to report (state is always replayed from the deployment)', int('--from-round'))
    .option('--to-round <b>', 'last round to report', int('--to-round'))
    .option('--artifacts <dir>', 'folder of <sha256>.fmwt model files (a node store or its models/ folder); re-read on every poll by serve')
    .option('--fetch-from <multiaddr...>', 'fetch the models from these peers over the artifact protocol')
    .option('--federation <id>', 'federation id (for --fetch-from: the artifact protocol names it)')
    .option(
      '--test-data <file>',
      're-evaluate each verified model on this test set: a CSV in the manifest schema (with --manifest) or JSON ({model, x, y})',
    )
    .option('--manifest <file>', 'the federation manifest (JSON or YAML): the schema of a CSV --test-data')
    .option('--json', 'print one JSON document instead of the text report')
    .option('--html <out.html>', 'also write a self-contained HTML report')
    .action(async (flags: AuditFlags) => {
      required(flags);
      const report = await runAudit(auditOptions(flags));
      process.stdout.write(flags.json ? formatReportJson(report) : formatReportText(report));
      if (flags.html !== undefined) {
        await writeFile(flags.html, await renderReportHtml(report, await modelInsightOf(auditOptions(flags), report)));
        if (!flags.json) process.stdout.write(`wrote ${flags.html}\n`);
      }
      if (!report.ok) {
        const errors = report.findings.filter((f) => f.severity === 'error').length;
        throw new AuditFailedError('AUDIT_FAILED', `${errors} error finding${errors === 1 ? '' : 's'}`, { errors });
      }
    });

  audit
    .command('serve')
    .description("serve a dashboard on 127.0.0.1 that follows the chain live (with audit's --rpc, --deployment, --artifacts, --test-data)")
    .option('--port <p>', 'TCP port on 127.0.0.1 (0 picks a free one)', int('--port'), DEFAULT_DASHBOARD_PORT)
    .option('--poll-ms <ms>', 'how often to re-read the chain', int('--poll-ms'), DEFAULT_DASHBOARD_POLL_MS)
    .action(async (flags: { port: number; pollMs: number }, cmd: Command) => {
      const parent = cmd.parent!.opts<AuditFlags>();
      required(parent);
      for (const [key, flag] of [
        ['fromRound', '--from-round'],
        ['toRound', '--to-round'],
        ['fetchFrom', '--fetch-from'],
        ['json', '--json'],
        ['html', '--html'],
      ] as const) {
        if (parent[key] !== undefined) throw usageError(flag, parent[key], 'not supported by audit serve');
      }
      if (flags.port > 65_535) throw usageError('--port', flags.port, 'at most 65535');
      if (flags.pollMs < 100) throw usageError('--poll-ms', flags.pollMs, 'at least 100');
      const dashboard = await startDashboard({
        audit: auditOptions(parent),
        port: flags.port,
        pollMs: flags.pollMs,
      });
      process.stdout.write(`fedmesh audit: dashboard on ${dashboard.url}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await dashboard.close();
    });
}
