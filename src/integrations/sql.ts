import type { IngestRecord, IntegrationDescriptor } from './types';

/** Everything that turns a descriptor into SQL lives here; no other module writes SQL for integration tables. */

const ident = (name: string) => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe SQL identifier: ${name}`);
  return `"${name}"`;
};

export const sequenceName = (table: string) => `${table}_seq`;

/** Columns of a row as it is stored and as receivers get it, in order. */
function rowColumns(d: IntegrationDescriptor) {
  return [
    { name: d.remoteKeyColumn, type: 'text' },
    ...d.columns.map((c) => ({ name: c.name, type: c.type })),
    { name: d.timestampColumn, type: 'timestamptz' },
    { name: 'deleted', type: 'boolean' },
    { name: 'data', type: 'jsonb' },
  ];
}

export function createTableSql(d: IntegrationDescriptor, table: string): string[] {
  const t = ident(table);
  const seq = ident(sequenceName(table));
  const cols = [
    'pk bigserial PRIMARY KEY',
    `${ident(d.remoteKeyColumn)} text NOT NULL UNIQUE`,
    ...d.columns.map((c) => `${ident(c.name)} ${c.type}`),
    `${ident(d.timestampColumn)} timestamptz NOT NULL`,
    'deleted boolean NOT NULL DEFAULT false',
    'data jsonb NOT NULL',
    // Change tracking for the HTTP Sync cursor: the writing transaction and a sequence within it.
    '_txid xid8 NOT NULL DEFAULT pg_current_xact_id()',
    `_seq bigint NOT NULL DEFAULT nextval('${sequenceName(table)}')`,
    // When the row last changed here (not upstream): the backlog's lag.
    '_changed_at timestamptz NOT NULL DEFAULT now()',
  ];
  return [
    `CREATE SEQUENCE ${seq}`,
    `CREATE TABLE ${t} (\n  ${cols.join(',\n  ')}\n)`,
    `ALTER SEQUENCE ${seq} OWNED BY ${t}._seq`,
    `CREATE INDEX ${ident(`${table}_cursor`)} ON ${t} (_txid, _seq)`,
    ...d.columns.filter((c) => c.index).map((c) => `CREATE INDEX ${ident(`${table}_${c.name}`)} ON ${t} (${ident(c.name)})`),
  ];
}

/**
 * The conditional multi-row upsert. The upstream timestamp decides: a newer version replaces the
 * row and re-stamps `_txid`/`_seq` (so it is delivered); an older one is discarded; one with the
 * same timestamp wins only if it changes something (a redelivery changes nothing and is not
 * delivered again). Parameter $1 is a JSON array built by `upsertParams`.
 */
export function upsertSql(d: IntegrationDescriptor, table: string): string {
  const t = ident(table);
  const cols = rowColumns(d);
  const names = cols.map((c) => ident(c.name)).join(', ');
  const recordType = cols.map((c) => `${ident(c.name)} ${c.type}`).join(', ');
  const ts = ident(d.timestampColumn);
  const assignments = cols
    .filter((c) => c.name !== d.remoteKeyColumn)
    .map((c) => `${ident(c.name)} = excluded.${ident(c.name)}`)
    .concat(['_txid = pg_current_xact_id()', `_seq = nextval('${sequenceName(table)}')`, '_changed_at = now()'])
    .join(', ');
  return `INSERT INTO ${t} AS old (${names})
SELECT ${names} FROM jsonb_to_recordset($1::jsonb) AS x(${recordType})
ON CONFLICT (${ident(d.remoteKeyColumn)}) DO UPDATE SET ${assignments}
WHERE old.${ts} < excluded.${ts}
   OR (old.${ts} = excluded.${ts} AND (old.deleted, old.data) IS DISTINCT FROM (excluded.deleted, excluded.data))`;
}

/**
 * Keeps each key's newest record (ties: the later arrival), since one statement may not touch a
 * row twice. Returns them in key order so concurrent batches lock rows in one order.
 */
export function newestPerKey(records: IngestRecord[]): IngestRecord[] {
  const newest = new Map<string, IngestRecord>();
  for (const r of records) {
    const seen = newest.get(r.key);
    if (!seen || r.ts >= seen.ts) newest.set(r.key, r);
  }
  return [...newest.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export function upsertParams(d: IntegrationDescriptor, records: IngestRecord[]): string {
  return JSON.stringify(
    records.map((r) => {
      const row: Record<string, unknown> = {
        [d.remoteKeyColumn]: r.key,
        [d.timestampColumn]: new Date(r.ts).toISOString(),
        deleted: r.deleted,
        data: r.resource,
      };
      // A column that cannot be read from an odd resource is null; the resource itself is kept whole.
      for (const c of d.columns) {
        try {
          row[c.name] = c.from(r.resource);
        } catch {
          row[c.name] = null;
        }
      }
      return row;
    }),
  );
}

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
