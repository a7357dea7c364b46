import type pg from 'pg';

type Db = pg.Pool | pg.PoolClient;

/** What decides whether an on-insert target needs a `rowsChanged` wake-up now. */
export interface TargetWakeState {
  id: string;
  /** Gone, paused, not on-insert: no wake-up (a resume wakes the target itself). */
  asleep: boolean;
  /** A delivery holds the target's lock (a drain, or an `update` verifying a URL): wait for it to end. */
  locked: boolean;
  /** A retry is scheduled (`next_attempt_at` ahead): new rows do not cut its wait. */
  retrying: boolean;
  /** The transaction id of the target's cursor: rows of older transactions are delivered. */
  cursorTxid: string;
  /** The whole cursor (txid/seq): when it moved, a drain ran. */
  cursor: string;
}

/**
 * The wake-up state of several targets in one statement. The lock is the delivery lock of
 * db/delivery-lock.ts, looked up in pg_locks by its two halves (classid: high 32 bits, objid: low).
 */
export async function targetWakeStates(db: Db, ids: string[]): Promise<TargetWakeState[]> {
  const { rows } = await db.query<{ id: string; asleep: boolean; locked: boolean; retrying: boolean; cursor_txid: string; cursor_seq: string }>({
    name: 'hooksync_target_wake_states',
    text: `
      WITH t AS (
        SELECT s.*, hashtextextended('hooksync-target:' || s.id, 0) AS lock_key
          FROM sync_targets s WHERE s.id = ANY($1::text[]))
      SELECT t.id, (t.deleted_at IS NOT NULL OR t.paused OR t.mode <> 'on_insert') AS asleep,
             coalesce(t.next_attempt_at > now(), false) AS retrying, t.cursor_txid::text AS cursor_txid, t.cursor_seq::text AS cursor_seq,
             EXISTS (SELECT 1 FROM pg_locks l
                      WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
                        AND l.classid = ((t.lock_key >> 32) & 4294967295)::oid
                        AND l.objid = (t.lock_key & 4294967295)::oid) AS locked
        FROM t`,
    values: [ids],
  });
  return rows.map((r) => ({ id: r.id, asleep: r.asleep, locked: r.locked, retrying: r.retrying, cursorTxid: r.cursor_txid, cursor: `${r.cursor_txid}/${r.cursor_seq}` }));
}

/**
 * A delivery attempt succeeded without delivering a page (which would have cleared it): the retry
 * is over. Otherwise a retry time left ahead (the attempt came early, by `trigger`) would keep
 * the target's wake-ups back until then.
 */
export async function endRetry(db: Db, id: string): Promise<void> {
  await db.query('UPDATE sync_targets SET retry_attempts = 0, next_attempt_at = NULL WHERE id = $1 AND next_attempt_at IS NOT NULL', [id]);
}
