import type pg from 'pg';
import { ident } from '../integrations/sql';

/**
 * The newest version time (ms since epoch) hooksync holds of one resource: in the integration's
 * table or still waiting in its inbox; undefined when it has none.
 */
export async function newestVersionAt(
  db: Pick<pg.Pool, 'query'>,
  ref: { id: string; table: string; remoteKeyColumn: string; timestampColumn: string },
  key: string,
): Promise<number | undefined> {
  const { rows } = await db.query<{ ms: string | null }>(
    `SELECT (extract(epoch FROM greatest(
        (SELECT ${ident(ref.timestampColumn)} FROM ${ident(ref.table)} WHERE ${ident(ref.remoteKeyColumn)} = $2),
        (SELECT max(version_at) FROM ingest_inbox WHERE integration_id = $1 AND remote_key = $2))) * 1000)::text AS ms`,
    [ref.id, key],
  );
  const ms = rows[0]?.ms;
  return ms == null ? undefined : Number(ms);
}
