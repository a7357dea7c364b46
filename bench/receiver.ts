import { startReceiver as startHttpsReceiver, type ReceivedRequest, type Reply } from '../test/support/receiver';

type Row = { data?: { metadata?: { bench_seq?: unknown } } };

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/**
 * The tests' HTTPS receiver (Basic Auth, real TLS), counting instead of keeping: rows per sender
 * (the Hooksync-Target-Id header), and when each row tagged with `data.metadata.bench_seq`
 * arrived at each sender's endpoint, for the end-to-end latency. One server serves any number of
 * senders (the targets of a fan-out, the plain loop's routes): the header tells them apart.
 */
export async function startReceiver() {
  // What each sender (a target, or the plain loop under its own name) delivered. A page sent again
  // (a retry whose 2xx got lost) is counted once; firstAt and lastAt are performance.now().
  // arrivals: bench_seq → performance.now() of the row's first arrival from this sender.
  type Tally = { rows: number; pages: number; pageIds: Set<string>; arrivals: Map<number, number>; firstAt?: number; lastAt?: number };
  const tallies = new Map<string, Tally>();
  const tally = (target: string) => {
    if (!tallies.has(target)) tallies.set(target, { rows: 0, pages: 0, pageIds: new Set(), arrivals: new Map() });
    return tallies.get(target)!;
  };
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
        if (typeof seq === 'number' && !t.arrivals.has(seq)) t.arrivals.set(seq, now);
      }
    }
    return { status: 200, body: { ok: true } };
  };
  const https = await startHttpsReceiver({ user: 'bench', keepRequests: false });
  https.respondWith(count);

  return {
    /** https://user:password@127.0.0.1:port/sync */
    url: https.url,
    tally,
    /** bench_seq → performance.now() of its first arrival from `target`. */
    arrivals: (target: string): ReadonlyMap<number, number> => tally(target).arrivals,
    /** performance.now() at the moment `target` had received `n` rows. */
    async waitForRows(target: string, n: number, timeoutMs: number): Promise<number> {
      // Polling costs the measurement nothing: the answer is when the n-th row arrived.
      const t = tally(target);
      for (const deadline = performance.now() + timeoutMs; t.rows < n; await new Promise((r) => setTimeout(r, 10))) {
        if (performance.now() > deadline) throw new Error(`${target}: ${t.rows} of ${n} rows arrived within ${Math.round(timeoutMs / 1000)} s`);
      }
      return t.lastAt!;
    },
    /** Requests refused (bad credentials, bad JSON): should stay 0. */
    refused: () => https.unauthorized + badBodies,
    close: () => https.close(),
  };
}
