/**
 * The guide is a test (issue 17): a consortium sets itself up with the commands of
 * docs/operator-guide.md §3 and docs/manifest.md, each a separate `fedmesh` process — the admin
 * writes a manifest from a sample (`federation init`), checks it (`manifest validate`), starts a
 * local chain (`chain start`), three institutions create their nodes (`node init`), the admin
 * deploys with the manifest (`chain deploy`: manifest hash and initial model hash computed,
 * members funded, names registered), each institution proves its peer id (`node proof`, stored
 * by the admin with `chain set-peer-proof`), checks its data (`data check`) and starts
 * its node (`node start`), three rounds finalize, and an auditor verifies them (`audit`, with
 * a CSV test set in the manifest's schema) and sees the members by name.
 *
 * The three institutions differ as real ones do: one as the sample; one with its own column
 * names and case, a `;` separator, an extra column and the label coded 1/0 (mapped with
 * data.columns and data.values); one with bad rows and missing values. The set-up time, from the
 * first command to the first finalized round, is printed (machine time: no human typing).
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { loadBreastCancer } from '../../node/data/breast-cancer.js';
import { BREAST_CANCER_FEATURE_NAMES } from '../../node/devnet/devnet.js';
import { spawnFedmesh, stopPids } from '../../node/devnet/up.js';
import { freeBasePort, freePort, statusAt, until } from './harness.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/fedmesh.mjs');
const fedmesh = (...args: string[]) => run(process.execPath, [BIN, ...args], { timeout: 180_000 });

const SITES = 3;
const ROUNDS = 3;
/** The ten "mean" measurements: a small model, quick rounds. */
const FEATURES = BREAST_CANCER_FEATURE_NAMES.slice(0, 10);

const children: ChildProcess[] = [];
afterAll(async () => {
  await stopPids(
    children.flatMap((c) => (c.pid !== undefined ? [c.pid] : [])),
    2_000,
  );
});

