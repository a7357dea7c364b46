import type pg from 'pg';
import type { Cursor, SyncMode } from '../workflows/types';

/** The sync_targets table. Rows hold the URL with credentials: never log or print a TargetRow whole. */
export interface TargetRow {
  id: string;
  integration_id: string;
  url: string;
  period_seconds: number;
  page_size: number;
  timeout_seconds: number;
  mode: SyncMode;
  paused: boolean;
  created_at: Date;
  deleted_at: Date | null;
  cursor_txid: string;
  cursor_seq: string;
  rows_delivered: string;
  pages_delivered: string;
  post_count: string;
  post_ms_total: number;
  error_count: string;
  last_error: string | null;
  last_error_at: Date | null;
  last_success_at: Date | null;
  service: string;
  table_name: string;
}

const SELECT = `SELECT t.*, t.cursor_txid::text AS cursor_txid, i.service, i.table_name
  FROM sync_targets t JOIN integrations i ON i.id = t.integration_id`;

export async function getTarget(db: pg.Pool | pg.PoolClient, id: string): Promise<TargetRow | undefined> {
  const { rows } = await db.query<TargetRow>(`${SELECT} WHERE t.id = $1`, [id]);
  return rows[0];
}

export async function listTargets(db: pg.Pool, integrationId?: string): Promise<TargetRow[]> {
  const { rows } = await db.query<TargetRow>(
    `${SELECT} WHERE t.deleted_at IS NULL AND ($1::text IS NULL OR t.integration_id = $1) ORDER BY t.created_at`,
    [integrationId ?? null],
  );
  return rows;
}

/** After a 2xx: record progress, and learn whether to go on (paused, deleted, new credentials). */
export async function recordDelivered(
  db: pg.PoolClient,
  id: string,
  p: { cursor: Cursor; rows: number; postMs: number },
): Promise<{ url: string; paused: boolean; deleted: boolean } | undefined> {
  const { rows } = await db.query<{ url: string; paused: boolean; deleted: boolean }>(
    `UPDATE sync_targets
        SET cursor_txid = $2::xid8, cursor_seq = $3::bigint,
            rows_delivered = rows_delivered + $4, pages_delivered = pages_delivered + 1,
            post_count = post_count + 1, post_ms_total = post_ms_total + $5, last_success_at = now()
      WHERE id = $1
  RETURNING url, paused, deleted_at IS NOT NULL AS deleted`,
    [id, p.cursor.txid, p.cursor.seq, p.rows, p.postMs],
  );
  return rows[0];
}

export async function recordFailure(db: pg.Pool | pg.PoolClient, id: string, error: string, postMs: number | undefined): Promise<void> {
  await db.query(
    `UPDATE sync_targets
        SET error_count = error_count + 1, last_error = $2, last_error_at = now(),
            post_count = post_count + $3, post_ms_total = post_ms_total + $4
      WHERE id = $1`,
    [id, error, postMs === undefined ? 0 : 1, postMs ?? 0],
  );
}
