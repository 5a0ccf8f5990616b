/**
 * Fuzz targets: every decoder, validator and state-machine transition in protocol/ (issue #9 §3).
 *
 * Each target is a fast-check arbitrary and a function over its values. The property, checked
 * by `runCase`, is the one the threat model promises for hostile input: the function returns
 * (the input was handled) or throws a FedmeshError with a stable code (the input was rejected,
 * typed). Anything else — a TypeError, a RangeError, an untyped throw, a hang — is a defect.
 *
 * Inputs are of three kinds: random bytes (or values), mutated valid messages (bit flips,
 * insertions, deletions, truncations, overwrites of a valid encoding), and valid messages
 * delivered out of order, duplicated or mutated to the state machines.
 *
 * Used by test/fuzz/fuzz.test.ts (a small slice in `npm test`) and test/fuzz/run.ts
 * (`npm run fuzz`, ≥ 10^5 cases, per-target counts).
 */
import fc from 'fast-check';
import { hash256, toHex0x } from '../../protocol/bytes.js';
import { NO_DP_PARAMS, decodeDpParams, declaredSpend, encodeDpParams } from '../../protocol/chain/dp-params.js';
import { addPacked, decodePacked, encodeRdp, ONCHAIN_RDP_ORDERS, rdpFromPacked } from '../../protocol/chain/budget.js';
import { carriedInto, type StudySpend } from '../../protocol/audit/privacy.js';
import { affordableRounds } from '../../protocol/privacy/affordable-rounds.js';
import { selectCommitteeOnChain } from '../../protocol/chain/committee.js';
import { canonicalRoundRecord, type OnChainRoundRecord } from '../../protocol/chain/record.js';
import { Reassembler, splitPayload } from '../../protocol/chunking.js';
import { selectCommittee } from '../../protocol/committee.js';
import { FedmeshError } from '../../protocol/errors.js';
import { canonicalJson, manifestHash, parseManifest } from '../../protocol/manifest.js';
import { decodeArtifactRequest, decodeArtifactResponseHeader, encodeArtifactRequest } from '../../protocol/messages/artifact.js';
import { type Chunk, decodeChunk, encodeChunk, PayloadType } from '../../protocol/messages/chunk.js';
import { decodeFinalizeSignature, encodeFinalizeSignature } from '../../protocol/messages/finalize.js';
import { decodeMaskedInput, encodeMaskedInput } from '../../protocol/messages/masked-input.js';
import { decodeSecAgg, encodeSecAgg, type SecAggMessage, SecAggKind } from '../../protocol/messages/secagg.js';
import { decodeAnyAggregate, decodeUpdate, encodeAggregate, encodeSecureAggregate, encodeUpdate } from '../../protocol/messages/update.js';
import type { ModelWeights } from '../../protocol/model.js';
import { recordHash } from '../../protocol/record.js';
import { committeeMachine, participantMachine } from '../../protocol/round.js';
import { SecAggCommitteeMember } from '../../protocol/secure-aggregation/committee-member.js';
import { SecAggParticipant } from '../../protocol/secure-aggregation/participant.js';
import { generateRoundKeys } from '../../protocol/secure-aggregation/round-keys.js';
import {
  checkPrekeyPoints,
  decodePrekeyBundle,
  encodePrekeyBundle,
  PrekeyDirectory,
  signPrekeyBundle,
  verifyPrekeyBundle,
} from '../../protocol/secure-aggregation/prekeys.js';
import { SecAggStage, secAggMachine } from '../../protocol/secure-aggregation/stages.js';
import { validateChunk, validateFinalizeSignature, validateSecAggMessage } from '../../protocol/validate.js';
import { decodeWeights, encodeWeights } from '../../protocol/weights-codec.js';
import { config, crypto, entropies, testSign, testVerify } from '../unit/secagg-helpers.js';
import { TEST_BINDING } from '../unit/secagg-round-harness.js';
import { TURN_ZERO } from '../../protocol/secure-aggregation/committee-member.js';

export interface FuzzTarget<T = unknown> {
  readonly name: string;
  /** Share of the total run budget (relative). */
  readonly weight: number;
  readonly arbitrary: fc.Arbitrary<T>;
  /** Handle one input; may throw FedmeshError only. Returns a label for the tally ('ok' by default). */
  readonly run: (input: T) => unknown;
}

/**
 * The outcome of one case: the target's label (or 'ok') when it returned, `throw:<code>` when
 * it threw a typed FedmeshError. Anything untyped is rethrown: the property fails.
 */
export function runCase<T>(t: FuzzTarget<T>, input: T): string {
  try {
    const label = t.run(input);
    return typeof label === 'string' ? label : 'ok';
  } catch (e) {
    if (e instanceof FedmeshError) return `throw:${e.code}`;
    throw e;
  }
}

// ─── Mutation of valid encodings ────────────────────────────────────────────────────────

type Mutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly byte: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'delete'; readonly at: number; readonly count: number }
  | { readonly op: 'truncate'; readonly at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(0, 1, 0x7f, 0x80, 0xfe, 0xff) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

export function mutate(bytes: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = bytes.slice();
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.op === 'insert' ? 1 : 0));
    switch (m.op) {
      case 'flip':
        if (b.length > 0) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'set':
        if (b.length > 0) b[at] = m.byte;
        break;
      case 'insert': {
        const out = new Uint8Array(b.length + m.bytes.length);
        out.set(b.subarray(0, at));
        out.set(m.bytes, at);
        out.set(b.subarray(at), at + m.bytes.length);
        b = out;
        break;
      }
      case 'delete':
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.count)]);
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
    }
  }
  return b;
}

/** Random bytes, or a mutated valid encoding drawn from `valid`. */
function hostileBytes(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) },
    { weight: 1, arbitrary: valid },
    {
      weight: 4,
      arbitrary: fc.tuple(valid, fc.array(mutationArb, { minLength: 1, maxLength: 4 })).map(([b, ms]) => mutate(b, ms)),
    },
  );
}

// ─── Valid values ───────────────────────────────────────────────────────────────────────

const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const peerId = fc.constantFrom('alice', 'bob', 'carol', 'dave', '12D3KooWabc', 'x'.repeat(128));
const federationId = fc.constantFrom('demo', 'fz', 'a', 'x'.repeat(64));

const weightsArb: fc.Arbitrary<ModelWeights> = fc
  .array(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 3 }), { minLength: 1, maxLength: 3 })
  .chain((shapes) =>
    fc.tuple(
      ...shapes.map((shape) => {
        const size = shape.reduce((a, b) => a * b, 1);
        return fc
          .array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: size, maxLength: size })
          .map((vals) => ({ shape, data: Float32Array.from(vals) }));
      }),
    ),
  )
  .map((tensors) => ({ tensors }));

const TEMPLATE: ModelWeights = {
  tensors: [
    { shape: [2, 2], data: new Float32Array(4) },
    { shape: [2], data: new Float32Array(2) },
  ],
};
const templateWeights = fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 6, maxLength: 6 }).map((v) => ({
  tensors: [
    { shape: [2, 2], data: Float32Array.from(v.slice(0, 4)) },
    { shape: [2], data: Float32Array.from(v.slice(4)) },
  ],
}));

const chunkArb: fc.Arbitrary<Chunk> = fc
  .record({
    type: fc.constantFrom(PayloadType.Update, PayloadType.Aggregate, PayloadType.MaskedInput),
    federation: federationId,
    round: fc.integer({ min: 1, max: 2 ** 40 }),
    sender: peerId,
    payloadHash: hash32,
    data: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    chunkCount: fc.integer({ min: 1, max: 4 }),
    chunkIndex: fc.nat(3),
  })
  .map((c) => ({ ...c, payloadLength: c.data.length * c.chunkCount, chunkIndex: c.chunkIndex % c.chunkCount }));

const finalizeArb = fc
  .record({ federation: federationId, round: fc.integer({ min: 0, max: 2 ** 40 }), author: peerId, digest: hash32 })
  .chain((f) => fc.uint8Array({ minLength: 65, maxLength: 65 }).map((signature) => encodeFinalizeSignature({ ...f, signature })));

const updateArb = fc
  .record({ baseModelHash: hash32, sampleCount: fc.integer({ min: 1, max: 1000 }), weights: templateWeights })
  .map((u) => encodeUpdate(u));

const participantsArb = fc
  .uniqueArray(peerId, { minLength: 1, maxLength: 4 })
  .chain((ids) =>
    fc.tuple(
      ...[...ids]
        .sort()
        .map((participant) =>
          fc.record({ participant: fc.constant(participant), sampleCount: fc.integer({ min: 1, max: 99 }), updateHash: hash32 }),
        ),
    ),
  );

const aggregateArb = fc.oneof(
  fc.record({ prevModelHash: hash32, participants: participantsArb, weights: templateWeights }).map((a) => encodeAggregate(a)),
  fc
    .record({
      prevModelHash: hash32,
      totalSamples: fc.integer({ min: 1, max: 1000 }),
      participants: fc
        .uniqueArray(peerId, { minLength: 1, maxLength: 4 })
        .chain((ids) =>
          fc.tuple(...[...ids].sort().map((participant) => fc.record({ participant: fc.constant(participant), inputHash: hash32 }))),
        ),
      weights: templateWeights,
    })
    .map((a) => encodeSecureAggregate(a)),
);

const maskedArb = fc
  .record({
    baseModelHash: hash32,
    neighbours: fc.uniqueArray(peerId, { maxLength: 4 }).map((n) => [...n].sort()),
    masked: fc.array(fc.nat({ max: 0xffffffff }), { minLength: 8, maxLength: 8 }).map((w) => Uint32Array.from(w)), // 4 Z_{2^64} elements
  })
  .map((m) => encodeMaskedInput(m));

// ─── A secure-aggregation transcript: valid messages of one small round ──────────────────

