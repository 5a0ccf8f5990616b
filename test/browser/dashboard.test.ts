/**
 * The audit dashboard in a real browser (issue #7 §3): a 3-round federation (4 libp2p peers on
 * 127.0.0.1, FedmeshFederation on Hardhat over HTTP JSON-RPC), `fedmesh audit serve` as its own
 * process, and Debian's chromium driven by playwright-core. It asserts what a person sees: the
 * round rows, budget bars whose values equal the contract's `privacyBudgetOf`, a fourth round
 * appearing while the page is open (the page follows the chain), and a finding that appears
 * after a byte of one model file is flipped. A screenshot goes to test-results/dashboard.png.
 *
 * With `--test-data` (issue 16) the Model quality section shows the binary task's metrics per
 * round — sensitivity, specificity, balanced accuracy, AUC, Brier — equal to the model's own
 * predictions scored here, the latest model's confusion matrix, and the global importance chart
 * (KernelSHAP: the fixture's model is an MLP). The other tasks: dashboard-tasks.test.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex0x } from '../../protocol/bytes.js';
import { binaryTaskMetrics } from '../../protocol/metrics.js';
import { modelHash } from '../../protocol/weights-codec.js';
import { Trainer } from '../../node/ml/trainer.js';
import { type AuditedFederation, startAuditedFederation } from '../integration/audit-fixture.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/fedmesh.mjs');
const SCREENSHOT = join(ROOT, 'test-results', 'dashboard.png');

/** Starts `fedmesh audit serve` and resolves with its URL once it prints it. */
function startServe(args: readonly string[]): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn('node', [BIN, 'audit', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`audit serve did not start: ${out}${err}`)), 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /dashboard on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolvePromise({ proc, url: m[1]! });
      }
    });
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`audit serve exited with ${code}: ${out}${err}`));
    });
  });
}

