/**
 * Fault injection (issue #9 §4): the chain's RPC is unavailable for 30 s, twice, during a run
 * of separate `fedmesh node start` processes. Runs anywhere (no root): the nodes reach the
 * chain (`fedmesh chain start`) only through a TCP relay on 127.0.0.1 that the test stops —
 * every open connection reset, new ones refused, as for a crashed or unreachable endpoint —
 * and starts again on the same port.
 *
 *   outage A  from the moment round 1's finalize transaction is mined (polled every 100 ms):
 *             the members usually lose its receipt, retry, and must find the round finalized
 *             rather than send it again; then they open round 2 (a transaction) as the RPC
 *             returns. Sending with the RPC gone crashed a node before node/chain/resilient.ts
 *             SafeNonceManager (an unobserved nonce promise: an unhandled rejection).
 *   outage B  from the moment round 2 is open: its members train, mask, sign and try to
 *             finalize it with the RPC gone.
 *
 * Asserted: through each outage every node keeps running, keeps serving /status and reports
 * `chain.rpcUp: false`; afterwards every node reports the RPC up again and comes back through
 * the relay; rounds resume (a round opened after the outages finalizes) and every node ends on
 * the chain's head; no round has two RoundFinalized logs, round 2 is resolved exactly once, a
 * round is never both finalized and aborted, no node adopted or stored a model the chain did
 * not finalize for that round, and every round has exactly one successful finalizeRound
 * transaction. Printed (measured, not asserted): outage and recovery times, round times,
 * finalizeRound transactions per round (mined / reverted).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider, Network, type TransactionResponse } from 'ethers';
import { afterAll, describe, expect, it } from 'vitest';
import { EthersFederationClient, FEDMESH_FEDERATION_INTERFACE } from '../../node/chain/federation-ethers.js';
import { createDevnet } from '../../node/devnet/devnet.js';
import { deployDevnet, spawnFedmesh, startNodeProcess, waitForRpc } from '../../node/devnet/up.js';
import {
  doublyFinalized,
  freeBasePort,
  freePort,
  killAll,
  NodeSampler,
  roundEvents,
  sleep,
  TcpRelay,
  until,
  untilServing,
  waitExited,
} from './harness.js';

const PEERS = 3;
/**
 * The manifest's round numbers. Rounds 1 and 2 carry the outages; a round opened after them must
 * finalize. Two spare numbers: an aborted round uses up its number (node/daemon/daemon.ts), so
 * with three, one round aborted after the outages (a timing matter under load, not a safety one)
 * left the nodes done with no finalized round after them; a CI run on 0c2b55d timed out so,
 * waiting for round 3. What is asserted is unchanged: a round opened after the outages finalizes.
 */
const ROUNDS = 5;
const OUTAGE_MS = 30_000;

const children: ChildProcess[] = [];
let relay: TcpRelay | undefined;

afterAll(async () => {
  killAll(children);
  const exited = await waitExited(children);
  await relay?.stop();
  expect(exited).toBe(true); // every process the test started (chain, nodes) is gone
});

