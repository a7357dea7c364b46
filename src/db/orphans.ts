import type pg from 'pg';

type Queryable = Pick<pg.Pool, 'query'>;

/**
 * Shards with inbox rows of integrations that no longer exist: nothing to write them into. A loose index scan over
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
