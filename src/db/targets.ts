import type pg from 'pg';
import type { SigningColumns } from '../delivery/signature';
import type { Cursor } from '../contract/cursor';
import type { SyncMode } from '../contract/httpsync';
import { NO_FILTER, type RowFilter, type Unmatched } from '../integrations/row-filter';
import { jsonOrNull } from './target-filters';

/** A target's settings, as stored and as shown (the service layer's TargetView). */
export interface TargetSettingsRow {
  period_seconds: number;
  page_size: number;
  timeout_seconds: number;
  mode: SyncMode;
  paused: boolean;
}

/**
 * The sync_targets table. Rows hold the URL with credentials and the signing secrets (sealed when
 * HOOKSYNC_ENCRYPTION_KEY is set): never log or print a TargetRow whole.
 */
export interface TargetRow extends TargetSettingsRow, SigningColumns {
  id: string;
  integration_id: string;
  /** Sealed (or, without a key, clear) URL with credentials: open it with openSecret. */
  url: string;
  /** The URL with ***:*** for user and password: what is shown. */
  url_masked: string;
  created_at: Date;
  deleted_at: Date | null;
  cursor_txid: string;
  cursor_seq: string;
  cursor_generation: number;
  reset_at: Date | null;
  reset_count: number;
  rows_delivered: string;
  pages_delivered: string;
  post_count: string;
  post_ms_total: number;
  error_count: string;
  last_error: string | null;
  last_error_at: Date | null;
  last_success_at: Date | null;
  retry_attempts: number;
  next_attempt_at: Date | null;
  workflow_restarts: number;
  workflow_restarted_at: Date | null;
  workflow_restart_reason: string | null;
  /** The target's filter (see src/integrations/row-filter.ts) and the cursor it was set at (null: never). */
  filter_match: Record<string, unknown> | null;
  filter_fields: string[] | null;
  filter_unmatched: Unmatched;
  filter_since_txid: string | null;
  filter_since_seq: string | null;
  service: string;
  table_name: string;
  /** Lock-delay: until when a POST may be in flight (db/post-in-flight.ts). */
  post_in_flight_until: Date | null;
  /** A change of settings the workflow has not acknowledged (db/pending-changes.ts). */
  pending_update_id: string | null;
  /** The next transaction id the cluster hands out (`pg_snapshot_xmax`): a cursor at or past it is from another cluster. */
  next_txid: string;
}

type Db = pg.Pool | pg.PoolClient;

// pg_snapshot_xmax of the current snapshot, unlike pg_current_xact_id(), gives the reading
// transaction no id of its own.
const SELECT = `SELECT t.*, t.cursor_txid::text AS cursor_txid, t.filter_since_txid::text AS filter_since_txid, t.filter_since_seq::text AS filter_since_seq, i.service, i.table_name,
       pg_snapshot_xmax(pg_current_snapshot())::text AS next_txid
  FROM sync_targets t JOIN integrations i ON i.id = t.integration_id`;

export async function getTarget(db: Db, id: string): Promise<TargetRow | undefined> {
  const { rows } = await db.query<TargetRow>(`${SELECT} WHERE t.id = $1`, [id]);
  return rows[0];
}

export async function listTargets(db: Db, integrationId?: string): Promise<TargetRow[]> {
  const { rows } = await db.query<TargetRow>(
    `${SELECT} WHERE t.deleted_at IS NULL AND ($1::text IS NULL OR t.integration_id = $1) ORDER BY t.created_at`,
    [integrationId ?? null],
  );
  return rows;
}

/** Deleted targets, for the repair that stops their workflows if the delete signal was lost. */
export async function listDeletedTargetIds(db: Db, since: Date): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM sync_targets WHERE deleted_at > $1', [since]);
  return rows.map((r) => r.id);
}

export const cursorOf = (t: Pick<TargetRow, 'cursor_txid' | 'cursor_seq'>): Cursor => ({ txid: t.cursor_txid, seq: String(t.cursor_seq) });

/** Whether `cursor` is at or past the cluster's next transaction id (see TargetRow.next_txid). */
export const cursorAhead = (cursor: Cursor, nextTxid: string) => BigInt(cursor.txid) >= BigInt(nextTxid);

/** What a delivery in progress must follow: stopped, or new credentials or signing secrets. */
export type Live = Pick<TargetRow, 'url' | 'signing_secret' | 'signing_secret_previous' | 'signing_secret_previous_expires_at'> & { paused: boolean; deleted: boolean };
export type Recorded = Live | 'reset' | undefined;

const LIVE = 'url, signing_secret, signing_secret_previous, signing_secret_previous_expires_at, paused, deleted_at IS NOT NULL AS deleted';

