import type pg from 'pg';

type Queryable = Pick<pg.Pool, 'query'>;

// What an integration leaves behind after `integrations delete`: the delete removes its inbox and
// dead letters in its transaction, but an API process whose cached lookup still knows the
// integration (up to 5 s) accepts events into the inbox after it. Those rows have nothing to be
// written into and nobody to retry them for: they are removed, by the apply that finds the
// integration gone and by the inbox sweep. (A foreign key with ON DELETE CASCADE would instead
// refuse those events at the API, and cost a check on every INSERT into the hot inbox.)

/**
 * Shards with inbox rows of integrations that no longer exist. A loose index scan over
 * ingest_inbox_shard (integration_id, shard, id): one index probe per shard, never a scan of the
 * inbox, which is largest exactly when this runs often (Temporal away, the sweep every 5 s).
 */
export async function orphanedShards(db: Queryable): Promise<Array<{ integrationId: string; shard: number }>> {
  const { rows } = await db.query<{ integration_id: string; shard: number }>(
    `WITH RECURSIVE shards AS (
       (SELECT integration_id, shard FROM ingest_inbox ORDER BY integration_id, shard LIMIT 1)
       UNION ALL
       SELECT n.integration_id, n.shard
         FROM shards s,
              LATERAL (SELECT integration_id, shard FROM ingest_inbox
                        WHERE (integration_id, shard) > (s.integration_id, s.shard)
                        ORDER BY integration_id, shard LIMIT 1) n
     )
     SELECT s.integration_id, s.shard FROM shards s
      WHERE NOT EXISTS (SELECT 1 FROM integrations i WHERE i.id = s.integration_id)`,
  );
  return rows.map((r) => ({ integrationId: r.integration_id, shard: r.shard }));
}

/** Integrations that no longer exist but have dead letters: a loose index scan as above. */
export async function orphanedDeadLetters(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ integration_id: string }>(
    `WITH RECURSIVE ids AS (
       (SELECT integration_id FROM ingest_dead_letters ORDER BY integration_id LIMIT 1)
       UNION ALL
       SELECT n.integration_id
         FROM ids s,
              LATERAL (SELECT integration_id FROM ingest_dead_letters
                        WHERE integration_id > s.integration_id
                        ORDER BY integration_id LIMIT 1) n
     )
     SELECT s.integration_id FROM ids s
      WHERE NOT EXISTS (SELECT 1 FROM integrations i WHERE i.id = s.integration_id)`,
  );
  return rows.map((r) => r.integration_id);
}

/** Removes the inbox rows (of one shard, or all) and the dead letters of an integration that is gone. */
export async function removeLeftovers(db: Queryable, integrationId: string, shard?: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `WITH gone AS (SELECT NOT EXISTS (SELECT 1 FROM integrations WHERE id = $1) AS yes),
     inbox AS (DELETE FROM ingest_inbox WHERE integration_id = $1 AND ($2::smallint IS NULL OR shard = $2) AND (SELECT yes FROM gone) RETURNING 1),
     letters AS (DELETE FROM ingest_dead_letters WHERE integration_id = $1 AND (SELECT yes FROM gone) RETURNING 1)
     SELECT (SELECT count(*) FROM inbox)::int + (SELECT count(*) FROM letters)::int AS n`,
    [integrationId, shard ?? null],
  );
  return rows[0]?.n ?? 0;
}
