/**
 * One audit run: read the deployment, replay the chain, gather artifacts (and metrics), and
 * hand everything to protocol/audit. The `Auditor` keeps the connection and fetch cache open
 * across runs, which is how `audit serve` follows the chain.
 */
import { audit } from '../../protocol/audit/audit.js';
import { checkArtifact } from '../../protocol/audit/artifacts.js';
import type { ArtifactEntry, AuditDeployment, AuditReport } from '../../protocol/audit/types.js';
import { fetchArtifacts, loadArtifactDir } from './artifacts.js';
import { readDeployment } from './deployment.js';
import { usageError } from './errors.js';
import { evaluateModels, readTestData, type TestData } from './evaluate.js';
import { readCsvTestData } from './test-data-csv.js';
import { readManifestFile } from '../manifest/manifest-file.js';
import { FEDAVG, type ServerOptimizer } from '../../protocol/server-optimizer.js';
import { compiledAuditCode } from './compiled-code.js';
import { fetchStudies } from './studies.js';
import { type AuditSource, type FetchCache, fetchAuditStream, newFetchCache, openAuditSource } from './fetch.js';

export interface AuditOptions {
  readonly rpc: string;
  /** Path of the deployment JSON. */
  readonly deployment: string;
  readonly fromRound?: number;
  readonly toRound?: number;
  /** Directory of `<hash>.fmwt` model files. */
  readonly artifacts?: string;
  /** Peers to fetch artifacts from (multiaddrs with /p2p/<id>); needs `federation`. */
  readonly fetchFrom?: readonly string[];
  /** Federation id: the artifact protocol is `/fedmesh/<federation>/artifact/1`. */
  readonly federation?: string;
  /** JSON ({model, x, y}: evaluate.ts) or a CSV in the manifest's schema (needs `manifest`). */
  readonly testData?: string;
  /** The federation manifest (JSON or YAML): the schema of a CSV --test-data. */
  readonly manifest?: string;
}

const isCsv = (path: string): boolean => path.toLowerCase().endsWith('.csv');

export function validateAuditOptions(o: AuditOptions): void {
  for (const k of ['fromRound', 'toRound'] as const) {
    const v = o[k];
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1))
      throw usageError(k === 'fromRound' ? '--from-round' : '--to-round', v, 'an integer >= 1');
  }
  if (o.fromRound !== undefined && o.toRound !== undefined && o.fromRound > o.toRound) {
    throw usageError('--from-round', o.fromRound, `must not exceed --to-round ${o.toRound}`);
  }
  if (o.artifacts !== undefined && o.fetchFrom !== undefined && o.fetchFrom.length > 0) {
    throw usageError('--fetch-from', o.fetchFrom, 'give either --artifacts or --fetch-from, not both');
  }
  if (o.fetchFrom !== undefined && o.fetchFrom.length > 0 && o.federation === undefined) {
    throw usageError('--federation', undefined, 'required with --fetch-from (the artifact protocol id names the federation)');
  }
  if (o.testData !== undefined && o.artifacts === undefined && (o.fetchFrom === undefined || o.fetchFrom.length === 0)) {
    throw usageError('--test-data', o.testData, 'needs --artifacts or --fetch-from: the models to evaluate');
  }
  if (o.testData !== undefined && isCsv(o.testData) && o.manifest === undefined) {
    throw usageError('--manifest', undefined, 'required with a CSV --test-data: it gives the columns and the label');
  }
}

export class Auditor {
  readonly #options: AuditOptions;
  readonly #cache: FetchCache = newFetchCache();
  #deployment?: AuditDeployment;
  #source?: AuditSource;
  #testData?: TestData;
  /** Metrics per verified model hash: `audit serve` re-audits every poll, a model is scored once. */
  readonly #evaluated = new Map<string, Record<string, number>>();

  constructor(options: AuditOptions) {
    validateAuditOptions(options);
    this.#options = options;
  }

