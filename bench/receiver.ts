import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { BenchTls } from './tls';

/**
 * The HTTPS endpoint deliveries go to, as a user's backend would be: Basic Auth, parses each
 * page, answers 200. It counts rows per sender (the Hooksync-Target-Id header), ignores a page
 * id it has already seen (a retry whose 2xx got lost), and notes when each row tagged with
 * `data.metadata.bench_seq` arrived, for the end-to-end latency.
 */
export interface Receiver {
  /** https://user:password@127.0.0.1:port/hooksync */
  url: string;
  rows(target: string): number;
  pages(target: string): number;
  /** performance.now() when the first page of `target` arrived. */
  firstAt(target: string): number | undefined;
  /** Resolves with performance.now() at the moment `target` has received `n` rows. */
  waitForRows(target: string, n: number, timeoutMs: number): Promise<number>;
  /** bench_seq → performance.now() of arrival (first arrival only). */
  arrivals: Map<number, number>;
  /** Requests refused (bad credentials, bad JSON): should stay 0. */
  refused: number;
  close(): Promise<void>;
}

interface Tally {
  rows: number;
  pages: number;
  pageIds: Set<string>;
  firstAt?: number;
  lastAt?: number;
  waiters: Array<{ n: number; resolve: (at: number) => void }>;
}

export async function startReceiver(tls: BenchTls, user = 'bench', password = 'b3nch-s3cret'): Promise<Receiver> {
  const expected = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  const tallies = new Map<string, Tally>();
  const tally = (target: string) => {
    let t = tallies.get(target);
    if (!t) tallies.set(target, (t = { rows: 0, pages: 0, pageIds: new Set(), waiters: [] }));
    return t;
  };
  const arrivals = new Map<number, number>();
  const state = { refused: 0 };

  const server = https.createServer({ key: fs.readFileSync(tls.keyFile), cert: fs.readFileSync(tls.certFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const now = performance.now();
      if (req.method !== 'POST' || req.headers.authorization !== expected) {
        state.refused += 1;
        res.writeHead(401, { 'www-authenticate': 'Basic realm="bench"' }).end();
        return;
      }
      let body: { rows?: Array<{ data?: { metadata?: { bench_seq?: unknown } } }> };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        state.refused += 1;
        res.writeHead(400).end();
        return;
      }
      const rows = Array.isArray(body.rows) ? body.rows : [];
      const target = String(req.headers['hooksync-target-id'] ?? 'unknown');
      const pageId = req.headers['hooksync-page-id'];
      const t = tally(target);
      if (rows.length > 0 && !(typeof pageId === 'string' && t.pageIds.has(pageId))) {
        if (typeof pageId === 'string') t.pageIds.add(pageId);
        t.rows += rows.length;
        t.pages += 1;
        t.firstAt ??= now;
        t.lastAt = now;
        for (const row of rows) {
          const seq = row.data?.metadata?.bench_seq;
          if (typeof seq === 'number' && !arrivals.has(seq)) arrivals.set(seq, now);
        }
        t.waiters = t.waiters.filter((w) => {
          if (t.rows < w.n) return true;
          w.resolve(now);
          return false;
        });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `https://${user}:${password}@127.0.0.1:${port}/hooksync`,
    rows: (target) => tallies.get(target)?.rows ?? 0,
    pages: (target) => tallies.get(target)?.pages ?? 0,
    firstAt: (target) => tallies.get(target)?.firstAt,
    waitForRows(target, n, timeoutMs) {
      const t = tally(target);
      if (t.rows >= n) return Promise.resolve(t.lastAt ?? performance.now());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          t.waiters = t.waiters.filter((w) => w !== waiter);
          reject(new Error(`${target}: ${t.rows} of ${n} rows arrived within ${Math.round(timeoutMs / 1000)} s`));
        }, timeoutMs);
        const waiter = {
          n,
          resolve: (at: number) => {
            clearTimeout(timer);
            resolve(at);
          },
        };
        t.waiters.push(waiter);
      });
    },
    arrivals,
    get refused() {
      return state.refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
