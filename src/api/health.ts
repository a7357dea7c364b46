import type Router from '@koa/router';
import client from 'prom-client';
import type pg from 'pg';
import { backlogSql } from '../integrations/sql';
import { registry } from '../metrics';
import type { TemporalHandle } from '../temporal/client';

/** /healthz: the process answers. /readyz: PostgreSQL and Temporal answer too. /metrics: Prometheus. */
export function mountHealth(router: Router, deps: { pool: pg.Pool; temporal: TemporalHandle }): void {
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    const within = <T>(ms: number, p: Promise<T>) =>
      Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
    const [db, temporal] = await Promise.allSettled([
      within(2_000, deps.pool.query('SELECT 1')),
      within(2_000, deps.temporal.connection.workflowService.getSystemInfo({})),
    ]);
    const checks = {
      postgres: db.status === 'fulfilled' ? 'ok' : (db.reason as Error).message,
      temporal: temporal.status === 'fulfilled' ? 'ok' : (temporal.reason as Error).message,
    };
    const ready = db.status === 'fulfilled' && temporal.status === 'fulfilled';
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'unavailable', checks };
  });

  // The backlog is read from the database at scrape time, so any API instance can report it.
  const scrapeRegistry = new client.Registry();
  new client.Gauge({
    name: 'hooksync_backlog_rows',
    help: 'Rows changed after the target\'s last delivered cursor, waiting to be sent',
    labelNames: ['target', 'integration'],
    registers: [scrapeRegistry],
    async collect() {
      this.reset();
      const { rows: targets } = await deps.pool.query<{ id: string; integration_id: string; table_name: string; cursor_txid: string; cursor_seq: string }>(
        `SELECT t.id, t.integration_id, i.table_name, t.cursor_txid::text, t.cursor_seq::text
           FROM sync_targets t JOIN integrations i ON i.id = t.integration_id WHERE t.deleted_at IS NULL`,
      );
      for (const t of targets) {
        const { rows } = await deps.pool.query<{ waiting: string }>(backlogSql(t.table_name), [t.cursor_txid, t.cursor_seq]);
        this.set({ target: t.id, integration: t.integration_id }, Number(rows[0]!.waiting));
      }
    },
  });

  router.get('/metrics', async (ctx) => {
    const backlog = await scrapeRegistry.metrics().catch(() => '');
    ctx.type = registry.contentType;
    ctx.body = (await registry.metrics()) + '\n' + backlog;
  });
}
