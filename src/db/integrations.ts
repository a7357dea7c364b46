import type pg from 'pg';
import type { IntegrationDescriptor } from '../integrations/types';
import { createTableSql } from '../integrations/sql';

/** The integrations table. Rows hold the webhook secret: never log or print an IntegrationRow whole. */
export interface IntegrationRow {
  id: string;
  service: string;
  table_name: string;
  webhook_secret: string | null;
  rate_limit_per_second: number | null;
  config: unknown;
  created_at: Date;
}

type Db = pg.Pool | pg.PoolClient;

/** The row and the integration's own table, in the caller's transaction. */
export async function insertIntegration(
  db: pg.PoolClient,
  row: { id: string; service: string; table: string; webhookSecret: string | null },
  descriptor: IntegrationDescriptor,
): Promise<IntegrationRow> {
  const { rows } = await db.query<IntegrationRow>(
    'INSERT INTO integrations (id, service, table_name, webhook_secret) VALUES ($1, $2, $3, $4) RETURNING *',
    [row.id, row.service, row.table, row.webhookSecret],
  );
  for (const stmt of createTableSql(descriptor, row.table)) await db.query(stmt);
  return rows[0]!;
}

/** Changes what is given (undefined: unchanged); undefined when there is no such integration. */
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
