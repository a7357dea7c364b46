import type pg from 'pg';

/**
 * The one place that reads and writes `integrations.backfill_api_key` (migration 005): the API key
 * a backfill lists the upstream's resources with. It is a secret: it goes from here to the
 * Authorization header of the list request and nowhere else (not into workflow inputs, results,
 * heartbeats, logs or command output).
 */

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** Stores the key; false when the integration does not exist. */
export async function saveBackfillApiKey(db: Queryable, integrationId: string, apiKey: string): Promise<boolean> {
  const res = await db.query('UPDATE integrations SET backfill_api_key = $2 WHERE id = $1', [integrationId, apiKey]);
  return (res.rowCount ?? 0) > 0;
}

/** The stored key; undefined when none was stored (or the integration is gone). */
export async function loadBackfillApiKey(db: Queryable, integrationId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ key: string | null }>('SELECT backfill_api_key AS key FROM integrations WHERE id = $1', [integrationId]);
  return rows[0]?.key ?? undefined;
}
