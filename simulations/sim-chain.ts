/**
 * The simulator's in-process chain, with block time kept at wall time.
 *
 * Hardhat stamps each block at least one second after the previous one by default, and keeps the
 * offset it gained: deploying FedmeshFederation and registering 64 members (65 transactions in
 * 0.27 s) left block time 62 s ahead of the wall clock, for good (scratch measurement,
 * 2026-12-07: 64 s ahead after the first `openRound`, still 64 s ahead after 3 s idle). Every
 * round's on-chain windows are block time, and the nodes map them onto their clocks as if block
 * time were wall time (node/services/round-abort.ts), so a 64-peer round lost a minute or more of
 * its finalize window: a run's round 1 certified its lock and then had its charge refused with
 * CHAIN_DEADLINE_PASSED 84 s before the nodes' own reading of the deadline (aborted, 0 inputs).
 *
 * With `allowBlocksWithSameTimestamp` blocks mined within one second share its timestamp, so
 * block time follows the wall clock (measured: 6.6 s behind it, steady, as on a public chain where
 * a block's time is its slot's start). `fedmesh simulate` (./experiment.ts) and `npm run
 * bench:sim` set it before the network starts; it has no effect once the in-process network runs
 * in this process. Tests keep Hardhat's default (their timings were calibrated with it).
 */
import { loadHardhat } from '../node/chain/hardhat.js';

export async function keepBlockTimeAtWallTime(): Promise<void> {
  const hre = await loadHardhat();
  (hre.network.config as { allowBlocksWithSameTimestamp?: boolean }).allowBlocksWithSameTimestamp = true;
}
