import type pg from 'pg';
import type { IntegrationDescriptor } from '../integrations/types';
import { createTableSql, ident } from '../integrations/sql';

/**
 * The integrations table. Rows hold the webhook secret and the backfill API key (sealed when
 * HOOKSYNC_ENCRYPTION_KEY is set): never log or print an IntegrationRow whole.
 */
export interface IntegrationRow {
  id: string;
  service: string;
  table_name: string;
  webhook_secret: string | null;
  rate_limit_per_second: number | null;
  config: Record<string, unknown>;
  created_at: Date;
}

type Db = pg.Pool | pg.PoolClient;
type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/**
 * The row and the integration's own table, in the caller's transaction. `webhookSecret` is stored
 * as given: the caller seals it (sealSecret, bound to this id and column).
 */
export async function insertIntegration(
  db: pg.PoolClient,
  row: { id: string; service: string; table: string; webhookSecret: string | null; config: Record<string, unknown> },
  descriptor: IntegrationDescriptor,
): Promise<IntegrationRow> {
  const { rows } = await db.query<IntegrationRow>(
    'INSERT INTO integrations (id, service, table_name, webhook_secret, config) VALUES ($1, $2, $3, $4, $5) RETURNING *',
    [row.id, row.service, row.table, row.webhookSecret, JSON.stringify(row.config)],
  );
  for (const stmt of createTableSql(descriptor, row.table)) await db.query(stmt);
  return rows[0]!;
}

/** Changes what is given (undefined: unchanged; a secret sealed by the caller); undefined when there is no such integration. */
export async function updateIntegrationRow(
  db: Db,
  id: string,
  change: { webhookSecret?: string | null; rateLimitPerSecond?: number | null },
): Promise<IntegrationRow | undefined> {
  const { rows } = await db.query<IntegrationRow>(
    `UPDATE integrations
        SET webhook_secret = CASE WHEN $2 THEN $3 ELSE webhook_secret END,
            rate_limit_per_second = CASE WHEN $4 THEN $5::double precision ELSE rate_limit_per_second END
      WHERE id = $1 RETURNING *`,
    [id, change.webhookSecret !== undefined, change.webhookSecret ?? null, change.rateLimitPerSecond !== undefined, change.rateLimitPerSecond ?? null],
  );
  return rows[0];
}

export async function getIntegrationRow(db: Db, id: string): Promise<IntegrationRow | undefined> {
  const { rows } = await db.query<IntegrationRow>('SELECT * FROM integrations WHERE id = $1', [id]);
  return rows[0];
}

export async function listIntegrationRows(db: Db): Promise<IntegrationRow[]> {
  const { rows } = await db.query<IntegrationRow>('SELECT * FROM integrations ORDER BY created_at');
  return rows;
}

export interface IntegrationEvents {
  /** Accepted: taken from the inbox so far plus what waits there now. */
  received: number;
  /** Versions that changed a row. */
  applied: number;
  /** When the newest accepted event was received. */
  lastEventAt: Date | null;
}

/**
 * Event counts per integration (all of them, or the ones given): the apply's counters
 * (ingest_event_stats, one row per shard) plus what still waits in the inbox.
 */
export async function integrationEvents(db: Queryable, ids?: string[]): Promise<Map<string, IntegrationEvents>> {
  const { rows } = await db.query<{ id: string; received: string; applied: string; last_event_at: Date | null }>(
    `SELECT i.id,
            coalesce(s.events, 0) + coalesce(b.waiting, 0) AS received,
            coalesce(s.applied, 0) AS applied,
            greatest(s.last_event_at, b.last_event_at) AS last_event_at
       FROM integrations i
       LEFT JOIN (SELECT integration_id, sum(events) AS events, sum(applied) AS applied, max(last_event_at) AS last_event_at
                    FROM ingest_event_stats GROUP BY integration_id) s ON s.integration_id = i.id
       LEFT JOIN (SELECT integration_id, count(*) AS waiting, max(received_at) AS last_event_at
                    FROM ingest_inbox GROUP BY integration_id) b ON b.integration_id = i.id
      WHERE $1::text[] IS NULL OR i.id = ANY ($1::text[])`,
    [ids ?? null],
  );
  return new Map(rows.map((r) => [r.id, { received: Number(r.received), applied: Number(r.applied), lastEventAt: r.last_event_at }]));
}

/** How long `info` waits for a table's row count: a locked or very large table must not hold it up. */
const COUNT_LOCK_TIMEOUT_MS = 1_000;
const COUNT_TIMEOUT_MS = 5_000;

/**
 * Rows in an integration's table, and how many of them are marked deleted upstream; null when
 * they cannot be counted at once (the table is locked, e.g. by a migration, or too large to count
 * within a few seconds).
 */
export async function tableRowCounts(pool: pg.Pool, table: string): Promise<{ rows: number; deleted: number } | null> {
  const db = await pool.connect();
  try {
    await db.query('BEGIN READ ONLY');
    await db.query(`SET LOCAL lock_timeout = ${COUNT_LOCK_TIMEOUT_MS}`);
    await db.query(`SET LOCAL statement_timeout = ${COUNT_TIMEOUT_MS}`);
    const { rows } = await db.query<{ rows: string; deleted: string }>(
      `SELECT count(*) AS rows, count(*) FILTER (WHERE deleted) AS deleted FROM ${ident(table)}`,
    );
    return { rows: Number(rows[0]!.rows), deleted: Number(rows[0]!.deleted) };
  } catch (err) {
    // 55P03 lock_not_available, 57014 query_canceled (the statement timeout).
    if (['55P03', '57014'].includes((err as { code?: string }).code ?? '')) return null;
    throw err;
  } finally {
    await db.query('ROLLBACK').catch(() => {});
    db.release();
  }
}

/** Every target of an integration, deleted ones too (their workflows may still be winding down). */
export async function targetIdsOf(db: Queryable, integrationId: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM sync_targets WHERE integration_id = $1 ORDER BY id', [integrationId]);
  return rows.map((r) => r.id);
}

/** Marks an integration's targets deleted: a delivery in flight checks after every page and stops. */
export async function markTargetsDeleted(db: Queryable, integrationId: string): Promise<void> {
  await db.query('UPDATE sync_targets SET deleted_at = coalesce(deleted_at, now()) WHERE integration_id = $1', [integrationId]);
}

/**
 * Removes an integration and everything that is its: targets, inbox, dead letters, seen event ids,
 * counters, and its table. In the caller's transaction; false when it was gone already.
 */
export async function dropIntegration(db: pg.PoolClient, id: string): Promise<boolean> {
  const { rows } = await db.query<{ table_name: string }>('SELECT table_name FROM integrations WHERE id = $1 FOR UPDATE', [id]);
  if (!rows[0]) return false;
  for (const t of ['sync_targets', 'ingest_inbox', 'ingest_dead_letters', 'ingest_seen_events', 'ingest_event_stats']) {
    await db.query(`DELETE FROM ${t} WHERE integration_id = $1`, [id]);
  }
  await db.query(`DROP TABLE IF EXISTS ${ident(rows[0].table_name)}`);
  await db.query('DELETE FROM integrations WHERE id = $1', [id]);
  return true;
}
