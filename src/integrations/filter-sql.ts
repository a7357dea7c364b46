import { alwaysColumns, type Projection } from './row-filter';
import { ident } from './sql';
import type { IntegrationDescriptor } from './types';

/**
 * A target's filtered page (see `pageSql` in sql.ts for the unfiltered one and why the query is
 * shaped as it is). The page is still the next `$3` rows after the cursor in (_txid, _seq) order,
 * matched or not, so the cursor moves past rows that do not match (to the last row read) and the
 * page size bounds the rows read, not the rows sent. Parameters: $1/$2 the cursor, $3 the page
 * size, $4 the `match` object as jsonb text (NULL: every row matches), then one text[] per pointer
 * of the projection. Column names come from the descriptor (checked by `ident`), never from input;
 * what users give (the match object and the pointers' paths) arrives as parameters only.
 *
 * Each row: txid, seq, `matched`, `json` (the projected row when it matches, else the key-only
 * tombstone with "hooksync_unmatched": true) and p0… (each pointer's jsonb value as text, NULL
 * when absent or the row did not match).
 */
export function filteredPageSql(d: IntegrationDescriptor, table: string, projection: Projection): string {
  const object = (names: string[]) => names.map((n) => `'${n}', t.${ident(n)}`).join(', ');
  const pointers = projection.pointers.map((p, i) => `,\n       CASE WHEN m.matched THEN (t.${ident(p.column)} #> $${5 + i}::text[])::text END AS p${i}`).join('');
  return `SELECT t._txid::text AS txid, t._seq::text AS seq, m.matched,
       CASE WHEN m.matched THEN json_build_object(${object(projection.columns)})
            ELSE json_build_object(${object(alwaysColumns(d))}, 'hooksync_unmatched', true) END::text AS json${pointers}
  FROM ${ident(table)} t
 CROSS JOIN LATERAL (SELECT $4::jsonb IS NULL OR t.data @> $4::jsonb AS matched) m
 WHERE (t._txid, t._seq) > ($1::xid8, $2::bigint)
   AND t._txid < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY t._txid, t._seq
 LIMIT $3`;
}
