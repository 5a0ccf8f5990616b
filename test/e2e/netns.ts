/**
 * A throw-away Linux network lab for the partition tests: one network namespace per node, each
 * joined to a bridge in the root namespace by a veth pair, all in a private /24 that this
 * helper creates (10.213.<x>.0/24, x random) and nothing else.
 *
 *   root namespace    bridge <id>b0 (10.213.x.1/24)   ← the tests serve the chain RPC here
 *                     bridge <id>b1 (no address)      ← the "other side" of a partition
 *   namespace <id>-i  eth0 10.213.x.(10+i)/24, lo     ← node i listens here
 *                     host side of its veth: <id>h<i>, a port of b0 (or b1 when partitioned)
 *
 * Faults, all on the host side so a node sees a real link failure:
 *   cut(i) / heal(i)        `ip link set <id>h<i> down|up` (the node's only link: peers and chain)
 *   partition(side)         moves the veths of `side` onto bridge b1; the host still answers
 *                           them (it replies to ARP for 10.213.x.1 on any interface, and gets
 *                           /32 routes to them through b1), so the chain stays reachable from
 *                           both halves while frames between the halves have no path
 *   healPartition()         moves them back and drops the /32 routes
 *   netem(delay, loss)      `tc qdisc … netem` on every host-side veth (needs sch_netem)
 *
 * Everything is named with a random prefix `fm<4 hex>` and removed by `destroy()`, which also
 * works half-way through `create()`; `leftovers()` lists whatever of ours is still there.
 * Needs root and iproute2; `netnsUnavailable()` says why not, for a clear skip.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';

/** Runs `ip`/`tc` and returns stdout; throws with the command and stderr on failure. */
export function sh(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why this machine cannot run the namespace tests, or undefined when it can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root (CI runs as root); run as root to include this test';
  if (!which('ip')) return '`ip` (iproute2) is not installed: apt-get install iproute2 (.ci/run does)';
  // Some containers run as root without CAP_SYS_ADMIN/CAP_NET_ADMIN: try it.
  const probe = `fmprobe${randomBytes(3).toString('hex')}`;
  try {
    sh('ip', ['netns', 'add', probe]);
  } catch (e) {
    return `cannot create a network namespace here (${(e as Error).message}); the container needs CAP_SYS_ADMIN and CAP_NET_ADMIN`;
  } finally {
    try {
      sh('ip', ['netns', 'del', probe]);
    } catch {
      // was never created
    }
  }
  return undefined;
}

/** True when `tc … netem` works here (the sch_netem module may be missing from the kernel). */
export function netemAvailable(lab: NetLab): boolean {
  if (!which('tc')) return false;
  const dev = lab.hostVeth(0);
  try {
    sh('tc', ['qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', '1ms']);
    sh('tc', ['qdisc', 'del', 'dev', dev, 'root']);
    return true;
  } catch {
    return false;
  }
}

export class NetLab {
  /** Random prefix of every name this lab creates: `fm` + 4 hex digits (link names ≤ 15 chars). */
  readonly id: string;
  /** First three octets of the lab's /24, e.g. `10.213.57`. */
  readonly net: string;
  readonly size: number;
  readonly #partitioned = new Set<number>();
  #created = false;

  private constructor(size: number) {
    this.id = `fm${randomBytes(2).toString('hex')}`;
    this.net = `10.213.${16 + (randomBytes(1)[0]! % 224)}`;
    this.size = size;
  }

  /** The host's address on the lab bridge: where the tests serve the chain's RPC. */
  get hostAddress(): string {
    return `${this.net}.1`;
  }
  bridge(k: 0 | 1): string {
    return `${this.id}b${k}`;
  }
  namespace(i: number): string {
    return `${this.id}-${i}`;
  }
  hostVeth(i: number): string {
    return `${this.id}h${i}`;
  }
  address(i: number): string {
    return `${this.net}.${10 + i}`;
  }

