import crypto from 'node:crypto';
import type pg from 'pg';
import { findDescriptor } from '../integrations';
import { backlogSql, heldBackSql, pageSql } from '../integrations/read-sql';
import { filteredPageSql } from '../integrations/filter-sql';
import { announcingPageSql } from './post-in-flight';
import { filters, NO_FILTER, projectionOf, withPointerValues, type RowFilter } from '../integrations/row-filter';
import type { IntegrationDescriptor } from '../integrations/types';
import type { Cursor } from '../contract/cursor';

export interface IntegrationRef {
  id: string;
  service: string;
  table: string;
  descriptor: IntegrationDescriptor;
}

/** An integration's service and table never change, so one lookup per process is enough. */
const cache = new Map<string, IntegrationRef>();

export async function integrationRef(pool: pg.Pool, id: string): Promise<IntegrationRef | undefined> {
  const hit = cache.get(id);
  if (hit) return hit;
  const { rows } = await pool.query<{ service: string; table_name: string }>(
    'SELECT service, table_name FROM integrations WHERE id = $1',
    [id],
  );
  const row = rows[0];
  if (!row) return undefined;
  const descriptor = findDescriptor(row.service);
  if (!descriptor) throw new Error(`integration ${id} has unknown service ${row.service}`);
  const ref = { id, service: row.service, table: row.table_name, descriptor };
  cache.set(id, ref);
  return ref;
}

type Db = pg.Pool | pg.PoolClient;

/** What is still to be delivered after a cursor (see backlogSql). */
export interface Backlog {
  waiting: number;
  heldBack: number;
  /** How long the oldest waiting row has waited; null when none waits. */
  lagSeconds: number | null;
}

export async function readBacklog(db: Db, table: string, after: Cursor): Promise<Backlog> {
  const { rows } = await db.query<{ waiting: string; held_back: string; lag_seconds: number | null }>(backlogSql(table), [after.txid, after.seq]);
  const r = rows[0]!;
  return { waiting: Number(r.waiting), heldBack: Number(r.held_back), lagSeconds: r.lag_seconds };
}

export interface PageRows {
  /** The rows to send, each rendered as JSON text. */
  rows: string[];
  /** How many rows were read (a filter may leave some out): a full page means more may follow. */
  read: number;
  /** Positions of the first and last row read: the page's range, matched or not. */
  first?: Cursor;
  last?: Cursor;
  /** Read with `announce` and rows found: the POST's announcement (see announcingPageSql), null when refused. */
  announced?: string | null;
}

/** Announce the POST of the page read, in the same statement (see announcingPageSql). */
export interface PageAnnouncement {
  targetId: string;
  timeoutMs: number;
  generation: number;
}

/**
 * Reads the pages of one integration's table; the statement text is built once. With a target's
 * filter (filter-sql.ts) a page is still the next `pageSize` rows after the cursor: rows that do
 * not match are left out (or sent as tombstones), and `last` is the last row read, so the cursor
 * moves past them even when nothing is left to send.
 */
export function pageReader(
  db: pg.PoolClient,
  ref: Pick<IntegrationRef, 'descriptor' | 'table'>,
  pageSize: number,
  filter: RowFilter = NO_FILTER,
): (after: Cursor, announce?: PageAnnouncement) => Promise<PageRows> {
  const projection = projectionOf(ref.descriptor, filter.fields);
  const query = filters(filter) ? filteredPageSql(ref.descriptor, ref.table, projection) : pageSql(ref.descriptor, ref.table);
  const extra = filters(filter) ? [filter.match === null ? null : JSON.stringify(filter.match), ...projection.pointers.map((p) => p.path)] : [];
  // Prepared once per connection (named by its text): a drain reads a page per slice, and planning
  // this statement costs more than running it on a few rows.
  const named = (text: string) => ({ name: `hooksync_page_${crypto.createHash('sha256').update(text).digest('hex').slice(0, 24)}`, text });
  const plain = named(query);
  const announcing = named(announcingPageSql(query, 4 + extra.length));
  return async (after, announce) => {
    const { rows } = await db.query<{ txid: string; seq: string; json: string; matched?: boolean; announced?: string | null } & Record<string, string | null>>({
      ...(announce ? announcing : plain),
      values: [after.txid, after.seq, pageSize, ...extra, ...(announce ? [announce.targetId, announce.timeoutMs, announce.generation] : [])],
    });
    const first = rows[0];
    const last = rows[rows.length - 1];
    const sent = rows.filter((r) => r.matched !== false || filter.unmatched === 'tombstone');
    return {
      rows: sent.map((r) => (r.matched ? withPointerValues(r.json, projection.pointers, projection.pointers.map((_, i) => r[`p${i}`] ?? null)) : r.json)),
      read: rows.length,
      first: first && { txid: first.txid, seq: first.seq },
      last: last && { txid: last.txid, seq: last.seq },
      ...(announce && first ? { announced: first.announced ?? null } : {}),
    };
  };
}

/** Whether committed rows after the cursor exist that a page read did not return (see heldBackSql). */
export async function rowsHeldBack(db: Db, table: string, after: Cursor): Promise<boolean> {
  const { rows } = await db.query<{ held: boolean }>(heldBackSql(table), [after.txid, after.seq]);
  return Boolean(rows[0]?.held);
}

/** Whether every transaction older than `txid` has ended, so the rows it changed are readable by a page query. */
export async function olderTransactionsEnded(db: Db, txid: string): Promise<boolean> {
  const { rows } = await db.query<{ readable: boolean }>({
    name: 'hooksync_apply_readable',
    text: 'SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8 AS readable',
    values: [txid],
  });
  return rows[0]!.readable;
}

export interface AppliedBatch {
  taken: number;
  applied: number;
  upTo?: string;
  txid?: string;
  targets: string[];
}

/** One statement of `applySql` (src/integrations/sql.ts) over a shard's oldest inbox rows, or the rows `ids` names. */
export async function applyInboxBatch(client: pg.PoolClient, sql: string, integrationId: string, shard: number, limit: number, ids: string[] | null): Promise<AppliedBatch> {
  // Prepared once per connection and integration: planning this statement costs more than running it on a few rows.
  const { rows } = await client.query<{ taken: number; applied: number; up_to: string | null; txid: string | null; targets: string[] }>({
    name: `hooksync_apply_${integrationId}`,
    text: sql,
    values: [integrationId, shard, limit, ids],
  });
  const r = rows[0]!;
  return { taken: r.taken, applied: r.applied, upTo: r.up_to ?? undefined, txid: r.txid ?? undefined, targets: r.targets };
}

/** One statement of `upsertListedSql` (src/integrations/sql.ts) over a listed page: the rows changed, and the on-insert targets to wake. */
export async function upsertListedPage(db: Db, sql: string, integrationId: string, items: unknown[], versionAt: unknown): Promise<{ applied: number; targets: string[] }> {
  const { rows } = await db.query<{ applied: number; targets: string[] }>({
    name: `hooksync_backfill_${integrationId}`,
    text: sql,
    values: [JSON.stringify(items), versionAt, integrationId],
  });
  return rows[0]!;
}

/** After its table went missing (the integration was deleted): look it up again next time. */
export function forgetIntegrationRef(id: string): void {
  cache.delete(id);
}
