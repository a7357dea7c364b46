import { WorkflowNotFoundError } from '@temporalio/client';
import { integrationRef } from '../db/integration-tables';
import { getTarget, listTargets, type TargetRow } from '../db/targets';
import { backlogSql } from '../integrations/sql';
import { postPage } from '../http/post-page';
import { maskUrl, parseTargetUrl, TargetUrlError, type TargetUrl } from '../http/target-url';
import { integrationIdKey, targetIdKey } from '../temporal/client';
import { configureSignal, deleteSignal, pauseSignal, resumeSignal, statusQuery, triggerSignal } from '../workflows/messages';
import { httpSyncWorkflowId } from '../workflows/names';
import { httpSyncWorkflow } from '../workflows/httpsync';
import { summaryMarkdown } from '../workflows/httpsync-view';
import type { HttpSyncStatus, SyncMode, TargetSettings } from '../workflows/types';
import type { ServiceDeps } from './deps';
import { ServiceError, unavailable } from './errors';
import { newId } from './ids';
import { dbError } from './integrations';
import { checkTargetAddress } from './target-address';

export const TARGET_DEFAULTS = { periodSeconds: 60, pageSize: 200, timeoutSeconds: 60, mode: 'interval' as SyncMode };

export interface TargetInput {
  url: string;
  periodSeconds: number;
  pageSize: number;
  timeoutSeconds: number;
  mode: SyncMode;
}

export interface TargetView {
  id: string;
  integration_id: string;
  integration_service: string;
  table: string;
  url: string;
  period_seconds: number;
  page_size: number;
  timeout_seconds: number;
  mode: SyncMode;
  paused: boolean;
  created_at: string;
  workflow_id: string;
}

const view = (t: TargetRow): TargetView => ({
  id: t.id,
  integration_id: t.integration_id,
  integration_service: t.service,
  table: t.table_name,
  url: maskUrl(t.url),
  period_seconds: t.period_seconds,
  page_size: t.page_size,
  timeout_seconds: t.timeout_seconds,
  mode: t.mode,
  paused: t.paused,
  created_at: t.created_at.toISOString(),
  workflow_id: httpSyncWorkflowId(t.id),
});

const settingsOf = (t: TargetRow): TargetSettings => ({
  periodSeconds: t.period_seconds,
  pageSize: t.page_size,
  timeoutSeconds: t.timeout_seconds,
  mode: t.mode,
  paused: t.paused,
});

/** Bounds shared by the CLI and the API. */
export function checkSettings(s: Partial<TargetInput>): void {
  const bad = (msg: string) => {
    throw new ServiceError('invalid', msg);
  };
  if (s.periodSeconds !== undefined && !(Number.isInteger(s.periodSeconds) && s.periodSeconds >= 1 && s.periodSeconds <= 86400))
    bad('period must be a whole number of seconds from 1 to 86400');
  if (s.pageSize !== undefined && !(Number.isInteger(s.pageSize) && s.pageSize >= 1 && s.pageSize <= 10000))
    bad('page size must be a whole number from 1 to 10000');
  if (s.timeoutSeconds !== undefined && !(Number.isInteger(s.timeoutSeconds) && s.timeoutSeconds >= 1 && s.timeoutSeconds <= 3600))
    bad('timeout must be a whole number of seconds from 1 to 3600');
  if (s.mode !== undefined && s.mode !== 'interval' && s.mode !== 'on_insert') bad('mode must be "interval" or "on_insert"');
}

function parseUrl(deps: ServiceDeps, raw: string): TargetUrl {
  try {
    return parseTargetUrl(raw, { allowHttp: deps.config.HOOKSYNC_ALLOW_HTTP });
  } catch (err) {
    if (err instanceof TargetUrlError) throw new ServiceError('invalid', err.message);
    throw err;
  }
}

/** The verification POST: an empty page must be answered 2xx before a target is saved. */
async function verifyEndpoint(url: TargetUrl, integration: { id: string; service: string; table: string }, timeoutSeconds: number) {
  await checkTargetAddress(url);
  const body = JSON.stringify({
    rows: [],
    integration_id: integration.id,
    integration_service: integration.service,
    table: integration.table,
    sync_timestamp: new Date().toISOString(),
  });
  const outcome = await postPage(url, body, { 'hooksync-verification': '1' }, timeoutSeconds * 1000);
  if (!outcome.ok) {
    throw new ServiceError('verification_failed', `the verification POST (an empty page) to ${url.masked} failed: ${outcome.error}`);
  }
}

async function loadTarget(deps: ServiceDeps, id: string): Promise<TargetRow> {
  const t = await getTarget(deps.pool, id).catch((err) => {
    throw dbError(err);
  });
  if (!t || t.deleted_at) throw new ServiceError('not_found', `no HTTP Sync target ${id}`);
  return t;
}