/** p0, p1, p2 form the committee (t = 2); p0…p3 contribute. */
const PARTIES = ['p0', 'p1', 'p2', 'p3'];
const COMMITTEE = ['p0', 'p1', 'p2'];
const SA_CTX = {
  binding: TEST_BINDING,
  federation: 'fz',
  round: 1,
  committee: COMMITTEE,
  threshold: 2,
  config: config({ committeeSize: 3, threshold: 2, maliciousMembers: 0, minNeighbours: 1 }),
};

interface Transcript {
  /** Each party's c^SK, copied before the participants wipe their round keys. */
  readonly encryptionSecrets: ReadonlyMap<string, Uint8Array>;
  readonly messages: readonly SecAggMessage[];
  /** Encoded masked inputs, by participant. */
  readonly inputs: ReadonlyMap<string, Uint8Array>;
}

function buildTranscript(): Transcript {
  const ent = entropies('fuzz-transcript');
  const keys = new Map(PARTIES.map((p) => [p, generateRoundKeys(crypto, ent(`keys/${p}`))]));
  const encryptionSecrets = new Map([...keys].map(([p, k]) => [p, k.encryption.secretKey.slice()]));
  const parts = new Map(
    PARTIES.map((p) => [
      p,
      new SecAggParticipant(SA_CTX, p, keys.get(p)!, { crypto, entropy: ent(p), sign: testSign(p), verify: testVerify }),
    ]),
  );
  // Members take their decryption key now: participants wipe their round keys once used.
  const members = COMMITTEE.map(
    (id) => new SecAggCommitteeMember(SA_CTX, id, keys.get(id)!.encryption.secretKey, { crypto, sign: testSign(id), verify: testVerify }),
  );
  const messages: SecAggMessage[] = [];
  const adverts = [...parts.values()].map((p) => p.advertise());
  messages.push(...adverts);
  for (const p of parts.values()) for (const a of adverts) if (a.sender !== p.self) p.addAdvert(a);
  const shares = [...parts.values()].map((p) => p.shareKeys());
  messages.push(...shares);
  for (const m of members) {
    for (const a of adverts) m.addAdvert(a);
    m.beginShares();
    for (const s of shares) if (s.shares.some((x) => x.recipient === m.self)) m.addShareKeys(s);
  }
  const keySetProposal = members[0]!.proposeKeySet(0);
  messages.push(keySetProposal);
  const keySetEndorsements = members.map((m) => m.onKeySetProposal(keySetProposal, TURN_ZERO)!);
  messages.push(...keySetEndorsements);
  for (const m of members) for (const e of keySetEndorsements) m.addKeySetEndorse(e);
  const keySet = { proposal: keySetProposal, endorsements: keySetEndorsements };
  const inputs = new Map<string, Uint8Array>();
  for (const p of parts.values()) inputs.set(p.self, encodeMaskedInput(p.maskInput([1, -2, 3, 0.5, 0, 1], 3, new Uint8Array(32), keySet)));
  const held = [...inputs].map(([participant, bytes]) => ({
    participant,
    inputHash: hash256(bytes),
    neighbours: decodeMaskedInput(bytes).neighbours,
  }));
  for (const m of members) m.beginInputs();
  const views = members.map((m) => m.signView(held));
  messages.push(...views);
  for (const m of members) for (const v of views) m.addView(v);
  const proposal = members[0]!.proposeLock(0);
  messages.push(proposal);
  const lockEndorsements = members.map((m) => m.onLockProposal(proposal, TURN_ZERO)!);
  messages.push(...lockEndorsements);
  for (const m of members) for (const e of lockEndorsements) m.addLockEndorse(e);
  for (const m of members) {
    const r = m.reveal();
    if (r !== undefined) messages.push(r);
  }
  return { encryptionSecrets, messages, inputs };
}

let transcript: Transcript | undefined;
/** Built on first use (a few ms of X25519 and AES). */
export function secaggTranscript(): Transcript {
  transcript ??= buildTranscript();
  return transcript;
}

const secaggValidArb = fc.constant(null).chain(() => fc.constantFrom(...secaggTranscript().messages.map((m) => encodeSecAgg(m))));

// ─── State-machine drivers: valid messages out of order, duplicated or mutated ───────────

type Step =
  | { readonly kind: 'deliver'; readonly index: number; readonly mutations: readonly Mutation[] }
  | { readonly kind: 'action'; readonly action: number };

const stepsArb: fc.Arbitrary<Step[]> = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('deliver' as const), index: fc.nat(), mutations: fc.constant([]) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('deliver' as const),
        index: fc.nat(),
        mutations: fc.array(mutationArb, { minLength: 1, maxLength: 2 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('action' as const), action: fc.nat() }) },
  ),
  { maxLength: 24 },
);

/**
 * The honest schedule of one role (deliveries by transcript index, actions by index into the
 * driver's action list), perturbed: adjacent swaps, drops, duplicates, mutated deliveries and
 * stray actions. Unlike random step lists, these reach the late stages (views, proposal,
 * reveals, unmask) and probe them with messages slightly out of order.
 */
type Perturbation = {
  readonly op: 'swap' | 'drop' | 'dup' | 'mutate' | 'action';
  readonly at: number;
  readonly arg: number;
  readonly ms: Mutation[];
};

