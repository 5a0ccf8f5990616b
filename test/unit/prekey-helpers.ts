/**
 * Prekey test helpers (node/services/secagg-prekeys.ts over the in-memory gossip twin): a member's
 * prekey service, and the daemon's life of a member that ran from round 1 and then lost its
 * prekey state (red team F25).
 */
import type { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { seededEntropy } from '../../node/services/secagg-crypto.js';
import { MemoryPrekeyStore } from '../../node/services/secagg-prekey-store.js';
import { SecAggPrekeys } from '../../node/services/secagg-prekeys.js';
import { crypto, testSign, testVerify } from './secagg-helpers.js';
import { TEST_BINDING } from './secagg-round-harness.js';

/** `id`'s prekey service on `hub` (federation 'fed', every peer a member, no republish timer), started. */
export function prekeyNode(hub: MemoryGossipHub, id: string, store: MemoryPrekeyStore, tag: string): SecAggPrekeys {
  const p = new SecAggPrekeys(
    { federation: 'fed', binding: TEST_BINDING, republishMs: 0 },
    {
      gossip: hub.join(id),
      crypto,
      entropy: seededEntropy(`prekeys/${tag}`),
      sign: testSign(id),
      verify: testVerify,
      isMember: () => true,
      store,
    },
  );
  p.start();
  return p;
}

/**
 * `member` runs from round 1 and rounds 1 … `closed` close one by one (after each the daemon's
 * poll erases it and tops the window up: W keys ahead published, `receivers` learn them); then
 * its node is rebuilt with the same identity and an empty store. Returns the stopped node's last
 * key for round `closed` + 1 as `receivers[0]` holds it, and the rebuilt node (not topped up).
 */
export async function runThenLoseState(
  hub: MemoryGossipHub,
  member: string,
  receivers: readonly SecAggPrekeys[],
  closed: number,
  tag: string,
): Promise<{ lost: Uint8Array; after: SecAggPrekeys; store: MemoryPrekeyStore }> {
  const before = prekeyNode(hub, member, new MemoryPrekeyStore(), `${tag}/before`);
  await before.topUp(1);
  for (let r = 1; r <= closed; r++) {
    before.endedThrough(r);
    for (const x of receivers) x.endedThrough(r);
    await before.topUp(r + 1);
  }
  await hub.settle();
  const lost = receivers[0]!.keyFor(member, closed + 1)!;
  before.stop();
  hub.leave(member);
  const store = new MemoryPrekeyStore();
  return { lost, after: prekeyNode(hub, member, store, `${tag}/after`), store };
}
