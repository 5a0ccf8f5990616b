/**
 * node/services/plain-round.ts: the node's driver of the plaintext strategy, over the real
 * RoundInbox on the in-memory gossip twin and a manual clock. The committee's only timer is the
 * machine's `wake`, a Clock.sleep: with two of three updates in, nothing is recorded until the
 * manual clock reaches the collect deadline (a driver on the system clock would never record
 * here). The participant signs its entry, is
 * charged and then publishes, in that order.
 *
 * The failure paths of the one driver loop both strategies run on (node/services/round-drive.ts
 * `driveRound`): an effect that fails mid-round ends the role through the machine (`failed`), a
 * failure of an ended role's last effect is the caller's (after the strategy's clean-up hook),
 * and a stopped round ends a waiting role as failed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { encodeDpParams } from '../../protocol/chain/dp-params.js';
import { encodeUpdate } from '../../protocol/messages/update.js';
import type { ModelWeights } from '../../protocol/model.js';
import { createPlainRoundState, type PlainRoundConfig } from '../../protocol/round-machine/index.js';
import { modelHash } from '../../protocol/weights-codec.js';
import type { Clock } from '../../node/clock.js';
import { createLogger } from '../../node/logger.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { runPlainCommittee, runPlainParticipant } from '../../node/services/plain-round.js';
import { driveRound } from '../../node/services/round-drive.js';
import { RoundInbox } from '../../node/services/round-inbox.js';
import type { RecordRequest, RoundRecorder } from '../../node/services/round-recorder.js';

const D = 3;
const GLOBAL: ModelWeights = { tensors: [{ shape: [D], data: new Float32Array(D) }] };
const HEAD = toHex0x(modelHash(GLOBAL));
const MEMBERS = ['peer-a', 'peer-b', 'peer-c'];
const ROUND = 2;
const OPENED_AT = 5_000;
const COLLECT_MS = 60_000;
const DP = encodeDpParams({ sampleRate: 0.1, noiseMultiplier: 1.1, clipNorm: 1, steps: 20 });

/** A clock that moves only when told to; sleeps resolve when it reaches their time. */
class ManualClock implements Clock {
  private t = OPENED_AT;
  private readonly sleepers: { at: number; resolve: () => void }[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const s = { at: this.t + Math.max(0, ms), resolve };
      this.sleepers.push(s);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.sleepers.indexOf(s);
          if (i >= 0) this.sleepers.splice(i, 1);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }
  /** Pending sleeps (the driver's wake among them). */
  get pending(): number {
    return this.sleepers.length;
  }
  advanceTo(at: number): void {
    this.t = at;
    for (const s of [...this.sleepers]) {
      if (s.at > at) continue;
      this.sleepers.splice(this.sleepers.indexOf(s), 1);
      s.resolve();
    }
  }
}

const weightsOf = (i: number): ModelWeights => ({
  tensors: [{ shape: [D], data: Float32Array.from({ length: D }, (_, k) => (i + k) / 8) }],
});
const log = createLogger('silent');

function inboxes(hub: MemoryGossipHub): Map<string, RoundInbox> {
  const out = new Map<string, RoundInbox>();
  for (const id of MEMBERS) {
    const inbox = new RoundInbox(hub.join(id), {
      federation: 'demo',
      isMember: (p) => MEMBERS.includes(p),
      isCommittee: () => true,
      template: GLOBAL,
      expectedBase: () => modelHash(GLOBAL),
      modelHash,
    });
    inbox.start();
    inbox.setRound(ROUND);
    out.set(id, inbox);
  }
  return out;
}

function cfg(self: string, over: Partial<PlainRoundConfig> = {}): PlainRoundConfig {
  return {
    mode: 'plaintext',
    plan: { round: ROUND, committee: MEMBERS, collectDeadline: OPENED_AT + COLLECT_MS },
    timing: { collectMs: COLLECT_MS, recordGraceMs: 1_000 },
    self,
    members: MEMBERS,
    position: MEMBERS.indexOf(self),
    head: HEAD,
    global: GLOBAL,
    sampleCount: 10,
    dropout: undefined,
    signsEntry: false,
    charges: false,
    admits: false,
    ...over,
  };
}

const stops: AbortController[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s.abort(new Error('test over'));
});

