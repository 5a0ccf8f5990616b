/**
 * The dashboard's "Model quality" section per task (issue 16), in Debian's chromium driven by
 * playwright-core: for a multi-class, a multi-label, a regression and an image model, a real
 * model is scored and explained the way `audit serve` does it (node/audit/model-view.ts
 * `inspectModel` on FMWT bytes and test data in the `--test-data` JSON form), rendered into the
 * page (node/audit/html.ts), and what a person sees is checked against independent counts:
 * the k × k confusion matrix against the arg-max of the model's own predictions, per-label AUC,
 * RMSE/MAE/R² against a hand computation, the importance chart (KernelSHAP) and a Grad-CAM grid
 * whose images decode. The binary task runs live against a chain in dashboard.test.ts.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoundSummary } from '../../protocol/audit/types.js';
import { toHex0x } from '../../protocol/bytes.js';
import { aucRoc, scalarMetrics } from '../../protocol/metrics.js';
import { createRng } from '../../protocol/rng.js';
import type { Task } from '../../protocol/task.js';
import { encodeWeights, modelHash } from '../../protocol/weights-codec.js';
import { modelSection, renderPage, SECTION_IDS } from '../../node/audit/html.js';
import { inspectModel, type ModelInsight } from '../../node/audit/model-view.js';
import type { TestData } from '../../node/audit/evaluate.js';
import { selectBackend } from '../../node/ml/backend.js';
import { Trainer } from '../../node/ml/trainer.js';

const ROOT = resolve(import.meta.dirname, '../..');

interface Case {
  readonly insight: ModelInsight;
  readonly data: TestData;
  /** The model's own outputs on the test rows (n × k). */
  readonly outputs: Float32Array;
}

/** Trains nothing: a seeded model is enough to check that the page shows what the model does. */
function makeCase(task: Task, inputShape: number[], n: number, kind: 'mlp' | 'cnn', seed: number): Case {
  const rng = createRng(seed, 'test/dashboard-tasks');
  const f = inputShape.reduce((a, b) => a * b, 1);
  const spec = { kind, inputShape, hidden: [6], task };
  const t = new Trainer(spec, seed);
  try {
    const x = Array.from({ length: n }, () => Array.from({ length: f }, () => rng.next() * 2 - 1));
    const y: TestData['y'] =
      task.kind === 'multiclass'
        ? Array.from({ length: n }, (_, i) => i % task.classes.length)
        : task.kind === 'multilabel'
          ? Array.from({ length: n }, (_, i) => task.labels.map((_, j) => ((i >> j) & 1) as 0 | 1))
          : task.kind === 'regression'
            ? Array.from({ length: n }, (_, i) => task.mean + task.std * Math.sin(i))
            : Array.from({ length: n }, (_, i) => i % 2);
    const data: TestData = { model: { kind, inputShape, hidden: [6], task: task as TestData['model']['task'] }, x, y };
    const w = t.getWeights();
    const hash = toHex0x(modelHash(w));
    const insight = inspectModel(data, encodeWeights(w), 3, hash);
    const outputs = t.predict(Float32Array.from(x.flat()), n);
    return { insight, data, outputs };
  } finally {
    t.dispose();
  }
}

/** Two rounds of scalar evaluations (as the audit report carries them) ending with the insight's. */
function roundsOf(c: Case): RoundSummary[] {
  const last = scalarMetrics(c.insight.metrics);
  const first = Object.fromEntries(Object.entries(last).map(([k, v]) => [k, v * 0.9]));
  return [2, 3].map((round, i) => ({
    round,
    status: 'finalized',
    openedBlock: round * 10,
    committee: [],
    signers: [],
    signaturesVerified: true,
    participants: [],
    dropped: [],
    modelHash: c.insight.modelHash as `0x${string}`,
    artifact: 'verified',
    evaluation: i === 0 ? first : last,
    findings: [],
  }));
}

async function show(page: Page, c: Case): Promise<void> {
  const sections = Object.fromEntries(SECTION_IDS.map((id) => [id, ''])) as Record<(typeof SECTION_IDS)[number], string>;
  sections.model = await modelSection(roundsOf(c), c.insight);
  await page.setContent(renderPage(sections, { live: false, title: `model quality — ${c.insight.task.kind}` }));
}

const attr = (page: Page, sel: string, name: string): Promise<(string | null)[]> =>
  page.locator(sel).evaluateAll((els, n) => els.map((e) => e.getAttribute(n)), name);

