import { describe, expect, it } from 'vitest';
import { startOpsServer } from '../../node/ops/http.js';
import { NodeMetrics } from '../../node/ops/metrics.js';

describe('ops endpoint', () => {
  it('serves /health, /status and Prometheus /metrics', async () => {
    const metrics = new NodeMetrics();
    metrics.roundsJoined.inc(3);
    metrics.verdicts.inc({ topic: 'update', action: 'reject', code: 'PEER_NOT_MEMBER' });
    await metrics.timePhase('train', async () => {});
    const ops = await startOpsServer({ host: '127.0.0.1', port: 0, metrics, status: () => ({ round: 7, modelHash: '0xabc' }) });
    try {
      expect(await (await fetch(`${ops.url}/health`)).json()).toEqual({ ok: true });
      expect(await (await fetch(`${ops.url}/status`)).json()).toEqual({ round: 7, modelHash: '0xabc' });
      const text = await (await fetch(`${ops.url}/metrics`)).text();
      expect(text).toContain('fedmesh_rounds_joined_total 3');
      expect(text).toContain('fedmesh_gossip_verdicts_total{topic="update",action="reject",code="PEER_NOT_MEMBER"} 1');
      expect(text).toMatch(/fedmesh_round_phase_seconds_count\{phase="train"\} 1/);
      expect((await fetch(`${ops.url}/nope`)).status).toBe(404);
      // Two nodes in one process keep separate series.
      expect(await new NodeMetrics().registry.getSingleMetricAsString('fedmesh_rounds_joined_total')).toContain(
        'fedmesh_rounds_joined_total 0',
      );
    } finally {
      await ops.close();
    }
  });
});
