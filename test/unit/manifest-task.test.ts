/**
 * The manifest's `task` block (issue 16): absent keeps the manifest hash of a binary federation
 * unchanged; multiclass classes must match the label's values; bad tasks are refused naming the
 * field.
 */
import { describe, expect, it } from 'vitest';
import { type FederationManifest, manifestHash, parseManifest } from '../../protocol/manifest.js';
import { taskOfManifest } from '../../protocol/task.js';

const base = {
  version: 1,
  federation: 'heart',
  seed: 1,
  model: { kind: 'mlp', hidden: [8] },
  features: [{ name: 'age', kind: 'numeric' }],
  label: { name: 'num', positive: '1', negatives: ['0', '2', '3', '4'] },
  rounds: 5,
  training: { localEpochs: 1, batchSize: 16, learningRate: 0.01 },
  committee: { size: 3, threshold: 2 },
};

const fieldsOf = (input: unknown): string[] => {
  try {
    parseManifest(input);
  } catch (e) {
    return ((e as { fields: { issues: { field: string }[] } }).fields.issues ?? []).map((i) => i.field);
  }
  return [];
};

describe('manifest task', () => {
  it('absent: binary, and the hash is the one without the field', () => {
    const m = parseManifest(base);
    expect(taskOfManifest(m)).toEqual({ kind: 'binary' });
    expect(manifestHash(m)).toBe(manifestHash(parseManifest({ ...base, task: undefined }) as FederationManifest));
  });

  it('multiclass: classes are the label values in output order', () => {
    const m = parseManifest({ ...base, task: { kind: 'multiclass', classes: ['0', '1', '2', '3', '4'] } });
    expect(taskOfManifest(m)).toEqual({ kind: 'multiclass', classes: ['0', '1', '2', '3', '4'] });
    expect(fieldsOf({ ...base, task: { kind: 'multiclass', classes: ['0', '1', '2'] } })).toEqual(['task.classes']);
    expect(fieldsOf({ ...base, task: { kind: 'multiclass', classes: ['0', '1', '1', '2', '3', '4'] } })).toContain('task.classes');
  });

  it('regression needs finite public statistics; unknown kinds are refused', () => {
    expect(taskOfManifest(parseManifest({ ...base, task: { kind: 'regression', mean: 54, std: 9 } }))).toEqual({
      kind: 'regression',
      mean: 54,
      std: 9,
    });
    expect(fieldsOf({ ...base, task: { kind: 'regression', mean: 54, std: 0 } })).toEqual(['task.std']);
    expect(fieldsOf({ ...base, task: { kind: 'ordinal' } })).toEqual(['task.kind']);
  });
});
