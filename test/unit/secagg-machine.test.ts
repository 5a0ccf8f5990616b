/**
 * The secure round machine (protocol/secure-aggregation/machine/), stage by stage: known events
 * in, expected effects and state out. Real role objects (test/unit/secagg-round-harness.ts);
 * the other parties' messages come from the harness's own role objects.
 */
import { describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { NO_DP_PARAMS } from '../../protocol/chain/dp-params.js';
import { type EndorseMsg, keySetDigest, type ResultMsg, SecAggKind, type SecAggMessage } from '../../protocol/messages/secagg.js';
import type { ModelWeights } from '../../protocol/model.js';
import { CommitteeStage } from '../../protocol/round.js';
import {
  CommitteePhase,
  committeeRole,
  createRoundState,
  Emit,
  onRecorded,
  ParticipantPhase,
  type ReceivedInput,
  ReceivedStore,
  type RoundEffect,
  type RoundEvent,
  type RoundMachineConfig,
  type RoundState,
  step,
} from '../../protocol/secure-aggregation/machine/index.js';
import { SecAggStage, scopeOf } from '../../protocol/secure-aggregation/index.js';
import { codeOf, config, testSign, testVerify } from './secagg-helpers.js';
import { certifyKeySet, maskInputs, type Round, setupRound } from './secagg-round-harness.js';

const GLOBAL: ModelWeights = { tensors: [{ shape: [3], data: new Float32Array(3) }] };
const HEAD = toHex0x(new Uint8Array(32).fill(9));
const KEYS_AT = 1_000; // openedAt 0 + keysMs
const COLLECT_AT = 10_000;
const GRACE = 1_000;

function round(): Round {
  return setupRound({ n: 6, m: 4, t: 3, config: config({ committeeSize: 4, threshold: 3 }) });
}

function cfgFor(r: Round, self: string, over: Partial<RoundMachineConfig> = {}): RoundMachineConfig {
  return {
    round: r.ctx.round,
    self,
    committee: r.committee,
    members: r.parties,
    threshold: r.ctx.threshold,
    position: r.committee.indexOf(self),
    openedAt: 0,
    keysMs: KEYS_AT,
    collectDeadline: COLLECT_AT,
    recordGraceMs: GRACE,
    config: r.ctx.config,
    head: HEAD,
    global: GLOBAL,
    sampleCount: 10,
    dropout: undefined,
    committeeKeysKnown: false,
    signsEntry: false,
    charges: false,
    admits: false,
    sign: testSign(self),
    verify: testVerify,
    ...over,
  };
}

type Untimed = RoundEvent extends infer E ? (E extends { now: number } ? Omit<E, 'now'> : never) : never;
const at = (now: number, e: Untimed): RoundEvent => ({ ...e, now }) as RoundEvent;
const received = (now: number, messages: readonly SecAggMessage[], inputs: readonly ReceivedInput[] = []): RoundEvent => ({
  type: 'received',
  now,
  messages,
  inputs,
});
const kinds = (effects: readonly RoundEffect[]): string[] =>
  effects.map((e) => (e.type === 'publish' ? `publish:${SecAggKind[e.message.kind]}` : e.type));
const published = <K extends SecAggKind>(effects: readonly RoundEffect[], kind: K) =>
  effects.flatMap((e) => (e.type === 'publish' && e.message.kind === kind ? [e.message as Extract<SecAggMessage, { kind: K }>] : []));
const logs = (effects: readonly RoundEffect[]) => effects.flatMap((e) => (e.type === 'log' ? [e] : []));
const counts = (effects: readonly RoundEffect[]) => effects.flatMap((e) => (e.type === 'count' ? [e.code] : []));

const digestOf = (m: unknown): Uint8Array => (m as EndorseMsg).digest;

function resultFrom(sender: string, r: Round): ResultMsg {
  const z = new Uint8Array(32);
  return {
    kind: SecAggKind.Result,
    federation: r.ctx.federation,
    round: r.ctx.round,
    sender,
    result: { prevModelHash: z, modelHash: z, participantsHash: z, totalSamples: 1 },
    signature: new Uint8Array(64),
  };
}

/** Every harness participant except `skip` shares its keys; every harness member collects adverts and shares. */
function harnessShares(r: Round, skip: readonly string[], extra: readonly SecAggMessage[] = [], machineMember?: string) {
  for (const [p, part] of r.participants) {
    if (skip.includes(p)) continue;
    for (const a of r.adverts) if (a.sender !== p) part.addAdvert(a);
    r.shares.push(part.shareKeys());
  }
  for (const x of extra) if (x.kind === SecAggKind.ShareKeys) r.shares.push(x);
  for (const [id, m] of r.members) {
    if (id === machineMember) continue;
    for (const a of r.adverts) m.addAdvert(a);
    m.beginShares();
    for (const s of r.shares) if (s.shares.some((x) => x.recipient === id)) m.addShareKeys(s);
  }
}

describe('secure round machine: participant stages', () => {
  it('start asks for training and a tick at openedAt + keysMs; a dropout after its keys trains nothing', () => {
    const r = round();
    const me = r.parties[5]!;
    const s = createRoundState(cfgFor(r, me), { participant: r.participants.get(me)! });
    expect(step(s, at(0, { type: 'start' })).effects).toEqual([{ type: 'train' }, { type: 'wake', at: KEYS_AT }]);

    const d = round();
    const s2 = createRoundState(cfgFor(d, me, { dropout: 'after-keys' }), { participant: d.participants.get(me)! });
    expect(step(s2, at(0, { type: 'start' })).effects).toEqual([{ type: 'wake', at: KEYS_AT }]);
    // Every member's advert: it shares its keys at once, then leaves (no training, no input).
    const fx = step(s2, received(5, d.adverts)).effects;
    expect(kinds(fx)).toEqual(['publish:ShareKeys', 'log']);
    expect(logs(fx)[0]).toMatchObject({ level: 'debug', msg: 'simulated dropout after sharing keys' });
    expect(s2.participant!.outcome).toEqual({ kind: 'done' });
    expect(d.participants.get(me)!.stage).toBe(SecAggStage.Failed);
  });

  it('shares keys as soon as every committee member advertised (not at keysMs); with identity-derived keys at once', () => {
    const r = round();
    const me = r.parties[5]!;
    const s = createRoundState(cfgFor(r, me), { participant: r.participants.get(me)! });
    step(s, at(0, { type: 'start' }));
    // Adverts from all but one committee member: still waiting for keysMs.
    const missing = r.committee[3]!;
    expect(
      kinds(
        step(
          s,
          received(
            10,
            r.adverts.filter((a) => a.sender !== missing),
          ),
        ).effects,
      ),
    ).toEqual([]);
    const fx = step(
      s,
      received(
        20,
        r.adverts.filter((a) => a.sender === missing),
      ),
    ).effects;
    expect(kinds(fx)).toEqual(['publish:ShareKeys']);
    expect(published(fx, SecAggKind.ShareKeys)[0]!.shares.map((x) => x.recipient)).toEqual([...r.committee].sort());
    expect(s.participant!.phase).toBe(ParticipantPhase.Training);

    const k = round();
    const s2 = createRoundState(cfgFor(k, me, { committeeKeysKnown: true }), { participant: k.participants.get(me)! });
    // Known committee keys but no adverts received: shareKeys needs the keys themselves, so the
    // role object refuses (no committeeKey dep here) — the machine does not wait for adverts.
    const fx2 = step(s2, at(0, { type: 'start' })).effects;
    expect(kinds(fx2)).toEqual(['train']);
    expect(s2.participant!.outcome).toMatchObject({ kind: 'thrown', error: { code: 'SECAGG_TOO_FEW_COMMITTEE' } });
  });

  it('at keysMs with fewer than t committee adverts: the role ends with SECAGG_TOO_FEW_COMMITTEE (thrown, as the old driver threw)', () => {
    const r = round();
    const me = r.parties[5]!;
    const s = createRoundState(cfgFor(r, me), { participant: r.participants.get(me)! });
    step(s, at(0, { type: 'start' }));
    step(
      s,
      received(
        10,
        r.adverts.filter((a) => a.sender === r.committee[0]),
      ),
    );
    expect(s.participant!.outcome).toBeUndefined();
    expect(step(s, at(KEYS_AT - 1, { type: 'tick' })).effects).toEqual([{ type: 'wake', at: KEYS_AT }]);
    step(s, at(KEYS_AT, { type: 'tick' }));
    expect(s.participant!.outcome).toMatchObject({ kind: 'thrown', error: { code: 'SECAGG_TOO_FEW_COMMITTEE' } });
    expect(r.participants.get(me)!.stage).toBe(SecAggStage.Failed);
  });

  it('masks with the certified U_2 only after training and the certificate; entry signature, then ledger charge, then the input leaves', () => {
    const r = round();
    const me = r.parties[5]!;
    const s = createRoundState(cfgFor(r, me, { signsEntry: true, charges: true }), { participant: r.participants.get(me)! });
    step(s, at(0, { type: 'start' }));
    const mine = published(step(s, received(5, r.adverts)).effects, SecAggKind.ShareKeys);
    harnessShares(r, [me], mine);
    const keySet = certifyKeySet(r);
    // The certificate before training: nothing yet (the machine waits for the trainer, not a timer).
    expect(kinds(step(s, received(30, [keySet.proposal, ...keySet.endorsements])).effects)).toEqual([]);
    const weights: ModelWeights = { tensors: [{ shape: [3], data: Float32Array.from([0.5, -0.25, 0.125]) }] };
    let fx = step(s, at(40, { type: 'trained', result: { loss: 0.5, weights: () => weights, dpParams: NO_DP_PARAMS } })).effects;
    expect(fx).toEqual([{ type: 'sign-entry', dpParams: NO_DP_PARAMS }]);
    const signature = new Uint8Array(65).fill(1);
    fx = step(s, at(50, { type: 'entry-signed', signature })).effects;
    expect(s.participant!.outcome).toBeUndefined();
    expect(fx).toEqual([{ type: 'charge', dpParams: NO_DP_PARAMS }]);
    fx = step(s, at(60, { type: 'charged' })).effects;
    expect(kinds(fx)).toEqual(['publish-input']);
    expect(s.participant!.outcome).toEqual({ kind: 'done', trainLoss: 0.5 });
    // What left: masked with exactly U_2 \ {me}, declaring the DP parameters and carrying the signature.
    const own = s.store.inputs.get(me)!.input;
    expect(own.neighbours).toEqual(r.parties.filter((p) => p !== me));
    expect(own.dpParams).toBe(NO_DP_PARAMS);
    expect(own.entrySignature).toEqual(signature);
  });

  it('an effect completion in a stage that did not ask for it is a typed STAGE_UNEXPECTED; after the role ended it is ignored', () => {
    const r = round();
    const me = r.parties[5]!;
    const s = createRoundState(cfgFor(r, me), { participant: r.participants.get(me)! });
    step(s, at(0, { type: 'start' }));
    expect(codeOf(() => step(s, at(1, { type: 'charged' })))).toBe('STAGE_UNEXPECTED');
    step(s, at(2, { type: 'failed', error: new Error('stopped'), stopped: true }));
    expect(step(s, at(3, { type: 'charged' })).effects).toEqual([]);
  });

  it('a result recorded by the committee while it waits for the key set: no input, no error', () => {
    const r = round();
    const me = r.parties[5]!;
    const s = createRoundState(cfgFor(r, me), { participant: r.participants.get(me)! });
    step(s, at(0, { type: 'start' }));
    step(s, received(5, r.adverts));
    step(s, at(6, { type: 'trained', result: { loss: 1.5, weights: () => GLOBAL } }));
    // One member's Result is not enough (F22): nothing ends; t agreeing ones are the committee's.
    expect(logs(step(s, received(7, [resultFrom(r.committee[0]!, r)])).effects)).toEqual([]);
    const fx = step(
      s,
      received(
        7,
        r.committee.slice(1, r.ctx.threshold).map((m) => resultFrom(m, r)),
      ),
    ).effects;
    expect(logs(fx).map((l) => l.msg)).toEqual(['round already recorded by the committee: no input from this peer']);
    expect(counts(fx)).toEqual([]);
    expect(s.participant!.outcome).toEqual({ kind: 'done', trainLoss: 1.5 });
  });

  it('no certified key set by the input deadline: counted SECAGG_NOT_CERTIFIED, logged at info, no input', () => {
    const r = round();
    const me = r.parties[5]!;
    const s = createRoundState(cfgFor(r, me), { participant: r.participants.get(me)! });
    step(s, at(0, { type: 'start' }));
    step(s, received(5, r.adverts));
    expect(step(s, at(6, { type: 'trained', result: { loss: 1, weights: () => GLOBAL } })).effects).toEqual([
      { type: 'wake', at: COLLECT_AT },
    ]);
    const fx = step(s, at(COLLECT_AT, { type: 'tick' })).effects;
    expect(counts(fx)).toEqual(['SECAGG_NOT_CERTIFIED']);
    expect(logs(fx)[0]).toMatchObject({ level: 'info', fields: { round: 7, code: 'SECAGG_NOT_CERTIFIED' } });
    expect(kinds(fx)).not.toContain('publish-input');
    expect(s.participant!.outcome).toEqual({ kind: 'done', trainLoss: 1 });
  });
});

describe('secure round machine: committee stages', () => {
  it('the turn-0 leader proposes as soon as every contributor shared — before keysMs — and endorses its own proposal', () => {
    const r = round();
    const me = r.committee[0]!;
    const member = r.members.get(me)!;
    const s = createRoundState(cfgFor(r, me), { member });
    expect(step(s, at(0, { type: 'start' })).effects).toEqual([{ type: 'wake', at: KEYS_AT }]);
    expect(kinds(step(s, received(5, r.adverts)).effects)).toEqual([]);
    for (const [p, part] of r.participants) {
      for (const a of r.adverts) if (a.sender !== p) part.addAdvert(a);
      r.shares.push(part.shareKeys());
    }
    const fx = step(s, received(10, r.shares)).effects;
    expect(kinds(fx)).toEqual(['publish:KeySetProposal', 'publish:KeySetEndorse']);
    const p = published(fx, SecAggKind.KeySetProposal)[0]!;
    expect(p.turn).toBe(0);
    expect(p.shared).toEqual([...r.parties].sort());
  });

  it('a turn-2 proposal that arrives early is held back (no refusal) and endorsed at the tick that starts turn 2', () => {
    const r = round();
    // Position 3: its own turn (3) comes after the one under test.
    const me = r.committee[3]!;
    const s = createRoundState(cfgFor(r, me), { member: r.members.get(me)! });
    step(s, at(0, { type: 'start' }));
    harnessShares(r, [], [], me);
    // Every advert and share in: turn 0's fast path is position 0's, not ours — nothing proposed here.
    step(s, received(5, [...r.adverts, ...r.shares]));
    const early = r.members.get(r.committee[2]!)!.proposeKeySet(2);
    let fx = step(s, received(10, [early])).effects;
    expect(kinds(fx)).toEqual([]);
    expect(counts(fx)).toEqual([]);
    // Woken at keysMs (turn 0), then at each turn start; still no endorsement before turn 2.
    fx = step(s, at(KEYS_AT, { type: 'tick' })).effects;
    expect(fx).toEqual([{ type: 'wake', at: KEYS_AT + GRACE }]);
    fx = step(s, at(KEYS_AT + GRACE, { type: 'tick' })).effects;
    expect(fx).toEqual([{ type: 'wake', at: KEYS_AT + 2 * GRACE }]);
    // Turn 2 starts: the early proposal is endorsed now, without any refusal logged or counted.
    fx = step(s, at(KEYS_AT + 2 * GRACE, { type: 'tick' })).effects;
    expect(kinds(fx)).toEqual(['publish:KeySetEndorse', 'wake']);
    expect(digestOf(published(fx, SecAggKind.KeySetEndorse)[0])).toEqual(keySetDigest(scopeOf(r.ctx), early.advertised, early.shared));
    expect(counts(fx)).toEqual([]);
  });

  it('no key set by the input deadline: abstains SECAGG_NOT_CERTIFIED, counted and logged at info, path collecting → failed', () => {
    const r = round();
    const me = r.committee[1]!;
    const s = createRoundState(cfgFor(r, me), { member: r.members.get(me)! });
    const all: RoundEffect[] = [...step(s, at(0, { type: 'start' })).effects];
    const wakes: number[] = [];
    for (let i = 0; i < 20 && s.committee!.outcome === undefined; i++) {
      const w = [...all].reverse().find((e) => e.type === 'wake') as { at: number } | undefined;
      wakes.push(w!.at);
      all.push(...step(s, at(w!.at, { type: 'tick' })).effects);
    }
    // Woken at keysMs, then at every leader turn, then at the input deadline — never in between.
    expect(wakes).toEqual([1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000, 10_000]);
    expect(s.committee!.outcome).toEqual({ kind: 'done', recorded: false, abstained: 'SECAGG_NOT_CERTIFIED' });
    expect(counts(all)).toEqual(['SECAGG_NOT_CERTIFIED']);
    expect(logs(all).filter((l) => l.level !== 'debug')).toMatchObject([
      { level: 'info', fields: { code: 'SECAGG_NOT_CERTIFIED', phase: 'key-set' } },
    ]);
    expect(s.committee!.stages.path).toEqual([CommitteeStage.Collecting, CommitteeStage.Failed]);
    expect(kinds(all).filter((k) => k.startsWith('publish'))).toEqual([]);
  });

  it('another member’s result during the key set: abstains as completed by others (info, not counted)', () => {
    const r = round();
    const me = r.committee[1]!;
    const s = createRoundState(cfgFor(r, me), { member: r.members.get(me)! });
    step(s, at(0, { type: 'start' }));
    // One member's Result ends nothing (F22); t agreeing members' Results do.
    step(s, received(10, [resultFrom(r.committee[0]!, r)]));
    expect(s.committee!.outcome).toBeUndefined();
    const others = r.committee.filter((m) => m !== me && m !== r.committee[0]).slice(0, r.ctx.threshold - 1);
    const fx = step(
      s,
      received(
        10,
        others.map((m) => resultFrom(m, r)),
      ),
    ).effects;
    expect(s.committee!.outcome).toEqual({ kind: 'done', recorded: false, abstained: 'SECAGG_TOO_FEW_VIEWS' });
    expect(counts(fx)).toEqual([]);
    expect(logs(fx).at(-1)).toMatchObject({
      level: 'info',
      msg: 'secure aggregation: round recorded by the other members first; committee member abstains',
    });
  });

  it('admission: every held input — one arriving during the checks too — is checked before the view; a refused one is counted, logged and left out', () => {
    const r = round();
    const me = r.committee[0]!;
    const s = createRoundState(cfgFor(r, me, { admits: true }), { member: r.members.get(me)! });
    step(s, at(0, { type: 'start' }));
    harnessShares(r, [], [], me);
    const fx1 = step(s, received(5, [...r.adverts, ...r.shares])).effects;
    const proposal = published(fx1, SecAggKind.KeySetProposal)[0]!;
    const endorsements: EndorseMsg[] = [...published(fx1, SecAggKind.KeySetEndorse)];
    for (const id of r.committee.slice(1)) {
      const e = r.members.get(id)!.onKeySetProposal(proposal, { now: 0, turnStart: () => 0 });
      if (e !== undefined) endorsements.push(e);
    }
    step(
      s,
      received(
        6,
        endorsements.filter((e) => e.sender !== me),
      ),
    );
    expect(s.committee!.phase).toBe(CommitteePhase.Inputs);
    maskInputs(r, { proposal, endorsements }, r.parties);
    const inputs = r.parties.map((p) => ({ sender: p, payloadHash: r.payloadHashes.get(p)!, input: r.payloads.get(p)! }));
    // All but the last input by the deadline: those are checked; the last arrives during the
    // checks and is checked too before the view (no unchecked input is ever in a view).
    const late = inputs.at(-1)!;
    expect(step(s, received(7, [], inputs.slice(0, -1))).effects).toEqual([]);
    const fx3 = step(s, at(COLLECT_AT, { type: 'tick' })).effects;
    const admits = (fx: readonly RoundEffect[]) => fx.flatMap((e) => (e.type === 'admit' ? [e.participant] : []));
    expect(admits(fx3)).toEqual(r.parties.slice(0, -1));
    const refused = r.parties[4]!;
    const answer = (p: string) =>
      step(s, at(COLLECT_AT + 1, { type: 'admitted', participant: p, refusal: p === refused ? 'BUDGET' : undefined })).effects;
    const answers = r.parties.slice(0, 2).map(answer);
    const fx4 = step(s, received(COLLECT_AT + 2, [], [late])).effects;
    expect(admits(fx4)).toEqual([late.sender]);
    answers.push(fx4, ...r.parties.map(answer).slice(2));
    // The view goes out only with the last answer, and without the refused input.
    expect(answers.slice(0, -1).flatMap((fx) => published(fx, SecAggKind.View))).toEqual([]);
    const view = published(answers.at(-1)!, SecAggKind.View)[0]!;
    expect(view.view.entries.map((e) => e.participant)).toEqual(r.parties.filter((p) => p !== refused));
    expect(answers.flatMap(counts)).toEqual(['SECAGG_INADMISSIBLE']);
    expect(answers.flatMap(logs).filter((l) => l.level === 'warn')).toMatchObject([
      { fields: { round: 7, participant: refused, reason: 'BUDGET' } },
    ]);
    expect(s.committee!.stages.stage).toBe(CommitteeStage.Aggregating);
  });

  it('recorded: announces when the record names our model, then signs the result; a different record is a warning and no announce', () => {
    for (const same of [true, false]) {
      const r = round();
      const me = r.committee[0]!;
      const store = new ReceivedStore();
      const role = committeeRole(r.members.get(me)!, store);
      role.stages.to(CommitteeStage.Aggregating);
      role.phase = CommitteePhase.Recording;
      const modelHash = toHex0x(new Uint8Array(32).fill(3));
      role.aggregate = {
        unmasked: { survivors: [{ participant: r.parties[0]!, inputHash: new Uint8Array(32) }], dropped: [], sum: new Uint32Array(8) },
        values: new Float64Array(3),
        totalSamples: 10,
        modelHash,
        payload: new Uint8Array([1, 2, 3]),
      };
      const out = new Emit(7, me, store);
      const c = { cfg: cfgFor(r, me), store, now: 50, out };
      onRecorded(role, c, true, same ? modelHash : toHex0x(new Uint8Array(32).fill(4)));
      expect(kinds(out.effects)).toEqual(same ? ['announce', 'publish:Result'] : ['log', 'publish:Result']);
      expect(role.stages.path).toEqual(
        same
          ? [
              CommitteeStage.Collecting,
              CommitteeStage.Aggregating,
              CommitteeStage.Recording,
              CommitteeStage.Announcing,
              CommitteeStage.Done,
            ]
          : [CommitteeStage.Collecting, CommitteeStage.Aggregating, CommitteeStage.Recording, CommitteeStage.Done],
      );
      expect(role.outcome).toEqual({ kind: 'done', recorded: true, survivors: 1, dropped: 0 });
      const result = published(out.effects, SecAggKind.Result)[0]!;
      expect(toHex0x(result.result.modelHash)).toBe(modelHash);
      expect(result.signature.length).toBeGreaterThan(0);
    }
  });

  it('a simulated dropout is silent until the input deadline; a stopped round ends the role with thrown', () => {
    const r = round();
    const me = r.committee[2]!;
    const s: RoundState = createRoundState(cfgFor(r, me, { dropout: 'after-input' }), { member: r.members.get(me)! });
    expect(step(s, at(0, { type: 'start' })).effects).toEqual([{ type: 'wake', at: COLLECT_AT }]);
    harnessShares(r, [], [], me);
    expect(kinds(step(s, received(5, [...r.adverts, ...r.shares])).effects)).toEqual([]);
    const fx = step(s, at(COLLECT_AT, { type: 'tick' })).effects;
    expect(logs(fx)).toMatchObject([{ level: 'debug', msg: 'simulated dropout: committee member silent' }]);
    expect(s.committee!.outcome).toEqual({ kind: 'done', recorded: false });
    expect(s.committee!.stages.path).toEqual([CommitteeStage.Collecting, CommitteeStage.Failed]);

    const r2 = round();
    const s2 = createRoundState(cfgFor(r2, r2.committee[1]!), { member: r2.members.get(r2.committee[1]!)! });
    step(s2, at(0, { type: 'start' }));
    const stop = new Error('stopped');
    step(s2, at(5, { type: 'failed', error: stop, stopped: true }));
    expect(s2.committee!.outcome).toEqual({ kind: 'thrown', error: stop });
    expect(r2.members.get(r2.committee[1]!)!.stage).toBe(SecAggStage.Failed);
  });
});
