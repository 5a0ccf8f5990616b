/**
 * The libp2p host: TCP + Noise + Yamux, identify and gossipsub (libp2p 3.x).
 *
 * `@libp2p/gossipsub` is the continuation of `@chainsafe/libp2p-gossipsub` inside js-libp2p;
 * the ChainSafe package stopped at 14.1.2 (libp2p 2.x). Node 20 needs the
 * `Promise.withResolvers` polyfill (node/polyfills.ts) loaded before this module.
 */
import '../polyfills.js';
import { createHash } from 'node:crypto';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { StreamState } from '@chainsafe/libp2p-yamux/stream';
import { gossipsub, type GossipSub, TopicValidatorResult } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { mdns } from '@libp2p/mdns';
import type { MultiaddrConnection, PrivateKey, Transport, Upgrader } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { Socket } from 'node:net';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import type { Verdict } from '../../protocol/verdict.js';
import { MAX_GOSSIP_MESSAGE_BYTES } from '../../protocol/messages/limits.js';
import { nodeSha256 } from '../services/secagg-crypto.js';
import { countVerdict, type Gossip, type GossipHandler, type GossipMessage, type GossipValidator } from './gossip.js';
import { fedmeshScoreParams, fedmeshScoreThresholds, fedmeshTopicScore, type ScoringMembership } from './peer-scoring.js';
import type { PeerScoreParams } from '@libp2p/gossipsub/score';

export interface HostInit {
  /** Ed25519 identity; a fresh one is generated when absent (simulations). */
  readonly privateKey?: PrivateKey;
  /** Listen multiaddrs, default one ephemeral TCP port on loopback. */
  readonly listen?: readonly string[];
  /**
   * libp2p refuses more than 5 inbound connections per second from one host (its default
   * `inboundConnectionThreshold`), a sane guard for a hospital's public node. A simulation
   * puts every peer on 127.0.0.1, so it raises this to the peer count.
   */
  readonly inboundConnectionsPerSecondPerHost?: number;
  /**
   * Dial and connection-upgrade timeouts (ms; libp2p's defaults: 10 s per dial, 6 s per address,
   * 3 s per inbound upgrade). A simulation dials 2,016 loopback connections for 64 peers in one
   * process; on a loaded 2-core machine Noise handshakes outlast the defaults
   * ("The operation was aborted due to timeout" before the first round), so it raises them.
   */
  readonly dialTimeoutMs?: number;
  /** Discover other members on the local network by mDNS (a LAN convenience; membership is still checked). */
  readonly mdns?: boolean;
}

/** Smallest ping timeout before libp2p's connection monitor aborts a connection (see createHost). */
export const PING_TIMEOUT_FLOOR_MS = 30_000;

export type Host = Libp2p<{ identify: ReturnType<ReturnType<typeof identify>>; pubsub: GossipSub }>;

/** What fedmesh reads from gossipsub's scoring (the runtime class has it; the interface type does not). */
interface ScoredPubsub {
  readonly score: { readonly params: PeerScoreParams };
  getScore(peer: string): number;
}

/** Each host's scoring membership (app-specific score, node/net/peer-scoring.ts). */
const memberships = new WeakMap<object, ScoringMembership>();

