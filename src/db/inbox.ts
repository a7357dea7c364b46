import type pg from 'pg';

/**
 * The ingest inbox and its dead letters (migration 002): what the API writes, what the apply
 * takes, what operators look at. The SQL that depends on an integration's descriptor (the apply
 * itself) is in src/integrations/sql.ts.
 */

export interface InboxRow {
  shard: number;
  key: string;
  /** Upstream time of the version, ms since epoch. */
  ts: number;
  precedence: number;
  deleted: boolean;
  eventId?: string;
  /** The verified body, as text. */
  body: string;
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

const FIELDS = 7;

/**
 * A multi-row INSERT of `n` rows of one integration: a statement text per group size, prepared
 * once per connection; each field its own parameter, so bodies go over the wire as they are (no
 * escaping). Returns the highest position written per shard.
 */
function insertSql(n: number): string {
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = 2 + i * FIELDS;
    rows.push(`($1, $${p}::smallint, $${p + 1}, to_timestamp($${p + 2}::float8 / 1000), $${p + 3}::smallint, $${p + 4}::boolean, $${p + 5}, $${p + 6})`);
  }
  return `WITH ins AS (
  INSERT INTO ingest_inbox (integration_id, shard, remote_key, version_at, precedence, deleted, event_id, body)
  VALUES ${rows.join(',\n         ')}
  RETURNING shard, id
)
SELECT shard, max(id)::text AS up_to, count(*)::int AS rows FROM ins GROUP BY shard`;
}

export interface Written {
  shard: number;
  /** The highest position written in the shard. */
  upTo: string;
  rows: number;
}

/** Writes one group of rows of one integration; resolves once committed, with what it wrote per shard. */
export async function insertInboxRows(db: Queryable, integrationId: string, rows: InboxRow[]): Promise<Written[]> {
  const values: unknown[] = [integrationId];
  for (const r of rows) values.push(r.shard, r.key, r.ts, r.precedence, r.deleted, r.eventId ?? null, r.body);
  const res = await db.query<{ shard: number; up_to: string; rows: number }>({ name: `hooksync_inbox_insert_${rows.length}`, text: insertSql(rows.length), values });
  return res.rows.map((r) => ({ shard: r.shard, upTo: r.up_to, rows: r.rows }));
}

/**
 * The advisory lock an apply holds while it takes a shard's inbox. Namespaced so it cannot meet
 * other advisory locks of hooksync (targets, migrations).
 */
const lockKey = (integrationId: string, shard: string) => `hashtextextended('hooksync-ingest:' || ${integrationId} || '/' || ${shard}::text, 0)`;
const APPLY_LOCK_KEY = lockKey('$1', '$2');

/**
 * Of these shards, those no apply is taking right now. Asked after an INSERT has committed: an
 * apply that holds the lock looks into the inbox again after releasing it, so it will take these
 * rows, and no wake-up is needed. A shared try-lock conflicts only with the apply's own lock.
 */
export async function idleShards(db: Queryable, integrationId: string, shards: number[]): Promise<Set<number>> {
  const { rows } = await db.query<{ shard: number; idle: boolean }>({
    name: 'hooksync_inbox_idle',
    text: `SELECT s AS shard, pg_try_advisory_xact_lock_shared(${lockKey('$1', 's')}) AS idle FROM unnest($2::int[]) AS s`,
    values: [integrationId, shards],
  });
  return new Set(rows.filter((r) => r.idle).map((r) => r.shard));
}

