/**
 * The server optimizer (protocol/server-optimizer.ts): FedAvgM's momentum against hand-computed
 * vectors and against the v-form of Hsu et al. 2019 over several rounds; β = 0, η_s = 1 and the
 * default leave FedAvg's model bit for bit; the manifest field is validated naming the field and
 * the rule, and leaves existing manifests' hashes unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash256, toHex0x, utf8 } from '../../protocol/bytes.js';
import { isFedmeshError } from '../../protocol/errors.js';
import { type Contribution, fedAvg } from '../../protocol/fedavg.js';
import { manifestHash, parseManifest } from '../../protocol/manifest.js';
import type { ModelWeights } from '../../protocol/model.js';
import { type ServerOptimizer, serverParams, serverStep, validateServerOptimizer } from '../../protocol/server-optimizer.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { parseSimulationOptions } from '../../simulations/options.js';

const model = (...tensors: number[][]): ModelWeights => ({
  tensors: tensors.map((v) => ({ shape: [v.length], data: Float32Array.from(v) })),
});
const values = (m: ModelWeights): number[][] => m.tensors.map((t) => Array.from(t.data));
const fedavgm = (momentum: number, learningRate?: number): ServerOptimizer => ({
  kind: 'fedavgm',
  momentum,
  ...(learningRate !== undefined ? { learningRate } : {}),
});

describe('FedAvgM server step', () => {
  it('matches a hand-computed vector (β = 0.5, η_s = 1)', () => {
    // v_t = (w_t − w_{t−1}) / η_s = [1, 0, −1]; Δ̄ = ā − w_t = [1, −1, 0.5];
    // v_{t+1} = 0.5·v_t + Δ̄ = [1.5, −1, 0]; w_{t+1} = w_t + v_{t+1} = [2.5, 0, 1].
    const out = serverStep(fedavgm(0.5), { previous: model([0, 1, 2]), head: model([1, 1, 1]), aggregate: model([2, 0, 1.5]) });
    expect(values(out)).toEqual([[2.5, 0, 1]]);
  });

  it('matches a hand-computed vector (β = 0.5, η_s = 2), over two tensors', () => {
    // v_t = ([1,1,1] − [0,1,2]) / 2 = [0.5, 0, −0.5]; v_{t+1} = [0.25, 0, −0.25] + [1, −1, 0.5]
    // = [1.25, −1, 0.25]; w_{t+1} = [1,1,1] + 2·v_{t+1} = [3.5, −1, 1.5]. Second tensor: v_t = 0,
    // Δ̄ = [−4], w = 4 + 2·(−4) = −4.
    const out = serverStep(fedavgm(0.5, 2), {
      previous: model([0, 1, 2], [4]),
      head: model([1, 1, 1], [4]),
      aggregate: model([2, 0, 1.5], [0]),
    });
    expect(values(out)).toEqual([[3.5, -1, 1.5], [-4]]);
  });

  it('equals v ← βv + Δ̄, w ← w + η_s·v over rounds (state rebuilt from the last two models)', () => {
    // Dyadic values: every intermediate is exact in float32, so the two forms agree exactly.
    const beta = 0.5;
    const eta = 0.5;
    const averages = [
      [1, -2, 0.5, 8],
      [3, 0, -1.25, 6],
      [2.5, 1, 0, 4],
      [-1, 2, 3, 0.5],
    ];
    let w = [0, 0, 0, 0];
    let v = [0, 0, 0, 0];
    let head = model(w);
    let previous = head;
    for (const a of averages) {
      v = v.map((vk, k) => beta * vk + (a[k]! - w[k]!));
      w = w.map((wk, k) => wk + eta * v[k]!);
      const next = serverStep(fedavgm(beta, eta), { previous, head, aggregate: model(a) });
      expect(values(next)).toEqual([w]);
      previous = head;
      head = next;
    }
  });

  it('β = 0, η_s = 1 gives the plain FedAvg model bit for bit, for any finite weights', () => {
    const f32 = fc.float({ noNaN: true, noDefaultInfinity: true });
    const arb = fc.integer({ min: 1, max: 6 }).chain((d) =>
      fc.record({
        previous: fc.array(f32, { minLength: d, maxLength: d }),
        head: fc.array(f32, { minLength: d, maxLength: d }),
        sites: fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.array(f32, { minLength: d, maxLength: d })), {
          minLength: 1,
          maxLength: 5,
        }),
      }),
    );
    fc.assert(
      fc.property(arb, ({ previous, head, sites }) => {
        const cs: Contribution[] = sites.map(([n, w], i) => ({ participant: `p${i}`, sampleCount: n, weights: model(w) }));
        const avg = fedAvg(cs);
        const x = { previous: model(previous), head: model(head), aggregate: avg };
        const plain = toHex0x(modelHash(avg));
        expect(toHex0x(modelHash(serverStep(fedavgm(0, 1), x)))).toBe(plain);
        expect(toHex0x(modelHash(serverStep(fedavgm(0), x)))).toBe(plain);
        expect(serverStep({ kind: 'fedavg' }, x)).toBe(avg);
        expect(serverStep(undefined, x)).toBe(avg);
      }),
      { numRuns: 300 },
    );
    // −0 stays −0 (a zero correction is not added: −0 + 0 would be +0).
    const negZero = serverStep(fedavgm(0), { previous: model([5]), head: model([3]), aggregate: model([-0]) });
    expect(Object.is(negZero.tensors[0]!.data[0], -0)).toBe(true);
  });

  it('is deterministic: the same inputs give the same model hash', () => {
    const x = { previous: model([0.1, -0.3]), head: model([0.2, 0.7]), aggregate: model([0.35, 0.65]) };
    const a = toHex0x(modelHash(serverStep(fedavgm(0.9, 0.7), x)));
    const b = toHex0x(modelHash(serverStep(fedavgm(0.9, 0.7), { ...x })));
    expect(a).toBe(b);
    expect(a).not.toBe(toHex0x(modelHash(x.aggregate)));
  });

  it('refuses models of different shapes with a typed error naming the model', () => {
    try {
      serverStep(fedavgm(0.5), { previous: model([1, 2]), head: model([1, 2, 3]), aggregate: model([1, 2, 3]) });
      expect.unreachable();
    } catch (e) {
      expect(isFedmeshError(e, 'SERVER_OPTIMIZER_SHAPE_MISMATCH')).toBe(true);
      expect((e as { fields: { model: string } }).fields.model).toBe('previous');
    }
  });
});

describe('server optimizer parameters', () => {
  it('defaults: FedAvg is β = 0, η_s = 1; FedAvgM without learningRate has η_s = 1', () => {
    expect(serverParams(undefined)).toEqual({ momentum: 0, learningRate: 1 });
    expect(serverParams({ kind: 'fedavg' })).toEqual({ momentum: 0, learningRate: 1 });
    expect(serverParams(fedavgm(0.7))).toEqual({ momentum: 0.7, learningRate: 1 });
  });

  it.each([
    [{ kind: 'fedavgm', momentum: 1 }, 'serverOptimizer.momentum', '< 1'],
    [{ kind: 'fedavgm', momentum: -0.1 }, 'serverOptimizer.momentum', '≥ 0'],
    [{ kind: 'fedavgm', momentum: 0.5, learningRate: 0 }, 'serverOptimizer.learningRate', '> 0'],
    [{ kind: 'fedavgm', momentum: 0.5, learningRate: 11 }, 'serverOptimizer.learningRate', '≤ 10'],
    [{ kind: 'fedavgm' }, 'serverOptimizer.momentum', ''],
  ])('validateServerOptimizer(%j) throws SERVER_OPTIMIZER_BAD_PARAM naming %s', (input, field, rule) => {
    try {
      validateServerOptimizer(input);
      expect.unreachable();
    } catch (e) {
      expect(isFedmeshError(e, 'SERVER_OPTIMIZER_BAD_PARAM')).toBe(true);
      const f = (e as { fields: { field: string; rule: string } }).fields;
      expect(f.field).toBe(field);
      expect(f.rule).toContain(rule);
    }
  });

  it('refuses an unknown kind (FedAdam is not offered)', () => {
    expect(() => validateServerOptimizer({ kind: 'fedadam', momentum: 0.9 })).toThrow(/serverOptimizer\.kind/);
  });
});

describe('manifest serverOptimizer', () => {
  const base = {
    version: 1,
    federation: 'heart',
    seed: 1,
    model: { kind: 'logreg' },
    features: [{ name: 'age', kind: 'numeric' }],
    label: { name: 'num', positive: '1', negatives: ['0'] },
    rounds: 5,
    training: { localEpochs: 1, batchSize: 16, learningRate: 0.01 },
    committee: { size: 3, threshold: 2 },
  };
  const issuesOf = (input: unknown): { field: string; rule: string }[] => {
    try {
      parseManifest(input);
    } catch (e) {
      expect(isFedmeshError(e, 'MANIFEST_INVALID')).toBe(true);
      return (e as { fields: { issues: { field: string; rule: string }[] } }).fields.issues;
    }
    return [];
  };

  it('absent: FedAvg, and the canonical form (hence the on-chain hash) has no such key', () => {
    const m = parseManifest(base);
    expect('serverOptimizer' in m).toBe(false);
    const canonical =
      '{"committee":{"size":3,"threshold":2},"features":[{"kind":"numeric","name":"age"}],"federation":"heart",' +
      '"label":{"name":"num","negatives":["0"],"positive":"1"},"model":{"kind":"logreg"},"rounds":5,"seed":1,' +
      '"training":{"batchSize":16,"learningRate":0.01,"localEpochs":1},"version":1}';
    expect(manifestHash(m)).toBe(toHex0x(hash256(utf8(canonical))));
  });

  it('fedavgm parses and is bound by the manifest hash', () => {
    const m = parseManifest({ ...base, serverOptimizer: { kind: 'fedavgm', momentum: 0.5, learningRate: 2 } });
    expect(m.serverOptimizer).toEqual({ kind: 'fedavgm', momentum: 0.5, learningRate: 2 });
    expect(manifestHash(m)).not.toBe(manifestHash(parseManifest(base)));
    const other = parseManifest({ ...base, serverOptimizer: { kind: 'fedavgm', momentum: 0.5, learningRate: 1.5 } });
    expect(manifestHash(other)).not.toBe(manifestHash(m));
  });

  it('refuses bad parameters naming the field and the rule', () => {
    expect(issuesOf({ ...base, serverOptimizer: { kind: 'fedavgm', momentum: 1 } })).toEqual([
      { field: 'serverOptimizer.momentum', rule: 'serverOptimizer.momentum must be < 1 (β ≥ 1 never decays)' },
    ]);
    expect(issuesOf({ ...base, serverOptimizer: { kind: 'fedavgm', momentum: 0.5, learningRate: -1 } })).toEqual([
      { field: 'serverOptimizer.learningRate', rule: 'serverOptimizer.learningRate must be > 0' },
    ]);
    expect(issuesOf({ ...base, serverOptimizer: { kind: 'fedavg', momentum: 0.5 } }).map((i) => i.field)).toEqual(['serverOptimizer']);
    expect(issuesOf({ ...base, serverOptimizer: { kind: 'fedyogi' } }).map((i) => i.field)).toEqual(['serverOptimizer.kind']);
  });
});

describe('simulation option serverOptimizer', () => {
  it('takes the manifest field as it is, and refuses bad parameters naming the field', () => {
    const o = parseSimulationOptions({ dataset: 'heart-disease', serverOptimizer: { kind: 'fedavgm', momentum: 0.5, learningRate: 2 } });
    expect(o.serverOptimizer).toEqual({ kind: 'fedavgm', momentum: 0.5, learningRate: 2 });
    expect(parseSimulationOptions({ dataset: 'heart-disease' }).serverOptimizer).toBeUndefined();
    expect(() => parseSimulationOptions({ dataset: 'heart-disease', serverOptimizer: { kind: 'fedavgm', momentum: 1.5 } })).toThrow(
      /serverOptimizer\.momentum/,
    );
  });
});