describe('chain RPC outage', () => {
  it(`${PEERS} node processes ride out two ${OUTAGE_MS / 1000} s RPC outages (finalize receipt lost; round open): retry, recover, no round finalized twice`, async () => {
    const t0 = Date.now();
    const dir = join(mkdtempSync(join(tmpdir(), 'fm-e2e-rpc-')), 'net');
    const rpcPort = await freePort();
    children.push(spawnFedmesh(['chain', 'start', '--port', String(rpcPort)], join(tmpdir(), `fm-e2e-rpc-chain-${rpcPort}.log`)));
    const chainId = await waitForRpc(`http://127.0.0.1:${rpcPort}`, 120_000);
    relay = new TcpRelay('127.0.0.1', '127.0.0.1', rpcPort);
    await relay.start();

    const devnet = await createDevnet({
      dir,
      peers: PEERS,
      dataset: 'breast-cancer',
      seed: 13,
      rounds: ROUNDS,
      basePort: await freeBasePort(PEERS),
      rpcUrl: relay.url,
      localEpochs: 1,
      scrypt: { N: 1 << 12, r: 8, p: 1 },
    });
    const deployment = await deployDevnet(dir, `http://127.0.0.1:${rpcPort}`);
    const address = deployment.addresses.FedmeshFederation;

    // The test reads the chain directly, never through the relay.
    const network = Network.from(chainId);
    const provider = new JsonRpcProvider(`http://127.0.0.1:${rpcPort}`, network, { staticNetwork: network, cacheTimeout: -1 });
    const fed = new EthersFederationClient(provider, address, { fromBlock: deployment.deployBlock });
    let sampler: NodeSampler | undefined;
    try {
      const procs = devnet.nodes.map((n) => startNodeProcess(dir, n.index));
      children.push(...procs);
      sampler = new NodeSampler(devnet.nodes.map((n) => ({ opsUrl: `http://127.0.0.1:${n.opsPort}`, stateDir: join(n.dir, 'state') })));
      const s = sampler;
      await untilServing(
        devnet.nodes.map((n, i) => ({
          opsUrl: `http://127.0.0.1:${n.opsPort}`,
          child: procs[i],
          log: join(dir, 'logs', `node-${n.index}.log`),
        })),
        300_000,
      );
      await until('the sampler seeing every node', 120_000, async () => (await s.sample()).every(Boolean));

      const opened = new Map<number, number>();
      const resolved = new Map<number, string>();
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const cur = await fed.currentRound().catch(() => 0);
          for (let r = 1; r <= cur; r++) {
            if (!opened.has(r)) opened.set(r, Date.now());
            if (!resolved.has(r)) {
              const st = await fed.getRound(r).catch(() => undefined);
              if (st !== undefined && st.status !== 'open')
                resolved.set(r, `${st.status} after ${((Date.now() - opened.get(r)!) / 1000).toFixed(1)} s`);
            }
          }
          await sleep(250);
        }
      })();

      /** One outage: relay down OUTAGE_MS; every node alive, serving /status, reporting the RPC down; then up again. */
      const outage = async (label: string): Promise<string> => {
        s.sawRpcDown.fill(false);
        const start = Date.now();
        await relay!.stop();
        await until(
          `every node reporting the RPC down (${label})`,
          OUTAGE_MS - 5_000,
          async () => (s.sawRpcDown.every(Boolean) ? true : undefined),
          250,
        );
        const down = await s.sample();
        await sleep(Math.max(0, OUTAGE_MS - (Date.now() - start)));
        expect(down.every(Boolean)).toBe(true); // /status answered through the outage
        for (const p of procs) expect(p.exitCode ?? p.signalCode).toBeNull(); // no node exited
        const accepted = relay!.accepted;
        await relay!.start();
        const end = Date.now();
        const upAt = await until(`every node reporting the RPC up again (${label})`, 60_000, async () =>
          (await s.sample()).every((st) => st?.chain.rpcUp === true) ? Date.now() : undefined,
        );
        await until(`the nodes back through the relay (${label})`, 30_000, async () => (relay!.accepted > accepted ? true : undefined));
        return `${label}: down ${((end - start) / 1000).toFixed(1)} s, rpcUp on all ${((upAt - end) / 1000).toFixed(1)} s after`;
      };

      // Outage A, between rounds: starts as round 1 is finalized, so the members try to open
      // round 2 (a transaction) with the RPC gone.
      await until('round 1 finalized', 180_000, async () => ((await fed.lastFinalizedRound()) >= 1 ? true : undefined), 100);
      const outageA = await outage('outage A (round 1 finalize mined)');
      // Outage B, mid-round: starts as soon as round 2 is open on chain, so its members train,
      // mask, sign and try to finalize it with the RPC gone.
      await until('round 2 opened', 120_000, async () => fed.getRound(2), 100);
      const bStart = fed.getRound(2);
      const outageB = outage('outage B (round 2 open)');
      expect((await bStart)?.status).toBe('open'); // the outage hits the round in flight
      const outageBReport = await outageB;
      // Rounds after 2 (open when outage B began) could only be opened once the relay was back: no
      // member reached the chain during the outage. (Reading currentRound() here raced with the
      // members opening round 3 right after the outage, and could point past the last round.)
      const roundAfter = 3;

      const final = await until(
        `every node done (${ROUNDS} round numbers used) and on the head`,
        420_000,
        async () => {
          if ((await fed.lastFinalizedRound()) < roundAfter) return undefined;
          const head = (await fed.headModelHash()).toLowerCase();
          const all = await s.sample();
          return all.every((st) => st?.phase === 'done' && st.model.hash === head) ? all : undefined;
        },
        500,
      );
      watching = false;
      await watcher;
      await s.stop();

      const ev = await roundEvents(provider, address, deployment.deployBlock);
      expect(doublyFinalized(ev)).toEqual([]);
      for (const f of ev.finalized) expect(ev.aborted.map((a) => a.round)).not.toContain(f.round);
      expect(s.violations(ev, (await fed.info()).initialModelHash)).toEqual([]);
      // Round 2, open when the RPC went away, was resolved on chain exactly once (finalized or
      // aborted: no member could reach the chain until the relay came back), and a round opened
      // after the outage finalized.
      expect([...ev.finalized, ...ev.aborted].filter((e) => e.round === 2)).toHaveLength(1);
      expect(ev.finalized.some((f) => f.round >= roundAfter)).toBe(true);
      for (const st of final) expect(st!.lastError).toBeUndefined();

      // finalizeRound transactions sent per round, mined or reverted (from every block's transactions).
      const finalizeTxs = new Map<number, { ok: number; reverted: number }>();
      const latest = await provider.getBlockNumber();
      for (let b = deployment.deployBlock; b <= latest; b++) {
        const block = await provider.getBlock(b, true);
        for (const tx of (block?.prefetchedTransactions ?? []) as TransactionResponse[]) {
          if (tx.to?.toLowerCase() !== address.toLowerCase()) continue;
          const parsed = FEDMESH_FEDERATION_INTERFACE.parseTransaction({ data: tx.data });
          if (parsed?.name !== 'finalizeRound') continue;
          const round = Number((parsed.args[0] as { round: bigint }).round);
          const receipt = await provider.getTransactionReceipt(tx.hash);
          const c = finalizeTxs.get(round) ?? { ok: 0, reverted: 0 };
          if (receipt?.status === 1) c.ok++;
          else c.reverted++;
          finalizeTxs.set(round, c);
        }
      }
      for (const [, c] of finalizeTxs) expect(c.ok).toBe(1);

      console.log(
        `[faults-rpc] ${PEERS} nodes; ${outageA}; ${outageBReport}; every node saw rpcUp=false and kept serving /status in both; ` +
          `rounds: ${[...resolved].map(([r, v]) => `${r} ${v}`).join('; ')}; ` +
          `finalizeRound txs per round (mined/reverted): ${[...finalizeTxs].map(([r, c]) => `${r}:${c.ok}/${c.reverted}`).join(' ')}; ` +
          `wall ${((Date.now() - t0) / 1000).toFixed(0)} s`,
      );
    } finally {
      await sampler?.stop();
      provider.destroy();
    }
  }, 900_000);
});