/**
 * After a 2xx: record progress, and learn whether to go on (paused, deleted, new credentials).
 * Recorded only under the generation the delivery started with: after a reset it answers 'reset'.
 * Committed without waiting for the disk: the synchronous write before the POST (announcePost)
 * made the position durable already, and a record lost in a crash only sends a page again. It
 * also clears the lock-delay of the POST that has ended.
 * `posted: false` is a page read with nothing to send (a filter left every row out): the cursor
 * moves past it, and no page or POST is counted.
 */
export async function recordDelivered(
  db: pg.PoolClient,
  id: string,
  p: { cursor: Cursor; generation: number; rows: number; postMs: number; posted?: boolean },
): Promise<Recorded> {
  const { rows } = await db.query<Live & { current: boolean }>({
    name: 'hooksync_record_delivered',
    text: `WITH done AS (
       UPDATE sync_targets
          SET cursor_txid = $2::xid8, cursor_seq = $3::bigint,
              rows_delivered = rows_delivered + $4, pages_delivered = pages_delivered + $7,
              post_count = post_count + $7, post_ms_total = post_ms_total + $5,
              last_success_at = CASE WHEN $7 = 1 THEN now() ELSE last_success_at END,
              retry_attempts = 0, next_attempt_at = NULL, post_in_flight_until = NULL
        WHERE id = $1 AND cursor_generation = $6 AND set_config('synchronous_commit', 'off', true) IS NOT NULL
    RETURNING ${LIVE})
     SELECT *, true AS current FROM done
     UNION ALL
     SELECT ${LIVE}, false FROM sync_targets WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM done)`,
    values: [id, p.cursor.txid, p.cursor.seq, p.rows, p.postMs, p.generation, p.posted === false ? 0 : 1],
  });
  const row = rows[0];
  if (!row) return undefined;
  const { current, ...live } = row;
  if (!current) return live.deleted ? live : 'reset';
  return live;
}

/** After the overlap of a rotation, the previous signing secret is dropped. */
export async function dropExpiredSigningSecret(db: Db, id: string): Promise<void> {
  await db.query(
    `UPDATE sync_targets SET signing_secret_previous = NULL, signing_secret_previous_expires_at = NULL
      WHERE id = $1 AND signing_secret_previous_expires_at <= now()`,
    [id],
  );
}

/** A failed attempt: the error, and the retry state `info` and /metrics show. */
export async function recordFailure(
  db: Db,
  id: string,
  f: { error: string; postMs?: number; attempts: number; nextAttemptAt: Date },
): Promise<void> {
  await db.query(
    `UPDATE sync_targets
        SET error_count = error_count + 1, last_error = $2, last_error_at = now(),
            post_count = post_count + $3, post_ms_total = post_ms_total + $4,
            retry_attempts = $5, next_attempt_at = $6
      WHERE id = $1`,
    [id, f.error, f.postMs === undefined ? 0 : 1, f.postMs ?? 0, f.attempts, f.nextAttemptAt],
  );
}

/**
 * The cursor back to the start, under a new generation, above `above` too (the workflow's, when a
 * database restored from before a reset is behind it). Returns the new generation and time.
 */
export async function resetCursor(db: Db, id: string, above = 0): Promise<{ generation: number; at: Date } | undefined> {
  const { rows } = await db.query<{ generation: number; at: Date }>(
    `UPDATE sync_targets
        SET cursor_txid = '0', cursor_seq = 0, cursor_generation = greatest(cursor_generation, $2::int) + 1,
            reset_at = now(), reset_count = reset_count + 1, retry_attempts = 0, next_attempt_at = NULL
      WHERE id = $1 AND deleted_at IS NULL
  RETURNING cursor_generation AS generation, reset_at AS at`,
    [id, above],
  );
  return rows[0];
}

export async function recordRestart(db: Db, id: string, reason: string): Promise<Date> {
  const { rows } = await db.query<{ at: Date }>(
    `UPDATE sync_targets SET workflow_restarts = workflow_restarts + 1, workflow_restarted_at = now(), workflow_restart_reason = $2
      WHERE id = $1 RETURNING workflow_restarted_at AS at`,
    [id, reason],
  );
  return rows[0]?.at ?? new Date();
}

/** Targets whose cursor is at or past the cluster's next transaction id (see TargetRow.next_txid). */
export async function targetsWithCursorAhead(db: Db): Promise<Array<{ id: string; cursor: Cursor; nextTxid: string }>> {
  const { rows } = await db.query<{ id: string; cursor_txid: string; cursor_seq: string; next_txid: string }>(
    `SELECT id, cursor_txid::text, cursor_seq::text, pg_snapshot_xmax(pg_current_snapshot())::text AS next_txid
       FROM sync_targets WHERE deleted_at IS NULL AND cursor_txid >= pg_snapshot_xmax(pg_current_snapshot())`,
  );
  return rows.map((r) => ({ id: r.id, cursor: cursorOf(r), nextTxid: r.next_txid }));
}