describe('Model quality section per task, in chromium', () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await selectBackend({ prefer: 'wasm' });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('multiclass: accuracy, balanced accuracy, macro-F1, macro AUC per round; the k × k confusion matrix; per-class rows; the importance chart', async () => {
    const classes = ['grade0', 'grade1', 'grade2'];
    const c = makeCase({ kind: 'multiclass', classes }, [5], 60, 'mlp', 1);
    await show(page, c);
    expect(await page.getByTestId('task').getAttribute('data-task')).toBe('multiclass');
    // Per-round table: the task's metrics, the last row equal to the latest model's.
    const last = page.locator('[data-testid="metrics-row"][data-round="3"] td');
    expect(await last.evaluateAll((els) => els.map((e) => e.getAttribute('data-metric')))).toEqual([
      'accuracy',
      'balancedAccuracy',
      'macroF1',
      'macroAuc',
    ]);
    for (const td of await last.all()) {
      const k = (await td.getAttribute('data-metric')) as 'accuracy';
      expect(Number(await td.getAttribute('data-value'))).toBe(c.insight.metrics[k]);
    }
    // The confusion matrix, counted here from the model's own arg-max.
    const want = classes.map(() => classes.map(() => 0));
    c.data.y.forEach((yv, i) => {
      const row = Array.from(c.outputs.subarray(i * 3, i * 3 + 3));
      want[yv as number]![row.indexOf(Math.max(...row))]!++;
    });
    const cells = await page
      .locator('[data-testid="confusion-cell"]')
      .evaluateAll((els) =>
        els.map((e) => [e.getAttribute('data-actual'), e.getAttribute('data-predicted'), Number(e.getAttribute('data-count'))]),
      );
    expect(cells).toHaveLength(9);
    for (const [a, p, count] of cells) expect(count).toBe(want[classes.indexOf(a as string)]![classes.indexOf(p as string)]);
    expect(await attr(page, '[data-testid="class-row"]', 'data-name')).toEqual(classes);
    // The macro AUC shown is the mean of the per-class AUCs shown.
    const aucs = (await attr(page, '[data-testid="class-row"]', 'data-auc')).map(Number);
    const shown = Number(await page.locator('[data-testid="latest-metric"][data-metric="macroAuc"]').getAttribute('data-value'));
    expect(shown).toBeCloseTo(aucs.reduce((a, b) => a + b, 0) / 3, 12);
    // Explanation: KernelSHAP importance of class 0's probability, drawn as SVG with the values in its label.
    const chart = page.getByTestId('importance-chart');
    expect(await chart.getAttribute('data-method')).toBe('kernel-shap');
    expect(await chart.getAttribute('aria-label')).toMatch(/^Global feature importance: x\d [\d.e-]+/);
    expect(await chart.locator('svg rect').count()).toBe(5);
    expect(await page.locator('figure[role="img"] svg.marks').count()).toBe(1);
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results', 'dashboard-multiclass.png'), fullPage: true });
  });

  it('multilabel: per-label AUC rows equal a direct AUC of the model outputs; macro AUC', async () => {
    const labels = ['effusion', 'edema', 'nodule'];
    const c = makeCase({ kind: 'multilabel', labels }, [4], 64, 'mlp', 2);
    await show(page, c);
    expect(await attr(page, '[data-testid="class-row"]', 'data-name')).toEqual(labels);
    const aucs = (await attr(page, '[data-testid="class-row"]', 'data-auc')).map(Number);
    labels.forEach((_, j) => {
      const truth = c.data.y.map((row) => (row as number[])[j]!);
      const score = Array.from({ length: truth.length }, (_, i) => c.outputs[i * 3 + j]!);
      expect(aucs[j]).toBeCloseTo(aucRoc(truth, score), 12);
    });
    expect(Number(await page.locator('[data-testid="latest-metric"][data-metric="macroAuc"]').getAttribute('data-value'))).toBeCloseTo(
      aucs.reduce((a, b) => a + b, 0) / 3,
      12,
    );
    expect(await page.locator('[data-testid="confusion-matrix"]').count()).toBe(0);
    expect(await page.getByTestId('importance-chart').count()).toBe(1);
  });

  it('regression: RMSE, MAE and R² in the target units (hand-computed), charted apart from R²', async () => {
    const task = { kind: 'regression' as const, mean: 140, std: 25 };
    const c = makeCase(task, [4], 40, 'mlp', 3);
    await show(page, c);
    const pred = Array.from(c.outputs, (v) => task.mean + task.std * v);
    const actual = c.data.y as number[];
    const mean = actual.reduce((a, b) => a + b, 0) / actual.length;
    const sse = actual.reduce((s, a, i) => s + (pred[i]! - a) ** 2, 0);
    const want = {
      rmse: Math.sqrt(sse / actual.length),
      mae: actual.reduce((s, a, i) => s + Math.abs(pred[i]! - a), 0) / actual.length,
      r2: 1 - sse / actual.reduce((s, a) => s + (a - mean) ** 2, 0),
    };
    for (const k of ['rmse', 'mae', 'r2'] as const) {
      const v = Number(await page.locator(`[data-testid="latest-metric"][data-metric="${k}"]`).getAttribute('data-value'));
      expect(v).toBeCloseTo(want[k], 3);
    }
    // Two charts: R² alone, RMSE and MAE in target units.
    expect(await page.locator('figure[role="img"] svg.marks').count()).toBe(2);
    expect(await page.getByTestId('importance-chart').getAttribute('aria-label')).toMatch(/Global feature importance/);
    expect(await page.getByTestId('explanation').textContent()).toMatch(/the predicted value \(original units\)/);
  });

  it('image model: a grid of Grad-CAM overlays of the test images, every image decoded by the browser; a screenshot', async () => {
    const c = makeCase({ kind: 'multiclass', classes: ['a', 'b'] }, [12, 12, 1], 10, 'cnn', 4);
    await show(page, c);
    const imgs = page.locator('[data-testid="gradcam-grid"] img[data-testid="gradcam"]');
    expect(await imgs.count()).toBe(8);
    const sizes = (await imgs.evaluateAll((els) =>
      els.map((e) => [(e as unknown as { naturalWidth: number }).naturalWidth, (e as unknown as { naturalHeight: number }).naturalHeight]),
    )) as [number, number][];
    for (const [w, h] of sizes) expect([w, h]).toEqual([2 * 12 * 8, 12 * 8]);
    for (const alt of await attr(page, '[data-testid="gradcam"]', 'alt')) expect(alt).toMatch(/Grad-CAM heat map/);
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results', 'dashboard-gradcam.png'), fullPage: true });
  });

  it('without re-evaluation the section says how to get it', async () => {
    await page.setContent(
      renderPage({ ...Object.fromEntries(SECTION_IDS.map((id) => [id, ''])), model: await modelSection([]) } as never, { live: false }),
    );
    expect(await page.getByTestId('no-evaluation').textContent()).toMatch(/--test-data/);
  });
});
