import type Router from '@koa/router';
import client from 'prom-client';
import type pg from 'pg';
import { backlogSql } from '../integrations/sql';
import { registry } from '../metrics';
import type { TemporalHandle } from '../temporal/client';
import { registerIngestGauges } from './ingest-metrics';

/** How long /readyz waits for each dependency: well within a load balancer's probe timeout. */
const READY_TIMEOUT_MS = 2_000;

/** Rejects after `ms` unless `p` settles first; the timer never keeps the process alive. */
function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The first line of an error, without gRPC's or pg's long tails. */
const reason = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 300);

/** /healthz: the process answers. /readyz: PostgreSQL and Temporal answer too. /metrics: Prometheus. */
export function mountHealth(router: Router, deps: { pool: pg.Pool; temporal: TemporalHandle }): void {
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    const [db, temporal] = await Promise.allSettled([
      within(READY_TIMEOUT_MS, deps.pool.query('SELECT 1')),
      // A deadline on the call itself, so an unreachable server leaves no retrying call behind.
      within(
        READY_TIMEOUT_MS + 500,
        deps.temporal.connection.withDeadline(Date.now() + READY_TIMEOUT_MS, () => deps.temporal.connection.workflowService.getSystemInfo({})),
      ),
    ]);
    const checks = {
      postgres: db.status === 'fulfilled' ? 'ok' : reason(db.reason),
      temporal: temporal.status === 'fulfilled' ? 'ok' : reason(temporal.reason),
    };
    const ready = db.status === 'fulfilled' && temporal.status === 'fulfilled';
    ctx.status = ready ? 200 : 503;
    ctx.set('cache-control', 'no-store');
    ctx.body = { status: ready ? 'ready' : 'unavailable', checks };
  });

  // The backlog is read from the database at scrape time, so any API instance can report it, and
  // it is right even when no worker runs (that is when it matters most).
  const scrapeRegistry = new client.Registry();
  let backlog: Promise<Array<{ target: string; integration: string; waiting: number; lag: number }>> | undefined;
  /** One read per scrape, shared by the gauges below. */
  const readBacklog = () =>
    (backlog ??= (async () => {
      try {
        const { rows: targets } = await deps.pool.query<{ id: string; integration_id: string; table_name: string; cursor_txid: string; cursor_seq: string }>(
          `SELECT t.id, t.integration_id, i.table_name, t.cursor_txid::text, t.cursor_seq::text
             FROM sync_targets t JOIN integrations i ON i.id = t.integration_id WHERE t.deleted_at IS NULL`,
        );
        const out = [];
        for (const t of targets) {
          const { rows } = await deps.pool.query<{ waiting: string; lag_seconds: number | null }>(backlogSql(t.table_name), [t.cursor_txid, t.cursor_seq]);
          out.push({ target: t.id, integration: t.integration_id, waiting: Number(rows[0]!.waiting), lag: rows[0]!.lag_seconds ?? 0 });
        }
        return out;
      } finally {
        backlog = undefined;
      }
    })());
  new client.Gauge({
    name: 'hooksync_backlog_rows',
    help: 'Rows changed after the target\'s last delivered cursor, waiting to be sent',
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
    help: 'Age of the oldest row waiting to be sent to the target (0 when none waits)',
    labelNames: ['target', 'integration'],
    registers: [scrapeRegistry],
    async collect() {
      const rows = await readBacklog();
      this.reset();
      for (const r of rows) this.set({ target: r.target, integration: r.integration }, Math.round(r.lag * 1000) / 1000);
    },
  });

  registerIngestGauges(scrapeRegistry, deps.pool);

  router.get('/metrics', async (ctx) => {
    // Without the database the process metrics still answer; the backlog is left out.
    const backlogText = await within(5_000, scrapeRegistry.metrics()).catch(() => '');
    ctx.type = registry.contentType;
    ctx.set('cache-control', 'no-store');
    ctx.body = (await registry.metrics()) + '\n' + backlogText;
  });
}
