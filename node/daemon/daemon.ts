/**
 * `fedmesh node start`: the institution's long-running node. It composes the services that
 * already exist — keystore, config, manifest, data loaders, store, libp2p host, artifact
 * service, ops endpoint and the peer (node/peer.ts) — and follows the chain:
 *
 *   start-up    unlock keys → validate config → manifest hash = chain's → member check →
 *               load data → initial model hash = chain's → restore the stored head
 *   every step  read (currentRound, lastFinalizedRound, headModelHash) from the chain;
 *               if the local model is not the head: catch up (store, else fetch the artifact by
 *               hash from a member, verified against the on-chain hash);
 *               if round r = lastFinalized + 1 was started here before (round state on disk)
 *               and is still open: abstain until it closes — its masking secrets may have left
 *               the node, and a fresh set for the same round would be equivocation
 *               (Bonawitz et al. 2017 §4 assume each user sends one set of keys per round);
 *               else write the round state first, then peer.runRound(r), then persist the
 *               adopted model and head.
 *
 * Every file write goes through node/store (atomic renames), so kill -9 at any instant leaves
 * a state the next start resumes from. SIGTERM/SIGINT stop the loop between steps, close the
 * ops server and the libp2p host.
 */
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { readdirSync } from 'node:fs';
import { formatEther, JsonRpcProvider, Network, ZeroHash } from 'ethers';
import { fromHex0x, toHex0x } from '../../protocol/bytes.js';
import { isFedmeshError } from '../../protocol/errors.js';
import { decodePacked, epsilonFromPacked, RDP_SCALE } from '../../protocol/chain/budget.js';
import type { FederationManifest } from '../../protocol/manifest.js';
import { SECAGG_DEFAULTS } from '../../protocol/secure-aggregation/config.js';
import { decodeWeights, encodeWeights, modelHash } from '../../protocol/weights-codec.js';
import { fetchArtifact, serveArtifacts } from '../artifacts/artifact-service.js';
import { EthersFederationClient } from '../chain/federation-ethers.js';
import { isChainError } from '../chain/errors.js';
import { checkAccountFunded } from '../chain/funding.js';
import type { MemberInfo } from '../chain/federation-types.js';
import { verifyPeerBinding } from '../../protocol/chain/peer-binding.js';
import { ResilientFederationClient, resilientSigner } from '../chain/resilient.js';
import { loadNodeConfig, type NodeConfig } from '../config/node-config.js';
import { systemClock } from '../clock.js';
import { loadKeystore, type NodeKeys, resolvePassphrase } from '../keystore/keystore.js';
import { createLogger, type Logger } from '../logger.js';
import { selectBackend } from '../ml/backend.js';
import { Trainer } from '../ml/trainer.js';
import { createHost, type Host, Libp2pGossip } from '../net/libp2p-host.js';
import { startOpsServer, type OpsServer } from '../ops/http.js';
import { outputNames, type TaskKind, taskOfManifest } from '../../protocol/task.js';
import { NodeMetrics } from '../ops/metrics.js';
import { createPeer, type Peer } from '../peer.js';
import { createIdentityVerifier, identitySigner, nodeSecAggCrypto, systemEntropy } from '../services/secagg-crypto.js';
import { join } from 'node:path';
import { FilePrekeyStore, prekeyStoreKey } from '../services/secagg-prekey-store.js';
import { deploymentBindingBytes } from '../../protocol/chain/deployment-binding.js';
import { NodeStore } from '../store/node-store.js';
import { FilePrivacyLedger } from '../store/privacy-ledger.js';
import { maxPacked } from '../services/privacy-guard.js';
import { DaemonError } from './errors.js';
import { meteredGossip, meteredTrainer, ttyProgress } from './metering.js';
import {
  checkPrivacyConstants,
  checkStudyLineage,
  loadDeploymentRef,
  loadManifestFile,
  loadSiteData,
  planSiteDp,
  resolveModelSpec,
} from './setup.js';
import { compiledAuditCode } from '../audit/compiled-code.js';
import { readStudyChain } from '../chain/study.js';

export interface NodeDaemonOptions {
  /** Path of the node's config.yaml. */
  readonly config: string;
  /** The keystore passphrase when the CLI prompted for it; else the config's file or FEDMESH_PASSPHRASE. */
  readonly passphrase?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Default: pino JSON on stderr at the config's level. */
  readonly log?: Logger;
  /** A progress line for local training (the CLI passes one on a TTY). */
  readonly progress?: boolean;
}

/**
 * What the node is doing, from the chain and the round loop (issue 17: /status said `in-round`
 * between rounds and while nothing was open):
 *   starting → catching-up (fetching the chain's head model) → idle (between rounds: the pause)
 *   → waiting-for-peers (mesh) → waiting-for-open (opening the round, or waiting for another
 *   member's openRound) → in-round (`round`, `roundStage`) → idle …; abstaining (a round this node
 *   cannot join: interrupted here, or opened before it could join); done; stopping.
 */
export type DaemonPhase =
  | 'starting'
  | 'syncing'
  | 'catching-up'
  | 'idle'
  | 'waiting-for-peers'
  | 'waiting-for-open'
  | 'in-round'
  | 'abstaining'
  | 'done'
  | 'stopping';

