/**
 * What the daemon reads before it joins anything: the manifest, the deployment file, the
 * local data (through the manifest's schema; preprocessed with the manifest's public
 * statistics when it has them — always with DP — else this site's own) and the model spec the
 * manifest implies. Each step fails with a typed error naming the file and the problem.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { fitStandardizer, type LabelledData, standardize } from '../../protocol/data.js';
import type { FederationManifest } from '../../protocol/manifest.js';
import { checkCAlpha, deltaForConstants, deltaOfUnits, deltaUnits } from '../../protocol/audit/privacy-constants.js';
import { ONCHAIN_RDP_ORDERS } from '../../protocol/chain/budget.js';
import { planFederatedDpSgd } from '../../protocol/privacy/planning.js';
import { applyPublicTransform, publicTransformOf } from '../../protocol/privacy/public-statistics.js';
import { taskOfManifest } from '../../protocol/task.js';
import type { NodeConfig } from '../config/node-config.js';
import { type BadRow, loadCsv } from '../data/csv.js';
import { loadPngFolder } from '../data/png-folder.js';
import { type LoadedManifest, readManifestFile } from '../manifest/manifest-file.js';
import { artifactsHash, loadLayersModel, readModelArtifacts } from '../ml/model-io.js';
import type { ModelSpec } from '../ml/trainer.js';
import { DaemonError } from './errors.js';
import { checkRuntimeCode } from '../../protocol/audit/code.js';
import { checkStudyChain, type StudyStream } from '../../protocol/audit/privacy.js';
import type { CompiledCode } from '../../protocol/audit/types.js';
import type { StudyLink } from '../chain/study.js';

export type { LoadedManifest } from '../manifest/manifest-file.js';

/** The manifest at `path` (JSON or YAML), validated, with its hash (node/manifest/manifest-file.ts). */
export function loadManifestFile(path: string): LoadedManifest {
  return readManifestFile(path);
}

/** The parts of a `fedmesh chain deploy` deployment file the node needs. */
export interface DeploymentRef {
  readonly address: string;
  readonly chainId: bigint;
  readonly deployBlock: number;
  /** Present when the deployer recorded it (devnet up does). */
  readonly manifestHash?: `0x${string}`;
}

export function loadDeploymentRef(path: string): DeploymentRef {
  const bad = (reason: string): never => {
    throw new DaemonError('NODE_DEPLOYMENT_INVALID', `${path}: ${reason}`, { path, reason });
  };
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    return bad(`not readable JSON (${e instanceof Error ? e.message : String(e)}); run \`fedmesh chain deploy\` or ask the admin for it`);
  }
  const address = (j.addresses as Record<string, unknown> | undefined)?.FedmeshFederation;
  if (typeof address !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(address)) bad('addresses.FedmeshFederation must be a 20-byte hex address');
  if (typeof j.chainId !== 'string' && typeof j.chainId !== 'number') bad('chainId must be a decimal string');
  if (typeof j.deployBlock !== 'number' || !Number.isInteger(j.deployBlock) || j.deployBlock < 0) bad('deployBlock must be a block number');
  const mh = j.manifestHash;
  if (mh !== undefined && (typeof mh !== 'string' || !/^0x[0-9a-f]{64}$/i.test(mh))) bad('manifestHash must be 0x and 64 hex digits');
  return {
    address: address as string,
    chainId: BigInt(j.chainId as string),
    deployBlock: j.deployBlock as number,
    ...(typeof mh === 'string' ? { manifestHash: mh.toLowerCase() as `0x${string}` } : {}),
  };
}

/** What `checkPrivacyConstants` reads of the chain (node/chain/federation-types.ts `FederationInfo`). */
export interface DeployedPrivacyConstants {
  /** δ as stored, in units of 1e-18. */
  readonly deltaE18: bigint;
  readonly cAlpha: readonly bigint[];
}

