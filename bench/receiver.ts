import { startReceiver as startHttpsReceiver, type ReceivedRequest, type Reply } from '../test/support/receiver';

/**
 * The tests' HTTPS receiver (Basic Auth, real TLS), counting instead of keeping: rows per sender
 * (the Hooksync-Target-Id header), a page id seen before ignored (a retry whose 2xx got lost),
 * and when each row tagged with `data.metadata.bench_seq` arrived, for the end-to-end latency.
 */
export interface Receiver {
  /** https://user:password@127.0.0.1:port/sync */
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
  readonly refused: number;
  close(): Promise<void>;
}

interface Tally {
  rows: number;
  pages: number;
  pageIds: Set<string>;
  firstAt?: number;
  lastAt?: number;
}

type Row = { data?: { metadata?: { bench_seq?: unknown } } };

export async function startReceiver(): Promise<Receiver> {
  const tallies = new Map<string, Tally>();
  const tally = (target: string) => {
    let t = tallies.get(target);
    if (!t) tallies.set(target, (t = { rows: 0, pages: 0, pageIds: new Set() }));
    return t;
  };
  const arrivals = new Map<number, number>();
  let badBodies = 0;

  const count = (req: ReceivedRequest): Reply => {
    const now = performance.now();
    const body = req.body as { rows?: Row[] } | string;
    if (typeof body !== 'object' || body === null) {
      badBodies += 1;
      return { status: 400 };
    }
    const rows = Array.isArray(body.rows) ? body.rows : [];
    const t = tally(String(req.headers['hooksync-target-id'] ?? 'unknown'));
    if (rows.length > 0 && !(req.pageId !== undefined && t.pageIds.has(req.pageId))) {
      if (req.pageId !== undefined) t.pageIds.add(req.pageId);
      t.rows += rows.length;
      t.pages += 1;
      t.firstAt ??= now;
      t.lastAt = now;
      for (const row of rows) {
        const seq = row.data?.metadata?.bench_seq;
        if (typeof seq === 'number' && !arrivals.has(seq)) arrivals.set(seq, now);
      }
    }
    return { status: 200, body: { ok: true } };
  };
  const https = await startHttpsReceiver({ user: 'bench', keepRequests: false });
  https.respondWith(count);

  return {
    url: https.url,
    rows: (target) => tallies.get(target)?.rows ?? 0,
    pages: (target) => tallies.get(target)?.pages ?? 0,
    firstAt: (target) => tallies.get(target)?.firstAt,
    async waitForRows(target, n, timeoutMs) {
      // Polling costs the measurement nothing: the answer is the moment the n-th row arrived.
      const t = tally(target);
      for (const deadline = performance.now() + timeoutMs; t.rows < n; await new Promise((r) => setTimeout(r, 10))) {
        if (performance.now() > deadline) throw new Error(`${target}: ${t.rows} of ${n} rows arrived within ${Math.round(timeoutMs / 1000)} s`);
      }
      return t.lastAt!;
    },
    arrivals,
    get refused() {
      return https.unauthorized + badBodies;
    },
    close: () => https.close(),
  };
}
