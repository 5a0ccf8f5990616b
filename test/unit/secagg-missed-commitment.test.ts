/**
 * A committee member that missed one participant's ShareKeys message (so it holds neither its
 * share nor its commitment to b_i) while the leader's proposal — computed from t other
 * members' views — lists that participant as a survivor. The simulation lab's 32/64-peer
 * crash (SECAGG_UNKNOWN_KEY "no commitment from …" thrown by unmask after the member had
 * already revealed). Now the member refuses before revealing anything (SECAGG_CANNOT_FOLLOW),
 * the other members unmask the exact sum, and once the commitment arrives late
 * (learnCommitment, public data only) the member can follow, check b_i and unmask too.
 */
import { describe, expect, it } from 'vitest';
import { hash256 } from '../../protocol/bytes.js';
import { encodeMaskedInput, type MaskedInputPayload } from '../../protocol/messages/masked-input.js';
import type { AdvertiseKeysMsg, RevealMsg, ShareKeysMsg, ViewMsg } from '../../protocol/messages/secagg.js';
import {
  generateRoundKeys,
  ringFromIntegers,
  SecAggCommitteeMember,
  SecAggError,
  SecAggParticipant,
  type SecAggRoundContext,
  SecAggStage,
} from '../../protocol/secure-aggregation/index.js';
import { codeOf, config, crypto, entropies, ids, testSign, testVerify } from './secagg-helpers.js';

const cfg = config();
const SCALE = 2 ** cfg.fractionalBits;

/** 6 parties, committee = the first 5 (t = 3); `late` (a committee member) misses `missed`'s ShareKeys. */
function setup() {
  const parties = ids(6);
  const committee = parties.slice(0, 5);
  const ctx: SecAggRoundContext = { federation: 'missed', round: 3, committee, threshold: 3, config: cfg };
  const ent = entropies('missed-commitment');
  const keys = new Map(parties.map((p) => [p, generateRoundKeys(crypto, ent(p))]));
  const participants = new Map(
    parties.map((p) => [
      p,
      new SecAggParticipant(ctx, p, keys.get(p)!, { crypto, entropy: ent(p), sign: testSign(p), verify: testVerify }),
    ]),
  );
  const members = new Map(
    committee.map((p) => [
      p,
      new SecAggCommitteeMember(ctx, p, keys.get(p)!.encryption.secretKey, { crypto, sign: testSign(p), verify: testVerify }),
    ]),
  );
  const adverts: AdvertiseKeysMsg[] = parties.map((p) => participants.get(p)!.advertise());
  for (const p of parties) for (const a of adverts) if (a.sender !== p) participants.get(p)!.addAdvert(a);
  const shares: ShareKeysMsg[] = parties.map((p) => participants.get(p)!.shareKeys());
  for (const p of parties) for (const s of shares) if (s.sender !== p) participants.get(p)!.addShareKeys(s);
  const values = (p: string) => Float64Array.from({ length: 4 }, (_, k) => (parties.indexOf(p) + 1) * (k + 1));
  const inputs = new Map<string, { payload: MaskedInputPayload; hash: Uint8Array }>();
  for (const p of parties) {
    const payload = participants.get(p)!.maskInput(values(p), 10, new Uint8Array(32));
    inputs.set(p, { payload, hash: hash256(encodeMaskedInput(payload)) });
  }
  const held = [...inputs].map(([participant, x]) => ({ participant, inputHash: x.hash, neighbours: x.payload.neighbours }));
  const late = committee[4]!;
  const missed = parties[5]!;
  // Every member signs its view at the input deadline; `late` never received `missed`'s shares.
  const views = new Map<string, ViewMsg>();
  for (const id of committee) {
    const m = members.get(id)!;
    for (const a of adverts) m.addAdvert(a);
    m.beginShares();
    for (const s of shares) if (!(id === late && s.sender === missed)) m.addShareKeys(s);
    m.beginInputs();
    views.set(id, m.signView(held));
  }
  const expected = new Float64Array(5); // exact integers, compared as a Z_{2^64} vector
  for (const p of parties) {
    const v = values(p);
    for (let k = 0; k < 4; k++) expected[k] = expected[k]! + v[k]! * SCALE;
    expected[4] = expected[4]! + 10;
  }
  const masked = new Map([...inputs].map(([p, x]) => [p, x.payload.masked]));
  return { parties, committee, members, shares, views, held, late, missed, expected: [...ringFromIntegers(expected)], masked };
}

