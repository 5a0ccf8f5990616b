/**
 * The node's operations endpoint: `/metrics` (Prometheus text format), `/health` (liveness:
 * 200 while the process serves) and `/status` (JSON from the node). Binds to loopback by
 * default: expose it to your monitoring network deliberately.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeMetrics } from './metrics.js';

export interface OpsServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startOpsServer(o: { host: string; port: number; metrics: NodeMetrics; status: () => unknown }): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/health') return send(200, 'application/json', '{"ok":true}\n');
    if (path === '/status') return send(200, 'application/json', `${JSON.stringify(o.status())}\n`);
    if (path === '/metrics') {
      o.metrics.registry.metrics().then(
        (text) => send(200, o.metrics.registry.contentType, text),
        (e) => send(500, 'text/plain', `${String(e)}\n`),
      );
      return;
    }
    send(404, 'text/plain', 'not found: try /metrics, /health or /status\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // Monitoring scrapers keep connections alive; do not wait for them to hang up.
        server.closeAllConnections();
      }),
  };
}
