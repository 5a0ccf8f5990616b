/**
 * Shared pieces of the multi-process e2e tests (partition and fault tests): polling, a node's
 * /status, a TCP relay in front of the chain's RPC that the test can stop and start (an RPC
 * outage, or the chain on an address of a network lab), and the chain's round history read
 * straight from the contract's events.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { Contract, type Provider, type Result } from 'ethers';
import { FEDMESH_FEDERATION_INTERFACE } from '../../node/chain/federation-ethers.js';
import type { NodeStatus } from '../../node/daemon/daemon.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range; 32768 when it
 * cannot be read). Ports the tests pick for listeners stay below it: an outgoing connection of
 * any process on the machine (an RPC fetch, a libp2p dial of another test file running beside
 * this one) takes its local port from that range, so a listener port picked there can be taken
 * between the check and the node's `listen`, and the node then exits at start-up (a CI failure
 * of absent-member: 8 nodes "not serving /status").
 */
function ephemeralLow(): number {
  try {
    const low = Number.parseInt(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]!, 10);
    return Number.isInteger(low) && low > 2_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const portFree = (p: number, host: string): Promise<boolean> =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(p, host, () => s.close(() => resolve(true)));
  });

/** Ports picked below the ephemeral range, from 10000 up (see ephemeralLow). */
function randomListenPort(span: number): number {
  const lo = 10_000;
  const hi = Math.max(lo + span + 1, ephemeralLow() - span);
  return lo + Math.floor(Math.random() * (hi - lo));
}

/** A port nobody listens on now on `host`, below the ephemeral range. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const p = randomListenPort(1);
    if (await portFree(p, host)) return p;
  }
}

/** A base port b with b+i and b+100+i (i < peers) all free on 127.0.0.1 (a devnet's libp2p and ops ports), below the ephemeral range. */
export async function freeBasePort(peers: number): Promise<number> {
  for (;;) {
    const base = randomListenPort(100 + peers);
    const ports = Array.from({ length: peers }, (_, i) => [base + i, base + 100 + i]).flat();
    const free = await Promise.all(ports.map((p) => portFree(p, '127.0.0.1')));
    if (free.every(Boolean)) return base;
  }
}

/**
 * Waits until every node answers /status. Fails at once, naming the node and quoting the end of
 * its log, when one of the processes exits first (a port taken, a start-up refusal), and at the
 * deadline names the nodes still silent with their log tails, so a CI failure says why.
 */
export async function untilServing(
  nodes: readonly { readonly opsUrl: string; readonly child?: ChildProcess; readonly log?: string }[],
  timeoutMs: number,
): Promise<void> {
  const tail = (log: string | undefined): string => {
    if (log === undefined || !existsSync(log)) return '(no log)';
    return readFileSync(log, 'utf8').split('\n').slice(-8).join('\n');
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const up = await Promise.all(nodes.map((n) => statusAt(n.opsUrl).then(Boolean)));
    if (up.every(Boolean)) return;
    nodes.forEach((n, i) => {
      const c = n.child;
      if (!up[i] && c !== undefined && (c.exitCode !== null || c.signalCode !== null))
        throw new Error(
          `node ${i} exited (code ${c.exitCode}, signal ${c.signalCode}) before serving /status; its log ends:\n${tail(n.log)}`,
        );
    });
    if (Date.now() > deadline) {
      const silent = nodes.flatMap((n, i) => (up[i] ? [] : [`node ${i} (${n.opsUrl}):\n${tail(n.log)}`]));
      throw new Error(`timed out after ${timeoutMs} ms waiting for every node serving /status; silent:\n${silent.join('\n')}`);
    }
    await sleep(500);
  }
}

/** Polls `probe` until it returns a value (not undefined/false); throws naming `what` at the deadline. */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** GET <opsUrl>/status, or undefined when the node does not answer within 2 s. */
export async function statusAt(opsUrl: string): Promise<NodeStatus | undefined> {
  try {
    const res = await fetch(`${opsUrl}/status`, { signal: AbortSignal.timeout(2_000) });
    return res.ok ? ((await res.json()) as NodeStatus) : undefined;
  } catch {
    return undefined;
  }
}

/** SIGKILL every child still running (afterAll and failure paths). */
export function killAll(children: readonly ChildProcess[]): void {
  for (const c of children) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Resolves once every child has exited (or after `timeoutMs`). */
export async function waitExited(children: readonly ChildProcess[], timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) return true;
    await sleep(50);
  }
  return false;
}

/**
 * A TCP relay `listenHost:port` → `targetHost:targetPort` that the test controls. `stop()` is
 * an RPC outage as a client sees a crashed or unreachable endpoint: every open connection is
 * reset and new ones are refused until `start()` listens again on the same port.
 */
export class TcpRelay {
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #port = 0;
  /** Connections accepted (all time): shows the clients really went through the relay. */
  accepted = 0;

