/**
 * `fedmesh manifest validate|hash` and `fedmesh federation init`: parse flags and delegate to
 * node/manifest (STYLE.md §12; docs/manifest.md).
 *
 *   fedmesh federation init --federation ID (--sample FILE.csv --label COL | --images DIR)
 *                           [--positive V] [--out manifest.yaml] [--rounds N] [--model mlp|logreg|cnn]
 *                           [--exclude a,b] [--categorical c,d] [--separator ;] [--dp-epsilon E --public-sample]
 *                           [--committee-size M] [--threshold T]
 *   fedmesh manifest validate FILE
 *   fedmesh manifest hash FILE           manifest hash and initial model hash
 */
import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { initFederationManifest } from '../../manifest/federation-init.js';
import { initialModelHash } from '../../manifest/initial-model.js';
import { readManifestFile } from '../../manifest/manifest-file.js';
import { ConfigError } from '../../../simulations/options.js';

const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const int = (v: string): number => (/^\d+$/.test(v) ? Number(v) : Number.NaN);

export function registerManifest(program: Command): void {
  const manifest = program.command('manifest').description('check a federation manifest and print its hashes');
  manifest
    .command('validate')
    .description('check FILE against the manifest schema; print a summary and its hashes')
    .argument('<file>', 'manifest (JSON or YAML)')
    .action(async (file: string) => {
      const { manifest: m, hash } = readManifestFile(file);
      const data = m.features !== undefined ? `${m.features.length} features` : `images ${m.imageShape!.join('×')}`;
      process.stdout.write(
        `ok: federation ${m.federation}, ${data}, label ${m.label.name} (positive ${m.label.positive}), ` +
          `model ${m.model.kind}, ${m.rounds} rounds, committee ${m.committee.threshold}-of-${m.committee.size}` +
          `${m.dp !== undefined ? `, DP ε=${m.dp.epsilon} δ=${m.dp.delta}` : ', no DP'}\n` +
          `manifestHash     ${hash}\ninitialModelHash ${await initialModelHash(m, file)}\n`,
      );
    });
  manifest
    .command('hash')
    .description('print the manifest hash (fixed on chain) and the initial model hash it implies')
    .argument('<file>', 'manifest (JSON or YAML)')
    .action(async (file: string) => {
      const { manifest: m, hash } = readManifestFile(file);
      process.stdout.write(`manifestHash     ${hash}\ninitialModelHash ${await initialModelHash(m, file)}\n`);
    });

  const federation = program.command('federation').description("an admin's federation set-up");
  federation
    .command('init')
    .description('write a commented manifest from a sample CSV or an image folder (see docs/manifest.md)')
    .requiredOption('--federation <id>', 'federation id (lowercase letters, digits, dashes)')
    .option('--sample <file.csv>', 'a sample CSV in the federation schema')
    .option('--images <dir>', 'or an image folder: one sub-folder per label value')
    .option('--label <column>', 'the label column (CSV); for images the label name')
    .option('--positive <value>', 'the positive class as written in the data')
    .option('--out <file>', 'where to write it', 'manifest.yaml')
    .option('--rounds <n>', 'rounds of the study', int)
    .option('--model <kind>', 'logreg | mlp | cnn')
    .option('--exclude <columns>', 'comma-separated columns to leave out (identifiers, dates)', list)
    .option('--categorical <columns>', 'comma-separated numeric-coded columns that are categories', list)
    .option('--separator <sep>', 'CSV separator', ',')
    .option(
      '--dp-epsilon <e>',
      'add a DP target ε (δ = 1e-5, C = 1, q = 0.05) and public statistics (needs --public-sample)',
      (v: string) => Number(v),
    )
    .option('--public-sample', 'the sample is public data (a reference set): its statistics may go in the manifest')
    .option('--committee-size <m>', 'committee size per round', int)
    .option('--threshold <t>', 'committee signatures needed', int)
    .option('--force', 'overwrite --out')
    .action((o: Record<string, unknown>) => {
      const out = o.out as string;
      if (existsSync(out) && o.force !== true) {
        throw new ConfigError('CONFIG_INVALID', `out=${JSON.stringify(out)}: exists; pass --force to overwrite`, {
          issues: [{ field: 'out', value: out, rule: 'must not exist (or --force)' }],
        });
      }
      const { manifest: m, text } = initFederationManifest({
        federation: o.federation as string,
        ...(o.sample !== undefined ? { sample: o.sample as string } : {}),
        ...(o.images !== undefined ? { images: o.images as string } : {}),
        ...(o.label !== undefined ? { label: o.label as string } : {}),
        ...(o.positive !== undefined ? { positive: o.positive as string } : {}),
        ...(o.rounds !== undefined ? { rounds: o.rounds as number } : {}),
        ...(o.model !== undefined ? { model: o.model as 'logreg' | 'mlp' | 'cnn' } : {}),
        ...(o.exclude !== undefined ? { exclude: o.exclude as string[] } : {}),
        ...(o.categorical !== undefined ? { categorical: o.categorical as string[] } : {}),
        separator: o.separator as string,
        ...(o.dpEpsilon !== undefined ? { dpEpsilon: o.dpEpsilon as number } : {}),
        ...(o.publicSample === true ? { publicSample: true } : {}),
        ...(o.committeeSize !== undefined ? { committeeSize: o.committeeSize as number } : {}),
        ...(o.threshold !== undefined ? { threshold: o.threshold as number } : {}),
      });
      writeFileSync(out, text);
      const what = m.features !== undefined ? `${m.features.length} features` : `images ${m.imageShape!.join('×')}`;
      process.stdout.write(
        `wrote ${out}: ${what}, label ${m.label.name} (positive ${m.label.positive}); read it, edit it, then: npx fedmesh manifest validate ${out}\n`,
      );
    });
}
