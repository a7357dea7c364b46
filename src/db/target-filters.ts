import type pg from 'pg';
import type { RowFilter, Unmatched } from '../integrations/row-filter';

/** A target's filter columns (migration 009): set by `update`, put back when an update is undone. */

type Db = pg.Pool | pg.PoolClient;

/** A target row's filter. */
export const filterOf = (t: { filter_match: Record<string, unknown> | null; filter_fields: string[] | null; filter_unmatched: Unmatched }): RowFilter => ({
  match: t.filter_match,
  fields: t.filter_fields,
  unmatched: t.filter_unmatched,
});

/** jsonb parameters go as text: pg would send a JS array as a PostgreSQL array. */
export const jsonOrNull = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

/**
 * A new filter, from the target's cursor on (filter_since). The caller holds the target's delivery
 * lock, so no page is being read meanwhile and the cursor is where the next page starts.
 */
export async function storeTargetFilter(db: Db, id: string, f: RowFilter): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE sync_targets SET filter_match = $2::jsonb, filter_fields = $3::text[], filter_unmatched = $4,
            filter_since_txid = cursor_txid, filter_since_seq = cursor_seq
      WHERE id = $1 AND deleted_at IS NULL`,
    [id, jsonOrNull(f.match), f.fields, f.unmatched],
  );
  return (rowCount ?? 0) > 0;
}

/** The filter columns as they were (an update undone because its workflow could not be told). */
export async function restoreTargetFilter(
  db: Db,
  id: string,
  was: RowFilter & { sinceTxid: string | null; sinceSeq: string | null },
): Promise<void> {
  await db.query(
    `UPDATE sync_targets SET filter_match = $2::jsonb, filter_fields = $3::text[], filter_unmatched = $4,
            filter_since_txid = $5::xid8, filter_since_seq = $6::bigint
      WHERE id = $1`,
    [id, jsonOrNull(was.match), was.fields, was.unmatched, was.sinceTxid, was.sinceSeq],
  );
}