/** Where in a round the node is (phase `in-round`). */
export type RoundStage = 'settling' | 'running';

export interface NodeStatus {
  readonly peerId: string;
  readonly address: string;
  readonly federation: string;
  readonly manifestHash: string;
  readonly phase: DaemonPhase;
  /** Round being opened, run or abstained from, if any. */
  readonly round?: number;
  /** With phase `in-round`: `settling` (letting every member see the opening), `running`. */
  readonly roundStage?: RoundStage;
  readonly model: { readonly hash: string; readonly round: number };
  readonly chain: {
    readonly headModelHash: string;
    readonly lastFinalizedRound: number;
    readonly currentRound: number;
    readonly rpcUp: boolean;
  };
  /** Rounds this node took part in and adopted (from its state folder: survives restarts). */
  readonly roundsJoined: readonly number[];
  /** Rounds it started but could not finish (a crash, a partition) or could not join in time. */
  readonly roundsAbstained: readonly number[];
  /** Rounds aborted on chain (status Aborted), seen from the chain. */
  readonly roundsAborted: readonly number[];
  readonly lastRound?: { readonly round: number; readonly seconds: number; readonly participants: number };
  readonly catchUps: readonly { readonly round: number; readonly modelHash: string; readonly from: string; readonly ms: number }[];
  readonly peers: number;
  /**
   * The manifest's task (issue 16) and its output names, public by construction. No metric of
   * the model is shown: every one the node could compute comes from its own records (issue 15).
   */
  readonly task: { readonly kind: TaskKind; readonly outputs: readonly string[] };
  /** Record counts, only without DP: with DP they would publish N (issue 15). */
  readonly data: { readonly examples?: number; readonly badRows?: number; readonly withheld?: 'dp' };
  readonly rssBytes: number;
  readonly uptimeSeconds: number;
  readonly lastError?: string;
}

export interface NodeDaemon {
  readonly peerId: string;
  readonly opsUrl: string;
  status(): NodeStatus;
  /** Resolves when the node stopped (after `stop()` or a signal). */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
}

