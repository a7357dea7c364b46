import type pg from 'pg';

type Db = pg.Pool | pg.PoolClient;

/**
 * A change of settings the target's workflow has not acknowledged yet (sync_targets.pending_update_id
 * and pending_update_at, migration 008): set in the transaction that changes the row, cleared when
 * the workflow has answered the `configure` update sent under that id. Self-repair sends it again
 * meanwhile, once the service's own attempt has had its time.
 */
export async function markChangePending(db: Db, id: string, updateId: string): Promise<void> {
  await db.query('UPDATE sync_targets SET pending_update_id = $2, pending_update_at = now() WHERE id = $1', [id, updateId]);
}

/** The workflow acknowledged `updateId`: nothing is pending, unless a later change came meanwhile. */
export async function settleChange(db: Db, id: string, updateId: string): Promise<void> {
  await db.query('UPDATE sync_targets SET pending_update_id = NULL, pending_update_at = NULL WHERE id = $1 AND pending_update_id = $2', [id, updateId]);
}

/**
 * Locks the target's row (in a transaction) when `updateId` is still its pending change: false
 * when a later change replaced it, which then must not be undone.
 */
export async function lockPendingChange(db: pg.PoolClient, id: string, updateId: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM sync_targets WHERE id = $1 AND pending_update_id = $2 FOR UPDATE', [id, updateId]);
  return rowCount === 1;
}

/** Ids of targets with a change pending for at least `minAgeMs` (by PostgreSQL's clock). */
export async function pendingChangesOlderThan(db: Db, minAgeMs: number): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM sync_targets
      WHERE deleted_at IS NULL AND pending_update_id IS NOT NULL
        AND coalesce(pending_update_at, '-infinity') <= now() - $1 * interval '1 millisecond'`,
    [minAgeMs],
  );
  return new Set(rows.map((r) => r.id));
}
