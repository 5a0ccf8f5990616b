/**
 * A fedmesh peer: the libp2p host's gossip, the round inbox and the round driver, wired
 * over the ports they need (STYLE.md §2: `createPeer(init)(components)`).
 */
import type { ModelWeights } from '../protocol/model.js';
import type { LabelledData } from '../protocol/data.js';
import { fromHex0x } from '../protocol/bytes.js';
import { modelHash } from '../protocol/weights-codec.js';
import { selectCommittee } from '../protocol/committee.js';
import type { ChainClient } from './chain/types.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { Gossip } from './net/gossip.js';
import { RoundDriver, type RoundDriverInit, type LocalTrainer, type RoundOutcome } from './services/round-driver.js';
import { RoundInbox } from './services/round-inbox.js';

export interface PeerInit extends RoundDriverInit {
  /** Outgoing chunk size in bytes (default: protocol maximum). */
  readonly chunkSize?: number;
}

export interface PeerComponents {
  readonly gossip: Gossip;
  readonly chain: ChainClient;
  readonly trainer: LocalTrainer;
  readonly data: LabelledData;
  readonly clock: Clock;
  readonly log: Logger;
}

export class Peer {
  readonly inbox: RoundInbox;
  readonly driver: RoundDriver;
  /** Model hash expected as the base of each round's updates, learned from the ledger. */
  private readonly bases = new Map<number, Uint8Array>();

  constructor(
    readonly init: PeerInit,
    readonly components: PeerComponents,
  ) {
    const { gossip } = components;
    const members = new Set(init.members);
    this.inbox = new RoundInbox(gossip, {
      federation: init.federation,
      isMember: (p) => members.has(p),
      isCommittee: (p, round) =>
        selectCommittee(init.federation, round, init.members, Math.min(init.committeeSize, init.members.length)).includes(p),
      template: components.trainer.getWeights(),
      expectedBase: (round) => this.bases.get(round),
      modelHash,
      ...(init.chunkSize !== undefined ? { chunkSize: init.chunkSize } : {}),
    });
    this.driver = new RoundDriver(init, { ...components, self: gossip.self, inbox: this.inbox });
  }

  get id(): string {
    return this.components.gossip.self;
  }

  get weights(): ModelWeights {
    return this.components.trainer.getWeights();
  }

  start(): void {
    this.inbox.start();
  }

  stop(): void {
    this.inbox.stop();
  }

  async runRound(round: number): Promise<RoundOutcome> {
    this.bases.set(round, fromHex0x(await this.components.chain.headModelHash()));
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