describe('plain-round driver (node/services/plain-round.ts)', () => {
  it('with two of three updates in, records only when the manual clock reaches the collect deadline', async () => {
    const hub = new MemoryGossipHub();
    const byId = inboxes(hub);
    const clock = new ManualClock();
    const requests: RecordRequest[] = [];
    let recorded!: () => void;
    const recordCalled = new Promise<void>((r) => {
      recorded = r;
    });
    const recorder: RoundRecorder = {
      record: async (req) => {
        requests.push(req);
        recorded();
        return {
          recorded: true,
          record: {
            round: req.round,
            prevModelHash: req.prevModelHash,
            modelHash: req.modelHash,
            participantCount: req.contributors.length,
            txHash: toHex0x(new Uint8Array(32)),
            blockNumber: 1,
            recorder: 'peer-a',
          },
        };
      },
    };
    const stop = new AbortController();
    stops.push(stop);
    const inbox = byId.get('peer-a')!;
    const committee = runPlainCommittee({ cfg: cfg('peer-a'), inbox, recorder, clock, log }, stop.signal);
    const payload = (i: number) => encodeUpdate({ baseModelHash: modelHash(GLOBAL), sampleCount: 10 + i, weights: weightsOf(i) });
    await byId.get('peer-a')!.publishUpdate(ROUND, payload(0));
    await byId.get('peer-b')!.publishUpdate(ROUND, payload(1));
    await hub.settle();
    await inbox.waitUntil(() => inbox.updatesFor(ROUND).size === 2, stop.signal);
    // The driver waits on its wake: one Clock.sleep pending, nothing recorded.
    await expect.poll(() => clock.pending, { timeout: 30_000 }).toBeGreaterThan(0);
    expect(requests).toHaveLength(0);
    clock.advanceTo(OPENED_AT + COLLECT_MS);
    await recordCalled;
    const result = await committee;
    expect(requests).toHaveLength(1);
    expect(requests[0]!.contributors).toEqual(['peer-a', 'peer-b']);
    expect(requests[0]!.turnAt).toBe(OPENED_AT + COLLECT_MS);
    expect(result).toEqual({ path: ['collecting', 'aggregating', 'recording', 'announcing', 'done'], recorded: true });
  });

  it('the participant: trains, signs its entry, is charged, then publishes', async () => {
    const hub = new MemoryGossipHub();
    const byId = inboxes(hub);
    const clock = new ManualClock();
    const calls: string[] = [];
    const inbox = byId.get('peer-b')!;
    const stop = new AbortController();
    stops.push(stop);
    const res = await runPlainParticipant(
      {
        cfg: cfg('peer-b', { signsEntry: true, charges: true }),
        inbox,
        recorder: { record: () => Promise.reject(new Error('a participant does not record')) },
        clock,
        log,
        signEntry: async (dp) => {
          calls.push(`sign ${dp}`);
          return new Uint8Array(65).fill(2);
        },
        beforePublish: (dp) => {
          calls.push(`charge ${dp} published=${inbox.updatesFor(ROUND).size}`);
        },
      },
      async () => {
        calls.push('train');
        return { loss: 0.25, weights: () => weightsOf(1), dpParams: DP };
      },
      stop.signal,
    );
    expect(res).toEqual({ trainLoss: 0.25 });
    expect(calls).toEqual(['train', `sign ${DP}`, `charge ${DP} published=0`]);
    const own = inbox.updatesFor(ROUND).get('peer-b')!;
    expect(own.update.dpParams).toBe(DP);
    expect(own.update.entrySignature).toEqual(new Uint8Array(65).fill(2));
    await hub.settle();
    expect(byId.get('peer-a')!.updatesFor(ROUND).get('peer-b')?.payloadHash).toEqual(own.payloadHash);
  });
});

describe('the one driver loop under failure (node/services/round-drive.ts)', () => {
  const noRecorder: RoundRecorder = { record: () => Promise.reject(new Error('a participant does not record')) };
  const trained = async () => ({ loss: 0.25, weights: () => weightsOf(1), dpParams: DP });

  it('an effect failing mid-round ends the role through the machine: the participant rejects with it and publishes nothing', async () => {
    const byId = inboxes(new MemoryGossipHub());
    const inbox = byId.get('peer-b')!;
    const stop = new AbortController();
    stops.push(stop);
    const ledgerDown = new Error('ledger down');
    const run = runPlainParticipant(
      {
        cfg: cfg('peer-b', { charges: true }),
        inbox,
        recorder: noRecorder,
        clock: new ManualClock(),
        log,
        beforePublish: () => {
          throw ledgerDown;
        },
      },
      trained,
      stop.signal,
    );
    await expect(run).rejects.toBe(ledgerDown);
    expect(inbox.updatesFor(ROUND).size).toBe(0);
  });

  it("a failure of an ended role's last effect is the caller's: the strategy's clean-up runs, then it is rethrown", async () => {
    const byId = inboxes(new MemoryGossipHub());
    const inbox = byId.get('peer-b')!;
    const gossipDown = new Error('gossip down');
    inbox.publishUpdate = () => Promise.reject(gossipDown);
    const stop = new AbortController();
    stops.push(stop);
    const state = createPlainRoundState(cfg('peer-b'), { participant: true });
    const order: string[] = [];
    const drive = driveRound({
      round: ROUND,
      state,
      ports: { inbox, recorder: noRecorder, clock: new ManualClock(), log },
      strategy: {
        count: (code) => order.push(`count ${code}`),
        feed: { notifier: inbox.notifier, next: () => undefined, arrived: () => false },
        onFailedAfterEnd: () => order.push('clean-up'),
      },
      signal: stop.signal,
      train: trained,
    });
    await expect(drive.finally(() => order.push('rejected'))).rejects.toBe(gossipDown);
    expect(order).toEqual(['clean-up', 'rejected']);
    // The role had ended with its update handed over: the machine's outcome is not rewritten.
    expect(state.participant!.outcome).toEqual({ kind: 'done', trainLoss: 0.25 });
  });

  it('a stopped round ends a waiting committee member as failed, with the stop as its error', async () => {
    const byId = inboxes(new MemoryGossipHub());
    const inbox = byId.get('peer-a')!;
    const clock = new ManualClock();
    const stop = new AbortController();
    stops.push(stop);
    const state = createPlainRoundState(cfg('peer-a'), { committee: true });
    const drive = driveRound({
      round: ROUND,
      state,
      ports: { inbox, recorder: noRecorder, clock, log },
      strategy: {
        count: () => {},
        feed: { notifier: inbox.notifier, next: () => undefined, arrived: () => false },
      },
      signal: stop.signal,
    });
    // Waiting on its wake (the collect deadline), no update in.
    await expect.poll(() => clock.pending, { timeout: 30_000 }).toBeGreaterThan(0);
    const reason = new Error('round closed on chain');
    stop.abort(reason);
    await drive;
    expect(state.committee!.outcome).toEqual({ kind: 'thrown', error: reason });
    expect(state.committee!.stages.path.at(-1)).toBe('failed');
  });
});
