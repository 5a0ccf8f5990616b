/**
 * Scenario files and simulation options (simulations/scenario.ts, simulations/options.ts):
 * YAML → options, nested groups flattened, precedence defaults < file < flags, and typed
 * rejections naming the field, the value and the rule. Every bundled example scenario validates.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseSimulationOptions, SIMULATION_DEFAULTS } from '../../simulations/options.js';
import { loadScenario, parseScenario, parseSweep, resolveSimulationOptions, sweepGrid, withOption } from '../../simulations/scenario.js';

const SCENARIOS = join(import.meta.dirname, '../../simulations/scenarios');

function issuesOf(fn: () => unknown): { field: string; value: unknown; rule: string }[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).fields.issues;
  }
  throw new Error('expected a ConfigError');
}

describe('scenario files', () => {
  it('parses every field, flattening dp and committee groups', () => {
    const input = parseScenario(`
dataset: breast-cancer
peers: 6
rounds: 3
seed: 11
partition: dirichlet:0.3
model: logistic
algorithm: fedprox:0.05
localEpochs: 1
batchSize: 8
learningRate: 0.02
secureAggregation: false
dp: { epsilon: 4, delta: 0.0001, clipNorm: 2 }
committee: { size: 4, threshold: 3 }
dropout: 0.1
stragglers: exponential:100
attackers: { fraction: 0.34, kind: scaled:5 }
defence: { updateNormBound: 2, validationMargin: 0.1 }
`);
    const o = parseSimulationOptions(input);
    expect(o).toMatchObject({
      dataset: 'breast-cancer',
      peers: 6,
      rounds: 3,
      seed: 11,
      partition: 'dirichlet:0.3',
      model: 'logreg',
      algorithm: 'fedprox:0.05',
      localEpochs: 1,
      batchSize: 8,
      learningRate: 0.02,
      secureAggregation: false,
      dpEpsilon: 4,
      dpDelta: 0.0001,
      dpClipNorm: 2,
      committeeSize: 4,
      threshold: 3,
      dropout: 0.1,
      stragglers: 'exponential:100',
      attackers: { fraction: 0.34, kind: 'scaled:5' },
      defence: { updateNormBound: 2, validationMargin: 0.1 },
    });
  });

  it('applies defaults < scenario < flags, and flags that are undefined do not override', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-scenario-'));
    const file = join(dir, 's.yaml');
    writeFileSync(file, 'peers: 5\nrounds: 4\nsecureAggregation: false\n');
    const o = resolveSimulationOptions({ rounds: 9, seed: undefined }, file);
    expect(o.peers).toBe(5); // from the file
    expect(o.rounds).toBe(9); // the flag wins
    expect(o.seed).toBe(SIMULATION_DEFAULTS.seed); // default
    expect(o.secureAggregation).toBe(false);
    expect(o.scenarioFile).toBe(file);
  });

  it('resolves a relative .csv path against the scenario folder', () => {
    const input = parseScenario('dataset: data/x.csv\ncolumns: { label: y, positive: "1" }\n', 's.yaml', '/srv/lab');
    expect(input.dataset).toBe('/srv/lab/data/x.csv');
  });

  it('data-set defaults: heart-disease is by-site with 4 peers; pneumonia trains the CNN', () => {
    expect(parseSimulationOptions({ dataset: 'heart-disease' })).toMatchObject({ partition: 'by-site', peers: 4 });
    expect(parseSimulationOptions({ dataset: 'pneumonia' })).toMatchObject({ model: 'cnn', hidden: [32] });
    expect(parseSimulationOptions({ dataset: 'heart-disease', partition: 'iid' })).toMatchObject({ partition: 'iid', peers: 8 });
  });

  it('rejects bad values naming field, value and rule', () => {
    expect(issuesOf(() => parseSimulationOptions({ partition: 'dirichlet:-1' }))).toEqual([
      { field: 'partition', value: 'dirichlet:-1', rule: expect.stringMatching(/dirichlet:<alpha>/) },
    ]);
    expect(issuesOf(() => parseSimulationOptions({ algorithm: 'fedsgd' }))[0]).toMatchObject({ field: 'algorithm', value: 'fedsgd' });
    expect(issuesOf(() => parseSimulationOptions({ attackers: { fraction: 0.2, kind: 'backdoor' } }))[0]).toMatchObject({
      field: 'attackers.kind',
      value: 'backdoor',
      rule: expect.stringMatching(/sign-flip/),
    });
    expect(issuesOf(() => parseSimulationOptions({ attackers: { fraction: 0.9, kind: 'noise' } }))[0]).toMatchObject({
      field: 'attackers.fraction',
      value: 0.9,
    });
    expect(issuesOf(() => parseSimulationOptions({ stragglers: 'uniform:500-100' }))[0]).toMatchObject({
      field: 'stragglers',
      value: 'uniform:500-100',
      rule: expect.stringMatching(/min <= max/),
    });
    expect(issuesOf(() => parseSimulationOptions({ model: 'cnn' }))[0]).toMatchObject({ field: 'model', value: 'cnn' });
    expect(issuesOf(() => parseSimulationOptions({ partition: 'by-site' }))[0]).toMatchObject({ field: 'partition', value: 'by-site' });
    expect(issuesOf(() => parseSimulationOptions({ dataset: 'heart-disease', peers: 5, partition: 'by-site' }))[0]).toMatchObject({
      field: 'peers',
      value: 5,
    });
    expect(issuesOf(() => parseSimulationOptions({ dataset: 'mnist' }))[0]).toMatchObject({ field: 'dataset', value: 'mnist' });
    expect(issuesOf(() => parseSimulationOptions({ dataset: '/tmp/x.csv' }))[0]).toMatchObject({ field: 'columns' });
    expect(issuesOf(() => parseSimulationOptions({ defence: { updateNormBound: -1 } }))[0]).toMatchObject({
      field: 'defence.updateNormBound',
      value: -1,
    });
    expect(issuesOf(() => parseSimulationOptions({ peerz: 3 }))[0]!.rule).toMatch(/peerz/);
  });

  it('rejects unknown keys in nested groups and malformed YAML', () => {
    expect(issuesOf(() => parseScenario('dp: { epsilon: 1, sigma: 2 }'))[0]).toMatchObject({ field: 'dp.sigma', value: 2 });
    expect(issuesOf(() => parseScenario('peers: [1, 2'))[0]).toMatchObject({ field: '(scenario)' });
    expect(issuesOf(() => parseScenario('- 1\n- 2\n'))[0]!.rule).toMatch(/mapping/);
    expect(issuesOf(() => loadScenario('/nonexistent/s.yaml'))[0]).toMatchObject({ field: 'scenario', value: '/nonexistent/s.yaml' });
  });

  it('every example scenario in simulations/scenarios validates', () => {
    const files = readdirSync(SCENARIOS).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const f of files) expect(() => resolveSimulationOptions({}, join(SCENARIOS, f)), f).not.toThrow();
  });
});

describe('sweeps', () => {
  it('parses key=v1,v2 with YAML scalars and builds the cartesian grid', () => {
    const a = parseSweep('partition=iid,dirichlet:0.5');
    const b = parseSweep('peers=4,8');
    expect(a).toEqual({ key: 'partition', values: ['iid', 'dirichlet:0.5'] });
    expect(b.values).toEqual([4, 8]);
    expect(sweepGrid([a, b])).toEqual([
      { partition: 'iid', peers: 4 },
      { partition: 'iid', peers: 8 },
      { partition: 'dirichlet:0.5', peers: 4 },
      { partition: 'dirichlet:0.5', peers: 8 },
    ]);
    expect(issuesOf(() => parseSweep('peers'))[0]).toMatchObject({ field: 'sweep', value: 'peers' });
  });

  it('sets dotted keys without mutating the input', () => {
    const input = { attackers: { fraction: 0.2, kind: 'sign-flip' } };
    const out = withOption(input, 'attackers.fraction', 0.4);
    expect(out).toEqual({ attackers: { fraction: 0.4, kind: 'sign-flip' } });
    expect(input.attackers.fraction).toBe(0.2);
  });
});