describe('audit dashboard in chromium', () => {
  let af: AuditedFederation;
  let serve: { proc: ChildProcess; url: string };
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedmesh-dashboard-'));
    af = await startAuditedFederation(dir, 'itest-dashboard');
    for (let r = 1; r <= 3; r++) await af.runRound();
    const testData = join(dir, 'test-data.json');
    writeFileSync(testData, JSON.stringify(af.testData));
    serve = await startServe([
      '--test-data',
      testData,
      '--rpc',
      af.node.url,
      '--deployment',
      af.deploymentPath,
      '--artifacts',
      af.artifactsDir,
      '--port',
      '0',
      '--poll-ms',
      '500',
    ]);
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (serve?.proc.exitCode === null) {
      const exited = new Promise((r) => serve.proc.once('exit', r));
      serve.proc.kill('SIGTERM');
      await exited;
    }
    await af?.stop();
  });

  it('shows a row per round, the hash chain, and an ok verdict', async () => {
    await page.goto(serve.url);
    const rows = page.locator('[data-testid="round-row"]');
    await expect.poll(() => rows.count()).toBe(3);
    expect(await rows.evaluateAll((els) => els.map((e) => [e.getAttribute('data-round'), e.getAttribute('data-status')]))).toEqual([
      ['1', 'finalized'],
      ['2', 'finalized'],
      ['3', 'finalized'],
    ]);
    for (const s of await rows.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-signers')))))
      expect(s).toBeGreaterThanOrEqual(2);
    expect(await page.getByTestId('verdict').getAttribute('data-ok')).toBe('true');
    // The hash chain ends at the model every peer holds.
    const links = page.locator('[data-testid="chain-link"]');
    expect(await links.count()).toBe(4);
    expect(await links.last().getAttribute('data-model-hash')).toBe(toHex0x(modelHash(af.fed.peers[0]!.weights)));
    // Charts are server-rendered vega SVG, labelled for assistive technology: rounds, model quality, budgets.
    expect(await page.locator('figure[role="img"] svg.marks').count()).toBe(3);
  });

  it("budget bars carry the contract's own ε spent and cap", async () => {
    const bars = page.locator('[data-testid="budget-bar"]');
    expect(await bars.count()).toBe(4);
    const client = af.fed.federationClients![0]!;
    for (const bar of await bars.all()) {
      const member = (await bar.getAttribute('data-member'))!;
      const onChain = await client.budgetOf(member);
      const spent = Number(await bar.getAttribute('data-spent'));
      expect(spent).toBe(Number(onChain.epsilonSpent) / 1e6);
      expect(spent).toBeGreaterThan(0);
      expect(Number(await bar.getAttribute('data-cap'))).toBe(Number(onChain.epsilonCap) / 1e6);
      expect(Number(await bar.getAttribute('value'))).toBe(spent);
      expect(await bar.getAttribute('aria-label')).toContain(spent.toFixed(6));
    }
  });

  it('model quality (binary): the task metrics of every round and the latest confusion matrix equal the model scored here; the importance chart', async () => {
    const rows = page.locator('[data-testid="metrics-row"]');
    expect(await rows.count()).toBe(3);
    expect(
      await rows
        .last()
        .locator('td')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-metric'))),
    ).toEqual(['accuracy', 'sensitivity', 'specificity', 'balancedAccuracy', 'auc', 'brier']);
    // Score the latest model (every peer holds it) on the same rows, independently of the auditor.
    const t = new Trainer(af.testData.model, 0);
    let want: ReturnType<typeof binaryTaskMetrics>;
    try {
      t.setWeights(af.fed.peers[0]!.weights);
      want = binaryTaskMetrics(af.testData.y, t.predict(Float32Array.from(af.testData.x.flat()), af.testData.y.length));
    } finally {
      t.dispose();
    }
    for (const td of await rows.last().locator('td').all()) {
      const k = (await td.getAttribute('data-metric')) as 'sensitivity';
      expect(Number(await td.getAttribute('data-value'))).toBeCloseTo(want[k]!, 6);
    }
    for (const k of ['sensitivity', 'specificity', 'balancedAccuracy', 'brier'] as const)
      expect(Number(await page.locator(`[data-testid="latest-metric"][data-metric="${k}"]`).getAttribute('data-value'))).toBeCloseTo(
        want[k]!,
        6,
      );
    const cell = (a: string, p: string) =>
      page.locator(`[data-testid="confusion-cell"][data-actual="${a}"][data-predicted="${p}"]`).getAttribute('data-count');
    const { tp, fp, tn, fn } = want.confusion!;
    expect([await cell('positive (1)', 'positive (1)'), await cell('positive (1)', 'negative (0)')]).toEqual([String(tp), String(fn)]);
    expect([await cell('negative (0)', 'negative (0)'), await cell('negative (0)', 'positive (1)')]).toEqual([String(tn), String(fp)]);
    const chart = page.getByTestId('importance-chart');
    expect(await chart.getAttribute('data-method')).toBe('kernel-shap');
    expect(await chart.locator('svg rect').count()).toBe(30);
  });

  it('is keyboard navigable and its tables have captions and header scopes', async () => {
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement?.id')).toBe('main');
    // Evaluated in the page (a string: this project's TypeScript has no DOM types).
    const tables = (await page.evaluate(`[...document.querySelectorAll('table')].map((t) => ({
      caption: t.querySelector('caption')?.textContent?.length ?? 0,
      scoped: [...t.querySelectorAll('th')].every((th) => th.getAttribute('scope') !== null),
    }))`)) as { caption: number; scoped: boolean }[];
    // Rounds, model quality, the latest model's confusion matrix, budgets, credits.
    expect(tables.length).toBe(5);
    for (const t of tables) expect(t).toEqual({ caption: expect.any(Number), scoped: true });
    for (const t of tables) expect(t.caption).toBeGreaterThan(0);
  });

  it('follows the chain: a fourth round appears without a reload', async () => {
    await af.runRound();
    await expect.poll(() => page.locator('[data-testid="round-row"]').count(), { timeout: 20_000 }).toBe(4);
    // Its model is re-evaluated and becomes the latest model shown in detail.
    // (Scored in the background after the poll that finds the round; a loaded machine takes longer.)
    await expect.poll(() => page.locator('[data-testid="metrics-row"]').count(), { timeout: 60_000 }).toBe(4);
    await expect
      .poll(() => page.locator('#section-model h3').first().textContent(), { timeout: 60_000 })
      .toBe("Round 4's model on the test data");
  }, 120_000);

  it('a flipped byte in one model file shows up as an ARTIFACT_HASH_MISMATCH finding', async () => {
    const round2 = (await page.locator('[data-testid="chain-link"][data-round="2"]').getAttribute('data-model-hash'))!;
    const file = join(af.artifactsDir, `${round2.slice(2)}.fmwt`);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1]! ^= 0x01;
    writeFileSync(file, bytes);
    const finding = page.locator('[data-testid="finding"][data-code="ARTIFACT_HASH_MISMATCH"]');
    await expect.poll(() => finding.count(), { timeout: 20_000 }).toBe(1);
    expect(await finding.getAttribute('data-round')).toBe('2');
    expect(await finding.getAttribute('data-severity')).toBe('error');
    expect(await page.getByTestId('verdict').getAttribute('data-ok')).toBe('false');
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`dashboard screenshot: ${SCREENSHOT}`);
  });
});
