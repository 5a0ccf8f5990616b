/**
 * A whole federation in one process: N real libp2p peers on TCP loopback, an in-process
 * Hardhat chain with FedmeshFederation deployed and every peer registered, one trainer per
 * peer. The node code is the production code (node/peer.ts): rounds are opened on chain with
 * the contract's committee and finalized by t committee signatures (EIP-712), with credits and
 * the privacy budget on chain. Only data loading and process layout differ.
 * Used by `fedmesh simulate` and the integration tests.
 *
 * Secure aggregation: each peer signs with its libp2p identity key and uses node:crypto's
 * native PRG and X25519. Its secret randomness is *seeded* from the simulation seed and the
 * peer index (node/services/secagg-crypto.ts `seededEntropy`), so a run replays bit for bit —
 * stochastic rounding included. That makes every simulated secret derivable from the seed:
 * fine for measuring utility and cost, never for protecting real data.
 */
import type { DpTrainOptions } from '../node/ml/trainer.js';
import type { Signer } from 'ethers';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { hash256, toHex0x, utf8 } from '../protocol/bytes.js';
import { isFedmeshError } from '../protocol/errors.js';
import type { LabelledData } from '../protocol/data.js';
import type { RoundTiming } from '../protocol/round.js';
import { modelHash } from '../protocol/weights-codec.js';
import { cAlpha, EPSILON_CAP_MAX, encodeEpsilonCap } from '../protocol/chain/budget.js';
import { effectiveCommittee } from '../protocol/secure-aggregation/config.js';
import { deployFederation, registerMembers } from '../node/chain/federation-deploy.js';
import { deploymentBindingBytes } from '../protocol/chain/deployment-binding.js';
import { signPeerBinding } from '../protocol/chain/peer-binding.js';
import { EthersFederationClient } from '../node/chain/federation-ethers.js';
import type { FederationChainClient } from '../node/chain/federation-types.js';
import { startInProcessChain } from '../node/chain/hardhat.js';
import { type ChainReadStats, type ChainRequestProvider, coalesceChainReads } from './chain-reads.js';
import { installSharedSignatureVerdicts, type SharedVerdictStats, sharedIdentityVerifier } from './shared-verdicts.js';
import type { Hex32 } from '../node/chain/types.js';
import { systemClock } from '../node/clock.js';
import type { Logger } from '../node/logger.js';
import { createHost, dialAll, type Host, Libp2pGossip } from '../node/net/libp2p-host.js';
import { Trainer, type ModelSpec } from '../node/ml/trainer.js';
import { createPeer, type Peer } from '../node/peer.js';
import {
  assertFinalized,
  type DefenceOptions,
  type DropoutPoint,
  type LocalTrainer,
  type PeerRoundOutcome,
  type RoundOutcome,
  type SecureAggregationInit,
} from '../node/services/round-driver.js';
import { RoundError } from '../protocol/round.js';
import type { ModelWeights } from '../protocol/model.js';
import { type ServerOptimizer, validateServerOptimizer } from '../protocol/server-optimizer.js';
import { modelValidator } from '../node/services/validation-gate.js';
import { selectRows, stratifiedSplit } from '../protocol/data.js';
import { createRng } from '../protocol/rng.js';
import { createIdentityVerifier, identitySigner, nodeSecAggCrypto, seededEntropy } from '../node/services/secagg-crypto.js';
import { identityCommitteeKeys } from '../node/services/secagg-committee-keys.js';
import { MemoryPrekeyStore } from '../node/services/secagg-prekey-store.js';

/** Which peers (by index) drop out of `round`, and where; see RoundDriverInit.dropout. */
export type DropoutPlan = (
  round: number,
  ctx: { readonly committee: readonly number[]; readonly peers: number },
) => ReadonlyMap<number, DropoutPoint>;