/**
 * Refuses a federation whose c_α are not the constants of the manifest's δ, or whose stored δ
 * is not the manifest's (red team F10): the contract checks each cap against
 * min_α(rdp_α + c_α) with the constants it was deployed with and never relates them to δ, so
 * constants for a larger δ (or the δ → 1 floor it accepts) make every ε it reports, and every
 * cap, void — while this node's privacy guard reads the same constants from the chain. The rule
 * is the deployer's (protocol/chain/budget.ts `cAlpha`, via protocol/audit/privacy-constants.ts,
 * as the auditor applies it). Without a DP section in the manifest there is no δ to hold the
 * federation to: its c_α must then be the constants of its own stored δ. Throws
 * NODE_PRIVACY_CONSTANTS_MISMATCH naming the field, both values and, for c_α, the lane.
 */
export function checkPrivacyConstants(manifest: FederationManifest, deployed: DeployedPrivacyConstants, manifestPath: string): void {
  const onChainDelta = deltaOfUnits(deployed.deltaE18);
  const wanted = manifest.dp?.delta;
  if (wanted !== undefined && deltaUnits(wanted) !== deployed.deltaE18) {
    throw new DaemonError(
      'NODE_PRIVACY_CONSTANTS_MISMATCH',
      `${manifestPath} states its guarantees at δ = ${wanted}, the federation stores δ = ${onChainDelta}: its budgets are not the manifest's; ask the admin to redeploy with the manifest`,
      { field: 'delta', manifest: String(wanted), onChain: String(onChainDelta) },
    );
  }
  const delta = wanted ?? deltaForConstants(onChainDelta, deployed.deltaE18);
  const [x] = checkCAlpha(delta, deployed.cAlpha).mismatches;
  if (x !== undefined) {
    throw new DaemonError(
      'NODE_PRIVACY_CONSTANTS_MISMATCH',
      `the federation's c_α for order ${x.order} (lane ${x.lane}) is ${x.actual ?? 'missing'}, the constant of δ = ${delta} is ${x.expected ?? 'undefined'}: the ε it checks caps against is not the guarantee at δ; ask the admin to redeploy`,
      { field: 'cAlpha', lane: x.lane, order: x.order, manifest: String(x.expected ?? ''), onChain: String(x.actual ?? '') },
    );
  }
}

/**
 * Refuses to train in a study whose budget lineage cannot be trusted (red team F16). A study
 * that continues another starts every member from what its predecessor says was spent
 * (`inheritBudgetFrom`, contracts/IFedmeshStudy.sol), and the contract takes the predecessor's
 * word for it: a look-alike predecessor can name any number of successors, and each would then
 * spend the same remaining budget in parallel. The contract cannot check code identity (its
 * size is at EIP-170's limit), so the node does what the auditor does (node/audit/studies.ts),
 * with the same pure rule (protocol/audit/privacy.ts `checkStudyChain`): every earlier study's
 * runtime code must be the compiled FedmeshFederation up to its immutables, and each must be
 * closed and name the study after it. `links`: the chain oldest first, this study last
 * (node/chain/study.ts `readStudyChain`); `codeOf` reads a study's runtime code. A study with no
 * predecessor needs neither the compiler output nor any read. Throws
 * NODE_STUDY_LINEAGE_UNTRUSTED naming every failed check and the study it concerns.
 */
export async function checkStudyLineage(
  links: readonly StudyLink[],
  codeOf: (address: string) => Promise<string>,
  compiled: () => Promise<CompiledCode>,
): Promise<void> {
  if (links.length <= 1) return;
  const code = await compiled();
  const own = links.at(-1)!;
  const chain: StudyStream[] = [];
  for (const l of links.slice(0, -1)) {
    const genuine = checkRuntimeCode('FedmeshFederation', l.address, await codeOf(l.address), code) === undefined;
    chain.push({ address: l.address, events: [], link: l, genuine });
  }
  // This study is the deployment the node was configured with (its manifest is checked on chain).
  chain.push({ address: own.address, events: [], link: own, genuine: true });
  const errors = checkStudyChain(chain, undefined).filter((f) => f.severity === 'error');
  if (errors.length > 0) {
    throw new DaemonError(
      'NODE_STUDY_LINEAGE_UNTRUSTED',
      `study ${own.address} continues budgets through a link that cannot be trusted: ${errors.map((f) => f.message).join('; ')}; members' spend there would not be their true spend, so this node does not train (ask the admin; \`fedmesh audit\` reports the same)`,
      {
        study: own.address,
        findings: errors.map((f) => ({ code: f.code, study: String((f.evidence as { study?: unknown }).study ?? own.address) })),
      },
    );
  }
}

