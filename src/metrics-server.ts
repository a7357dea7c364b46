import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Prometheus metrics on a port of their own, never on the public API port: a scrape is for the
 * operator's monitoring, and some figures cost database reads. The API process and the worker
 * both serve theirs with `serveMetrics`.
 */

export interface Listen {
  /** Undefined: every interface. */
  host?: string;
  port: number;
}

/** `9464` (on 127.0.0.1), `0.0.0.0:9464`, `[::]:9464`; unset or empty: off. */
export function parseListen(value: string | undefined, defaultHost = '127.0.0.1'): Listen | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new Error(`"${v}" is not a port or host:port (e.g. 9464 or 0.0.0.0:9464)`);
  const host = m[1]?.replace(/^\[(.*)\]$/, '$1') ?? defaultHost;
  return { host, port };
}

/** Text in the Prometheus exposition format; a source that fails is left out of the page. */
export type MetricsSource = () => Promise<string>;

export interface MetricsServer {
  /** http://host:port/metrics */
  url: string;
  close(): Promise<void>;
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsServerOptions {
  /** Also serve /healthz: 200 while this says so, 503 otherwise (the worker's image health check). */
  healthy?: () => boolean;
}

export async function serveMetrics(listen: Listen, sources: MetricsSource[], opts: MetricsServerOptions = {}): Promise<MetricsServer> {
  const answer = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz' && opts.healthy) {
      const ok = opts.healthy();
      return void res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'stopping' }));
    }
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    const parts = await Promise.allSettled(sources.map((s) => s()));
    const text = parts.map((p) => (p.status === 'fulfilled' ? p.value : '')).filter(Boolean).join('\n');
    res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : text);
  };
  // Promise.allSettled never rejects: every request is answered.
  const server = http.createServer((req, res) => void answer(req, res));
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
