/**
 * Partitions across real network stacks (issue #9 §5). Needs root and iproute2; skipped with
 * the reason otherwise (CI runs as root; .ci/run installs iproute2).
 *
 * PEERS `fedmesh node start` processes, each in its own Linux network namespace, joined by
 * veth pairs to a bridge in the root namespace (test/e2e/netns.ts; a private 10.213.x.0/24
 * the test creates). The chain (`fedmesh chain start`, on 127.0.0.1) is reached from every
 * namespace through a TCP relay the test runs on the bridge address 10.213.x.1. Nodes listen
 * (libp2p and ops) on their namespace address; the configs `fedmesh devnet` generated are
 * rewritten to those addresses.
 *
 *   1. Round 1 runs normally (its time is printed).
 *   2. Link cut: once the node outside round 2's committee has started round 2 (its round
 *      state is on disk), its veth is taken down. Rounds 2 and 3 finalize without it. The link
 *      comes back: the node catches up to the chain's head by fetching the model from a peer
 *      and takes part again within two rounds of that catch-up (it is in that round's on-chain
 *      participant list).
 *   3. Partition 2|2 (3|3 with FM_NETNS_PEERS=6): half the veths moved to a second bridge,
 *      the chain still reachable from both halves, until the round in flight is resolved on
 *      chain (finalized or aborted); then healed, and a later round finalizes with every node
 *      back on the chain's head; every node runs one of the two rounds after the heal itself.
 *
 * Asserted throughout: one RoundFinalized per round, and no node ever adopted or stored a
 * model the chain did not finalize for that round (head.json sampled every 0.5 s, the model
 * store read at the end). Cleanup (afterAll, also on failure): every process killed, every
 * namespace, veth, bridge and route removed, and checked.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider, Network } from 'ethers';
import { afterAll, describe, expect, it } from 'vitest';
import { EthersFederationClient } from '../../node/chain/federation-ethers.js';
import { createDevnet, type DeployPlan } from '../../node/devnet/devnet.js';
import { deployDevnet, FEDMESH_BIN, spawnFedmesh, waitForRpc } from '../../node/devnet/up.js';
import { doublyFinalized, freePort, killAll, NodeSampler, readHead, roundEvents, TcpRelay, until, waitExited } from './harness.js';
import { NetLab, netemAvailable, netnsUnavailable } from './netns.js';

/** 4 by default (about 3 min on 2 cores); FM_NETNS_PEERS=6 runs the 3|3 variant. */
const PEERS = Number(process.env.FM_NETNS_PEERS ?? 4);
if (!(Number.isInteger(PEERS) && PEERS >= 4 && PEERS <= 8))
  throw new RangeError(`FM_NETNS_PEERS must be an integer in [4, 8], got ${process.env.FM_NETNS_PEERS}`);
/** Never reached: the test stops the nodes once it has seen what it needs. */
const ROUNDS = 20;
const LIBP2P_PORT = 4001;
const OPS_PORT = 9464;

const skip = netnsUnavailable();
if (skip !== undefined) console.warn(`[partition-netns] SKIPPED: ${skip}`);

const children: ChildProcess[] = [];
let lab: NetLab | undefined;
let relay: TcpRelay | undefined;

afterAll(async () => {
  killAll(children);
  const exited = await waitExited(children);
  await relay?.stop();
  if (lab !== undefined) {
    lab.destroy();
    // Namespace teardown is asynchronous in the kernel: give it a moment, then check.
    const left = await until('the lab removed', 15_000, async () => (lab!.leftovers().length === 0 ? true : undefined)).catch(() =>
      lab!.leftovers(),
    );
    console.log(
      `[partition-netns] cleanup: ${left === true ? `nothing of ${lab.id} left (ip netns list, ip link, ip route)` : `LEFT: ${String(left)}`}`,
    );
    expect(left).toBe(true);
  }
  expect(exited).toBe(true); // every process the test started (chain, nodes) is gone
});