/**
 * The model the manifest describes: input width from its features (one-hot widths) or image
 * shape; the output head from its task (protocol/task.ts: k softmax units for multiclass, one
 * sigmoid per label for multilabel, one linear unit for regression). A binary task (absent or
 * explicit) leaves `task` out, so binary models and their initial hashes are as before issue 16.
 * `fedmesh chain deploy` and devnet hash the initial model through this same function.
 */
/**
 * The manifest's model, built-in or own: `modelSpecOf` plus, for `model.kind: tfjs`, its source —
 * the folder at `model.path` (relative to the manifest file at `manifestPath`), refused unless it
 * hashes to the manifest's `model.sourceHash` (NODE_MODEL_SOURCE_MISMATCH naming both hashes).
 * Every user of an own model goes through here (daemon, `chain deploy`/`manifest hash` via
 * node/manifest/initial-model.ts, `model export`), so they all build the same network. Each call
 * loads one copy (one Trainer).
 */
export async function resolveModelSpec(m: FederationManifest, manifestPath: string): Promise<ModelSpec> {
  const spec = modelSpecOf(m);
  if (m.model.kind !== 'tfjs') return spec;
  const path = resolve(dirname(manifestPath), m.model.path!);
  const artifacts = readModelArtifacts(path);
  const actual = artifactsHash(artifacts);
  if (actual !== m.model.sourceHash) {
    throw new DaemonError(
      'NODE_MODEL_SOURCE_MISMATCH',
      `${path} hashes to ${actual}, the manifest's model.sourceHash is ${m.model.sourceHash}: not the federation's model`,
      { field: 'model.sourceHash', path, expected: m.model.sourceHash, actual },
    );
  }
  let copy: tf.LayersModel | undefined = await loadLayersModel(artifacts);
  return {
    ...spec,
    layers: {
      build: () => {
        const built = copy;
        copy = undefined;
        if (built === undefined)
          throw new DaemonError('NODE_MODEL_SOURCE_MISMATCH', 'model source used twice', { field: 'model.path', path });
        return built;
      },
      hash: actual,
      ...(m.model.freeze !== undefined ? { freeze: [...m.model.freeze] } : {}),
    },
  };
}

/**
 * Own models (`model.kind: tfjs`) come back without their layers source here: they need the
 * model folder, read by `resolveModelSpec` (a Trainer refuses a 'tfjs' spec without it).
 */
export function modelSpecOf(m: FederationManifest): ModelSpec {
  const inputShape =
    m.imageShape !== undefined ? [...m.imageShape] : [(m.features ?? []).reduce((w, f) => w + (f.categories?.length ?? 1), 0)];
  const task = taskOfManifest(m);
  return {
    kind: m.model.kind,
    inputShape,
    ...(m.model.hidden !== undefined ? { hidden: [...m.model.hidden] } : {}),
    ...(task.kind !== 'binary' ? { task } : {}),
  };
}

export interface LoadedData {
  readonly data: LabelledData;
  /**
   * Rows or images read, kept, refused as bad (counted and listed, never crash the node) and
   * dropped for a missing value (not bad: `missing: drop`).
   */
  readonly report: {
    readonly read: number;
    readonly kept: number;
    readonly bad: number;
    readonly droppedMissing: number;
    /** Missing cells filled (`missing: median`). */
    readonly imputedCells: number;
    /** The first bad rows (CSV: line, column, value, reason) or files (images), capped. */
    readonly badRows: readonly (BadRow | { readonly file: string; readonly reason: string })[];
  };
}

/** The config's data section; `headerMatch` defaults as in the config schema. */
export type SiteDataConfig = Omit<NodeConfig['data'], 'headerMatch'> & Partial<Pick<NodeConfig['data'], 'headerMatch'>>;

/**
 * Loads the site's data through the manifest's schema.
 *
 * Tabular data with the manifest's `publicStatistics` (required with DP): every row is mapped by
 * itself — missing cells take the public fill, each value is clamped to the public range,
 * centred and scaled by public values (protocol/privacy/public-statistics.ts) — so one record
 * changes no other record's features, and DP-SGD's sensitivity stays C (issue 15).
 * Without them (no DP only): standardised with this site's own mean and deviation and imputed
 * with its own medians; these never leave the node, but they are not covered by any DP claim.
 */
