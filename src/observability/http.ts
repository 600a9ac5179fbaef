/** `GET /healthz` and `GET /metrics` on a small HTTP server (loopback unless configured otherwise). */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

export interface HealthReport {
  store: 'ok' | 'unreachable';
  gateway: 'connected' | 'disconnected' | 'not-configured';
  lastCycleAt: Date | undefined;
}

export interface HealthServer {
  readonly url: string;
  close(): Promise<void>;
}

export interface HealthServerOptions {
  host: string;
  port: number;
  metrics: Metrics;
  health: () => Promise<HealthReport>;
  /** Unhealthy when the last cycle is older than this (and than the time since start). */
  maxCycleAgeSeconds: number;
  now?: () => Date;
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const now = opts.now ?? (() => new Date());
  const started = now();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== '/healthz' && path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz or /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    void (async () => {
      try {
        if (path === '/metrics') {
          res.writeHead(200, { 'content-type': opts.metrics.contentType }).end(await opts.metrics.render());
          return;
        }
        const h = await opts.health();
        const t = now().getTime();
        const age = h.lastCycleAt ? Math.round((t - h.lastCycleAt.getTime()) / 1000) : undefined;
        const uptime = Math.round((t - started.getTime()) / 1000);
        const problems: string[] = [];
        if (h.store !== 'ok') problems.push('store unreachable');
        if (h.gateway === 'disconnected') problems.push('Discord gateway disconnected');
        if ((age ?? uptime) > opts.maxCycleAgeSeconds)
          problems.push(age === undefined ? 'no cycle has run yet' : `last cycle ${age} s ago`);
        const body = {
          status: problems.length === 0 ? 'ok' : 'unhealthy',
          problems,
          store: h.store,
          gateway: h.gateway,
          lastCycleAt: h.lastCycleAt?.toISOString() ?? null,
          lastCycleAgeSeconds: age ?? null,
          uptimeSeconds: uptime,
        };
        res
          .writeHead(problems.length === 0 ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify(body));
      } catch (err) {
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status: 'error', problems: [(err as Error).message] }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    close: () => {
      closing ??= new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
      return closing;
    },
  };
}