  /** Creates the bridges and `size` namespaces, each with its veth up and addressed. */
  static create(size: number): NetLab {
    if (!(Number.isInteger(size) && size >= 1 && size <= 200)) throw new RangeError(`lab size must be in [1, 200], got ${size}`);
    const lab = new NetLab(size);
    lab.#created = true;
    try {
      for (const k of [0, 1] as const) {
        sh('ip', ['link', 'add', lab.bridge(k), 'type', 'bridge']);
        sh('ip', ['link', 'set', lab.bridge(k), 'up']);
      }
      sh('ip', ['addr', 'add', `${lab.hostAddress}/24`, 'dev', lab.bridge(0)]);
      // Both bridges carry one fixed, locally administered MAC (a bridge otherwise takes its
      // lowest port's): a node moved across keeps a valid ARP entry for the host, so the chain
      // stays reachable at once (else ~20 s of timeouts until the entry goes stale).
      const mac = `02:${[...randomBytes(5)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
      for (const k of [0, 1] as const) sh('ip', ['link', 'set', lab.bridge(k), 'address', mac]);
      for (let i = 0; i < size; i++) {
        const ns = lab.namespace(i);
        const inner = `${lab.id}n${i}`;
        sh('ip', ['netns', 'add', ns]);
        sh('ip', ['link', 'add', lab.hostVeth(i), 'type', 'veth', 'peer', 'name', inner]);
        sh('ip', ['link', 'set', inner, 'netns', ns]);
        sh('ip', ['-n', ns, 'link', 'set', inner, 'name', 'eth0']);
        sh('ip', ['-n', ns, 'addr', 'add', `${lab.address(i)}/24`, 'dev', 'eth0']);
        sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
        sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        sh('ip', ['link', 'set', lab.hostVeth(i), 'master', lab.bridge(0)]);
        sh('ip', ['link', 'set', lab.hostVeth(i), 'up']);
      }
    } catch (e) {
      lab.destroy();
      throw e;
    }
    return lab;
  }

  /**
   * Spawns `command args` inside namespace i (`ip netns exec`), detached, output appended to
   * `logPath`. The child is `ip`, which execs the command in place: its PID is the command's.
   */
  spawn(i: number, command: string, args: readonly string[], logPath: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const fd = openSync(logPath, 'a');
    try {
      const child = spawn('ip', ['netns', 'exec', this.namespace(i), command, ...args], {
        detached: true,
        stdio: ['ignore', fd, fd],
        env,
      });
      child.unref();
      return child;
    } finally {
      closeSync(fd);
    }
  }

  /** Takes node i's link down on the host side: it loses peers and chain alike. */
  cut(i: number): void {
    sh('ip', ['link', 'set', this.hostVeth(i), 'down']);
  }
  heal(i: number): void {
    sh('ip', ['link', 'set', this.hostVeth(i), 'up']);
  }

  /** Splits the peers: `side` moves to bridge b1; the root namespace (the chain) still reaches both. */
  partition(side: readonly number[]): void {
    for (const i of side) {
      sh('ip', ['link', 'set', this.hostVeth(i), 'master', this.bridge(1)]);
      sh('ip', ['route', 'add', `${this.address(i)}/32`, 'dev', this.bridge(1), 'src', this.hostAddress]);
      this.#partitioned.add(i);
    }
  }
  healPartition(): void {
    for (const i of [...this.#partitioned]) {
      sh('ip', ['route', 'del', `${this.address(i)}/32`, 'dev', this.bridge(1)]);
      sh('ip', ['link', 'set', this.hostVeth(i), 'master', this.bridge(0)]);
      this.#partitioned.delete(i);
    }
  }

  /** Delay and loss on every host-side veth (egress toward the node; RTT ≈ 2 × delay between nodes). */
  netem(delayMs: number, lossPercent: number): void {
    for (let i = 0; i < this.size; i++) {
      sh('tc', ['qdisc', 'replace', 'dev', this.hostVeth(i), 'root', 'netem', 'delay', `${delayMs}ms`, 'loss', `${lossPercent}%`]);
    }
  }

  /**
   * Removes everything of ours: veths (which takes their namespace ends along), namespaces,
   * bridges (and the /32 routes through b1 with it). Kill the processes inside first: a
   * namespace with a live process outlives `ip netns del`. Best effort; never throws.
   */
  destroy(): void {
    if (!this.#created) return;
    const quiet = (args: string[]): void => {
      try {
        sh('ip', args);
      } catch {
        // not there (never created, or already gone)
      }
    };
    for (let i = 0; i < this.size; i++) quiet(['link', 'del', this.hostVeth(i)]);
    for (let i = 0; i < this.size; i++) quiet(['netns', 'del', this.namespace(i)]);
    for (const k of [0, 1] as const) quiet(['link', 'del', this.bridge(k)]);
  }

  /** Namespaces, links and routes of this lab that still exist (empty after a clean `destroy()`). */
  leftovers(): string[] {
    const ns = sh('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(`${this.id}-`));
    const links = sh('ip', ['-o', 'link', 'show'])
      .split('\n')
      .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
      .filter((n) => n.startsWith(this.id));
    const routes = sh('ip', ['route', 'show'])
      .split('\n')
      .filter((l) => l.startsWith(`${this.net}.`));
    return [...ns.map((n) => `netns ${n}`), ...links.map((l) => `link ${l}`), ...routes.map((r) => `route ${r}`)];
  }
}