describe('docs/operator-guide.md as written: three institutions, deploy, three rounds, audit', () => {
  it('sets up from the docs alone and finalizes three audited rounds', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fm-e2e-guide-'));
    const all = loadBreastCancer();
    const row = (i: number): number[] => Array.from(all.x.subarray(i * 30, i * 30 + 10));
    const label = (i: number): string => (all.y[i] === 1 ? 'malignant' : 'benign');
    const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, k) => a + k);
    const csv = (header: string[], rows: (string | number)[][], sep = ','): string =>
      `${[header, ...rows].map((r) => r.join(sep)).join('\n')}\n`;
    const started = Date.now();

    // ── The admin: a manifest from a sample ───────────────────────────────────────────────
    writeFileSync(
      join(root, 'sample.csv'),
      csv(
        ['patient_id', ...FEATURES, 'diagnosis'],
        range(0, 60).map((i) => [`P${i}`, ...row(i), label(i)]),
      ),
    );
    const init = await fedmesh(
      'federation',
      'init',
      '--federation',
      'guide',
      '--sample',
      join(root, 'sample.csv'),
      '--label',
      'diagnosis',
      '--positive',
      'malignant',
      '--rounds',
      String(ROUNDS),
      '--out',
      join(root, 'manifest.yaml'),
    );
    expect(init.stdout).toContain('10 features, label diagnosis (positive malignant)');
    expect(readFileSync(join(root, 'manifest.yaml'), 'utf8')).toContain('# left out: "patient_id"');
    const validated = await fedmesh('manifest', 'validate', join(root, 'manifest.yaml'));
    const manifestHash = /manifestHash\s+(0x[0-9a-f]{64})/.exec(validated.stdout)![1]!;
    const initialModelHash = /initialModelHash\s+(0x[0-9a-f]{64})/.exec(validated.stdout)![1]!;

    // ── A local chain ───────────────────────────────────────────────────────────────────────
    const rpcPort = await freePort();
    const rpc = `http://127.0.0.1:${rpcPort}`;
    children.push(spawnFedmesh(['chain', 'start', '--port', String(rpcPort)], join(root, 'chain.log')));

    // ── Each institution: node init, its data, its config ───────────────────────────────────
    const base = await freeBasePort(SITES);
    const sites = range(0, SITES).map((i) => ({
      i,
      dir: join(root, `site-${i}`),
      listen: `/ip4/127.0.0.1/tcp/${base + i}`,
      ops: base + 100 + i,
    }));
    const ids: { peerId: string; address: string }[] = [];
    for (const s of sites) {
      mkdirSync(s.dir, { recursive: true });
      writeFileSync(join(s.dir, 'passphrase'), `a long passphrase for site ${s.i}\n`, { mode: 0o600 });
      const out = (await fedmesh('node', 'init', '--dir', s.dir, '--passphrase-file', join(s.dir, 'passphrase'))).stdout;
      ids.push({ peerId: /peer id\s+(\S+)/.exec(out)![1]!, address: /address\s+(0x[0-9a-fA-F]{40})/.exec(out)![1]! });
    }
    // Site 0: the sample's schema.
    const rows0 = range(0, 170);
    // Site 1: own names and case, ';', an extra column, the label coded 1/0.
    const rows1 = range(170, 340);
    // Site 2: four bad rows and two with a missing value among its own.
    const rows2 = range(340, 509);
    mkdirSync(join(sites[0]!.dir, 'data'));
    writeFileSync(
      join(sites[0]!.dir, 'data', 'site.csv'),
      csv(
        ['patient_id', ...FEATURES, 'diagnosis'],
        rows0.map((i) => [`A${i}`, ...row(i), label(i)]),
      ),
    );
    mkdirSync(join(sites[1]!.dir, 'data'));
    writeFileSync(
      join(sites[1]!.dir, 'data', 'site.csv'),
      csv(
        ['WARD', 'RADIUS_MEAN', ...FEATURES.slice(1).map((f) => f.toUpperCase()), 'Diagnosis'],
        rows1.map((i) => ['north', ...row(i), all.y[i] === 1 ? 1 : 0]),
        ';',
      ),
    );
    mkdirSync(join(sites[2]!.dir, 'data'));
    const rows2Text = rows2.map((i) => [...row(i), label(i)] as (string | number)[]);
    rows2Text[10]![0] = 'n/a?';
    rows2Text[20]![10] = 'unclear';
    rows2Text[30]![3] = 'twelve';
    rows2Text[40]![10] = 'M';
    rows2Text[50]![2] = 'NA';
    rows2Text[60]![5] = '';
    writeFileSync(join(sites[2]!.dir, 'data', 'site.csv'), csv([...FEATURES, 'diagnosis'], rows2Text));

    for (const s of sites) {
      const cfg = parseYaml(readFileSync(join(s.dir, 'config.yaml'), 'utf8'));
      cfg.passphraseFile = './passphrase';
      cfg.manifest = '../manifest.yaml';
      cfg.network.listen = [s.listen];
      cfg.network.bootstrap = sites.filter((o) => o.i !== s.i).map((o) => `${o.listen}/p2p/${ids[o.i]!.peerId}`);
      cfg.chain.rpcUrl = rpc;
      cfg.chain.deployment = '../deployment.json';
      cfg.chain.pollMs = 250;
      cfg.ops.port = s.ops;
      if (s.i === 1) {
        cfg.data.separator = ';';
        cfg.data.columns = { mean_radius: 'RADIUS_MEAN' };
        cfg.data.values = { diagnosis: { '1': 'malignant', '0': 'benign' } };
      }
      writeFileSync(join(s.dir, 'config.yaml'), toYaml(cfg));
    }

    // ── The admin deploys; the chain must be up ─────────────────────────────────────────────
    await until('chain start answering', 120_000, async () =>
      fetch(rpc, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
      })
        .then((r) => r.ok)
        .catch(() => false),
    );
    const names = ['Hôpital Nord', 'St. Mary’s', 'Klinikum Süd'];
    writeFileSync(
      join(root, 'members.json'),
      JSON.stringify({ members: ids.map((id, i) => ({ address: id.address, peerId: id.peerId, name: names[i], epsilonCap: 8 })) }),
    );
    const deployed = await fedmesh(
      'chain',
      'deploy',
      '--rpc',
      rpc,
      '--members',
      join(root, 'members.json'),
      '--manifest',
      join(root, 'manifest.yaml'),
      '--out',
      join(root, 'deployment.json'),
    );
    expect(deployed.stdout).toContain('3 members, each funded with 10.0');
    const deployment = JSON.parse(readFileSync(join(root, 'deployment.json'), 'utf8'));
    expect(deployment).toMatchObject({ manifestHash, initialModelHash });

    // ── Each institution proves its peer id; the admin checks and stores the proofs (§3 step 4) ──
    for (const s of sites) {
      const proof = (await fedmesh('node', 'proof', '--dir', s.dir)).stdout;
      expect(JSON.parse(proof)).toMatchObject({ address: ids[s.i]!.address, peerId: ids[s.i]!.peerId });
      writeFileSync(join(root, `proof-${s.i}.json`), proof);
      const stored = await fedmesh(
        'chain',
        'set-peer-proof',
        '--rpc',
        rpc,
        '--deployment',
        join(root, 'deployment.json'),
        '--from',
        join(root, `proof-${s.i}.json`),
      );
      expect(stored.stdout).toContain(`peer proof of ${ids[s.i]!.address}`);
    }

    // ── Each institution checks its data, then starts its node ─────────────────────────────
    const check = JSON.parse((await fedmesh('data', 'check', '--dir', sites[2]!.dir, '--json')).stdout);
    expect(check).toMatchObject({ ok: true, read: 169, badRowCount: 4, droppedMissing: 2, kept: 163 });
    expect(check.badRows.map((b: { line: number; column: string }) => [b.line, b.column])).toEqual([
      [12, 'mean_radius'],
      [22, 'diagnosis'],
      [32, 'mean_area'],
      [42, 'diagnosis'],
    ]);
    expect(JSON.parse((await fedmesh('data', 'check', '--dir', sites[1]!.dir, '--json')).stdout)).toMatchObject({
      ok: true,
      kept: 170,
      badRowCount: 0,
    });
    for (const s of sites) children.push(spawnFedmesh(['node', 'start', '--dir', s.dir], join(root, `node-${s.i}.log`)));

    const firstFinalized = await until('round 1 finalized', 300_000, async () => {
      const st = await statusAt(`http://127.0.0.1:${sites[0]!.ops}`);
      return st !== undefined && st.chain.lastFinalizedRound >= 1 ? Date.now() : undefined;
    });
    const statuses = await until(`${ROUNDS} rounds done on every node`, 400_000, async () => {
      const all3 = await Promise.all(sites.map((s) => statusAt(`http://127.0.0.1:${s.ops}`)));
      return all3.every((st) => st?.phase === 'done') ? all3.map((st) => st!) : undefined;
    });
    expect(new Set(statuses.map((s) => s.model.hash)).size).toBe(1);
    for (const s of statuses) expect(s).toMatchObject({ roundsAborted: [] });
    const metrics = await (await fetch(`http://127.0.0.1:${sites[0]!.ops}/metrics`)).text();
    expect(metrics).toMatch(/^fedmesh_rounds_aborted_total 0$/m);

    // ── The auditor: every round, the models on a CSV test set, the members by name ─────────
    writeFileSync(
      join(root, 'test.csv'),
      csv(
        [...FEATURES, 'diagnosis'],
        range(509, 569).map((i) => [...row(i), label(i)]),
      ),
    );
    const audit = await fedmesh(
      'audit',
      '--rpc',
      rpc,
      '--deployment',
      join(root, 'deployment.json'),
      '--artifacts',
      join(sites[0]!.dir, 'state'),
      '--test-data',
      join(root, 'test.csv'),
      '--manifest',
      join(root, 'manifest.yaml'),
      '--json',
    );
    const report = JSON.parse(audit.stdout);
    expect(report.ok).toBe(true);
    expect(report.rounds.filter((r: { status: string }) => r.status === 'finalized')).toHaveLength(ROUNDS);
    expect(report.rounds.every((r: { evaluation?: { accuracy: number } }) => r.evaluation !== undefined)).toBe(true);
    expect(report.members.map((m: { name: string }) => m.name).sort()).toEqual([...names].sort());
    const lastAccuracy = report.rounds.at(-1).evaluation.accuracy as number;

    const setupSeconds = (firstFinalized - started) / 1000;
    console.log(
      JSON.stringify({
        test: 'operator-guide',
        setupToFirstFinalizedRoundSeconds: setupSeconds,
        totalSeconds: (Date.now() - started) / 1000,
        lastRoundAccuracyOnTestCsv: lastAccuracy,
      }),
    );
  }, 900_000);
});
