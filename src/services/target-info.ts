import { WorkflowNotFoundError } from '@temporalio/client';
import { readBacklog } from '../db/integration-tables';
import { cursorAhead, cursorOf } from '../db/targets';
import { cursorAheadWarning, generationBehindWarning } from '../contract/cursor';
import type { HttpSyncStatus } from '../contract/httpsync';
import { statusQuery } from '../contract/messages';
import { httpSyncWorkflowId } from '../contract/names';
import type { ServiceDeps } from './deps';
import { dbError } from './errors';
import { loadTarget, view, type TargetView } from './target-view';

/** `httpsync info` and `status`: the database's record of a target merged with its workflow's live state. */

export interface TargetInfo extends TargetView {
  /** The workflow's state; `not_running` when it was terminated, failed or never started (self-repair starts it again). */
  state: HttpSyncStatus['state'] | 'unknown' | 'not_running';
  /** Temporal's status of the target's workflow (RUNNING, TERMINATED, FAILED, NOT_FOUND, …); null when Temporal could not be asked. */
  workflow_status: string | null;
  cursor: { txid: string; seq: string };
  /** The cursor at which the filter (`match`, `fields`, `unmatched`) was last set: it applies to the rows after it; null when none was ever set. */
  filter_since: { txid: string; seq: string } | null;
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
  /** Failed attempts in a row (0 when the last one succeeded) and when the next is due. */
  retry_attempts: number;
  next_attempt_at: string | null;
  rows_waiting: number;
  rows_held_back: number;
  lag_seconds: number | null;
  /** `hooksync httpsync reset`: how often, and the last time. */
  resets: number;
  reset_at: string | null;
  /** The workflow started again from PostgreSQL's cursor (self-repair or `restart`): how often, the last time and why. */
  restarts: number;
  restarted_at: string | null;
  restart_reason: string | null;
  /** Problems to look at: a cursor ahead of this database (restored or moved?), a refused change. */
  warnings: string[];
  /** Why the live figures are missing, when the workflow could not be asked. */
  workflow_unreachable?: string;
}

/** Temporal's view of the workflow: its status, and its live state when it runs. */
export async function askWorkflow(deps: ServiceDeps, id: string): Promise<{ status?: string; live?: HttpSyncStatus; unreachable?: string }> {
  const handle = deps.temporal.client.workflow.getHandle(httpSyncWorkflowId(id));
  try {
    return await deps.temporal.connection.withDeadline(Date.now() + 5_000, async () => {
      const d = await handle.describe();
      if (d.status.name !== 'RUNNING') return { status: d.status.name };
      return { status: d.status.name, live: await handle.query(statusQuery) };
    });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { status: 'NOT_FOUND' };
    return { unreachable: (err as Error).message };
  }
}

/** Config, progress and backlog of a target: the database's record plus the workflow's live state. */
export async function targetInfo(deps: ServiceDeps, id: string): Promise<TargetInfo> {
  const t = await loadTarget(deps, id);
  const { status: workflowStatus, live: status, unreachable } = await askWorkflow(deps, id);
  const cursor = status?.progress.cursor ?? cursorOf(t);
  const backlog = await readBacklog(deps.pool, t.table_name, cursor).catch((err) => {
    throw dbError(err);
  });
  const p = status?.progress;
  const postCount = p?.postCount ?? Number(t.post_count);
  const postMs = p?.postMsTotal ?? t.post_ms_total;
  const warnings = [...(status?.warnings ?? [])];
  // Checked here too: the workflow learns it only when it delivers.
  if (cursorAhead(cursor, t.next_txid) && !warnings.some((w) => w.startsWith('the cursor'))) warnings.unshift(cursorAheadWarning(id, cursor, t.next_txid));
  // A database restored from before a reset: its deliveries stop (see deliverPages) until a reset.
  if (status && (status.generation ?? 0) > t.cursor_generation) warnings.unshift(generationBehindWarning(id, t.cursor_generation, status.generation ?? 0));
  return {
    ...view(t),
    url: status?.maskedUrl ?? t.url_masked,
    state: status?.state ?? (workflowStatus ? 'not_running' : 'unknown'),
    workflow_status: workflowStatus ?? null,
    cursor,
    filter_since: t.filter_since_txid === null ? null : { txid: t.filter_since_txid, seq: t.filter_since_seq ?? '0' },
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
    retry_attempts: status ? (status.retry?.attempts ?? 0) : t.retry_attempts,
    next_attempt_at: status ? (status.retry?.nextAttemptAt ?? null) : t.retry_attempts > 0 ? (t.next_attempt_at?.toISOString() ?? null) : null,
    rows_waiting: backlog.waiting,
    rows_held_back: backlog.heldBack,
    lag_seconds: backlog.lagSeconds === null ? null : Math.round(backlog.lagSeconds * 10) / 10,
    resets: t.reset_count,
    reset_at: t.reset_at?.toISOString() ?? null,
    restarts: t.workflow_restarts,
    restarted_at: t.workflow_restarted_at?.toISOString() ?? null,
    restart_reason: t.workflow_restart_reason,
    warnings,
    ...(unreachable ? { workflow_unreachable: unreachable } : {}),
  };
}

export interface TargetProgress {
  id: string;
  /** As the delivery activity records each 2xx page: ahead of the workflow's figures, which move when an activity returns. */
  rows_delivered: number;
  /** Rows after the cursor the database holds. */
  rows_waiting: number;
}

/** Progress as the database has it, page by page (what `status --watch` draws its bar from). */
export async function targetProgress(deps: ServiceDeps, id: string): Promise<TargetProgress> {
  const t = await loadTarget(deps, id);
  const backlog = await readBacklog(deps.pool, t.table_name, cursorOf(t)).catch((err) => {
    throw dbError(err);
  });
  return { id, rows_delivered: Number(t.rows_delivered), rows_waiting: backlog.waiting };
}