const perturbationArb: fc.Arbitrary<Perturbation> = fc.record({
  op: fc.constantFrom('swap' as const, 'drop' as const, 'dup' as const, 'mutate' as const, 'action' as const),
  at: fc.nat(),
  arg: fc.nat(),
  ms: fc.array(mutationArb, { minLength: 1, maxLength: 2 }),
});

function perturbedSchedule(role: 'member' | 'participant'): fc.Arbitrary<Step[]> {
  return fc.array(perturbationArb, { maxLength: 4 }).map((ps) => {
    const steps = [...honestSchedule(role)];
    for (const p of ps) {
      const i = p.at % Math.max(1, steps.length);
      switch (p.op) {
        case 'swap':
          if (i + 1 < steps.length) [steps[i], steps[i + 1]] = [steps[i + 1]!, steps[i]!];
          break;
        case 'drop':
          steps.splice(i, 1);
          break;
        case 'dup':
          if (steps[i] !== undefined) steps.splice(i, 0, steps[i]!);
          break;
        case 'mutate': {
          const st = steps[i];
          if (st?.kind === 'deliver') steps[i] = { ...st, mutations: p.ms };
          break;
        }
        case 'action':
          steps.splice(i, 0, { kind: 'action', action: p.arg });
          break;
      }
    }
    return steps;
  });
}

export function honestSchedule(role: 'member' | 'participant'): Step[] {
  const msgs = secaggTranscript().messages;
  const of = (k: SecAggKind): Step[] =>
    msgs.flatMap((m, index) => (m.kind === k ? [{ kind: 'deliver' as const, index, mutations: [] }] : []));
  const act = (action: number): Step => ({ kind: 'action', action });
  if (role === 'participant') {
    // advertise, adverts, shareKeys, shares, maskInput, finish
    return [act(0), ...of(SecAggKind.AdvertiseKeys), act(1), ...of(SecAggKind.ShareKeys), act(2), act(3)];
  }
  // adverts, beginShares, shares, beginInputs, signView, views, proposal, reveals, canUnmask, unmask
  return [
    ...of(SecAggKind.AdvertiseKeys),
    act(0),
    ...of(SecAggKind.ShareKeys),
    act(1),
    act(2),
    ...of(SecAggKind.View),
    ...of(SecAggKind.Proposal),
    ...of(SecAggKind.Reveal),
    act(4),
    act(5),
  ];
}

/** The message at `index` of the transcript, mutated and re-decoded (a typed decode error rejects it). */
function messageFor(step: Extract<Step, { kind: 'deliver' }>): SecAggMessage {
  const msgs = secaggTranscript().messages;
  const m = msgs[step.index % msgs.length]!;
  return step.mutations.length === 0 ? m : decodeSecAgg(mutate(encodeSecAgg(m), step.mutations));
}

export function driveCommitteeMember(steps: readonly Step[]): string {
  const t = secaggTranscript();
  const self = 'p1';
  const m = new SecAggCommitteeMember(SA_CTX, self, t.encryptionSecrets.get(self)!.slice(), {
    crypto,
    sign: testSign(self),
    verify: testVerify,
  });
  const held = [...t.inputs].map(([participant, bytes]) => ({
    participant,
    inputHash: hash256(bytes),
    neighbours: decodeMaskedInput(bytes).neighbours,
  }));
  const masked = new Map([...t.inputs].map(([p, b]) => [p, decodeMaskedInput(b).masked]));
  const actions: (() => unknown)[] = [
    () => m.beginShares(),
    () => m.beginInputs(),
    () => m.signView(held),
    () => m.proposeKeySet(0),
    () => m.proposeLock(0),
    () => m.reveal(),
    () => m.canUnmask(),
    () => m.unmask(masked),
    () => m.fail(),
  ];
  for (const s of steps) {
    try {
      if (s.kind === 'action') actions[s.action % actions.length]!();
      else {
        const msg = messageFor(s);
        switch (msg.kind) {
          case SecAggKind.AdvertiseKeys:
            m.addAdvert(msg);
            break;
          case SecAggKind.ShareKeys:
            m.addShareKeys(msg);
            break;
          case SecAggKind.View:
            m.addView(msg);
            break;
          case SecAggKind.Proposal:
            m.onLockProposal(msg, TURN_ZERO);
            break;
          case SecAggKind.Reveal:
            m.addReveal(msg);
            break;
          case SecAggKind.KeySetProposal:
            m.onKeySetProposal(msg, TURN_ZERO);
            break;
          case SecAggKind.KeySetEndorse:
            m.addKeySetEndorse(msg);
            break;
          case SecAggKind.LockEndorse:
            m.addLockEndorse(msg);
            break;
          case SecAggKind.Result:
            break;
        }
      }
    } catch (e) {
      if (!(e instanceof FedmeshError)) throw e;
    }
  }
  m.dispose();
  return `stage:${m.stage}`;
}

