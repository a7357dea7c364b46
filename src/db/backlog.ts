import type pg from 'pg';
import { boundedBacklogSql } from '../integrations/read-sql';

/** A target's backlog as /metrics reports it: cheap enough to read at every scrape. */
export interface TargetBacklog {
  target: string;
  integration: string;
  /** Rows after the target's stored cursor, counted up to the cap. */
  waiting: number;
  /** Age of the next row to be sent; 0 when none waits. */
  lagSeconds: number;
}

/**
 * One bounded count per target (an index range scan that stops at `cap` rows) and the age of the
 * first waiting row, under a statement timeout: a scrape never scans a large table, and a slow
 * database costs it its backlog figures, not a stuck scrape. A target whose query fails is left out.
 */
export async function readBacklogs(pool: pg.Pool, opts: { cap: number; statementTimeoutMs: number }): Promise<TargetBacklog[]> {
  const db = await pool.connect();
  try {
    await db.query(`SET statement_timeout = ${Math.max(1, Math.round(opts.statementTimeoutMs))}`);
    const { rows: targets } = await db.query<{ id: string; integration_id: string; table_name: string; cursor_txid: string; cursor_seq: string }>(
      `SELECT t.id, t.integration_id, i.table_name, t.cursor_txid::text, t.cursor_seq::text
         FROM sync_targets t JOIN integrations i ON i.id = t.integration_id
        WHERE t.deleted_at IS NULL ORDER BY t.id`,
    );
    const out: TargetBacklog[] = [];
    for (const t of targets) {
      try {
        const { rows } = await db.query<{ waiting: number; lag_seconds: number | null }>(boundedBacklogSql(t.table_name), [t.cursor_txid, t.cursor_seq, opts.cap]);
        out.push({ target: t.id, integration: t.integration_id, waiting: rows[0]!.waiting, lagSeconds: rows[0]!.lag_seconds ?? 0 });
      } catch (err) {
        // A timeout (57014) or a table gone: skip this target. Anything else ends the read.
        const code = (err as { code?: string }).code;
        if (code !== '57014' && code !== '42P01') throw err;
      }
    }
    return out;
  } finally {
    // The setting lives in the session: a pooled connection must not keep it (nor a broken one stay).
    await db.query('RESET statement_timeout').then(
      () => db.release(),
      (err: Error) => db.release(err),
    );
  }
}
