/**
 * Issue 17: "no log line at info level says who is being waited for". Three registered members,
 * two running (in-process daemons on a real `hardhat node` and real libp2p on loopback): the
 * running nodes say at info level that they wait for the absent member on the mesh (with a
 * deadline), and, once in the round, every 10 s which member is not connected and the round's
 * on-chain deadlines; /status shows the round's phase and stage, not `in-round` with nothing open.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { type LocalChainNode, startLocalChainNode } from '../../node/chain/local-node.js';
import { type NodeDaemon, startNodeDaemon } from '../../node/daemon/daemon.js';
import { createDevnet } from '../../node/devnet/devnet.js';
import { deployDevnet } from '../../node/devnet/up.js';
import { createLogger } from '../../node/logger.js';
import { freeBasePort, until } from '../e2e/harness.js';

let chain: LocalChainNode | undefined;
const daemons: NodeDaemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await chain?.close();
});

describe('the node says whom it waits for', () => {
  it('names the absent member at info level, on the mesh and in the round, with deadlines', async () => {
    chain = await startLocalChainNode(0);
    const devnet = await createDevnet({
      dir: join(mkdtempSync(join(tmpdir(), 'fm-waiting-')), 'net'),
      peers: 3,
      dataset: 'breast-cancer',
      seed: 5,
      rounds: 1,
      basePort: await freeBasePort(3),
      rpcUrl: chain.url,
      localEpochs: 1,
      scrypt: { N: 1 << 10, r: 8, p: 1 },
      timing: { meshWaitMs: 2_000, keysMs: 60_000, collectMs: 60_000 },
    });
    await deployDevnet(devnet.dir);
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const absent = devnet.nodes[2]!.peerId;
    for (const n of devnet.nodes.slice(0, 2))
      daemons.push(await startNodeDaemon({ config: n.config, log: createLogger('info', { node: n.index }, sink) }));

    const meshLine = await until('a mesh-wait line', 60_000, async () =>
      lines.find((l) => l.msg === 'waiting for members to join the mesh'),
    );
    expect(meshLine.waitingFor).toContain(absent);
    expect(Number.isNaN(Date.parse(String(meshLine.until)))).toBe(false);

    const roundLine = await until('a round-still-running line', 120_000, async () =>
      lines.find((l) => l.msg === 'round still running; members not connected'),
    );
    expect(roundLine.notConnected).toEqual([absent]);
    expect(roundLine.round).toBe(1);
    expect(Date.parse(String(roundLine.inputsUntil))).toBeGreaterThan(Date.now() - 3_600_000);
    const s = daemons[0]!.status();
    expect(s.round).toBe(1);
    expect(['in-round', 'waiting-for-open']).toContain(s.phase);
    if (s.phase === 'in-round') expect(['settling', 'running']).toContain(s.roundStage);
  }, 240_000);
});