export interface LocalFederationOptions {
  readonly federation: string;
  readonly seed: number;
  readonly model: ModelSpec;
  /** One entry per peer: its local (already standardised) training data. */
  readonly siteData: readonly LabelledData[];
  readonly committeeSize: number;
  readonly timing: RoundTiming;
  readonly training: { epochs: number; batchSize: number; learningRate: number; dp?: DpTrainOptions; proximalMu?: number };
  readonly chunkSize?: number;
  readonly log: Logger;
  /**
   * How the peers connect on loopback: 'full' (every pair, n(n−1)/2 connections) or 'sparse' (a
   * circulant graph, ~2·log2(n) connections per peer; gossipsub forwards the rest). Default: full
   * up to FULL_MESH_MAX_PEERS peers, sparse above. With 64 peers in one process a full mesh is
   * 2,016 Noise connections: at load 15 on this 2-core machine dialling took over 8 minutes, and
   * every message was then written to 63 connections (floodPublish) plus mesh forwards.
   */
  readonly topology?: 'full' | 'sparse';
  /**
   * Peer i's logger (default `log.child({peer: i})`): `fedmesh simulate` gives the peers named in
   * FEDMESH_SIM_DEBUG_PEERS a debug-level logger, to follow one committee member's phases.
   */
  readonly peerLog?: (peer: number) => Logger;
  /** Secure aggregation (absent: plaintext FedAvg). `committeeSize` is then ignored: the config's m applies. */
  readonly secureAggregation?: SecureAggregationInit;
  /**
   * Signed per-round committee prekeys instead of identity-derived committee keys
   * (node/services/secagg-prekeys.ts): each peer keeps its secrets in a MemoryPrekeyStore
   * (`prekeyStores[i]`, kept across restarts). Absent: identity-derived keys.
   */
  readonly prekeys?: { readonly window?: number; readonly republishMs?: number };
  /** Simulated dropouts, per round. */
  readonly dropouts?: DropoutPlan;
  /**
   * Every member's privacy cap ε at SIM_FEDERATION_DELTA, registered
   * as `encodeEpsilonCap(epsilonCap)` (`fedmesh simulate --dp-epsilon E`). A peer whose next
   * round would pass it abstains (node/services/privacy-guard.ts). Default: no cap
   * (EPSILON_CAP_MAX, 4294.967295).
   */
  readonly epsilonCap?: number;
  /** δ of the contract's privacy ledger (its c_α). Default SIM_FEDERATION_DELTA. */
  readonly federationDelta?: number;
  /**
   * The contract's round windows (default `defaultFederationWindows`).
   * A round without a quorum by its finalize deadline is aborted and the next one opens.
   */
  readonly windows?: FederationWindows;
  /** Gap between peers' abortRound turns (ms; default 250). */
  readonly abortStaggerMs?: number;
  /**
   * Poisoning containment (RoundDriverInit.defence): `updateNormBound` clips every update;
   * `validationMargin` turns on the committee's validation gate, for which each site keeps a
   * stratified `validationFraction` of its rows (default DEFAULT_VALIDATION_FRACTION, seeded)
   * out of training as its own validation split.
   */
  readonly defence?: DefenceOptions & { readonly validationFraction?: number };
  /**
   * Simulation lab: what peer i trains through (attackers, stragglers, timing probes wrap the
   * real Trainer; simulations/attackers.ts). Default: the Trainer itself.
   */
  readonly wrapTrainer?: (peer: number, trainer: Trainer) => LocalTrainer;
  /** The federation's server optimizer (the manifest's `serverOptimizer`); absent: FedAvg. */
  readonly serverOptimizer?: ServerOptimizer;
  /** The manifest hash fixed on chain at deployment (the auditor checks a --manifest against it); absent: zero. */
  readonly manifestHash?: Hex32;
}

/** A peer that left a finalized round and caught up to its record (see `LocalFederation.runRound`). */
export interface LeftRoundOutcome {
  readonly status: 'left';
  readonly round: number;
  readonly committee: readonly string[];
  /** The record's model hash, which the peer adopted. */
  readonly modelHash: Hex32;
}

export type SimRoundOutcome = PeerRoundOutcome | LeftRoundOutcome;

/** `o` when this peer took part in a finalized round; else a RoundError (ROUND_ABORTED or ROUND_LEFT). */
export function assertSimFinalized(o: SimRoundOutcome): RoundOutcome {
  if (o.status !== 'left') return assertFinalized(o);
  throw new RoundError('ROUND_LEFT', `round ${o.round} was finalized without this peer`, { round: o.round });
}