/** The transcript's key-set proposal and endorsements (a participant masks only with a certified U_2). */
function fuzzKeySet() {
  const msgs = secaggTranscript().messages;
  const proposal = msgs.find((m) => m.kind === SecAggKind.KeySetProposal)!;
  const endorsements = msgs.filter((m) => m.kind === SecAggKind.KeySetEndorse);
  return { proposal, endorsements } as Parameters<SecAggParticipant['maskInput']>[3];
}

function driveParticipant(steps: readonly Step[]): string {
  const self = 'p3';
  const ent = entropies('fuzz-participant');
  const p = new SecAggParticipant(SA_CTX, self, generateRoundKeys(crypto, ent(`keys/${self}`)), {
    crypto,
    entropy: ent(self),
    sign: testSign(self),
    verify: testVerify,
  });
  const actions: (() => unknown)[] = [
    () => p.advertise(),
    () => p.shareKeys(),
    () => p.maskInput([0.25, 0, -1, 2, 0, 0], 2, new Uint8Array(32), fuzzKeySet()),
    () => p.finish(),
    () => p.fail(),
  ];
  for (const s of steps) {
    try {
      if (s.kind === 'action') actions[s.action % actions.length]!();
      else {
        const msg = messageFor(s);
        if (msg.kind === SecAggKind.AdvertiseKeys) p.addAdvert(msg);
      }
    } catch (e) {
      if (!(e instanceof FedmeshError)) throw e;
    }
  }
  return `stage:${p.stage}`;
}

const STAGE_NAMES: readonly (readonly string[])[] = [
  ['idle', 'training', 'publishing', 'awaiting-result', 'adopted', 'failed', 'bogus'],
  ['collecting', 'aggregating', 'recording', 'announcing', 'done', 'failed', 'bogus'],
  [...Object.values(SecAggStage), 'bogus'],
];

const ADDRESS = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => toHex0x(b));
const HEX32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((h) => toHex0x(h));

const VALID_MANIFEST = {
  version: 1,
  federation: 'breast-cancer-demo',
  seed: 1,
  model: { kind: 'mlp', hidden: [16] },
  features: [
    { name: 'age', kind: 'numeric' },
    { name: 'site', kind: 'categorical', categories: ['a', 'b'] },
  ],
  label: { name: 'diagnosis', positive: 'M', negatives: ['B'] },
  rounds: 10,
  training: { localEpochs: 1, batchSize: 32, learningRate: 0.01 },
  committee: { size: 5, threshold: 3 },
  dp: { epsilon: 3, delta: 1e-5, clipNorm: 1 },
};

const MANIFEST_PATHS = [
  'version',
  'federation',
  'seed',
  'model',
  'model.kind',
  'model.hidden',
  'features',
  'features.0',
  'features.1.categories',
  'imageShape',
  'label.negatives',
  'rounds',
  'training.learningRate',
  'committee.threshold',
  'dp',
  'dp.delta',
  'extra',
] as const;

function setPath(obj: Record<string, unknown>, path: string, value: unknown): unknown {
  const keys = path.split('.');
  let o: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) {
    const next = o[k];
    if (next === null || typeof next !== 'object') return obj;
    o = next as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete o[last];
  else o[last] = value;
  return obj;
}

// ─── Targets ────────────────────────────────────────────────────────────────────────────

const validChunks = chunkArb.map((c) => encodeChunk(c));
/** Signed prekey bundles (protocol/secure-aggregation/prekeys.ts) of the fuzz parties. */
const validPrekeyBundles = fc
  .record({ member: fc.constantFrom(...PARTIES), first: fc.integer({ min: 1, max: 20 }), n: fc.integer({ min: 1, max: 8 }) })
  .map(({ member, first, n }) =>
    encodePrekeyBundle(
      signPrekeyBundle(
        TEST_BINDING,
        'fz',
        member,
        first,
        Array.from({ length: n }, (_, i) => crypto.x25519.publicKey(new Uint8Array(32).fill(i + 1))),
        testSign(member),
      ),
    ),
  );