/** Read the passphrase: explicit, then the config's file, then FEDMESH_PASSPHRASE. */
function passphraseOf(o: NodeDaemonOptions, cfg: NodeConfig): string {
  return resolvePassphrase({
    ...(o.passphrase !== undefined ? { value: o.passphrase } : {}),
    ...(cfg.passphraseFile !== undefined ? { file: cfg.passphraseFile } : {}),
    env: o.env ?? process.env,
  });
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** Bad rows named in the start-up log (`fedmesh data check` lists them all). */
const LOGGED_BAD_ROWS = 10;
/** How often a running round says, at info level, how long it has run and whom it lacks (ms). */
const ROUND_WATCH_MS = 10_000;

/**
 * Joined and abstained rounds from the state folder (rounds/<r>.json), so that /status survives
 * a restart (issue 17: after kill -9 the interrupted round was missing from roundsAbstained).
 * `adopted` is joined; a round started here and never adopted (started, abstained, left) is
 * abstained; `aborted` rounds are listed from the chain instead.
 */
export function roundHistory(store: NodeStore): { joined: number[]; abstained: number[] } {
  const joined: number[] = [];
  const abstained: number[] = [];
  let files: string[];
  try {
    files = readdirSync(store.roundsDir);
  } catch {
    files = [];
  }
  const rounds = files
    .map((f) => /^(\d+)\.json$/.exec(f)?.[1])
    .filter((r): r is string => r !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  for (const r of rounds) {
    const stage = store.roundState(r)?.stage;
    if (stage === 'adopted') joined.push(r);
    else if (stage !== undefined && stage !== 'aborted') abstained.push(r);
  }
  return { joined, abstained };
}

/** The node's state folder; NODE_STATE_UNWRITABLE naming it (stateDir) instead of an fs error. */
function openStore(path: string): NodeStore {
  try {
    return new NodeStore(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === undefined) throw e;
    const reason =
      code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOTDIR' || code === 'EEXIST' ? 'not a folder' : String(e);
    throw new DaemonError('NODE_STATE_UNWRITABLE', `stateDir ${path}: ${reason}`, { path, reason });
  }
}

/** A listen failure as NODE_PORT_IN_USE naming the config field and address; anything else as is. */
function portError(e: unknown, field: string, address: string): unknown {
  const text = `${(e as Error)?.name ?? ''} ${(e as Error)?.message ?? ''} ${(e as { code?: string })?.code ?? ''}`;
  if (/EADDRINUSE|UnsupportedListenAddresses|address already in use/i.test(text)) {
    return new DaemonError('NODE_PORT_IN_USE', `${field}: cannot listen on ${address}: the port is in use (another node or program?)`, {
      field,
      address,
    });
  }
  if (/EADDRNOTAVAIL|EACCES/i.test(text)) {
    return new DaemonError(
      'NODE_PORT_IN_USE',
      `${field}: cannot listen on ${address}: ${/EACCES/.test(text) ? 'permission denied' : 'not a local address'}`,
      {
        field,
        address,
      },
    );
  }
  return e;
}

/** How long to wait for a round we abstain from (ms): the contract's windows bound it. */
const ABSTAIN_WAIT_MS = 24 * 3600_000;
/**
 * Block timestamps have one-second resolution and the chain's clock is not ours: a round found
 * open is joined only if it opened at most openSettleMs + this long ago.
 */
const LATE_JOIN_SLACK_MS = 1_500;

export async function startNodeDaemon(o: NodeDaemonOptions): Promise<NodeDaemon> {
  const env = o.env ?? process.env;
  const cfg = loadNodeConfig(o.config, env);
  const log = o.log ?? createLogger(cfg.log.level);
  const started = Date.now();

  const keys: NodeKeys = await loadKeystore(cfg.keystore, passphraseOf(o, cfg));
  const address = keys.wallet.address;
  const nlog = log.child({ peer: keys.peerId.slice(-8) });
  const { manifest, hash: localManifestHash } = loadManifestFile(cfg.manifest);
  const deployment = loadDeploymentRef(cfg.chain.deployment);

  // The chain: a static network (ethers would otherwise retry network detection forever on a
  // dead RPC), no response cache (a stale nonce is worse than a request), nonces tracked here.
  const network = Network.from(deployment.chainId);
  const provider = new JsonRpcProvider(cfg.chain.rpcUrl, network, {
    staticNetwork: network,
    cacheTimeout: -1,
    pollingInterval: cfg.chain.pollMs,
  });
  const nonces = resilientSigner(keys.wallet.connect(provider));
  const metrics = new NodeMetrics();
  let rpcUp = true;
  const fed = new ResilientFederationClient(
    new EthersFederationClient(nonces, deployment.address, { fromBlock: deployment.deployBlock, pollIntervalMs: cfg.chain.pollMs }),
    {
      confirmations: cfg.chain.confirmations,
      provider,
      nonceManager: nonces,
      log: nlog,
      onRetry: () => {
        rpcUp = false;
      },
    },
  );
  const cleanups: (() => Promise<unknown> | unknown)[] = [() => fed.close(), () => provider.destroy()];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
  };
  try {
    await checkManifest(fed, localManifestHash, deployment.manifestHash, cfg.manifest);
    // c_α and δ as the manifest's guarantee needs them (red team F10; the contract does not relate them).
    checkPrivacyConstants(manifest, await fed.info(), cfg.manifest);
    // A study continuing another's budgets only through genuine, closed, naming predecessors (F16).
    await checkStudyLineage(
      await readStudyChain(provider, deployment.address),
      (a) => provider.getCode(a),
      async () => (await compiledAuditCode()).FedmeshFederation!,
    );
    const registered = await checkMembership(fed, keys);
    if (!verifyPeerBinding(keys.peerId, { chainId: deployment.chainId, contract: deployment.address }, address, registered.peerProof)) {
      // Gossip peers are matched to accounts by the registry's peer ids; a proof makes that binding
      // checkable by anyone (protocol/chain/peer-binding.ts). Not refused here: the admin may store it while
      // the node runs; until then, nodes with chain.peerProofs: require (the default) refuse this node's messages.
      nlog.warn(
        { address, peerId: keys.peerId },
        'the registry holds no valid peer-binding proof for this node, so other members refuse its messages: run `fedmesh node proof` and give it to the admin (`fedmesh chain set-peer-proof`)',
      );
    }
    const info = await fed.info();
    // An account that cannot pay for one round's transactions is refused here, rather than
    // failing every openRound/finalizeRound later with a raw "insufficient funds" (issue 17).
    // The registry's active members: the funding estimate's participants, and (below) whom gossip is accepted from.
    const accounts = await fed.activeMembers();
    const funds = await checkAccountFunded(provider, address, { rounds: manifest.rounds, members: accounts.length });
    nlog.info(
      { balance: formatEther(funds.balanceWei), studyCostUpTo: formatEther(funds.studyWei), gasPriceWei: funds.gasPriceWei.toString() },
      'account funded for gas',
    );

    const site = loadSiteData(cfg.data, manifest);
    nlog.info(
      {
        examples: site.data.n,
        read: site.report.read,
        bad: site.report.bad,
        droppedMissing: site.report.droppedMissing,
        imputedCells: site.report.imputedCells,
      },
      'local data loaded',
    );
    if (site.report.bad > 0) {
      // Local log only: the rows are this site's own. `fedmesh data check` lists them all.
      nlog.warn(
        { bad: site.report.bad, first: site.report.badRows.slice(0, LOGGED_BAD_ROWS) },
        'bad rows skipped (fedmesh data check lists them all)',
      );
    }

    const backend = await selectBackend({ log: (m) => nlog.info({}, m) });
    nlog.info({ backend: backend.name }, 'tfjs backend');
    const tfTrainer = new Trainer(await resolveModelSpec(manifest, cfg.manifest), manifest.seed);
    cleanups.push(() => tfTrainer.dispose());
    const initial = toHex0x(modelHash(tfTrainer.getWeights()));
    if (initial !== info.initialModelHash.toLowerCase()) {
      throw new DaemonError(
        'NODE_INITIAL_MODEL_MISMATCH',
        `the manifest's initial model hashes to ${initial}, the federation's is ${info.initialModelHash}`,
        { local: initial, onChain: info.initialModelHash },
      );
    }
    const store = openStore(cfg.stateDir);
    // The node's own ledger of DP releases, charged before each input or update leaves (issue 14 item 3),
    // each entry bound to this deployment (H8 F5): another study's rounds never absorb this one's.
    const privacyLedger = new FilePrivacyLedger(cfg.stateDir, { chainId: info.chainId, contract: info.address });
    store.putModel(encodeWeights(tfTrainer.getWeights()));
    let modelRound = 0;
    const head = store.head();
    if (head !== undefined) {
      const bytes = store.getModel(head.modelHash);
      if (bytes !== undefined) {
        tfTrainer.setWeights(decodeWeights(bytes));
        modelRound = head.round;
        nlog.info({ round: head.round, modelHash: head.modelHash }, 'restored model from the store');
      }
    }

    const host = await createHost({
      privateKey: keys.privateKey,
      listen: cfg.network.listen,
      mdns: cfg.network.mdns,
      // Members often sit behind one NAT address or, in a devnet, on one loopback address.
      inboundConnectionsPerSecondPerHost: 64,
    }).catch((e: unknown) => {
      throw portError(e, 'network.listen', cfg.network.listen.join(', '));
    });
    cleanups.push(() => host.stop());
    await serveArtifacts(host, manifest.federation, (h) => store.getModel(toHex0x(h)));

    // Gossip is accepted only from the registry's active members (the inboxes check `members`).
    const members = (await Promise.all(accounts.map((a) => fed.getMember(a)))).map((m) => m.peerId);
    const memberSet = new Set(members);
    const batchSize = cfg.training.batchSize ?? manifest.training.batchSize;
    const dp = planSiteDp(manifest, cfg.dp, batchSize);
    if (dp !== undefined) nlog.info({ ...dp, delta: manifest.dp?.delta, rounds: manifest.rounds }, 'DP-SGD planned for this site');
    const gossip = meteredGossip(new Libp2pGossip(host), metrics);
    const progress = o.progress === true ? ttyProgress() : undefined;
    const trainer = meteredTrainer(tfTrainer, metrics, progress);
    const peer: Peer = createPeer({
      federation: manifest.federation,
      members,
      committeeSize: info.committeeSize,
      timing: { collectMs: cfg.rounds.collectMs, recordGraceMs: cfg.rounds.recordGraceMs },
      training: {
        epochs: manifest.training.localEpochs,
        batchSize,
        learningRate: manifest.training.learningRate,
        seed: manifest.seed,
        // issue 16: class-balanced resampling (node/ml/resample.ts); the manifest refuses it with dp.
        ...(manifest.imbalance !== undefined && manifest.imbalance.resample !== 'none' ? { resample: manifest.imbalance.resample } : {}),
        ...(dp !== undefined
          ? {
              dp: {
                sampleRate: dp.sampleRate,
                noiseMultiplier: dp.noiseMultiplier,
                clipNorm: dp.clipNorm,
                expectedBatchSize: dp.expectedBatchSize,
              },
            }
          : {}),
      },
      secureAggregation: {
        config: { ...SECAGG_DEFAULTS, committeeSize: info.committeeSize, threshold: info.threshold },
        keysMs: cfg.rounds.keysMs,
        keySetGraceMs: cfg.rounds.keySetGraceMs,
      },
      // issue 16: the manifest's server optimizer (absent: FedAvg); w_{t−1} from `modelOf` below.
      ...(manifest.serverOptimizer !== undefined ? { serverOptimizer: manifest.serverOptimizer } : {}),
      finalize: { threshold: info.threshold },
      // issue 14 item 2: every member's stored peer id proof is verified before its id is mapped.
      peerProofs: {
        mode: cfg.chain.peerProofs,
        binding: { chainId: deployment.chainId, contract: deployment.address },
        onRefused: (e) => metrics.peerProofsRefused.inc({ reason: e.fields.reason }),
      },
    })({
      gossip,
      trainer,
      data: site.data,
      clock: systemClock,
      log: nlog,
      federation: fed,
      privacyLedger,
      // A recorded model by hash (the server optimizer's w_{t−1} after a restart or a late join):
      // the store, else a member; the driver checks the hash.
      modelOf: async (hash) => {
        const bytes = store.getModel(hash) ?? (await fetchFromMembers(host, members, manifest, hash, nlog).catch(() => undefined))?.bytes;
        return bytes === undefined ? undefined : decodeWeights(bytes);
      },
      // Under a server optimizer, each round's average payload (the record's aggregateHash), served
      // by hash over the artifact protocol like the models, for the auditor's replay of the step.
      keepArtifact: (bytes) => void store.putModel(bytes),
      // Real entropy (OS CSPRNG): masking secrets must be unpredictable (never seededEntropy here).
      secagg: {
        binding: deploymentBindingBytes({ chainId: BigInt(deployment.chainId), contract: deployment.address }),
        crypto: nodeSecAggCrypto,
        entropy: systemEntropy,
        sign: identitySigner(keys.privateKey),
        verify: createIdentityVerifier(),
        // Signed per-round committee prekeys (issue 13 item 4, F13): participants never wait for
        // members' adverts, and each round's secret is erased when the round opens here or closes
        // on chain. Sealed at rest under a key derived from the identity (G10).
        prekeyStore: new FilePrekeyStore(
          join(cfg.stateDir, 'prekeys.bin'),
          prekeyStoreKey(keys.privateKey.raw.subarray(0, 32)),
          systemEntropy,
        ),
      },
    });
    // Rounds before the chain's current one are closed: erase their prekeys, and judge received
    // bundles against this round rather than round 0 (their reach is bounded past it).
    // (An RPC error here is left to the poll loop, which does the same each step.)
    await fed.currentRound().then(
      (cur) => peer.prekeys?.endedThrough(Math.max(0, cur - 1)),
      () => undefined,
    );
    peer.start();
    cleanups.push(() => peer.stop());

    // Status shared by /status and the loop.
    const history = roundHistory(store);
    const state = {
      phase: 'starting' as DaemonPhase,
      round: undefined as number | undefined,
      roundStage: undefined as RoundStage | undefined,
      chain: { headModelHash: ZeroHash, lastFinalizedRound: 0, currentRound: 0 },
      joined: history.joined,
      abstained: history.abstained,
      aborted: [] as number[],
      /** Rounds up to this one have a known final status on chain (finalized or aborted). */
      closedThrough: 0,
      chainScanned: false,
      catchUps: [] as { round: number; modelHash: string; from: string; ms: number }[],
      lastRound: undefined as NodeStatus['lastRound'],
      lastError: undefined as string | undefined,
    };
    const status = (): NodeStatus => ({
      peerId: keys.peerId,
      address,
      federation: manifest.federation,
      manifestHash: localManifestHash,
      phase: state.phase,
      ...(state.round !== undefined ? { round: state.round } : {}),
      ...(state.phase === 'in-round' && state.roundStage !== undefined ? { roundStage: state.roundStage } : {}),
      model: { hash: toHex0x(modelHash(tfTrainer.getWeights())), round: modelRound },
      chain: { ...state.chain, rpcUp },
      roundsJoined: [...state.joined],
      roundsAbstained: [...state.abstained],
      roundsAborted: [...state.aborted],
      ...(state.lastRound !== undefined ? { lastRound: state.lastRound } : {}),
      catchUps: [...state.catchUps],
      peers: host.getPeers().length,
      task: { kind: taskOfManifest(manifest).kind, outputs: outputNames(taskOfManifest(manifest)) },
      data: dp !== undefined ? { withheld: 'dp' } : { examples: site.data.n, badRows: site.report.bad },
      rssBytes: process.memoryUsage().rss,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      ...(state.lastError !== undefined ? { lastError: state.lastError } : {}),
    });
    const ops: OpsServer = await startOpsServer({ host: cfg.ops.host, port: cfg.ops.port, metrics, status }).catch((e: unknown) => {
      throw portError(e, 'ops.port', `${cfg.ops.host}:${cfg.ops.port}`);
    });
    cleanups.push(() => ops.close());
    nlog.info({ ops: ops.url, listen: host.getMultiaddrs().map(String), members: members.length }, 'node started');

    const abort = new AbortController();
    const signal = abort.signal;

    // Bootstrap: dial every configured member address now and whenever it is not connected.
    const bootstrap = cfg.network.bootstrap.map((a) => multiaddr(a));
    const dialMissing = async (): Promise<void> => {
      const connected = new Set(host.getPeers().map(String));
      await Promise.all(
        bootstrap.map(async (ma) => {
          const id = ma.getComponents().find((c) => c.name === 'p2p')?.value;
          if (id !== undefined && connected.has(id)) return;
          await host.dial(ma, { signal: AbortSignal.timeout(5_000) }).catch(() => {});
        }),
      );
      metrics.peers.set(host.getPeers().length);
    };
    host.addEventListener('peer:discovery', (evt) => {
      const id = evt.detail.id;
      if (memberSet.has(id.toString())) host.dial(id).catch(() => {});
    });
    const dialer = setInterval(() => void dialMissing(), 5_000);
    dialer.unref();
    cleanups.push(() => clearInterval(dialer));
    await dialMissing();

    const adopt = (round: number): void => {
      const bytes = encodeWeights(tfTrainer.getWeights());
      const h = store.putModel(bytes);
      store.setHead({ round, modelHash: h });
      modelRound = round;
    };

    /** Bring the local model to the chain's head: from the store, else from a member. */
    const catchUp = async (headHash: string, round: number): Promise<void> => {
      if (toHex0x(modelHash(tfTrainer.getWeights())) === headHash) {
        if (modelRound !== round) {
          store.setHead({ round, modelHash: store.putModel(encodeWeights(tfTrainer.getWeights())) });
          modelRound = round;
        }
        return;
      }
      state.phase = 'catching-up';
      const t0 = Date.now();
      let from = 'store';
      let bytes = store.getModel(headHash);
      if (bytes === undefined) {
        const fetched = await metrics.timePhase('catch-up', () => fetchFromMembers(host, members, manifest, headHash, nlog));
        bytes = fetched.bytes;
        from = fetched.from;
      }
      tfTrainer.setWeights(decodeWeights(bytes));
      const got = toHex0x(modelHash(tfTrainer.getWeights()));
      if (got !== headHash) throw new Error(`caught-up model hashes to ${got}, not ${headHash}`);
      adopt(round);
      const ms = Date.now() - t0;
      state.catchUps.push({ round, modelHash: headHash, from, ms });
      nlog.info({ round, modelHash: headHash, from, ms }, 'caught up with the chain head');
    };

    /** Members (peer ids) not yet subscribed to every one of our topics. */
    const missingFromMesh = (): string[] => {
      const others = members.filter((m) => m !== keys.peerId);
      return others.filter((m) => !peer.topics.every((t) => gossip.subscribers(t).includes(m)));
    };
    /**
     * Members a mesh wait already gave up on: not waited for again until they rejoin (issue 17
     * item 6). Waiting meshWaitMs before every round for a member that is switched off made each
     * round with one absent member cost a full mesh wait on top of the round.
     */
    const givenUp = new Set<string>();
    /** Wait (bounded) until every other active member is subscribed to our topics; say whom we wait for. */
    const waitForMesh = async (round: number): Promise<void> => {
      const deadline = Date.now() + cfg.rounds.meshWaitMs;
      for (const m of [...givenUp]) if (!missingFromMesh().includes(m)) givenUp.delete(m);
      const awaited = (): string[] => missingFromMesh().filter((m) => !givenUp.has(m));
      if (givenUp.size > 0)
        nlog.info({ round, absent: [...givenUp] }, 'not waiting for members absent from the mesh since an earlier round');
      if (awaited().length === 0) return;
      state.phase = 'waiting-for-peers';
      nlog.info({ round, waitingFor: awaited(), until: new Date(deadline).toISOString() }, 'waiting for members to join the mesh');
      while (awaited().length > 0 && Date.now() < deadline && !signal.aborted) await sleep(100, signal);
      const missing = awaited();
      for (const m of missing) givenUp.add(m);
      if (missing.length > 0 && !signal.aborted) nlog.info({ round, missing }, 'mesh wait over; starting without these members');
    };

    /**
     * While round r runs, say every ROUND_WATCH_MS at info level how long it has run and which
     * members are not connected (whom the round is likely waiting for: their inputs or shares
     * can only come over a connection).
     */
    const watchRound = (round: number, t0: number): ReturnType<typeof setInterval> => {
      const t = setInterval(() => {
        const connected = new Set(host.getPeers().map(String));
        const absent = members.filter((m) => m !== keys.peerId && !connected.has(m));
        // Until when: the chain's deadlines of this round (the contract's windows bound every wait).
        const onChain = peer.opener?.stateOf(round);
        const deadlines =
          onChain !== undefined
            ? {
                inputsUntil: new Date(onChain.inputDeadline * 1000).toISOString(),
                finalizeUntil: new Date(onChain.finalizeDeadline * 1000).toISOString(),
              }
            : {};
        nlog.info(
          { round, seconds: Math.round((Date.now() - t0) / 1000), notConnected: absent, notOnMesh: missingFromMesh(), ...deadlines },
          absent.length > 0 ? 'round still running; members not connected' : 'round still running',
        );
      }, ROUND_WATCH_MS);
      t.unref();
      return t;
    };

    /**
     * Rounds in (closedThrough, cur) are closed on chain (a round opens only after the previous
     * one is finalized or aborted); each aborted one is listed and counted once, so
     * fedmesh_rounds_aborted_total counts exactly the rounds aborted on chain while the node ran
     * (issue 17: it counted local failures and abstentions too). Rounds before the first step are
     * listed, not counted.
     */
    const noteClosedRounds = async (cur: number): Promise<void> => {
      const first = !state.chainScanned;
      state.chainScanned = true;
      for (let r = state.closedThrough + 1; r <= cur; r++) {
        const s = await fed.getRound(r);
        if (s === undefined || s.status === 'open' || s.status === 'none') break;
        if (s.status === 'aborted' && !state.aborted.includes(r)) {
          state.aborted.push(r);
          if (!first) metrics.roundsAborted.inc();
        }
        state.closedThrough = r;
      }
    };

    let inboxRound = 0;
    const step = async (): Promise<void> => {
      const [fin, cur, headHash] = await Promise.all([fed.lastFinalizedRound(), fed.currentRound(), fed.headModelHash()]);
      rpcUp = true;
      if (fin > state.chain.lastFinalizedRound) metrics.roundsFinalized.inc(fin - state.chain.lastFinalizedRound);
      state.chain = { headModelHash: headHash.toLowerCase(), lastFinalizedRound: fin, currentRound: cur };
      await noteClosedRounds(cur);
      // Prekeys: erase every closed round's secrets, keep W rounds ahead of them published.
      peer.prekeys?.endedThrough(state.closedThrough);
      await peer.prekeys?.topUp(state.closedThrough + 1);
      await catchUp(headHash.toLowerCase(), fin);
      if (fin > inboxRound) {
        // At round fin's head (after a restart or a catch-up): the inboxes take round fin + 1's
        // messages as 'next' from now on, rather than IGNORE them as ROUND_FUTURE.
        peer.inbox.setRound(fin);
        peer.secaggInbox?.setRound(fin);
        inboxRound = fin;
      }
      await refreshPrivacy(fin);
      if (fin >= manifest.rounds) {
        state.phase = 'done';
        state.round = undefined;
        await sleep(cfg.chain.pollMs * 5, signal);
        return;
      }
      // The round to run: the open one, else the next (after a finalized or an aborted round).
      const curState = cur > fin ? await fed.getRound(cur) : undefined;
      const open = curState?.status === 'open';
      const r = open ? cur : cur + 1;
      if (!open && r > manifest.rounds) {
        // Aborted rounds used up round numbers: the manifest's rounds are done.
        state.phase = 'done';
        state.round = undefined;
        await sleep(cfg.chain.pollMs * 5, signal);
        return;
      }
      const prior = store.roundState(r);
      if (open && prior !== undefined && prior.stage !== 'adopted') {
        // Started here before a crash or failure: abstain, never re-mask the round.
        state.phase = 'abstaining';
        state.round = r;
        nlog.warn({ round: r, stage: prior.stage }, 'round was interrupted here; abstaining from it until it closes');
        if (!state.abstained.includes(r)) state.abstained.push(r);
        store.setRoundState({ round: r, stage: 'abstained', maskingUsed: prior.maskingUsed });
        await fed.waitForRoundFinalized(r, ABSTAIN_WAIT_MS).catch((e: unknown) => {
          if (!isChainError(e, 'CHAIN_ROUND_ABORTED')) throw e;
        });
        return;
      }
      if (open && curState !== undefined) {
        // A round opened well before we saw it: the others' key advertisements are gone by now
        // (gossip is not replayed), so joining could only stall our side of it. Sit it out.
        const openedAtMs = (curState.inputDeadline - info.inputDurationSec) * 1000;
        const lateMs = Date.now() - openedAtMs;
        if (lateMs > cfg.rounds.openSettleMs + LATE_JOIN_SLACK_MS) {
          state.phase = 'abstaining';
          state.round = r;
          nlog.info({ round: r, lateMs }, 'round opened before this node could join; waiting for the next one');
          if (!state.abstained.includes(r)) state.abstained.push(r);
          await fed.waitForRoundFinalized(r, ABSTAIN_WAIT_MS).catch((e: unknown) => {
            if (!isChainError(e, 'CHAIN_ROUND_ABORTED')) throw e;
          });
          return;
        }
      }
      if (!open) {
        state.phase = 'idle';
        state.round = undefined;
        await sleep(cfg.rounds.pauseMs, signal);
        await waitForMesh(r);
        if (signal.aborted) return;
      }
      state.phase = 'waiting-for-open';
      state.round = r;
      const t0 = Date.now();
      // Learn (or cause) the opening, then let every member see it before anything is
      // published: a member ignores messages of a round it has not seen opened (ROUND_UNKNOWN).
      await peer.opener?.open(r);
      state.phase = 'in-round';
      state.roundStage = 'settling';
      await sleep(cfg.rounds.openSettleMs, signal);
      if (signal.aborted) return;
      // Written before anything of the round leaves the node: after a crash, we abstain.
      store.setRoundState({ round: r, stage: 'started', maskingUsed: true });
      state.roundStage = 'running';
      let outcome: Awaited<ReturnType<Peer['runRound']>>;
      const watch = watchRound(r, t0);
      try {
        outcome = await metrics.timePhase('round', () => peer.runRound(r));
      } catch (e) {
        if (!isFedmeshError(e, 'ROUND_LEFT')) throw e;
        // The others finalized round r while this node still waited in it (it missed messages
        // it needed, e.g. after a partition): the peer cut its waits and published nothing more.
        // The next step adopts the recorded model by artifact fetch (verified against the
        // chain's head hash) and joins the round that is open now, instead of sitting out
        // this round's own deadlines and joining the next one late (issue #6/#9).
        store.setRoundState({ round: r, stage: 'left', maskingUsed: true });
        if (!state.abstained.includes(r)) state.abstained.push(r);
        state.phase = 'idle';
        state.round = undefined;
        nlog.info({ round: r, seconds: (Date.now() - t0) / 1000 }, 'round finalized without this node; left it to catch up');
        return;
      } finally {
        clearInterval(watch);
      }
      const seconds = (Date.now() - t0) / 1000;
      state.phase = 'idle';
      state.round = undefined;
      if (outcome.status === 'aborted') {
        store.setRoundState({ round: r, stage: 'aborted', maskingUsed: true });
        // Counted (once) as aborted on chain by noteClosedRounds when the chain shows it.
        nlog.warn({ round: r, reason: outcome.reason, abortedBySelf: outcome.abortedBySelf }, 'round aborted on chain');
        return;
      }
      adopt(r);
      store.setRoundState({ round: r, stage: 'adopted', maskingUsed: true });
      if (!state.joined.includes(r)) state.joined.push(r);
      inboxRound = r;
      metrics.roundsJoined.inc();
      // No training loss here: it is computed from the site's records and /status leaves the site (issue 15).
      state.lastRound = { round: r, seconds, participants: outcome.participants };
      nlog.info({ round: r, seconds, modelHash: outcome.record.modelHash, participants: outcome.participants }, 'round adopted');
    };

    /**
     * ε spent and left: the lane-wise larger of the chain's ledger and this node's own
     * (privacy-ledger.json: every release, aborted rounds included; issue 14 item 3), converted
     * by the contract's rule; cached in the store for offline reading.
     */
    const refreshPrivacy = async (rounds: number): Promise<void> => {
      const b = await fed.budgetOf(address);
      const spent = maxPacked(b.rdp, privacyLedger.spent());
      const eps = epsilonFromPacked(spent, info.cAlpha);
      const epsilon = Number(eps) / Number(RDP_SCALE);
      metrics.epsilonSpent.set(epsilon);
      metrics.epsilonRemaining.set(eps >= b.epsilonCap ? 0 : Number(b.epsilonCap - eps) / Number(RDP_SCALE));
      const cached = store.privacy();
      if (cached === undefined || cached.rounds !== rounds) {
        store.setPrivacy({ rounds, rdp: decodePacked(spent).map((v) => Number(v) / Number(RDP_SCALE)), epsilon });
      }
    };

    const loop = (async () => {
      let backoff = 500;
      while (!signal.aborted) {
        try {
          await step();
          backoff = 500;
          state.lastError = undefined;
        } catch (e) {
          if (signal.aborted) break;
          state.lastError = e instanceof Error ? e.message : String(e);
          nlog.warn({ error: state.lastError, round: state.round }, 'step failed; retrying');
          // Not in a round any more: the next step reads the chain again.
          state.phase = 'idle';
          state.round = undefined;
          await sleep(backoff, signal);
          backoff = Math.min(10_000, backoff * 2);
        }
      }
    })();

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        state.phase = 'stopping';
        abort.abort();
        fed.close();
        // A round in flight is abandoned: its state on disk makes the next start abstain.
        await Promise.race([loop, new Promise((r) => setTimeout(r, 2_000))]);
        await cleanup();
        nlog.info({}, 'node stopped');
      })();
      return stopping;
    };
    return {
      peerId: keys.peerId,
      opsUrl: ops.url,
      status,
      stopped: loop.then(() => stopping),
      stop,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

async function checkManifest(
  fed: ResilientFederationClient,
  local: string,
  fromDeployment: string | undefined,
  path: string,
): Promise<void> {
  let onChain = (await fed.manifestHash()).toLowerCase();
  if (onChain === ZeroHash && fromDeployment !== undefined) onChain = fromDeployment;
  if (onChain === ZeroHash) {
    throw new DaemonError(
      'NODE_MANIFEST_UNRECORDED',
      `the federation records no manifest hash, so ${path} (${local}) cannot be checked; ask the admin to deploy with the manifest`,
      { manifest: path, local },
    );
  }
  if (onChain !== local.toLowerCase()) {
    throw new DaemonError(
      'NODE_MANIFEST_MISMATCH',
      `${path} hashes to ${local} but the federation was deployed with ${onChain}: get the admin's manifest.json (do not edit it)`,
      { manifest: path, local, onChain },
    );
  }
}

async function checkMembership(fed: ResilientFederationClient, keys: NodeKeys): Promise<MemberInfo> {
  const m = await fed.getMember(keys.wallet.address);
  if (m.status !== 'active' || m.peerId !== keys.peerId) {
    throw new DaemonError(
      'NODE_NOT_MEMBER',
      m.status === 'active'
        ? `account ${keys.wallet.address} is registered with peer id ${m.peerId}, this node's is ${keys.peerId}`
        : `account ${keys.wallet.address} is ${m.status === 'none' ? 'not registered' : m.status}; give the admin your address and peer id (${keys.peerId})`,
      { address: keys.wallet.address, peerId: keys.peerId, status: m.status, registeredPeerId: m.peerId },
    );
  }
  return m;
}

/**
 * Gap between starting fetches from successive members (ms). Tried strictly one after another,
 * a member whose connection died silently (a partition, a cut link) held the catch-up for its
 * whole stream timeout — 6 s after a heal in the partition e2e, long enough to join the next
 * round late. So the tries are staggered like Happy Eyeballs (RFC 8305 §5: start the next
 * attempt after a short delay, keep the first that succeeds).
 */
const FETCH_STAGGER_MS = 500;
/** Per-member limit on one artifact fetch (ms). */
const FETCH_TIMEOUT_MS = 30_000;

/** Fetch `hash` from connected members, staggered, first success wins; verified by fetchArtifact. */
async function fetchFromMembers(
  host: Host,
  members: readonly string[],
  manifest: FederationManifest,
  hash: string,
  log: Logger,
): Promise<{ bytes: Uint8Array; from: string }> {
  const connected = new Set(host.getPeers().map(String));
  const candidates: PeerId[] = members.filter((m) => connected.has(m)).map((m) => peerIdFromString(m));
  const reasons: string[] = [];
  let done = false;
  const failed: (() => void)[] = [];
  const tries = candidates.map(async (p, k) => {
    // Start after k gaps, or at once when every earlier try has already failed.
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, k * FETCH_STAGGER_MS);
      failed.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
    if (done) throw new Error('not needed');
    try {
      const bytes = await fetchArtifact(host, p, manifest.federation, fromHex0x(hash), FETCH_TIMEOUT_MS);
      done = true;
      return { bytes, from: p.toString() };
    } catch (e) {
      reasons.push(e instanceof Error ? e.message : String(e));
      log.debug({ peer: p.toString(), error: reasons.at(-1) }, 'artifact fetch failed');
      failed[reasons.length]?.();
      throw e;
    }
  });
  try {
    return await Promise.any(tries);
  } catch {
    throw new DaemonError('NODE_CATCH_UP_FAILED', `no connected member served model ${hash} (${candidates.length} tried)`, {
      modelHash: hash,
      tried: candidates.length,
      reasons,
    });
  }
}