export async function createHost(init: HostInit = {}): Promise<Host> {
  const membership: ScoringMembership = {};
  const host = await createLibp2p({
    ...(init.privateKey !== undefined ? { privateKey: init.privateKey } : {}),
    addresses: { listen: [...(init.listen ?? ['/ip4/127.0.0.1/tcp/0'])] },
    connectionManager: {
      ...(init.inboundConnectionsPerSecondPerHost !== undefined
        ? {
            inboundConnectionThreshold: init.inboundConnectionsPerSecondPerHost,
            maxIncomingPendingConnections: Math.max(10, init.inboundConnectionsPerSecondPerHost),
          }
        : {}),
      ...(init.dialTimeoutMs !== undefined
        ? { dialTimeout: init.dialTimeoutMs, addressDialTimeout: init.dialTimeoutMs, inboundUpgradeTimeout: init.dialTimeoutMs }
        : {}),
    },
    ...(init.mdns === true ? { peerDiscovery: [mdns()] } : {}),
    // libp2p pings every connection every 10 s and aborts it when a ping outlasts an adaptive
    // timeout (≥ 5 s by default). A node whose event loop is busy training for longer (or a
    // simulation of 16 peers in one process) would lose every connection, and gossip has no
    // redial: a 30 s floor keeps busy-but-alive peers connected; dead ones still go in ≤ 40 s.
    connectionMonitor: { pingTimeout: { minTimeout: PING_TIMEOUT_FLOOR_MS } },
    transports: [coalescedWritesTcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [halfWindowYamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({
        // Every message is signed by its author (StrictSign, the default); validators use
        // the authenticated `from` to check membership.
        emitSelf: false,
        // Updates go to every subscribed peer, not only the mesh: a round's committee must
        // receive every update once, and federations are small (≤ 64 peers).
        floodPublish: true,
        // Content-addressed ids: the same bytes from the same author dedupe in the seen-cache.
        // Native SHA-256: every chunk of every payload is hashed here once per receiver.
        msgIdFn: (msg) => nodeSha256(msg.type === 'signed' ? concatFromData(msg.from.toMultihash().bytes, msg.data) : msg.data),
        // The same id from the raw RPC fields, before the author's signature is checked: gossipsub
        // verifies the Ed25519 signature of every copy it receives before its seen-cache check,
        // unless a fast id of an already-validated message matches (validateReceivedMessage; the
        // fast id is cached only after a copy validated). With every message arriving from several
        // mesh neighbours that was most verifications: 24 s of 178 s CPU in a 64-peer simulation
        // (Ed25519 verify, node:crypto). Equal fast ids mean equal msgIds, so a copy dropped here is
        // one the seen-cache would have dropped after verifying it; a forged copy that arrives first
        // still fails verification and caches nothing.
        fastMsgIdFn: (rpc) => {
          const h = createHash('sha256');
          if (rpc.from !== undefined) h.update(rpc.from);
          return `${rpc.from !== undefined ? 's' : 'u'}${h.update(rpc.data ?? new Uint8Array(0)).digest('base64')}`;
        },
        // An RPC frame above this is dropped by the stream decoder, before protobuf decoding;
        // the slack over one message lets the validator see (and REJECT, MSG_TOO_LARGE)
        // messages slightly over the limit, so their sender is penalised.
        maxInboundDataLength: MAX_GOSSIP_MESSAGE_BYTES + 64 * 1024,
        // Peer scoring: REJECT → P4 penalty, non-members graylisted (node/net/peer-scoring.ts).
        // Topic parameters are added as topics are subscribed (Libp2pGossip.subscribe).
        scoreParams: fedmeshScoreParams(membership),
        scoreThresholds: fedmeshScoreThresholds(),
      }),
    },
  });
  memberships.set(host, membership);
  return host as unknown as Host;
}

/**
 * One socket write per send instead of one per buffer. `@libp2p/tcp` writes every buffer of the
 * list it is handed with its own `socket.write` (socket-to-conn.js `sendData`), and the list is
 * Noise's frame: the 2-byte length, the ciphertext of yamux's header, of its data, and the Poly1305
 * tag — so each yamux frame cost three or four `write` syscalls (and as many TCP segments: the
 * transport sets TCP_NODELAY). In a 64-peer simulation those writes were 27 s of 214 s CPU
 * (`writeBuffer`, node --cpu-prof, 2026-12-07). Corking the socket around the transport's
 * `sendData` hands the same bytes, in the same order, to one `writev`; backpressure is unchanged
 * (each `socket.write` still answers whether the socket's buffer is below its high-water mark).
 */
export function coalescedWritesTcp(init?: Parameters<typeof tcp>[0]): ReturnType<typeof tcp> {
  const factory = tcp(init);
  return (components) => {
    const t = factory(components) as Transport;
    const dial = t.dial.bind(t);
    const createListener = t.createListener.bind(t);
    t.dial = (ma, options) => dial(ma, { ...options, upgrader: corkingUpgrader(options.upgrader) });
    t.createListener = (options) => createListener({ ...options, upgrader: corkingUpgrader(options.upgrader) });
    return t;
  };
}

/**
 * Yamux that returns receive window in half-window steps, as go-yamux does, instead of after every
 * data frame. `@chainsafe/libp2p-yamux` 8 sends a window update (a 12-byte frame: one Noise frame,
 * one socket write, one decryption at the peer) for every data frame it receives, so each gossip
 * RPC crossed the connection twice: 12 s of 183 s CPU in a 64-peer profile (2026-12-07). go-yamux
 * (session.go `sendWindowUpdate`) skips the update while less than half the window is used; here
 * the same rule applies to established streams only — an update that carries a SYN or ACK flag, a
 * paused stream and every other state go through the library unchanged. The sender still holds
 * at least half a window (≥ 128 KiB) whenever an update is skipped, so no stream waits on one.
 */
export function halfWindowYamux(init?: Parameters<typeof yamux>[0]): ReturnType<typeof yamux> {
  const factory = yamux(init);
  return () => {
    const y = factory();
    const create = y.createStreamMuxer.bind(y);
    y.createStreamMuxer = (maConn) => {
      const muxer = create(maConn);
      // `_newStream` is private in the types; every stream of the muxer is made by it.
      const m = muxer as unknown as { _newStream?: (...a: unknown[]) => unknown };
      const newStream = m._newStream;
      if (typeof newStream === 'function') m._newStream = (...a: unknown[]) => deferWindowUpdates(newStream.apply(muxer, a));
      return muxer;
    };
    return y;
  };
}

interface WindowedStream {
  state?: unknown;
  recvWindow?: unknown;
  recvWindowCapacity?: unknown;
  sendWindowUpdate?: () => void;
}

/** A yamux stream that skips window updates while at least half its receive window is open. */
export function deferWindowUpdates<S>(stream: S): S {
  const s = stream as S & WindowedStream;
  const send = s.sendWindowUpdate;
  if (typeof send !== 'function') return stream;
  s.sendWindowUpdate = () => {
    if (
      s.state === StreamState.Established &&
      typeof s.recvWindow === 'number' &&
      typeof s.recvWindowCapacity === 'number' &&
      s.recvWindowCapacity * 2 >= s.recvWindow
    )
      return;
    send.call(s);
  };
  return stream;
}

/** The upgrader, with every connection it upgrades writing through `corkWrites`. */
function corkingUpgrader(upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get(target, prop) {
      if (prop === 'upgradeInbound' || prop === 'upgradeOutbound') {
        const upgrade = target[prop] as (maConn: MultiaddrConnection, opts: unknown) => Promise<unknown>;
        return (maConn: MultiaddrConnection, opts: unknown) => upgrade.call(target, corkWrites(maConn), opts);
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Cork the connection's socket for the duration of each `sendData` (a TCP connection only). */
export function corkWrites(maConn: MultiaddrConnection): MultiaddrConnection {
  const c = maConn as MultiaddrConnection & { socket?: unknown; sendData?: (data: unknown) => unknown };
  const socket = c.socket;
  const sendData = c.sendData;
  if (!(socket instanceof Socket) || typeof sendData !== 'function') return maConn;
  c.sendData = function (this: unknown, data: unknown) {
    socket.cork();
    try {
      return sendData.call(this, data);
    } finally {
      socket.uncork();
    }
  };
  return maConn;
}

function concatFromData(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const VERDICT_TO_GOSSIPSUB: Record<Verdict['action'], TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
};

/** Gossip port over a libp2p host's gossipsub service. */
export class Libp2pGossip implements Gossip {
  readonly verdicts = new Map<string, number>();
  private readonly handlers = new Map<string, GossipHandler>();

  constructor(private readonly host: Host) {
    host.services.pubsub.addEventListener('message', (evt) => {
      const msg = evt.detail;
      const handler = this.handlers.get(msg.topic);
      if (handler === undefined || msg.type !== 'signed') return;
      handler({ topic: msg.topic, from: msg.from.toString(), data: msg.data });
    });
  }

  get self(): string {
    return this.host.peerId.toString();
  }

  /** Peer scoring's view of membership: non-members get NON_MEMBER_APP_SCORE (graylisted). */
  setMembership(isMember: (peer: string) => boolean): void {
    const m = memberships.get(this.host);
    if (m !== undefined) m.isMember = isMember;
  }

  /** The peer's current gossipsub score (0 for a peer never seen). */
  score(peer: string): number {
    return (this.host.services.pubsub as unknown as ScoredPubsub).getScore(peer);
  }

  subscribe(topic: string, validator: GossipValidator, handler: GossipHandler): void {
    const pubsub = this.host.services.pubsub;
    // Score the topic: without parameters gossipsub ignores REJECTs on it for scoring.
    const scoreParams = (pubsub as unknown as ScoredPubsub).score.params;
    if (scoreParams.topics[topic] === undefined) scoreParams.topics[topic] = fedmeshTopicScore();
    pubsub.topicValidators.set(topic, async (_peer, msg) => {
      // StrictSign rejects unsigned messages before this point; guard anyway.
      if (msg.type !== 'signed') return TopicValidatorResult.Reject;
      const m: GossipMessage = { topic: msg.topic, from: msg.from.toString(), data: msg.data };
      const verdict = await validator(m);
      countVerdict(this.verdicts, verdict);
      return VERDICT_TO_GOSSIPSUB[verdict.action];
    });
    this.handlers.set(topic, handler);
    pubsub.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    this.host.services.pubsub.unsubscribe(topic);
    this.host.services.pubsub.topicValidators.delete(topic);
    this.handlers.delete(topic);
  }

  async publish(topic: string, data: Uint8Array): Promise<void> {
    await this.host.services.pubsub.publish(topic, data);
  }

  subscribers(topic: string): string[] {
    return this.host.services.pubsub.getSubscribers(topic).map((p) => p.toString());
  }
}

export async function dialAll(host: Host, addrs: readonly string[]): Promise<void> {
  await Promise.all(addrs.map((a) => host.dial(multiaddr(a))));
}
