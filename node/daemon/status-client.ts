/**
 * `fedmesh node status`: read a running node's /status endpoint (node/ops/http.ts).
 */
import { join } from 'node:path';
import { FedmeshError } from '../../protocol/errors.js';
import { loadNodeConfig } from '../config/node-config.js';
import type { NodeStatus } from './daemon.js';

export class StatusError extends FedmeshError<'NODE_UNREACHABLE', { url: string; reason: string }> {}

/** The ops URL of the node whose folder (with config.yaml) or config file is given. */
export function opsUrlOf(o: { dir?: string; config?: string; env?: NodeJS.ProcessEnv }): string {
  const path = o.config ?? join(o.dir ?? '.', 'config.yaml');
  const cfg = loadNodeConfig(path, o.env ?? process.env);
  const host = cfg.ops.host === '0.0.0.0' ? '127.0.0.1' : cfg.ops.host === '::' ? '[::1]' : cfg.ops.host;
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${cfg.ops.port}`;
}

export async function fetchNodeStatus(url: string, timeoutMs = 5_000): Promise<NodeStatus> {
  let res: Response;
  try {
    res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new StatusError('NODE_UNREACHABLE', `no node answers at ${url} (is it running?)`, { url, reason: String(e) });
  }
  if (!res.ok) throw new StatusError('NODE_UNREACHABLE', `${url}/status answered ${res.status}`, { url, reason: `HTTP ${res.status}` });
  return (await res.json()) as NodeStatus;
}
