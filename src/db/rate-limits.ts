import type pg from 'pg';

/** An integration's rate limit in events per second: null when it has none, undefined when there is no such integration. */
export async function readRateLimit(db: pg.Pool, integrationId: string): Promise<number | null | undefined> {
  const { rows } = await db.query<{ rate_limit_per_second: number | null }>('SELECT rate_limit_per_second FROM integrations WHERE id = $1', [
    integrationId,
  ]);
  return rows[0] ? rows[0].rate_limit_per_second : undefined;
}
