/**
 * The auditor's re-evaluation (node/audit/evaluate.ts) for issue 16's tasks: a multiclass and a
 * regression model (real tfjs models, encoded as the chain's artifacts are) scored with the
 * task's metrics on the auditor's own JSON test data; labels that do not fit the task refused
 * naming the row.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateModels, readTestData } from '../../node/audit/evaluate.js';
import { Trainer } from '../../node/ml/trainer.js';
import { evaluateTask, type Task } from '../../protocol/task.js';
import { encodeWeights } from '../../protocol/weights-codec.js';

const dir = mkdtempSync(join(tmpdir(), 'fedmesh-audit-tasks-'));
const rows = Array.from({ length: 30 }, (_, i) => [((i * 7) % 11) / 5 - 1, ((i * 5) % 13) / 6 - 1]);

async function roundTrip(task: Task, y: unknown[]): Promise<{ fromAudit: Record<string, number> }> {
  const model = { kind: 'mlp' as const, inputShape: [2], hidden: [4], task };
  const path = join(dir, `${task.kind}.json`);
  writeFileSync(path, JSON.stringify({ model, x: rows, y }));
  const data = await readTestData(path);
  const t = new Trainer(model, 3);
  try {
    const fromAudit = (await evaluateModels(data, new Map([[1, encodeWeights(t.getWeights())]]))).get(1)!;
    return { fromAudit };
  } finally {
    t.dispose();
  }
}

describe('auditor re-evaluation per task', () => {
  it('multiclass: balanced accuracy, macro-F1 and macro AUC of the round model', async () => {
    const y = rows.map(([a]) => (a! < -0.3 ? 0 : a! < 0.3 ? 1 : 2));
    const { fromAudit } = await roundTrip({ kind: 'multiclass', classes: ['a', 'b', 'c'] }, y);
    for (const k of ['accuracy', 'balancedAccuracy', 'macroF1', 'macroAuc', 'loss']) expect(typeof fromAudit[k]).toBe('number');
    expect(fromAudit.n).toBe(30);
  });

  it('regression: RMSE/MAE/R² in original units, equal to the in-process evaluation', async () => {
    const task: Task = { kind: 'regression', mean: 50, std: 10 };
    const y = rows.map(([a, b]) => 50 + 10 * (a! + b!));
    const { fromAudit } = await roundTrip(task, y);
    const t = new Trainer({ kind: 'mlp', inputShape: [2], hidden: [4], task }, 3);
    const x = Float32Array.from(rows.flat());
    const direct = evaluateTask(
      task,
      { x, y: new Uint8Array(30), n: 30, featureShape: [2], targets: Float32Array.from(y, (v) => (v - 50) / 10) },
      t.predict(x, 30),
    );
    t.dispose();
    expect(fromAudit.rmse).toBeCloseTo(direct.rmse!, 3);
    expect(fromAudit.r2).toBeCloseTo(direct.r2!, 3);
  });

  it('a class index outside the task is refused naming the row', async () => {
    const path = join(dir, 'bad.json');
    writeFileSync(
      path,
      JSON.stringify({
        model: { kind: 'logreg', inputShape: [2], task: { kind: 'multiclass', classes: ['a', 'b'] } },
        x: [
          [0, 1],
          [1, 0],
        ],
        y: [0, 2],
      }),
    );
    await expect(readTestData(path)).rejects.toMatchObject({ code: 'AUDIT_USAGE', message: expect.stringMatching(/y\.1/) });
  });
});