async function startWorkflow(deps: ServiceDeps, t: TargetRow): Promise<void> {
  const labels = { integrationId: t.integration_id, service: t.service, table: t.table_name, maskedUrl: maskUrl(t.url) };
  await deps.temporal.client.workflow.start(httpSyncWorkflow, {
    workflowId: httpSyncWorkflowId(t.id),
    taskQueue: deps.config.HOOKSYNC_TASK_QUEUE,
    args: [
      {
        targetId: t.id,
        settings: settingsOf(t),
        labels,
        historyLimit: deps.config.HOOKSYNC_HISTORY_LIMIT,
      },
    ],
    typedSearchAttributes: [
      { key: targetIdKey, value: t.id },
      { key: integrationIdKey, value: t.integration_id },
    ],
    // Markdown, as the UI renders it: the masked URL's *** must not turn into bold.
    staticSummary: summaryMarkdown(labels),
    staticDetails: `Target \`${t.id}\` of integration \`${t.integration_id}\`. Signals: trigger, pause, resume, configure, delete; query: status.`,
  });
}

export async function createTarget(deps: ServiceDeps, integrationId: string, input: TargetInput): Promise<TargetView> {
  checkSettings(input);
  const url = parseUrl(deps, input.url);
  const ref = await integrationRef(deps.pool, integrationId).catch((err) => {
    throw dbError(err);
  });
  if (!ref) throw new ServiceError('not_found', `no integration ${integrationId}`);
  await verifyEndpoint(url, ref, input.timeoutSeconds);
  const id = newId('hst');
  await deps.pool
    .query(
      `INSERT INTO sync_targets (id, integration_id, url, period_seconds, page_size, timeout_seconds, mode)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [id, integrationId, input.url.trim(), input.periodSeconds, input.pageSize, input.timeoutSeconds, input.mode],
    )
    .catch((err) => {
      throw dbError(err);
    });
  const t = (await getTarget(deps.pool, id))!;
  try {
    await startWorkflow(deps, t);
  } catch (err) {
    // No workflow, no target: a refused request leaves nothing behind.
    await deps.pool.query('DELETE FROM sync_targets WHERE id = $1', [id]).catch(() => {});
    throw unavailable('Temporal', err);
  }
  return view(t);
}

export async function listTargetViews(deps: ServiceDeps, integrationId?: string): Promise<TargetView[]> {
  const rows = await listTargets(deps.pool, integrationId).catch((err) => {
    throw dbError(err);
  });
  return rows.map(view);
}

export interface TargetInfo extends TargetView {
  state: HttpSyncStatus['state'] | 'unknown';
  cursor: { txid: string; seq: string };
  rows_delivered: number;
  pages_delivered: number;
  syncs: number | null;
  avg_post_ms: number | null;
  rows_per_minute: number | null;
  error_count: number;
  last_error: string | null;
  last_error_at: string | null;
  last_success_at: string | null;
  next_sync_at: string | null;
  retry: HttpSyncStatus['retry'] | null;
  rows_waiting: number;
  rows_held_back: number;
  lag_seconds: number | null;
  /** Why the live figures are missing, when the workflow could not be asked. */
  workflow_unreachable?: string;
}

/** Config, progress and backlog of a target: the database's record plus the workflow's live state. */
export async function targetInfo(deps: ServiceDeps, id: string): Promise<TargetInfo> {
  const t = await loadTarget(deps, id);
  let status: HttpSyncStatus | undefined;
  let unreachable: string | undefined;
  try {
    status = await deps.temporal.connection.withDeadline(Date.now() + 5_000, () =>
      deps.temporal.client.workflow.getHandle(httpSyncWorkflowId(id)).query(statusQuery),
    );
  } catch (err) {
    unreachable = (err as Error).message;
  }
  const cursor = status?.progress.cursor ?? { txid: t.cursor_txid, seq: t.cursor_seq };
  const { rows } = await deps.pool.query<{ waiting: string; held_back: string; lag_seconds: number | null }>(backlogSql(t.table_name), [
    cursor.txid,
    cursor.seq,
  ]);
  const backlog = rows[0]!;
  const p = status?.progress;
  const postCount = p?.postCount ?? Number(t.post_count);
  const postMs = p?.postMsTotal ?? t.post_ms_total;
  return {
    ...view(t),
    state: status?.state ?? 'unknown',
    cursor,
    rows_delivered: p?.rowsDelivered ?? Number(t.rows_delivered),
    pages_delivered: p?.pagesDelivered ?? Number(t.pages_delivered),
    syncs: p?.syncs ?? null,
    avg_post_ms: postCount ? Math.round((postMs / postCount) * 10) / 10 : null,
    // By this process's clock: in a query, an idle workflow's Date.now() is the time of its last task.
    rows_per_minute: status ? (status.recentDeliveries?.filter(([at]) => at > Date.now() - 60_000).reduce((sum, [, n]) => sum + n, 0) ?? status.rowsPerMinute) : null,
    error_count: p?.errorCount ?? Number(t.error_count),
    // From one source: the workflow when it answers, else the database's record.
    last_error: p ? (p.lastError ?? null) : t.last_error,
    last_error_at: p ? (p.lastErrorAt ?? null) : (t.last_error_at?.toISOString() ?? null),
    last_success_at: p ? (p.lastSuccessAt ?? null) : (t.last_success_at?.toISOString() ?? null),
    next_sync_at: status?.state === 'waiting' ? (status.nextSyncAt ?? null) : null,
    retry: status?.retry ?? null,
    rows_waiting: Number(backlog.waiting),
    rows_held_back: Number(backlog.held_back),
    lag_seconds: backlog.lag_seconds === null ? null : Math.round(backlog.lag_seconds * 10) / 10,
    ...(unreachable ? { workflow_unreachable: unreachable } : {}),
  };
}

async function signal(deps: ServiceDeps, id: string, send: (h: ReturnType<ServiceDeps['temporal']['client']['workflow']['getHandle']>) => Promise<void>) {
  try {
    await send(deps.temporal.client.workflow.getHandle(httpSyncWorkflowId(id)));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new ServiceError('conflict', `the workflow of ${id} is not running`);
    throw unavailable('Temporal', err);
  }
}

export async function triggerTarget(deps: ServiceDeps, id: string): Promise<TargetView> {
  const t = await loadTarget(deps, id);
  await signal(deps, id, (h) => h.signal(triggerSignal));
  return view(t);
}

export async function setPaused(deps: ServiceDeps, id: string, paused: boolean): Promise<TargetView> {
  const t = await loadTarget(deps, id);
  const store = (value: boolean) => deps.pool.query('UPDATE sync_targets SET paused = $2 WHERE id = $1', [id, value]);
  if (paused) {
    // Signal first: if Temporal is down, nothing changes anywhere.
    await signal(deps, id, (h) => h.signal(pauseSignal));
    await store(true);
  } else {
    // The database first: the resumed workflow drains at once, and its delivery activity stops
    // on a target the database still says is paused, which would leave the rows that collected
    // meanwhile waiting for the next period. If Temporal is down, the change is undone.
    await store(false);
    try {
      await signal(deps, id, (h) => h.signal(resumeSignal));
    } catch (err) {
      await store(t.paused).catch(() => {});
      throw err;
    }
  }
  return view({ ...t, paused });
}

export interface TargetPatch {
  url?: string;
  periodSeconds?: number;
  pageSize?: number;
  timeoutSeconds?: number;
  mode?: SyncMode;
}

export async function updateTarget(deps: ServiceDeps, id: string, patch: TargetPatch): Promise<TargetView> {
  checkSettings(patch);
  const t = await loadTarget(deps, id);
  if (patch.url !== undefined) {
    const url = parseUrl(deps, patch.url);
    await verifyEndpoint(url, { id: t.integration_id, service: t.service, table: t.table_name }, patch.timeoutSeconds ?? t.timeout_seconds);
  }
  const settings: Partial<TargetSettings> = {};
  if (patch.periodSeconds !== undefined) settings.periodSeconds = patch.periodSeconds;
  if (patch.pageSize !== undefined) settings.pageSize = patch.pageSize;
  if (patch.timeoutSeconds !== undefined) settings.timeoutSeconds = patch.timeoutSeconds;
  if (patch.mode !== undefined) settings.mode = patch.mode;
  if (Object.keys(settings).length > 0) await signal(deps, id, (h) => h.signal(configureSignal, settings));
  const { rows } = await deps.pool.query<{ id: string }>(
    `UPDATE sync_targets SET url = coalesce($2, url), period_seconds = coalesce($3, period_seconds),
            page_size = coalesce($4, page_size), timeout_seconds = coalesce($5, timeout_seconds), mode = coalesce($6, mode)
      WHERE id = $1 RETURNING id`,
    [id, patch.url?.trim() ?? null, patch.periodSeconds ?? null, patch.pageSize ?? null, patch.timeoutSeconds ?? null, patch.mode ?? null],
  );
  if (!rows[0]) throw new ServiceError('not_found', `no HTTP Sync target ${id}`);
  return view((await getTarget(deps.pool, id))!);
}

export async function deleteTarget(deps: ServiceDeps, id: string): Promise<TargetView> {
  const t = await loadTarget(deps, id);
  // The database first: a delivery in flight checks it after every page and stops.
  await deps.pool.query('UPDATE sync_targets SET deleted_at = now() WHERE id = $1', [id]);
  // Best effort: deliveries check deleted_at themselves, and the workflow ends at its next attempt.
  await deps.temporal.client.workflow
    .getHandle(httpSyncWorkflowId(id))
    .signal(deleteSignal)
    .catch(() => {});
  return view(t);
}