export function loadSiteData(cfg: SiteDataConfig, manifest: FederationManifest): LoadedData {
  if (cfg.kind === 'csv') {
    const pub = publicTransformOf(manifest);
    const { data, report } = loadCsv(cfg.path, manifest, {
      missing: cfg.missing,
      maxBadRowFraction: cfg.maxBadRowFraction,
      ...(cfg.separator !== undefined ? { separator: cfg.separator } : {}),
      ...(cfg.columns !== undefined ? { columns: cfg.columns } : {}),
      ...(cfg.values !== undefined ? { values: cfg.values } : {}),
      ...(cfg.headerMatch !== undefined ? { headerMatch: cfg.headerMatch } : {}),
      ...(pub !== undefined ? { fill: pub.fill } : {}),
    });
    return {
      data: pub !== undefined ? applyPublicTransform(data, pub) : standardize(data, fitStandardizer(data)),
      report: {
        read: report.rows,
        kept: report.kept,
        bad: report.badRowCount,
        droppedMissing: report.droppedMissing,
        imputedCells: report.imputedCells,
        badRows: report.badRows,
      },
    };
  }
  if (cfg.kind === 'png-folder') {
    const { data, report } = loadPngFolder(cfg.path, manifest, cfg.maxBadRowFraction);
    return {
      data,
      report: {
        read: report.images + report.badFiles.length,
        kept: report.images,
        bad: report.badFiles.length,
        droppedMissing: 0,
        imputedCells: 0,
        badRows: report.badFiles.map((b) => ({ file: b.file, reason: b.reason })),
      },
    };
  }
  throw new DaemonError(
    'NODE_DATA_UNSUPPORTED',
    `data.kind '${cfg.kind}' is not supported by \`fedmesh node start\` yet: use csv or png-folder`,
    {
      kind: cfg.kind,
    },
  );
}

/** This site's DP-SGD parameters (see `planSiteDp`). */
export interface SiteDpPlan {
  /** q: the manifest's, the same at every site and independent of the record count. */
  readonly sampleRate: number;
  readonly noiseMultiplier: number;
  readonly clipNorm: number;
  /** The public divisor of each step's noisy gradient sum (the batch size; never q·N). */
  readonly expectedBatchSize: number;
  /** The planned ε after the manifest's rounds, in the ledger's accounting. */
  readonly epsilon: number;
}

/**
 * This site's DP-SGD parameters, or undefined when the manifest sets no DP target or the
 * operator turned it off. Everything here is a function of public values only — the
 * manifest (q, ε, δ, C, rounds, local epochs) and the site's config (σ, C, batch size) — never
 * of the site's data: q is the manifest's (no longer batch / N, which published N to 1e-15),
 * the step count epochs · ⌈1/q⌉, and the noisy sum is divided by the batch size (not the
 * expected batch q·N). σ is planned so the manifest's ε at its δ covers every round × local step
 * in the chain ledger's own accounting (the on-chain RDP orders, with its per-round rounding as
 * a margin: docs/privacy.md), unless the config gives σ. Each participant declares these
 * parameters with its input, and the committee charges their RDP to its on-chain budget.
 */
export function planSiteDp(manifest: FederationManifest, cfg: NodeConfig['dp'], batchSize: number): SiteDpPlan | undefined {
  const target = manifest.dp;
  if (target === undefined || !cfg.enabled) return undefined;
  const sampleRate = target.sampleRate;
  const plan = planFederatedDpSgd({
    ...(cfg.noiseMultiplier !== undefined
      ? { noiseMultiplier: cfg.noiseMultiplier }
      : { targetEpsilon: target.epsilon - (3 * manifest.rounds + 10) * 1e-6 }),
    delta: target.delta,
    sampleRate,
    rounds: manifest.rounds,
    localEpochs: manifest.training.localEpochs,
    orders: ONCHAIN_RDP_ORDERS,
  });
  return {
    sampleRate,
    noiseMultiplier: plan.noiseMultiplier,
    clipNorm: cfg.clipNorm ?? target.clipNorm,
    expectedBatchSize: batchSize,
    epsilon: plan.epsilon,
  };
}
