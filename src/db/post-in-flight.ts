import type pg from 'pg';

type Db = pg.Pool | pg.PoolClient;

/**
 * Lock-delay for a target's delivery lock (sync_targets.post_in_flight_until, migration 009). The
 * advisory lock dies with its session (a PostgreSQL crash, a cut connection) while the POST of
 * whoever held it may still be running; each POST is announced here first, by PostgreSQL's clock,
 * and whoever takes the lock next waits until that time has passed. Times are compared in SQL
 * (now()), never with this process's clock.
 */

/** Slack over a POST's own timeout: the POST starts a few milliseconds after the write commits. */
export const IN_FLIGHT_MARGIN_MS = 5_000;

/**
 * Before a POST, on the session that holds the lock (a lost session fails here, before the POST):
 * until when it may be in flight. Committed synchronously, whatever the session's default: this
 * flush also makes durable every transaction the page read before it saw (the WAL is flushed in
 * order), so the cursor after this page may leave the database. Returns the time as PostgreSQL's
 * text, to clear exactly this announcement later; undefined, with nothing written, when the
 * target may not be posted to: deleted, paused, or reset past `generation`.
 */
export async function announcePost(db: pg.PoolClient, id: string, timeoutMs: number, generation: number): Promise<string | undefined> {
  const { rows } = await db.query<{ until: string }>({
    name: 'hooksync_announce_post',
    text: announceSql(1, ''),
    values: [id, timeoutMs, generation],
  });
  return rows[0]?.until;
}

/**
 * The announcement's one UPDATE, of both forms: `$n`, `$n+1`, `$n+2` are the target, the POST's
 * timeout in ms and the generation; `also`, a further condition. A deleted, paused or reset target
 * is not announced (and so not posted to).
 */
function announceSql(n: number, also: string): string {
  return `UPDATE sync_targets
     SET post_in_flight_until = now() + make_interval(secs => ($${n + 1}::float8 + ${IN_FLIGHT_MARGIN_MS}) / 1000)
   WHERE id = $${n} AND deleted_at IS NULL AND NOT paused AND cursor_generation = $${n + 2}${also}
     AND set_config('synchronous_commit', 'on', true) IS NOT NULL
RETURNING post_in_flight_until::text AS until`;
}

/**
 * A page query that also announces its POST when it finds rows: `announcePost`'s write in the same
 * statement, so a drain that reads a page after a wait pays one round trip, not two. `page` is the
 * page query; `$n`, `$n+1`, `$n+2` are the target, the timeout in ms and the generation. Its rows
 * carry `announced`: the time (as announcePost returns it), or null when the target may not be
 * posted to. Nothing is written when no row is read. Not for a page read ahead while the POST
 * before it is in flight: that POST's record clears the announcement.
 */
export function announcingPageSql(page: string, n: number): string {
  return `WITH page AS MATERIALIZED (${page}),
  announced AS (${announceSql(n, ' AND EXISTS (SELECT 1 FROM page)')})
SELECT page.*, (SELECT until FROM announced) AS announced FROM page ORDER BY page.txid::xid8, page.seq::bigint`;
}

/** The POST announced as `until` has ended: clear it, unless a later POST announced itself meanwhile. */
export async function clearPost(db: Db, id: string, until: string): Promise<void> {
  await db.query(
    `UPDATE sync_targets SET post_in_flight_until = NULL
      WHERE id = $1 AND post_in_flight_until = $2::timestamptz AND set_config('synchronous_commit', 'off', true) IS NOT NULL`,
    [id, until],
  );
}

/** How long until no earlier POST to this target can be in flight (0 when none is), by PostgreSQL's clock. */
export async function postInFlightMs(db: Db, id: string): Promise<number> {
  const { rows } = await db.query<{ ms: number }>(
    `SELECT coalesce(greatest(0, extract(epoch FROM post_in_flight_until - now()) * 1000), 0)::float8 AS ms FROM sync_targets WHERE id = $1`,
    [id],
  );
  return rows[0]?.ms ?? 0;
}

/**
 * Called right after taking the lock: waits while an earlier holder's POST may still be in
 * flight (at most `capMs`, the target's timeout and the margin; less once the time has passed).
 */
/** Returns how long it waited (0 when nothing was in flight). */
export async function waitForPostInFlight(db: Db, id: string, capMs: number, signal?: AbortSignal): Promise<number> {
  const started = Date.now();
  let waited = 0;
  for (;;) {
    const ms = Math.min(await postInFlightMs(db, id), capMs - (Date.now() - started));
    if (ms <= 0 || signal?.aborted) return waited && Date.now() - started;
    waited += 1;
    await new Promise((r) => setTimeout(r, Math.min(ms, 1_000)));
  }
}
