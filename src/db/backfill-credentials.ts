import type pg from 'pg';
import type { Keyring } from '../secrets/keyring';
import { openOptional, sealSecret } from '../secrets/stored';

/**
 * The one place that reads and writes `integrations.backfill_api_key` (migration 006): the API key
 * a backfill lists the upstream's resources with. It is a secret: it goes from here to the
 * Authorization header of the list request and nowhere else (not into workflow inputs, results,
 * heartbeats, logs or command output), sealed under HOOKSYNC_ENCRYPTION_KEY like every secret column.
 */

const COLUMN = 'integrations.backfill_api_key';

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** Stores the key; false when the integration does not exist. */
export async function saveBackfillApiKey(db: Queryable, keyring: Keyring | undefined, integrationId: string, apiKey: string): Promise<boolean> {
  const stored = sealSecret(keyring, COLUMN, integrationId, apiKey);
  const res = await db.query('UPDATE integrations SET backfill_api_key = $2 WHERE id = $1', [integrationId, stored]);
  return (res.rowCount ?? 0) > 0;
}

/** The stored key; undefined when none was stored (or the integration is gone). */
export async function loadBackfillApiKey(db: Queryable, keyring: Keyring | undefined, integrationId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ key: string | null }>('SELECT backfill_api_key AS key FROM integrations WHERE id = $1', [integrationId]);
  return openOptional(keyring, COLUMN, integrationId, rows[0]?.key ?? null) ?? undefined;
}
