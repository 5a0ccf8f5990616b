/**
 * The gossip port: what node/ services need from pub-sub. Implemented over libp2p
 * gossipsub (libp2p-gossip.ts) and in memory (memory-gossip.ts) for fast unit tests.
 *
 * A validator runs before a message is delivered or forwarded and returns a Verdict
 * (protocol/verdict.ts). `from` is the authenticated origin: gossipsub's StrictSign policy
 * makes every message carry its author's signature, verified before validation. Over libp2p,
 * a REJECT penalises the peer that delivered the message (gossipsub P4, invalid message
 * deliveries; node/net/peer-scoring.ts); IGNORE drops without penalty.
 */
import type { Verdict } from '../../protocol/verdict.js';

export interface GossipMessage {
  readonly topic: string;
  /** Origin peer id (string), authenticated by the message signature. */
  readonly from: string;
  readonly data: Uint8Array;
}

export type GossipValidator = (msg: GossipMessage) => Verdict | Promise<Verdict>;
export type GossipHandler = (msg: GossipMessage) => void;

export interface Gossip {
  /** This peer's id string. */
  readonly self: string;
  /** Subscribe with a validator; `handler` sees only ACCEPTed messages. */
  subscribe(topic: string, validator: GossipValidator, handler: GossipHandler): void;
  unsubscribe(topic: string): void;
  publish(topic: string, data: Uint8Array): Promise<void>;
  /** Peers (ids) currently known to be subscribed to `topic`. */
  subscribers(topic: string): string[];
  /** Verdict counts by `${action}:${code}` — the metric behind STYLE.md §9. */
  readonly verdicts: ReadonlyMap<string, number>;
  /**
   * Tell peer scoring who the federation's members are (gossipsub: non-members get a
   * negative application-specific score and are graylisted). Optional: the in-memory twin
   * has no scoring.
   */
  setMembership?(isMember: (peer: string) => boolean): void;
  /** The peer's current score, where the implementation scores peers. */
  score?(peer: string): number;
}

export function countVerdict(map: Map<string, number>, v: Verdict): void {
  const key = `${v.action}:${v.code}`;
  map.set(key, (map.get(key) ?? 0) + 1);
}
