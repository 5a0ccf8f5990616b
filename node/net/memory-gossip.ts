/**
 * In-memory twin of the gossip port (STYLE.md §3): every peer joins one hub; a publish is
 * delivered to every other subscriber of the topic, asynchronously and in publish order,
 * through the receiver's validator, and handed to its handler only when ACCEPTed — gossipsub's
 * contract with `floodPublish` and StrictSign (the hub supplies the authenticated `from`).
 * Unit tests run the unchanged node services (inboxes, round driver) over it.
 */
import { countVerdict, type Gossip, type GossipHandler, type GossipMessage, type GossipValidator } from './gossip.js';

interface Subscription {
  readonly validator: GossipValidator;
  readonly handler: GossipHandler;
}

export class MemoryGossipHub {
  private readonly peers = new Map<string, MemoryGossip>();
  /** Deliveries in flight; `settle()` waits for them. */
  private chain: Promise<void> = Promise.resolve();

  join(id: string): MemoryGossip {
    if (this.peers.has(id)) throw new Error(`peer ${id} already joined`);
    const g = new MemoryGossip(id, this);
    this.peers.set(id, g);
    return g;
  }

  leave(id: string): void {
    this.peers.delete(id);
  }

  subscribers(topic: string): string[] {
    return [...this.peers.values()].filter((p) => p.isSubscribed(topic)).map((p) => p.self);
  }

  deliver(from: string, topic: string, data: Uint8Array): Promise<void> {
    const targets = [...this.peers.values()].filter((p) => p.self !== from && p.isSubscribed(topic));
    const copy = data.slice();
    const run = async (): Promise<void> => {
      // A macrotask boundary: delivery never runs inside the publisher's call stack.
      await new Promise<void>((r) => setImmediate(r));
      for (const t of targets) await t.receive({ topic, from, data: copy });
    };
    this.chain = this.chain.then(run, run);
    return Promise.resolve();
  }

  /** Resolve when every delivery published so far has been processed. */
  settle(): Promise<void> {
    return this.chain;
  }
}

export class MemoryGossip implements Gossip {
  readonly verdicts = new Map<string, number>();
  private readonly subs = new Map<string, Subscription>();

  constructor(
    readonly self: string,
    private readonly hub: MemoryGossipHub,
  ) {}

  isSubscribed(topic: string): boolean {
    return this.subs.has(topic);
  }

  subscribe(topic: string, validator: GossipValidator, handler: GossipHandler): void {
    this.subs.set(topic, { validator, handler });
  }

  unsubscribe(topic: string): void {
    this.subs.delete(topic);
  }

  publish(topic: string, data: Uint8Array): Promise<void> {
    return this.hub.deliver(this.self, topic, data);
  }

  subscribers(topic: string): string[] {
    return this.hub.subscribers(topic).filter((p) => p !== this.self);
  }

  async receive(m: GossipMessage): Promise<void> {
    const sub = this.subs.get(m.topic);
    if (sub === undefined) return;
    const verdict = await sub.validator(m);
    countVerdict(this.verdicts, verdict);
    if (verdict.action === 'accept') sub.handler(m);
  }
}