  constructor(
    readonly listenHost: string,
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  get port(): number {
    return this.#port;
  }
  get url(): string {
    return `http://${this.listenHost}:${this.#port}`;
  }
  get running(): boolean {
    return this.#server !== undefined;
  }

  async start(port = this.#port): Promise<void> {
    if (this.#server !== undefined) return;
    const server = createServer((client) => {
      this.accepted++;
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.listenHost, () => resolve());
    });
    this.#port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of this.#sockets) s.resetAndDestroy();
    this.#sockets.clear();
    await closed;
  }
}

export interface ChainRoundEvents {
  /** Every RoundFinalized log in block order: round and the model it finalized. */
  readonly finalized: readonly {
    readonly round: number;
    readonly modelHash: string;
    readonly recordHash: string;
    readonly block: number;
  }[];
  readonly aborted: readonly { readonly round: number; readonly block: number }[];
}

/** The federation's RoundFinalized and RoundAborted logs from `fromBlock`, straight from the chain. */
export async function roundEvents(provider: Provider, address: string, fromBlock: number): Promise<ChainRoundEvents> {
  const c = new Contract(address, FEDMESH_FEDERATION_INTERFACE, provider);
  const fin = await c.queryFilter(c.getEvent('RoundFinalized'), fromBlock);
  const ab = await c.queryFilter(c.getEvent('RoundAborted'), fromBlock);
  return {
    finalized: fin.map((l) => {
      const d = FEDMESH_FEDERATION_INTERFACE.parseLog(l)!;
      const rec = d.args.record as Result;
      return {
        round: Number(d.args.round),
        modelHash: String(rec.modelHash).toLowerCase(),
        recordHash: String(d.args.recordHash).toLowerCase(),
        block: l.blockNumber,
      };
    }),
    aborted: ab.map((l) => ({ round: Number(FEDMESH_FEDERATION_INTERFACE.parseLog(l)!.args.round), block: l.blockNumber })),
  };
}

/** Rounds that have more than one RoundFinalized log (must be empty: the contract finalizes a round once). */
export function doublyFinalized(ev: ChainRoundEvents): number[] {
  const seen = new Map<number, number>();
  for (const f of ev.finalized) seen.set(f.round, (seen.get(f.round) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([r]) => r);
}

/**
 * Polls every node in the background and keeps what each one ever reported: its /status
 * (latest answer; whether it ever saw the RPC down) and its adopted head, read from the
 * node's own store (`<stateDir>/head.json`, written by atomic rename after each adoption or
 * catch-up): round → model hashes. `violations()` compares them with the chain's finalized
 * models. (/status's model hash is not used for that: mid-round it is the local model.)
 */
export class NodeSampler {
  readonly latest: (NodeStatus | undefined)[];
  /** Per node: round → adopted model hashes seen in head.json. */
  readonly heads: Map<number, Set<string>>[];
  /** Per node: whether /status ever reported `chain.rpcUp: false`. */
  readonly sawRpcDown: boolean[];
  #running = true;
  readonly #loop: Promise<void>;

  constructor(
    readonly nodes: readonly { readonly opsUrl: string; readonly stateDir: string }[],
    everyMs = 500,
  ) {
    this.latest = nodes.map(() => undefined);
    this.heads = nodes.map(() => new Map());
    this.sawRpcDown = nodes.map(() => false);
    this.#loop = (async () => {
      while (this.#running) {
        await this.sample();
        await sleep(everyMs);
      }
    })();
  }

  async sample(): Promise<(NodeStatus | undefined)[]> {
    const all = await Promise.all(this.nodes.map((n) => statusAt(n.opsUrl)));
    all.forEach((s, i) => {
      this.latest[i] = s;
      if (s !== undefined && !s.chain.rpcUp) this.sawRpcDown[i] = true;
      const head = readHead(this.nodes[i]!.stateDir);
      if (head === undefined) return;
      const m = this.heads[i]!;
      if (!m.has(head.round)) m.set(head.round, new Set());
      m.get(head.round)!.add(head.modelHash.toLowerCase());
    });
    return all;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  /**
   * Every (node, round, hash) a node adopted that differs from the chain's model for that
   * round (`initial` for round 0), and every model file in a node's store that the chain never
   * finalized. Empty when no node ever held a model the chain did not finalize.
   */
  violations(ev: ChainRoundEvents, initial: string): string[] {
    const chain = new Map<number, string>([[0, initial.toLowerCase()], ...ev.finalized.map((f) => [f.round, f.modelHash] as const)]);
    const known = new Set(chain.values());
    const out: string[] = [];
    this.heads.forEach((m, i) => {
      for (const [round, hashes] of m) {
        for (const h of hashes)
          if (chain.get(round) !== h) out.push(`node ${i} adopted ${h} for round ${round}; chain: ${chain.get(round)}`);
      }
      const modelsDir = join(this.nodes[i]!.stateDir, 'models');
      const files = existsSync(modelsDir) ? readdirSync(modelsDir).filter((f) => f.endsWith('.fmwt')) : [];
      for (const f of files)
        if (!known.has(`0x${f.slice(0, -5).toLowerCase()}`)) out.push(`node ${i} stores model ${f} the chain never finalized`);
    });
    return out;
  }
}

/** A node's adopted head from its store, or undefined (none yet, or mid-rename). */
export function readHead(stateDir: string): { round: number; modelHash: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'head.json'), 'utf8')) as { round: number; modelHash: string };
  } catch {
    return undefined;
  }
}