/**
 * Start-up dialling: connections being opened at once across the whole federation, and tries
 * per connection. Dialling every connection at once (2,016 of a 64-peer full mesh) timed out
 * Noise handshakes on a loaded 2-core machine; dialling peer by peer (8 at a time per peer, the
 * next peer after the last of those) left the loop idle between batches: 9.6 of 16.5 s of a
 * 64-peer sparse start-up at load 10. A pool keeps DIAL_CONCURRENCY handshakes in flight.
 */
const DIAL_CONCURRENCY = 16;
const DIAL_ATTEMPTS = 5;
/** How long start-up waits for every peer to see its neighbours subscribed (ms). */
const MESH_WAIT_MS = 120_000;
/** Largest federation the simulator connects as a full mesh by default; larger ones are sparse. */
export const FULL_MESH_MAX_PEERS = 16;

/**
 * Circulant offsets of the sparse topology: peer i is connected to i ± 1, 2, 4, 8, … (mod n), so
 * every peer has about 2·log2(n) connections and any two are at most ~log2(n) hops apart.
 */
function sparseOffsets(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d < n; d *= 2) out.push(d);
  return out;
}

/** The peers j < i that peer i dials (each connection is dialled once, by its higher-indexed end). */
export function dialTargets(i: number, n: number, topology: 'full' | 'sparse'): number[] {
  if (topology === 'full') return Array.from({ length: i }, (_, j) => j);
  return [...new Set(sparseOffsets(n).flatMap((d) => [(i + d) % n, (i - d + n) % n]))].filter((j) => j < i).sort((a, b) => a - b);
}

/** Number of distinct peers peer i is connected to. */
function neighbourCount(i: number, n: number, topology: 'full' | 'sparse'): number {
  if (topology === 'full') return n - 1;
  return new Set(
    sparseOffsets(n)
      .flatMap((d) => [(i + d) % n, (i - d + n) % n])
      .filter((j) => j !== i),
  ).size;
}

/**
 * How often a simulated peer polls the chain while it waits (a round opened, finalized; ms):
 * 100 ms up to 10 peers, 10 ms per peer above (640 ms at 64). Every peer polls the one
 * in-process chain on the one event loop: a 64 × 2 run at 100 ms sent 13,587 requests (about 80
 * a second, each peer's next poll sent when its last returned), most of them participants
 * waiting for the record, in the way of a committee member's finalizeRound and a late peer's
 * round-opening reads. A deployment's node polls its own RPC endpoint.
 */
export function chainPollMs(peers: number): number {
  return Math.max(100, 10 * peers);
}

/** Dial and upgrade timeout of simulated hosts (HostInit.dialTimeoutMs): loopback, but a loaded machine. */
const DIAL_TIMEOUT_MS = 60_000;

/** Share of each site's rows kept out of training for the validation gate. */
export const DEFAULT_VALIDATION_FRACTION = 0.2;

function defenceOf(d: NonNullable<LocalFederationOptions['defence']>): DefenceOptions {
  return {
    ...(d.updateNormBound !== undefined ? { updateNormBound: d.updateNormBound } : {}),
    ...(d.validationMargin !== undefined ? { validationMargin: d.validationMargin } : {}),
  };
}

/** A FedmeshFederation's round windows in seconds (block time): open → input deadline → finalize deadline. */
export interface FederationWindows {
  readonly inputSec: number;
  readonly finalizeSec: number;
}

/**
 * Default round windows of a simulated FedmeshFederation: as long as the round driver itself
 * waits for a record (collect window, then up to 2m + 2 grace periods of agreeing, unmasking and
 * recording turns, then the driver's result slack), so an honest round is never cut short and a
 * stalled one is aborted about when the driver would have given up.
 */
export function defaultFederationWindows(timing: RoundTiming, committeeSize: number, resultSlackMs = 30_000): FederationWindows {
  return {
    inputSec: Math.max(1, Math.ceil(timing.collectMs / 1000)),
    finalizeSec: Math.max(1, Math.ceil(((2 * committeeSize + 2) * timing.recordGraceMs + resultSlackMs) / 1000)),
  };
}

/** δ of a simulated FedmeshFederation's privacy ledger (its c_α constants). */
export const SIM_FEDERATION_DELTA = 1e-5;