describe.skipIf(skip !== undefined)('partitions across Linux network namespaces', () => {
  // One retry: a known, documented weakness (docs/threat-model.md: the 2 s leave grace can cut an
  // honest node whose aggregate is late after a heal) can make a run miss a round; a retry starts
  // from a fresh lab, chain and devnet, and both attempts' output stays in the log.
  it(`${PEERS} node processes in namespaces: a cut link heals and catches up; a half|half partition never finalizes two models for a round`, {
    retry: 1,
    timeout: 900_000,
  }, async () => {
    if (lab !== undefined) {
      // A previous attempt failed: tear its processes and lab down before building a new one.
      killAll(children);
      await waitExited(children);
      children.length = 0;
      await relay?.stop();
      relay = undefined;
      lab.destroy();
      lab = undefined;
    }
    const t0 = Date.now();
    lab = NetLab.create(PEERS);
    const dir = join(mkdtempSync(join(tmpdir(), 'fm-e2e-netns-')), 'net');

    // The chain on loopback, reached from the namespaces through the relay on the bridge address.
    const rpcPort = await freePort();
    children.push(spawnFedmesh(['chain', 'start', '--port', String(rpcPort)], join(tmpdir(), `fm-e2e-netns-chain-${rpcPort}.log`)));
    const chainId = await waitForRpc(`http://127.0.0.1:${rpcPort}`, 120_000);
    relay = new TcpRelay(lab.hostAddress, '127.0.0.1', rpcPort);
    await relay.start();

    const devnet = await createDevnet({
      dir,
      peers: PEERS,
      dataset: 'breast-cancer',
      seed: 11,
      rounds: ROUNDS,
      basePort: LIBP2P_PORT,
      rpcUrl: relay.url,
      localEpochs: 1,
      scrypt: { N: 1 << 12, r: 8, p: 1 },
      // A cut node is silent: keep the waits for it short (the rounds still tolerate it).
      timing: { keysMs: 4_000, collectMs: 12_000, meshWaitMs: 6_000 },
    });
    // Every node on its namespace address: libp2p listen, bootstrap list and ops endpoint.
    for (const n of devnet.nodes) {
      let yaml = readFileSync(n.config, 'utf8');
      for (const m of devnet.nodes)
        yaml = yaml.replaceAll(`/ip4/127.0.0.1/tcp/${LIBP2P_PORT + m.index}/`, `/ip4/${lab.address(m.index)}/tcp/${LIBP2P_PORT}/`);
      yaml = yaml.replaceAll(`"/ip4/127.0.0.1/tcp/${LIBP2P_PORT + n.index}"`, `"/ip4/${lab.address(n.index)}/tcp/${LIBP2P_PORT}"`);
      yaml = yaml.replace(/\n {2}host: 127\.0\.0\.1\n {2}port: \d+\n/, `\n  host: ${lab.address(n.index)}\n  port: ${OPS_PORT}\n`);
      if (process.env.FM_E2E_DEBUG === '1') yaml = yaml.replace('level: info', 'level: debug');
      expect(yaml).not.toContain('127.0.0.1');
      writeFileSync(n.config, yaml);
    }
    // Shorter contract windows than the devnet's 40 + 40 s: an aborted partition round ends sooner.
    const planPath = join(dir, 'deploy-plan.json');
    const plan = JSON.parse(readFileSync(planPath, 'utf8')) as DeployPlan;
    writeFileSync(planPath, JSON.stringify({ ...plan, inputDurationSec: 30, finalizeDurationSec: 25 }));
    const deployment = await deployDevnet(dir);

    const network = Network.from(chainId);
    const provider = new JsonRpcProvider(`http://127.0.0.1:${rpcPort}`, network, { staticNetwork: network, cacheTimeout: -1 });
    const address = deployment.addresses.FedmeshFederation;
    const fed = new EthersFederationClient(provider, address, { fromBlock: deployment.deployBlock });
    const opsUrl = (i: number): string => `http://${lab!.address(i)}:${OPS_PORT}`;
    let sampler: NodeSampler | undefined;
    try {
      const logs = join(dir, 'logs');
      mkdirSync(logs, { recursive: true });
      const procs = devnet.nodes.map((n) =>
        lab!.spawn(n.index, process.execPath, [FEDMESH_BIN, 'node', 'start', '--dir', n.dir], join(logs, `node-${n.index}.log`)),
      );
      children.push(...procs);
      sampler = new NodeSampler(devnet.nodes.map((n) => ({ opsUrl: opsUrl(n.index), stateDir: join(n.dir, 'state') })));
      const s = sampler;
      await until('every node serving /status on its namespace address', 120_000, async () => (await s.sample()).every(Boolean));
      const startupS = (Date.now() - t0) / 1000;

      // Round timing from the chain (polled every 250 ms).
      const opened = new Map<number, number>();
      const resolved = new Map<number, number>();
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const cur = await fed.currentRound().catch(() => 0);
          for (let r = 1; r <= cur; r++) {
            if (!opened.has(r)) opened.set(r, Date.now());
            if (!resolved.has(r)) {
              const st = await fed.getRound(r).catch(() => undefined);
              if (st !== undefined && st.status !== 'open') resolved.set(r, Date.now());
            }
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      const roundSeconds = (r: number): string =>
        opened.has(r) && resolved.has(r) ? ((resolved.get(r)! - opened.get(r)!) / 1000).toFixed(1) : '?';
      const finalizedAtLeast = (r: number, timeoutMs: number) =>
        until(`round ${r} finalized`, timeoutMs, async () => ((await fed.lastFinalizedRound()) >= r ? true : undefined), 500);

      // 1. A normal round.
      await finalizedAtLeast(1, 180_000);

      // 2. Cut the link of the node outside round 2's committee once it has started round 2.
      const round2 = await until('round 2 opened', 120_000, async () => fed.getRound(2));
      const committee = new Set(round2.committee.map((a) => a.toLowerCase()));
      const victim = devnet.nodes.find((n) => !committee.has(n.address.toLowerCase()))!;
      await until(
        `node ${victim.index} started round 2`,
        60_000,
        async () => existsSync(join(victim.dir, 'state', 'rounds', '2.json')),
        20,
      );
      lab.cut(victim.index);
      const cutAt = Date.now();
      await finalizedAtLeast(3, 240_000);
      const cutStatus = await s.sample();
      expect(cutStatus[victim.index]).toBeUndefined(); // unreachable: its only link is down
      lab.heal(victim.index);
      const healedAt = Date.now();
      const cutSeconds = (healedAt - cutAt) / 1000;

      // The cut node catches up to the head by artifact fetch from a peer, then takes part again.
      const caught = await until('the cut node back on the chain head', 120_000, async () => {
        const st = s.latest[victim.index];
        const head = (await fed.headModelHash()).toLowerCase();
        return st !== undefined && st.model.hash === head && st.catchUps.some((c) => c.round >= 3) ? st : undefined;
      });
      const catchUpS = (Date.now() - healedAt) / 1000;
      const fetched = caught.catchUps.find((c) => c.round >= 3)!;
      expect(devnet.nodes.map((n) => n.peerId)).toContain(fetched.from);
      // It takes part again: a round it ran itself whose on-chain participant list holds its
      // input. A round joined late (its input missed the committee) does not count, so wait for
      // the first that does; it must come within two rounds of the catch-up — a peer that missed
      // a round's messages leaves it once the chain finalizes it (node/peer.ts) instead of
      // sitting out its own deadlines.
      const victimAddress = victim.address.toLowerCase();
      const rejoined = await until(
        'the healed node takes part in a round',
        240_000,
        async () => {
          for (const r of s.latest[victim.index]?.roundsJoined.filter((x) => x > fetched.round) ?? []) {
            const rec = await fed.getFinalizedRound(r);
            if (rec?.record.participants.some((p) => p.member.toLowerCase() === victimAddress)) return r;
          }
          return undefined;
        },
        500,
      );
      expect(rejoined).toBeLessThanOrEqual(fetched.round + 2);

      // 3. Partition half|half (the chain reachable from both halves) until the round in flight is
      // resolved on chain, then heal.
      const side = Array.from({ length: PEERS - Math.floor(PEERS / 2) }, (_, k) => Math.floor(PEERS / 2) + k);
      const finBefore = await fed.lastFinalizedRound();
      const cur = await fed.currentRound();
      const partitionRound = (await fed.getRound(cur))?.status === 'open' ? cur : cur + 1;
      lab.partition(side);
      const partitionedAt = Date.now();
      const duringPartition = await until(
        `round ${partitionRound} resolved during the partition`,
        180_000,
        async () => {
          const st = await fed.getRound(partitionRound).catch(() => undefined);
          return st !== undefined && st.status !== 'open' ? st.status : undefined;
        },
        500,
      );
      const partitionS = (Date.now() - partitionedAt) / 1000;
      const finAtHeal = await fed.lastFinalizedRound();
      lab.healPartition();
      const healedPartitionAt = Date.now();

      // Rounds resume: a round after the heal finalizes, and every node adopts it (its stored
      // head reaches that round with the chain's hash: by taking part or by catching up).
      const resumed = await until('a round finalized after healing', 240_000, async () => {
        const fin = await fed.lastFinalizedRound();
        return fin > finAtHeal ? fin : undefined;
      });
      const resumedHash = (await fed.getFinalizedRound(resumed))!.record.modelHash.toLowerCase();
      await until(`every node adopted round ${resumed}`, 240_000, async () =>
        devnet.nodes.every((n) => {
          const h = readHead(join(n.dir, 'state'));
          return h !== undefined && h.round >= resumed && (h.round > resumed || h.modelHash.toLowerCase() === resumedHash);
        })
          ? true
          : undefined,
      );
      const resumeS = (Date.now() - healedPartitionAt) / 1000;
      // Every node takes part again (runs a round to adoption itself) within two rounds of the
      // heal: the minority half leaves the round it could not finish and joins the next.
      const firstJoined = await until('every node takes part in a round after the heal', 240_000, async () => {
        const sts = await s.sample();
        const firsts = sts.map((st) => st?.roundsJoined.find((r) => r > finAtHeal));
        return firsts.every((r) => r !== undefined) ? (firsts as number[]) : undefined;
      });
      for (const r of firstJoined) expect(r).toBeLessThanOrEqual(finAtHeal + 2);

      // Optional: 50 ms each way on every link, 1% loss; one more round timed.
      let netem = 'not measured: tc netem unavailable here (kernel lacks sch_netem)';
      if (netemAvailable(lab)) {
        lab.netem(50, 1);
        const r = resumed + 1;
        await finalizedAtLeast(r, 240_000);
        netem = `round ${r}: ${roundSeconds(r)} s with netem delay 50ms loss 1% on every veth`;
      }

      watching = false;
      await watcher;
      await s.stop();
      const ev = await roundEvents(provider, address, deployment.deployBlock);
      expect(doublyFinalized(ev)).toEqual([]);
      expect(s.violations(ev, plan.initialModelHash)).toEqual([]);
      // Every round up to the last finalized one is either finalized once or aborted, never both.
      for (const f of ev.finalized) expect(ev.aborted.map((a) => a.round)).not.toContain(f.round);
      for (const p of procs) expect(p.exitCode).toBeNull();
      const postHeal = await Promise.all(
        ev.finalized
          .filter((f) => f.round > finAtHeal)
          .map(async (f) => `${f.round}(${(await fed.getFinalizedRound(f.round))!.record.participants.length})`),
      );
      const tookPart = (await s.sample()).filter((st) => st?.roundsJoined.some((r) => r > finAtHeal)).length;

      console.log(
        `[partition-netns] ${PEERS} nodes in namespaces ${lab.namespace(0)}..${PEERS - 1} on ${lab.net}.0/24; startup ${startupS.toFixed(1)} s; ` +
          `round 1 open→finalized ${roundSeconds(1)} s; round 2 (link cut) ${roundSeconds(2)} s, round 3 ${roundSeconds(3)} s; ` +
          `node ${victim.index} cut ${cutSeconds.toFixed(1)} s, heal→on head ${catchUpS.toFixed(1)} s (artifact ${fetched.ms} ms), rejoined round ${rejoined}; ` +
          `partition {0..${Math.floor(PEERS / 2) - 1}}|{${side.join(',')}} from finalized ${finBefore}: round ${partitionRound} ${duringPartition} after ${partitionS.toFixed(1)} s; ` +
          `heal→round ${resumed} adopted by every node ${resumeS.toFixed(1)} s; rounds after the heal (participants): ${postHeal.join(' ')}, nodes that took part in one: ${tookPart}/${PEERS} (first: ${firstJoined.join(',')}); finalized ${ev.finalized.map((f) => f.round).join(',')}, ` +
          `aborted ${ev.aborted.map((a) => a.round).join(',') || 'none'}; ${netem}; relay connections ${relay.accepted}; wall ${((Date.now() - t0) / 1000).toFixed(0)} s`,
      );
    } finally {
      await sampler?.stop();
      provider.destroy();
    }
  });
});
