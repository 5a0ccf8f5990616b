/**
 * Liveness under load (issue #13, H-flake's diagnosis): a key set certified after the input
 * deadline. Under load the endorsements that certify a key set reach members and participants
 * late; before, every member gave up for good at its input deadline (SECAGG_NOT_CERTIFIED) and
 * every participant sent nothing, although the chain would still have recorded the round. The
 * rule that fixed F21 applies: never give up for good at a local deadline while the chain can
 * still act. The round machine now follows a late key set until `followUntil` (the node passes the
 * round's on-chain finalize deadline).
 *
 * Schedule, on the machine driver's manual clock (attack-machine-driver.ts; open at 1 s, keysMs
 * 2 s, input deadline 11 s, grace 1 s): every key-set endorsement is delivered at 12 s, after the
 * input deadline. Safety is asserted on the same run: reveals for one lock only, and no
 * participant's b_i and s_i^SK both revealed to t members.
 */
import { describe, expect, it } from 'vitest';
import { bytesEqual, toHex0x } from '../../protocol/bytes.js';
import { decodeSecAgg, encodeSecAgg, type RevealMsg, SecAggKind } from '../../protocol/messages/secagg.js';
import type { RoundMachineConfig } from '../../protocol/secure-aggregation/machine/index.js';
import { type DriveResult, driveRound } from './attack-machine-driver.js';
import { ids } from './secagg-helpers.js';

const N = 7;
const M = 5;
const T = 3;
const ENDORSEMENTS_AT = 12_000;

function lateKeySet(extra: Partial<RoundMachineConfig>): DriveResult & { readonly revealed: readonly RevealMsg[] } {
  const reveals: RevealMsg[] = [];
  const result = driveRound({
    seed: 'late-keyset',
    n: N,
    m: M,
    t: T,
    extra,
    onEffect: (from, e, ctl) => {
      if (e.type !== 'publish') return false;
      if (e.message.kind === SecAggKind.Reveal) reveals.push(e.message);
      if (e.message.kind !== SecAggKind.KeySetEndorse) return false;
      // The network under load: this endorsement reaches every other party only at 12 s.
      const bytes = encodeSecAgg(e.message);
      for (const to of PARTIES)
        if (to !== from)
          ctl.hold(Math.max(ctl.now(), ENDORSEMENTS_AT), to, { type: 'received', now: 0, messages: [decodeSecAgg(bytes)], inputs: [] });
      return true;
    },
  });
  return { ...result, revealed: reveals };
}

/** The driver's parties (secagg-helpers `ids`); the hook needs them before the driver returns. */
const PARTIES = ids(N);

function assertSafe(r: { readonly revealed: readonly RevealMsg[] }): void {
  // One lock revealed for.
  const locks = new Set(r.revealed.map((x) => toHex0x(x.proposal)));
  expect(locks.size).toBeLessThanOrEqual(1);
  // Never both kinds for one participant (G1).
  for (const p of PARTIES) {
    const b = new Set(r.revealed.filter((x) => x.selfMaskShares.some((s) => s.participant === p)).map((x) => x.sender));
    const sk = new Set(r.revealed.filter((x) => x.keyShares.some((s) => s.participant === p)).map((x) => x.sender));
    expect(b.size >= T && sk.size >= T, `both kinds of ${p}`).toBe(false);
  }
}

describe('secure round liveness: a key set certified after the input deadline', () => {
  it('before (no followUntil): every member gives up at the input deadline and nothing is recorded', () => {
    const r = lateKeySet({});
    expect(r.records).toEqual([]);
    expect(r.revealed).toEqual([]);
    expect(r.codes.filter((c) => c === 'SECAGG_NOT_CERTIFIED').length).toBeGreaterThanOrEqual(M);
  });

  it('with followUntil (the chain still records the round): the members certify, every input counts, the round is recorded', () => {
    const r = lateKeySet({ followUntil: 60_000 });
    expect(r.records.length).toBeGreaterThanOrEqual(1);
    const models = new Set(r.records.map((x) => x.request.modelHash));
    expect(models.size).toBe(1);
    // All seven participants' inputs: each masked once it saw the late certificate.
    for (const x of r.records) expect([...x.request.contributors].sort()).toEqual(PARTIES);
    expect(r.codes).not.toContain('SECAGG_NOT_CERTIFIED');
    assertSafe(r);
    // The reveals name the lock the records were made under.
    expect(r.revealed.length).toBeGreaterThanOrEqual(T);
    expect(r.revealed.every((x) => bytesEqual(x.proposal, r.revealed[0]!.proposal))).toBe(true);
  });

  it('a chain deadline before the certificate still bounds the wait: nothing revealed, nothing recorded', () => {
    const r = lateKeySet({ followUntil: ENDORSEMENTS_AT - 500 });
    expect(r.records).toEqual([]);
    expect(r.revealed).toEqual([]);
    expect(r.codes).toContain('SECAGG_NOT_CERTIFIED');
  });
});
