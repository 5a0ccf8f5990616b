/**
 * The auditor's replay of the server step (protocol/audit/server-step.ts): the record's model must
 * be serverStep(w_{t−1}, w_t, ā) with ā decoded from the payload the record binds as
 * aggregateHash; every artifact is checked against its hash first.
 */
import { describe, expect, it } from 'vitest';
import { checkServerStep } from '../../protocol/audit/server-step.js';
import type { ArtifactEntry } from '../../protocol/audit/types.js';
import { fromHex0x, hash256, toHex0x } from '../../protocol/bytes.js';
import { encodeSecureAggregate } from '../../protocol/messages/update.js';
import type { ModelWeights } from '../../protocol/model.js';
import { type ServerOptimizer, serverStep } from '../../protocol/server-optimizer.js';
import { encodeWeights, modelHash } from '../../protocol/weights-codec.js';

const model = (...v: number[]): ModelWeights => ({ tensors: [{ shape: [v.length], data: Float32Array.from(v) }] });
const hex = (w: ModelWeights): string => toHex0x(modelHash(w));
const OPT: ServerOptimizer = { kind: 'fedavgm', momentum: 0.5, learningRate: 2 };

function fixture() {
  const previous = model(0, 1, 2);
  const head = model(1, 1, 1);
  const average = model(2, 0, 1.5);
  const next = serverStep(OPT, { previous, head, aggregate: average });
  const payload = encodeSecureAggregate({
    prevModelHash: fromHex0x(hex(head)),
    totalSamples: 10,
    participants: [{ participant: 'p0', inputHash: new Uint8Array(32) }],
    weights: average,
  });
  const artifacts = new Map<string, ArtifactEntry>();
  for (const b of [payload, encodeWeights(previous), encodeWeights(head)]) artifacts.set(toHex0x(hash256(b)), { source: 'test', bytes: b });
  const record = { prevModelHash: hex(head), modelHash: hex(next), aggregateHash: toHex0x(hash256(payload)) };
  return { previous, head, average, next, payload, artifacts, record };
}

describe('auditor: server step replay', () => {
  it('accepts the record whose model is the step, and refuses the plain average or another β', () => {
    const f = fixture();
    expect(f.next.tensors[0]!.data).toEqual(Float32Array.from([3.5, -1, 1.5])); // the hand-computed vector
    const check = (record: typeof f.record, optimizer = OPT) =>
      checkServerStep({ optimizer, round: 2, previousModelHash: hex(f.previous), record, artifacts: f.artifacts });
    expect(check(f.record)).toBeUndefined();
    const plain = check({ ...f.record, modelHash: hex(f.average) });
    expect(plain).toMatchObject({ code: 'SERVER_STEP_MISMATCH', severity: 'error' });
    expect(plain!.evidence).toMatchObject({ recorded: hex(f.average), replayed: hex(f.next) });
    expect(check(f.record, { kind: 'fedavgm', momentum: 0.9, learningRate: 2 })).toMatchObject({ code: 'SERVER_STEP_MISMATCH' });
  });

  it('a payload built on another head is a mismatch', () => {
    const f = fixture();
    const other = model(9, 9, 9);
    f.artifacts.set(hex(other), { source: 'test', bytes: encodeWeights(other) });
    const r = checkServerStep({
      optimizer: OPT,
      round: 2,
      previousModelHash: hex(f.previous),
      record: { ...f.record, prevModelHash: hex(other) },
      artifacts: f.artifacts,
    });
    expect(r).toMatchObject({ code: 'SERVER_STEP_MISMATCH', evidence: { aggregatePrevModelHash: hex(f.head) } });
  });

  it('a missing or corrupt artifact leaves the step unverified (a warning naming it)', () => {
    const f = fixture();
    const without = new Map(f.artifacts);
    without.delete(hex(f.previous));
    expect(
      checkServerStep({ optimizer: OPT, round: 2, previousModelHash: hex(f.previous), record: f.record, artifacts: without }),
    ).toMatchObject({ code: 'SERVER_STEP_UNVERIFIED', severity: 'warning', evidence: { artifact: 'w_{t−1}', reason: 'missing' } });
    const corrupt = new Map(f.artifacts);
    corrupt.set(f.record.aggregateHash, { source: 'bad.fmwt', bytes: encodeWeights(f.next) });
    expect(
      checkServerStep({ optimizer: OPT, round: 2, previousModelHash: hex(f.previous), record: f.record, artifacts: corrupt }),
    ).toMatchObject({ code: 'SERVER_STEP_UNVERIFIED', evidence: { reason: 'bad.fmwt does not hash to it' } });
  });
});
