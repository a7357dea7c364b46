import { parsePointer } from './json-pointer';
import type { ColumnSpec, ColumnType, Converter, IntegrationDescriptor } from './types';

/**
 * Everything that turns a descriptor into SQL lives here (tables and writes), in read-sql.ts
 * (pages and backlogs) and in filter-sql.ts (a target's filtered page); no other module writes SQL
 * for integration tables.
 */

export const ident = (name: string) => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe SQL identifier: ${name}`);
  return `"${name}"`;
};

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** The jsonb value at a parsed pointer inside `doc` (a jsonb expression); NULL when absent. */
function valueAt(tokens: string[], doc: string): string {
  return tokens.length === 0 ? doc : `(${doc} #> ARRAY[${tokens.map(literal).join(', ')}]::text[])`;
}

// Nested CASEs: PostgreSQL does not promise to evaluate AND's operands in order, and a cast of a
// non-number would fail the whole statement.
const numberIn = (v: string, min: string, max: string, type: string) =>
  `CASE WHEN jsonb_typeof(${v}) = 'number' THEN CASE WHEN ${v}::numeric = trunc(${v}::numeric) AND ${v}::numeric BETWEEN ${min} AND ${max} THEN ${v}::numeric::${type} END END`;

/** SQL expressions turning a jsonb value into a column value, NULL for anything they cannot read. */
const CONVERTERS: Record<Converter, (v: string) => string> = {
  text: (v) => `CASE WHEN jsonb_typeof(${v}) = 'string' THEN ${v} #>> '{}' END`,
  bigint: (v) => numberIn(v, '-9223372036854775808', '9223372036854775807', 'bigint'),
  integer: (v) => numberIn(v, '-2147483648', '2147483647', 'integer'),
  numeric: (v) => `CASE WHEN jsonb_typeof(${v}) = 'number' THEN ${v}::numeric END`,
  boolean: (v) => `CASE WHEN jsonb_typeof(${v}) = 'boolean' THEN ${v}::boolean END`,
  // Seconds since 1970 that a timestamptz holds (years 1970 to 5138).
  'epoch-seconds': (v) =>
    `CASE WHEN jsonb_typeof(${v}) = 'number' THEN CASE WHEN ${v}::numeric >= 0 AND ${v}::numeric < 100000000000 THEN to_timestamp(${v}::numeric::float8) END END`,
  'iso-8601': (v) => `CASE WHEN jsonb_typeof(${v}) = 'string' THEN hooksync_iso_timestamptz(${v} #>> '{}') END`,
};

/** What each converter yields; a column's type must match its converter's. */
const CONVERTS_TO: Record<Converter, ColumnType> = {
  text: 'text',
  bigint: 'bigint',
  integer: 'integer',
  numeric: 'numeric',
  boolean: 'boolean',
  'epoch-seconds': 'timestamptz',
  'iso-8601': 'timestamptz',
};

export function converterOf(c: ColumnSpec): Converter {
  const converter = c.convert ?? (c.type === 'timestamptz' ? undefined : c.type);
  if (!converter) throw new Error(`column ${c.name}: a timestamptz column needs a converter (epoch-seconds or iso-8601)`);
  if (CONVERTS_TO[converter] !== c.type) throw new Error(`column ${c.name}: converter ${converter} makes ${CONVERTS_TO[converter]}, not ${c.type}`);
  return converter;
}

/**
 * A denormalized column's value, read from the event `ev` (jsonb): relative to the resource or to
 * the event itself. For a listed resource (`listed`: `ev` is the resource, there is no event) an
 * envelope column is NULL on insert, and an update keeps the stored value (see upsertFrom).
 */
function columnValue(d: IntegrationDescriptor, c: ColumnSpec, ev: string, listed = false): string {
  if (listed && c.from === 'event') return `NULL::${c.type}`;
  const tokens = [...(c.from === 'event' || listed ? [] : parsePointer(d.resourcePointer)), ...parsePointer(c.pointer)];
  return CONVERTERS[converterOf(c)](valueAt(tokens, ev));
}

export const sequenceName = (table: string) => `${table}_seq`;