/** Committee size m and quorum t the round uses: secure aggregation's, or a majority of the plaintext committee. */
export function roundQuorum(
  o: Pick<LocalFederationOptions, 'committeeSize' | 'secureAggregation'>,
  members: number,
): { m: number; t: number } {
  if (o.secureAggregation !== undefined) {
    const e = effectiveCommittee(o.secureAggregation.config, members);
    return { m: e.committeeSize, t: e.threshold };
  }
  const m = Math.min(o.committeeSize, members);
  return { m, t: Math.floor(m / 2) + 1 };
}

/**
 * Start-up stages of `startLocalFederation`, in order: chain (load Hardhat, compile if stale),
 * keys (peer identities), hosts (libp2p hosts listening), dial (loopback connections), trainers
 * (one model per peer, the initial weights set), deploy (FedmeshFederation), register (every
 * member's addMember), peers (nodes built and started), mesh (until every peer sees its
 * neighbours subscribed to every topic).
 */
export const STARTUP_STAGES = ['chain', 'keys', 'hosts', 'dial', 'trainers', 'deploy', 'register', 'peers', 'mesh'] as const;
export type StartupStage = (typeof STARTUP_STAGES)[number];

export interface LocalFederation {
  /** Wall seconds of each start-up stage (STARTUP_STAGES); where a large federation's start-up goes. */
  readonly startup: Readonly<Record<StartupStage, number>>;
  /** Requests the peers sent to the in-process chain, and reads shared with one in flight (./chain-reads.ts); process-wide counters. */
  readonly chainReads: Readonly<ChainReadStats>;
  /**
   * Signature verdicts served from the caches the in-process peers share (./shared-verdicts.ts):
   * libp2p Ed25519, ethers secp256k1 recovery (process-wide counters) and secure aggregation's
   * identity signatures (this federation's).
   */
  readonly sharedVerdicts: Readonly<Record<'ed25519' | 'secp256k1' | 'identity', Readonly<SharedVerdictStats>>>;
  readonly peers: readonly Peer[];
  readonly trainers: readonly Trainer[];
  readonly hosts: readonly Host[];
  /** Each peer's FedmeshFederation client (its own account), by peer index. */
  readonly federationClients: readonly FederationChainClient[];
  /** The deployer's client (FEDERATION_ADMIN_ROLE: add, suspend members). */
  readonly federationAdmin: FederationChainClient;
  /** Address of the FedmeshFederation. */
  readonly ledgerAddress: string;
  readonly initialModelHash: Hex32;
  /**
   * Runs round `round` at every peer; the outcomes by peer index. A round can end
   * `{status: 'aborted'}` (no quorum by its finalize deadline); the next round is then
   * `round + 1` from the same head model. A peer that left a round finalized without it (ROUND_LEFT:
   * it missed the round's messages) catches up as a daemon does — it adopts the recorded model,
   * checked against the record's hash (in-process stand-in for the artifact fetch) — and is
   * reported as `{status: 'left'}`; any other failure rejects.
   */
  runRound(round: number): Promise<SimRoundOutcome[]>;
  /**
   * Restarts peer i's node between rounds as a daemon restart would: a fresh Peer (new driver,
   * inboxes, recorder: nothing remembered) over the same libp2p host, chain account and trainer
   * (whose weights stand for the model the daemon restores from its store). Models by hash then
   * come from `recordedModels`, the stand-in for its store and the artifact protocol.
   */
  restartPeer(i: number): Promise<void>;
  /** Every model recorded so far (and the initial one), by lowercase hash: the nodes' stores in process. */
  readonly recordedModels: ReadonlyMap<string, ModelWeights>;
  /** Bytes the peers kept for the auditor (RoundDriverComponents.keepArtifact), by lowercase SHA-256. */
  readonly keptArtifacts: ReadonlyMap<string, Uint8Array>;
  /** Each peer's prekey store (with `prekeys`): what a thief of its state would find. */
  readonly prekeyStores: readonly MemoryPrekeyStore[];
  stop(): Promise<void>;
}