export const FUZZ_TARGETS: readonly FuzzTarget<never>[] = [
  {
    name: 'messages/chunk decodeChunk',
    weight: 8,
    arbitrary: hostileBytes(validChunks),
    run: (b: Uint8Array) => void decodeChunk(b),
  },
  {
    name: 'validate validateChunk',
    weight: 8,
    arbitrary: fc.tuple(hostileBytes(validChunks), peerId, fc.integer({ min: 1, max: 2 ** 40 })),
    run: ([b, from, round]: [Uint8Array, string, number]) =>
      validateChunk(b, from, {
        federation: 'demo',
        currentRound: round,
        expectedType: [PayloadType.Update, PayloadType.MaskedInput],
        isMember: (p) => p !== 'dave',
        isCommittee: (p) => p === 'alice',
        isReplay: () => false,
      }).verdict.code,
  },
  {
    name: 'chunking Reassembler (out of order, duplicated, mutated)',
    weight: 6,
    arbitrary: fc.record({
      payload: fc.uint8Array({ minLength: 1, maxLength: 300 }),
      size: fc.integer({ min: 1, max: 64 }),
      order: fc.array(fc.nat(), { maxLength: 40 }),
      mutations: fc.array(fc.tuple(fc.nat(), fc.array(mutationArb, { minLength: 1, maxLength: 2 })), { maxLength: 3 }),
    }),
    run: ({
      payload,
      size,
      order,
      mutations,
    }: {
      payload: Uint8Array;
      size: number;
      order: number[];
      mutations: [number, Mutation[]][];
    }) => {
      const chunks = splitPayload(payload, { type: PayloadType.Update, federation: 'demo', round: 1, sender: 'alice' }, size).map((c) =>
        encodeChunk(c),
      );
      for (const [i, ms] of mutations) chunks[i % chunks.length] = mutate(chunks[i % chunks.length]!, ms);
      const r = new Reassembler({ maxPendingPerSender: 2, maxBufferedBytes: 4096 });
      let last = 'partial';
      for (const i of order.length > 0 ? order : chunks.map((_, k) => k)) {
        try {
          last = r.add(decodeChunk(chunks[i % chunks.length]!)).status;
        } catch (e) {
          if (!(e instanceof FedmeshError)) throw e;
          last = e.code;
        }
      }
      r.dropRoundsBefore(Number.POSITIVE_INFINITY); // mutated chunks may carry any round
      if (r.bufferedBytes !== 0) throw new Error(`reassembler holds ${r.bufferedBytes} bytes after dropping the round`);
      return last;
    },
  },
  {
    name: 'secure-aggregation/prekeys decodePrekeyBundle, verify, directory',
    weight: 4,
    arbitrary: hostileBytes(validPrekeyBundles),
    run: (b: Uint8Array) => {
      const d = decodePrekeyBundle(b);
      verifyPrekeyBundle(TEST_BINDING, 'fz', d, d.member, testVerify);
      checkPrekeyPoints(d, crypto.x25519);
      return new PrekeyDirectory().add(d).rounds.length;
    },
  },
  {
    name: 'messages/secagg decodeSecAgg',
    weight: 8,
    arbitrary: hostileBytes(secaggValidArb),
    run: (b: Uint8Array) => void decodeSecAgg(b),
  },
  {
    name: 'validate validateSecAggMessage',
    weight: 8,
    arbitrary: fc.tuple(hostileBytes(secaggValidArb), fc.constantFrom(...PARTIES, 'mallory'), fc.integer({ min: 1, max: 3 })),
    run: ([b, from, round]: [Uint8Array, string, number]) =>
      validateSecAggMessage(b, from, {
        binding: TEST_BINDING,
        federation: 'fz',
        currentRound: round,
        isMember: (p) => p !== 'mallory',
        committee: (r) => (r <= 2 ? COMMITTEE : []),
        verify: testVerify,
      }).verdict.code,
  },
  {
    name: 'messages/finalize decodeFinalizeSignature + validate',
    weight: 6,
    arbitrary: fc.tuple(hostileBytes(finalizeArb), peerId),
    run: ([b, from]: [Uint8Array, string]) => {
      const v = validateFinalizeSignature(b, from, {
        federation: 'demo',
        committeeOf: (r) => (r < 5 ? ['alice', 'bob'] : undefined),
        addressOf: (p) => (p === 'alice' ? '0x1' : undefined),
        verifyRecord: (_a, d, s) => d.length === 32 && s.length === 65 && s[0] === 0,
      });
      try {
        decodeFinalizeSignature(b);
      } catch (e) {
        if (v.verdict.action !== 'reject' || !(e instanceof FedmeshError)) throw e;
      }
      return v.verdict.code;
    },
  },
  {
    name: 'messages/update decodeUpdate',
    weight: 6,
    arbitrary: fc.tuple(hostileBytes(updateArb), fc.boolean()),
    run: ([b, shaped]: [Uint8Array, boolean]) => void decodeUpdate(b, shaped ? TEMPLATE : undefined),
  },
  {
    name: 'messages/update decodeAnyAggregate',
    weight: 6,
    arbitrary: fc.tuple(hostileBytes(aggregateArb), fc.boolean()),
    run: ([b, shaped]: [Uint8Array, boolean]) => void decodeAnyAggregate(b, shaped ? TEMPLATE : undefined),
  },
  {
    name: 'messages/masked-input decodeMaskedInput',
    weight: 6,
    arbitrary: fc.tuple(hostileBytes(maskedArb), fc.option(fc.integer({ min: 0, max: 10 }))),
    run: ([b, words]: [Uint8Array, number | null]) => void decodeMaskedInput(b, words ?? undefined),
  },
  {
    name: 'messages/artifact request and response header',
    weight: 3,
    arbitrary: hostileBytes(
      fc.oneof(
        hash32.map((h) => encodeArtifactRequest(h)),
        fc.uint8Array({ minLength: 5, maxLength: 5 }),
      ),
    ),
    run: (b: Uint8Array) => void (b.length % 2 === 1 ? decodeArtifactRequest(b) : decodeArtifactResponseHeader(b.subarray(1))),
  },
  {
    name: 'weights-codec decodeWeights',
    weight: 6,
    arbitrary: hostileBytes(weightsArb.map((w) => encodeWeights(w))),
    run: (b: Uint8Array) => void decodeWeights(b),
  },
  {
    name: 'manifest parseManifest + manifestHash',
    weight: 5,
    arbitrary: fc.oneof(
      fc.jsonValue(),
      fc
        .tuple(fc.constantFrom(...MANIFEST_PATHS), fc.oneof(fc.jsonValue(), fc.constant(undefined)))
        .map(([path, value]) => setPath(structuredClone(VALID_MANIFEST), path, value)),
    ),
    run: (input: unknown) => {
      const m = parseManifest(input);
      manifestHash(m);
      canonicalJson(m);
    },
  },
  {
    name: 'chain/dp-params decodeDpParams + declaredSpend',
    weight: 4,
    arbitrary: fc.oneof(
      fc.bigInt({ min: -(1n << 8n), max: (1n << 256n) - 1n }),
      fc.bigInt({ min: 0n, max: (1n << 160n) - 1n }),
      fc
        .record({
          sampleRate: fc.double({ min: 1e-9, max: 1, noNaN: true }),
          noiseMultiplier: fc.double({ min: 0.3, max: 50, noNaN: true }),
          clipNorm: fc.double({ min: 0.01, max: 100, noNaN: true }),
          steps: fc.integer({ min: 1, max: 2000 }),
        })
        .map((p) => {
          try {
            return encodeDpParams(p);
          } catch {
            return NO_DP_PARAMS;
          }
        }),
    ),
    run: (w: bigint) => {
      const p = decodeDpParams(w);
      // The spend of any decodable word (RDP over the declared steps); a no-DP word spends 0.
      if (declaredSpend(w) !== 0n && p === undefined) throw new Error('spend without declared parameters');
      return p === undefined ? 'no-dp' : 'ok';
    },
  },
  {
    name: 'chain/budget decodePacked + addPacked',
    weight: 2,
    arbitrary: fc.tuple(fc.bigInt({ min: -1n, max: (1n << 257n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 224n) - 1n })),
    run: ([a, b]: [bigint, bigint]) => {
      decodePacked(a);
      addPacked(a, b);
      encodeRdp(decodePacked(b).map((x) => Number(x) / 1e6));
    },
  },
  {
    // Studies on one budget (issue 17 item 7): a member's spend carried from earlier studies.
    name: 'chain/budget rdpFromPacked + privacy affordableRounds with a carried spend',
    weight: 1,
    arbitrary: fc.tuple(
      fc.bigInt({ min: 0n, max: (1n << 224n) - 1n }),
      fc.double({ min: -1, max: 50, noNaN: false }),
      fc.double({ min: 0.3, max: 5, noNaN: true }),
      fc.integer({ min: -1, max: 3 }),
    ),
    run: ([packed, epsilon, sigma, epochs]: [bigint, number, number, number]) => {
      const spentRdp = rdpFromPacked(packed);
      const query = { epsilon, delta: 1e-5, sampleRate: 0.02, noiseMultiplier: sigma, localEpochs: epochs, orders: ONCHAIN_RDP_ORDERS };
      const carried = affordableRounds({ ...query, spentRdp });
      // A carried spend never buys rounds: the plan with it affords at most the plan without.
      if (carried.rounds > affordableRounds(query).rounds) throw new Error('a carried spend afforded more rounds');
      return carried.rounds === 0 ? 'none' : 'some';
    },
  },
  {
    name: 'audit/privacy carriedInto (chains of studies)',
    weight: 1,
    arbitrary: fc.array(
      fc.record({
        registered: fc.subarray(['0x01', '0x02', '0x03']),
        spends: fc.array(fc.tuple(fc.constantFrom('0x01', '0x02', '0x03', '0x04'), fc.bigInt({ min: 0n, max: (1n << 224n) - 1n })), {
          maxLength: 4,
        }),
      }),
      { maxLength: 5 },
    ),
    run: (studies: { registered: string[]; spends: [string, bigint][] }[]) => {
      const spend = (s: (typeof studies)[number], i: number): StudySpend => ({
        address: `study-${i}`,
        rounds: 1,
        registered: new Set(s.registered),
        spends: new Map(s.spends),
      });
      // I6 across studies: appending a study never lowers any lane of what an account carries.
      for (let k = 1; k <= studies.length; k++) {
        const before = carriedInto(studies.slice(0, k - 1).map(spend));
        const after = carriedInto(studies.slice(0, k).map(spend));
        for (const [a, rdp] of before) {
          const now = decodePacked(after.get(a) ?? 0n);
          if (decodePacked(rdp).some((lane, i) => now[i]! < lane)) throw new Error(`carried RDP of ${a} decreased`);
        }
      }
    },
  },
  {
    name: 'chain/record canonicalRoundRecord',
    weight: 5,
    arbitrary: fc.oneof(
      // Well-formed records (distinct addresses, in any order and case)…
      fc.record({
        round: fc.integer({ min: 0, max: 2 ** 40 }),
        prevModelHash: HEX32,
        modelHash: HEX32,
        aggregateHash: HEX32,
        participants: fc.uniqueArray(ADDRESS, { maxLength: 6 }).chain((as) =>
          fc.tuple(
            ...as.map((member) =>
              fc.record({
                member: fc.constantFrom(member, member.toUpperCase().replace('0X', '0x')),
                spend: fc.constant(0n),
                dpParams: fc.constant(0n),
              }),
            ),
          ),
        ),
        serviceMask: fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }),
      }),
      // …and hostile ones.
      fc.record({
        round: fc.oneof(fc.integer({ min: -2, max: 2 ** 40 }), fc.double()),
        prevModelHash: fc.oneof(HEX32, fc.string()),
        modelHash: HEX32,
        aggregateHash: fc.oneof(HEX32, fc.constant('0x')),
        participants: fc.array(
          fc.record({
            member: fc.oneof(ADDRESS, fc.string({ maxLength: 44 })),
            spend: fc.bigInt({ min: -1n, max: 1n << 230n }),
            dpParams: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 1n << 161n })),
          }),
          { maxLength: 6 },
        ),
        serviceMask: fc.bigInt({ min: -1n, max: 1n << 40n }),
      }),
    ),
    run: (r: OnChainRoundRecord) => void canonicalRoundRecord(r),
  },
  {
    name: 'record recordHash (canonical participant order)',
    weight: 3,
    arbitrary: fc.record({
      federation: federationId,
      round: fc.integer({ min: 1, max: 2 ** 40 }),
      prevModelHash: hash32,
      modelHash: hash32,
      participants: participantsArb,
      seed: fc.nat(),
    }),
    run: (r: {
      federation: string;
      round: number;
      prevModelHash: Uint8Array;
      modelHash: Uint8Array;
      participants: { participant: string; sampleCount: number; updateHash: Uint8Array }[];
      seed: number;
    }) => {
      const a = recordHash(r);
      const shuffled = [...r.participants].sort((x, y) => ((x.participant.length + r.seed) % 3) - ((y.participant.length + r.seed) % 3));
      const b = recordHash({ ...r, participants: shuffled });
      if (toHex0x(a) !== toHex0x(b)) throw new Error('record hash depends on participant order');
    },
  },
  {
    name: 'committee selectCommittee / selectCommitteeOnChain',
    weight: 3,
    arbitrary: fc.record({
      members: fc.array(peerId, { maxLength: 8 }),
      addresses: fc.array(ADDRESS, { maxLength: 8 }),
      size: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 4 }) }, fc.integer({ min: -1, max: 10 })),
      round: fc.integer({ min: 0, max: 100 }),
      seed: hash32.map((h) => toHex0x(h)),
    }),
    run: ({
      members,
      addresses,
      size,
      round,
      seed,
    }: {
      members: string[];
      addresses: string[];
      size: number;
      round: number;
      seed: `0x${string}`;
    }) => {
      try {
        selectCommittee('demo', round, members, size);
      } finally {
        // On chain, members are registered addresses (the contract's active list).
        selectCommitteeOnChain(seed, addresses, size);
      }
    },
  },
  {
    name: 'round + stage-machine transitions (participant, committee, secagg)',
    weight: 5,
    arbitrary: fc.tuple(fc.nat(2), fc.array(fc.nat(), { maxLength: 12 })),
    run: ([which, moves]: [number, number[]]) => {
      const m = which === 0 ? participantMachine(1) : which === 1 ? committeeMachine(1) : secAggMachine('committee', 1, 'p0');
      const stages = [...STAGE_NAMES[which]!];
      for (const k of moves) {
        const next = stages[k % stages.length]!;
        try {
          if (k % 2 === 0) m.expect(next as never);
          else m.to(next as never);
        } catch (e) {
          if (!(e instanceof FedmeshError) || e.code !== 'STAGE_UNEXPECTED') throw e;
        }
      }
      return `stage:${m.stage}`;
    },
  },
  {
    name: 'secure-aggregation committee member (messages out of order, duplicated, mutated)',
    weight: 3,
    arbitrary: fc.oneof(
      stepsArb,
      fc.constant(null).chain(() => perturbedSchedule('member')),
    ),
    run: (steps: Step[]) => driveCommitteeMember(steps),
  },
  {
    name: 'secure-aggregation participant (messages out of order, duplicated, mutated)',
    weight: 3,
    arbitrary: fc.oneof(
      stepsArb,
      fc.constant(null).chain(() => perturbedSchedule('participant')),
    ),
    run: (steps: Step[]) => driveParticipant(steps),
  },
] as unknown as readonly FuzzTarget<never>[];

/** Split a total run budget over the targets by weight (at least 1 each). */
export function runsPerTarget(total: number): Map<string, number> {
  const sum = FUZZ_TARGETS.reduce((s, t) => s + t.weight, 0);
  return new Map(FUZZ_TARGETS.map((t) => [t.name, Math.max(1, Math.round((total * t.weight) / sum))]));
}
