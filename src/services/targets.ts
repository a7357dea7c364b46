import { WorkflowNotFoundError } from '@temporalio/client';
import type pg from 'pg';
import { integrationRef, readBacklog } from '../db/integration-tables';
import { withTransaction } from '../db/pool';
import {
  cursorAhead,
  cursorOf,
  getTarget,
  insertTarget,
  listTargets,
  lockDeliveriesInTransaction,
  lockSigningSecret,
  markTargetDeleted,
  recordRestart,
  removeTarget,
  resetCursor,
  setTargetPaused,
  storeSigningSecrets,
  updateTargetSettings,
  type TargetRow,
  type TargetSettingsRow,
} from '../db/targets';
import { sendPage, type PageSource } from '../delivery/page';
import { parseTargetUrl, TargetUrlError, type TargetUrl } from '../http/target-url';
import { generateSigningSecret, SIGNING_OVERLAP_MS, signingSecretsOf } from '../delivery/signature';
import { KeyringError } from '../secrets/keyring';
import { openOptional, sealSecret } from '../secrets/stored';
import { DRAIN_BUDGET_MS } from '../contract/delivery';
import { settingsProblems } from '../contract/target-settings';
import { cursorAheadWarning } from '../contract/cursor';
import { configureSignal, deleteSignal, pauseSignal, resetSignal, resumeSignal, statusQuery, triggerSignal } from '../contract/messages';
import { httpSyncWorkflowId } from '../contract/names';
import type { Cursor } from '../contract/cursor';
import type { HttpSyncStatus, SyncMode, TargetChange } from '../contract/httpsync';
import type { ServiceDeps } from './deps';
import { ServiceError, unavailable } from './errors';
import { newId } from './ids';
import { dbError } from './integrations';
import { checkTargetAddress } from './target-address';
import { startTargetWorkflow, type WorkflowStarter } from '../temporal/target-workflow';

export const TARGET_DEFAULTS = { periodSeconds: 60, pageSize: 200, timeoutSeconds: 60, mode: 'interval' as SyncMode };

export interface TargetInput {
  url: string;
  periodSeconds: number;
  pageSize: number;
  timeoutSeconds: number;
  mode: SyncMode;
}

export interface TargetView extends TargetSettingsRow {
  id: string;
  integration_id: string;
  integration_service: string;
  table: string;
  /** Masked: https://***:***@host/path. */
  url: string;
  created_at: string;
  workflow_id: string;
}

const view = (t: TargetRow): TargetView => ({
  id: t.id,
  integration_id: t.integration_id,
  integration_service: t.service,
  table: t.table_name,
  url: t.url_masked,
  period_seconds: t.period_seconds,
  page_size: t.page_size,
  timeout_seconds: t.timeout_seconds,
  mode: t.mode,
  paused: t.paused,
  created_at: t.created_at.toISOString(),
  workflow_id: httpSyncWorkflowId(t.id),
});

/** Bounds shared by the CLI, the API and the running workflow (src/contract/target-settings.ts). */
export function checkSettings(s: Partial<TargetInput>): void {
  const { url: _url, ...settings } = s;
  const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  const problems = settingsProblems(defined);
  if (problems.length > 0) throw new ServiceError('invalid', problems.join('; '));
}

function parseUrl(deps: ServiceDeps, raw: string): TargetUrl {
  // The URL is stored as given: PostgreSQL would refuse a NUL in it only after the verification POST.
  if (/[\x00-\x1f\x7f]/.test(raw.trim())) throw new ServiceError('invalid', 'the URL contains control characters');
  try {
    return parseTargetUrl(raw, { allowHttp: deps.config.HOOKSYNC_ALLOW_HTTP });
  } catch (err) {
    if (err instanceof TargetUrlError) throw new ServiceError('invalid', err.message);
    throw err;
  }
}

/**
 * The verification POST: an empty page, signed as the target's pages are, must be answered 2xx
 * before a target is saved with a URL.
 */