/** Poll until every host sees every other peer subscribed to the federation topics. */
async function waitForMesh(
  gossips: readonly Libp2pGossip[],
  topics: readonly string[],
  timeoutMs: number,
  topology: 'full' | 'sparse',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const n = gossips.length;
  // Each peer must see every peer it is connected to subscribed (gossip learns subscriptions from
  // direct neighbours only): all others in a full mesh, its circulant neighbours in a sparse one.
  const want = gossips.map((_, i) => neighbourCount(i, n, topology));
  const ready = (): boolean => gossips.every((g, i) => topics.every((t) => g.subscribers(t).length >= want[i]!));
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`gossip mesh not formed within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startLocalFederation(o: LocalFederationOptions): Promise<LocalFederation> {
  const n = o.siteData.length;
  const startup = {} as Record<StartupStage, number>;
  let stageStart = performance.now();
  const stageDone = (stage: StartupStage): void => {
    const now = performance.now();
    startup[stage] = Number(((now - stageStart) / 1000).toFixed(3));
    stageStart = now;
  };
  const chain = await startInProcessChain();
  // Every peer reads the one in-process chain: identical reads in flight share one answer.
  const chainReads = coalesceChainReads(chain.hre.network.provider as unknown as ChainRequestProvider);
  // Every peer would verify the same signatures on the same bytes: one verdict each, shared.
  const signatureVerdicts = installSharedSignatureVerdicts();
  const identityVerdicts: SharedVerdictStats = { hits: 0, misses: 0 };
  const verifyIdentity = sharedIdentityVerifier(createIdentityVerifier(), identityVerdicts);
  stageDone('chain');
  if (chain.signers.length < n + 1) throw new Error(`chain has ${chain.signers.length} accounts, need ${n + 1}`);

  // Peer identities derive from the seed so a simulation replays bit for bit: peer ids order
  // FedAvg's sum and seed local training.
  const keys = await Promise.all(
    o.siteData.map((_, i) => generateKeyPairFromSeed('Ed25519', hash256(utf8(`fedmesh/sim-peer-key/v1/${o.seed}/${i}`)))),
  );
  stageDone('keys');
  const hosts = await Promise.all(
    keys.map((privateKey) => createHost({ privateKey, inboundConnectionsPerSecondPerHost: 2 * n + 10, dialTimeoutMs: DIAL_TIMEOUT_MS })),
  );
  const stopHosts = (): Promise<unknown> => Promise.all(hosts.map((h) => h.stop()));
  stageDone('hosts');
  try {
    // Loopback connections: peer i dials the peers `dialTargets` names before it, at most
    // DIAL_CONCURRENCY connections in flight across the federation, each tried DIAL_ATTEMPTS times.
    const topology = o.topology ?? (n > FULL_MESH_MAX_PEERS ? 'sparse' : 'full');
    const pairs = Array.from({ length: n }, (_, i) => dialTargets(i, n, topology).map((j) => [i, j] as const)).flat();
    const dialPair = async ([i, j]: readonly [number, number]): Promise<void> => {
      const addr = hosts[j]!.getMultiaddrs().map(String).slice(0, 1);
      for (let attempt = 1; ; attempt++) {
        try {
          await dialAll(hosts[i]!, addr);
          return;
        } catch (e) {
          if (attempt >= DIAL_ATTEMPTS) throw e;
        }
      }
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(DIAL_CONCURRENCY, pairs.length) }, async () => {
        while (next < pairs.length) await dialPair(pairs[next++]!);
      }),
    );
    stageDone('dial');
    const gossips = hosts.map((h) => new Libp2pGossip(h));
    const members = gossips.map((g) => g.self);

    // The agreed initial model: built from the federation seed, identical at every site.
    const trainers = o.siteData.map(() => new Trainer(o.model, o.seed));
    // The validation gate's split and evaluator per site (a Trainer of its own: the gate runs
    // while the site's trained weights are still in its training Trainer).
    const gate = o.defence?.validationMargin !== undefined;
    const split = o.siteData.map((d, i) => {
      if (!gate) return { train: d, validation: undefined };
      const fraction = o.defence?.validationFraction ?? DEFAULT_VALIDATION_FRACTION;
      const rows = stratifiedSplit(d.y, fraction, createRng(`${o.seed}/${i}`, 'fedmesh/sim/validation-split/v1'));
      return { train: selectRows(d, rows.train), validation: selectRows(d, rows.test) };
    });
    const evaluators = gate ? o.siteData.map(() => new Trainer(o.model, o.seed)) : [];
    const initial = trainers[0]!.getWeights();
    const initialModelHash = toHex0x(modelHash(initial));
    for (const t of trainers) t.setWeights(initial);
    stageDone('trainers');

    // hardhat-ethers' signer types come from ethers' CJS typings, ours from its ESM typings;
    // they are the same runtime class.
    const deployer = chain.signers[0]! as unknown as Signer;
    const memberSigners = chain.signers.slice(1, n + 1) as unknown as Signer[];
    const accounts = await Promise.all(memberSigners.map((s) => s.getAddress()));
    const { m, t } = roundQuorum(o, n);
    const windows = o.windows ?? defaultFederationWindows(o.timing, m);
    const ledger = await deployFederation(deployer, {
      initialModelHash,
      committeeSize: m,
      threshold: t,
      inputDurationSec: windows.inputSec,
      finalizeDurationSec: windows.finalizeSec,
      cAlpha: cAlpha(o.federationDelta ?? SIM_FEDERATION_DELTA),
      ...(o.manifestHash !== undefined ? { manifestHash: o.manifestHash } : {}),
    });
    stageDone('deploy');
    const deployment = { chainId: (await deployer.provider!.getNetwork()).chainId, contract: ledger.address };
    // Each peer's libp2p key proves its peer id is bound to its account (issue 14 item 2); every
    // peer verifies the stored proofs before mapping a peer id (peerProofs below).
    await registerMembers(
      deployer,
      ledger.address,
      await Promise.all(
        accounts.map(async (account, i) => ({
          account,
          peerId: members[i]!,
          metadataURI: `sim:${o.federation}/${i}`,
          epsilonCap: o.epsilonCap !== undefined ? encodeEpsilonCap(o.epsilonCap) : EPSILON_CAP_MAX,
          peerProof: await signPeerBinding(keys[i]!, deployment, account),
        })),
      ),
    );
    stageDone('register');
    const clientOf = (s: Signer) =>
      new EthersFederationClient(s, ledger.address, { fromBlock: ledger.blockNumber, pollIntervalMs: chainPollMs(n) });
    // Secure aggregation binds every statement to this deployment (issue 13; H1).
    const binding = deploymentBindingBytes(deployment);
    const federationAdmin = clientOf(deployer);
    const federationClients = memberSigners.map(clientOf);

    // Dropouts are planned once per round from the round's committee (peer indices), read by
    // the first peer that asks: its own opener has opened the round, so it knows the committee.
    const plans = new Map<number, ReadonlyMap<number, DropoutPoint>>();
    const peers: Peer[] = [];
    if (o.serverOptimizer !== undefined) validateServerOptimizer(o.serverOptimizer);
    // The nodes' model stores (node/store/node-store.ts models/) and the artifact protocol, in
    // process: what a restarted or late node reads w_{t−1} from (RoundDriverComponents.modelOf).
    const recordedModels = new Map<string, ModelWeights>([[initialModelHash.toLowerCase(), initial]]);
    const keptArtifacts = new Map<string, Uint8Array>();
    const dropoutOf = (i: number) => (round: number) => {
      if (o.dropouts === undefined) return undefined;
      let plan = plans.get(round);
      if (plan === undefined) {
        const committee = peers[i]!.driver.plan(round, 0).committee.map((id) => members.indexOf(id));
        plan = o.dropouts(round, { committee, peers: n });
        plans.set(round, plan);
      }
      return plan.get(i);
    };
    // Each peer's prekey secrets, kept across restarts as the daemon's encrypted file is.
    const prekeyStores = Array.from({ length: n }, () => new MemoryPrekeyStore());
    const makePeer = (gossip: Libp2pGossip, i: number): Peer =>
      createPeer({
        federation: o.federation,
        members,
        committeeSize: o.committeeSize,
        timing: o.timing,
        training: { ...o.training, seed: o.seed },
        ...(o.defence !== undefined ? { defence: defenceOf(o.defence) } : {}),
        ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
        ...(o.secureAggregation !== undefined ? { secureAggregation: o.secureAggregation } : {}),
        ...(o.dropouts !== undefined ? { dropout: dropoutOf(i) } : {}),
        ...(o.serverOptimizer !== undefined ? { serverOptimizer: o.serverOptimizer } : {}),
        finalize: { threshold: t },
        ...(o.abortStaggerMs !== undefined ? { abortStaggerMs: o.abortStaggerMs } : {}),
        peerProofs: { mode: 'require', binding: deployment },
      })({
        gossip,
        federation: federationClients[i]!,
        trainer: o.wrapTrainer?.(i, trainers[i]!) ?? trainers[i]!,
        data: split[i]!.train,
        ...(split[i]!.validation !== undefined ? { validator: modelValidator(evaluators[i]!, split[i]!.validation!) } : {}),
        clock: systemClock,
        log: o.peerLog?.(i) ?? o.log.child({ peer: i }),
        modelOf: async (hash) => recordedModels.get(hash.toLowerCase()),
        keepArtifact: (bytes) => void keptArtifacts.set(toHex0x(hash256(bytes)), bytes),
        ...(o.secureAggregation !== undefined
          ? {
              secagg: {
                binding,
                crypto: nodeSecAggCrypto,
                entropy: seededEntropy(`fedmesh/sim-secagg/v1/${o.seed}/${i}`),
                sign: identitySigner(keys[i]!),
                verify: verifyIdentity,
                // Members' share-encryption keys from their identities (issue 13 item 4): participants
                // encrypt to the committee the moment the round opens instead of waiting for every
                // member's advertisement (or keysMs when one is down). Costs nothing here: every
                // simulated secret already derives from the seed (header), so there is no forward
                // secrecy to give up; the daemon keeps per-round keys (docs/secure-aggregation.md).
                ...(o.prekeys !== undefined
                  ? { prekeyStore: prekeyStores[i]!, prekeyOptions: o.prekeys }
                  : { committeeKeys: identityCommitteeKeys(keys[i]!) }),
              },
            }
          : {}),
      });
    peers.push(...gossips.map(makePeer));
    for (const p of peers) p.start();
    stageDone('peers');
    await waitForMesh(gossips, peers[0]!.topics, MESH_WAIT_MS, topology);
    stageDone('mesh');

    return {
      startup,
      chainReads,
      sharedVerdicts: { ...signatureVerdicts, identity: identityVerdicts },
      peers,
      trainers,
      hosts,
      federationClients,
      federationAdmin,
      ledgerAddress: ledger.address,
      initialModelHash,
      recordedModels,
      keptArtifacts,
      prekeyStores,
      restartPeer: async (i) => {
        peers[i]!.stop();
        peers[i] = makePeer(gossips[i]!, i);
        peers[i]!.start();
        await waitForMesh(gossips, peers[0]!.topics, MESH_WAIT_MS, topology);
      },
      runRound: async (round) => {
        const settled = await Promise.allSettled(peers.map((p) => p.runRound(round)));
        const winner = settled.findIndex((x) => x.status === 'fulfilled' && x.value.status === 'finalized');
        if (winner >= 0) {
          const won = (settled[winner] as PromiseFulfilledResult<PeerRoundOutcome>).value;
          const weights = trainers[winner]!.getWeights();
          if (won.status === 'finalized' && toHex0x(modelHash(weights)) === won.record.modelHash.toLowerCase())
            recordedModels.set(won.record.modelHash.toLowerCase(), weights);
        }
        return settled.map((x, i): SimRoundOutcome => {
          if (x.status === 'fulfilled') return x.value;
          const won = winner >= 0 ? (settled[winner] as PromiseFulfilledResult<PeerRoundOutcome>).value : undefined;
          if (!isFedmeshError(x.reason, 'ROUND_LEFT') || won?.status !== 'finalized') throw x.reason;
          const weights = trainers[winner]!.getWeights();
          if (toHex0x(modelHash(weights)) !== won.record.modelHash) throw x.reason;
          trainers[i]!.setWeights(weights);
          o.log.child({ peer: i }).info({ round, modelHash: won.record.modelHash }, 'left the round; caught up to its record');
          return { status: 'left', round, committee: won.committee, modelHash: won.record.modelHash };
        });
      },
      stop: async () => {
        for (const p of peers) p.stop();
        for (const t of trainers) t.dispose();
        for (const t of evaluators) t.dispose();
        await stopHosts();
      },
    };
  } catch (e) {
    await stopHosts();
    throw e;
  }
}
