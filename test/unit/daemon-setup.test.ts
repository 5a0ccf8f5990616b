/**
 * The daemon's pure-ish parts: reading the deployment file (typed errors naming the file and
 * the rule), the model spec a manifest implies, site data through the manifest (standardised
 * with local statistics; unsupported kinds refused), and the metering gossip decorator
 * (bytes and verdicts by topic kind, action and code) over the in-memory gossip twin.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../protocol/manifest.js';
import { ACCEPT, reject } from '../../protocol/verdict.js';
import { meteredGossip, topicKind } from '../../node/daemon/metering.js';
import { loadDeploymentRef, loadSiteData, modelSpecOf, planSiteDp } from '../../node/daemon/setup.js';
import { MemoryGossipHub } from '../../node/net/memory-gossip.js';
import { NodeMetrics } from '../../node/ops/metrics.js';

const manifest = parseManifest({
  version: 1,
  federation: 'site-test',
  seed: 1,
  model: { kind: 'mlp', hidden: [4] },
  features: [
    { name: 'age', kind: 'numeric' },
    { name: 'sex', kind: 'categorical', categories: ['f', 'm'] },
    { name: 'bp', kind: 'numeric' },
  ],
  label: { name: 'y', positive: 'sick', negatives: ['well'] },
  rounds: 2,
  training: { localEpochs: 1, batchSize: 4, learningRate: 0.01 },
  committee: { size: 3, threshold: 2 },
});

describe('daemon set-up', () => {
  it('reads a deployment file, and names the file and the rule when it is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-dep-'));
    const good = join(dir, 'deployment.json');
    writeFileSync(
      good,
      JSON.stringify({
        addresses: { FedmeshFederation: `0x${'ab'.repeat(20)}` },
        chainId: '31337',
        deployBlock: 3,
        manifestHash: `0x${'CD'.repeat(32)}`,
      }),
    );
    expect(loadDeploymentRef(good)).toEqual({
      address: `0x${'ab'.repeat(20)}`,
      chainId: 31337n,
      deployBlock: 3,
      manifestHash: `0x${'cd'.repeat(32)}`,
    });
    const missing = join(dir, 'nope.json');
    expect(() => loadDeploymentRef(missing)).toThrow(
      expect.objectContaining({ code: 'NODE_DEPLOYMENT_INVALID', fields: expect.objectContaining({ path: missing }) }),
    );
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ addresses: { FedmeshFederation: '0x12' }, chainId: '1', deployBlock: 0 }));
    expect(() => loadDeploymentRef(bad)).toThrow(/addresses\.FedmeshFederation must be a 20-byte hex address/);
  });

  it('derives the model input width from the features, one-hot widths included', () => {
    expect(modelSpecOf(manifest)).toEqual({ kind: 'mlp', inputShape: [4], hidden: [4] });
  });

  it('loads CSV through the manifest and standardises it with local statistics; refuses npz in the daemon', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-site-'));
    const csv = join(dir, 'site.csv');
    writeFileSync(csv, 'age,sex,bp,y\n30,f,120,well\n50,m,140,sick\n70,f,160,sick\n40,m,,well\n');
    const { data, report } = loadSiteData({ kind: 'csv', path: csv, missing: 'drop', maxBadRowFraction: 0.5 }, manifest);
    expect(report).toMatchObject({ read: 4, kept: 3, bad: 0, droppedMissing: 1, badRows: [] });
    expect(data.n).toBe(3);
    const ages = [0, 1, 2].map((i) => data.x[i * 4]!);
    expect(ages.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 5);
    expect(() => loadSiteData({ kind: 'npz', path: csv, missing: 'drop', maxBadRowFraction: 0.05 }, manifest)).toThrow(
      expect.objectContaining({ code: 'NODE_DATA_UNSUPPORTED' }),
    );
  });

  it('meters gossip: bytes by direction, verdicts by topic kind, action and code', async () => {
    const hub = new MemoryGossipHub();
    const metrics = new NodeMetrics();
    const a = meteredGossip(hub.join('a'), metrics);
    const b = hub.join('b');
    const topic = '/fedmesh/site-test/update/1';
    expect(topicKind(topic)).toBe('update');
    a.subscribe(
      topic,
      (m) => (m.data[0] === 1 ? ACCEPT : reject('MSG_TOO_LARGE')),
      () => {},
    );
    b.subscribe(
      topic,
      () => ACCEPT,
      () => {},
    );
    await b.publish(topic, new Uint8Array([1, 2, 3]));
    await b.publish(topic, new Uint8Array([9, 9]));
    await a.publish(topic, new Uint8Array(10));
    await hub.settle();
    const text = await metrics.registry.metrics();
    expect(text).toContain('fedmesh_gossip_bytes_total{direction="received"} 5');
    expect(text).toContain('fedmesh_gossip_bytes_total{direction="sent"} 10');
    expect(text).toContain('fedmesh_gossip_verdicts_total{topic="update",action="accept",code="OK"} 1');
    expect(text).toContain('fedmesh_gossip_verdicts_total{topic="update",action="reject",code="MSG_TOO_LARGE"} 1');
  });

  it("plans this site's DP-SGD from public values only: q from the manifest, not from the record count; off when disabled or untargeted", () => {
    const withDp = parseManifest({
      ...manifest,
      dp: { epsilon: 4, delta: 1e-5, clipNorm: 1, sampleRate: 0.1 },
      publicStatistics: {
        features: {
          age: { min: 0, max: 120, center: 50, scale: 20, fill: 50 },
          sex: { fill: 'f' },
          bp: { min: 60, max: 250, center: 130, scale: 20, fill: 125 },
        },
      },
    });
    const plan = planSiteDp(withDp, { enabled: true }, 16)!;
    expect(plan.sampleRate).toBe(0.1);
    expect(plan.expectedBatchSize).toBe(16);
    expect(plan.noiseMultiplier).toBeGreaterThan(0);
    expect(plan.clipNorm).toBe(1);
    expect(plan.epsilon).toBeLessThanOrEqual(4);
    expect(plan.epsilon).toBeGreaterThan(3.5);
    // A larger σ from the operator spends less.
    expect(planSiteDp(withDp, { enabled: true, noiseMultiplier: plan.noiseMultiplier * 2, clipNorm: 0.5 }, 16)).toMatchObject({
      clipNorm: 0.5,
      epsilon: expect.any(Number),
    });
    expect(planSiteDp(withDp, { enabled: true, noiseMultiplier: plan.noiseMultiplier * 2 }, 16)!.epsilon).toBeLessThan(plan.epsilon);
    expect(planSiteDp(withDp, { enabled: false }, 16)).toBeUndefined();
    expect(planSiteDp(manifest, { enabled: true }, 16)).toBeUndefined();
  });
});