async function verifyEndpoint(url: TargetUrl, source: PageSource, targetId: string, signingSecrets: readonly string[], timeoutSeconds: number) {
  await checkTargetAddress(url);
  const outcome = await sendPage(url, source, { kind: 'verification', targetId }, signingSecrets, timeoutSeconds * 1000);
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

const starter = (deps: ServiceDeps): WorkflowStarter => ({
  client: deps.temporal.client,
  taskQueue: deps.config.HOOKSYNC_TASK_QUEUE,
  historyLimit: deps.config.HOOKSYNC_HISTORY_LIMIT,
});

/** A new target, with its signing secret: shown once, here (it is stored sealed). */
export interface CreatedTargetView extends TargetView {
  /** Standard Webhooks secret (whsec_…) every POST to this target is signed with. */
  signing_secret: string;
}

export async function createTarget(deps: ServiceDeps, integrationId: string, input: TargetInput): Promise<CreatedTargetView> {
  checkSettings(input);
  const url = parseUrl(deps, input.url);
  const ref = await integrationRef(deps.pool, integrationId).catch((err) => {
    throw dbError(err);
  });
  if (!ref) throw new ServiceError('not_found', `no integration ${integrationId}`);
  const id = newId('hst');
  const signingSecret = generateSigningSecret();
  await verifyEndpoint(url, ref, id, [signingSecret], input.timeoutSeconds);
  await insertTarget(deps.pool, id, integrationId, {
    ...input,
    url: sealSecret(deps.keyring, 'sync_targets.url', id, input.url.trim()),
    urlMasked: url.masked,
    signingSecret: sealSecret(deps.keyring, 'sync_targets.signing_secret', id, signingSecret),
  }).catch((err) => {
    throw dbError(err);
  });
  const t = (await getTarget(deps.pool, id))!;
  try {
    // 'running' too is fine: self-repair may have started it already.
    await startTargetWorkflow(starter(deps), t);
  } catch (err) {
    // No workflow, no target: a refused request leaves nothing behind.
    await removeTarget(deps.pool, id).catch(() => {});
    throw unavailable('Temporal', err);
  }
  return { ...view(t), signing_secret: signingSecret };
}

export async function listTargetViews(deps: ServiceDeps, integrationId?: string): Promise<TargetView[]> {
  const rows = await listTargets(deps.pool, integrationId).catch((err) => {
    throw dbError(err);
  });
  return rows.map(view);
}

export interface TargetInfo extends TargetView {
  /** The workflow's state; `not_running` when it was terminated, failed or never started (self-repair starts it again). */
  state: HttpSyncStatus['state'] | 'unknown' | 'not_running';
  /** Temporal's status of the target's workflow (RUNNING, TERMINATED, FAILED, NOT_FOUND, …); null when Temporal could not be asked. */
  workflow_status: string | null;
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
async function askWorkflow(deps: ServiceDeps, id: string): Promise<{ status?: string; live?: HttpSyncStatus; unreachable?: string }> {
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
  return {
    ...view(t),
    url: status?.maskedUrl ?? t.url_masked,
    state: status?.state ?? (workflowStatus ? 'not_running' : 'unknown'),
    workflow_status: workflowStatus ?? null,
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

type Handle = ReturnType<ServiceDeps['temporal']['client']['workflow']['getHandle']>;

async function signal(deps: ServiceDeps, id: string, send: (h: Handle) => Promise<void>) {
  try {
    // A deadline: with Temporal down the caller hears so in seconds (and an update rolls back).
    await deps.temporal.connection.withDeadline(Date.now() + 10_000, () => send(deps.temporal.client.workflow.getHandle(httpSyncWorkflowId(id))));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new ServiceError('conflict', `the workflow of ${id} is not running (hooksync httpsync restart ${id} starts it again)`);
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
  const store = (value: boolean) => setTargetPaused(deps.pool, id, value);
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

/**
 * The database first, then the workflow. The row changes in a transaction (with `work`, e.g. the
 * verification POST under the delivery lock) that commits before the workflow is told: a
 * transaction holding a transaction id open during a call to Temporal would hold back the
 * delivery of every target in the cluster meanwhile (the cursor waits for older transactions).
 * If Temporal cannot be reached, `undo` puts the row back, so nothing changed; without `undo`
 * the change stands and reaches the workflow by other means (`told` is false). A workflow that
 * is not running takes the row as it is when it is started again.
 */
async function changeThenTell<T>(
  deps: ServiceDeps,
  id: string,
  work: (db: pg.PoolClient) => Promise<T>,
  tell: (h: Handle, result: T) => Promise<void>,
  undo?: (db: pg.Pool) => Promise<unknown>,
): Promise<{ result: T; told: boolean }> {
  let result: T;
  try {
    result = await withTransaction(deps.pool, work);
  } catch (err) {
    if (err instanceof ServiceError) throw err;
    if ((err as { code?: string }).code === '55P03') {
      throw new ServiceError('conflict', `a delivery to ${id} did not finish in time to verify the new URL; try again`);
    }
    throw dbError(err);
  }
  try {
    await signal(deps, id, (h) => tell(h, result));
    return { result, told: true };
  } catch (err) {
    if (err instanceof ServiceError && err.code === 'conflict') return { result, told: false };
    if (!undo) return { result, told: false };
    await undo(deps.pool).catch((undoErr: Error) => {
      throw new ServiceError(
        'unavailable',
        `${(err as Error).message}; the change is saved in the database but the running workflow was not told (and undoing it failed: ${undoErr.message}): hooksync httpsync restart ${id} applies it`,
      );
    });
    throw err;
  }
}

export async function updateTarget(deps: ServiceDeps, id: string, patch: TargetPatch): Promise<TargetView> {
  checkSettings(patch);
  const t = await loadTarget(deps, id);
  const url = patch.url !== undefined ? parseUrl(deps, patch.url) : undefined;
  const change: TargetChange = {};
  if (patch.periodSeconds !== undefined) change.periodSeconds = patch.periodSeconds;
  if (patch.pageSize !== undefined) change.pageSize = patch.pageSize;
  if (patch.timeoutSeconds !== undefined) change.timeoutSeconds = patch.timeoutSeconds;
  if (patch.mode !== undefined) change.mode = patch.mode;
  if (url) change.maskedUrl = url.masked;
  await changeThenTell(
    deps,
    id,
    async (db) => {
      if (url) {
        // The verification POST holds the target's delivery lock, as each delivery does: the
        // receiver never gets it beside a page. Wait for a delivery in flight (its time budget
        // and one POST) to finish.
        await lockDeliveriesInTransaction(db, id, DRAIN_BUDGET_MS + t.timeout_seconds * 1000 + 5_000);
        await verifyEndpoint(url, { id: t.integration_id, service: t.service, table: t.table_name }, id, signingSecrets(deps, t), patch.timeoutSeconds ?? t.timeout_seconds);
      }
      const stored = { ...patch, url: patch.url === undefined ? undefined : sealSecret(deps.keyring, 'sync_targets.url', id, patch.url.trim()), urlMasked: url?.masked };
      if (!(await updateTargetSettings(db, id, stored))) throw new ServiceError('not_found', `no HTTP Sync target ${id}`);
    },
    async (h) => {
      if (Object.keys(change).length > 0) await h.signal(configureSignal, change);
    },
    // Temporal unreachable: back to the settings before, as if the update had never been asked for.
    (pool) =>
      updateTargetSettings(pool, id, { url: t.url, urlMasked: t.url_masked, periodSeconds: t.period_seconds, pageSize: t.page_size, timeoutSeconds: t.timeout_seconds, mode: t.mode }),
  );
  return view((await getTarget(deps.pool, id))!);
}

/** The secrets a target signs with now; a key that does not open them is the operator's to fix. */
function signingSecrets(deps: ServiceDeps, t: TargetRow): string[] {
  try {
    return signingSecretsOf(t, deps.keyring);
  } catch (err) {
    if (err instanceof KeyringError) throw new ServiceError('unavailable', `the signing secret of ${t.id} cannot be read: ${err.message}`);
    throw err;
  }
}

export interface RotatedSigningSecretView extends TargetView {
  /** The new Standard Webhooks secret (whsec_…): shown once, here. */
  signing_secret: string;
  /** Until then the previous secret signs too (a second signature); null when there was none. */
  previous_secret_expires_at: string | null;
}

/**
 * `rotate-signing-secret`: a new secret signs every POST from now on; the one it replaces signs
 * beside it (a second signature in `webhook-signature`) for a day, so receivers can switch over
 * without losing a page. Rotating again within the day drops the oldest. The delivery activity
 * reads the secrets after every page, so no workflow needs to be told.
 */
export async function rotateSigningSecret(deps: ServiceDeps, id: string): Promise<RotatedSigningSecretView> {
  const secret = generateSigningSecret();
  const expires = await withTransaction(deps.pool, async (db) => {
    const stored = await lockSigningSecret(db, id);
    if (!stored) throw new ServiceError('not_found', `no HTTP Sync target ${id}`);
    let previous: string | null;
    try {
      previous = openOptional(deps.keyring, 'sync_targets.signing_secret', id, stored.signing_secret);
    } catch (err) {
      throw new ServiceError('unavailable', `the current signing secret of ${id} cannot be read: ${(err as Error).message}`);
    }
    const previousExpiresAt = previous === null ? null : new Date(Date.now() + SIGNING_OVERLAP_MS);
    await storeSigningSecrets(db, id, {
      current: sealSecret(deps.keyring, 'sync_targets.signing_secret', id, secret),
      previous: previous === null ? null : sealSecret(deps.keyring, 'sync_targets.signing_secret_previous', id, previous),
      previousExpiresAt,
    });
    return previousExpiresAt;
  }).catch((err) => {
    throw dbError(err);
  });
  const t = (await getTarget(deps.pool, id).catch((err) => {
    throw dbError(err);
  }))!;
  return { ...view(t), signing_secret: secret, previous_secret_expires_at: expires?.toISOString() ?? null };
}

export interface ResetView extends TargetView {
  reset_at: string;
  generation: number;
  cursor: Cursor;
  /** False when Temporal could not be reached: the workflow starts over at its next delivery (it learns the reset from the database). */
  workflow_told: boolean;
}

/**
 * `reset --from-start`: every row is delivered again from the beginning, in order, paging as
 * usual (a receiver that lost its data, or a new one at the same URL). A delivery still running
 * from before can no longer move the cursor (see the generation in db/targets.ts).
 */
export async function resetTarget(deps: ServiceDeps, id: string): Promise<ResetView> {
  const t = await loadTarget(deps, id);
  // No undo: the new generation in the database brings the reset to the workflow at its next
  // delivery, even if this signal cannot be sent.
  const { result: r, told } = await changeThenTell(
    deps,
    id,
    async (db) => {
      const reset = await resetCursor(db, id);
      if (!reset) throw new ServiceError('not_found', `no HTTP Sync target ${id}`);
      return reset;
    },
    (h, reset) => h.signal(resetSignal, { generation: reset.generation, at: reset.at.toISOString() }),
  );
  return { ...view(t), reset_at: r.at.toISOString(), generation: r.generation, cursor: { txid: '0', seq: '0' }, workflow_told: told };
}

export interface RestartView extends TargetView {
  /** What Temporal said of the workflow before: RUNNING (it was replaced), TERMINATED, FAILED, NOT_FOUND, … */
  was: string;
  cursor: Cursor;
}

/**
 * Starts the target's workflow again from the cursor and counters PostgreSQL holds, at once (self-
 * repair does the same within a minute for a workflow that is not running). A running one is
 * replaced, e.g. to leave a stuck state behind.
 */
export async function restartTarget(deps: ServiceDeps, id: string): Promise<RestartView> {
  const t = await loadTarget(deps, id);
  const { status, unreachable } = await askWorkflow(deps, id);
  if (unreachable) throw unavailable('Temporal', new Error(unreachable));
  try {
    await startTargetWorkflow(starter(deps), t, { restartedAt: new Date(), replace: true });
  } catch (err) {
    throw unavailable('Temporal', err);
  }
  const was = status ?? 'UNKNOWN';
  await recordRestart(deps.pool, id, `hooksync httpsync restart (the workflow was ${was.toLowerCase().replace(/_/g, ' ')})`).catch((err) => {
    throw dbError(err);
  });
  return { ...view(t), was, cursor: cursorOf(t) };
}

export async function deleteTarget(deps: ServiceDeps, id: string): Promise<TargetView> {
  const t = await loadTarget(deps, id);
  // The database first: a delivery in flight checks it after every page and stops.
  await markTargetDeleted(deps.pool, id).catch((err) => {
    throw dbError(err);
  });
  // Best effort: deliveries check deleted_at themselves, the workflow ends at its next attempt,
  // and self-repair tells it again if this signal is lost.
  await deps.temporal.client.workflow
    .getHandle(httpSyncWorkflowId(id))
    .signal(deleteSignal)
    .catch(() => {});
  return view(t);
}