/**
 * A target's settings as columns; undefined leaves a column as it is. `url` (with its credentials)
 * is stored as given: the caller seals it (sealSecret), and gives `urlMasked` beside it.
 */
export interface TargetSettingsColumns {
  url?: string;
  urlMasked?: string;
  periodSeconds?: number;
  pageSize?: number;
  timeoutSeconds?: number;
  mode?: SyncMode;
}

/**
 * A new target; `signingSecret` sealed by the caller, as `url`. Its filter is stored with it, in
 * the same statement: no workflow (self-repair's included) can find the target without it.
 */
export async function insertTarget(
  db: Db,
  id: string,
  integrationId: string,
  s: Required<TargetSettingsColumns> & { signingSecret: string; filter?: RowFilter },
): Promise<void> {
  const f = s.filter ?? NO_FILTER;
  const filtered = s.filter !== undefined;
  await db.query(
    `INSERT INTO sync_targets (id, integration_id, url, url_masked, signing_secret, period_seconds, page_size, timeout_seconds, mode,
                               filter_match, filter_fields, filter_unmatched, filter_since_txid, filter_since_seq)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::text[], $12,
             CASE WHEN $13::boolean THEN '0'::xid8 END, CASE WHEN $13::boolean THEN 0 END)`,
    [id, integrationId, s.url, s.urlMasked, s.signingSecret, s.periodSeconds, s.pageSize, s.timeoutSeconds, s.mode, jsonOrNull(f.match), f.fields, f.unmatched, filtered],
  );
}

/** Removes a target that never ran (its workflow could not be started): a refused create leaves nothing behind. */
export async function removeTarget(db: Db, id: string): Promise<void> {
  await db.query('DELETE FROM sync_targets WHERE id = $1', [id]);
}

/** Changes the settings given; false when there is no such (undeleted) target. */
export async function updateTargetSettings(db: Db, id: string, s: TargetSettingsColumns): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE sync_targets SET url = coalesce($2, url), url_masked = coalesce($7, url_masked), period_seconds = coalesce($3, period_seconds),
            page_size = coalesce($4, page_size), timeout_seconds = coalesce($5, timeout_seconds), mode = coalesce($6, mode)
      WHERE id = $1 AND deleted_at IS NULL`,
    [id, s.url ?? null, s.periodSeconds ?? null, s.pageSize ?? null, s.timeoutSeconds ?? null, s.mode ?? null, s.urlMasked ?? null],
  );
  return (rowCount ?? 0) > 0;
}

/** The stored (sealed) signing secret of an undeleted target, locked until the transaction ends; undefined when there is none such. */
export async function lockSigningSecret(db: pg.PoolClient, id: string): Promise<{ signing_secret: string | null } | undefined> {
  const { rows } = await db.query<{ signing_secret: string | null }>('SELECT signing_secret FROM sync_targets WHERE id = $1 AND deleted_at IS NULL FOR UPDATE', [id]);
  return rows[0];
}

/** A new signing secret, the one it replaces beside it until `previousExpiresAt` (both sealed by the caller). */
export async function storeSigningSecrets(db: Db, id: string, s: { current: string; previous: string | null; previousExpiresAt: Date | null }): Promise<void> {
  await db.query(`UPDATE sync_targets SET signing_secret = $2, signing_secret_previous = $3, signing_secret_previous_expires_at = $4 WHERE id = $1`, [
    id,
    s.current,
    s.previous,
    s.previousExpiresAt,
  ]);
}

export async function setTargetPaused(db: Db, id: string, paused: boolean): Promise<void> {
  await db.query('UPDATE sync_targets SET paused = $2 WHERE id = $1', [id, paused]);
}

export async function markTargetDeleted(db: Db, id: string): Promise<void> {
  await db.query('UPDATE sync_targets SET deleted_at = now() WHERE id = $1', [id]);
}

export interface TargetRetryRow {
  id: string;
  integration_id: string;
  attempts: number;
  /** Unix time in seconds; null when not retrying. */
  next_at: number | null;
}

/** Every target's retry state, for the retry gauges of /metrics. */
export async function retryStates(db: Db): Promise<TargetRetryRow[]> {
  const { rows } = await db.query<TargetRetryRow>(
    `SELECT id, integration_id, retry_attempts AS attempts, extract(epoch FROM next_attempt_at)::float8 AS next_at
       FROM sync_targets WHERE deleted_at IS NULL`,
  );
  return rows;
}