  /** Replays the chain from the deployment block to the latest block and audits it. */
  async run(): Promise<AuditReport> {
    const o = this.#options;
    this.#deployment ??= await readDeployment(o.deployment);
    if (o.testData !== undefined)
      this.#testData ??= isCsv(o.testData) ? readCsvTestData(o.testData, o.manifest) : await readTestData(o.testData);
    this.#source ??= await openAuditSource(o.rpc, this.#deployment);
    const deployment = this.#deployment;
    const { events, views } = await fetchAuditStream(this.#source, deployment, this.#cache);
    // Studies on one budget: the earlier studies' records and the chain's links (issue 17 item 7).
    const studies = await fetchStudies(
      o.rpc,
      this.#source,
      deployment,
      views.block,
      views.cAlpha,
      (await compiledAuditCode()).FedmeshFederation,
      this.#cache,
    );

    // issue 16: the manifest's server optimizer, whose step is replayed (protocol/audit/server-step.ts);
    // only from the manifest the contract is bound to.
    const serverOptimizer = o.manifest !== undefined ? manifestServerOptimizer(o.manifest, views.manifestHash) : undefined;
    const replaysStep = serverOptimizer !== undefined && serverOptimizer.kind !== 'fedavg';

    let artifacts: Map<string, ArtifactEntry> | undefined;
    if (o.artifacts !== undefined) {
      artifacts = await loadArtifactDir(o.artifacts);
    } else if (o.fetchFrom !== undefined && o.fetchFrom.length > 0) {
      const hashes = [
        views.initialModelHash,
        ...events.flatMap((e) =>
          e.kind === 'RoundFinalized' ? [e.record.modelHash, ...(replaysStep ? [e.record.aggregateHash] : [])] : [],
        ),
      ];
      artifacts = await fetchArtifacts(o.fetchFrom, o.federation!, hashes);
    }

    let evaluations: Map<number, Record<string, number>> | undefined;
    if (this.#testData !== undefined && artifacts !== undefined) {
      const models = new Map<number, Uint8Array>();
      const hashes = new Map<number, string>();
      evaluations = new Map();
      for (const e of events) {
        if (e.kind !== 'RoundFinalized') continue;
        if ((o.fromRound !== undefined && e.round < o.fromRound) || (o.toRound !== undefined && e.round > o.toRound)) continue;
        const entry = artifacts.get(e.record.modelHash);
        // Only a model whose artifact verified is evaluated: metrics of another file mean nothing.
        if (entry !== undefined && 'bytes' in entry && checkArtifact(e.round, e.record.modelHash, entry).status === 'verified') {
          const cached = this.#evaluated.get(e.record.modelHash);
          if (cached !== undefined) evaluations.set(e.round, cached);
          else {
            models.set(e.round, entry.bytes);
            hashes.set(e.round, e.record.modelHash);
          }
        }
      }
      for (const [round, m] of await evaluateModels(this.#testData, models)) {
        this.#evaluated.set(hashes.get(round)!, m);
        evaluations.set(round, m);
      }
    }

    return audit({
      deployment,
      events,
      views,
      // The deployed code against the compiled contracts (CODE_MISMATCH, red team F11).
      compiledCode: await compiledAuditCode(),
      ...(studies !== undefined ? { studies } : {}),
      ...(artifacts !== undefined ? { artifacts } : {}),
      ...(serverOptimizer !== undefined ? { serverOptimizer } : {}),
      ...(evaluations !== undefined ? { evaluations } : {}),
      ...(o.fromRound !== undefined ? { fromRound: o.fromRound } : {}),
      ...(o.toRound !== undefined ? { toRound: o.toRound } : {}),
    });
  }

  close(): void {
    this.#source?.close();
    this.#source = undefined;
  }
}

/** One audit, connection closed afterwards. */
export async function runAudit(options: AuditOptions): Promise<AuditReport> {
  const auditor = new Auditor(options);
  try {
    return await auditor.run();
  } finally {
    auditor.close();
  }
}

/**
 * The server optimizer of the manifest at `path` (absent: FedAvg), refused unless the manifest is
 * the one the contract is bound to: a step replayed with another manifest's β and η_s proves nothing.
 */
function manifestServerOptimizer(path: string, onChain: string | undefined): ServerOptimizer {
  const { manifest, hash } = readManifestFile(path);
  const optimizer = manifest.serverOptimizer ?? FEDAVG;
  if (optimizer.kind !== 'fedavg' && (onChain === undefined || onChain.toLowerCase() !== hash.toLowerCase())) {
    throw usageError(
      '--manifest',
      path,
      `the manifest the contract is bound to (it hashes to ${hash}, the contract's is ${onChain ?? 'not recorded'})`,
    );
  }
  return optimizer;
}