export async function tryLockShard(client: pg.PoolClient, integrationId: string, shard: number): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${APPLY_LOCK_KEY}) AS locked`, [integrationId, shard]);
  return rows[0]!.locked;
}

export async function unlockShard(client: pg.PoolClient, integrationId: string, shard: number): Promise<void> {
  await client.query(`SELECT pg_advisory_unlock(${APPLY_LOCK_KEY})`, [integrationId, shard]);
}

/** The ids of the oldest rows of a shard (to split a batch the database refused). */
export async function oldestIds(db: Queryable, integrationId: string, shard: number, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    'SELECT id::text FROM ingest_inbox WHERE integration_id = $1 AND shard = $2 ORDER BY id LIMIT $3',
    [integrationId, shard, limit],
  );
  return rows.map((r) => r.id);
}

export interface Depth {
  /** Rows waiting. */
  waiting: number;
  /** Age of the oldest row waiting, seconds; null when none waits. */
  oldestAgeSeconds: number | null;
}

const depthOf = (r: { waiting: string; oldest_age: number | null }): Depth => ({ waiting: Number(r.waiting), oldestAgeSeconds: r.oldest_age });

/** Rows waiting in one shard's inbox (or the whole integration's), and the age of the oldest. */
export async function inboxDepth(db: Queryable, integrationId: string, shard?: number): Promise<Depth> {
  const { rows } = await db.query<{ waiting: string; oldest_age: number | null }>(
    `SELECT count(*) AS waiting, extract(epoch FROM now() - min(received_at))::float8 AS oldest_age
       FROM ingest_inbox WHERE integration_id = $1 AND ($2::smallint IS NULL OR shard = $2)`,
    [integrationId, shard ?? null],
  );
  return depthOf(rows[0]!);
}

export interface StaleShard {
  integrationId: string;
  service: string;
  shard: number;
}

/**
 * Shards whose oldest inbox row is older than `seconds`: their wake-up was lost, or their apply is
 * failing. A loose index scan over (integration_id, shard, id) (one probe per shard, not a scan of
 * the inbox), then each shard's oldest row. Integrations that are gone are left out.
 */
export async function staleShards(db: Queryable, seconds: number): Promise<StaleShard[]> {
  const { rows } = await db.query<{ integration_id: string; shard: number; service: string }>(
    `WITH RECURSIVE shards AS (
       (SELECT integration_id, shard FROM ingest_inbox ORDER BY integration_id, shard LIMIT 1)
       UNION ALL
       SELECT n.integration_id, n.shard
         FROM shards s,
              LATERAL (SELECT integration_id, shard FROM ingest_inbox
                        WHERE (integration_id, shard) > (s.integration_id, s.shard)
                        ORDER BY integration_id, shard LIMIT 1) n
     )
     SELECT s.integration_id, s.shard, i.service
       FROM shards s
       JOIN integrations i ON i.id = s.integration_id
      CROSS JOIN LATERAL (SELECT received_at FROM ingest_inbox o
                           WHERE o.integration_id = s.integration_id AND o.shard = s.shard
                           ORDER BY id LIMIT 1) oldest
      WHERE oldest.received_at < now() - make_interval(secs => $1)`,
    [seconds],
  );
  return rows.map((r) => ({ integrationId: r.integration_id, service: r.service, shard: r.shard }));
}

/** Moves inbox rows to the dead letters with the error that kept them from being applied. */
export async function deadLetter(db: Queryable, integrationId: string, shard: number, ids: string[] | null, error: string): Promise<number> {
  const res = await db.query(
    `WITH moved AS (
       DELETE FROM ingest_inbox
        WHERE integration_id = $1 AND shard = $2 AND ($3::bigint[] IS NULL OR id = ANY ($3::bigint[]))
       RETURNING *
     )
     INSERT INTO ingest_dead_letters (integration_id, shard, remote_key, version_at, precedence, deleted, event_id, body, received_at, error)
     SELECT integration_id, shard, remote_key, version_at, precedence, deleted, event_id, body, received_at, $4 FROM moved`,
    [integrationId, shard, ids, error],
  );
  return res.rowCount ?? 0;
}

export interface DeadLetterStats {
  count: number;
  lastError: string | null;
  lastFailedAt: Date | null;
}

export async function deadLetterStats(db: Queryable, integrationId: string): Promise<DeadLetterStats> {
  const { rows } = await db.query<{ count: string; last_error: string | null; last_failed_at: Date | null }>(
    `SELECT (SELECT count(*) FROM ingest_dead_letters WHERE integration_id = $1) AS count, l.error AS last_error, l.failed_at AS last_failed_at
       FROM (SELECT 1) one
       LEFT JOIN LATERAL (SELECT error, failed_at FROM ingest_dead_letters WHERE integration_id = $1 ORDER BY id DESC LIMIT 1) l ON true`,
    [integrationId],
  );
  const r = rows[0]!;
  return { count: Number(r.count), lastError: r.last_error, lastFailedAt: r.last_failed_at };
}

/**
 * Puts an integration's dead letters back into the inbox, in their original order and with their
 * original arrival time: per shard, the positions they got; and the database's time of it.
 */
export async function requeueDeadLetters(db: Queryable, integrationId: string): Promise<{ at: Date; shards: Array<{ shard: number; ids: string[] }> }> {
  const { rows } = await db.query<{ shard: number | null; ids: string[] | null; at: Date }>(
    `WITH moved AS (
       DELETE FROM ingest_dead_letters WHERE integration_id = $1 RETURNING *
     ),
     ins AS (
       INSERT INTO ingest_inbox (integration_id, shard, remote_key, version_at, precedence, deleted, event_id, body, received_at)
       SELECT integration_id, shard, remote_key, version_at, precedence, deleted, event_id, body, received_at FROM moved ORDER BY id
       RETURNING shard, id
     )
     SELECT now() AS at, g.shard, g.ids
       FROM (SELECT 1) one
       LEFT JOIN (SELECT shard, array_agg(id::text ORDER BY id) AS ids FROM ins GROUP BY shard) g ON true
      ORDER BY g.shard`,
    [integrationId],
  );
  return { at: rows[0]!.at, shards: rows.filter((r) => r.shard !== null).map((r) => ({ shard: r.shard!, ids: r.ids! })) };
}

/** Of requeued positions: how many still wait in the inbox; and dead letters written since `at`. */
export async function requeuedOutcome(db: Queryable, integrationId: string, ids: string[], at: Date): Promise<{ waiting: number; failedAgain: number }> {
  const { rows } = await db.query<{ waiting: string; failed: string }>(
    `SELECT (SELECT count(*) FROM ingest_inbox WHERE integration_id = $1 AND id = ANY ($2::bigint[])) AS waiting,
            (SELECT count(*) FROM ingest_dead_letters WHERE integration_id = $1 AND failed_at >= $3) AS failed`,
    [integrationId, ids, at],
  );
  return { waiting: Number(rows[0]!.waiting), failedAgain: Number(rows[0]!.failed) };
}

export interface IntegrationIngestFigures {
  integrationId: string;
  waiting: number;
  oldestAgeSeconds: number;
  deadLetters: number;
}

/** Per integration: inbox depth, age of its oldest row, dead letters (for /metrics). */
export async function ingestFigures(db: Queryable): Promise<IntegrationIngestFigures[]> {
  const { rows } = await db.query<{ id: string; waiting: string; oldest_age: number | null; dead: string }>(
    `SELECT i.id, coalesce(b.waiting, 0) AS waiting, b.oldest_age, coalesce(d.dead, 0) AS dead
       FROM integrations i
       LEFT JOIN (SELECT integration_id, count(*) AS waiting, extract(epoch FROM now() - min(received_at))::float8 AS oldest_age
                    FROM ingest_inbox GROUP BY integration_id) b ON b.integration_id = i.id
       LEFT JOIN (SELECT integration_id, count(*) AS dead FROM ingest_dead_letters GROUP BY integration_id) d ON d.integration_id = i.id
      ORDER BY i.id`,
  );
  return rows.map((r) => ({ integrationId: r.id, waiting: Number(r.waiting), oldestAgeSeconds: r.oldest_age ?? 0, deadLetters: Number(r.dead) }));
}

/** Forgets event ids older than the window of their integration's de-duplication. */
export async function pruneSeenEvents(db: Queryable, windows: Map<string, number>): Promise<number> {
  let pruned = 0;
  for (const [service, days] of windows) {
    const res = await db.query(
      `DELETE FROM ingest_seen_events s USING integrations i
        WHERE i.id = s.integration_id AND i.service = $1 AND s.seen_at < now() - make_interval(days => $2)`,
      [service, days],
    );
    pruned += res.rowCount ?? 0;
  }
  return pruned;
}