/** Columns of a row as it is stored and as receivers get it, in order. */
export function rowColumns(d: IntegrationDescriptor) {
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
    // The kind of change of the stored version (its rank in the descriptor's precedence), for ties.
    '_precedence smallint NOT NULL DEFAULT 0',
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
 * The conditional upsert from `source`, a relation of (remote_key, version_at, precedence,
 * deleted, ev), `ev` being the whole event as jsonb: the resource and the denormalized columns are
 * read out of it here, inside PostgreSQL. The upstream timestamp decides, then the kind of change
 * (the descriptor's precedence): a newer version replaces the row and re-stamps `_txid`/`_seq` (so
 * it is delivered); an older one is discarded; the same version (timestamp and kind) wins only if
 * it changes something, so a redelivery is not delivered again. Rows go in key order, so
 * concurrent upserts lock rows in one order.
 */
function upsertFrom(d: IntegrationDescriptor, table: string, source: string, listed = false): string {
  const t = ident(table);
  const cols = rowColumns(d);
  const names = [...cols.map((c) => ident(c.name)), '_precedence'].join(', ');
  const values = [
    's.remote_key',
    ...d.columns.map((c) => columnValue(d, c, 's.ev', listed)),
    's.version_at',
    's.deleted',
    listed ? 's.ev' : valueAt(parsePointer(d.resourcePointer), 's.ev'),
    's.precedence',
  ].join(',\n       ');
  const ts = ident(d.timestampColumn);
  // A listed copy has no envelope: the envelope's columns keep what a webhook wrote, and do not count as a change.
  const envelope = new Set(listed ? d.columns.filter((c) => c.from === 'event').map((c) => ident(c.name)) : []);
  const compared = cols.filter((c) => c.name !== d.remoteKeyColumn && c.name !== d.timestampColumn).map((c) => ident(c.name)).filter((n) => !envelope.has(n));
  const assignments = [...cols.filter((c) => c.name !== d.remoteKeyColumn).map((c) => ident(c.name)), '_precedence']
    .map((n) => (envelope.has(n) ? `${n} = old.${n}` : `${n} = excluded.${n}`))
    .concat(['_txid = pg_current_xact_id()', `_seq = nextval('${sequenceName(table)}')`, '_changed_at = now()'])
    .join(', ');
  return `INSERT INTO ${t} AS old (${names})
SELECT ${values}
  FROM ${source} s
 ORDER BY s.remote_key
ON CONFLICT (${ident(d.remoteKeyColumn)}) DO UPDATE SET ${assignments}
WHERE ${listed ? listedCondition(ts, compared) : eventCondition(ts, compared)}`;
}

const differs = (compared: string[]) => `(${compared.map((n) => `old.${n}`).join(', ')}) IS DISTINCT FROM (${compared.map((n) => `excluded.${n}`).join(', ')})`;

const eventCondition = (ts: string, compared: string[]) => `(old.${ts}, old._precedence) < (excluded.${ts}, excluded._precedence)
   OR ((old.${ts}, old._precedence) = (excluded.${ts}, excluded._precedence)
       AND ${differs(compared)})`;

/**
 * A listed copy replaces only an older version, and only when it changes something: a backfill
 * run again over rows the webhooks keep up to date re-stamps (and so delivers) nothing.
 */
const listedCondition = (ts: string, compared: string[]) => `(old.${ts}, old._precedence) < (excluded.${ts}, excluded._precedence)
   AND ${differs(compared)}`;

/**
 * The precedence of a listed copy (a backfill's): below every kind of change a webhook brings
 * (those rank from 0), so at an equal timestamp the webhook's version wins.
 */
export const LISTED_PRECEDENCE = -1;

/**
 * A backfill's page, upserted by the same conditional upsert as webhook events: $1 a jsonb array
 * of [remote key, resource] pairs, $2 the fetch time in ms (already rounded down to the
 * upstream's resolution), $3 the integration id. A listed resource is never deleted and ranks
 * below every webhook change. Returns how many rows changed and, when some did, the on-insert
 * targets to wake.
 */
export function upsertListedSql(d: IntegrationDescriptor, table: string): string {
  return `WITH src AS MATERIALIZED (
  SELECT DISTINCT ON (p.item ->> 0) p.item ->> 0 AS remote_key, to_timestamp($2::float8 / 1000) AS version_at,
         ${LISTED_PRECEDENCE}::smallint AS precedence, false AS deleted, p.item -> 1 AS ev
    FROM jsonb_array_elements($1::jsonb) AS p(item)
   ORDER BY p.item ->> 0
),
up AS (
${upsertFrom(d, table, 'src', true)}
RETURNING 1
)
SELECT (SELECT count(*) FROM up)::int AS applied,
       CASE WHEN EXISTS (SELECT 1 FROM up)
            THEN ARRAY(SELECT id FROM sync_targets
                        WHERE integration_id = $3 AND mode = 'on_insert' AND NOT paused AND deleted_at IS NULL)
            ELSE '{}'::text[] END AS targets`;
}

/**
 * One apply of a shard's inbox, in one statement (one transaction): take the oldest rows (up to
 * $3; or exactly the ids $4), keep each key's newest version (timestamp, then precedence, then the
 * later arrival), parse only those bodies, upsert them, and remove every row taken. Returns how
 * many were taken and applied, the highest position taken, its transaction id, and, only when
 * rows changed, the on-insert targets to wake. With `dedupe`, events whose id was applied before are dropped first.
 * The integration's event counters (ingest_event_stats) move in the same statement.
 * Parameters: $1 integration id, $2 shard, $3 limit, $4 ids (bigint[] or NULL).
 */
export function applySql(d: IntegrationDescriptor, table: string): string {
  const candidates = d.dedupe
    ? `fresh AS (
  INSERT INTO ingest_seen_events (integration_id, event_id)
  SELECT DISTINCT $1, event_id FROM batch WHERE event_id IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING event_id
),
candidate AS (SELECT * FROM batch WHERE event_id IS NULL OR event_id IN (SELECT event_id FROM fresh)),`
    : 'candidate AS (SELECT * FROM batch),';
  return `WITH batch AS MATERIALIZED (
  SELECT ctid AS tid, id, remote_key, version_at, precedence, deleted, event_id, received_at
    FROM ingest_inbox
   WHERE integration_id = $1 AND shard = $2 AND ($4::bigint[] IS NULL OR id = ANY ($4::bigint[]))
   ORDER BY id
   LIMIT $3
     FOR UPDATE SKIP LOCKED
),
${candidates}
newest AS (
  SELECT DISTINCT ON (remote_key) tid, remote_key, version_at, precedence, deleted
    FROM candidate
   ORDER BY remote_key, version_at DESC, precedence DESC, id DESC
),
-- Materialized, so each body is parsed once (inlined, the cast would run for every column read
-- from it); a subquery per winner (a TID lookup), never a join that could scan the inbox.
src AS MATERIALIZED (
  SELECT n.remote_key, n.version_at, n.precedence, n.deleted, (SELECT body FROM ingest_inbox i WHERE i.ctid = n.tid)::jsonb AS ev
    FROM newest n
),
up AS (
${upsertFrom(d, table, 'src')}
RETURNING 1
),
gone AS (DELETE FROM ingest_inbox WHERE ctid = ANY (ARRAY(SELECT tid FROM batch))),
-- The counts that integrations list shows; written only when rows were taken (the apply looks often).
counted AS (
  INSERT INTO ingest_event_stats AS st (integration_id, shard, events, applied, last_event_at)
  SELECT $1, $2, count(*), (SELECT count(*) FROM up), max(received_at) FROM batch HAVING count(*) > 0
  ON CONFLICT (integration_id, shard) DO UPDATE
    SET events = st.events + excluded.events, applied = st.applied + excluded.applied,
        last_event_at = greatest(st.last_event_at, excluded.last_event_at)
)
SELECT (SELECT count(*) FROM batch)::int AS taken,
       (SELECT count(*) FROM up)::int AS applied,
       (SELECT max(id) FROM batch)::text AS up_to,
       pg_current_xact_id_if_assigned()::text AS txid,
       CASE WHEN EXISTS (SELECT 1 FROM up)
            THEN ARRAY(SELECT id FROM sync_targets
                        WHERE integration_id = $1 AND mode = 'on_insert' AND NOT paused AND deleted_at IS NULL)
            ELSE '{}'::text[] END AS targets`;
}

/**
 * The same conditional upsert for one event given as parameters ($1 body text, $2 remote key,
 * $3 upstream time in ms, $4 precedence, $5 deleted): what a plain handler without an inbox runs
 * (the benchmark's baseline).
 */
export function upsertEventSql(d: IntegrationDescriptor, table: string): string {
  return `WITH src AS MATERIALIZED (
  SELECT $2::text AS remote_key, to_timestamp($3::float8 / 1000) AS version_at, $4::smallint AS precedence, $5::boolean AS deleted, $1::jsonb AS ev
)
${upsertFrom(d, table, 'src')}`;
}

/** The rank of a kind of change in the descriptor's precedence (0 = weakest). */
export function precedenceOf(d: IntegrationDescriptor, change: string): number {
  const rank = d.precedence.indexOf(change);
  if (rank < 0) throw new Error(`${d.service}: "${change}" is not one of its kinds of change (${d.precedence.join(', ')})`);
  return rank;
}
