import type pg from 'pg';

// The delivery lock of a target: a PostgreSQL advisory lock, taken by each delivery activity for
// its whole run (session level) and by an `update` around its verification POST (transaction
// level; the two kinds conflict), so the receiver never gets two requests at once.
const LOCK_KEY = `hashtextextended('hooksync-target:' || $1, 0)`;

export async function tryDeliveryLock(db: pg.PoolClient, id: string): Promise<boolean> {
  const { rows } = await db.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS locked`, [id]);
  return rows[0]!.locked;
}

export async function releaseDeliveryLock(db: pg.PoolClient, id: string): Promise<void> {
  await db.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`, [id]);
}

/** Takes the lock until the end of the current transaction, waiting up to `waitMs` for a delivery to let go. */
export async function lockDeliveriesInTransaction(db: pg.PoolClient, id: string, waitMs: number): Promise<void> {
  await db.query(`SELECT set_config('lock_timeout', $1, true)`, [`${Math.max(1, Math.round(waitMs))}ms`]);
  await db.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`, [id]);
}
