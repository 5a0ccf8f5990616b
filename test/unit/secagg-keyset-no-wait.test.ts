/**
 * A key-set leader lacking a bad share no longer waits for the key deadline when it provably
 * cannot get it (issue #13 liveness; committee-member.ts `awaitingShares`,
 * machine/committee-stages.ts KEY_SET). Driven through `step` only (./attack-machine-driver.ts:
 * FIFO delivery, a manual clock that moves only when nothing is queued; opened at 1 000 ms, key
 * deadline 3 000 ms).
 *
 * peer-008 sends shares that do not open to positions 0–2 of (7, 5). Position 0 leads turn 0 and
 * will never hold its share. Once the three complaints (c + 1 = 3: at least one honest) reached
 * it, the participant is provably unusable and nothing is left to wait for: it proposes one leader
 * turn later (recordGraceMs, for the complaints to reach the endorsers too), before the key
 * deadline; every member endorses, and the round records the other eight. Before, it waited for "every
 * contributor's share" until the key deadline. Control: bad to position 0 only (one complaint,
 * not provable), position 0 still waits for the deadline — leaving the participant out then would
 * be refused by its holders (F12).
 */
import { describe, expect, it } from 'vitest';
import { SecAggKind, type SecAggMessage, type ShareKeysMsg } from '../../protocol/messages/secagg.js';
import type { RoundEvent } from '../../protocol/secure-aggregation/machine/index.js';
import { driveRound } from './attack-machine-driver.js';

const ATTACKER = 'peer-008';
const OPENED = 1_000;
const KEYS_DEADLINE = 3_000;
const GRACE = 1_000; // the driver's recordGraceMs

function run(victims: ReadonlySet<string>) {
  const proposals: { at: number; sender: string; turn: number; shared: readonly string[] }[] = [];
  const endorsedAt: number[] = [];
  const r = driveRound({
    seed: 'keyset-no-wait',
    n: 9,
    m: 7,
    t: 5,
    onEffect: (from, e, ctl) => {
      if (e.type !== 'publish') return false;
      const m = e.message;
      if (m.kind === SecAggKind.KeySetProposal) proposals.push({ at: ctl.now(), sender: from, turn: m.turn, shared: m.shared });
      if (m.kind === SecAggKind.KeySetEndorse) endorsedAt.push(ctl.now());
      if (m.kind === SecAggKind.ShareKeys && from === ATTACKER) {
        const spoiled: ShareKeysMsg = {
          ...m,
          shares: m.shares.map((s) =>
            victims.has(s.recipient) ? { ...s, ciphertext: s.ciphertext.map((b, k) => (k === 0 ? b ^ 1 : b)) } : s,
          ),
        };
        const event = (): RoundEvent => ({ type: 'received', now: ctl.now(), messages: [spoiled as SecAggMessage], inputs: [] });
        for (let i = 0; i < 9; i++) if (`peer-00${i}` !== from) ctl.push(`peer-00${i}`, event());
        return true;
      }
      return false;
    },
  });
  return { ...r, proposals, endorsedAt };
}

describe('key set: the leader stops waiting for a share it provably cannot get', () => {
  it('bad to positions 0–2: position 0 proposes before the key deadline, the key set is certified then, the round records the other eight', () => {
    const { proposals, endorsedAt, records } = run(new Set(['peer-000', 'peer-001', 'peer-002']));
    const first = proposals[0]!;
    expect(first).toMatchObject({ sender: 'peer-000', turn: 0 });
    expect(first.at).toBeLessThan(KEYS_DEADLINE);
    // Every message came at the open; one leader turn (recordGraceMs) later, for the complaints to spread.
    expect(first.at).toBe(OPENED + GRACE);
    expect(first.shared).not.toContain(ATTACKER);
    expect(first.shared).toHaveLength(8);
    expect(endorsedAt.filter((at) => at < KEYS_DEADLINE).length).toBeGreaterThanOrEqual(5);
    expect(records.length).toBeGreaterThanOrEqual(5);
    for (const x of records) expect(x.request.contributors).toEqual(first.shared);
  });

  it('control: bad to position 0 only (one complaint, not provable) — position 0 still waits for the key deadline', () => {
    const { proposals, records } = run(new Set(['peer-000']));
    const own = proposals.filter((p) => p.sender === 'peer-000');
    expect(own.length).toBeGreaterThan(0);
    expect(own[0]!.at).toBeGreaterThanOrEqual(KEYS_DEADLINE);
    // The round still completes (a later turn's leader holds the share), with all nine.
    expect(records.length).toBeGreaterThanOrEqual(5);
    expect(records[0]!.request.contributors).toContain(ATTACKER);
  });
});
