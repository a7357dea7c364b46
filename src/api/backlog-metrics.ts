import client from 'prom-client';
import type pg from 'pg';
import { readBacklogs, type TargetBacklog } from '../db/backlog';
import { registry } from '../metrics';
import type { MetricsSource } from '../metrics-server';
import { registerIngestGauges } from './ingest-metrics';

/** Rows counted per target at most; a gauge at this value means "at least this many". */
export const BACKLOG_COUNT_CAP = 10_000;
const STATEMENT_TIMEOUT_MS = 1_000;
/** The whole backlog read; past it the page goes out without the backlog. */
const SCRAPE_BUDGET_MS = 5_000;

/**
 * The API process's metrics page: the process-wide registry (in `hooksync dev` the worker's
 * figures too) and the backlog per target, read from the database at scrape time, so any API
 * instance can report it and it is right even when no worker runs (that is when it matters most).
 */
export function apiMetrics(pool: pg.Pool): MetricsSource[] {
  const scrapeRegistry = new client.Registry();
  let reading: Promise<TargetBacklog[]> | undefined;
  /** One read per scrape, shared by the gauges below and by concurrent scrapes. */
  const readBacklog = () =>
    (reading ??= readBacklogs(pool, { cap: BACKLOG_COUNT_CAP, statementTimeoutMs: STATEMENT_TIMEOUT_MS }).finally(() => {
      reading = undefined;
    }));
  new client.Gauge({
    name: 'hooksync_backlog_rows',
    help: `Rows changed after the target's last delivered cursor, waiting to be sent (counted up to ${BACKLOG_COUNT_CAP}: that value means at least as many)`,
    labelNames: ['target', 'integration'],
    registers: [scrapeRegistry],
    async collect() {
      const rows = await readBacklog();
      this.reset();
      for (const r of rows) this.set({ target: r.target, integration: r.integration }, r.waiting);
    },
  });
  new client.Gauge({
    name: 'hooksync_backlog_lag_seconds',
    help: 'Age of the next row waiting to be sent to the target (0 when none waits)',
    labelNames: ['target', 'integration'],
    registers: [scrapeRegistry],
    async collect() {
      const rows = await readBacklog();
      this.reset();
      for (const r of rows) this.set({ target: r.target, integration: r.integration }, Math.round(r.lagSeconds * 1000) / 1000);
    },
  });
  registerIngestGauges(scrapeRegistry, pool);
  // Without the database the process metrics still answer; the backlog and the inbox are left out.
  const backlog: MetricsSource = () => within(SCRAPE_BUDGET_MS, scrapeRegistry.metrics());
  return [() => registry.metrics(), backlog];
}

/** Rejects after `ms` unless `p` settles first; the timer never keeps the process alive. */
export function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
