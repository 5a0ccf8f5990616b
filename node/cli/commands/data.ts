/**
 * `fedmesh data check`: parses flags and delegates to node/data/check.ts (STYLE.md §12).
 *
 *   fedmesh data check --dir DIR | --config FILE [--bad-rows FILE.csv] [--json]
 *
 * Exit status 0 when the node would accept the data, 1 when it would refuse it.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { FedmeshError } from '../../../protocol/errors.js';
import { checkSiteData, formatDataCheck, writeBadRowsCsv } from '../../data/check.js';

export class DataRefusedError extends FedmeshError<'DATA_REFUSED', { path: string }> {}

export function registerData(program: Command): void {
  const data = program.command('data').description("check a site's data against the federation manifest");
  data
    .command('check')
    .description('load the data as `node start` would, without joining anything; list every bad row')
    .option('--dir <dir>', 'node folder (uses DIR/config.yaml)')
    .option('--config <file>', 'config file (instead of --dir)')
    .option('--bad-rows <file.csv>', 'also write the bad rows (line, column, value, reason) as CSV')
    .option('--json', 'print the report as JSON')
    .action((o: { dir?: string; config?: string; badRows?: string; json?: boolean }) => {
      const report = checkSiteData(o.config ?? join(o.dir ?? '.', 'config.yaml'));
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatDataCheck(report));
      if (o.badRows !== undefined) writeBadRowsCsv(o.badRows, report);
      if (!report.ok) throw new DataRefusedError('DATA_REFUSED', report.error ?? `${report.path} refused`, { path: report.path });
    });
}
