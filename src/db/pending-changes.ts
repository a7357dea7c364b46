import type pg from 'pg';

type Db = pg.Pool | pg.PoolClient;

/**
 * A change of settings the target's workflow has not acknowledged yet (sync_targets.pending_update_id,
 * migration 009): set in the transaction that changes the row, cleared when the workflow has
 * answered the `configure` update sent under that id. Self-repair sends it again meanwhile.
 */
export async function markChangePending(db: Db, id: string, updateId: string): Promise<void> {
  await db.query('UPDATE sync_targets SET pending_update_id = $2 WHERE id = $1', [id, updateId]);
}

/** The workflow acknowledged `updateId`: nothing is pending, unless a later change came meanwhile. */
export async function settleChange(db: Db, id: string, updateId: string): Promise<void> {
  await db.query('UPDATE sync_targets SET pending_update_id = NULL WHERE id = $1 AND pending_update_id = $2', [id, updateId]);
}