describe('a committee member without a survivor’s commitment', () => {
  it('refuses the proposal before revealing anything; t other members unmask the exact sum', () => {
    const f = setup();
    const leader = f.members.get(f.committee[0]!)!;
    const lateMember = f.members.get(f.late)!;
    expect(f.views.get(f.late)!.view.entries.map((e) => e.participant)).not.toContain(f.missed);
    // The leader proposes as soon as it holds t views (its own, 1 and 2): `late`'s view is not among them.
    for (const id of f.committee.slice(1, 3)) leader.addView(f.views.get(id)!);
    const p = leader.propose();
    expect(p.survivors).toContain(f.missed);
    // The late member holds every input (learnInput, as the node does while waiting).
    for (const h of f.held) lateMember.learnInput(h);

    let refusal: unknown;
    try {
      lateMember.onProposal(p);
    } catch (e) {
      refusal = e;
    }
    expect(refusal).toBeInstanceOf(SecAggError);
    expect((refusal as SecAggError).code).toBe('SECAGG_CANNOT_FOLLOW');
    expect((refusal as SecAggError).fields).toMatchObject({ reason: 'no-commitment', participants: [f.missed], proposer: p.sender });
    // Nothing followed, nothing revealed, still in UNMASK (it may follow a later proposal).
    expect(lateMember.followedDigest).toBeUndefined();
    expect(lateMember.stage).toBe(SecAggStage.Unmask);
    expect(codeOf(() => lateMember.unmask(f.masked))).toBe('SECAGG_BAD_PROPOSAL');

    // The other four follow; the leader unmasks with their reveals: the exact sum over all six.
    const reveals: RevealMsg[] = f.committee.slice(0, 4).map((id) => f.members.get(id)!.onProposal(p)!);
    for (const r of reveals) leader.addReveal(r);
    expect(leader.canUnmask()).toBe(true);
    expect([...leader.unmask(f.masked).sum]).toEqual(f.expected);
  });

  it('missingMaterial names what unmask would lack: a commitment for a survivor, keys for anyone', () => {
    const f = setup();
    const lateMember = f.members.get(f.late)!;
    expect(lateMember.missingMaterial(f.parties, [])).toEqual({ reason: 'no-commitment', participants: [f.missed] });
    expect(lateMember.missingMaterial(f.parties.slice(0, 5), [])).toBeUndefined();
    expect(lateMember.missingMaterial(f.parties.slice(0, 5), ['peer-999'])).toEqual({ reason: 'no-advert', participants: ['peer-999'] });
  });

  it('a late commitment (public, no share) lets the member follow, check b_i and unmask the same sum', () => {
    const f = setup();
    const leader = f.members.get(f.committee[0]!)!;
    const lateMember = f.members.get(f.late)!;
    for (const id of f.committee.slice(1, 3)) leader.addView(f.views.get(id)!);
    const p = leader.propose();
    for (const h of f.held) lateMember.learnInput(h);
    expect(codeOf(() => lateMember.onProposal(p))).toBe('SECAGG_CANNOT_FOLLOW');

    // The ShareKeys message arrives after the view: only its commitment is kept.
    lateMember.learnCommitment(f.shares.find((s) => s.sender === f.missed)!);
    expect(lateMember.shareHolders).not.toContain(f.missed);
    const mine = lateMember.onProposal(p)!;
    // It holds no share of `missed`, so it reveals none; never both kinds for anyone.
    expect(mine.selfMaskShares.map((s) => s.participant)).not.toContain(f.missed);
    expect(mine.keyShares).toEqual([]);

    const reveals = [mine, ...f.committee.slice(0, 3).map((id) => f.members.get(id)!.onProposal(p)!)];
    for (const r of reveals) lateMember.addReveal(r);
    expect(lateMember.canUnmask()).toBe(true);
    expect([...lateMember.unmask(f.masked).sum]).toEqual(f.expected);
  });

  it('a forged late commitment makes b_i fail its check: the member refuses to sum (no wrong sum)', () => {
    const f = setup();
    const leader = f.members.get(f.committee[0]!)!;
    const lateMember = f.members.get(f.late)!;
    for (const id of f.committee.slice(1, 3)) leader.addView(f.views.get(id)!);
    const p = leader.propose();
    for (const h of f.held) lateMember.learnInput(h);
    const real = f.shares.find((s) => s.sender === f.missed)!;
    lateMember.learnCommitment({ ...real, selfMaskCommitment: real.selfMaskCommitment.map((b) => b ^ 1) });
    const reveals = [lateMember.onProposal(p)!, ...f.committee.slice(0, 3).map((id) => f.members.get(id)!.onProposal(p)!)];
    for (const r of reveals) lateMember.addReveal(r);
    expect(codeOf(() => lateMember.unmask(f.masked))).toBe('SECAGG_TOO_FEW_SHARES');
  });
});
