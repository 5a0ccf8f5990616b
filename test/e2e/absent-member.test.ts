/**
 * Liveness with an absent member (issue 17 item 6): a devnet of separate `fedmesh node start`
 * processes runs two rounds with every member up, then one member is kill -9ed and stays down.
 * Measured from the chain (RoundOpened/RoundFinalized polled every 200 ms) and printed: each
 * round's open→finalized time and the gap between finalizations, with and without the member.
 *
 * - 8 members (committee of 3, t = 2; the absent one is on some committees): three more rounds
 *   must finalize.
 * - 3 members (m = 3, t = 2: the absent one is on every committee): the next round must *abort*
 *   on chain with nothing revealed. Two survivors cannot be aggregated securely: with
 *   minNeighbours k = 2 a key set needs ≥ k + 1 = 3 participants that shared keys
 *   (committee-member.ts `keySetReady`), because with two inputs each survivor learns the other's
 *   update from the sum. So issue 17's "one of three stopped, rounds finalize within 2×" is out of
 *   reach under secure aggregation with the default floors, by design.
 *
 * Asserted: those outcomes, and that the survivors log at info level whom they wait for (members
 * not on the mesh) and until when. Round times are printed, not asserted (a loaded machine would
 * make a 2× bound flaky; docs/secure-aggregation.md "Dropouts" has the figures).
 *
 * FEDMESH_E2E_ABSENT=3 or 8 runs one size only.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider, Network } from 'ethers';
import { afterAll, describe, expect, it } from 'vitest';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import { createDevnet } from '../../node/devnet/devnet.js';
import { deployDevnet, spawnFedmesh, startNodeProcess, waitForRpc } from '../../node/devnet/up.js';
import { freeBasePort, freePort, killAll, until, untilServing } from './harness.js';

const BASELINE_ROUNDS = 2;
const ABSENT_ROUNDS = 3;
const ROUNDS = BASELINE_ROUNDS + ABSENT_ROUNDS;

const children: ChildProcess[] = [];
afterAll(() => killAll(children));

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function absentMemberRun(peers: number): Promise<void> {
  const dir = join(mkdtempSync(join(tmpdir(), `fm-e2e-absent-${peers}-`)), 'net');
  const rpcPort = await freePort();
  const rpcUrl = `http://127.0.0.1:${rpcPort}`;
  const basePort = await freeBasePort(peers);
  children.push(spawnFedmesh(['chain', 'start', '--port', String(rpcPort)], join(tmpdir(), `fm-e2e-absent-chain-${rpcPort}.log`)));
  const chainId = await waitForRpc(rpcUrl, 120_000);
  const devnet = await createDevnet({
    dir,
    peers,
    dataset: 'breast-cancer',
    seed: 5,
    rounds: ROUNDS,
    basePort,
    rpcUrl,
    localEpochs: 1,
    scrypt: { N: 1 << 12, r: 8, p: 1 },
  });
  const deployment = await deployDevnet(dir);
  const network = Network.from(chainId);
  const provider = new JsonRpcProvider(rpcUrl, network, { staticNetwork: network, cacheTimeout: -1 });
  const fed = new EthersFederationClient(provider, deployment.addresses.FedmeshFederation, { fromBlock: deployment.deployBlock });
  try {
    const nodes = devnet.nodes.map((n) => {
      const child = startNodeProcess(dir, n.index);
      children.push(child);
      return { ...n, child };
    });
    await untilServing(
      nodes.map((n) => ({ opsUrl: `http://127.0.0.1:${n.opsPort}`, child: n.child, log: join(dir, 'logs', `node-${n.index}.log`) })),
      300_000,
    );

    const opened = new Map<number, number>();
    const finalized = new Map<number, number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const [cur, fin] = await Promise.all([fed.currentRound(), fed.lastFinalizedRound()]).catch(() => [0, 0]);
        for (let r = 1; r <= cur!; r++) if (!opened.has(r)) opened.set(r, Date.now());
        for (let r = 1; r <= fin!; r++) if (!finalized.has(r)) finalized.set(r, Date.now());
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    // Baseline rounds with every member up; then member 0 stops for good (kill -9, as a crashed
    // or switched-off hospital server) right after round BASELINE_ROUNDS is finalized.
    await until(`round ${BASELINE_ROUNDS} finalized`, 300_000, async () => finalized.has(BASELINE_ROUNDS));
    const victim = nodes[0]!;
    process.kill(victim.child.pid!, 'SIGKILL');
    const stoppedAt = Date.now();
    const last = peers <= 3 ? BASELINE_ROUNDS + 1 : ROUNDS;
    await until(
      `round ${last} closed`,
      600_000,
      async () => {
        if (peers > 3) return finalized.has(last);
        const s = await fed.getRound(last);
        return s?.status === 'aborted' || s?.status === 'finalized';
      },
      500,
    );
    watching = false;
    await watcher;

    const committees = await Promise.all(Array.from({ length: last }, (_, i) => fed.getRound(i + 1)));
    const onCommittee = committees.map((c) => c!.committee.some((a) => a.toLowerCase() === victim.address.toLowerCase()));
    const openToFinal = (r: number) => (finalized.get(r)! - opened.get(r)!) / 1000;
    const gap = (r: number) => (finalized.get(r)! - (r === 1 ? opened.get(1)! : finalized.get(r - 1)!)) / 1000;
    const base = Array.from({ length: BASELINE_ROUNDS }, (_, i) => i + 1);
    const absent = Array.from({ length: last - BASELINE_ROUNDS }, (_, i) => BASELINE_ROUNDS + 1 + i).filter((r) => finalized.has(r));
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
    const ratio = absent.length > 0 ? median(absent.map(openToFinal)) / median(base.map(openToFinal)) : Number.NaN;
    const gapRatio = absent.length > 0 ? median(absent.map(gap)) / median(base.slice(1).map(gap)) : Number.NaN;
    console.log(
      `[absent-member e2e] ${peers} members, member 0 stopped after round ${BASELINE_ROUNDS}: ` +
        `open→finalized (s) ${fmt(base.map(openToFinal))} | ${fmt(absent.map(openToFinal))}; ` +
        `finalized→finalized (s) ${fmt(base.slice(1).map(gap))} | ${fmt(absent.map(gap))}; ` +
        `rounds ${committees.map((c, i) => `${i + 1}:${c!.status}${onCommittee[i] ? '(absent on committee)' : ''}`).join(' ')}; ` +
        `median ratio absent/normal: open→finalized ${ratio.toFixed(2)}, finalized→finalized ${gapRatio.toFixed(2)} (target ≤ 2)`,
    );
    if (peers <= 3) {
      // Two survivors: the key set cannot pass the k = 2 floor, the round aborts before any reveal.
      expect(committees[last - 1]!.status).toBe('aborted');
    } else {
      expect(await fed.lastFinalizedRound()).toBe(ROUNDS);
      for (let r = 1; r <= ROUNDS; r++) expect((await fed.getRound(r))?.status).toBe('finalized');
    }

    // At info level a survivor says whom the round waits for (members not connected) and until when.
    const log = readFileSync(join(dir, 'logs', 'node-1.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const waits = log.filter((l) => l.level === 30 && Array.isArray(l.waitingFor) && Date.parse(String(l.time)) > stoppedAt);
    expect(waits.length).toBeGreaterThan(0);
    expect(waits.some((l) => (l.waitingFor as string[]).includes(victim.peerId) && typeof l.until === 'string')).toBe(true);
  } finally {
    provider.destroy();
    killAll(children.splice(0));
  }
}

const only = process.env.FEDMESH_E2E_ABSENT;
describe('liveness with an absent member (separate node processes)', () => {
  it.skipIf(only !== undefined && only !== '3')(
    '3 members, one stopped: the next round aborts on chain (two survivors would learn each other from the sum)',
    () => absentMemberRun(3),
    900_000,
  );
  it.skipIf(only !== undefined && only !== '8')('8 members, one stopped: every round finalizes', () => absentMemberRun(8), 900_000);
});
