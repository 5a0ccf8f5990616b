/**
 * `fedmesh model export --rpc URL --deployment FILE --manifest FILE (--round N | --hash 0x…)
 *  (--state-dir DIR | --artifact FILE) --out DIR` (issue 16 item 6): the finalized model of a
 * round, checked against the chain's record, written as a tfjs Layers folder + card.json for
 * `fedmesh predict`. Parses flags, reads the chain, delegates (node/ml/model-export.ts).
 */
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { usageError } from '../../audit/errors.js';
import { readDeployment } from '../../audit/deployment.js';
import { openAuditSource } from '../../audit/fetch.js';
import { EthersFederationClient } from '../../chain/federation-ethers.js';
import { loadNodeConfig } from '../../config/node-config.js';
import { readManifestFile } from '../../manifest/manifest-file.js';
import { selectBackend } from '../../ml/backend.js';
import { MAX_WEIGHT_BYTES } from '../../ml/model-io.js';
import { artifactFromStateDir, exportVerifiedModel, ModelExportError, type OnChainModel, parseHash32 } from '../../ml/model-export.js';

/** An encoded model larger than the tfjs weight cap (node/ml/model-io.ts) cannot be a federation's. */
const MAX_ARTIFACT_BYTES = MAX_WEIGHT_BYTES + 1024 * 1024;

interface ExportFlags {
  rpc: string;
  deployment: string;
  manifest: string;
  round?: string;
  hash?: string;
  stateDir?: string;
  artifact?: string;
  siteConfig?: string;
  out: string;
}

/** The finalized round named by `round` or by its model `hash`, as the contract records it. */
async function onChainModel(client: EthersFederationClient, f: ExportFlags): Promise<OnChainModel> {
  let round: number;
  if (f.round !== undefined) {
    round = Number(f.round);
    if (!Number.isInteger(round) || round < 1) throw usageError('--round', f.round, 'a round number >= 1');
  } else {
    const hash = parseHash32(f.hash!);
    if (hash === undefined) throw usageError('--hash', f.hash, '0x and 64 hex digits');
    // The latest finalized round that recorded this model (a model is recorded once per round).
    let found: number | undefined;
    for (let r = await client.lastFinalizedRound(); r >= 1 && found === undefined; r--) {
      const s = await client.getRound(r);
      if (s?.modelHash?.toLowerCase() === hash) found = r;
    }
    if (found === undefined) {
      throw new ModelExportError('MODEL_EXPORT_NOT_FOUND', `no finalized round of this federation recorded model ${hash}`, {
        field: '--hash',
        value: hash,
      });
    }
    round = found;
  }
  const fin = await client.getFinalizedRound(round);
  if (fin === undefined) {
    throw new ModelExportError('MODEL_EXPORT_NOT_FOUND', `round ${round} is not finalized on chain`, { field: '--round', value: round });
  }
  return {
    round,
    modelHash: fin.record.modelHash.toLowerCase(),
    recordHash: fin.recordHash.toLowerCase(),
    recordTx: fin.txHash,
    manifestHash: (await client.manifestHash()).toLowerCase(),
  };
}

/** An encoded model file, size-checked before it is read (the weights codec's own bound). */
function readArtifact(path: string): Uint8Array {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw usageError('--artifact', path, `a readable file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (size > MAX_ARTIFACT_BYTES) throw usageError('--artifact', path, `at most ${MAX_ARTIFACT_BYTES} bytes`);
  return new Uint8Array(readFileSync(path));
}

export function registerModel(program: Command): void {
  const model = program.command('model').description('models the federation finalized');
  model
    .command('export')
    .description("write a finalized round's model (verified against the chain) as a tfjs Layers folder + card.json")
    .requiredOption('--rpc <url>', 'EVM JSON-RPC endpoint')
    .requiredOption('--deployment <file>', 'deployment JSON written by `fedmesh chain deploy`')
    .requiredOption('--manifest <file>', "the federation's manifest (its hash must be the contract's)")
    .option('--round <n>', 'the finalized round whose model to export')
    .option('--hash <0x…>', 'or: the model hash a finalized round recorded')
    .option('--state-dir <dir>', "a node's state folder holding the model (its models/<hash>.fmwt)")
    .option('--artifact <file>', 'or: the encoded model file (.fmwt), from any member')
    .option(
      '--site-config <file>',
      "without public statistics: this member's node config; the card then carries its site's preprocessing statistics (medians, mean, deviation)",
    )
    .requiredOption('--out <dir>', 'folder to write model.json, weights.bin and card.json')
    .action(async (f: ExportFlags) => {
      if ((f.round === undefined) === (f.hash === undefined)) throw usageError('--round/--hash', undefined, 'exactly one of them');
      if ((f.stateDir === undefined) === (f.artifact === undefined)) {
        throw usageError('--state-dir/--artifact', undefined, 'exactly one of them');
      }
      const { manifest } = readManifestFile(f.manifest);
      const deployment = await readDeployment(f.deployment);
      const source = await openAuditSource(f.rpc, deployment);
      let chain: OnChainModel;
      try {
        chain = await onChainModel(
          new EthersFederationClient(source.provider, deployment.address, { fromBlock: deployment.deployBlock }),
          f,
        );
      } finally {
        source.close();
      }
      const artifact = f.artifact !== undefined ? readArtifact(f.artifact) : artifactFromStateDir(f.stateDir!, chain.modelHash);
      await selectBackend({ log: () => {} });
      const siteData = f.siteConfig !== undefined ? loadNodeConfig(f.siteConfig).data : undefined;
      const card = await exportVerifiedModel({
        manifest,
        chain,
        artifact,
        out: f.out,
        manifestPath: f.manifest,
        ...(siteData !== undefined ? { siteData } : {}),
      });
      process.stdout.write(`wrote ${f.out}: round ${chain.round}, model ${card.modelHash} (verified against the chain)\n`);
    });
}
