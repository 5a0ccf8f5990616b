/**
 * A fedmesh peer: the libp2p host's gossip, the round inbox, the secure-aggregation inbox
 * and the round driver, wired over the ports they need (STYLE.md §2: `createPeer(init)(components)`).
 */
import type { ModelWeights } from '../protocol/model.js';
import type { LabelledData } from '../protocol/data.js';
import { fromHex0x } from '../protocol/bytes.js';
import { modelHash } from '../protocol/weights-codec.js';
import { selectCommittee } from '../protocol/committee.js';
import type { Entropy, IdentitySign, IdentityVerify, SecAggCrypto } from '../protocol/secure-aggregation/crypto.js';
import { effectiveCommittee } from '../protocol/secure-aggregation/config.js';
import type { FederationChainClient } from './chain/federation-types.js';
import type { ChainClient } from './chain/types.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { Gossip } from './net/gossip.js';
import { RoundDriver, type RoundDriverInit, type LocalTrainer, type RoundOutcome } from './services/round-driver.js';
import { ChangeNotifier } from './services/change-notifier.js';
import { RoundInbox } from './services/round-inbox.js';
import { SecAggInbox } from './services/secagg-inbox.js';
import { FederationRecorder } from './services/federation-recorder.js';
import { RoundOpener } from './services/round-opener.js';

export interface PeerInit extends RoundDriverInit {
  /** Outgoing chunk size in bytes (default: protocol maximum). */
  readonly chunkSize?: number;
  /**
   * With `components.federation`: t, the signatures a round record needs. Each participant's
   * spend is recomputed from the DP parameters it declares (node/services/federation-recorder.ts).
   */
  readonly finalize?: { readonly threshold: number };
}

export interface PeerComponents {
  readonly gossip: Gossip;
  readonly chain: ChainClient;
  readonly trainer: LocalTrainer;
  readonly data: LabelledData;
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * Secure aggregation's crypto: required when `init.secureAggregation` is set. `sign` must
   * sign with this peer's libp2p identity key; `verify` checks any member's identity.
   */
  readonly secagg?: {
    readonly crypto: SecAggCrypto;
    readonly entropy: Entropy;
    readonly sign: IdentitySign;
    readonly verify: IdentityVerify;
  };
  /**
   * FedmeshFederation mode: rounds are opened on chain (the committee is the contract's) and
   * finalized by quorum signatures. `chain` must then be its read view (FederationLedgerView).
   */
  readonly federation?: FederationChainClient;
}

export class Peer {
  readonly inbox: RoundInbox;
  readonly secaggInbox?: SecAggInbox;
  readonly driver: RoundDriver;
  readonly opener?: RoundOpener;
  readonly recorder?: FederationRecorder;
  /** Model hash expected as the base of each round's updates, learned from the ledger. */
  private readonly bases = new Map<number, Uint8Array>();

  constructor(
    readonly init: PeerInit,
    readonly components: PeerComponents,
  ) {
    const { gossip } = components;
    const members = new Set(init.members);
    const committeeSize =
      init.secureAggregation !== undefined
        ? effectiveCommittee(init.secureAggregation.config, init.members.length).committeeSize
        : Math.min(init.committeeSize, init.members.length);
    if (components.federation !== undefined) {
      if (init.finalize === undefined) throw new TypeError('federation mode needs init.finalize (threshold)');
      const opener = new RoundOpener(components.federation, components.log);
      this.opener = opener;
      this.recorder = new FederationRecorder(
        { federation: init.federation, members: init.members, ...init.finalize },
        {
          self: gossip.self,
          gossip,
          fed: components.federation,
          committeeOf: (r) => opener.committeeOf(r),
          addressOf: (p) => opener.addressOf(p),
          clock: components.clock,
          log: components.log,
        },
      );
    }
    const opener = this.opener;
    // The chain's committee once the round is opened here; before that nobody is on it (a
    // message that needs the role is refused rather than judged against the wrong committee).
    const committee = (round: number): readonly string[] =>
      opener !== undefined ? (opener.committeeOf(round) ?? []) : selectCommittee(init.federation, round, init.members, committeeSize);
    const notifier = new ChangeNotifier();
    this.inbox = new RoundInbox(gossip, {
      federation: init.federation,
      isMember: (p) => members.has(p),
      isCommittee: (p, round) => committee(round).includes(p),
      notifier,
      template: components.trainer.getWeights(),
      expectedBase: (round) => this.bases.get(round),
      modelHash,
      ...(init.chunkSize !== undefined ? { chunkSize: init.chunkSize } : {}),
    });
    let secagg: (NonNullable<PeerComponents['secagg']> & { inbox: SecAggInbox }) | undefined;
    if (init.secureAggregation !== undefined) {
      if (components.secagg === undefined)
        throw new TypeError('secure aggregation needs components.secagg (crypto, entropy, sign, verify)');
      this.secaggInbox = new SecAggInbox(gossip, {
        federation: init.federation,
        isMember: (p) => members.has(p),
        committee,
        verify: components.secagg.verify,
        notifier,
      });
      secagg = { ...components.secagg, inbox: this.secaggInbox };
    }
    const { secagg: _crypto, federation: _federation, ...rest } = components;
    this.driver = new RoundDriver(init, {
      ...rest,
      self: gossip.self,
      inbox: this.inbox,
      ...(secagg !== undefined ? { secagg } : {}),
      ...(this.recorder !== undefined ? { recorder: this.recorder } : {}),
      ...(opener !== undefined ? { committeeOf: (r: number) => opener.committeeOf(r) } : {}),
    });
  }

  /** Gossip topics this peer subscribes to. */
  get topics(): string[] {
    return [
      this.inbox.updateTopic,
      this.inbox.aggregateTopic,
      ...(this.secaggInbox !== undefined ? [this.secaggInbox.topic] : []),
      ...(this.recorder !== undefined ? [this.recorder.topic] : []),
    ];
  }

  get id(): string {
    return this.components.gossip.self;
  }

  get weights(): ModelWeights {
    return this.components.trainer.getWeights();
  }

  start(): void {
    this.inbox.start();
    this.secaggInbox?.start();
    this.recorder?.start();
  }

  stop(): void {
    this.recorder?.stop();
    this.secaggInbox?.stop();
    this.inbox.stop();
  }

  async runRound(round: number): Promise<RoundOutcome> {
    this.bases.set(round, fromHex0x(await this.components.chain.headModelHash()));
    await this.opener?.open(round);
    try {
      return await this.driver.runRound(round);
    } finally {
      this.bases.delete(round - 1);
    }
  }
}

export function createPeer(init: PeerInit): (components: PeerComponents) => Peer {
  return (components) => new Peer(init, components);
}
