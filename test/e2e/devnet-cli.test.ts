/**
 * The devnet commands as an operator runs them, each a separate `fedmesh` process:
 * `devnet` creates, `devnet up` starts a hardhat node, deploys and launches the nodes in the
 * background (logs in DIR/logs, PIDs in DIR/pids.json), the nodes finish the manifest's round,
 * `node status` reads one node's /status, and `devnet down` stops every recorded process.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../node/daemon/daemon.js';
import { type DevnetPids, isAlive, readPids, stopPids } from '../../node/devnet/up.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/fedmesh.mjs');
const fedmesh = (...args: string[]) => run(process.execPath, [BIN, ...args], { timeout: 180_000 });

function portFree(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

let pids: DevnetPids | undefined;
afterAll(async () => {
  // Whatever happened, nothing this test started keeps running.
  if (pids !== undefined) await stopPids([...pids.nodes.map((n) => n.pid), ...(pids.chain !== undefined ? [pids.chain] : [])], 2_000);
});

describe('fedmesh devnet up / node status / devnet down (CLI processes)', () => {
  it('starts a 3-node devnet in the background, finishes its round, and stops every recorded process', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fm-e2e-devnet-cli-')), 'net');
    let base = 0;
    for (;;) {
      base = 20_000 + Math.floor(Math.random() * 20_000);
      const ports = [base + 900, ...[0, 1, 2].flatMap((i) => [base + i, base + 100 + i])];
      if ((await Promise.all(ports.map(portFree))).every(Boolean)) break;
    }
    const rpc = `http://127.0.0.1:${base + 900}`;
    await fedmesh('devnet', '--dir', dir, '--peers', '3', '--rounds', '1', '--base-port', String(base), '--rpc', rpc);
    const { stdout } = await fedmesh('devnet', 'up', '--dir', dir);
    pids = readPids(dir);
    expect(stdout).toMatch(/devnet up: chain pid \d+, federation 0x[0-9a-fA-F]{40}, 3 nodes/);
    expect(pids!.nodes).toHaveLength(3);
    for (const p of [pids!.chain!, ...pids!.nodes.map((n) => n.pid)]) expect(isAlive(p)).toBe(true);
    const deployment = JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8'));
    const plan = JSON.parse(readFileSync(join(dir, 'deploy-plan.json'), 'utf8'));
    expect(deployment.manifestHash).toBe(plan.manifestHash);

    // Round 1 (the manifest's only round) finishes on every node.
    const deadline = Date.now() + 180_000;
    let statuses: NodeStatus[] = [];
    for (;;) {
      statuses = await Promise.all(
        [0, 1, 2].map((i) =>
          fetch(`http://127.0.0.1:${base + 100 + i}/status`)
            .then((r) => r.json() as Promise<NodeStatus>)
            .catch(() => undefined as unknown as NodeStatus),
        ),
      );
      if (statuses.every((s) => s?.phase === 'done')) break;
      if (Date.now() > deadline) throw new Error(`devnet did not finish: ${JSON.stringify(statuses.map((s) => s?.phase))}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(new Set(statuses.map((s) => s.model.hash)).size).toBe(1);
    expect(statuses.every((s) => s.roundsJoined.includes(1))).toBe(true);

    const status = JSON.parse((await fedmesh('node', 'status', '--dir', join(dir, 'node-1'))).stdout) as NodeStatus;
    expect(status.peerId).toBe(statuses[1]!.peerId);
    expect(status.model.hash).toBe(statuses[1]!.model.hash);
    for (const f of ['chain.log', 'node-0.log', 'node-1.log', 'node-2.log']) expect(existsSync(join(dir, 'logs', f))).toBe(true);

    const down = await fedmesh('devnet', 'down', '--dir', dir);
    // SIGTERM is enough: every node and the chain shut down gracefully within the grace period.
    expect(down.stdout).toMatch(/devnet down: 4 processes stopped \(0 needed SIGKILL\)/);
    for (const p of [pids!.chain!, ...pids!.nodes.map((n) => n.pid)]) expect(isAlive(p)).toBe(false);
    expect(existsSync(join(dir, 'pids.json'))).toBe(false);
  }, 420_000);
});
