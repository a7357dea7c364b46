import { ident, rowColumns } from './sql';
import type { IntegrationDescriptor } from './types';

/** The SQL that reads an integration's table: the pages HTTP Sync delivers, and what is still to deliver. */

/**
 * The next page after a cursor, each row already rendered as JSON text so the body is assembled
 * without parsing `data`. Rows of transactions still in flight (at or above the snapshot's xmin)
 * are held back, so the cursor never passes a row that could still commit behind it.
 */
export function pageSql(d: IntegrationDescriptor, table: string): string {
  const fields = ['pk', ...rowColumns(d).map((c) => c.name)].map((n) => `'${n}', ${ident(n)}`).join(', ');
  return `SELECT _txid::text AS txid, _seq::text AS seq, json_build_object(${fields})::text AS json
  FROM ${ident(table)}
 WHERE (_txid, _seq) > ($1::xid8, $2::bigint)
   AND _txid < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY _txid, _seq
 LIMIT $3`;
}

/**
 * Whether, after the last (short) page, committed rows after the cursor exist that the page query
 * did not return: held back by an older transaction that is still open (the page query skips
 * them until it ends), or become readable since. Either way the sync looks again soon instead of
 * leaving them for its next period. (Asking only for rows still held back would miss those whose
 * blocking transaction ended between the two queries.)
 */
export function heldBackSql(table: string): string {
  return `SELECT EXISTS (SELECT 1 FROM ${ident(table)} WHERE (_txid, _seq) > ($1::xid8, $2::bigint)) AS held`;
}

/**
 * What is still to be delivered after a cursor: rows waiting, how many of them an open
 * transaction holds back, and how long the oldest has waited.
 */
export function backlogSql(table: string): string {
  return `SELECT count(*)::bigint AS waiting,
       count(*) FILTER (WHERE _txid >= pg_snapshot_xmin(pg_current_snapshot()))::bigint AS held_back,
       extract(epoch FROM now() - min(_changed_at))::float8 AS lag_seconds
  FROM ${ident(table)}
 WHERE (_txid, _seq) > ($1::xid8, $2::bigint)`;
}

/**
 * The backlog as /metrics reads it at every scrape: rows after a cursor counted up to a cap ($3;
 * an index range scan that stops there) and the age of the first of them.
 */
export function boundedBacklogSql(table: string): string {
  const after = '(_txid, _seq) > ($1::xid8, $2::bigint)';
  return `SELECT (SELECT count(*) FROM (SELECT 1 FROM ${ident(table)} WHERE ${after} LIMIT $3) w)::int AS waiting,
       (SELECT extract(epoch FROM now() - _changed_at)::float8 FROM ${ident(table)} WHERE ${after} ORDER BY _txid, _seq LIMIT 1) AS lag_seconds`;
}
